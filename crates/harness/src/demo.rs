//! `bigreach demo`: both twins on loopback, a seeded store, the appliance carrying it into the
//! Bloomreach twin, and the summary judged by the ground-truth verdict ([`crate::verdict`]).
//! The demo's history goes through the Imports API (`[history] mode = "imports"`): the
//! backfill writes the files and the twin imports them before the appliance starts
//! ([`import_history`]); the appliance then sends only what comes after the watermark.
//!
//! The pieces are public so that tests can run the same path with a smaller store, or put a
//! faulty network between the appliance and a twin and prove the verdict catches it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bigreach_clock::SharedClock;
use bigreach_core::backfill::progress::{BackfillProgress, Phase};
use bigreach_core::config::{Config, HistoryMode};
use bigreach_core::secret::SecretResolver;
use bigreach_runtime::{Appliance, Listeners, StartError};

use crate::plan::{DemoPlan, PlanError};
use crate::twins::Twins;
use crate::verdict::{evaluate, DemoSummary};

/// Demo failures.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The plan could not be read, parsed or used.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A twin failed to start.
    #[error("starting a twin failed: {0}")]
    Twin(String),
    /// The appliance's loopback listeners could not be bound.
    #[error("binding the appliance's loopback listeners failed: {0}")]
    Listen(#[source] std::io::Error),
    /// The appliance failed to start.
    #[error("starting the appliance failed ({code}): {source}", code = source.code())]
    Appliance {
        /// The start error.
        #[from]
        source: StartError,
    },
    /// The generated configuration is invalid (a bug).
    #[error("the demo configuration is invalid: {0}")]
    Config(String),
    /// Reading the store failed.
    #[error("store: {0}")]
    Store(#[from] bigreach_core::store::StoreError),
    /// The history import failed.
    #[error("the history import failed: {0}")]
    History(String),
}

/// How often the demo reads a running import.
const IMPORT_POLL: Duration = Duration::from_millis(500);

/// The history through the Imports API, as `bigreach backfill run` does it in mode `imports`:
/// the files written from BigCommerce, served on an OS-picked loopback port, imported into
/// Bloomreach one definition each. The store (with the watermark) is closed again before the
/// appliance opens it.
pub async fn import_history(
    config: &Config,
    secrets: &SecretResolver,
    clock: SharedClock,
) -> Result<BackfillProgress, DemoError> {
    let history = |e: &dyn std::fmt::Display| DemoError::History(e.to_string());
    let bc_token = secrets
        .resolve(&config.bigcommerce.access_token)
        .map_err(|e| history(&e))?;
    let mut bc = bigreach_bigcommerce::ClientConfig::new(config.bigcommerce_api_root(), bc_token);
    bc.reserve_share = config.bigcommerce.quota_reserve_share;
    let bigcommerce =
        bigreach_bigcommerce::BigCommerceClient::new(bc, clock.clone()).map_err(|e| history(&e))?;
    let mut br = bigreach_bloomreach::ClientConfig::new(
        config.bloomreach.base_url.clone(),
        config.bloomreach.project_token.clone(),
        config.bloomreach.key_id.clone(),
        secrets
            .resolve(&config.bloomreach.secret)
            .map_err(|e| history(&e))?,
    );
    br.requests_per_second = config.bloomreach.requests_per_second;
    let bloomreach =
        bigreach_bloomreach::BloomreachClient::new(br, clock.clone()).map_err(|e| history(&e))?;
    let (settings, _) = bigreach_runtime::mapping_settings(config, &bigcommerce)
        .await
        .map_err(|e| history(&e))?;
    bigreach_runtime::private::create_dir(&config.data_dir).map_err(DemoError::Listen)?;
    let store = bigreach_core::store::Store::open(&config.data_dir.join("bigreach.redb"))?;
    let job = bigreach_runtime::backfill::BackfillJob {
        client: bigcommerce,
        store,
        dir: config.data_dir.join("history"),
        settings,
        row_limit: config.history.row_limit(),
        clock,
    };
    let written = job
        .run(None, std::collections::BTreeMap::new(), |_| {})
        .await
        .map_err(|e| history(&e))?;
    if written.phase != Phase::Written {
        return Err(DemoError::History(format!(
            "the files ended in phase {:?}",
            written.phase
        )));
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(DemoError::Listen)?;
    let address = listener.local_addr().map_err(DemoError::Listen)?;
    let public_url = url::Url::parse(&format!("http://{address}/")).map_err(|e| history(&e))?;
    let progress = job
        .import(
            bigreach_runtime::backfill::ImportSettings {
                bloomreach,
                listener,
                public_url,
                catalog_name: config.bloomreach.catalog_name.clone(),
                poll_every: IMPORT_POLL,
            },
            |_| {},
        )
        .await
        .map_err(|e| history(&e))?;
    match (&progress.phase, &progress.failure) {
        (Phase::Done, _) => Ok(progress),
        (_, failure) => Err(DemoError::History(
            failure
                .clone()
                .unwrap_or_else(|| format!("{:?}", progress.phase)),
        )),
    }
}

/// Runs the appliance against running twins on `listeners` (see [`Twins::appliance_config`]):
/// start, trade, wait until idle (or `limit`), stop, and evaluate.
pub async fn run_with_twins(
    plan: &DemoPlan,
    twins: &Twins,
    config: &Config,
    listeners: Listeners,
    secrets: &SecretResolver,
    clock: SharedClock,
    limit: Duration,
) -> Result<DemoSummary, DemoError> {
    config
        .validate()
        .map_err(|problems| DemoError::Config(format!("{problems:?}")))?;
    let started = Instant::now();
    if config.history.mode == HistoryMode::Imports {
        import_history(config, secrets, clock.clone()).await?;
    }
    let appliance = Appliance::start_with(config, secrets, clock.clone(), listeners).await?;
    appliance.wait_poll_passes(1).await;
    let live_since = clock.now();
    let trading = {
        let bigcommerce = twins.bigcommerce.clone();
        let burst = plan.trading_burst();
        tokio::spawn(async move { bigcommerce.run_trading(&burst).await })
    };
    let mut finished = false;
    let mut idle_checks = 0;
    while started.elapsed() < limit {
        clock.sleep(Duration::from_millis(100)).await;
        let idle = trading.is_finished()
            && twins.bigcommerce.webhook_backlog() == 0
            && appliance.status()?.idle;
        idle_checks = if idle { idle_checks + 1 } else { 0 };
        if idle_checks >= 3 {
            finished = true;
            break;
        }
    }
    let status = appliance.status()?;
    appliance.shutdown().await;
    trading.abort();
    let mut summary = evaluate(
        &twins.bigcommerce.truth(),
        &twins.bloomreach.truth(),
        &config.bloomreach.ids,
        &config.bloomreach.catalog_name,
        live_since,
    );
    summary.dead_letters = status.store.dead_letters;
    summary.finished = finished;
    summary.elapsed_s = (started.elapsed().as_millis() as f64 / 100.0).round() / 10.0;
    Ok(summary)
}

/// The whole demo: twins, a fresh data directory, the appliance, the summary.
pub async fn run(
    plan: &DemoPlan,
    data_dir: &Path,
    clock: SharedClock,
    limit: Duration,
) -> Result<DemoSummary, DemoError> {
    let twins = Twins::start(plan, clock.clone()).await?;
    let secrets = Arc::new(Twins::secrets());
    let result = match twins.appliance_config(data_dir) {
        Ok((mut config, listeners)) => {
            config.history.mode = HistoryMode::Imports;
            run_with_twins(plan, &twins, &config, listeners, &secrets, clock, limit).await
        }
        Err(error) => Err(error),
    };
    twins.shutdown().await;
    result
}
