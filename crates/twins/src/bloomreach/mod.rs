//! The Bloomreach Engagement twin.
//!
//! A strict simulator of Bloomreach Engagement's Tracking API (`/track/v2`: batch, single
//! customer/event endpoints, system time), Catalog API (`/data/v2/.../catalogs`), Imports API
//! (`/imports/v1`, `/data/v1|v2/.../imports/{id}/start`: CSV over URL), customer reads
//! (`/data/v2/.../customers/export-one|attributes|events|export`), GDPR anonymization and
//! customer identity rules (hard/soft ids, merges, the 90-day event duplicate filter), served by hyper on
//! 127.0.0.1 with an OS-picked port. It keeps a ground truth ([`BloomreachTruth`], also served
//! without auth at `GET /_twin/state`; faults switch at `/_twin/faults/{kind}`) and reads time
//! only from the injected clock.
//!
//! The JSON shapes are written here from the reference (`shared/reference/bloomreach.md`), never
//! borrowed from the production client, so a misunderstanding cannot hide in both.

mod catalogs;
mod config;
mod customers;
mod error;
mod gdpr;
mod imports;
mod profiles;
mod sdk;
mod server;
mod state;
mod tracking;
mod truth;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bigreach_clock::SharedClock;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

pub use config::{BloomreachTwinConfig, LatencyModel};
pub use error::TwinError;
pub use sdk::{SDK_FILE, SDK_PATH};
pub use truth::{
    BloomreachTruth, CatalogTruth, EventTruth, ImportRunStatus, ImportRunTruth, ImportTruth,
    ProfileTruth, TwinStats,
};

use crate::control::{ControlError, FaultSwitch};
use server::Core;
use state::State;

/// Stops the server when told to, or when the last handle is dropped.
struct Control {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A running Bloomreach Engagement twin. Cheap to clone; every clone controls the same server.
#[derive(Clone)]
pub struct BloomreachTwin {
    core: Arc<Core>,
    control: Arc<Control>,
}

impl std::fmt::Debug for BloomreachTwin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BloomreachTwin")
            .field("addr", &self.control.addr)
            .finish_non_exhaustive()
    }
}

fn validate(config: &BloomreachTwinConfig) -> Result<(), TwinError> {
    let invalid = |m: &str| Err(TwinError::InvalidConfig(m.to_owned()));
    if config.project_token.is_empty() || config.project_token.contains('/') {
        return invalid("project_token must be non-empty and contain no '/'");
    }
    if config.key_id.is_empty() || config.key_id.contains(':') || config.secret.is_empty() {
        return invalid("key_id (without ':') and secret must be non-empty");
    }
    if config.hard_ids.is_empty() && config.soft_ids.is_empty() {
        return invalid("the project needs at least one id name");
    }
    if let Some(name) = config.hard_ids.iter().find(|h| config.soft_ids.contains(h)) {
        return Err(TwinError::InvalidConfig(format!(
            "id name '{name}' cannot be both hard and soft"
        )));
    }
    if config.server_error_per_mille > 1000 {
        return invalid("server_error_per_mille must be at most 1000");
    }
    Ok(())
}

