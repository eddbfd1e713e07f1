//! Delivery: claims due commands from the outbox through the lane policy
//! (`bigreach_core::outbox::policy`), sends each batch through the sink of its channel
//! (`tracking.rs`: `/batch` of up to 50 commands; `catalog.rs`: bulk partial update), and records
//! each command's outcome in one store transaction.
//!
//! What a failure means (retry with backoff, dead letter, the request rate) is decided in one
//! place, `outcome.rs`, for both sinks.

mod catalog;
mod gate;
mod outcome;
#[cfg(test)]
mod tests;
mod tracking;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_bloomreach::{BloomreachClient, MAX_BATCH_COMMANDS};
use bigreach_clock::SharedClock;
use bigreach_core::outbox::policy::channel_order;
use bigreach_core::outbox::{AttemptOutcome, Channel, Lane, OutboxRecord};
use bigreach_core::store::{Store, StoreError};
use parking_lot::Mutex;
use tokio::sync::{watch, Notify, Semaphore};

pub use self::gate::LaneGate;

use self::catalog::CatalogSink;
use self::outcome::Classifier;
use self::tracking::TrackingSink;
use crate::metrics::Metrics;
use crate::parking::Parking;
use crate::retry_policy::Backoff;

/// One Bloomreach endpoint that frozen commands go to.
///
/// The at-least-once contract:
/// - every command handed in gets exactly one outcome, in the returned list, keyed by its
///   outbox id (a command it cannot even encode gets `Dead` with the reason);
/// - an outcome that is not known for sure (a request that failed as a whole, a command the
///   answer does not mention, a timeout) is `Retry`, never `Delivered`: only an acknowledgement
///   from Bloomreach is `Delivered`;
/// - the payload bytes are sent as frozen at enqueue time, never rebuilt, so a resend is
///   byte-identical and Bloomreach's duplicate filter drops what it already has.
pub trait Sink {
    /// Sends one batch (all of one channel) and returns one outcome per command.
    fn send(
        &self,
        work: &[OutboxRecord],
    ) -> impl Future<Output = Vec<(u64, AttemptOutcome)>> + Send;
}

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Configured request ceiling (requests per second).
    pub requests_per_second: u32,
    /// Attempts with per-command errors before a command is dead-lettered.
    pub retry_budget: u32,
    /// Batches in flight at once.
    pub concurrency: usize,
    /// First retry delay.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// Catalog items per bulk request.
    pub catalog_batch: usize,
    /// Seed of the retry jitter (so a run can be replayed).
    pub jitter_seed: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            requests_per_second: 90,
            retry_budget: 8,
            concurrency: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            catalog_batch: 500,
            jitter_seed: 0x5eed,
        }
    }
}

/// The delivery stage.
pub struct Deliverer {
    store: Store,
    settings: DeliverySettings,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    wake: Arc<Notify>,
    in_flight: Arc<Mutex<HashSet<u64>>>,
    claims: AtomicU64,
    classifier: Arc<Classifier>,
    /// What the cutover stage lets through (lanes, ceiling).
    gate: Arc<LaneGate>,
    /// The gate generation whose ceiling the client runs at.
    gate_applied: AtomicU64,
    tracking: TrackingSink,
    catalog: CatalogSink,
}

/// What a deliverer is built from.
pub struct DelivererParts {
    /// The store.
    pub store: Store,
    /// The Bloomreach client (shared: its request rate is lowered and recovered here).
    pub bloomreach: Arc<BloomreachClient>,
    /// The catalog catalog items go to.
    pub catalog_id: String,
    /// Settings.
    pub settings: DeliverySettings,
    /// Live counters.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: SharedClock,
    /// Notified when new commands are enqueued.
    pub wake: Arc<Notify>,
    /// Ids being sent right now (shared with the status).
    pub in_flight: Arc<Mutex<HashSet<u64>>>,
    /// Where delivery parks when Bloomreach refuses the credentials (shared with the status).
    pub parking: Arc<Parking>,
    /// What the cutover stage lets through: only its lanes are claimed, at its rate ceiling.
    pub gate: Arc<LaneGate>,
}

impl Deliverer {
    /// Builds the stage and its two sinks.
    pub fn new(parts: DelivererParts) -> Self {
        let classifier = Arc::new(Classifier {
            bloomreach: parts.bloomreach.clone(),
            metrics: parts.metrics.clone(),
            clock: parts.clock.clone(),
            requests_per_second: parts.settings.requests_per_second,
            backoff: Backoff::new(
                parts.settings.backoff_base,
                parts.settings.backoff_cap,
                parts.settings.jitter_seed,
            ),
            failure_streak: AtomicU32::new(0),
            parking: parts.parking,
            probe_at_ms: AtomicI64::new(0),
            gate: parts.gate.clone(),
            applied_ceiling: AtomicU32::new(parts.settings.requests_per_second),
        });
        Deliverer {
            tracking: TrackingSink {
                bloomreach: parts.bloomreach.clone(),
                metrics: parts.metrics.clone(),
                clock: parts.clock.clone(),
                classifier: classifier.clone(),
            },
            catalog: CatalogSink {
                bloomreach: parts.bloomreach,
                catalog_id: parts.catalog_id,
                metrics: parts.metrics.clone(),
                classifier: classifier.clone(),
            },
            classifier,
            gate: parts.gate,
            gate_applied: AtomicU64::new(0),
            store: parts.store,
            settings: parts.settings,
            metrics: parts.metrics,
            clock: parts.clock,
            wake: parts.wake,
            in_flight: parts.in_flight,
            claims: AtomicU64::new(0),
        }
    }

