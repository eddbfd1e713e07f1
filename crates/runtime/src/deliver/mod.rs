//! Delivery: takes due commands from the outbox, fills batches of up to 50, sends them through
//! the Bloomreach client (which paces requests), and records each command's outcome.
//!
//! Retry policy, in one exhaustive match over [`ErrorClass`]:
//! - `RateLimited` (429) and `Retryable` (5xx, transport): resend the same bytes later with
//!   exponential backoff and full jitter (honouring `Retry-After`); these do not use up the retry
//!   budget, so an outage delays data but never drops it. A 429 also halves the request rate,
//!   which then recovers by one request per second per successful batch (AIMD).
//! - `Auth`: nothing is wrong with the data; keep it and retry slowly until an operator fixes
//!   the credentials (shown in the status).
//! - `Permanent`: per-command rejections go to the dead letters with their reason.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bigreach_bloomreach::{
    BatchCommand, BloomreachClient, BloomreachError, CatalogItemUpdate, CommandOutcome, ErrorClass,
    MAX_BATCH_COMMANDS,
};
use bigreach_clock::SharedClock;
use bigreach_core::model::{AttemptOutcome, Destination, Lane, OutboxRecord};
use bigreach_core::store::Store;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::value::RawValue;
use tokio::sync::{watch, Notify, Semaphore};

use crate::metrics::Metrics;

/// One claim in this many offers the catalog lane first.
const CATALOG_TURN: u64 = 5;

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
        }
    }
}

/// The delivery stage.
pub struct Deliverer {
    pub(crate) store: Store,
    pub(crate) bloomreach: Arc<BloomreachClient>,
    pub(crate) catalog_id: String,
    pub(crate) settings: DeliverySettings,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: SharedClock,
    pub(crate) wake: Arc<Notify>,
    pub(crate) in_flight: Arc<Mutex<HashSet<u64>>>,
    pub(crate) claims: std::sync::atomic::AtomicU64,
    /// Consecutive requests that failed as a whole (429, 5xx, transport); reset on success.
    pub(crate) failure_streak: std::sync::atomic::AtomicU32,
}

