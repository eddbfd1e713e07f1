//! The history backfill inside the running appliance (`backfill_start` on the app API): the
//! same [`BackfillJob`] as `bigreach backfill run`, on the appliance's store, clients and clock,
//! as one background task. It reads the plan's totals, lists and writes the files, then serves
//! them and follows one Bloomreach import per file. Its progress is the store's (the History
//! screen reads it); what this adds is whether it runs now and why it stopped early. A second
//! start while it runs is refused, and the appliance's shutdown stops it (the next start resumes
//! from the recorded progress, as after a kill).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::BigCommerceClient;
use bigreach_bloomreach::BloomreachClient;
use bigreach_clock::SharedClock;
use bigreach_core::app::backfill::BackfillRunner;
use bigreach_core::app::{AppError, Code};
use bigreach_core::backfill::progress::{Phase, ResourceKind};
use bigreach_core::config::{Config, HistoryMode};
use bigreach_core::ingest::IngestSettings;
use bigreach_core::store::Store;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use super::{read_plan, since_instant, BackfillError, BackfillJob, ImportSettings};

/// How often a running import is read at first (doubling to a minute), as the CLI does.
const IMPORT_POLL: Duration = Duration::from_secs(5);

/// The running appliance's [`BackfillRunner`].
pub struct ApplianceBackfill {
    client: Arc<BigCommerceClient>,
    bloomreach: Arc<BloomreachClient>,
    store: Store,
    clock: SharedClock,
    /// The live path's mapping, known once BigCommerce answered (`None` before).
    mapping: Arc<Mutex<Option<IngestSettings>>>,
    dir: PathBuf,
    mode: HistoryMode,
    row_limit: u64,
    reserve_share: f64,
    files_listen: SocketAddr,
    files_public_url: Option<Url>,
    catalog_name: String,
    shutdown: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
    state: Arc<Mutex<RunState>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct RunState {
    running: bool,
    stopped_by: Option<String>,
}

/// The appliance's parts a backfill runs on.
pub struct RunnerParts {
    /// BigCommerce.
    pub client: Arc<BigCommerceClient>,
    /// Bloomreach (the Imports API).
    pub bloomreach: Arc<BloomreachClient>,
    /// The store.
    pub store: Store,
    /// The clock.
    pub clock: SharedClock,
    /// The live path's mapping slot.
    pub mapping: Arc<Mutex<Option<IngestSettings>>>,
    /// The appliance's shutdown signal.
    pub shutdown: watch::Receiver<bool>,
}

impl ApplianceBackfill {
    /// A runner for the appliance started from `config`, on the current runtime.
    pub fn new(config: &Config, parts: RunnerParts) -> Self {
        Self {
            client: parts.client,
            bloomreach: parts.bloomreach,
            store: parts.store,
            clock: parts.clock,
            mapping: parts.mapping,
            dir: config.data_dir.join("history"),
            mode: config.history.mode,
            row_limit: config.history.row_limit(),
            reserve_share: config.bigcommerce.quota_reserve_share,
            files_listen: config.history.files_listen(),
            files_public_url: config.history.files_public_url.clone(),
            catalog_name: config.bloomreach.catalog_name.clone(),
            shutdown: parts.shutdown,
            runtime: tokio::runtime::Handle::current(),
            state: Arc::default(),
            task: Mutex::new(None),
        }
    }

