//! The poller: the safety net for missed or disabled webhooks, and the first full sync.
//!
//! Per resource kind it lists what changed since its watermark minus an overlap, stores every
//! page in the inbox together with the new watermark (one transaction per page), and lets the
//! enrich stage map it. The first pass of a fresh store (no watermark yet) is marked
//! `initial_sync`, so its events go to the backfill lane.

use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceClient, BigCommerceError, PAGE_LIMIT};
use bigreach_clock::SharedClock;
use bigreach_core::ingest::{self, Resource};
use bigreach_core::model::{InboxBody, InboxEntry, InboxSource, ResourceKind};
use bigreach_core::store::{Store, StoreError};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::metrics::Metrics;
use crate::retry_policy::Directive;
use bigreach_core::app::status::Component;

/// Poller settings.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// Time between passes.
    pub interval: Duration,
    /// How far before the watermark each pass starts.
    pub overlap: Duration,
    /// The scheduled variant sweep: a pass lists every product once this long has gone by
    /// since the last sweep (`[mapping.catalog] sweep_secs`; `None`: only after a hook gap).
    pub catalog_sweep: Option<Duration>,
    /// `[history] mode = "imports"`: the first pass of a fresh store is no initial sync. It
    /// starts at the backfill's recorded watermark (or now, when no backfill ran yet), and the
    /// history goes through `bigreach backfill` instead of the tracking API.
    pub history_imports: bool,
}

/// When the last catalog sweep (or the first full sync) listed every product (store meta, ms).
const CATALOG_SWEEP_KEY: &str = "catalog_sweep_at";

/// What the poller needs to keep the webhooks registered and active.
pub struct HookCheck {
    /// The URL BigCommerce calls.
    pub destination: String,
    /// The shared secret header value.
    pub secret: secrecy::SecretString,
    /// The last check's result, shown in the status.
    pub report: Arc<parking_lot::Mutex<Option<crate::hooks::HookReport>>>,
}

/// The poller.
pub struct Poller {
    pub(crate) hooks: Option<HookCheck>,
    pub(crate) store: Store,
    pub(crate) bigcommerce: Arc<BigCommerceClient>,
    pub(crate) settings: PollSettings,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: SharedClock,
    pub(crate) enrich_wake: Arc<Notify>,
    pub(crate) passes: watch::Sender<u64>,
    pub(crate) parking: Arc<crate::parking::Parking>,
}

