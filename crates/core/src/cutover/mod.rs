//! The staged cutover: connect → preflight → read-only → ingest → triggers, with a way back at
//! every step that keeps what is queued. Pure: the store gathers a [`CutoverSnapshot`] in one
//! transaction and applies the [`Change`] these functions return in the same one
//! (`store::cutover`); the runtime's lane gate opens what the stage allows.
//!
//! - Each [`Stage`] declares the outbox lanes it lets deliver ([`Stage::lanes`]), its Bloomreach
//!   rate ceiling as a share of the configured rate ([`Stage::ceiling_percent`]) and the checks
//!   that watch it ([`Stage::checks`], see [`checks`]). A closed lane queues; it never drops.
//! - [`plan`] shows what an advance would change: per lane what is queued, how old, whether it
//!   starts flowing, and what that costs against both APIs' quotas. [`plan_hash`] binds an
//!   advance to that reviewed plan: [`advance`] refuses once the store moved on
//!   ([`Refusal::PlanMoved`]), as `terraform apply` refuses a stale plan.
//! - An advance into a stage that opens lanes needs a fresh passing preflight: the newest
//!   [`PREFLIGHT_AUDIT_ACTION`] audit entry ([`PreflightSummary`]).
//! - [`rollback`] returns to the previous stage. Nothing queued is dropped; what the closing
//!   lanes already sent is listed by the store, since Bloomreach has no event delete.
//! - A check that fails while enforced falls back ([`fall_back`]); an observed failure or an
//!   inconclusive one holds the stage for a person ([`hold`]), who clears it with
//!   [`acknowledge`]. A held stage does not advance.
//! - A store with no recorded stage behaves as the configured start stage (`[cutover]
//!   start_stage`, default `triggers`: everything flows, as before the cutover existed), and the
//!   automatic checks leave it alone until an operator first moves it.

pub mod checks;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

pub use checks::{decide, evaluate, WindowFigures};
pub use checks::{CheckId, CheckMode, CheckOutcome, CheckResult, CheckThresholds, Decision};
pub use checks::{Evaluation, LatencySample};

use crate::model::AuditRecord;
use crate::outbox::{Channel, Lane, LaneSet};

/// The audit action of a preflight run (the preflight branch's `app::preflight::AUDIT_ACTION`):
/// its detail is `{"passed": bool, "digest": "<hex>", "blocking": ["check_id", …]}` and its
/// timestamp is when it ran.
pub const PREFLIGHT_AUDIT_ACTION: &str = "preflight.run";

/// Audit action of an operator's advance.
pub const AUDIT_ADVANCE: &str = "cutover.advance";
/// Audit action of an operator's rollback.
pub const AUDIT_ROLLBACK: &str = "cutover.rollback";
/// Audit action of an enforced check's fall back.
pub const AUDIT_FALL_BACK: &str = "cutover.fall_back";
/// Audit action of a hold (an observed failure or an inconclusive check).
pub const AUDIT_HOLD: &str = "cutover.hold";
/// Audit action of a person clearing a hold.
pub const AUDIT_ACKNOWLEDGE: &str = "cutover.acknowledge";

/// The cutover stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Credentials are set and both services are reached; nothing is sent.
    Connect,
    /// The preflight checks run against real data; nothing is sent.
    Preflight,
    /// The catalog, customer profiles and history flow; no live events.
    ReadOnly,
    /// Live purchases, refunds and carts flow too.
    Ingest,
    /// Trigger events (back in stock, price drop) flow too: Bloomreach scenarios may email.
    Triggers,
}

impl Stage {
    /// Every stage, first to last.
    pub const ALL: [Stage; 5] = [
        Stage::Connect,
        Stage::Preflight,
        Stage::ReadOnly,
        Stage::Ingest,
        Stage::Triggers,
    ];

