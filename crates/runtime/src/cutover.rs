//! The cutover check loop: every `[cutover] check_every_secs` (on the injected clock) it
//! re-reads the stage into the lane gate, measures the last `window_secs` of the running stage
//! from the live counters, the gate's purchase acknowledgements and the store, asks the pure
//! `bigreach_core::cutover::decide`, and applies a fall back or a hold through the store
//! (audited as `cutover.fall_back` / `cutover.hold` by [`ACTOR`], with the check, the value,
//! the threshold and the window).
//!
//! A window never reaches back past the stage's start (or the last acknowledgement of a hold),
//! so the figures that made one stage fall back cannot trip the stage it fell back to. A store
//! with no recorded stage is left alone: the checks watch a cutover an operator started.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::SharedClock;
use bigreach_core::config::CutoverSettings;
use bigreach_core::cutover::{self, Decision, Evaluation, LatencySample, Stage, WindowFigures};
use bigreach_core::outbox::Lane;
use bigreach_core::store::{Store, StoreError};
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use crate::deliver::LaneGate;
use crate::metrics::Metrics;

/// Who the audit log names for the checks' fall backs and holds.
pub const ACTOR: &str = "system (cutover checks)";

/// The cumulative figures at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: i64,
    requests: u64,
    rate_limited: u64,
    delivered: u64,
    dead_lettered: u64,
    identity_conflicts: u64,
}

/// The samples of the running stage, oldest first, and the stage (with when it was entered)
/// they belong to.
#[derive(Debug, Default)]
struct Samples {
    stage: Option<(Stage, Option<i64>)>,
    held: bool,
    samples: VecDeque<Sample>,
}

/// The check loop.
pub struct CheckLoop {
    store: Store,
    gate: Arc<LaneGate>,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    settings: CutoverSettings,
    wake: Arc<Notify>,
    samples: Mutex<Samples>,
    last: Mutex<Option<Evaluation>>,
}

impl CheckLoop {
    /// A loop over `store` that moves `gate` and wakes delivery through `wake` on a change.
    pub fn new(
        store: Store,
        gate: Arc<LaneGate>,
        metrics: Arc<Metrics>,
        clock: SharedClock,
        settings: CutoverSettings,
        wake: Arc<Notify>,
    ) -> Self {
        CheckLoop {
            store,
            gate,
            metrics,
            clock,
            settings,
            wake,
            samples: Mutex::default(),
            last: Mutex::default(),
        }
    }

    /// The last round that judged a window (for the `stage` operation).
    pub fn last_evaluation(&self) -> Option<Evaluation> {
        self.last.lock().clone()
    }

