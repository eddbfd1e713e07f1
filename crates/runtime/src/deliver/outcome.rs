//! What a Bloomreach failure means for the commands it concerns, in one place for both sinks:
//! every failure goes through the one retry policy ([`crate::retry_policy`]), whose directive
//! becomes the attempt outcome (a timed retry with seeded jitter, a dead letter with the reason,
//! or parking delivery with the operator's fix) and whose pressure signal drives the request
//! rate (halved on 429 and 5xx, recovering by one request per second per successful batch:
//! AIMD).
//!
//! - A request that failed as a whole ([`Classifier::request_failure`]): see the policy table.
//!   Backoff grows on the streak of consecutive failed requests (the pressure is Bloomreach's,
//!   not one command's). Refused credentials park delivery: no command is claimed until the
//!   probe, one batch every [`PROBE_EVERY`], and nothing is dead-lettered.
//! - One command rejected inside a 200 ([`Classifier::command_failure`]).
//! - A command the answer does not mention ([`Classifier::unanswered`]) was not confirmed:
//!   retry, without using the budget.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_bloomreach::{BloomreachClient, BloomreachError, ErrorClass};
use bigreach_clock::SharedClock;
use bigreach_core::app::status::Component;
use bigreach_core::outbox::AttemptOutcome;

use crate::metrics::Metrics;
use crate::parking::{Parking, PROBE_EVERY};
use crate::retry_policy::{self, Backoff, Decision, Directive, Pressure, Wait};

/// Turns Bloomreach failures into attempt outcomes, and keeps the request rate and the streak
/// of failed requests that the backoff uses. Shared by both sinks.
pub(crate) struct Classifier {
    pub(crate) bloomreach: Arc<BloomreachClient>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: SharedClock,
    /// Configured request ceiling (requests per second) that the rate recovers to.
    pub(crate) requests_per_second: u32,
    /// Retry delays (exponential, seeded full jitter).
    pub(crate) backoff: Backoff,
    /// Consecutive requests that failed as a whole (429, 5xx, transport); reset on success.
    pub(crate) failure_streak: AtomicU32,
    /// Where delivery is parked when Bloomreach refuses the credentials.
    pub(crate) parking: Arc<Parking>,
    /// While parked: no claims before this time (ms); the next claim is the probe.
    pub(crate) probe_at_ms: AtomicI64,
    /// The cutover stage: its ceiling scales `requests_per_second`.
    pub(crate) gate: Arc<super::LaneGate>,
    /// The ceiling last applied to the client.
    pub(crate) applied_ceiling: AtomicU32,
}

impl Classifier {
    /// The outcome for one command Bloomreach rejected inside a 200.
    pub(crate) fn command_failure(
        &self,
        class: ErrorClass,
        errors: String,
        attempts: u32,
    ) -> AttemptOutcome {
        let decision = retry_policy::bloomreach_command(class);
        self.apply_pressure(decision.pressure, &errors);
        self.outcome(
            decision,
            format!("rejected by Bloomreach: {errors}"),
            attempts,
        )
    }

    /// The outcome for every command of a request that failed as a whole.
    pub(crate) fn request_failure(&self, error: &BloomreachError, attempts: u32) -> AttemptOutcome {
        let decision = retry_policy::bloomreach_request(error);
        self.apply_pressure(decision.pressure, "");
        self.outcome(decision, error.to_string(), attempts)
    }

