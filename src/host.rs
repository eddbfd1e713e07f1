//! The appliance hosted in the process of a window (the desktop shell in `src-tauri/`), behind
//! the same typed app API the local HTTP API serves.
//!
//! A window starts it one of three ways: from a config file; against the twins with the small
//! demo store (`bigreach window --twins`, for trying the product and for the real-window
//! tests); or, when no config exists yet, **unconfigured**: then it answers only the first-run
//! operations (`connection`, `connect`), and a `connect` that writes the config starts the
//! appliance from it at once, so the merchant goes on to the preflight without a restart.
//! Nothing here knows of Tauri: the shell turns its IPC commands into [`HostedAppliance::call`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use bigreach_clock::{SharedClock, SystemClock};
use bigreach_core::app::connection::{ConnectionContext, SecretStore};
use bigreach_core::app::{Answer, AppApi, AppError, Code, Operation, Status};
use bigreach_core::config::Config;
use bigreach_core::secret::{Keyring, SecretResolver, SecretString};
use bigreach_runtime::{Appliance, Host, Listeners};
use tokio::sync::RwLock;

/// Who the audit log names for what the window does.
pub const ACTOR: &str = "operator (desktop window)";

/// How a window starts its appliance.
#[derive(Debug, Clone)]
pub enum Launch {
    /// From this config file; unconfigured until `connect` writes it when it does not exist.
    Config(PathBuf),
    /// Against both twins with the small demo store (the default `rehearsal` feature).
    Twins {
        /// Keep the data here (default: a temporary directory removed on exit).
        data_dir: Option<PathBuf>,
    },
}

/// The host's secrets: where the connect form's secrets go, and how `keyring:` references
/// in the config resolve (the OS keyring from the desktop).
#[derive(Clone)]
pub struct HostSecrets {
    /// Where `connect` puts a secret.
    pub store: Arc<dyn SecretStore>,
    /// What `keyring:NAME` resolves through.
    pub keyring: Arc<dyn Keyring>,
}

struct SharedKeyring(Arc<dyn Keyring>);

impl Keyring for SharedKeyring {
    fn get(&self, name: &str) -> Option<SecretString> {
        self.0.get(name)
    }
}

enum State {
    /// No config yet: an API over a scratch store that answers the first-run operations.
    Unconfigured(Box<FirstRun>),
    Running(Box<Running>),
    /// The config exists but the appliance could not start from it: every call says why,
    /// so a window opened from the menu shows the problem instead of vanishing.
    Failed(AppError),
    Stopped,
}

struct FirstRun {
    app: AppApi,
    _scratch: tempfile::TempDir,
}

struct Running {
    appliance: Appliance,
    #[cfg(feature = "rehearsal")]
    twins: Option<bigreach_harness::twins::Twins>,
    _temp: Option<tempfile::TempDir>,
}

/// The appliance of one window.
pub struct HostedAppliance {
    state: RwLock<State>,
    config_path: PathBuf,
    secrets: HostSecrets,
    clock: SharedClock,
}

impl HostedAppliance {
    /// Starts as `launch` says.
    pub async fn launch(launch: Launch, secrets: HostSecrets) -> Result<Self> {
        let clock = SystemClock::shared();
        match launch {
            Launch::Config(config_path) => {
                let state = if config_path.exists() {
                    match start_from(&config_path, &secrets, clock.clone()).await {
                        Ok(running) => State::Running(Box::new(running)),
                        Err(error) => {
                            tracing::error!(config = %config_path.display(), "the appliance did not start: {error:#}");
                            State::Failed(AppError::new(
                                Code::BadRequest,
                                format!(
                                    "BigReach could not start from {}: {error:#}; fix it (`bigreach check --config {}` lists what is wrong), then reopen the window",
                                    config_path.display(),
                                    config_path.display()
                                ),
                            ))
                        }
                    }
                } else {
                    unconfigured(&config_path, &secrets, clock.clone())?
                };
                Ok(Self {
                    state: RwLock::new(state),
                    config_path,
                    secrets,
                    clock,
                })
            }
            Launch::Twins { data_dir } => {
                let (running, config_path) = start_twins(data_dir, clock.clone()).await?;
                Ok(Self {
                    state: RwLock::new(State::Running(Box::new(running))),
                    config_path,
                    secrets,
                    clock,
                })
            }
        }
    }

    /// Performs one operation (off the async threads, as the HTTP API does). A `connect` that
    /// wrote the config of an unconfigured window starts the appliance from it.
    pub async fn call(&self, operation: Operation) -> Result<Answer, AppError> {
        let connecting = matches!(operation, Operation::Connect(_));
        let app = self.app_for(&operation).await?;
        let answer = tokio::task::spawn_blocking(move || app.call(operation, ACTOR))
            .await
            .map_err(|error| {
                AppError::new(Code::Internal, format!("the operation stopped: {error}"))
            })??;
        if connecting {
            let mut state = self.state.write().await;
            if matches!(*state, State::Unconfigured(_)) {
                let running = start_from(&self.config_path, &self.secrets, self.clock.clone())
                    .await
                    .map_err(|error| {
                        AppError::new(
                            Code::Internal,
                            format!(
                                "{} was written, but the appliance did not start from it: {error:#}; fix what this names, then reopen the window",
                                self.config_path.display()
                            ),
                        )
                    })?;
                *state = State::Running(Box::new(running));
            }
        }
        Ok(answer)
    }

