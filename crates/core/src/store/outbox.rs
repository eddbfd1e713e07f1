//! The outbox family: `outbox` (frozen commands, all states), its three pending indexes
//! (`outbox_ready`, `outbox_queue`, `pending_profiles`), `outbox_facts` (a fact is enqueued once
//! per content), `ledger` (what Bloomreach acknowledged), `dead_letters` and `person_commands`.
//!
//! Invariant: the outbox and its indexes change in one transaction. A pending command is in
//! `outbox_ready` and `outbox_queue` (and, when it is a profile command of a person, in
//! `pending_profiles`); a settled one is in none of them.
//!
//! Which due commands make a batch is not decided here: the store gathers candidates
//! ([`Store::due_candidates`]) and the pure lane policy (`crate::outbox::policy`) chooses.

use std::collections::HashSet;

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::schema::{
    DEAD_LETTERS, KEY_NEXT_OUTBOX, LEDGER, OUTBOX, OUTBOX_FACTS, OUTBOX_QUEUE, OUTBOX_READY,
    PENDING_PROFILES, PERSON_COMMANDS,
};
use super::{decode, encode, Store, StoreError, StoreTxn};
use crate::outbox::policy::{self, Candidate, Hold, LaneCandidates};
use crate::outbox::{
    AttemptOutcome, Channel, CommandStatus, DeliveryRecord, Destination, Lane, LaneSet, NewCommand,
    OutboxRecord,
};

fn is_event(record: &OutboxRecord) -> bool {
    record.destination == Destination::Event
}

fn is_profile(record: &OutboxRecord) -> bool {
    record.destination == Destination::CustomerUpdate
}

/// Which fact an outbox command states, with the content it stated (`outbox_facts` value).
#[derive(Serialize, Deserialize)]
pub(super) struct FactRow {
    pub(super) id: u64,
    pub(super) content_hash: String,
}

impl Store {
    /// The next batch for `channel` under the lane policy ([`policy::select_batch`]): due at
    /// `now_ms`, only lanes in `allowed`, skipping ids in `exclude` (in flight).
    pub fn claim_batch(
        &self,
        now_ms: i64,
        max: usize,
        channel: Channel,
        allowed: LaneSet,
        exclude: &HashSet<u64>,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let lanes = self.due_candidates(now_ms, max, &allowed.lanes_of(channel), exclude)?;
        Ok(policy::select_batch(channel, allowed, lanes, max))
    }

    /// The next batch with every lane allowed: tracking commands, or with `catalog` catalog
    /// items ([`Store::claim_batch`]).
    pub fn due_commands(
        &self,
        now_ms: i64,
        max: usize,
        catalog: bool,
        exclude: &HashSet<u64>,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let channel = if catalog {
            Channel::Catalog
        } else {
            Channel::Tracking
        };
        self.claim_batch(now_ms, max, channel, LaneSet::ALL, exclude)
    }