    /// Its name on the wire and in config (`read_only`, …).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Preflight => "preflight",
            Stage::ReadOnly => "read_only",
            Stage::Ingest => "ingest",
            Stage::Triggers => "triggers",
        }
    }

    /// The stage with this name.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.name() == name)
    }

    /// The outbox lanes it lets deliver.
    pub fn lanes(self) -> LaneSet {
        LaneSet::of(&self.open_lanes())
    }

    /// The outbox lanes it lets deliver, highest priority first.
    pub fn open_lanes(self) -> Vec<Lane> {
        let read_only = [Lane::Customers, Lane::Catalog, Lane::Backfill];
        let ingest = [Lane::Transactions, Lane::Carts];
        let lanes: Vec<Lane> = match self {
            Stage::Connect | Stage::Preflight => Vec::new(),
            Stage::ReadOnly => read_only.to_vec(),
            Stage::Ingest => [&read_only[..], &ingest[..]].concat(),
            Stage::Triggers => [&read_only[..], &ingest[..], &[Lane::Triggers][..]].concat(),
        };
        Lane::ALL
            .into_iter()
            .filter(|lane| lanes.contains(lane))
            .collect()
    }

    /// Its Bloomreach request ceiling, as a percentage of the configured rate.
    pub fn ceiling_percent(self) -> u32 {
        match self {
            Stage::Connect | Stage::Preflight => 0,
            Stage::ReadOnly => 50,
            Stage::Ingest => 80,
            Stage::Triggers => 100,
        }
    }

    /// Its request ceiling for a configured rate (at least 1 where it sends anything).
    pub fn requests_per_second(self, configured: u32) -> u32 {
        let share = u64::from(configured) * u64::from(self.ceiling_percent()) / 100;
        match self.ceiling_percent() {
            0 => 0,
            _ => u32::try_from(share).unwrap_or(u32::MAX).max(1),
        }
    }

    /// The stage after it.
    pub fn next(self) -> Option<Stage> {
        Stage::ALL.get(self as usize + 1).copied()
    }

    /// The stage before it.
    pub fn previous(self) -> Option<Stage> {
        (self as usize).checked_sub(1).map(|i| Stage::ALL[i])
    }

    /// Whether entering it needs a fresh passing preflight (every stage that sends anything).
    pub fn entry_needs_preflight(self) -> bool {
        !self.open_lanes().is_empty()
    }

    /// The checks that watch it while it runs.
    pub fn checks(self) -> &'static [CheckId] {
        match self {
            Stage::Connect | Stage::Preflight => &[],
            Stage::ReadOnly => &[
                CheckId::RateLimited,
                CheckId::DeadLetters,
                CheckId::IdentityConflicts,
            ],
            Stage::Ingest | Stage::Triggers => &[
                CheckId::RateLimited,
                CheckId::DeadLetters,
                CheckId::PurchaseLatency,
                CheckId::IdentityConflicts,
            ],
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A hold: the stage waits for a person (an observed check failed or a check was inconclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageHold {
    /// The check that asked for it.
    pub check: CheckId,
    /// What it saw.
    pub reason: String,
    /// Since when (ms since epoch).
    pub at_ms: i64,
}

/// The cutover's durable state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutoverState {
    /// The current stage.
    pub stage: Stage,
    /// Whether the stage was recorded; an unrecorded one is the configured start stage (and
    /// the automatic checks leave it alone).
    pub recorded: bool,
    /// When the stage was entered (`None` while unrecorded).
    pub entered_at_ms: Option<i64>,
    /// The hold, while one is set.
    pub hold: Option<StageHold>,
    /// Transitions recorded so far (the sequence number of the last).
    pub transitions: u64,
}

impl CutoverState {
    /// The state of a store with nothing recorded.
    pub fn unrecorded(start: Stage) -> Self {
        CutoverState {
            stage: start,
            recorded: false,
            entered_at_ms: None,
            hold: None,
            transitions: 0,
        }
    }
}

/// What kind of transition a history entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// An operator advanced to the next stage.
    Advance,
    /// An operator went back to the previous stage.
    Rollback,
    /// An enforced check failed and the stage fell back.
    FallBack,
    /// A check held the stage for a person.
    Hold,
    /// A person cleared the hold.
    Acknowledge,
}

impl TransitionKind {
    /// Its audit action (`cutover.advance`, …).
    pub fn audit_action(self) -> &'static str {
        match self {
            TransitionKind::Advance => AUDIT_ADVANCE,
            TransitionKind::Rollback => AUDIT_ROLLBACK,
            TransitionKind::FallBack => AUDIT_FALL_BACK,
            TransitionKind::Hold => AUDIT_HOLD,
            TransitionKind::Acknowledge => AUDIT_ACKNOWLEDGE,
        }
    }
}

