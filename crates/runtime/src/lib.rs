//! The running appliance: the sync loop (receiver, poller, enrich, deliver), the local HTTP API,
//! and hook management. Shared by `bigreach serve`, `bigreach demo` and the desktop shell.
//!
//! Data flows one way: receiver/poller → inbox → enrich (fetch, diff, map, identity) → outbox →
//! deliver. Every stage reads what the previous one committed to the store and commits what it
//! produced, so a crash at any point resumes from the store.

pub mod api;
pub mod backfill;
pub mod catalog_drift;
pub mod cutover;
pub mod deliver;
pub mod enrich;
pub mod history_files;
pub mod hooks;
pub mod inbox_writer;
pub mod listener;
pub mod log_safe;
pub mod metrics;
pub mod parking;
pub mod poller;
pub mod preflight;
pub mod private;
pub mod prometheus;
pub mod receiver;
pub mod reconcile;
pub mod retry_policy;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceClient, BigCommerceError, QuotaSnapshot};
use bigreach_bloomreach::{BloomreachClient, BloomreachError, CatalogField};
use bigreach_clock::SharedClock;
use bigreach_core::config::Config;
use bigreach_core::ingest::IngestSettings;
use bigreach_core::map::{MappingContext, ProfileMapping};
use bigreach_core::secret::{SecretError, SecretResolver};
use bigreach_core::store::{Store, StoreError};
use parking_lot::Mutex;
use secrecy::ExposeSecret;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::api::ApiBackend;
use crate::deliver::{Deliverer, DelivererParts, DeliverySettings, LaneGate};
use crate::enrich::Enricher;
use crate::hooks::HookReport;
use crate::inbox_writer::InboxWriter;
use crate::listener::ListenerLimits;
use crate::metrics::Metrics;
use crate::parking::Parking;
use crate::poller::{PollSettings, Poller};
use crate::receiver::{NumericStoreId, ReceiverSettings, StoreIdentity};
use bigreach_core::app::status::{BigCommerceQuota, Component, Live, Starting};
use bigreach_core::app::{AppApi, AppError, Code, LiveFigures, Status};

/// Why the appliance could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A secret could not be resolved.
    #[error("{0}")]
    Secret(#[from] SecretError),
    /// The store could not be opened.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The BigCommerce client could not be set up from the settings (a failing or refusing
    /// service no longer stops the start: it is retried in the background).
    #[error("BigCommerce client setup failed: {0}")]
    BigCommerce(#[from] BigCommerceError),
    /// The Bloomreach client could not be set up from the settings (a failing or refusing
    /// service no longer stops the start: it is retried in the background).
    #[error("Bloomreach client setup failed: {0}")]
    Bloomreach(#[from] BloomreachError),
    /// A listener or the data directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl StartError {
    /// A stable code for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            StartError::Secret(_) => "secret_missing",
            StartError::Store(_) => "store_unavailable",
            StartError::BigCommerce(_) => "bigcommerce_preflight_failed",
            StartError::Bloomreach(_) => "bloomreach_preflight_failed",
            StartError::Io { .. } => "io_error",
        }
    }
}

/// The status document of the application API.
pub type ApplianceStatus = Status;

/// The live figures the application API's status needs, from the running stages. It holds no
/// store handle, so the application API can own it without keeping the store open.
struct LiveSource {
    metrics: Arc<Metrics>,
    in_flight: Arc<Mutex<HashSet<u64>>>,
    passes: watch::Receiver<u64>,
    hooks: Arc<Mutex<Option<HookReport>>>,
    bigcommerce: Arc<BigCommerceClient>,
    bloomreach: Arc<BloomreachClient>,
    parking: Arc<Parking>,
    startup: Arc<StartupWaits>,
    webhook_address: SocketAddr,
    api_address: Mutex<Option<SocketAddr>>,
    gate: Arc<LaneGate>,
    clock: SharedClock,
}

impl LiveFigures for LiveSource {
    fn live(&self) -> Live {
        let quota: QuotaSnapshot = self.bigcommerce.quota();
        Live {
            counters: self.metrics.snapshot(),
            in_flight: self.in_flight.lock().len(),
            poll_passes: *self.passes.borrow(),
            hooks: self.hooks.lock().clone(),
            bigcommerce_quota: BigCommerceQuota {
                quota: quota.quota,
                requests_left: quota.requests_left,
                requests_sent: quota.requests_sent,
                rate_limited: quota.rate_limited,
            },
            bloomreach_requests_per_second: self.bloomreach.requests_per_second(),
            webhook_address: self.webhook_address,
            api_address: self
                .api_address
                .lock()
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            parked: self.parking.list(),
            starting: self.startup.list(),
            stage: self.gate.stage(),
            purchase_latencies_ms: self.gate.purchase_latencies(
                self.clock.now_ms()
                    - (bigreach_core::app::status::LATENCY_WINDOW_SECS * 1000) as i64,
                0,
            ),
        }
    }
}

struct Shared {
    app: AppApi,
    live: Arc<LiveSource>,
    store: Store,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    alert_latency_ms: i64,
}