impl Deliverer {
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
            let work = match self.take_work() {
                Ok(work) => work,
                Err(error) => {
                    tracing::error!(%error, "reading the outbox failed");
                    self.metrics
                        .error("deliver", self.clock.now_ms(), error.to_string());
                    Vec::new()
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
                this.deliver(work).await;
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
        match self.store.next_due_ms() {
            Ok(Some(due)) if due > now => {
                Duration::from_millis((due - now) as u64).min(Duration::from_secs(1))
            }
            Ok(Some(_)) => Duration::from_millis(20),
            _ => Duration::from_secs(1),
        }
    }

    /// Claims the next batch: tracking commands first (lanes by priority, with shares for the
    /// lower lanes), else catalog items. Every [`CATALOG_TURN`]th claim offers the catalog first,
    /// so a steady stream of tracking commands cannot starve it.
    fn take_work(&self) -> Result<Vec<OutboxRecord>, bigreach_core::store::StoreError> {
        let now = self.clock.now_ms();
        let mut in_flight = self.in_flight.lock();
        let turn = self
            .claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let catalog_first = turn % CATALOG_TURN == CATALOG_TURN - 1;
        let order = if catalog_first {
            [true, false]
        } else {
            [false, true]
        };
        let mut work = Vec::new();
        for catalog in order {
            let max = if catalog {
                self.settings.catalog_batch
            } else {
                MAX_BATCH_COMMANDS
            };
            work = self.store.due_commands(now, max, catalog, &in_flight)?;
            if !work.is_empty() {
                break;
            }
        }
        in_flight.extend(work.iter().map(|c| c.id));
        Ok(work)
    }

    async fn deliver(&self, work: Vec<OutboxRecord>) {
        let ids: Vec<u64> = work.iter().map(|c| c.id).collect();
        let outcomes = if matches!(work[0].destination, Destination::CatalogItem { .. }) {
            self.deliver_catalog(&work).await
        } else {
            self.deliver_tracking(&work).await
        };
        let now = self.clock.now_ms();
        let live: std::collections::HashMap<u64, i64> = work
            .iter()
            .filter(|c| matches!(c.lane, Lane::Transactions | Lane::Customers | Lane::Carts))
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

    async fn deliver_tracking(&self, work: &[OutboxRecord]) -> Vec<(u64, AttemptOutcome)> {
        let mut commands = Vec::with_capacity(work.len());
        let mut outcomes = Vec::new();
        for record in work {
            let Some(name) = record.destination.batch_name() else {
                continue;
            };
            match String::from_utf8(record.payload.clone())
                .ok()
                .and_then(|text| RawValue::from_string(text).ok())
            {
                Some(data) => commands.push(BatchCommand {
                    command_id: record.id.to_string(),
                    name: name.to_owned(),
                    data,
                }),
                None => outcomes.push((
                    record.id,
                    AttemptOutcome::Dead {
                        reason: "frozen payload is not valid JSON".to_owned(),
                    },
                )),
            }
        }
        if commands.is_empty() {
            return outcomes;
        }
        Metrics::add(&self.metrics.batches_sent, 1);
        Metrics::add(&self.metrics.batch_commands, commands.len() as u64);
        let started = self.clock.now_ms();
        let result = self.bloomreach.batch(&commands).await;
        let elapsed_ms = self.clock.now_ms() - started;
        match result {
            Ok(response) => {
                let accepted = response
                    .results
                    .iter()
                    .filter(|r| r.outcome == CommandOutcome::Accepted)
                    .count();
                tracing::info!(
                    commands = commands.len(),
                    accepted,
                    request_id = response.request_id.as_deref().unwrap_or(""),
                    elapsed_ms,
                    "bloomreach batch delivered"
                );
                self.recover_rate();
                let mut answered = HashSet::new();
                for result in response.results {
                    let Ok(id) = result.command_id.parse::<u64>() else {
                        continue;
                    };
                    answered.insert(id);
                    let outcome = match result.outcome {
                        CommandOutcome::Accepted => AttemptOutcome::Delivered {
                            request_id: response.request_id.clone(),
                        },
                        CommandOutcome::Rejected { errors, class } => self.command_failure(
                            class,
                            format!(
                                "{} (request id {})",
                                errors.join("; "),
                                response.request_id.as_deref().unwrap_or("none")
                            ),
                            1,
                        ),
                    };
                    outcomes.push((id, outcome));
                }
                // A command without a result was not confirmed: send it again.
                for command in &commands {
                    if let Ok(id) = command.command_id.parse::<u64>() {
                        if !answered.contains(&id) {
                            outcomes.push((
                                id,
                                self.retry("no result for this command".into(), 1, None, false),
                            ));
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(
                    commands = commands.len(),
                    code = error.code(),
                    request_id = error.request_id().unwrap_or(""),
                    elapsed_ms,
                    %error,
                    "bloomreach batch failed"
                );
                let attempts = work.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
                let outcome = self.request_failure(&error, attempts);
                for command in &commands {
                    if let Ok(id) = command.command_id.parse::<u64>() {
                        outcomes.push((id, outcome.clone()));
                    }
                }
            }
        }
        outcomes
    }

    async fn deliver_catalog(&self, work: &[OutboxRecord]) -> Vec<(u64, AttemptOutcome)> {
        let mut items = Vec::with_capacity(work.len());
        let mut ids = Vec::with_capacity(work.len());
        let mut outcomes = Vec::new();
        for record in work {
            let Destination::CatalogItem { item_id } = &record.destination else {
                continue;
            };
            match serde_json::from_slice(&record.payload) {
                Ok(properties) => {
                    items.push(CatalogItemUpdate {
                        item_id: item_id.clone(),
                        properties,
                        upsert: true,
                    });
                    ids.push(record.id);
                }
                Err(_) => outcomes.push((
                    record.id,
                    AttemptOutcome::Dead {
                        reason: "frozen catalog payload is not a JSON object".to_owned(),
                    },
                )),
            }
        }
        if items.is_empty() {
            return outcomes;
        }
        Metrics::add(&self.metrics.catalog_requests, 1);
        match self
            .bloomreach
            .catalog_bulk_partial_update(&self.catalog_id, &items)
            .await
        {
            Ok(results) => {
                tracing::info!(items = items.len(), "bloomreach catalog update delivered");
                for (index, id) in ids.iter().enumerate() {
                    let outcome = match results.get(index) {
                        Some(r) if r.success => AttemptOutcome::Delivered { request_id: None },
                        Some(r) => self.command_failure(
                            bigreach_bloomreach::classify_command_errors(&r.errors),
                            r.errors.join("; "),
                            1,
                        ),
                        None => self.retry("no result for this item".into(), 1, None, false),
                    };
                    outcomes.push((*id, outcome));
                }
            }
            Err(error) => {
                tracing::warn!(items = items.len(), %error, "bloomreach catalog update failed");
                let outcome = self.request_failure(&error, 1);
                outcomes.extend(ids.iter().map(|id| (*id, outcome.clone())));
            }
        }
        outcomes
    }

    /// The outcome for one command Bloomreach rejected inside a 200.
    fn command_failure(&self, class: ErrorClass, errors: String, attempts: u32) -> AttemptOutcome {
        match class {
            ErrorClass::Permanent | ErrorClass::Auth => AttemptOutcome::Dead {
                reason: format!("rejected by Bloomreach: {errors}"),
            },
            ErrorClass::Retryable | ErrorClass::RateLimited => {
                self.retry(errors, attempts, None, true)
            }
        }
    }

    /// The outcome for every command of a request that failed as a whole. 429s and 5xx back off
    /// exponentially on the streak of consecutive failed requests (the pressure is Bloomreach's,
    /// not one command's), and they lower the request rate (AIMD).
    fn request_failure(&self, error: &BloomreachError, attempts: u32) -> AttemptOutcome {
        match error.class() {
            ErrorClass::RateLimited => {
                Metrics::add(&self.metrics.bloomreach_429s, 1);
                self.lower_rate("429");
                let retry_after = match error {
                    BloomreachError::RateLimited { retry_after, .. } => *retry_after,
                    _ => None,
                };
                let streak = self.failure_streak.fetch_add(1, Ordering::Relaxed) + 1;
                self.retry(error.to_string(), streak, retry_after, false)
            }
            ErrorClass::Retryable => {
                Metrics::add(&self.metrics.bloomreach_failures, 1);
                self.lower_rate("server error");
                let streak = self.failure_streak.fetch_add(1, Ordering::Relaxed) + 1;
                self.retry(error.to_string(), streak, None, false)
            }
            ErrorClass::Auth => {
                self.metrics
                    .error("deliver", self.clock.now_ms(), error.to_string());
                AttemptOutcome::Retry {
                    error: error.to_string(),
                    next_attempt_ms: self.clock.now_ms() + 60_000,
                    counts: false,
                }
            }
            ErrorClass::Permanent => self.retry(error.to_string(), attempts, None, true),
        }
    }

    fn retry(
        &self,
        error: String,
        attempts: u32,
        retry_after: Option<Duration>,
        counts: bool,
    ) -> AttemptOutcome {
        let exponent = attempts.min(16);
        let ceiling = self
            .settings
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.settings.backoff_cap);
        let jittered = rand::rng().random_range(0..=ceiling.as_millis() as u64);
        let delay = retry_after.map_or(jittered, |after| after.as_millis() as u64 + jittered / 4);
        AttemptOutcome::Retry {
            error,
            next_attempt_ms: self.clock.now_ms() + delay as i64,
            counts,
        }
    }

    fn lower_rate(&self, why: &str) {
        let current = self.bloomreach.requests_per_second();
        let lowered = (current / 2).max(1);
        if lowered < current {
            tracing::warn!(
                from = current,
                to = lowered,
                why,
                "lowering the Bloomreach request rate"
            );
            self.bloomreach.set_requests_per_second(lowered);
        }
    }

    fn recover_rate(&self) {
        self.failure_streak.store(0, Ordering::Relaxed);
        let current = self.bloomreach.requests_per_second();
        if current < self.settings.requests_per_second {
            self.bloomreach.set_requests_per_second(current + 1);
        }
    }
}