/// One entry of the cutover history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Its sequence number, from 1.
    pub seq: u64,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// Who (the operator's transport, or `system (cutover checks)`).
    pub actor: String,
    /// What kind.
    pub kind: TransitionKind,
    /// The stage before.
    pub from: Stage,
    /// The stage after (the same for a hold or an acknowledgement).
    pub to: Stage,
    /// The same detail as its audit entry, as JSON text.
    pub detail: String,
}

/// What the queue of one lane holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneQueue {
    /// The lane.
    pub lane: Lane,
    /// Pending commands.
    pub queued: u64,
    /// When the oldest pending one was enqueued (ms since epoch).
    pub oldest_enqueued_at_ms: Option<i64>,
}

/// The newest preflight run, as its audit entry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PreflightSummary {
    /// Whether nothing blocking failed.
    pub passed: bool,
    /// The hex SHA-256 of its report.
    pub digest: String,
    /// The ids of the blocking checks that failed.
    pub blocking: Vec<String>,
    /// When it ran (ms since epoch): the audit entry's time.
    pub ran_at_ms: i64,
}

impl PreflightSummary {
    /// The summary an audit entry records, if it is a readable preflight run.
    pub fn from_audit(record: &AuditRecord) -> Option<Self> {
        #[derive(Deserialize)]
        struct Detail {
            passed: bool,
            digest: String,
            #[serde(default)]
            blocking: Vec<String>,
        }
        if record.action != PREFLIGHT_AUDIT_ACTION {
            return None;
        }
        let detail: Detail = serde_json::from_str(&record.detail).ok()?;
        Some(PreflightSummary {
            passed: detail.passed,
            digest: detail.digest,
            blocking: detail.blocking,
            ran_at_ms: record.at_ms,
        })
    }
}

/// What one transaction read for a cutover decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutoverSnapshot {
    /// The state.
    pub state: CutoverState,
    /// Every lane's queue, in lane order.
    pub lanes: Vec<LaneQueue>,
    /// The newest preflight run.
    pub preflight: Option<PreflightSummary>,
}

/// What a plan estimates against: both APIs' allowances and the batch sizes delivery uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanQuotas {
    /// The configured Bloomreach request rate (`[bloomreach] requests_per_second`).
    pub bloomreach_requests_per_second: u32,
    /// Commands per tracking batch.
    pub tracking_batch: u64,
    /// Items per catalog bulk request.
    pub catalog_batch: u64,
}

impl Default for PlanQuotas {
    fn default() -> Self {
        PlanQuotas {
            bloomreach_requests_per_second: 90,
            tracking_batch: 50,
            catalog_batch: 500,
        }
    }
}

/// What an advance does to a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LaneChange {
    /// Open before and after.
    StaysOpen,
    /// Starts flowing.
    Opens,
    /// Closed before and after (its queue keeps growing).
    StaysClosed,
}

/// The cost of sending a lane's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct QueueCost {
    /// Bloomreach requests (tracking batches or catalog bulk requests).
    pub bloomreach_requests: u64,
    /// Seconds those take at the new stage's request ceiling (rounded up; alone on the line).
    pub bloomreach_secs_at_ceiling: u64,
    /// BigCommerce requests: none, since what is queued was read from BigCommerce already and
    /// delivery reads only the store.
    pub bigcommerce_requests: u64,
}

/// One lane in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LanePlan {
    /// The lane's name.
    pub lane: String,
    /// What the advance does to it.
    pub change: LaneChange,
    /// Pending commands.
    pub queued: u64,
    /// When the oldest pending one was enqueued (ms since epoch).
    pub oldest_enqueued_at_ms: Option<i64>,
    /// How old that is at the time of the plan (not part of the hash).
    pub oldest_age_ms: Option<i64>,
    /// What sending the queue costs (lanes that open).
    pub cost: Option<QueueCost>,
}