    /// Gathers what the lane policy chooses from: for each of `lanes`, the commands due at
    /// `now_ms` in due-time order, skipping `exclude`, until `max` of them are free to go or
    /// `20 × max` index rows were scanned (a bounded scan). Each event of a person with an
    /// earlier undelivered profile command comes with that hold, and with the profile command
    /// when it is due and not in flight.
    pub fn due_candidates(
        &self,
        now_ms: i64,
        max: usize,
        lanes: &[Lane],
        exclude: &HashSet<u64>,
    ) -> Result<Vec<LaneCandidates>, StoreError> {
        let txn = self.db.begin_read()?;
        let ready = txn.open_table(OUTBOX_READY)?;
        let outbox = txn.open_table(OUTBOX)?;
        let profiles = txn.open_multimap_table(PENDING_PROFILES)?;
        // A catalog item with a state in flight waits for that request's answer, so that an
        // older state can never land after a newer one.
        let mut items_in_flight = HashSet::new();
        if lanes.contains(&Lane::Catalog) {
            for id in exclude {
                if let Some(value) = outbox.get(*id)? {
                    let record: OutboxRecord = decode("outbox record", value.value())?;
                    if let Destination::CatalogItem { item_id } = record.destination {
                        items_in_flight.insert(item_id);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(lanes.len());
        for &lane in lanes {
            let mut candidates = Vec::new();
            let mut free = 0;
            let mut scanned = 0;
            let range = (lane.index(), i64::MIN, 0)..=(lane.index(), now_ms, u64::MAX);
            for row in ready.range(range)? {
                let (key, _) = row?;
                let (_, _, id) = key.value();
                scanned += 1;
                if scanned > max * 20 || free >= max {
                    break;
                }
                if exclude.contains(&id) {
                    continue;
                }
                let Some(value) = outbox.get(id)? else {
                    continue;
                };
                let record: OutboxRecord = decode("outbox record", value.value())?;
                if let Destination::CatalogItem { item_id } = &record.destination {
                    if items_in_flight.contains(item_id) {
                        continue;
                    }
                }
                let mut held_by = None;
                if is_event(&record) {
                    if let Some(person) = &record.customer_key {
                        let mut earlier = profiles.get(person.as_str())?;
                        let blocking = match earlier.next() {
                            Some(first) => Some(first?.value()).filter(|p| *p < id),
                            None => None,
                        };
                        if let Some(profile_id) = blocking {
                            let mut due_profile = None;
                            if !exclude.contains(&profile_id) {
                                if let Some(value) = outbox.get(profile_id)? {
                                    let profile: OutboxRecord =
                                        decode("outbox record", value.value())?;
                                    if profile.next_attempt_ms <= now_ms
                                        && profile.status == CommandStatus::Pending
                                    {
                                        due_profile = Some(profile);
                                    }
                                }
                            }
                            held_by = Some(Hold {
                                profile_id,
                                due_profile,
                            });
                        }
                    }
                }
                if held_by.is_none() {
                    free += 1;
                }
                candidates.push(Candidate { record, held_by });
            }
            out.push(LaneCandidates { lane, candidates });
        }
        Ok(out)
    }

    /// Earliest next attempt among pending commands (for the deliverer to sleep until).
    pub fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        let txn = self.db.begin_read()?;
        let ready = txn.open_table(OUTBOX_READY)?;
        let mut min: Option<i64> = None;
        for lane in Lane::ALL {
            let range = (lane.index(), i64::MIN, 0)..=(lane.index(), i64::MAX, u64::MAX);
            if let Some(row) = ready.range(range)?.next() {
                let (key, _) = row?;
                let next = key.value().1;
                min = Some(min.map_or(next, |m: i64| m.min(next)));
            }
        }
        Ok(min)
    }

    /// Records the outcome of one delivery attempt for many commands, in one transaction.
    pub fn record_attempts(
        &self,
        outcomes: &[(u64, AttemptOutcome)],
        now_ms: i64,
        retry_budget: u32,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            for (id, outcome) in outcomes {
                tx.record_attempt(*id, outcome, now_ms, retry_budget)?;
            }
            Ok(())
        })
    }

    /// One command by id.
    pub fn command(&self, id: u64) -> Result<Option<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let outbox = txn.open_table(OUTBOX)?;
        outbox
            .get(id)?
            .map(|v| decode("outbox record", v.value()))
            .transpose()
    }