impl ApiBackend for Shared {
    fn app(&self) -> &AppApi {
        &self.app
    }

    fn prometheus_text(&self) -> Result<String, AppError> {
        let status = self.app.status()?;
        prometheus::encode(&status, &self.metrics)
            .map_err(|e| AppError::new(Code::Internal, format!("encoding the metrics: {e}")))
    }
}

/// The running appliance.
pub struct Appliance {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    api_token: String,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    /// The history backfill started through the app API, if one was.
    history: Arc<backfill::ApplianceBackfill>,
}

/// What the host process (the CLI's `serve`, the desktop shell) supplies beyond the config.
#[derive(Default, Clone)]
pub struct Host {
    /// The config file the appliance was started from.
    pub config_path: Option<std::path::PathBuf>,
    /// Where the `connect` form's secrets go (the OS keyring from the desktop); the
    /// environment when unset (a headless install).
    pub secret_store: Option<Arc<dyn bigreach_core::app::connection::SecretStore>>,
    /// Runs rehearsals against the twins.
    pub rehearser: Option<Arc<dyn bigreach_core::app::rehearse::Rehearser>>,
}

/// Applies a [`Host`] to the app API.
trait WithHost {
    fn with_host(self, config: &Config, host: Host) -> Self;
}

impl WithHost for AppApi {
    fn with_host(self, config: &Config, host: Host) -> Self {
        let mut app = self;
        if let Some(config_path) = host.config_path {
            app = app.with_connection(bigreach_core::app::connection::ConnectionContext {
                config_path,
                config: Some(config.clone()),
                secrets: host.secret_store.unwrap_or_else(|| {
                    Arc::new(bigreach_core::app::connection::EnvironmentSecrets)
                }),
            });
        }
        if let Some(rehearser) = host.rehearser {
            app = app.with_rehearser(rehearser);
        }
        app
    }
}

/// The appliance's two listeners, bound before it starts.
///
/// [`Appliance::start`] binds them from `webhooks.listen` and `api.listen`; a caller that picks
/// its own ports (the harness binds port 0 on loopback, then writes the bound addresses into the
/// configuration) binds them itself and passes them to [`Appliance::start_with`].
#[derive(Debug)]
pub struct Listeners {
    /// The webhook receiver's own listener.
    pub webhooks: std::net::TcpListener,
    /// The local API's listener; it must be on a loopback address.
    pub api: std::net::TcpListener,
}

impl Listeners {
    /// Binds `webhooks.listen` and `api.listen` of `config`.
    pub fn bind(config: &Config) -> Result<Self, StartError> {
        let webhooks = listener::bind(config.webhooks.listen)
            .map_err(io_error("binding the webhook receiver"))?;
        let api = listener::bind(config.api.listen).map_err(io_error("binding the local API"))?;
        Ok(Listeners { webhooks, api })
    }
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.to_owned();
    move |source| StartError::Io { what, source }
}