    /// The running task, if one was started (the appliance's shutdown waits for it).
    pub fn take_task(&self) -> Option<JoinHandle<()>> {
        self.task.lock().take()
    }
}

impl BackfillRunner for ApplianceBackfill {
    fn start(&self, since: Option<chrono::NaiveDate>) -> Result<(), AppError> {
        if self.mode != HistoryMode::Imports {
            return Err(AppError::new(
                Code::BadRequest,
                "[history] mode is \"tracking\": the history goes through the tracking API's \
                 backfill lane. Set [history] mode = \"imports\" (and restart) to import it \
                 through the Imports API instead",
            ));
        }
        let settings = self.mapping.lock().clone().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "BigCommerce has not answered yet, so the mapping the files are written with is \
                 not known; start the backfill once the status no longer waits for bigcommerce",
            )
        })?;
        let mut state = self.state.lock();
        if state.running {
            return Err(AppError::new(
                Code::AlreadyRunning,
                "a history backfill runs already; follow it on the History screen",
            ));
        }
        // The listener is bound here, so a taken port is the caller's answer, not a log line.
        let listener = crate::listener::bind(self.files_listen).map_err(|error| {
            AppError::new(
                Code::BadRequest,
                format!(
                    "the import file server cannot listen on [history] files_listen {} \
                     ({error}); free the port or choose another, then start again",
                    self.files_listen
                ),
            )
        })?;
        let public_url = match &self.files_public_url {
            Some(url) => url.clone(),
            None => {
                let address = listener.local_addr().map_err(|error| {
                    AppError::new(
                        Code::Internal,
                        format!("the file server's address: {error}"),
                    )
                })?;
                Url::parse(&format!("http://{address}/")).map_err(|error| {
                    AppError::new(Code::Internal, format!("the file server's URL: {error}"))
                })?
            }
        };
        state.running = true;
        state.stopped_by = None;
        drop(state);
        let job = BackfillJob {
            client: (*self.client).clone(),
            store: self.store.clone(),
            dir: self.dir.clone(),
            settings,
            row_limit: self.row_limit,
            clock: self.clock.clone(),
        };
        let imports = ImportSettings {
            bloomreach: (*self.bloomreach).clone(),
            listener,
            public_url,
            catalog_name: self.catalog_name.clone(),
            poll_every: IMPORT_POLL,
        };
        let (reserve, state) = (self.reserve_share, self.state.clone());
        let mut shutdown = self.shutdown.clone();
        let since = since_instant(since);
        let task = self.runtime.spawn(async move {
            // Not running any more however the task ends, a panic included.
            let _running = RunningGuard(state.clone());
            let work = run(&job, imports, since, reserve);
            let outcome = tokio::select! {
                outcome = work => Some(outcome),
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            let mut state = state.lock();
            match outcome {
                Some(Ok(())) => tracing::info!("the history backfill ended"),
                Some(Err(error)) => {
                    tracing::warn!(%error, "the history backfill stopped");
                    state.stopped_by = Some(format!(
                        "{error}; start it again to resume where it stopped"
                    ));
                }
                None => tracing::info!("the history backfill stops with the appliance"),
            }
        });
        // A previous run's handle is of a task that ended (it was not running).
        *self.task.lock() = Some(task);
        Ok(())
    }

    fn running(&self) -> bool {
        self.state.lock().running
    }

    fn stopped_by(&self) -> Option<String> {
        self.state.lock().stopped_by.clone()
    }
}

/// Marks the run ended when its task ends; a task that panicked says so.
struct RunningGuard(Arc<Mutex<RunState>>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running = false;
        if std::thread::panicking() {
            state.stopped_by = Some(
                "the backfill task failed unexpectedly (a bug: the log has it); start it again \
                 to resume where it stopped"
                    .to_owned(),
            );
        }
    }
}

/// Lists and writes the files (with the plan's totals for done / total), then imports them.
async fn run(
    job: &BackfillJob,
    imports: ImportSettings,
    since: Option<chrono::DateTime<chrono::Utc>>,
    reserve: f64,
) -> Result<(), BackfillError> {
    let totals = if job.store.backfill_progress()?.is_some() {
        // Resumed: the totals were recorded when it started.
        BTreeMap::new()
    } else {
        let plan = read_plan(&job.client, since, reserve, job.row_limit).await?;
        BTreeMap::from([
            (ResourceKind::Orders, plan.input.counts.orders),
            (ResourceKind::Customers, plan.input.counts.customers),
            (ResourceKind::Products, plan.input.counts.products),
        ])
    };
    let written = job.run(since, totals, |_| {}).await?;
    if written.phase == Phase::Listing {
        return Err(BackfillError::NotWritten);
    }
    job.import(imports, |_| {}).await?;
    Ok(())
}