    /// What Bloomreach acknowledged for a command.
    pub fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let ledger = txn.open_table(LEDGER)?;
        ledger
            .get(id)?
            .map(|v| decode("delivery record", v.value()))
            .transpose()
    }

    /// Every delivered command with its acknowledgement (for latency figures and reconciliation).
    pub fn deliveries(&self) -> Result<Vec<(OutboxRecord, DeliveryRecord)>, StoreError> {
        let txn = self.db.begin_read()?;
        let ledger = txn.open_table(LEDGER)?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in ledger.iter()? {
            let (id, v) = row?;
            let record: DeliveryRecord = decode("delivery record", v.value())?;
            if let Some(cmd) = outbox.get(id.value())? {
                out.push((decode("outbox record", cmd.value())?, record));
            }
        }
        Ok(out)
    }

    /// Dead-lettered commands.
    pub fn dead_letters(&self) -> Result<Vec<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let dead = txn.open_table(DEAD_LETTERS)?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in dead.iter()? {
            let (id, _) = row?;
            if let Some(v) = outbox.get(id.value())? {
                out.push(decode("outbox record", v.value())?);
            }
        }
        Ok(out)
    }

    /// The latest command enqueued for a fact (`purchase:5021`), if any.
    pub fn fact_command(&self, fact: &str) -> Result<Option<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let facts = txn.open_table(OUTBOX_FACTS)?;
        let Some(row) = facts.get(fact)? else {
            return Ok(None);
        };
        let row: FactRow = decode("fact row", row.value())?;
        let outbox = txn.open_table(OUTBOX)?;
        outbox
            .get(row.id)?
            .map(|v| decode("outbox record", v.value()))
            .transpose()
    }

    /// Commands enqueued for a person key, in order.
    pub fn commands_for_person(&self, person: &str) -> Result<Vec<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_multimap_table(PERSON_COMMANDS)?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for id in index.get(person)? {
            if let Some(v) = outbox.get(id?.value())? {
                out.push(decode("outbox record", v.value())?);
            }
        }
        Ok(out)
    }
}

