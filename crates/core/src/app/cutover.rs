//! The staged cutover as operations: the stage (where it is, what flows, the hold, the last
//! transitions), the plan of the next advance with its hash, advance bound to that hash,
//! rollback with an honest list of what was already sent, and acknowledging a hold. The
//! decisions are `crate::cutover`'s; each write is one store transaction
//! (`Store::cutover_change`), audited with the actor. A refusal changes nothing and has its own
//! [`Code`] (the CLI exits 12).

use std::sync::Arc;
use ts_rs::TS;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dead_letters::utc;
use super::{AppApi, AppError, Code};
use crate::config::CutoverSettings;
use crate::cutover::{
    self, CheckId, CheckMode, CheckResult, Decision, Evaluation, PlanQuotas, Refusal, Stage,
    StagePlan, Transition, TransitionKind, WindowFigures,
};
use crate::store::AppliedChange;

/// What the cutover operations need besides the store: the settings, the quotas plans
/// estimate against, and who to tell when the stage changes (the running appliance's lane
/// gate).
#[derive(Clone, Default)]
pub(super) struct CutoverContext {
    pub(super) settings: CutoverSettings,
    pub(super) quotas: PlanQuotas,
    pub(super) on_change: Option<Arc<dyn Fn(Stage, i64) + Send + Sync>>,
    pub(super) evaluations: Option<Arc<dyn Fn() -> Option<Evaluation> + Send + Sync>>,
}

/// How many transitions the stage answer lists.
const LAST_TRANSITIONS: usize = 10;

/// What a stage is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StageInfo {
    /// The stage.
    pub stage: Stage,
    /// The lanes it lets deliver.
    pub lanes: Vec<String>,
    /// Its Bloomreach ceiling, in % of the configured rate.
    pub ceiling_percent: u32,
    /// Whether entering it needs a fresh passing preflight.
    pub needs_preflight: bool,
    /// Whether it is the current stage.
    pub current: bool,
}

/// A check that watches a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct WatchedCheck {
    /// The check.
    pub check: CheckId,
    /// Enforced (falls back) or observed (holds for a person).
    pub mode: CheckMode,
    /// Its threshold.
    pub threshold: f64,
    /// The threshold's unit.
    pub unit: String,
    /// The window it judges, in seconds.
    pub window_secs: u64,
}

/// A hold as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HoldView {
    /// The check that asked for it.
    pub check: CheckId,
    /// What it saw.
    pub reason: String,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// One transition of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TransitionView {
    /// Its sequence number.
    pub seq: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What kind.
    pub kind: TransitionKind,
    /// The stage before.
    pub from: Stage,
    /// The stage after.
    pub to: Stage,
    /// The audit entry's detail (check, value, threshold and window of a fall back, …).
    pub detail: serde_json::Value,
}

impl TransitionView {
    fn from_record(t: &Transition) -> Self {
        TransitionView {
            seq: t.seq,
            at: utc(t.at_ms),
            actor: t.actor.clone(),
            kind: t.kind,
            from: t.from,
            to: t.to,
            detail: serde_json::from_str(&t.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The checks' last round on the current stage (the running appliance's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct LastEvaluation {
    /// When.
    pub at: DateTime<Utc>,
    /// What was measured.
    pub figures: WindowFigures,
    /// Every check: outcome, value, threshold, window, mode.
    pub results: Vec<CheckResult>,
    /// What it decided.
    pub decision: Decision,
}

/// The answer to `stage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct StageStatus {
    /// The current stage.
    pub stage: Stage,
    /// Whether it was recorded (else it is the configured `[cutover] start_stage`, and the
    /// automatic checks leave it alone).
    pub recorded: bool,
    /// When it was entered.
    pub entered_at: Option<DateTime<Utc>>,
    /// The lanes delivering now.
    pub lanes_open: Vec<String>,
    /// The Bloomreach ceiling now, in %.
    pub ceiling_percent: u32,
    /// The hold, if the stage waits for a person.
    pub hold: Option<HoldView>,
    /// Every stage, first to last.
    pub stages: Vec<StageInfo>,
    /// The checks watching the current stage.
    pub checks: Vec<WatchedCheck>,
    /// Their last round on this stage, when the appliance is running and has judged one.
    pub last_evaluation: Option<LastEvaluation>,
    /// The last transitions, oldest first.
    pub last_transitions: Vec<TransitionView>,
}

/// A lane that a rollback closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ClosingLane {
    /// The lane.
    pub lane: String,
    /// What stays queued in it (delivered after a re-advance).
    pub queued_kept: u64,
    /// What it already delivered since the stage was entered (all time while nothing was
    /// recorded): in Bloomreach for good.
    pub already_sent: u64,
}

/// What rollback cannot undo, said once for every answer.
pub const CANNOT_UNDO: &str = "Bloomreach has no event delete: events already sent stay in the project (and may have started scenarios); profile and catalog updates already sent stay as written. A batch in flight when the lanes close may still be acknowledged. Nothing queued is dropped.";

/// What a rollback would do (or did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RollbackPreview {
    /// The current stage.
    pub from: Stage,
    /// The stage it goes back to.
    pub to: Stage,
    /// The lanes that close, with what they keep and what they already sent.
    pub lanes_closing: Vec<ClosingLane>,
    /// What rollback cannot undo.
    pub cannot_undo: String,
}

/// The answer to `stage_plan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct StagePlanAnswer {
    /// What advancing does, with the plan hash `advance` takes.
    pub advance: StagePlan,
    /// The checks that will watch the next stage.
    pub checks_after: Vec<WatchedCheck>,
    /// What rolling back does (`None` at the first stage).
    pub rollback: Option<RollbackPreview>,
}