    /// Whether delivery may claim work now: always, unless parked; while parked, exactly one
    /// claim once the probe is due (it moves the next probe on, so the batches that run
    /// concurrently do not all probe at once).
    pub(crate) fn may_claim(&self, now_ms: i64) -> bool {
        if !self.parking.is_parked(Component::Delivery) {
            return true;
        }
        let due = self.probe_at_ms.load(Ordering::Relaxed);
        now_ms >= due
            && self
                .probe_at_ms
                .compare_exchange(
                    due,
                    now_ms + PROBE_EVERY.as_millis() as i64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// When a parked delivery probes next (for the idle wait), if it is parked.
    pub(crate) fn probe_at(&self) -> Option<i64> {
        self.parking
            .is_parked(Component::Delivery)
            .then(|| self.probe_at_ms.load(Ordering::Relaxed))
    }

    fn apply_pressure(&self, pressure: Pressure, why: &str) {
        match pressure {
            Pressure::None => {}
            Pressure::RateLimited => {
                Metrics::add(&self.metrics.bloomreach_429s, 1);
                self.lower_rate(if why.is_empty() { "429" } else { why });
                self.failure_streak.fetch_add(1, Ordering::Relaxed);
            }
            Pressure::ServerTrouble => {
                Metrics::add(&self.metrics.bloomreach_failures, 1);
                self.lower_rate("server error");
                self.failure_streak.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn outcome(&self, decision: Decision, error: String, attempts: u32) -> AttemptOutcome {
        match decision.directive {
            Directive::Retry { wait, counts } => {
                let (failures, retry_after) = match wait {
                    Wait::Streak { retry_after } => (
                        self.failure_streak.load(Ordering::Relaxed).max(1),
                        retry_after,
                    ),
                    Wait::Attempts => (attempts, None),
                };
                self.retry(error, failures, retry_after, counts)
            }
            Directive::Park { hint } => {
                let now = self.clock.now_ms();
                self.metrics.error("deliver", now, error.clone());
                // The probe time first: a concurrent claim that sees "parked" must see it too.
                let probe_at = now + PROBE_EVERY.as_millis() as i64;
                self.probe_at_ms.store(probe_at, Ordering::Relaxed);
                self.parking.park(
                    Component::Delivery,
                    self.clock.now(),
                    error.clone(),
                    hint.to_owned(),
                );
                AttemptOutcome::Retry {
                    error: format!("held while delivery is parked: {error}"),
                    next_attempt_ms: probe_at,
                    counts: false,
                }
            }
            Directive::DeadLetter => AttemptOutcome::Dead { reason: error },
        }
    }

    /// The outcome for a command the answer did not mention (`what`, e.g. "no result for this
    /// command"): not confirmed, so it is sent again, backing off on the command's own attempts
    /// (`attempts`, 1 for the first), without using its budget (it may have been applied).
    pub(crate) fn unanswered(&self, what: &str, attempts: u32) -> AttemptOutcome {
        self.retry(what.to_owned(), attempts, None, false)
    }

    /// A successful request: the failure streak ends, a parked delivery unparks, and the rate
    /// climbs back by one, up to the stage's ceiling.
    pub(crate) fn recover_rate(&self) {
        self.failure_streak.store(0, Ordering::Relaxed);
        self.parking.unpark(Component::Delivery);
        let current = self.bloomreach.requests_per_second();
        if current < self.ceiling() {
            self.bloomreach.set_requests_per_second(current + 1);
        }
    }

    /// The configured rate scaled by the cutover stage's ceiling.
    pub(crate) fn ceiling(&self) -> u32 {
        self.gate.ceiling(self.requests_per_second)
    }

    /// Moves the client to a new stage's ceiling: a rate lowered by pressure stays lowered
    /// (capped by the new ceiling); one running at the old ceiling moves to the new one.
    pub(crate) fn apply_ceiling(&self) {
        let ceiling = self.ceiling();
        let previous = self.applied_ceiling.swap(ceiling, Ordering::Relaxed);
        let current = self.bloomreach.requests_per_second();
        let rate = if current < previous {
            current.min(ceiling)
        } else {
            ceiling
        };
        if rate != current {
            tracing::info!(
                from = current,
                to = rate,
                "Bloomreach request rate set to the stage's ceiling"
            );
            self.bloomreach.set_requests_per_second(rate);
        }
    }

    fn retry(
        &self,
        error: String,
        attempts: u32,
        retry_after: Option<Duration>,
        counts: bool,
    ) -> AttemptOutcome {
        let delay = self.backoff.delay(attempts, retry_after);
        AttemptOutcome::Retry {
            error,
            next_attempt_ms: self.clock.now_ms()
                + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
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
                why = %crate::log_safe::log_safe(why),
                "lowering the Bloomreach request rate"
            );
            self.bloomreach.set_requests_per_second(lowered);
        }
    }
}
