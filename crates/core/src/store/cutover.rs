//! The cutover family: `cutover` (`u64` → MessagePack): key 0 is the [`CutoverState`] (stage,
//! when it was entered, the hold), keys 1… the history of [`Transition`]s in order. The meta
//! counter `identity_conflicts` counts phones refused to a second person (the identity check).
//!
//! Every change is one write transaction that reads the state, the lane queues and the newest
//! preflight run, lets the pure cutover logic (`crate::cutover`) decide, and writes the state,
//! the history entry and its audit entry ([`Store::cutover_change`]): an advance bound to a plan
//! hash cannot race with an enqueue that moves the plan.
//!
//! No row means nothing was recorded: the stage is the configured start stage.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable};

use super::schema::{AUDIT, CUTOVER, LEDGER, META, OUTBOX, OUTBOX_QUEUE, OUTBOX_READY};
use super::{decode, encode, u64_from, Store, StoreError, StoreTxn};
use crate::cutover::{
    Change, CutoverSnapshot, CutoverState, LaneQueue, PreflightSummary, Stage, Transition,
};
use crate::model::{AuditRecord, DeliveryRecord, Lane, OutboxRecord};
use crate::outbox::LaneSet;

/// The meta key of the identity conflict counter.
const KEY_IDENTITY_CONFLICTS: &str = "identity_conflicts";
/// The `cutover` key of the state.
const STATE_KEY: u64 = 0;

/// A change that was written.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedChange {
    /// The history entry.
    pub transition: Transition,
    /// The state after it.
    pub state: CutoverState,
    /// For a change that closes lanes: what each closing lane keeps queued.
    pub kept_queued: BTreeMap<String, u64>,
    /// For a change that closes lanes: what each of them had delivered since the stage was
    /// entered (all time while nothing was recorded).
    pub sent: BTreeMap<String, u64>,
}

fn state_in(
    table: &impl ReadableTable<u64, &'static [u8]>,
    start: Stage,
) -> Result<CutoverState, StoreError> {
    match table.get(STATE_KEY)? {
        Some(value) => decode("cutover state", value.value()),
        None => Ok(CutoverState::unrecorded(start)),
    }
}