/// The answer to `advance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Advanced {
    /// The stage before.
    pub from: Stage,
    /// The stage now.
    pub to: Stage,
    /// The plan applied.
    pub plan_hash: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The lanes that opened.
    pub lanes_opened: Vec<String>,
    /// Commands that started flowing.
    pub starts_flowing: u64,
    /// The Bloomreach ceiling now, in %.
    pub ceiling_percent: u32,
}

/// The answer to `rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RolledBack {
    /// The stage before.
    pub from: Stage,
    /// The stage now.
    pub to: Stage,
    /// When.
    pub at: DateTime<Utc>,
    /// The lanes that closed, with what they keep and what they already sent.
    pub lanes_closed: Vec<ClosingLane>,
    /// What rollback cannot undo.
    pub cannot_undo: String,
}

/// The answer to `acknowledge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Acknowledged {
    /// The stage (it stays).
    pub stage: Stage,
    /// The hold cleared.
    pub cleared: HoldView,
    /// When.
    pub at: DateTime<Utc>,
}

/// The error code of each refusal.
pub fn refusal_code(refusal: &Refusal) -> Code {
    match refusal {
        Refusal::AtLastStage { .. } => Code::AtLastStage,
        Refusal::AtFirstStage { .. } => Code::AtFirstStage,
        Refusal::PreflightMissing { .. } => Code::PreflightMissing,
        Refusal::PreflightStale { .. } => Code::PreflightStale,
        Refusal::PreflightFailed { .. } => Code::PreflightFailed,
        Refusal::PlanMoved { .. } => Code::PlanMoved,
        Refusal::StageHeld { .. } => Code::StageHeld,
        Refusal::NotHeld => Code::NotHeld,
    }
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        AppError::new(refusal_code(&refusal), refusal.to_string())
    }
}

/// The lanes a change closed, in lane order.
fn closing_lanes(applied: &AppliedChange) -> Vec<ClosingLane> {
    crate::outbox::Lane::ALL
        .iter()
        .filter_map(|lane| {
            let queued = applied.kept_queued.get(lane.name())?;
            Some(ClosingLane {
                lane: lane.name().to_owned(),
                queued_kept: *queued,
                already_sent: applied.sent.get(lane.name()).copied().unwrap_or(0),
            })
        })
        .collect()
}

fn watched(stage: Stage, settings: &CutoverSettings) -> Vec<WatchedCheck> {
    stage
        .checks()
        .iter()
        .map(|&check| WatchedCheck {
            check,
            mode: settings.checks.mode(check),
            threshold: settings.checks.threshold(check),
            unit: check.unit().to_owned(),
            window_secs: settings.window_secs,
        })
        .collect()
}

fn lane_names(stage: Stage) -> Vec<String> {
    stage
        .open_lanes()
        .iter()
        .map(|lane| lane.name().to_owned())
        .collect()
}

impl AppApi {
    /// The cutover settings and the quotas plans estimate against (defaults otherwise).
    pub fn with_cutover(mut self, settings: CutoverSettings, quotas: PlanQuotas) -> Self {
        self.cutover.settings = settings;
        self.cutover.quotas = quotas;
        self
    }