    /// The status as `{"op": "status"}` answers it.
    pub async fn status(&self) -> Result<Status, AppError> {
        let app = self.app_for(&Operation::Status).await?;
        tokio::task::spawn_blocking(move || app.status())
            .await
            .map_err(|error| {
                AppError::new(
                    Code::Internal,
                    format!("reading the status stopped: {error}"),
                )
            })?
    }

    /// The same UI in a browser: the local API's address with the per-install token in the
    /// URL fragment (never sent to the server by the browser).
    pub async fn browser_url(&self) -> Result<String, AppError> {
        match &*self.state.read().await {
            State::Running(running) => {
                let status = running.appliance.status()?;
                Ok(format!(
                    "http://{}/#token={}",
                    status.api_address,
                    running.appliance.api_token()
                ))
            }
            State::Unconfigured(_) => Err(AppError::new(
                Code::NotRunning,
                "the local API starts once BigReach is connected; fill in the Connection screen first",
            )),
            State::Failed(error) => Err(error.clone()),
            State::Stopped => Err(stopped()),
        }
    }

    /// The config file this window reads (and `connect` writes).
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Stops the appliance (and the twins) and waits for it; later calls answer `not_running`.
    pub async fn shutdown(&self) {
        let state = std::mem::replace(&mut *self.state.write().await, State::Stopped);
        if let State::Running(running) = state {
            let running = *running;
            running.appliance.shutdown().await;
            #[cfg(feature = "rehearsal")]
            if let Some(twins) = running.twins {
                twins.shutdown().await;
            }
        }
    }

    /// The API that answers `operation`. Before the first `connect` only the first run's
    /// operations and the runbooks answer: the scratch store holds no stage, queue or history,
    /// and showing its defaults would tell the merchant something false.
    async fn app_for(&self, operation: &Operation) -> Result<AppApi, AppError> {
        match &*self.state.read().await {
            State::Running(running) => Ok(running.appliance.app().clone()),
            State::Unconfigured(first) if first_run_answers(operation) => Ok(first.app.clone()),
            State::Unconfigured(_) => Err(AppError::new(
                Code::NotRunning,
                format!(
                    "BigReach is not connected yet: fill in the Connection screen, which writes {} and starts it",
                    self.config_path.display()
                ),
            )),
            State::Failed(error) => Err(error.clone()),
            State::Stopped => Err(stopped()),
        }
    }
}

/// What an unconfigured window answers.
fn first_run_answers(operation: &Operation) -> bool {
    matches!(
        operation,
        Operation::Connection
            | Operation::Connect(_)
            | Operation::Runbooks
            | Operation::ErrorRunbooks
    )
}

fn stopped() -> AppError {
    AppError::new(
        Code::NotRunning,
        "BigReach is shutting down with its window",
    )
}

fn resolver(secrets: &HostSecrets) -> SecretResolver {
    SecretResolver::with_keyring(SharedKeyring(secrets.keyring.clone()))
}

fn unconfigured(config_path: &Path, secrets: &HostSecrets, clock: SharedClock) -> Result<State> {
    let scratch = tempfile::tempdir().context("creating a scratch directory for the first run")?;
    let store = bigreach_core::store::Store::open(&scratch.path().join("first-run.redb"))
        .context("opening the first run's scratch store")?;
    let app = AppApi::new(store, clock).with_connection(ConnectionContext {
        config_path: config_path.to_owned(),
        config: None,
        secrets: secrets.store.clone(),
    });
    Ok(State::Unconfigured(Box::new(FirstRun {
        app,
        _scratch: scratch,
    })))
}

async fn start_from(
    config_path: &Path,
    secrets: &HostSecrets,
    clock: SharedClock,
) -> Result<Running> {
    let config = Config::load(config_path)?;
    let listeners = Listeners::bind(&config)?;
    let host = Host {
        config_path: Some(config_path.to_owned()),
        secret_store: Some(secrets.store.clone()),
        rehearser: crate::rehearser(&config),
    };
    let appliance = Appliance::start_hosted(&config, &resolver(secrets), clock, listeners, host)
        .await
        .with_context(|| format!("starting with {}", config_path.display()))?;
    Ok(Running {
        appliance,
        #[cfg(feature = "rehearsal")]
        twins: None,
        _temp: None,
    })
}

#[cfg(feature = "rehearsal")]
async fn start_twins(data_dir: Option<PathBuf>, clock: SharedClock) -> Result<(Running, PathBuf)> {
    let temp = tempfile::tempdir().context("creating a temporary data directory")?;
    let data_dir = data_dir.unwrap_or_else(|| temp.path().join("data"));
    let plan =
        bigreach_harness::plan::DemoPlan::builtin("small").context("the compiled-in small plan")?;
    let twins = bigreach_harness::twins::Twins::start(&plan, clock.clone()).await?;
    match crate::serve_twins::start(
        &twins,
        &data_dir,
        bigreach_core::cutover::Stage::Connect,
        bigreach_core::config::HistoryMode::Tracking,
        clock,
    )
    .await
    {
        Ok((appliance, config_path)) => Ok((
            Running {
                appliance,
                twins: Some(twins),
                _temp: Some(temp),
            },
            config_path,
        )),
        Err(error) => {
            twins.shutdown().await;
            Err(error)
        }
    }
}

#[cfg(not(feature = "rehearsal"))]
async fn start_twins(
    _data_dir: Option<PathBuf>,
    _clock: SharedClock,
) -> Result<(Running, PathBuf)> {
    anyhow::bail!("this build has no twins (it was built without the `rehearsal` feature)")
}