fn lanes_in(
    queue: &impl ReadableTable<(u8, u64), ()>,
    outbox: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<Vec<LaneQueue>, StoreError> {
    let mut lanes = Vec::new();
    for lane in Lane::ALL {
        let range = (lane.index(), 0)..=(lane.index(), u64::MAX);
        let mut queued = 0u64;
        let mut oldest = None;
        for row in queue.range(range)? {
            let (key, _) = row?;
            if queued == 0 {
                if let Some(value) = outbox.get(key.value().1)? {
                    let record: OutboxRecord = decode("outbox record", value.value())?;
                    oldest = Some(record.enqueued_at_ms);
                }
            }
            queued += 1;
        }
        lanes.push(LaneQueue {
            lane,
            queued,
            oldest_enqueued_at_ms: oldest,
        });
    }
    Ok(lanes)
}

fn preflight_in(
    audit: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<Option<PreflightSummary>, StoreError> {
    for row in audit.iter()?.rev() {
        let (_, value) = row?;
        let record: AuditRecord = decode("audit record", value.value())?;
        if let Some(summary) = PreflightSummary::from_audit(&record) {
            return Ok(Some(summary));
        }
    }
    Ok(None)
}

/// Per lane in `lanes`: commands Bloomreach acknowledged at or after `since_ms`.
fn sent_in(
    ledger: &impl ReadableTable<u64, &'static [u8]>,
    outbox: &impl ReadableTable<u64, &'static [u8]>,
    lanes: LaneSet,
    since_ms: Option<i64>,
) -> Result<BTreeMap<Lane, u64>, StoreError> {
    let mut sent = BTreeMap::new();
    for row in ledger.iter()? {
        let (id, value) = row?;
        let delivery: DeliveryRecord = decode("delivery record", value.value())?;
        if since_ms.is_some_and(|since| delivery.acked_at_ms < since) {
            continue;
        }
        let Some(command) = outbox.get(id.value())? else {
            continue;
        };
        let record: OutboxRecord = decode("outbox record", command.value())?;
        if lanes.contains(record.lane) {
            *sent.entry(record.lane).or_insert(0) += 1;
        }
    }
    Ok(sent)
}

impl Store {
    /// The cutover state (`start` while nothing is recorded).
    pub fn cutover_state(&self, start: Stage) -> Result<CutoverState, StoreError> {
        let txn = self.db.begin_read()?;
        state_in(&txn.open_table(CUTOVER)?, start)
    }

    /// The last `n` transitions, oldest first.
    pub fn cutover_transitions(&self, n: usize) -> Result<Vec<Transition>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CUTOVER)?;
        let mut out = Vec::new();
        for row in table.range(STATE_KEY + 1..)?.rev().take(n) {
            let (_, value) = row?;
            out.push(decode("cutover transition", value.value())?);
        }
        out.reverse();
        Ok(out)
    }

    /// The state, every lane's queue and the newest preflight run, in one read transaction.
    pub fn cutover_snapshot(&self, start: Stage) -> Result<CutoverSnapshot, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(CutoverSnapshot {
            state: state_in(&txn.open_table(CUTOVER)?, start)?,
            lanes: lanes_in(&txn.open_table(OUTBOX_QUEUE)?, &txn.open_table(OUTBOX)?)?,
            preflight: preflight_in(&txn.open_table(AUDIT)?)?,
        })
    }

    /// The newest preflight run recorded in the audit log.
    pub fn newest_preflight(&self) -> Result<Option<PreflightSummary>, StoreError> {
        let txn = self.db.begin_read()?;
        preflight_in(&txn.open_table(AUDIT)?)
    }

    /// Per lane in `lanes`: commands acknowledged at or after `since_ms` (all with `None`).
    pub fn delivered_since(
        &self,
        lanes: LaneSet,
        since_ms: Option<i64>,
    ) -> Result<BTreeMap<Lane, u64>, StoreError> {
        let txn = self.db.begin_read()?;
        sent_in(
            &txn.open_table(LEDGER)?,
            &txn.open_table(OUTBOX)?,
            lanes,
            since_ms,
        )
    }

    /// The oldest pending command of `lane`, if any.
    pub fn oldest_pending(&self, lane: Lane) -> Result<Option<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let queue = txn.open_table(OUTBOX_QUEUE)?;
        let Some(row) = queue
            .range((lane.index(), 0)..=(lane.index(), u64::MAX))?
            .next()
        else {
            return Ok(None);
        };
        let (key, _) = row?;
        let outbox = txn.open_table(OUTBOX)?;
        outbox
            .get(key.value().1)?
            .map(|value| decode("outbox record", value.value()))
            .transpose()
    }

    /// The earliest due time of a pending command in one of `lanes`.
    pub fn next_due_ms_in(&self, lanes: LaneSet) -> Result<Option<i64>, StoreError> {
        let txn = self.db.begin_read()?;
        let ready = txn.open_table(OUTBOX_READY)?;
        let mut min: Option<i64> = None;
        for lane in Lane::ALL.into_iter().filter(|lane| lanes.contains(*lane)) {
            let range = (lane.index(), i64::MIN, 0)..=(lane.index(), i64::MAX, u64::MAX);
            if let Some(row) = ready.range(range)?.next() {
                let next = row?.0.value().1;
                min = Some(min.map_or(next, |m| m.min(next)));
            }
        }
        Ok(min)
    }

    /// Phones refused to a second person so far.
    pub fn identity_conflicts(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta
            .get(KEY_IDENTITY_CONFLICTS)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(0))
    }

    /// Reads the snapshot, lets `decide` choose a change, and writes it (state, history entry,
    /// audit entry by `actor` at `now_ms`), all in one write transaction. A refusal (`Err` of
    /// `decide`) writes nothing; so does `Ok(None)` (nothing to do).
    pub fn cutover_change<E>(
        &self,
        start: Stage,
        now_ms: i64,
        actor: &str,
        decide: impl FnOnce(&CutoverSnapshot) -> Result<Option<Change>, E>,
    ) -> Result<Result<Option<AppliedChange>, E>, StoreError> {
        let txn = self.db.begin_write()?;
        let snapshot = {
            CutoverSnapshot {
                state: state_in(&txn.open_table(CUTOVER)?, start)?,
                lanes: lanes_in(&txn.open_table(OUTBOX_QUEUE)?, &txn.open_table(OUTBOX)?)?,
                preflight: preflight_in(&txn.open_table(AUDIT)?)?,
            }
        };
        let change = match decide(&snapshot) {
            Ok(Some(change)) => change,
            Ok(None) => return Ok(Ok(None)),
            Err(refusal) => return Ok(Err(refusal)),
        };
        let closing = change.closing_lanes();
        let (mut kept_queued, mut sent) = (BTreeMap::new(), BTreeMap::new());
        let mut detail = change.detail.clone();
        if !closing.is_empty() {
            let counted = sent_in(
                &txn.open_table(LEDGER)?,
                &txn.open_table(OUTBOX)?,
                LaneSet::of(&closing),
                snapshot.state.entered_at_ms,
            )?;
            for lane in &closing {
                let queued = snapshot
                    .lanes
                    .iter()
                    .find(|q| q.lane == *lane)
                    .map_or(0, |q| q.queued);
                kept_queued.insert(lane.name().to_owned(), queued);
                sent.insert(
                    lane.name().to_owned(),
                    counted.get(lane).copied().unwrap_or(0),
                );
            }
            if let Some(object) = detail.as_object_mut() {
                object.insert("queued_kept".into(), serde_json::json!(kept_queued));
                object.insert("already_sent".into(), serde_json::json!(sent));
                object.insert(
                    "sent_since_ms".into(),
                    serde_json::json!(snapshot.state.entered_at_ms),
                );
            }
        }
        let previous = snapshot.state;
        let state = CutoverState {
            stage: change.to,
            recorded: true,
            entered_at_ms: if change.to != change.from || !previous.recorded {
                Some(now_ms)
            } else {
                previous.entered_at_ms
            },
            hold: change.hold.clone(),
            transitions: previous.transitions + 1,
        };
        let transition = Transition {
            seq: state.transitions,
            at_ms: now_ms,
            actor: actor.to_owned(),
            kind: change.kind,
            from: change.from,
            to: change.to,
            detail: detail.to_string(),
        };
        {
            let mut table = txn.open_table(CUTOVER)?;
            table.insert(STATE_KEY, encode("cutover state", &state)?.as_slice())?;
            table.insert(
                transition.seq,
                encode("cutover transition", &transition)?.as_slice(),
            )?;
        }
        StoreTxn { txn: &txn }.audit(now_ms, actor, change.kind.audit_action(), &detail)?;
        txn.commit()?;
        Ok(Ok(Some(AppliedChange {
            transition,
            state,
            kept_queued,
            sent,
        })))
    }
}