/// Errors of one poll pass.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// BigCommerce could not be read.
    #[error("polling BigCommerce failed: {0}")]
    Fetch(#[from] BigCommerceError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A resource could not be encoded for the inbox.
    #[error("encoding a polled resource failed: {0}")]
    Encode(#[from] serde_json::Error),
    /// A blocking task panicked.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl PollError {
    /// What the retry policy says about this failure.
    pub fn directive(&self) -> Directive {
        match self {
            PollError::Fetch(error) => crate::retry_policy::bigcommerce(error).directive,
            PollError::Store(_) | PollError::Encode(_) | PollError::Task(_) => Directive::Retry {
                wait: crate::retry_policy::Wait::Streak { retry_after: None },
                counts: false,
            },
        }
    }
}

fn watermark_key(kind: ResourceKind) -> String {
    format!("watermark:{}", kind.as_str())
}

impl Poller {
    /// Runs until shutdown: one pass at start, then one per interval.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            // A pass in flight stops with the appliance (as a kill would stop it: each page
            // commits on its own), instead of waiting for the quota or a slow answer.
            let outcome = tokio::select! {
                outcome = self.pass() => outcome,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match outcome {
                Ok(()) => {
                    self.parking.unpark(Component::Poller);
                    self.passes.send_modify(|n| *n += 1);
                }
                Err(error) => {
                    self.metrics
                        .error("poller", self.clock.now_ms(), error.to_string());
                    // The next pass (one interval on) is the retry, and for a parked poller
                    // the probe: the policy decides only whether an operator must act.
                    match error.directive() {
                        Directive::Park { hint } => self.parking.park_probing_every(
                            Component::Poller,
                            self.clock.now(),
                            error.to_string(),
                            hint.to_owned(),
                            self.settings.interval,
                        ),
                        Directive::Retry { .. } | Directive::DeadLetter => {
                            tracing::warn!(error = %crate::log_safe::log_safe(&error.to_string()), "poll pass failed; the next pass retries from the same watermark");
                        }
                    }
                }
            }
            tokio::select! {
                _ = self.clock.sleep(self.settings.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One pass: check the webhooks (re-register or re-activate them), then poll products,
    /// customers and orders (in that order) since their watermarks. The poll also back-fills
    /// whatever a deactivated hook missed, since BigCommerce never replays it.
    pub async fn pass(&self) -> Result<(), PollError> {
        let mut sweep_catalog = false;
        if let Some(check) = &self.hooks {
            use secrecy::ExposeSecret;
            let report = crate::hooks::ensure_hooks(
                &self.bigcommerce,
                &check.destination,
                check.secret.expose_secret(),
            )
            .await?;
            if !report.created.is_empty() || !report.reactivated.is_empty() {
                tracing::warn!(
                    created = ?report.created,
                    reactivated = ?report.reactivated,
                    "webhooks were missing or deactivated; restored them, and this poll back-fills the gap"
                );
                Metrics::add(
                    &self.metrics.hooks_restored,
                    (report.created.len() + report.reactivated.len()) as u64,
                );
                // Variant edits do not move the product's date_modified, so the missed
                // sku/updated notifications can only be recovered by listing every product.
                sweep_catalog = true;
            }
            *check.report.lock() = Some(report);
        }
        let now_ms = self.clock.now_ms();
        let store = self.store.clone();
        let last_sweep = tokio::task::spawn_blocking(move || store.meta_i64(CATALOG_SWEEP_KEY))
            .await
            .map_err(|e| PollError::Task(e.to_string()))??;
        let scheduled = match (self.settings.catalog_sweep, last_sweep) {
            (Some(period), Some(at)) => {
                now_ms.saturating_sub(at) >= i64::try_from(period.as_millis()).unwrap_or(i64::MAX)
            }
            // The first pass (the initial sync, or the first since sweeps were scheduled)
            // starts the period.
            _ => false,
        };
        if scheduled {
            tracing::info!("scheduled catalog sweep: listing every product with its variants");
        }
        let sweep_catalog = sweep_catalog || scheduled;
        for kind in [
            ResourceKind::Product,
            ResourceKind::Customer,
            ResourceKind::Order,
        ] {
            self.poll_kind(kind, sweep_catalog && kind == ResourceKind::Product)
                .await?;
            if kind == ResourceKind::Product && (sweep_catalog || last_sweep.is_none()) {
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || {
                    store.write(|tx| tx.set_meta_i64(CATALOG_SWEEP_KEY, now_ms))
                })
                .await
                .map_err(|e| PollError::Task(e.to_string()))??;
            }
        }
        Ok(())
    }

    /// Polls one kind since its watermark, or everything when `full` (a sweep).
    async fn poll_kind(&self, kind: ResourceKind, full: bool) -> Result<(), PollError> {
        let store = self.store.clone();
        let key = watermark_key(kind);
        let watermark = tokio::task::spawn_blocking(move || store.meta_i64(&key))
            .await
            .map_err(|e| PollError::Task(e.to_string()))??;
        let watermark = match watermark {
            None if self.settings.history_imports => {
                let store = self.store.clone();
                let now_ms = self.clock.now_ms();
                // No backfill yet: record the cut-over watermark now, so that live ingest
                // leaves every older order's sale to the backfill that will adopt it.
                let history =
                    tokio::task::spawn_blocking(move || match store.history_watermark_ms()? {
                        Some(ms) => Ok(ms),
                        None => store
                            .write(|tx| {
                                tx.set_meta_i64(bigreach_core::store::KEY_HISTORY_WATERMARK, now_ms)
                            })
                            .map(|()| now_ms),
                    })
                    .await
                    .map_err(|e| PollError::Task(e.to_string()))??;
                Some(history)
            }
            other => other,
        };
        let initial_sync = watermark.is_none();
        let overlap = chrono::Duration::from_std(self.settings.overlap).unwrap_or_default();
        let since: Option<DateTime<Utc>> = watermark
            .filter(|_| !full)
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .map(|at| at - overlap);
        let mut page = 1u32;
        loop {
            let (entries, newest, full) = self.fetch_page(kind, since, page, initial_sync).await?;
            let count = entries.len();
            let store = self.store.clone();
            let key = watermark_key(kind);
            let previous = watermark.unwrap_or(i64::MIN);
            let queued = tokio::task::spawn_blocking(move || {
                store.write(|tx| {
                    let mut queued = 0;
                    for (entry, resource) in &entries {
                        // What the store already holds exactly would be ingested as unchanged.
                        if !ingest::already_held(tx, resource)? {
                            tx.append_inbox(entry)?;
                            queued += 1;
                        }
                    }
                    let mark = newest.max(previous);
                    if mark > i64::MIN {
                        tx.set_meta_i64(&key, mark)?;
                    }
                    Ok(queued)
                })
            })
            .await
            .map_err(|e| PollError::Task(e.to_string()))??;
            Metrics::add(&self.metrics.resources_polled, count as u64);
            if queued > 0 {
                self.enrich_wake.notify_one();
            }
            if !full {
                break;
            }
            page += 1;
        }
        Ok(())
    }

    async fn fetch_page(
        &self,
        kind: ResourceKind,
        since: Option<DateTime<Utc>>,
        page: u32,
        initial_sync: bool,
    ) -> Result<(Vec<(InboxEntry, Resource)>, i64, bool), PollError> {
        let now_ms = self.clock.now_ms();
        let mut newest = i64::MIN;
        let mut entries = Vec::new();
        let mut push = |modified: DateTime<Utc>,
                        json: Vec<u8>,
                        resource: Resource,
                        entries: &mut Vec<(InboxEntry, Resource)>| {
            let ms = modified.timestamp_millis();
            newest = newest.max(ms);
            let entry = InboxEntry {
                received_at_ms: now_ms,
                event_time_ms: ms,
                source: InboxSource::Poll,
                hash: None,
                initial_sync,
                body: InboxBody::Resource { kind, json },
            };
            entries.push((entry, resource));
        };
        let full = match kind {
            ResourceKind::Order => {
                let since =
                    since.unwrap_or_else(|| Utc.timestamp_opt(0, 0).single().unwrap_or_default());
                let orders = self.bigcommerce.orders_modified_since(since, page).await?;
                let full = orders.len() >= PAGE_LIMIT as usize;
                for order in orders {
                    let json = to_json(&order)?;
                    push(
                        order.date_modified,
                        json,
                        Resource::Order(Box::new(order)),
                        &mut entries,
                    );
                }
                full
            }
            ResourceKind::Customer => {
                let result = self
                    .bigcommerce
                    .customers_modified_since(since, page)
                    .await?;
                let more = result.current_page < result.total_pages;
                for customer in result.items {
                    let json = to_json(&customer)?;
                    push(
                        customer.date_modified,
                        json,
                        Resource::Customer(customer),
                        &mut entries,
                    );
                }
                more
            }
            ResourceKind::Product => {
                let result = self
                    .bigcommerce
                    .products_modified_since(since, page)
                    .await?;
                let more = result.current_page < result.total_pages;
                for product in result.items {
                    let json = to_json(&product)?;
                    push(
                        product.date_modified,
                        json,
                        Resource::Product(product),
                        &mut entries,
                    );
                }
                more
            }
            ResourceKind::Cart => false,
        };
        Ok((entries, newest, full))
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}