    /// Who to tell when an operation changes the stage (with the time it was entered): the
    /// running appliance's lane gate.
    pub fn with_stage_listener(mut self, listener: Arc<dyn Fn(Stage, i64) + Send + Sync>) -> Self {
        self.cutover.on_change = Some(listener);
        self
    }

    /// Where the checks' last round comes from: the running appliance's check loop.
    pub fn with_check_source(
        mut self,
        source: Arc<dyn Fn() -> Option<Evaluation> + Send + Sync>,
    ) -> Self {
        self.cutover.evaluations = Some(source);
        self
    }

    fn start_stage(&self) -> Stage {
        self.cutover.settings.start_stage
    }

    /// The stage the store is at now.
    pub(super) fn current_stage(&self) -> Result<Stage, AppError> {
        Ok(self.store.cutover_state(self.start_stage())?.stage)
    }

    fn stage_changed(&self, applied: &AppliedChange) {
        if let (Some(listener), Some(entered)) =
            (&self.cutover.on_change, applied.state.entered_at_ms)
        {
            listener(applied.state.stage, entered);
        }
        self.outbox_changed();
    }

    /// The current stage, what flows, the hold and the last transitions.
    pub fn stage(&self) -> Result<StageStatus, AppError> {
        let state = self.store.cutover_state(self.start_stage())?;
        let transitions = self.store.cutover_transitions(LAST_TRANSITIONS)?;
        Ok(StageStatus {
            stage: state.stage,
            recorded: state.recorded,
            entered_at: state.entered_at_ms.map(utc),
            lanes_open: lane_names(state.stage),
            ceiling_percent: state.stage.ceiling_percent(),
            hold: state.hold.as_ref().map(|hold| HoldView {
                check: hold.check,
                reason: hold.reason.clone(),
                since: utc(hold.at_ms),
            }),
            stages: Stage::ALL
                .into_iter()
                .map(|stage| StageInfo {
                    stage,
                    lanes: lane_names(stage),
                    ceiling_percent: stage.ceiling_percent(),
                    needs_preflight: stage.entry_needs_preflight(),
                    current: stage == state.stage,
                })
                .collect(),
            checks: watched(state.stage, &self.cutover.settings),
            last_evaluation: self
                .cutover
                .evaluations
                .as_ref()
                .and_then(|source| source())
                .filter(|evaluation| {
                    evaluation.stage == state.stage
                        && state.entered_at_ms.is_none_or(|at| evaluation.at_ms >= at)
                })
                .map(|evaluation| LastEvaluation {
                    at: utc(evaluation.at_ms),
                    figures: evaluation.figures,
                    results: evaluation.results,
                    decision: evaluation.decision,
                }),
            last_transitions: transitions
                .iter()
                .map(TransitionView::from_record)
                .collect(),
        })
    }

    /// The plan of the next advance (with its hash), and what a rollback would do.
    pub fn stage_plan(&self) -> Result<StagePlanAnswer, AppError> {
        let snapshot = self.store.cutover_snapshot(self.start_stage())?;
        let now = self.clock.now_ms();
        let advance = cutover::plan(&snapshot, self.cutover.quotas, now);
        let rollback = match cutover::rollback(&snapshot.state) {
            Ok(change) => {
                let closing = change.closing_lanes();
                let sent = self.store.delivered_since(
                    crate::outbox::LaneSet::of(&closing),
                    snapshot.state.entered_at_ms,
                )?;
                Some(RollbackPreview {
                    from: change.from,
                    to: change.to,
                    lanes_closing: closing
                        .iter()
                        .map(|lane| ClosingLane {
                            lane: lane.name().to_owned(),
                            queued_kept: snapshot
                                .lanes
                                .iter()
                                .find(|q| q.lane == *lane)
                                .map_or(0, |q| q.queued),
                            already_sent: sent.get(lane).copied().unwrap_or(0),
                        })
                        .collect(),
                    cannot_undo: CANNOT_UNDO.to_owned(),
                })
            }
            Err(_) => None,
        };
        Ok(StagePlanAnswer {
            checks_after: advance
                .to
                .map(|to| watched(to, &self.cutover.settings))
                .unwrap_or_default(),
            advance,
            rollback,
        })
    }