    /// Runs a round every `check_every_secs` until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = Duration::from_secs(self.settings.check_every_secs.max(1));
        loop {
            tokio::select! {
                _ = self.clock.sleep(every) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.round()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::error!(%error, "the cutover checks could not read or write the store");
                    self.metrics
                        .error("cutover", self.clock.now_ms(), error.to_string());
                }
                Err(error) => tracing::error!(%error, "the cutover check task failed"),
            }
        }
    }

    /// One round: syncs the gate, measures the window, decides and applies. Returns the
    /// decision (`None` when nothing was judged: no recorded stage, nothing watching it, or
    /// the first sample of a window).
    pub fn round(&self) -> Result<Option<Decision>, StoreError> {
        let now = self.clock.now_ms();
        let start = self.settings.start_stage;
        let state = self.store.cutover_state(start)?;
        self.gate.set(state.stage, state.entered_at_ms);
        let mut samples = self.samples.lock();
        if !state.recorded || state.stage.checks().is_empty() {
            *samples = Samples::default();
            return Ok(None);
        }
        // A new stage, or a hold a person cleared, starts a new window; a hold itself does
        // not (the evidence keeps counting, so an enforced failure still falls back).
        let key = (state.stage, state.entered_at_ms);
        if samples.stage != Some(key) || (samples.held && state.hold.is_none()) {
            *samples = Samples {
                stage: Some(key),
                held: false,
                samples: VecDeque::new(),
            };
        }
        samples.held = state.hold.is_some();
        samples.samples.push_back(Sample {
            at_ms: now,
            requests: Metrics::get(&self.metrics.batches_sent)
                + Metrics::get(&self.metrics.catalog_requests),
            rate_limited: Metrics::get(&self.metrics.bloomreach_429s),
            delivered: Metrics::get(&self.metrics.delivered),
            dead_lettered: Metrics::get(&self.metrics.dead_lettered),
            identity_conflicts: self.store.identity_conflicts()?,
        });
        // Keep the newest sample at or before the window's start as its baseline.
        let window_start = now - (self.settings.window_secs as i64).saturating_mul(1000);
        while samples.samples.len() > 2 && samples.samples[1].at_ms <= window_start {
            samples.samples.pop_front();
        }
        let (Some(base), Some(last)) = (samples.samples.front(), samples.samples.back()) else {
            return Ok(None);
        };
        if samples.samples.len() < 2 {
            return Ok(None);
        }
        let (base, last) = (*base, *last);
        drop(samples);
        let stage_start = state.entered_at_ms.unwrap_or(base.at_ms);
        let oldest_queued_purchase_ms = if state.stage.lanes().contains(Lane::Transactions) {
            self.store
                .oldest_pending(Lane::Transactions)?
                .map(|record| now - record.event_time_ms.max(stage_start))
        } else {
            None
        };
        let figures = WindowFigures {
            window_secs: ((last.at_ms - base.at_ms).max(0) / 1000) as u64,
            requests: last.requests.saturating_sub(base.requests),
            rate_limited: last.rate_limited.saturating_sub(base.rate_limited),
            delivered: last.delivered.saturating_sub(base.delivered),
            dead_lettered: last.dead_lettered.saturating_sub(base.dead_lettered),
            purchase_latency: LatencySample::of(
                self.gate.purchase_latencies(base.at_ms, stage_start),
            ),
            oldest_queued_purchase_ms,
            identity_conflicts: last
                .identity_conflicts
                .saturating_sub(base.identity_conflicts),
        };
        let evaluation = Evaluation::of(state.stage, figures, &self.settings.checks, now);
        let decision = evaluation.decision.clone();
        *self.last.lock() = Some(evaluation);
        let seen = state.transitions;
        let change = match &decision {
            Decision::Continue => None,
            Decision::FallBack {
                check,
                value,
                threshold,
                window_secs,
            } => Some(self.store.cutover_change(start, now, ACTOR, |s| {
                // An operator moved the stage meanwhile: this window is about another one.
                if s.state.transitions != seen {
                    return Ok::<_, Infallible>(None);
                }
                Ok(cutover::fall_back(
                    &s.state,
                    *check,
                    *value,
                    *threshold,
                    *window_secs,
                ))
            })?),
            Decision::Hold { check, reason } => {
                Some(self.store.cutover_change(start, now, ACTOR, |s| {
                    if s.state.transitions != seen {
                        return Ok::<_, Infallible>(None);
                    }
                    Ok(cutover::hold(&s.state, *check, reason, now))
                })?)
            }
        };
        if let Some(Ok(Some(applied))) = change {
            tracing::warn!(
                kind = ?applied.transition.kind,
                from = %applied.transition.from,
                to = %applied.transition.to,
                detail = %applied.transition.detail,
                "cutover check acted"
            );
            self.gate
                .set(applied.state.stage, applied.state.entered_at_ms);
            self.wake.notify_one();
        }
        Ok(Some(decision))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use bigreach_clock::{Clock, ManualClock};
    use bigreach_core::cutover::{CheckId, CutoverSnapshot, PlanQuotas, Refusal};
    use chrono::{TimeZone, Utc};

    use super::*;

    const T0: i64 = 1_764_547_200_000;

    struct Rig {
        _dir: tempfile::TempDir,
        store: Store,
        clock: Arc<ManualClock>,
        metrics: Arc<Metrics>,
        gate: Arc<LaneGate>,
        checks: CheckLoop,
    }

    fn rig() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let clock = ManualClock::new(Utc.timestamp_millis_opt(T0).unwrap());
        let metrics = Arc::new(Metrics::default());
        let gate = Arc::new(LaneGate::open());
        let settings = CutoverSettings {
            window_secs: 60,
            check_every_secs: 10,
            ..CutoverSettings::default()
        };
        let checks = CheckLoop::new(
            store.clone(),
            gate.clone(),
            metrics.clone(),
            clock.clone(),
            settings,
            Arc::new(Notify::new()),
        );
        Rig {
            _dir: dir,
            store,
            clock,
            metrics,
            gate,
            checks,
        }
    }

    /// Walks the store to `stage` as an operator would (with a passing preflight).
    fn walk_to(rig: &Rig, stage: Stage) {
        let now = rig.clock.now_ms();
        rig.store
            .audit(
                now,
                "operator",
                cutover::PREFLIGHT_AUDIT_ACTION,
                &serde_json::json!({"passed": true, "digest": "d", "blocking": []}),
            )
            .unwrap();
        while rig.store.cutover_state(Stage::Triggers).unwrap().stage != stage
            || !rig.store.cutover_state(Stage::Triggers).unwrap().recorded
        {
            let step = |s: &CutoverSnapshot| {
                if !s.state.recorded {
                    // An unrecorded store is at the start stage (triggers): go back first.
                    return cutover::rollback(&s.state).map(Some);
                }
                let hash = cutover::plan(s, PlanQuotas::default(), now).plan_hash;
                match s.state.stage < stage {
                    true => cutover::advance(s, &hash, PlanQuotas::default(), 900, now).map(Some),
                    false => cutover::rollback(&s.state).map(Some),
                }
            };
            rig.store
                .cutover_change::<Refusal>(Stage::Triggers, now, "ops", step)
                .unwrap()
                .unwrap();
        }
    }

    fn storm(rig: &Rig, requests: u64) {
        Metrics::add(&rig.metrics.batches_sent, requests);
        Metrics::add(&rig.metrics.bloomreach_429s, requests);
    }

    fn tick(rig: &Rig) -> Option<Decision> {
        rig.clock.advance(Duration::from_secs(10));
        rig.checks.round().unwrap()
    }

    fn actions(store: &Store) -> Vec<String> {
        store
            .audit_log()
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .filter(|a| a == "cutover.fall_back" || a == "cutover.hold")
            .collect()
    }

    #[test]
    fn an_unrecorded_store_is_left_alone() {
        let rig = rig();
        storm(&rig, 100);
        assert_eq!(tick(&rig), None);
        storm(&rig, 100);
        assert_eq!(tick(&rig), None);
        assert!(actions(&rig.store).is_empty());
        assert!(!rig.store.cutover_state(Stage::Triggers).unwrap().recorded);
    }

    #[test]
    fn a_storm_falls_back_once_and_its_figures_do_not_follow_to_the_earlier_stage() {
        let rig = rig();
        walk_to(&rig, Stage::Ingest);
        assert_eq!(tick(&rig), None, "the first round is the window's baseline");
        assert_eq!(rig.gate.stage(), Stage::Ingest, "the round syncs the gate");
        assert_eq!(tick(&rig), Some(Decision::Continue));
        storm(&rig, 40);
        let Some(Decision::FallBack {
            check,
            value,
            threshold,
            window_secs,
        }) = tick(&rig)
        else {
            panic!("a fall back");
        };
        // The window covers the stage's samples so far (two rounds), not more.
        assert_eq!(
            (check, value, threshold, window_secs),
            (CheckId::RateLimited, 1.0, 0.05, 20)
        );
        assert_eq!(rig.gate.stage(), Stage::ReadOnly);
        let state = rig.store.cutover_state(Stage::Triggers).unwrap();
        assert_eq!(state.stage, Stage::ReadOnly);
        let last = rig.store.audit_log().unwrap().pop().unwrap();
        assert_eq!(
            (last.actor.as_str(), last.action.as_str()),
            (ACTOR, "cutover.fall_back")
        );
        let detail: serde_json::Value = serde_json::from_str(&last.detail).unwrap();
        assert_eq!(detail["check"], "rate_limited");
        assert_eq!(detail["window_secs"], 20);
        // Read-only starts a window of its own: the storm at ingest does not count here.
        assert_eq!(tick(&rig), None);
        assert_eq!(tick(&rig), Some(Decision::Continue));
        assert_eq!(actions(&rig.store), ["cutover.fall_back"]);
    }

    #[test]
    fn an_observed_identity_conflict_holds_once_until_acknowledged() {
        let rig = rig();
        walk_to(&rig, Stage::ReadOnly);
        assert_eq!(tick(&rig), None);
        rig.store.write(|tx| tx.count_identity_conflict()).unwrap();
        let Some(Decision::Hold { check, .. }) = tick(&rig) else {
            panic!("a hold");
        };
        assert_eq!(check, CheckId::IdentityConflicts);
        let state = rig.store.cutover_state(Stage::Triggers).unwrap();
        assert_eq!(state.hold.unwrap().check, CheckId::IdentityConflicts);
        assert_eq!(state.stage, Stage::ReadOnly, "a hold keeps the stage");
        // Still in the window: it asks again, but the stage is held once.
        assert!(matches!(tick(&rig), Some(Decision::Hold { .. })));
        assert_eq!(actions(&rig.store), ["cutover.hold"]);
        // A hold does not stop the evidence: an enforced failure still falls back.
        storm(&rig, 40);
        assert!(matches!(tick(&rig), Some(Decision::FallBack { .. })));
        let state = rig.store.cutover_state(Stage::Triggers).unwrap();
        assert_eq!((state.stage, state.hold), (Stage::Preflight, None));
        assert_eq!(
            rig.metrics.bloomreach_429s.load(Ordering::Relaxed),
            40,
            "the loop only reads the counters"
        );
    }
}