/// A bound standard listener as a tokio listener (it must be non-blocking for tokio).
fn tokio_listener(listener: std::net::TcpListener) -> std::io::Result<tokio::net::TcpListener> {
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

impl Appliance {
    /// Binds both listeners from the configuration, then starts as [`Appliance::start_with`].
    pub async fn start(
        config: &Config,
        secrets: &SecretResolver,
        clock: SharedClock,
    ) -> Result<Self, StartError> {
        let listeners = Listeners::bind(config)?;
        Self::start_with(config, secrets, clock, listeners).await
    }

    /// Opens the store and serves the receiver and the local API on `listeners` at once (they
    /// take the place of `webhooks.listen` and `api.listen`), then checks both services in the
    /// background: each stage starts once the service it needs passed its preflight
    /// (BigCommerce: store information, currencies, groups, attributes and the hooks, for
    /// enrich and the poller; Bloomreach: system time and the catalog, for delivery). A failing
    /// service is retried through the retry policy with backoff (a refused credential parks the
    /// stage with the fix) and shown in the status (`starting`), while webhooks are accepted
    /// and stored. Hooks are registered for `webhooks.public_url` as written. It fails only for
    /// local problems (secrets, the store, the data directory, a listener).
    pub async fn start_with(
        config: &Config,
        secrets: &SecretResolver,
        clock: SharedClock,
        listeners: Listeners,
    ) -> Result<Self, StartError> {
        Self::start_hosted(config, secrets, clock, listeners, Host::default()).await
    }

    /// [`Appliance::start_with`], with what only the host process can supply: where its config
    /// file is and who keeps secrets (for the `connection` and `connect` operations), and a
    /// rehearser (the twins, for `rehearse`).
    pub async fn start_hosted(
        config: &Config,
        secrets: &SecretResolver,
        clock: SharedClock,
        listeners: Listeners,
        host: Host,
    ) -> Result<Self, StartError> {
        // Private to the service user (0700 folder, 0600 files); wider modes an operator set
        // are warned about, not changed.
        private::create_dir(&config.data_dir).map_err(io_error("creating the data directory"))?;
        let store_path = config.data_dir.join("bigreach.redb");
        private::create_file(&store_path).map_err(io_error("creating the store file"))?;
        // Off the async threads: opening may migrate the schema in place.
        let path = store_path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .map_err(|e| StartError::Io {
                what: "opening the store".to_owned(),
                source: std::io::Error::other(e.to_string()),
            })??;
        let api_token = api_token(&config.data_dir).map_err(io_error("reading the API token"))?;
        private::warn_if_wider(&config.data_dir);

        let bc_token = secrets.resolve(&config.bigcommerce.access_token)?;
        let br_secret = secrets.resolve(&config.bloomreach.secret)?;
        let webhook_secret = secrets.resolve(&config.webhooks.secret)?;

        let mut bc_config =
            bigreach_bigcommerce::ClientConfig::new(config.bigcommerce_api_root(), bc_token);
        bc_config.reserve_share = config.bigcommerce.quota_reserve_share;
        let bigcommerce = Arc::new(BigCommerceClient::new(bc_config, clock.clone())?);
        let mut br_config = bigreach_bloomreach::ClientConfig::new(
            config.bloomreach.base_url.clone(),
            config.bloomreach.project_token.clone(),
            config.bloomreach.key_id.clone(),
            br_secret,
        );
        br_config.requests_per_second = config.bloomreach.requests_per_second;
        let bloomreach = Arc::new(BloomreachClient::new(br_config, clock.clone())?);

        let metrics = Arc::new(Metrics::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let enrich_wake = Arc::new(Notify::new());
        let deliver_wake = Arc::new(Notify::new());
        let in_flight = Arc::new(Mutex::new(HashSet::new()));

        let (writer, writer_thread) = {
            let wake = enrich_wake.clone();
            InboxWriter::start_joinable(store.clone(), move || wake.notify_one())
        };
        let mut paths = vec!["/webhooks".to_owned()];
        if config.webhooks.public_url.path() != "/" {
            paths.push(config.webhooks.public_url.path().to_owned());
        }
        let file_limit = listener::open_file_limit();
        let (webhook_connections, api_connections) = listener::fit_file_limit(
            config.webhooks.max_connections,
            config.api.max_connections,
            file_limit,
        );
        if (webhook_connections, api_connections)
            != (config.webhooks.max_connections, config.api.max_connections)
        {
            tracing::warn!(
                open_file_limit = file_limit,
                reserved = listener::FILES_RESERVED,
                webhooks_max_connections = webhook_connections,
                api_max_connections = api_connections,
                "the connection caps are lowered to fit the open-file limit; raise it \
                 (LimitNOFILE= in the service file, `ulimit -n`) to allow the configured caps"
            );
        }
        let numeric_store_id = NumericStoreId::unknown();
        let (webhook_address, receiver_task) = receiver::serve(
            tokio_listener(listeners.webhooks).map_err(io_error("binding the webhook receiver"))?,
            ReceiverSettings {
                secret: webhook_secret.clone(),
                max_body_bytes: config.webhooks.max_body_bytes,
                paths,
                limits: ListenerLimits::with_max_connections(webhook_connections),
                // The receiver opens before BigCommerce has answered (it must accept during an
                // outage), so the numeric store id is not known yet: `producer` decides until
                // the BigCommerce preflight fills it in.
                store: StoreIdentity {
                    hash: config.bigcommerce.store_hash.clone(),
                    store_id: numeric_store_id.clone(),
                },
            },
            writer,
            metrics.clone(),
            clock.clone(),
            shutdown_rx.clone(),
        )
        .map_err(io_error("binding the webhook receiver"))?;

        let hook_report = Arc::new(Mutex::new(None));
        // The install's audit key (created on the first start, its fingerprint recorded in the
        // log) and the configuration by hash (a change is marked); neither stops the start.
        if let Err(error) = bigreach_core::audit::InstallKey::load_or_create(
            &config.data_dir,
            &store,
            clock.now_ms(),
        ) {
            tracing::warn!(%error, "the audit key could not be set up; audit exports will retry");
        }
        if let Err(error) =
            bigreach_core::audit::coverage::record_config(&store, config, clock.now_ms())
        {
            tracing::warn!(%error, "the configuration could not be recorded in the audit log");
        }
        store.audit(
            clock.now_ms(),
            "system",
            "appliance.started",
            &serde_json::json!({
                "store_hash": config.bigcommerce.store_hash,
                "bloomreach_project": config.bloomreach.project_token,
                "version": env!("CARGO_PKG_VERSION"),
            }),
        )?;

        let (passes_tx, passes_rx) = watch::channel(0u64);
        let parking = Arc::new(Parking::default());
        let startup = Arc::new(StartupWaits::default());
        startup.expect(BIGCOMMERCE, BIGCOMMERCE_STAGES, clock.now());
        startup.expect(BLOOMREACH, BLOOMREACH_STAGES, clock.now());
        // The cutover stage gates delivery from the first claim (an unrecorded store is at
        // `[cutover] start_stage`, default `triggers`: everything flows).
        let cutover_state = store.cutover_state(config.cutover.start_stage)?;
        let gate = Arc::new(LaneGate::new(
            cutover_state.stage,
            cutover_state.entered_at_ms,
        ));
        let live = Arc::new(LiveSource {
            metrics: metrics.clone(),
            in_flight: in_flight.clone(),
            passes: passes_rx,
            hooks: hook_report.clone(),
            bigcommerce: bigcommerce.clone(),
            bloomreach: bloomreach.clone(),
            parking: parking.clone(),
            startup: startup.clone(),
            webhook_address,
            api_address: Mutex::new(None),
            gate: gate.clone(),
            clock: clock.clone(),
        });
        let wake = deliver_wake.clone();
        let alert_latency_ms = (config.monitoring.alert_latency_secs as i64).saturating_mul(1000);
        // The mapping is known once BigCommerce has answered its preflight; reconciliation
        // waits for it.
        let mapping_slot = Arc::new(Mutex::new(None));
        let orders_source = Arc::new(reconcile::BigCommerceOrders::new(
            bigcommerce.clone(),
            mapping_slot.clone(),
        ));
        let checks = Arc::new(cutover::CheckLoop::new(
            store.clone(),
            gate.clone(),
            metrics.clone(),
            clock.clone(),
            config.cutover.clone(),
            deliver_wake.clone(),
        ));
        let history = Arc::new(backfill::ApplianceBackfill::new(
            config,
            backfill::RunnerParts {
                client: bigcommerce.clone(),
                bloomreach: bloomreach.clone(),
                store: store.clone(),
                clock: clock.clone(),
                mapping: mapping_slot.clone(),
                shutdown: shutdown_rx.clone(),
            },
        ));
        let app = AppApi::running(
            store.clone(),
            clock.clone(),
            live.clone(),
            alert_latency_ms,
            Arc::new(move || wake.notify_one()),
        )
        .with_order_source(orders_source.clone())
        .with_host(config, host)
        .with_audit(bigreach_core::app::audit::AuditContext {
            data_dir: config.data_dir.clone(),
            secrets: bigreach_core::audit::configured_secrets(config, secrets),
        })
        .with_cutover(
            config.cutover.clone(),
            bigreach_core::cutover::PlanQuotas {
                bloomreach_requests_per_second: config.bloomreach.requests_per_second,
                tracking_batch: bigreach_bloomreach::MAX_BATCH_COMMANDS as u64,
                catalog_batch: DeliverySettings::default().catalog_batch as u64,
            },
        )
        .with_check_source({
            let checks = checks.clone();
            Arc::new(move || checks.last_evaluation())
        })
        .with_stage_listener({
            let (gate, wake) = (gate.clone(), deliver_wake.clone());
            Arc::new(move |stage, entered_at_ms| {
                gate.set(stage, Some(entered_at_ms));
                wake.notify_one();
            })
        })
        .with_backfill_runner(history.clone())
        .with_backfill_planner(Arc::new(backfill::AppliancePlanner::new(
            bigcommerce.clone(),
            config.bigcommerce.quota_reserve_share,
            config.history.row_limit(),
        )))
        .with_preflight_runner(Arc::new(
            preflight::Preflight::new(
                config.clone(),
                bigcommerce.clone(),
                bloomreach.clone(),
                secrets,
                clock.clone(),
                true,
            )
            .map_err(|e| StartError::Io {
                what: "setting up the preflight".to_owned(),
                source: std::io::Error::other(e.to_string()),
            })?,
        ));
        // The catalog comparison needs the mapping (BigCommerce's preflight) and the catalog
        // id (Bloomreach's); both are filled in as the services answer.
        let catalog_slot = Arc::new(Mutex::new(None));
        let app = app.with_catalog_source(Arc::new(catalog_drift::ApplianceCatalogs::new(
            bigcommerce.clone(),
            bloomreach.clone(),
            mapping_slot.clone(),
            catalog_slot.clone(),
        )));
        let shared = Arc::new(Shared {
            app: app.clone(),
            live,
            store: store.clone(),
            metrics: metrics.clone(),
            clock: clock.clone(),
            alert_latency_ms,
        });

        let mut tasks = vec![receiver_task];
        let retry = Arc::new(StartupRetry {
            startup,
            parking: parking.clone(),
            clock: clock.clone(),
            backoff: retry_policy::Backoff::new(
                STARTUP_BACKOFF_BASE,
                STARTUP_BACKOFF_CAP,
                jitter_seed(&api_token) ^ 0x5354_4152_5455_5000,
            ),
        });
        if let Some(period) =
            bigreach_core::map::CatalogMapping::with_overrides(&config.mapping.catalog)
                .ok()
                .and_then(|mapping| mapping.drift_compare_interval())
        {
            tasks.push(tokio::spawn(catalog_drift::scheduled(
                app.clone(),
                store.clone(),
                period,
                clock.clone(),
                shutdown_rx.clone(),
            )));
        }
        if config.reconcile.daily {
            tasks.push(tokio::spawn(reconcile::daily(
                app,
                store.clone(),
                orders_source,
                config.reconcile.clone(),
                config.data_dir.join("reconciliation"),
                clock.clone(),
                shutdown_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(checks.run(shutdown_rx.clone())));
        tasks.push(tokio::spawn(bigcommerce_stages(
            BigCommerceStages {
                mapping_slot,
                numeric_store_id,
                config: config.clone(),
                webhook_secret,
                hook_report,
                store: store.clone(),
                bigcommerce,
                metrics: metrics.clone(),
                clock: clock.clone(),
                enrich_wake,
                deliver_wake: deliver_wake.clone(),
                passes: passes_tx,
                parking: parking.clone(),
                retry: retry.clone(),
            },
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(bloomreach_stages(
            BloomreachStages {
                catalog_slot,
                catalog_name: config.bloomreach.catalog_name.clone(),
                catalog_fields: catalog_fields(
                    &bigreach_core::map::CatalogMapping::with_overrides(&config.mapping.catalog)
                        .unwrap_or_default(),
                ),
                parts: DelivererParts {
                    store,
                    bloomreach,
                    catalog_id: String::new(),
                    settings: DeliverySettings {
                        requests_per_second: config.bloomreach.requests_per_second,
                        jitter_seed: jitter_seed(&api_token),
                        ..DeliverySettings::default()
                    },
                    metrics,
                    clock,
                    wake: deliver_wake,
                    in_flight,
                    parking,
                    gate,
                },
                retry,
            },
            shutdown_rx.clone(),
        )));
        let (api_address, api_task) = api::serve(
            tokio_listener(listeners.api).map_err(io_error("binding the local API"))?,
            api_token.clone(),
            shared.clone(),
            ListenerLimits::with_max_connections(api_connections),
            shared.metrics.api_listener.clone(),
            shared.clock.clone(),
            shutdown_rx,
        )
        .map_err(io_error("binding the local API"))?;
        *shared.live.api_address.lock() = Some(api_address);
        tasks.push(api_task);
        Ok(Appliance {
            shared,
            shutdown,
            tasks,
            api_token,
            writer_thread: Some(writer_thread),
            history,
        })
    }

    /// The current status (the application API's status document, with the store's error).
    pub fn status(&self) -> Result<Status, StoreError> {
        let counts = self.shared.store.counts()?;
        Ok(bigreach_core::app::status::assemble(
            counts,
            self.shared.live.live(),
            self.shared.clock.now_ms(),
            self.shared.alert_latency_ms,
        ))
    }

    /// The application API of this appliance (what the local API and the desktop shell call).
    pub fn app(&self) -> &AppApi {
        &self.shared.app
    }

    /// The store (for read-only application queries).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The per-install API token.
    pub fn api_token(&self) -> &str {
        &self.api_token
    }

    /// Completed poll passes since start.
    pub fn poll_passes(&self) -> u64 {
        *self.shared.live.passes.borrow()
    }

    /// Waits until at least `n` poll passes have completed.
    pub async fn wait_poll_passes(&self, n: u64) {
        let mut passes = self.shared.live.passes.clone();
        let _ = passes.wait_for(|count| *count >= n).await;
    }

    /// Stops every stage and waits for them. When it returns, the store is closed and can be
    /// opened again (by a restart, or by a tool reading it).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(task) = self.history.take_task() {
            let _ = task.await;
        }
        // The receiver's connections are gone, so the inbox writer's last sender is dropped and
        // its thread ends, releasing its handle on the store.
        if let Some(thread) = self.writer_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The service names start-up waits for, and the stages that wait for each.
const BIGCOMMERCE: &str = "bigcommerce";
const BIGCOMMERCE_STAGES: &str = "enrich, poller";
const BLOOMREACH: &str = "bloomreach";
const BLOOMREACH_STAGES: &str = "delivery";
/// Start-up retries back off from this, doubling (with jitter) up to the cap.
const STARTUP_BACKOFF_BASE: Duration = Duration::from_millis(500);
const STARTUP_BACKOFF_CAP: Duration = Duration::from_secs(60);

/// What start-up still waits for, shown in the status (`starting`).
#[derive(Debug, Default)]
struct StartupWaits {
    waits: Mutex<std::collections::BTreeMap<&'static str, Starting>>,
}

impl StartupWaits {
    fn expect(&self, service: &'static str, stages: &str, at: chrono::DateTime<chrono::Utc>) {
        self.waits.lock().insert(
            service,
            Starting {
                service: service.to_owned(),
                waiting: stages.to_owned(),
                since: at,
                reason: "checking the service (first attempt)".to_owned(),
                attempts: 0,
            },
        );
    }

    fn failed(&self, service: &'static str, reason: String) {
        if let Some(wait) = self.waits.lock().get_mut(service) {
            wait.reason = reason;
            wait.attempts += 1;
        }
    }

    fn ready(&self, service: &'static str) {
        self.waits.lock().remove(service);
    }

    fn list(&self) -> Vec<Starting> {
        self.waits.lock().values().cloned().collect()
    }
}

/// How start-up retries a service's preflight: through the retry policy, with backoff; a
/// refused credential parks the stage that needs it (with the fix) and probes every
/// [`parking::PROBE_EVERY`].
struct StartupRetry {
    startup: Arc<StartupWaits>,
    parking: Arc<Parking>,
    clock: SharedClock,
    backoff: retry_policy::Backoff,
}

impl StartupRetry {
    /// Runs `attempt` until it succeeds (`Some`) or the appliance shuts down (`None`).
    async fn until_ready<T, E, F, Fut>(
        &self,
        service: &'static str,
        component: Component,
        decide: fn(&E) -> retry_policy::Decision,
        mut attempt: F,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<T>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                return None;
            }
            let outcome = tokio::select! {
                outcome = attempt() => outcome,
                _ = shutdown.changed() => return None,
            };
            let error = match outcome {
                Ok(value) => {
                    if failures > 0 {
                        tracing::info!(service, failures, "start-up: the service answers now");
                    }
                    self.startup.ready(service);
                    self.parking.unpark(component);
                    return Some(value);
                }
                Err(error) => error,
            };
            failures += 1;
            let reason = error.to_string();
            let wait = match decide(&error).directive {
                retry_policy::Directive::Park { hint } => {
                    self.parking
                        .park(component, self.clock.now(), reason.clone(), hint.to_owned());
                    parking::PROBE_EVERY
                }
                retry_policy::Directive::Retry {
                    wait: retry_policy::Wait::Streak { retry_after },
                    ..
                } => self.backoff.delay(failures, retry_after),
                // Nothing is lost by trying a preflight again: a permanent answer at start is
                // as likely a gateway's as the service's; back off like the rest.
                retry_policy::Directive::Retry { .. } | retry_policy::Directive::DeadLetter => {
                    self.backoff.delay(failures, None)
                }
            };
            if failures == 1 {
                tracing::warn!(service, reason = %crate::log_safe::log_safe(&reason), "start-up: the service failed its check; webhooks are accepted meanwhile, retrying with backoff");
            }
            self.startup.failed(service, reason);
            tokio::select! {
                _ = self.clock.sleep(wait) => {}
                _ = shutdown.changed() => return None,
            }
        }
    }
}

/// What the BigCommerce side (enrich and the poller) needs to start.
struct BigCommerceStages {
    config: Config,
    /// Where the mapping is published for reconciliation once the preflight passed.
    mapping_slot: Arc<Mutex<Option<IngestSettings>>>,
    /// The receiver's store check, armed with the numeric id once `GET /v2/store` answered.
    numeric_store_id: NumericStoreId,
    webhook_secret: secrecy::SecretString,
    hook_report: Arc<Mutex<Option<HookReport>>>,
    store: Store,
    bigcommerce: Arc<BigCommerceClient>,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    enrich_wake: Arc<Notify>,
    deliver_wake: Arc<Notify>,
    passes: watch::Sender<u64>,
    parking: Arc<Parking>,
    retry: Arc<StartupRetry>,
}

/// What the live mapping needs from BigCommerce (store information, currencies, customer
/// groups and attributes) with the config's overrides: the ingest settings, shared by the live
/// path and the history backfill (one mapping).
pub async fn mapping_settings(
    config: &Config,
    bigcommerce: &BigCommerceClient,
) -> Result<(IngestSettings, bigreach_bigcommerce::StoreInformation), BigCommerceError> {
    let information = bigcommerce.store_information().await?;
    let currencies = bigcommerce.currencies().await?;
    let group_names = bigcommerce
        .customer_groups()
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let attribute_names = bigcommerce
        .customer_attribute_definitions()
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let store_currency = currencies
        .iter()
        .find(|c| c.is_default)
        .map(|c| c.currency_code.clone())
        .unwrap_or_else(|| information.currency.clone());
    let settings = IngestSettings {
        ids: config.bloomreach.ids.clone(),
        mapping: MappingContext {
            profile: ProfileMapping::with_overrides(&config.mapping.profile),
            // Config validation already rejected every bad `[mapping.orders]` entry.
            orders: bigreach_core::map::payment::OrderMapping::with_overrides(
                &config.mapping.orders,
            )
            .unwrap_or_default(),
            group_names,
            attribute_names,
            currencies: bigreach_core::map::currency::StoreCurrencies {
                reference: config
                    .bloomreach
                    .reference_currency
                    .clone()
                    .unwrap_or_default(),
                rates: currencies
                    .iter()
                    .map(|c| (c.currency_code.clone(), c.currency_exchange_rate))
                    .collect(),
            },
            store_currency,
            source_name: if information.domain.is_empty() {
                information.name.clone()
            } else {
                information.domain.clone()
            },
        },
        phone_region: information.country_code.clone().filter(|c| !c.is_empty()),
        policy: config.bloomreach.identity,
        // Config validation already rejected every bad `[mapping.catalog]` entry.
        catalog: bigreach_core::map::CatalogMapping::with_overrides(&config.mapping.catalog)
            .unwrap_or_default(),
    };
    Ok((settings, information))
}

/// Reads what mapping needs from BigCommerce (store information, currencies, customer groups
/// and attributes) and checks the hooks: the BigCommerce preflight.
async fn bigcommerce_preflight(
    parts: &BigCommerceStages,
) -> Result<(IngestSettings, Option<poller::HookCheck>), BigCommerceError> {
    let config = &parts.config;
    let bigcommerce = &parts.bigcommerce;
    let (settings, information) = mapping_settings(config, bigcommerce).await?;
    if let Some(id) = &information.store_id {
        parts.numeric_store_id.learn(id.clone());
    }
    let hook_check = if config.webhooks.manage_hooks {
        let destination = config.webhooks.public_url.clone();
        let report = hooks::ensure_hooks(
            bigcommerce,
            destination.as_str(),
            parts.webhook_secret.expose_secret(),
        )
        .await?;
        tracing::info!(?report, "webhooks checked");
        *parts.hook_report.lock() = Some(report);
        Some(poller::HookCheck {
            destination: destination.to_string(),
            secret: parts.webhook_secret.clone(),
            report: parts.hook_report.clone(),
        })
    } else {
        None
    };
    Ok((settings, hook_check))
}

/// Waits until BigCommerce passes its preflight, then runs enrich and the poller until
/// shutdown.
async fn bigcommerce_stages(parts: BigCommerceStages, mut shutdown: watch::Receiver<bool>) {
    let Some((settings, hook_check)) = parts
        .retry
        .until_ready(
            BIGCOMMERCE,
            Component::Enrich,
            retry_policy::bigcommerce,
            || bigcommerce_preflight(&parts),
            &mut shutdown,
        )
        .await
    else {
        return;
    };
    *parts.mapping_slot.lock() = Some(settings.clone());
    let enricher = Enricher {
        store: parts.store.clone(),
        bigcommerce: parts.bigcommerce.clone(),
        settings,
        metrics: parts.metrics.clone(),
        clock: parts.clock.clone(),
        wake: parts.enrich_wake.clone(),
        deliver_wake: parts.deliver_wake,
        parking: parts.parking.clone(),
        coverage: parking_lot::Mutex::new(None),
    };
    let poller = Poller {
        hooks: hook_check,
        store: parts.store,
        bigcommerce: parts.bigcommerce,
        settings: PollSettings {
            interval: Duration::from_secs(parts.config.bigcommerce.poll_interval_secs),
            overlap: Duration::from_secs(parts.config.bigcommerce.poll_overlap_secs),
            catalog_sweep: bigreach_core::map::CatalogMapping::with_overrides(
                &parts.config.mapping.catalog,
            )
            .ok()
            .and_then(|mapping| mapping.sweep_interval()),
            history_imports: parts.config.history.mode
                == bigreach_core::config::HistoryMode::Imports,
        },
        metrics: parts.metrics,
        clock: parts.clock,
        enrich_wake: parts.enrich_wake,
        passes: parts.passes,
        parking: parts.parking,
    };
    tokio::join!(enricher.run(shutdown.clone()), poller.run(shutdown));
}

/// What delivery needs to start; `parts.catalog_id` is filled in once the catalog is set up.
struct BloomreachStages {
    /// Where the catalog id is published for the catalog comparison once it is set up.
    catalog_slot: Arc<Mutex<Option<String>>>,
    catalog_name: String,
    /// The catalog contract's fields (data/contract/catalog.md), declared before any write.
    catalog_fields: Vec<CatalogField>,
    parts: DelivererParts,
    retry: Arc<StartupRetry>,
}

/// Waits until Bloomreach answers and the catalog is set up, then runs delivery until
/// shutdown.
async fn bloomreach_stages(stages: BloomreachStages, mut shutdown: watch::Receiver<bool>) {
    let BloomreachStages {
        catalog_slot,
        catalog_name,
        catalog_fields,
        mut parts,
        retry,
    } = stages;
    let bloomreach = parts.bloomreach.clone();
    let Some(catalog_id) = retry
        .until_ready(
            BLOOMREACH,
            Component::Delivery,
            retry_policy::bloomreach_request,
            || async {
                bloomreach.system_time().await?;
                ensure_catalog(&bloomreach, &catalog_name, &catalog_fields).await
            },
            &mut shutdown,
        )
        .await
    else {
        return;
    };
    tracing::info!(%catalog_id, "catalog ready");
    *catalog_slot.lock() = Some(catalog_id.clone());
    if let Err(error) = parts.store.audit(
        parts.clock.now_ms(),
        "system",
        "appliance.catalog_ready",
        &serde_json::json!({ "catalog_id": catalog_id }),
    ) {
        tracing::warn!(%error, "the catalog could not be recorded in the audit log");
    }
    parts.catalog_id = catalog_id;
    Arc::new(Deliverer::new(parts)).run(shutdown).await;
}

/// The Bloomreach field declarations of the catalog contract: the built-in fields, then the
/// option and custom fields of the catalog mapping.
fn catalog_fields(mapping: &bigreach_core::map::CatalogMapping) -> Vec<CatalogField> {
    mapping
        .fields()
        .iter()
        .map(|f| CatalogField {
            name: f.name.clone(),
            field_type: f.field_type.clone(),
            searchable: f.searchable,
        })
        .collect()
}

/// Finds or creates the catalog and declares every field of the contract (Bloomreach refuses
/// undeclared properties, reference bloomreach.md §4.2); an existing catalog's fields are
/// replaced by the contract's through `PUT catalogs/{id}`, so a grown mapping extends it.
async fn ensure_catalog(
    client: &BloomreachClient,
    name: &str,
    fields: &[CatalogField],
) -> Result<String, BloomreachError> {
    if let Some(existing) = client
        .list_catalogs()
        .await?
        .into_iter()
        .find(|c| c.name == name)
    {
        // Declare our fields (the catalog rejects undeclared properties).
        client.update_catalog(&existing.id, name, fields).await?;
        return Ok(existing.id);
    }
    client.create_catalog(name, fields, true).await
}

/// Finds or creates the product catalog `name` with every field of the catalog contract
/// declared (what delivery does at start; the history import needs it before the catalog
/// file is imported).
pub async fn ensure_product_catalog(
    client: &BloomreachClient,
    name: &str,
    mapping: &bigreach_core::map::CatalogMapping,
) -> Result<String, BloomreachError> {
    ensure_catalog(client, name, &catalog_fields(mapping)).await
}

/// The retry jitter's seed: fixed per install (so a run can be replayed from its data
/// directory), different between installs (so two appliances do not retry in step).
fn jitter_seed(api_token: &str) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("jitter:{api_token}").as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(seed)
}

fn api_token(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("api-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        if token.trim().len() >= 32 {
            return Ok(token.trim().to_owned());
        }
    }
    let token: String = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..48)
            .map(|_| {
                let n = rng.random_range(0..62u8);
                char::from(match n {
                    0..=9 => b'0' + n,
                    10..=35 => b'a' + n - 10,
                    _ => b'A' + n - 36,
                })
            })
            .collect()
    };
    // A too-short token left behind is replaced; the new one is created 0600 from the start.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    private::write_new_file(&path, token.as_bytes())?;
    Ok(token)
}

#[cfg(test)]
mod catalog_setup_tests {
    use super::*;
    use bigreach_bloomreach::{CatalogItemUpdate, ClientConfig};
    use bigreach_clock::ManualClock;
    use bigreach_core::map::{CatalogMapping, CatalogMappingSettings};
    use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig};
    use chrono::{TimeZone, Utc};
    use secrecy::SecretString;
    use serde_json::json;

    fn mapping(extra_custom_field: bool) -> CatalogMapping {
        let mut settings = CatalogMappingSettings::default();
        if extra_custom_field {
            settings.custom_fields.insert(
                "season".into(),
                bigreach_core::map::catalog::CustomFieldSettings {
                    field: "season".into(),
                    field_type: "string".into(),
                    searchable: true,
                },
            );
        }
        CatalogMapping::with_overrides(&settings).expect("mapping validates")
    }

    /// The contract's fields are declared before a write, and a grown mapping extends the
    /// existing catalog so that items carrying the new field are accepted.
    #[tokio::test]
    async fn the_catalog_declares_the_contract_and_grows_with_the_mapping() {
        let clock = ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
                .single()
                .expect("valid time"),
        );
        let config = BloomreachTwinConfig::default();
        let twin = BloomreachTwin::start(config.clone(), clock.clone())
            .await
            .expect("twin starts");
        let client = BloomreachClient::new(
            ClientConfig::new(
                twin.base_url(),
                &config.project_token,
                config.key_id.clone(),
                SecretString::from(config.secret.clone()),
            ),
            clock.clone(),
        )
        .expect("client config is valid");

        let first = catalog_fields(&mapping(false));
        let id = ensure_catalog(&client, "variants", &first)
            .await
            .expect("catalog created");
        let declared = |twin: &BloomreachTwin| -> Vec<(String, String)> {
            twin.truth()
                .catalogs
                .into_iter()
                .find(|c| c.name == "variants")
                .map(|c| c.fields)
                .unwrap_or_default()
        };
        let expected: Vec<(String, String)> = first
            .iter()
            .map(|f| (f.name.clone(), f.field_type.clone()))
            .collect();
        assert_eq!(declared(&twin), expected);
        assert!(expected.contains(&("list_price".into(), "number".into())));
        assert!(expected.contains(&("option_color".into(), "string".into())));
        assert!(first.iter().filter(|f| f.searchable).count() <= 20);

        let season = || CatalogItemUpdate {
            item_id: "1207".into(),
            properties: json!({"season": "summer"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            upsert: true,
        };
        let refused = client
            .catalog_bulk_partial_update(&id, &[season()])
            .await
            .expect("answered");
        assert!(!refused[0].success, "an undeclared field is refused");

        let grown = catalog_fields(&mapping(true));
        let again = ensure_catalog(&client, "variants", &grown)
            .await
            .expect("catalog extended");
        assert_eq!(again, id, "the same catalog");
        assert!(declared(&twin).contains(&("season".into(), "string".into())));
        let accepted = client
            .catalog_bulk_partial_update(&id, &[season()])
            .await
            .expect("answered");
        assert!(accepted[0].success, "{accepted:?}");
        twin.shutdown().await;
    }
}