/// What advancing from the current stage would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StagePlan {
    /// The current stage.
    pub from: Stage,
    /// The next stage (`None` at the last).
    pub to: Option<Stage>,
    /// The Bloomreach ceiling now, in % of the configured rate.
    pub ceiling_percent_from: u32,
    /// The Bloomreach ceiling after the advance, in %.
    pub ceiling_percent_to: u32,
    /// Requests per second at the new ceiling.
    pub bloomreach_requests_per_second_to: u32,
    /// Every lane.
    pub lanes: Vec<LanePlan>,
    /// Commands that would start flowing (the queues of the lanes that open).
    pub starts_flowing: u64,
    /// Cost of those, summed.
    pub cost: QueueCost,
    /// Whether the advance needs a fresh passing preflight.
    pub needs_preflight: bool,
    /// The newest preflight run.
    pub preflight: Option<PreflightSummary>,
    /// The plan's hash ([`plan_hash`]); advance takes it.
    pub plan_hash: String,
}

/// The plan for advancing from the snapshot's stage at `now_ms`.
pub fn plan(snapshot: &CutoverSnapshot, quotas: PlanQuotas, now_ms: i64) -> StagePlan {
    let from = snapshot.state.stage;
    let to = from.next();
    let (open_before, open_after) = (from.lanes(), to.map_or(from.lanes(), Stage::lanes));
    let to_stage = to.unwrap_or(from);
    let rate = to_stage.requests_per_second(quotas.bloomreach_requests_per_second);
    let mut total = QueueCost {
        bloomreach_requests: 0,
        bloomreach_secs_at_ceiling: 0,
        bigcommerce_requests: 0,
    };
    let mut starts_flowing = 0;
    let lanes = snapshot
        .lanes
        .iter()
        .map(|queue| {
            let change = match (
                open_before.contains(queue.lane),
                open_after.contains(queue.lane),
            ) {
                (true, _) => LaneChange::StaysOpen,
                (false, true) => LaneChange::Opens,
                (false, false) => LaneChange::StaysClosed,
            };
            let cost = (change == LaneChange::Opens).then(|| {
                let batch = match queue.lane.channel() {
                    Channel::Tracking => quotas.tracking_batch,
                    Channel::Catalog => quotas.catalog_batch,
                }
                .max(1);
                let requests = queue.queued.div_ceil(batch);
                QueueCost {
                    bloomreach_requests: requests,
                    bloomreach_secs_at_ceiling: requests.div_ceil(u64::from(rate.max(1))),
                    bigcommerce_requests: 0,
                }
            });
            if let Some(cost) = cost {
                starts_flowing += queue.queued;
                total.bloomreach_requests += cost.bloomreach_requests;
            }
            LanePlan {
                lane: queue.lane.name().to_owned(),
                change,
                queued: queue.queued,
                oldest_enqueued_at_ms: queue.oldest_enqueued_at_ms,
                oldest_age_ms: queue.oldest_enqueued_at_ms.map(|at| (now_ms - at).max(0)),
                cost,
            }
        })
        .collect();
    total.bloomreach_secs_at_ceiling = total.bloomreach_requests.div_ceil(u64::from(rate.max(1)));
    let mut plan = StagePlan {
        from,
        to,
        ceiling_percent_from: from.ceiling_percent(),
        ceiling_percent_to: to_stage.ceiling_percent(),
        bloomreach_requests_per_second_to: rate,
        lanes,
        starts_flowing,
        cost: total,
        needs_preflight: to.is_some_and(Stage::entry_needs_preflight),
        preflight: snapshot.preflight.clone(),
        plan_hash: String::new(),
    };
    plan.plan_hash = plan_hash(&plan);
    plan
}