impl BloomreachTwin {
    /// Validates `config`, binds 127.0.0.1 on an OS-picked port and starts serving.
    pub async fn start(
        config: BloomreachTwinConfig,
        clock: SharedClock,
    ) -> Result<Self, TwinError> {
        validate(&config)?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(TwinError::Bind)?;
        let addr = listener.local_addr().map_err(TwinError::Bind)?;
        let core = Arc::new(Core::new(clock, State::new(config)));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, core.clone(), stopped));
        Ok(Self {
            core,
            control: Arc::new(Control {
                addr,
                stop,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.control.addr))
            .expect("a socket address always forms a valid URL")
    }

    /// The SDK file's URL, `http://127.0.0.1:PORT/js/exponea.min.js` (bytes: [`SDK_FILE`]).
    pub fn sdk_url(&self) -> Url {
        Url::parse(&format!("http://{}{SDK_PATH}", self.control.addr))
            .expect("a socket address always forms a valid URL")
    }

    // The setters, `switch_fault` and the control API (`/_twin/faults/{kind}`) all end in the
    // free functions below, so a scenario and an outside script do the same thing.

    /// Every API request answers 503 (and is discarded) until `until` on the clock; `None` ends
    /// the outage.
    pub fn set_outage(&self, until: Option<DateTime<Utc>>) {
        set_outage(&self.core, until);
    }

    /// Changes the per-IP ceiling of requests in any 60-second window.
    pub fn set_requests_per_minute(&self, n: u32) {
        set_requests_per_minute(&self.core, n);
    }

    /// Sets the chance, in thousandths, that an API request answers a random 5xx and is
    /// discarded. Values above 1000 count as 1000.
    pub fn set_server_error_per_mille(&self, n: u32) {
        set_server_error_per_mille(&self.core, n);
    }

    /// Replaces the latency model (requests already waiting keep their delay).
    pub fn set_latency(&self, latency: LatencyModel) {
        set_latency(&self.core, latency);
    }

    /// Switches one fault by its scenario name (see [`crate::control`]); off restores the
    /// configured value. Unknown kinds (including the BigCommerce ones) are refused.
    pub fn switch_fault(&self, fault: &FaultSwitch) -> Result<(), ControlError> {
        switch_fault(&self.core, fault)
    }

    /// `Some(n)`: 429 answers carry `Retry-After: n`. `None` (the default): no header, as
    /// documented for Engagement.
    pub fn set_retry_after(&self, seconds: Option<u32>) {
        self.core.state.lock().retry_after_seconds = seconds;
    }

    /// Completes once no import run is in flight (runs download and apply on background
    /// tasks). Returns at once when none is.
    pub async fn wait_for_import_runs(&self) {
        let mut runs = self.core.import_runs.subscribe();
        // Err only when the sender is gone, which cannot happen while `self` holds the core.
        let _ = runs.wait_for(|n| *n == 0).await;
    }

    /// Edits an item of the catalog called `catalog` behind the connector's back (as someone in
    /// the Bloomreach UI would): `properties` are merged into it (it is made if missing). Not
    /// an API write: no stats, no checks. Also `POST /_twin/catalogs/{name}/items/{item_id}`.
    pub fn edit_catalog_item(
        &self,
        catalog: &str,
        item_id: &str,
        properties: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), TwinError> {
        edit_catalog_item(&self.core, catalog, item_id, properties)
    }

    /// Deletes an item of the catalog called `catalog` behind the connector's back. Also
    /// `DELETE /_twin/catalogs/{name}/items/{item_id}`.
    pub fn delete_catalog_item(&self, catalog: &str, item_id: &str) -> Result<(), TwinError> {
        delete_catalog_item(&self.core, catalog, item_id)
    }

    /// A snapshot of the ground truth.
    pub fn truth(&self) -> BloomreachTruth {
        self.core.state.lock().truth()
    }

    /// Stops accepting connections, ends open ones, aborts import runs in flight, and waits for
    /// the server task.
    pub async fn shutdown(self) {
        self.control.stop.send_replace(true);
        self.core.tasks.lock().abort_all();
        let task = self.control.task.lock().take();
        if let Some(task) = task {
            if let Err(error) = task.await {
                tracing::warn!(%error, "bloomreach twin server task failed");
            }
        }
    }
}

pub(crate) fn edit_catalog_item(
    core: &Core,
    catalog: &str,
    item_id: &str,
    properties: serde_json::Map<String, serde_json::Value>,
) -> Result<(), TwinError> {
    core.state
        .lock()
        .catalogs
        .edit_behind_the_back(catalog, item_id, properties)
        .map_err(TwinError::Control)
}

pub(crate) fn delete_catalog_item(
    core: &Core,
    catalog: &str,
    item_id: &str,
) -> Result<(), TwinError> {
    core.state
        .lock()
        .catalogs
        .delete_behind_the_back(catalog, item_id)
        .map_err(TwinError::Control)
}

pub(crate) fn set_outage(core: &Core, until: Option<DateTime<Utc>>) {
    core.state.lock().outage_until = until;
}

pub(crate) fn set_requests_per_minute(core: &Core, n: u32) {
    core.state.lock().requests_per_minute = n;
}

pub(crate) fn set_server_error_per_mille(core: &Core, n: u32) {
    core.state.lock().server_error_per_mille = n.min(1000);
}

pub(crate) fn set_latency(core: &Core, latency: LatencyModel) {
    core.state.lock().latency = latency;
}

pub(crate) fn switch_fault(core: &Core, f: &FaultSwitch) -> Result<(), ControlError> {
    let on = f.on;
    let configured = core.state.lock().config.clone();
    match f.kind.as_str() {
        "bloomreach_outage" => set_outage(core, on.then(|| f.outage_end(core.clock.now()))),
        "bloomreach_rate_limit" => set_requests_per_minute(
            core,
            if on {
                f.requests_per_minute.unwrap_or(30)
            } else {
                configured.requests_per_minute
            },
        ),
        "bloomreach_5xx" => set_server_error_per_mille(
            core,
            if on {
                f.per_mille.unwrap_or(300)
            } else {
                configured.server_error_per_mille
            },
        ),
        "bloomreach_latency" => set_latency(
            core,
            if on {
                let ms = f.latency_ms.unwrap_or(2000);
                LatencyModel {
                    base: std::time::Duration::from_millis(ms),
                    jitter: std::time::Duration::from_millis(ms / 2),
                }
            } else {
                configured.latency
            },
        ),
        other => {
            return Err(ControlError::unknown(
                other,
                "Bloomreach",
                crate::control::BLOOMREACH_FAULTS,
            ))
        }
    }
    Ok(())
}

/// The faults in force, as `GET /_twin/faults` shows them.
pub(crate) fn faults_json(core: &Core) -> serde_json::Value {
    let state = core.state.lock();
    serde_json::json!({
        "bloomreach_outage": { "until": state.outage_until },
        "bloomreach_rate_limit": { "requests_per_minute": state.requests_per_minute },
        "bloomreach_5xx": { "per_mille": state.server_error_per_mille },
        "bloomreach_latency": {
            "base_ms": state.latency.base.as_millis(),
            "jitter_ms": state.latency.jitter.as_millis(),
        },
    })
}