impl StoreTxn<'_> {
    /// The latest command enqueued for a fact, read inside this transaction (the catalog delta
    /// needs the payload and status of an item's last command).
    pub fn fact_record(&self, fact: &str) -> Result<Option<OutboxRecord>, StoreError> {
        let row = {
            let facts = self.txn.open_table(OUTBOX_FACTS)?;
            let value = facts.get(fact)?;
            value
                .map(|row| decode::<FactRow>("fact row", row.value()))
                .transpose()?
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let outbox = self.txn.open_table(OUTBOX)?;
        let value = outbox.get(row.id)?;
        value
            .map(|v| decode("outbox record", v.value()))
            .transpose()
    }

    /// Enqueues a command unless the same fact with the same content was enqueued before.
    /// Returns the new outbox id, or `None` when it was a repeat.
    pub fn enqueue(
        &mut self,
        command: &NewCommand,
        now_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        self.enqueue_due(command, now_ms, now_ms)
    }

    /// [`StoreTxn::enqueue`], first due at `due_ms` (a debounced catalog write or trigger).
    /// A newer command for the fact of a catalog item, or of a trigger event (the triggers
    /// lane), supersedes the older one when that is still pending or dead.
    pub fn enqueue_due(
        &mut self,
        command: &NewCommand,
        now_ms: i64,
        due_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let previous = {
            let facts = self.txn.open_table(OUTBOX_FACTS)?;
            let existing = facts
                .get(command.fact.as_str())?
                .map(|row| decode::<FactRow>("fact row", row.value()))
                .transpose()?;
            if existing
                .as_ref()
                .is_some_and(|row| row.content_hash == command.content_hash)
            {
                return Ok(None);
            }
            existing.map(|row| row.id)
        };
        let id = self.next_counter(KEY_NEXT_OUTBOX)?;
        let newest_wins = matches!(command.destination, Destination::CatalogItem { .. })
            || command.lane == Lane::Triggers;
        if let (Some(previous), true) = (previous, newest_wins) {
            self.supersede(previous, id, &command.destination)?;
        }
        let record = OutboxRecord {
            id,
            lane: command.lane,
            destination: command.destination.clone(),
            fact: command.fact.clone(),
            customer_key: command.customer_key.clone(),
            payload: command.payload.clone(),
            event_time_ms: command.event_time_ms,
            enqueued_at_ms: now_ms,
            attempts: 0,
            next_attempt_ms: due_ms,
            status: CommandStatus::Pending,
            last_error: None,
        };
        let bytes = encode("outbox record", &record)?;
        self.txn.open_table(OUTBOX)?.insert(id, bytes.as_slice())?;
        self.index_pending(&record)?;
        let fact = encode(
            "fact row",
            &FactRow {
                id,
                content_hash: command.content_hash.clone(),
            },
        )?;
        self.txn
            .open_table(OUTBOX_FACTS)?
            .insert(command.fact.as_str(), fact.as_slice())?;
        if let Some(person) = &command.customer_key {
            self.txn
                .open_multimap_table(PERSON_COMMANDS)?
                .insert(person.as_str(), id)?;
        }
        Ok(Some(id))
    }

    /// Records one attempt's outcome for one command.
    pub fn record_attempt(
        &mut self,
        id: u64,
        outcome: &AttemptOutcome,
        now_ms: i64,
        retry_budget: u32,
    ) -> Result<(), StoreError> {
        let outbox = self.txn.open_table(OUTBOX)?;
        let Some(mut record) = outbox
            .get(id)?
            .map(|v| decode::<OutboxRecord>("outbox record", v.value()))
            .transpose()?
        else {
            return Ok(());
        };
        if record.status != CommandStatus::Pending {
            // Already settled (e.g. a late duplicate answer): never count twice.
            return Ok(());
        }
        drop(outbox);
        self.unindex_pending(&record)?;
        record.attempts += 1;
        match outcome {
            AttemptOutcome::Delivered { request_id } => {
                record.status = CommandStatus::Delivered;
                record.last_error = None;
                let delivery = encode(
                    "delivery record",
                    &DeliveryRecord {
                        acked_at_ms: now_ms,
                        request_id: request_id.clone(),
                        attempts: record.attempts,
                    },
                )?;
                self.txn
                    .open_table(LEDGER)?
                    .insert(id, delivery.as_slice())?;
            }
            AttemptOutcome::Retry {
                error,
                next_attempt_ms,
                counts,
            } => {
                if !counts {
                    // 429 and 5xx do not use up the retry budget.
                    record.attempts -= 1;
                }
                record.last_error = Some(error.clone());
                if record.attempts >= retry_budget {
                    record.status = CommandStatus::Dead;
                    record.last_error = Some(format!(
                        "retry budget of {retry_budget} used up; last error: {error}"
                    ));
                    self.txn.open_table(DEAD_LETTERS)?.insert(id, ())?;
                } else {
                    record.next_attempt_ms = *next_attempt_ms;
                    self.index_pending(&record)?;
                }
            }
            AttemptOutcome::Dead { reason } => {
                record.status = CommandStatus::Dead;
                record.last_error = Some(reason.clone());
                self.txn.open_table(DEAD_LETTERS)?.insert(id, ())?;
            }
        }
        let mut outbox = self.txn.open_table(OUTBOX)?;
        let bytes = encode("outbox record", &record)?;
        outbox.insert(id, bytes.as_slice())?;
        Ok(())
    }

    /// Takes an older state of a catalog item out of the outbox when a newer one (`by`) is
    /// enqueued: pending (perhaps backing off) or dead, it is marked superseded and never sent
    /// or replayed. A delivered one stays as it is.
    fn supersede(
        &mut self,
        old_id: u64,
        by: u64,
        destination: &Destination,
    ) -> Result<(), StoreError> {
        let Some(mut record) = ({
            let outbox = self.txn.open_table(OUTBOX)?;
            let value = outbox.get(old_id)?;
            value
                .map(|v| decode::<OutboxRecord>("outbox record", v.value()))
                .transpose()?
        }) else {
            return Ok(());
        };
        if record.destination != *destination {
            return Ok(());
        }
        match record.status {
            CommandStatus::Pending => self.unindex_pending(&record)?,
            CommandStatus::Dead => {
                self.txn.open_table(DEAD_LETTERS)?.remove(old_id)?;
            }
            CommandStatus::Delivered | CommandStatus::Discarded | CommandStatus::Superseded => {
                return Ok(())
            }
        }
        record.status = CommandStatus::Superseded;
        record.last_error = Some(format!(
            "superseded by command {by}: a newer state of {destination} was enqueued{}",
            record
                .last_error
                .as_deref()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        ));
        let bytes = encode("outbox record", &record)?;
        self.txn
            .open_table(OUTBOX)?
            .insert(old_id, bytes.as_slice())?;
        Ok(())
    }

    /// Withdraws the latest command of a trigger event's fact (triggers lane) when it is still
    /// pending or dead: the change that called for it was undone within its debounce window.
    /// It is marked superseded with `reason` and the fact is forgotten, so the same event can be
    /// enqueued again. Returns whether a command was withdrawn.
    pub fn withdraw_trigger(&mut self, fact: &str, reason: &str) -> Result<bool, StoreError> {
        let Some(mut record) = self.fact_record(fact)? else {
            return Ok(false);
        };
        if record.lane != Lane::Triggers {
            return Ok(false);
        }
        match record.status {
            CommandStatus::Pending => self.unindex_pending(&record)?,
            CommandStatus::Dead => {
                self.txn.open_table(DEAD_LETTERS)?.remove(record.id)?;
            }
            CommandStatus::Delivered | CommandStatus::Discarded | CommandStatus::Superseded => {
                return Ok(false)
            }
        }
        record.status = CommandStatus::Superseded;
        record.last_error = Some(format!("withdrawn: {reason}"));
        let bytes = encode("outbox record", &record)?;
        self.txn
            .open_table(OUTBOX)?
            .insert(record.id, bytes.as_slice())?;
        self.txn.open_table(OUTBOX_FACTS)?.remove(fact)?;
        Ok(true)
    }

    /// Adds a pending command to the indexes.
    pub(super) fn index_pending(&mut self, record: &OutboxRecord) -> Result<(), StoreError> {
        let lane = record.lane.index();
        self.txn
            .open_table(OUTBOX_READY)?
            .insert((lane, record.next_attempt_ms, record.id), ())?;
        self.txn
            .open_table(OUTBOX_QUEUE)?
            .insert((lane, record.id), ())?;
        if is_profile(record) {
            if let Some(person) = &record.customer_key {
                self.txn
                    .open_multimap_table(PENDING_PROFILES)?
                    .insert(person.as_str(), record.id)?;
            }
        }
        Ok(())
    }

    /// Removes a command from the pending indexes (before it is settled or rescheduled).
    fn unindex_pending(&mut self, record: &OutboxRecord) -> Result<(), StoreError> {
        let lane = record.lane.index();
        self.txn
            .open_table(OUTBOX_READY)?
            .remove((lane, record.next_attempt_ms, record.id))?;
        self.txn
            .open_table(OUTBOX_QUEUE)?
            .remove((lane, record.id))?;
        if is_profile(record) {
            if let Some(person) = &record.customer_key {
                self.txn
                    .open_multimap_table(PENDING_PROFILES)?
                    .remove(person.as_str(), record.id)?;
            }
        }
        Ok(())
    }

    /// Puts a dead letter back in its lane, byte-identical, with a fresh retry budget.
    /// Returns the record, or `None` when `id` is not a dead letter.
    pub fn replay_dead_letter(
        &mut self,
        id: u64,
        now_ms: i64,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        let Some(mut record) = self.dead_record(id)? else {
            return Ok(None);
        };
        self.txn.open_table(DEAD_LETTERS)?.remove(id)?;
        record.status = CommandStatus::Pending;
        record.attempts = 0;
        record.next_attempt_ms = now_ms;
        record.last_error = record
            .last_error
            .map(|e| format!("replayed by an operator after: {e}"));
        self.index_pending(&record)?;
        let bytes = encode("outbox record", &record)?;
        self.txn.open_table(OUTBOX)?.insert(id, bytes.as_slice())?;
        Ok(Some(record))
    }

    /// Gives a dead letter up for good (kept in the outbox for traces and the audit).
    pub fn discard_dead_letter(&mut self, id: u64) -> Result<Option<OutboxRecord>, StoreError> {
        let Some(mut record) = self.dead_record(id)? else {
            return Ok(None);
        };
        self.txn.open_table(DEAD_LETTERS)?.remove(id)?;
        record.status = CommandStatus::Discarded;
        let bytes = encode("outbox record", &record)?;
        self.txn.open_table(OUTBOX)?.insert(id, bytes.as_slice())?;
        Ok(Some(record))
    }

    fn dead_record(&self, id: u64) -> Result<Option<OutboxRecord>, StoreError> {
        let dead = self.txn.open_table(DEAD_LETTERS)?;
        if dead.get(id)?.is_none() {
            return Ok(None);
        }
        let outbox = self.txn.open_table(OUTBOX)?;
        let value = outbox.get(id)?;
        value
            .map(|v| decode::<OutboxRecord>("outbox record", v.value()))
            .transpose()
    }
}