impl StoreTxn<'_> {
    /// Counts one phone refused to a second person (the identity conflicts check).
    pub fn count_identity_conflict(&mut self) -> Result<(), StoreError> {
        let mut meta = self.txn.open_table(META)?;
        let count = meta
            .get(KEY_IDENTITY_CONFLICTS)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(0);
        meta.insert(KEY_IDENTITY_CONFLICTS, (count + 1).to_le_bytes().as_slice())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::cutover::{self, PlanQuotas, Refusal, TransitionKind, PREFLIGHT_AUDIT_ACTION};
    use crate::model::{AttemptOutcome, Destination, NewCommand};

    const T0: i64 = 1_764_547_200_000;

    fn purchase(id: u64) -> NewCommand {
        NewCommand {
            lane: Lane::Transactions,
            destination: Destination::Event,
            fact: format!("purchase:{id}"),
            content_hash: "once".into(),
            customer_key: None,
            payload: b"{}".to_vec(),
            event_time_ms: T0,
        }
    }

    fn preflight(store: &Store, at_ms: i64) {
        store
            .audit(
                at_ms,
                "operator",
                PREFLIGHT_AUDIT_ACTION,
                &serde_json::json!({"passed": true, "digest": "d", "blocking": []}),
            )
            .unwrap();
    }

    fn advance(store: &Store, now: i64) -> Result<Option<AppliedChange>, Refusal> {
        let hash = cutover::plan(
            &store.cutover_snapshot(Stage::Connect).unwrap(),
            PlanQuotas::default(),
            now,
        )
        .plan_hash;
        store
            .cutover_change(Stage::Connect, now, "ops", |s| {
                cutover::advance(s, &hash, PlanQuotas::default(), 900, now).map(Some)
            })
            .unwrap()
    }

    #[test]
    fn the_stage_and_its_history_survive_a_reopen_and_nothing_recorded_is_the_start_stage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(
                store.cutover_state(Stage::Triggers).unwrap(),
                CutoverState::unrecorded(Stage::Triggers)
            );
            assert!(store.cutover_transitions(10).unwrap().is_empty());
            advance(&store, T0).unwrap().unwrap();
            preflight(&store, T0 + 1);
            let applied = advance(&store, T0 + 2).unwrap().unwrap();
            assert_eq!(applied.state.stage, Stage::ReadOnly);
        }
        let store = Store::open(&path).unwrap();
        // Once recorded, the start stage no longer matters.
        let state = store.cutover_state(Stage::Triggers).unwrap();
        assert_eq!(state.stage, Stage::ReadOnly);
        assert!(state.recorded);
        assert_eq!(state.entered_at_ms, Some(T0 + 2));
        assert_eq!(state.transitions, 2);
        let history = store.cutover_transitions(10).unwrap();
        let kinds: Vec<_> = history.iter().map(|t| (t.seq, t.kind, t.to)).collect();
        assert_eq!(
            kinds,
            [
                (1, TransitionKind::Advance, Stage::Preflight),
                (2, TransitionKind::Advance, Stage::ReadOnly)
            ]
        );
        assert_eq!(store.cutover_transitions(1).unwrap()[0].seq, 2);
        let audit: Vec<_> = store
            .audit_log()
            .unwrap()
            .into_iter()
            .filter(|r| r.action.starts_with("cutover."))
            .map(|r| (r.actor, r.action))
            .collect();
        assert_eq!(audit.len(), 2);
        assert!(audit
            .iter()
            .all(|(actor, action)| actor == "ops" && action == "cutover.advance"));
    }

    #[test]
    fn a_refused_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        advance(&store, T0).unwrap().unwrap();
        let audit_before = store.audit_log().unwrap().len();
        assert!(matches!(
            advance(&store, T0 + 1),
            Err(Refusal::PreflightMissing { .. })
        ));
        assert_eq!(store.audit_log().unwrap().len(), audit_before);
        assert_eq!(store.cutover_state(Stage::Connect).unwrap().transitions, 1);
    }

    #[test]
    fn an_enqueue_during_an_advance_waits_for_it_so_the_checked_plan_is_the_written_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        advance(&store, T0).unwrap().unwrap();
        preflight(&store, T0);
        advance(&store, T0).unwrap().unwrap();
        store
            .write(|tx| tx.enqueue(&purchase(1), T0).map(|_| ()))
            .unwrap();
        let snapshot = store.cutover_snapshot(Stage::Connect).unwrap();
        let reviewed = cutover::plan(&snapshot, PlanQuotas::default(), T0).plan_hash;
        let committed = Arc::new(AtomicBool::new(false));
        let mut writer = None;
        let applied = store
            .cutover_change(Stage::Connect, T0, "ops", |s| {
                // A new order arrives while the advance decides: its enqueue cannot commit
                // until the advance has.
                let (other, done) = (store.clone(), committed.clone());
                writer = Some(std::thread::spawn(move || {
                    other
                        .write(|tx| tx.enqueue(&purchase(2), T0).map(|_| ()))
                        .unwrap();
                    done.store(true, Ordering::SeqCst);
                }));
                let change = cutover::advance(s, &reviewed, PlanQuotas::default(), 900, T0);
                assert!(!committed.load(Ordering::SeqCst));
                change.map(Some)
            })
            .unwrap()
            .unwrap()
            .unwrap();
        writer.unwrap().join().unwrap();
        assert!(committed.load(Ordering::SeqCst));
        assert_eq!(applied.state.stage, Stage::Ingest);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&applied.transition.detail).unwrap()
                ["starts_flowing"],
            1
        );
        // The purchase landed after: it is queued in the lane just opened.
        let snapshot = store.cutover_snapshot(Stage::Connect).unwrap();
        assert_eq!(
            snapshot.lanes[Lane::Transactions.index() as usize].queued,
            2
        );
    }

    #[test]
    fn a_rollback_counts_what_the_closing_lanes_sent_since_the_stage_began() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        // Sent before the stage began: not counted.
        let early = store
            .write(|tx| tx.enqueue(&purchase(1), T0))
            .unwrap()
            .unwrap();
        store
            .record_attempts(
                &[(early, AttemptOutcome::Delivered { request_id: None })],
                T0,
                8,
            )
            .unwrap();
        advance(&store, T0 + 10).unwrap().unwrap();
        preflight(&store, T0 + 10);
        advance(&store, T0 + 10).unwrap().unwrap();
        advance(&store, T0 + 20).unwrap().unwrap();
        let ids: Vec<u64> = (2..=4)
            .map(|i| {
                store
                    .write(|tx| tx.enqueue(&purchase(i), T0 + 30))
                    .unwrap()
                    .unwrap()
            })
            .collect();
        store
            .record_attempts(
                &[
                    (ids[0], AttemptOutcome::Delivered { request_id: None }),
                    (ids[1], AttemptOutcome::Delivered { request_id: None }),
                ],
                T0 + 40,
                8,
            )
            .unwrap();
        let applied = store
            .cutover_change(Stage::Connect, T0 + 50, "ops", |s| {
                cutover::rollback(&s.state).map(Some)
            })
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(applied.state.stage, Stage::ReadOnly);
        assert_eq!(applied.sent.get("transactions"), Some(&2));
        assert_eq!(applied.sent.get("carts"), Some(&0));
        assert_eq!(applied.kept_queued.get("transactions"), Some(&1));
        let audit = store.audit_log().unwrap();
        let detail: serde_json::Value =
            serde_json::from_str(&audit.last().unwrap().detail).unwrap();
        assert_eq!(audit.last().unwrap().action, "cutover.rollback");
        assert_eq!(detail["already_sent"]["transactions"], 2);
        assert_eq!(detail["queued_kept"]["transactions"], 1);
        // All time, for an install that never recorded a stage.
        assert_eq!(
            store
                .delivered_since(LaneSet::of(&[Lane::Transactions]), None)
                .unwrap()
                .get(&Lane::Transactions),
            Some(&3)
        );
    }

    #[test]
    fn identity_conflicts_count_and_due_times_are_per_lane() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        assert_eq!(store.identity_conflicts().unwrap(), 0);
        store
            .write(|tx| {
                tx.count_identity_conflict()?;
                tx.count_identity_conflict()
            })
            .unwrap();
        assert_eq!(store.identity_conflicts().unwrap(), 2);
        store
            .write(|tx| tx.enqueue(&purchase(1), T0).map(|_| ()))
            .unwrap();
        assert_eq!(store.next_due_ms_in(Stage::ReadOnly.lanes()).unwrap(), None);
        assert_eq!(
            store.next_due_ms_in(Stage::Ingest.lanes()).unwrap(),
            Some(T0)
        );
        assert_eq!(
            store
                .oldest_pending(Lane::Transactions)
                .unwrap()
                .unwrap()
                .fact,
            "purchase:1"
        );
    }
}