/// The SHA-256 (hex) of the plan's canonical form (RFC 8785 JSON) over what the advance
/// changes: the two stages and ceilings, the preflight it relies on, and the queue and cost of
/// every lane that opens. Lanes that stay open or closed and the ages shown are left out, so
/// the hash moves when what would start flowing moves (a new order for a closed lane, a new
/// preflight), not while open lanes deliver or time passes.
pub fn plan_hash(plan: &StagePlan) -> String {
    let opening: Vec<serde_json::Value> = plan
        .lanes
        .iter()
        .filter(|lane| lane.change == LaneChange::Opens)
        .map(|lane| {
            serde_json::json!({
                "lane": lane.lane,
                "queued": lane.queued,
                "oldest_enqueued_at_ms": lane.oldest_enqueued_at_ms,
                "cost": lane.cost,
            })
        })
        .collect();
    let canonical = serde_json::json!({
        "from": plan.from,
        "to": plan.to,
        "ceiling_percent_to": plan.ceiling_percent_to,
        "bloomreach_requests_per_second_to": plan.bloomreach_requests_per_second_to,
        "preflight_digest": plan.preflight.as_ref().map(|p| &p.digest),
        "opening": opening,
    });
    let bytes =
        serde_jcs::to_vec(&canonical).unwrap_or_else(|e| unreachable!("JCS of a JSON value: {e}"));
    hex::encode(Sha256::digest(bytes))
}

/// Why a cutover operation was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Advance at the last stage.
    #[error("already at the last stage ({stage}); nothing to advance to")]
    AtLastStage {
        /// The stage.
        stage: Stage,
    },
    /// Rollback at the first stage.
    #[error("already at the first stage ({stage}); nothing to roll back to")]
    AtFirstStage {
        /// The stage.
        stage: Stage,
    },
    /// No preflight run is recorded.
    #[error("advancing to {to} needs a passing preflight, and none has run; run `bigreach preflight`, then plan again")]
    PreflightMissing {
        /// The stage asked for.
        to: Stage,
    },
    /// The newest preflight is older than the limit.
    #[error("the newest preflight ran {age_secs} s ago, longer than the {max_age_secs} s allowed (`[cutover] preflight_max_age_secs`); run `bigreach preflight` again, then plan again")]
    PreflightStale {
        /// How old it is.
        age_secs: i64,
        /// The limit.
        max_age_secs: u64,
    },
    /// The newest preflight has blocking failures.
    #[error("the newest preflight has blocking failures ({}); fix them, run `bigreach preflight` again, then plan again", blocking.join(", "))]
    PreflightFailed {
        /// The blocking checks that failed.
        blocking: Vec<String>,
    },
    /// The store moved on since the plan was shown.
    #[error("the plan {given} is no longer what advancing would do (now {current}): the store moved on since it was shown; review the new plan (`bigreach stage plan`) and advance with its hash")]
    PlanMoved {
        /// The hash given.
        given: String,
        /// The hash of the plan now.
        current: String,
    },
    /// The stage is held for a person.
    #[error("the stage is held by the {check} check ({reason}); look into it, then acknowledge (`bigreach stage acknowledge`) before advancing")]
    StageHeld {
        /// The check.
        check: CheckId,
        /// What it saw.
        reason: String,
    },
    /// Acknowledge without a hold.
    #[error("the stage is not held; there is nothing to acknowledge")]
    NotHeld,
}

/// A decided change of the cutover state, for the store to write (state, history, audit) in
/// the transaction that read the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What kind.
    pub kind: TransitionKind,
    /// The stage before.
    pub from: Stage,
    /// The stage after.
    pub to: Stage,
    /// The hold after the change.
    pub hold: Option<StageHold>,
    /// Its audit detail (the store adds the lanes that close and what they sent, for a
    /// rollback or a fall back).
    pub detail: serde_json::Value,
}

impl Change {
    /// The lanes this change closes.
    pub fn closing_lanes(&self) -> Vec<Lane> {
        let after = self.to.lanes();
        self.from
            .open_lanes()
            .into_iter()
            .filter(|lane| !after.contains(*lane))
            .collect()
    }
}

fn lane_names(lanes: &[Lane]) -> Vec<&'static str> {
    lanes.iter().map(|lane| lane.name()).collect()
}

