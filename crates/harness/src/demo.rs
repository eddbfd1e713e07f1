//! `bigreach demo`: both twins on loopback, a seeded store, the appliance carrying it into the
//! Bloomreach twin, and the summary judged by the ground-truth verdict ([`crate::verdict`]).
//!
//! The pieces are public so that tests can run the same path with a smaller store, or put a
//! faulty network between the appliance and a twin and prove the verdict catches it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bigreach_clock::SharedClock;
use bigreach_core::config::Config;
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
        Ok((config, listeners)) => {
            run_with_twins(plan, &twins, &config, listeners, &secrets, clock, limit).await
        }
        Err(error) => Err(error),
    };
    twins.shutdown().await;
    result
}
