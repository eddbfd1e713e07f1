//! Failure classification: what a Bloomreach failure means for the commands it concerns, in one
//! place for both sinks. Self-contained on purpose (the sinks only call it), so that it can be
//! replaced as a whole by one retry policy for both services.
//!
//! Today's rules, in one exhaustive match per failure source over [`ErrorClass`]:
//! - A request that failed as a whole ([`Classifier::request_failure`]): `RateLimited` (429)
//!   and `Retryable` (5xx, transport) resend the same bytes later with exponential backoff and
//!   full jitter on the streak of failed requests (honouring `Retry-After`); they do not use up
//!   the retry budget, so an outage delays data but never drops it, and they halve the request
//!   rate, which then recovers by one request per second per successful batch (AIMD). `Auth`
//!   keeps the data and retries in a minute without using the budget (shown in the status).
//!   `Permanent` retries with backoff and uses up the budget.
//! - One command rejected inside a 200 ([`Classifier::command_failure`]): `Permanent` and
//!   `Auth` dead-letter it with the reason; `Retryable` and `RateLimited` retry with backoff and
//!   use up the budget.
//! - A command the answer does not mention ([`Classifier::unanswered`]) was not confirmed: retry,
//!   without using the budget.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_bloomreach::{BloomreachClient, BloomreachError, ErrorClass};
use bigreach_clock::SharedClock;
use bigreach_core::outbox::AttemptOutcome;
use rand::Rng;

use crate::metrics::Metrics;

/// Turns Bloomreach failures into attempt outcomes, and keeps the request rate and the streak
/// of failed requests that the backoff uses. Shared by both sinks.
pub(crate) struct Classifier {
    pub(crate) bloomreach: Arc<BloomreachClient>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: SharedClock,
    /// Configured request ceiling (requests per second) that the rate recovers to.
    pub(crate) requests_per_second: u32,
    /// First retry delay.
    pub(crate) backoff_base: Duration,
    /// Longest retry delay.
    pub(crate) backoff_cap: Duration,
    /// Consecutive requests that failed as a whole (429, 5xx, transport); reset on success.
    pub(crate) failure_streak: AtomicU32,
}

impl Classifier {
    /// The outcome for one command Bloomreach rejected inside a 200.
    pub(crate) fn command_failure(
        &self,
        class: ErrorClass,
        errors: String,
        attempts: u32,
    ) -> AttemptOutcome {
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
    pub(crate) fn request_failure(&self, error: &BloomreachError, attempts: u32) -> AttemptOutcome {
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

    /// The outcome for a command the answer did not mention (`what`, e.g. "no result for this
    /// command"): not confirmed, so it is sent again.
    pub(crate) fn unanswered(&self, what: &str) -> AttemptOutcome {
        self.retry(what.to_owned(), 1, None, false)
    }

    /// A successful request: the failure streak ends and the rate climbs back by one.
    pub(crate) fn recover_rate(&self) {
        self.failure_streak.store(0, Ordering::Relaxed);
        let current = self.bloomreach.requests_per_second();
        if current < self.requests_per_second {
            self.bloomreach.set_requests_per_second(current + 1);
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
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_cap);
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
}
