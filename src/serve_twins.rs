//! `bigreach serve --twins`: the appliance and its UI against both twins with the small demo
//! store, for trying the UI and for its end-to-end tests (one server per test worker).
//!
//! Every port is picked by the system. The config the appliance runs on is written to
//! `<data_dir>/bigreach.toml` (its secrets are the twins' credentials, by `keyring:` reference),
//! so `bigreach status --config <data_dir>/bigreach.toml` and the other commands reach it.
//! Without `--data-dir` the data lives in a temporary directory removed on exit. With `--json`
//! one line goes to stdout once the API answers: `{url, api, token, data_dir,
//! bigcommerce_control, bloomreach_control, storefront}`. SIGTERM or Ctrl-C stop it cleanly.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use bigreach_clock::SystemClock;
use bigreach_core::config::HistoryMode;
use bigreach_core::cutover::Stage;
use bigreach_harness::plan::DemoPlan;
use bigreach_harness::twins::Twins;
use bigreach_runtime::{Appliance, Host};

/// `serve --twins` options.
pub struct TwinsServe {
    /// Keep the data here instead of a temporary directory.
    pub data_dir: Option<PathBuf>,
    /// The cutover stage a fresh store starts at.
    pub start_stage: Stage,
    /// How the history reaches Bloomreach.
    pub history: HistoryMode,
    /// Print one JSON line when ready.
    pub json: bool,
}

/// The line `--json` prints.
#[derive(serde::Serialize)]
struct Ready {
    url: String,
    api: String,
    token: String,
    data_dir: PathBuf,
    bigcommerce_control: String,
    bloomreach_control: String,
    storefront: String,
}

/// Runs until SIGTERM or Ctrl-C.
pub async fn run(options: TwinsServe) -> Result<()> {
    let temp = tempfile::tempdir().context("creating a temporary data directory")?;
    let data_dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    let plan = DemoPlan::builtin("small").context("the compiled-in small plan")?;
    let clock = SystemClock::shared();
    let twins = Twins::start(&plan, clock.clone()).await?;
    let result = serve(&twins, &data_dir, &options, clock).await;
    twins.shutdown().await;
    drop(temp);
    result
}

/// Writes the twins' config into `data_dir` and starts the appliance on it (hosted: the
/// connection and rehearsal operations answer); answers it and the config's path. With
/// `HistoryMode::Imports` the import file server listens on a port the system picks when the
/// backfill starts.
pub(crate) async fn start(
    twins: &Twins,
    data_dir: &std::path::Path,
    start_stage: Stage,
    history: HistoryMode,
    clock: bigreach_clock::SharedClock,
) -> Result<(Appliance, PathBuf)> {
    let (mut config, listeners) = twins.appliance_config(data_dir)?;
    config.cutover.start_stage = start_stage;
    config.history.mode = history;
    if history == HistoryMode::Imports {
        config.history.files_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    bigreach_runtime::private::create_dir(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let config_path = data_dir.join("bigreach.toml");
    let text = toml::to_string(&config).context("writing the config as TOML")?;
    std::fs::write(
        &config_path,
        format!("# Written by `bigreach serve --twins`: the appliance against both twins.\n{text}"),
    )
    .with_context(|| format!("writing {}", config_path.display()))?;
    let secrets = Twins::secrets();
    let host = Host {
        config_path: Some(config_path.clone()),
        secret_store: Some(Arc::new(TwinSecrets)),
        rehearser: crate::rehearser(&config),
    };
    let appliance = Appliance::start_hosted(&config, &secrets, clock, listeners, host)
        .await
        .context("starting the appliance against the twins")?;
    Ok((appliance, config_path))
}

async fn serve(
    twins: &Twins,
    data_dir: &std::path::Path,
    options: &TwinsServe,
    clock: bigreach_clock::SharedClock,
) -> Result<()> {
    let (appliance, _config_path) =
        start(twins, data_dir, options.start_stage, options.history, clock).await?;
    let status = appliance.status()?;
    let api = format!("http://{}", status.api_address);
    let token = appliance.api_token().to_owned();
    let bc = twins.bigcommerce.base_url();
    let br = twins.bloomreach.base_url();
    let ready = Ready {
        url: format!("{api}/#token={token}"),
        api: api.clone(),
        token,
        data_dir: data_dir.to_owned(),
        bigcommerce_control: format!("{bc}_twin/"),
        bloomreach_control: format!("{br}_twin/"),
        storefront: twins.bigcommerce.storefront_url().to_string(),
    };
    if options.json {
        println!("{}", serde_json::to_string(&ready)?);
    } else {
        println!("BigReach is running against the twins (the small demo store).");
        println!("  open:       {}", ready.url);
        println!("  data:       {}", data_dir.display());
        println!("  BigCommerce twin control: {}", ready.bigcommerce_control);
        println!("  Bloomreach twin control:  {}", ready.bloomreach_control);
        println!("Ctrl-C stops it.");
    }
    crate::stop_signal().await?;
    if !options.json {
        println!("stopping…");
    }
    appliance.shutdown().await;
    Ok(())
}

/// The twins' credentials are fixed: the connect form stores nothing here, and the config's
/// `keyring:` references resolve to the twins' credentials.
struct TwinSecrets;

impl bigreach_core::app::connection::SecretStore for TwinSecrets {
    fn put(
        &self,
        _name: &str,
        _value: &str,
    ) -> Result<bigreach_core::secret::SecretRef, bigreach_core::app::AppError> {
        Err(bigreach_core::app::AppError::new(
            bigreach_core::app::Code::BadRequest,
            "`serve --twins` runs on the twins' fixed credentials and stores no secrets; a real install reads them from BIGREACH_* environment variables",
        ))
    }

    fn present(&self, reference: &bigreach_core::secret::SecretRef) -> bool {
        Twins::secrets().resolve(reference).is_ok()
    }
}