    /// Runs until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        loop {
            if *shutdown.borrow() {
                break;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (channel, work) = match self.take_work() {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(%error, "reading the outbox failed");
                    self.metrics
                        .error("deliver", self.clock.now_ms(), error.to_string());
                    (Channel::Tracking, Vec::new())
                }
            };
            if work.is_empty() {
                drop(permit);
                let wait = self.idle_wait();
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = self.clock.sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
                continue;
            }
            let this = self.clone();
            tokio::spawn(async move {
                this.deliver(channel, work).await;
                this.wake.notify_one();
                // Release the deliverer before the permit: shutdown waits for every permit, and
                // then nothing of the deliverer (and its store handle) is left.
                drop(this);
                drop(permit);
            });
        }
        let all = u32::try_from(self.settings.concurrency.max(1)).unwrap_or(u32::MAX);
        let _ = permits.acquire_many(all).await;
    }

    fn idle_wait(&self) -> Duration {
        let now = self.clock.now_ms();
        if let Some(probe_at) = self.classifier.probe_at() {
            return Duration::from_millis((probe_at - now).clamp(20, 1_000) as u64);
        }
        match self.store.next_due_ms_in(self.gate.lanes()) {
            Ok(Some(due)) if due > now => {
                Duration::from_millis((due - now) as u64).min(Duration::from_secs(1))
            }
            Ok(Some(_)) => Duration::from_millis(20),
            _ => Duration::from_secs(1),
        }
    }

    /// Claims the next batch through the lane policy: the channel [`channel_order`] offers
    /// first (tracking, and the catalog on every fifth claim), else the other one; only the
    /// lanes the cutover stage opens, at its rate ceiling.
    fn take_work(&self) -> Result<(Channel, Vec<OutboxRecord>), StoreError> {
        let now = self.clock.now_ms();
        let generation = self.gate.generation();
        if self.gate_applied.swap(generation, Ordering::Relaxed) != generation {
            self.classifier.apply_ceiling();
        }
        let allowed = self.gate.lanes();
        if !self.classifier.may_claim(now) {
            return Ok((Channel::Tracking, Vec::new()));
        }
        let mut in_flight = self.in_flight.lock();
        let turn = self.claims.fetch_add(1, Ordering::Relaxed);
        for channel in channel_order(turn) {
            let max = match channel {
                Channel::Tracking => MAX_BATCH_COMMANDS,
                Channel::Catalog => self.settings.catalog_batch,
            };
            let work = self
                .store
                .claim_batch(now, max, channel, allowed, &in_flight)?;
            if !work.is_empty() {
                in_flight.extend(work.iter().map(|c| c.id));
                return Ok((channel, work));
            }
        }
        Ok((Channel::Tracking, Vec::new()))
    }

    async fn deliver(&self, channel: Channel, work: Vec<OutboxRecord>) {
        let ids: Vec<u64> = work.iter().map(|c| c.id).collect();
        let claimed_ms = self.clock.now_ms();
        let outcomes = match channel {
            Channel::Tracking => self.tracking.send(&work).await,
            Channel::Catalog => self.catalog.send(&work).await,
        };
        let now = self.clock.now_ms();
        if tracing::enabled!(tracing::Level::DEBUG) {
            // Where a purchase's time goes after enqueue: waiting for a claim, then the send.
            let purchases = work.iter().filter(|c| c.lane == Lane::Transactions);
            if let Some(waited_max_ms) = purchases.map(|c| claimed_ms - c.enqueued_at_ms).max() {
                tracing::debug!(
                    commands = work.len(),
                    waited_max_ms,
                    send_ms = now - claimed_ms,
                    "a batch with purchases delivered"
                );
            }
        }
        let live: std::collections::HashMap<u64, i64> = work
            .iter()
            .filter(|c| matches!(c.lane, Lane::Transactions | Lane::Customers | Lane::Carts))
            .map(|c| (c.id, c.event_time_ms))
            .collect();
        let purchases: std::collections::HashMap<u64, i64> = work
            .iter()
            .filter(|c| c.lane == Lane::Transactions)
            .map(|c| (c.id, c.event_time_ms))
            .collect();
        for (id, outcome) in &outcomes {
            match outcome {
                AttemptOutcome::Delivered { .. } => {
                    Metrics::add(&self.metrics.delivered, 1);
                    if let Some(event_ms) = live.get(id) {
                        let seconds = (now - event_ms).max(0) as f64 / 1000.0;
                        self.metrics.delivery_latency.observe(seconds);
                    }
                    if let Some(event_ms) = purchases.get(id) {
                        self.gate.observe_purchase(now, *event_ms);
                    }
                }
                AttemptOutcome::Retry { .. } => Metrics::add(&self.metrics.retries, 1),
                AttemptOutcome::Dead { .. } => Metrics::add(&self.metrics.dead_lettered, 1),
            }
        }
        let store = self.store.clone();
        let budget = self.settings.retry_budget;
        let recorded =
            tokio::task::spawn_blocking(move || store.record_attempts(&outcomes, now, budget))
                .await;
        match recorded {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                // The outcome is lost but the commands stay pending: they are resent, and
                // Bloomreach's duplicate filter absorbs the byte-identical events.
                tracing::error!(%error, "recording delivery outcomes failed; commands will be resent");
                self.metrics.error("deliver", now, error.to_string());
            }
            Err(error) => tracing::error!(%error, "recording task failed"),
        }
        let mut in_flight = self.in_flight.lock();
        for id in ids {
            in_flight.remove(&id);
        }
    }
}
