//! Live counters of the running appliance (the store holds the durable ones).

use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use parking_lot::Mutex;

use crate::listener::ListenerMetrics;

/// Counters shared by the runtime's tasks.
#[derive(Debug)]
pub struct Metrics {
    /// From BigCommerce event time to Bloomreach acknowledgement, in seconds, for the live lanes
    /// (transactions, customers, carts); history and catalog are left out, since their event
    /// times are old by nature.
    pub delivery_latency: prometheus_client::metrics::histogram::Histogram,
    /// Webhooks stored (new).
    pub webhooks_accepted: AtomicU64,
    /// Webhooks recognised as duplicates by hash.
    pub webhooks_duplicate: AtomicU64,
    /// Webhooks refused for a bad secret (401).
    pub webhooks_unauthorized: AtomicU64,
    /// Webhooks refused for their size (413).
    pub webhooks_too_large: AtomicU64,
    /// Webhooks refused as malformed (400).
    pub webhooks_malformed: AtomicU64,
    /// Webhooks refused because they name another store (403).
    pub webhooks_other_store: AtomicU64,
    /// Webhooks stored whose resource id is not valid for its kind (set aside, never fetched).
    pub webhooks_bad_id: AtomicU64,
    /// Resources fetched from BigCommerce by the enrich stage.
    pub resources_fetched: AtomicU64,
    /// Resources stored by the poller.
    pub resources_polled: AtomicU64,
    /// Hooks re-registered or re-activated after start.
    pub hooks_restored: AtomicU64,
    /// Tracking batches sent.
    pub batches_sent: AtomicU64,
    /// Commands in those batches.
    pub batch_commands: AtomicU64,
    /// Catalog bulk requests sent.
    pub catalog_requests: AtomicU64,
    /// 429 answers from Bloomreach.
    pub bloomreach_429s: AtomicU64,
    /// 5xx answers and transport failures from Bloomreach.
    pub bloomreach_failures: AtomicU64,
    /// Commands acknowledged.
    pub delivered: AtomicU64,
    /// Commands scheduled for retry.
    pub retries: AtomicU64,
    /// Commands dead-lettered.
    pub dead_lettered: AtomicU64,
    /// Last errors seen by each stage, for the status screen.
    pub last_errors: Mutex<Vec<StageError>>,
    /// The webhook receiver's connections (open, accepted, at the cap, accept errors).
    pub webhook_listener: Arc<ListenerMetrics>,
    /// The local API's connections.
    pub api_listener: Arc<ListenerMetrics>,
}

pub use bigreach_core::app::status::StageError;

/// A copy of [`Metrics`] for status screens (the application API's type).
pub type MetricsSnapshot = bigreach_core::app::status::LiveCounters;

impl Default for Metrics {
    fn default() -> Self {
        Self {
            // 50 ms … ~27 min, doubling.
            delivery_latency: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.05, 2.0, 16),
            ),
            webhooks_accepted: AtomicU64::default(),
            webhooks_duplicate: AtomicU64::default(),
            webhooks_unauthorized: AtomicU64::default(),
            webhooks_too_large: AtomicU64::default(),
            webhooks_malformed: AtomicU64::default(),
            webhooks_other_store: AtomicU64::default(),
            webhooks_bad_id: AtomicU64::default(),
            resources_fetched: AtomicU64::default(),
            resources_polled: AtomicU64::default(),
            hooks_restored: AtomicU64::default(),
            batches_sent: AtomicU64::default(),
            batch_commands: AtomicU64::default(),
            catalog_requests: AtomicU64::default(),
            bloomreach_429s: AtomicU64::default(),
            bloomreach_failures: AtomicU64::default(),
            delivered: AtomicU64::default(),
            retries: AtomicU64::default(),
            dead_lettered: AtomicU64::default(),
            last_errors: Mutex::default(),
            webhook_listener: Arc::default(),
            api_listener: Arc::default(),
        }
    }
}

impl Metrics {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Remembers a stage error (the last 20).
    pub fn error(&self, stage: &'static str, at_ms: i64, message: String) {
        let mut errors = self.last_errors.lock();
        errors.push(StageError {
            stage: stage.to_owned(),
            at_ms,
            message,
        });
        let excess = errors.len().saturating_sub(20);
        errors.drain(..excess);
    }

    /// A serializable copy.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            webhooks_accepted: Self::get(&self.webhooks_accepted),
            webhooks_duplicate: Self::get(&self.webhooks_duplicate),
            webhooks_unauthorized: Self::get(&self.webhooks_unauthorized),
            webhooks_too_large: Self::get(&self.webhooks_too_large),
            webhooks_malformed: Self::get(&self.webhooks_malformed),
            webhooks_other_store: Self::get(&self.webhooks_other_store),
            webhooks_bad_id: Self::get(&self.webhooks_bad_id),
            resources_fetched: Self::get(&self.resources_fetched),
            resources_polled: Self::get(&self.resources_polled),
            hooks_restored: Self::get(&self.hooks_restored),
            batches_sent: Self::get(&self.batches_sent),
            batch_commands: Self::get(&self.batch_commands),
            catalog_requests: Self::get(&self.catalog_requests),
            bloomreach_429s: Self::get(&self.bloomreach_429s),
            bloomreach_failures: Self::get(&self.bloomreach_failures),
            delivered: Self::get(&self.delivered),
            retries: Self::get(&self.retries),
            dead_lettered: Self::get(&self.dead_lettered),
            last_errors: self.last_errors.lock().clone(),
        }
    }
}