/// Advance to the next stage, bound to the reviewed plan's hash, at `now_ms`.
pub fn advance(
    snapshot: &CutoverSnapshot,
    plan_hash_given: &str,
    quotas: PlanQuotas,
    preflight_max_age_secs: u64,
    now_ms: i64,
) -> Result<Change, Refusal> {
    let from = snapshot.state.stage;
    let to = from.next().ok_or(Refusal::AtLastStage { stage: from })?;
    if let Some(hold) = &snapshot.state.hold {
        return Err(Refusal::StageHeld {
            check: hold.check,
            reason: hold.reason.clone(),
        });
    }
    if to.entry_needs_preflight() {
        let preflight = snapshot
            .preflight
            .as_ref()
            .ok_or(Refusal::PreflightMissing { to })?;
        let age_ms = now_ms - preflight.ran_at_ms;
        let max_age_ms =
            i64::try_from(preflight_max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        if age_ms > max_age_ms {
            return Err(Refusal::PreflightStale {
                age_secs: age_ms / 1000,
                max_age_secs: preflight_max_age_secs,
            });
        }
        if !preflight.passed {
            return Err(Refusal::PreflightFailed {
                blocking: preflight.blocking.clone(),
            });
        }
    }
    let current = plan(snapshot, quotas, now_ms);
    if current.plan_hash != plan_hash_given {
        return Err(Refusal::PlanMoved {
            given: plan_hash_given.to_owned(),
            current: current.plan_hash,
        });
    }
    let opening: Vec<&str> = current
        .lanes
        .iter()
        .filter(|lane| lane.change == LaneChange::Opens)
        .map(|lane| lane.lane.as_str())
        .collect();
    Ok(Change {
        kind: TransitionKind::Advance,
        from,
        to,
        hold: None,
        detail: serde_json::json!({
            "from": from,
            "to": to,
            "plan_hash": current.plan_hash,
            "lanes_opened": opening,
            "starts_flowing": current.starts_flowing,
            "ceiling_percent": to.ceiling_percent(),
            "preflight_digest": current.preflight.as_ref().map(|p| &p.digest),
        }),
    })
}

/// Back to the previous stage (a hold is cleared with it: the earlier stage starts afresh).
pub fn rollback(state: &CutoverState) -> Result<Change, Refusal> {
    let from = state.stage;
    let to = from
        .previous()
        .ok_or(Refusal::AtFirstStage { stage: from })?;
    let mut change = Change {
        kind: TransitionKind::Rollback,
        from,
        to,
        hold: None,
        detail: serde_json::Value::Null,
    };
    change.detail = serde_json::json!({
        "from": from,
        "to": to,
        "lanes_closed": lane_names(&change.closing_lanes()),
    });
    Ok(change)
}

/// The fall back an enforced failure asks for: to the previous stage, saying which check
/// tripped, with the value, the threshold and the window. `None` at the first stage.
pub fn fall_back(
    state: &CutoverState,
    check: CheckId,
    value: f64,
    threshold: f64,
    window_secs: u64,
) -> Option<Change> {
    let from = state.stage;
    let to = from.previous()?;
    let mut change = Change {
        kind: TransitionKind::FallBack,
        from,
        to,
        hold: None,
        detail: serde_json::Value::Null,
    };
    change.detail = serde_json::json!({
        "from": from,
        "to": to,
        "check": check,
        "value": value,
        "threshold": threshold,
        "window_secs": window_secs,
        "unit": check.unit(),
        "lanes_closed": lane_names(&change.closing_lanes()),
    });
    Some(change)
}

/// The hold a check asks for; `None` when the stage is held already.
pub fn hold(state: &CutoverState, check: CheckId, reason: &str, now_ms: i64) -> Option<Change> {
    if state.hold.is_some() {
        return None;
    }
    Some(Change {
        kind: TransitionKind::Hold,
        from: state.stage,
        to: state.stage,
        hold: Some(StageHold {
            check,
            reason: reason.to_owned(),
            at_ms: now_ms,
        }),
        detail: serde_json::json!({
            "stage": state.stage,
            "check": check,
            "reason": reason,
        }),
    })
}

/// A person clears the hold.
pub fn acknowledge(state: &CutoverState) -> Result<Change, Refusal> {
    let hold = state.hold.as_ref().ok_or(Refusal::NotHeld)?;
    Ok(Change {
        kind: TransitionKind::Acknowledge,
        from: state.stage,
        to: state.stage,
        hold: None,
        detail: serde_json::json!({
            "stage": state.stage,
            "check": hold.check,
            "reason": hold.reason,
            "held_since_ms": hold.at_ms,
        }),
    })
}