    /// Advances to the next stage, applying exactly the plan whose hash is `plan_hash`; the
    /// plan is checked against the store in the transaction that writes the stage.
    pub fn advance(&self, plan_hash: &str, actor: &str) -> Result<Advanced, AppError> {
        let now = self.clock.now_ms();
        let (quotas, max_age) = (
            self.cutover.quotas,
            self.cutover.settings.preflight_max_age_secs,
        );
        let applied = self
            .store
            .cutover_change(self.start_stage(), now, actor, |snapshot| {
                cutover::advance(snapshot, plan_hash, quotas, max_age, now).map(Some)
            })??
            .ok_or_else(|| AppError::new(Code::Internal, "the advance wrote nothing"))?;
        self.stage_changed(&applied);
        let detail: serde_json::Value =
            serde_json::from_str(&applied.transition.detail).unwrap_or_default();
        Ok(Advanced {
            from: applied.transition.from,
            to: applied.transition.to,
            plan_hash: plan_hash.to_owned(),
            at: utc(now),
            lanes_opened: detail["lanes_opened"]
                .as_array()
                .map(|lanes| {
                    lanes
                        .iter()
                        .filter_map(|l| l.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            starts_flowing: detail["starts_flowing"].as_u64().unwrap_or(0),
            ceiling_percent: applied.transition.to.ceiling_percent(),
        })
    }

    /// Goes back to the previous stage: its lanes close, what they queue stays, and the answer
    /// lists what they already sent.
    pub fn rollback(&self, actor: &str) -> Result<RolledBack, AppError> {
        let now = self.clock.now_ms();
        let applied = self
            .store
            .cutover_change(self.start_stage(), now, actor, |snapshot| {
                cutover::rollback(&snapshot.state).map(Some)
            })??
            .ok_or_else(|| AppError::new(Code::Internal, "the rollback wrote nothing"))?;
        self.stage_changed(&applied);
        Ok(RolledBack {
            from: applied.transition.from,
            to: applied.transition.to,
            at: utc(now),
            lanes_closed: closing_lanes(&applied),
            cannot_undo: CANNOT_UNDO.to_owned(),
        })
    }

    /// Clears the hold of the current stage.
    pub fn acknowledge(&self, actor: &str) -> Result<Acknowledged, AppError> {
        let now = self.clock.now_ms();
        let mut cleared = None;
        let applied = self
            .store
            .cutover_change(self.start_stage(), now, actor, |snapshot| {
                cleared = snapshot.state.hold.clone();
                cutover::acknowledge(&snapshot.state).map(Some)
            })??
            .ok_or_else(|| AppError::new(Code::Internal, "the acknowledgement wrote nothing"))?;
        self.stage_changed(&applied);
        let cleared = cleared.ok_or(Refusal::NotHeld)?;
        Ok(Acknowledged {
            stage: applied.state.stage,
            cleared: HoldView {
                check: cleared.check,
                reason: cleared.reason,
                since: utc(cleared.at_ms),
            },
            at: utc(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bigreach_clock::{Clock, ManualClock};
    use chrono::TimeZone;

    use super::*;
    use crate::app::{Answer, Operation};
    use crate::cutover::PREFLIGHT_AUDIT_ACTION;
    use crate::model::{Destination, Lane, NewCommand};
    use crate::store::Store;

    const T0_MS: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

    fn purchase(id: u64) -> NewCommand {
        NewCommand {
            lane: Lane::Transactions,
            destination: Destination::Event,
            fact: format!("purchase:{id}"),
            content_hash: "once".into(),
            customer_key: Some(format!("email:p{id}@shop.com")),
            payload: br#"{"event_type":"purchase"}"#.to_vec(),
            event_time_ms: T0_MS - 60_000,
        }
    }

    fn api(settings: CutoverSettings) -> (tempfile::TempDir, Store, Arc<ManualClock>, AppApi) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let clock = ManualClock::new(Utc.timestamp_millis_opt(T0_MS).unwrap());
        let api =
            AppApi::new(store.clone(), clock.clone()).with_cutover(settings, PlanQuotas::default());
        (dir, store, clock, api)
    }

    fn preflight(store: &Store, at_ms: i64, passed: bool) {
        store
            .audit(
                at_ms,
                "operator",
                PREFLIGHT_AUDIT_ACTION,
                &serde_json::json!({
                    "passed": passed,
                    "digest": format!("{:064x}", at_ms),
                    "blocking": if passed { vec![] } else { vec!["bloomreach_sdk_csp"] },
                }),
            )
            .unwrap();
    }

    fn connect_start() -> CutoverSettings {
        CutoverSettings {
            start_stage: Stage::Connect,
            ..CutoverSettings::default()
        }
    }

    fn hash(api: &AppApi) -> String {
        api.stage_plan().unwrap().advance.plan_hash
    }

    #[test]
    fn advance_and_rollback_are_audited_tell_the_listener_and_change_state() {
        let (_dir, store, clock, api) = api(connect_start());
        let told = Arc::new(AtomicUsize::new(0));
        let counter = told.clone();
        let api = api.with_stage_listener(Arc::new(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(api.stage().unwrap().stage, Stage::Connect);
        assert!(!api.stage().unwrap().recorded);
        // Connect → preflight opens nothing and needs no preflight.
        let advanced = api.advance(&hash(&api), "ops").unwrap();
        assert_eq!(
            (advanced.from, advanced.to),
            (Stage::Connect, Stage::Preflight)
        );
        preflight(&store, clock.now_ms(), true);
        let plan = api.stage_plan().unwrap();
        assert!(plan.advance.needs_preflight);
        assert_eq!(plan.advance.to, Some(Stage::ReadOnly));
        let advanced = api.advance(&plan.advance.plan_hash, "ops").unwrap();
        assert_eq!(advanced.to, Stage::ReadOnly);
        assert_eq!(advanced.lanes_opened, ["customers", "catalog", "backfill"]);
        assert_eq!(told.load(Ordering::SeqCst), 2);

        let status = api.stage().unwrap();
        assert!(status.recorded);
        assert_eq!(status.lanes_open, ["customers", "catalog", "backfill"]);
        assert_eq!(status.ceiling_percent, 50);
        assert_eq!(status.last_transitions.len(), 2);
        assert_eq!(status.last_transitions[1].actor, "ops");

        let rolled = api.rollback("ops").unwrap();
        assert_eq!(
            (rolled.from, rolled.to),
            (Stage::ReadOnly, Stage::Preflight)
        );
        assert_eq!(rolled.lanes_closed.len(), 3);
        assert!(rolled.cannot_undo.contains("no event delete"));
        let actions: Vec<String> = store
            .audit_log()
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .filter(|a| a.starts_with("cutover."))
            .collect();
        assert_eq!(
            actions,
            ["cutover.advance", "cutover.advance", "cutover.rollback"]
        );
    }

    #[test]
    fn refusals_have_their_own_codes_and_change_nothing() {
        let (_dir, store, clock, api) = api(connect_start());
        assert_eq!(api.rollback("ops").unwrap_err().code, Code::AtFirstStage);
        api.advance(&hash(&api), "ops").unwrap();
        assert_eq!(
            api.advance(&hash(&api), "ops").unwrap_err().code,
            Code::PreflightMissing
        );
        preflight(&store, clock.now_ms(), false);
        let refused = api.advance(&hash(&api), "ops").unwrap_err();
        assert_eq!(refused.code, Code::PreflightFailed);
        assert!(
            refused.message.contains("bloomreach_sdk_csp"),
            "{}",
            refused.message
        );
        preflight(&store, clock.now_ms(), true);
        clock.advance(std::time::Duration::from_secs(901));
        assert_eq!(
            api.advance(&hash(&api), "ops").unwrap_err().code,
            Code::PreflightStale
        );
        preflight(&store, clock.now_ms(), true);
        let reviewed = hash(&api);
        store
            .write(|tx| tx.enqueue(&purchase(1), T0_MS).map(|_| ()))
            .unwrap();
        // A purchase does not move a plan that keeps its lane closed …
        assert_eq!(hash(&api), reviewed);
        api.advance(&reviewed, "ops").unwrap();
        // … but it moves the plan that opens it.
        let reviewed = hash(&api);
        store
            .write(|tx| tx.enqueue(&purchase(2), T0_MS).map(|_| ()))
            .unwrap();
        let moved = api.advance(&reviewed, "ops").unwrap_err();
        assert_eq!(moved.code, Code::PlanMoved);
        assert_eq!(api.stage().unwrap().stage, Stage::ReadOnly);
        assert_eq!(api.acknowledge("ops").unwrap_err().code, Code::NotHeld);
        api.advance(&hash(&api), "ops").unwrap();
        api.advance(&hash(&api), "ops").unwrap();
        assert_eq!(
            api.advance(&hash(&api), "ops").unwrap_err().code,
            Code::AtLastStage
        );
    }

    #[test]
    fn the_stage_shows_the_checks_last_round_on_this_stage_only() {
        let (_dir, store, clock, api) = api(connect_start());
        let figures = WindowFigures {
            window_secs: 60,
            requests: 40,
            rate_limited: 1,
            delivered: 400,
            dead_lettered: 0,
            purchase_latency: cutover::LatencySample::default(),
            oldest_queued_purchase_ms: None,
            identity_conflicts: 0,
        };
        let thresholds = cutover::CheckThresholds::default();
        let at = clock.now_ms();
        let last = Evaluation::of(Stage::ReadOnly, figures, &thresholds, at);
        let source = last.clone();
        let api = api.with_check_source(Arc::new(move || Some(source.clone())));
        api.advance(&hash(&api), "ops").unwrap();
        assert_eq!(
            api.stage().unwrap().last_evaluation,
            None,
            "a round about another stage is not shown"
        );
        preflight(&store, at, true);
        api.advance(&hash(&api), "ops").unwrap();
        let shown = api.stage().unwrap().last_evaluation.unwrap();
        assert_eq!(shown.results, last.results);
        assert_eq!(shown.results.len(), 3);
        assert_eq!(shown.decision, Decision::Continue);
        assert_eq!(shown.figures.requests, 40);
    }

    #[test]
    fn a_hold_refuses_advance_until_acknowledged() {
        let (_dir, store, clock, api) = api(connect_start());
        api.advance(&hash(&api), "ops").unwrap();
        preflight(&store, clock.now_ms(), true);
        api.advance(&hash(&api), "ops").unwrap();
        store
            .cutover_change(Stage::Connect, clock.now_ms(), "system", |s| {
                Ok::<_, Refusal>(cutover::hold(
                    &s.state,
                    CheckId::IdentityConflicts,
                    "1 phone(s) refused to a second person",
                    clock.now_ms(),
                ))
            })
            .unwrap()
            .unwrap();
        let held = api.advance(&hash(&api), "ops").unwrap_err();
        assert_eq!(held.code, Code::StageHeld);
        let acknowledged = api.acknowledge("ops").unwrap();
        assert_eq!(acknowledged.cleared.check, CheckId::IdentityConflicts);
        assert!(api.stage().unwrap().hold.is_none());
        api.advance(&hash(&api), "ops").unwrap();
    }

    #[test]
    fn operations_and_answer_shapes_are_pinned() {
        let (_dir, store, clock, api) = api(connect_start());
        let operations = vec![
            Operation::Stage,
            Operation::StagePlan,
            Operation::Advance {
                plan_hash: "ab12".into(),
            },
            Operation::Rollback,
            Operation::Acknowledge,
        ];
        let json = serde_json::to_value(&operations).unwrap();
        insta::assert_json_snapshot!("cutover_operations", json);
        let back: Vec<Operation> = serde_json::from_value(json).unwrap();
        assert_eq!(back, operations);
        assert!(!Operation::Stage.changes_state() && !Operation::StagePlan.changes_state());
        assert!(Operation::Rollback.changes_state() && Operation::Acknowledge.changes_state());

        api.advance(&hash(&api), "ops").unwrap();
        preflight(&store, clock.now_ms(), true);
        store
            .write(|tx| tx.enqueue(&purchase(1), T0_MS - 1_000).map(|_| ()))
            .unwrap();
        let Answer::StagePlan(plan) = api.call(Operation::StagePlan, "ops").unwrap() else {
            panic!("a plan");
        };
        insta::assert_json_snapshot!("stage_plan", plan);
        let Answer::Advanced(advanced) = api
            .call(
                Operation::Advance {
                    plan_hash: plan.advance.plan_hash.clone(),
                },
                "ops",
            )
            .unwrap()
        else {
            panic!("advanced");
        };
        insta::assert_json_snapshot!("advanced", advanced);
        let Answer::Stage(status) = api.call(Operation::Stage, "ops").unwrap() else {
            panic!("a stage");
        };
        insta::assert_json_snapshot!("stage", status);
        let Answer::RolledBack(rolled) = api.call(Operation::Rollback, "ops").unwrap() else {
            panic!("rolled back");
        };
        insta::assert_json_snapshot!("rolled_back", rolled);
        let error = api.call(Operation::Acknowledge, "ops").unwrap_err();
        insta::assert_json_snapshot!("not_held", error);
    }
}
