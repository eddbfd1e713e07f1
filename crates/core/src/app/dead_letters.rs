//! Dead letters: what Bloomreach rejected for good, with the reason; an operator lists, inspects,
//! replays (byte-identical, fresh retry budget) or discards them, and every action is audited.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{AppApi, AppError, Code};
use crate::model::{CommandStatus, OutboxRecord};

/// The delivery state of a command, as screens show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// Waiting for (re)delivery.
    Pending,
    /// Acknowledged by Bloomreach.
    Delivered,
    /// Given up on; an operator can replay it.
    Dead,
    /// A dead letter an operator gave up on.
    Discarded,
    /// Replaced by a newer state of the same catalog item before it was delivered.
    Superseded,
}

impl From<&CommandStatus> for CommandState {
    fn from(status: &CommandStatus) -> Self {
        match status {
            CommandStatus::Pending => CommandState::Pending,
            CommandStatus::Delivered => CommandState::Delivered,
            CommandStatus::Dead => CommandState::Dead,
            CommandStatus::Discarded => CommandState::Discarded,
            CommandStatus::Superseded => CommandState::Superseded,
        }
    }
}

impl CommandState {
    /// A short name for screens.
    pub fn name(self) -> &'static str {
        match self {
            CommandState::Pending => "pending",
            CommandState::Delivered => "delivered",
            CommandState::Dead => "dead",
            CommandState::Discarded => "discarded",
            CommandState::Superseded => "superseded",
        }
    }
}

pub(crate) fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Why a command became a dead letter, in classes an operator acts on differently (and that
/// screens group by). Read from the recorded reason, whose wording the delivery stage owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ReasonClass {
    /// Bloomreach refused this one command inside an accepted batch (a property it rejects, a
    /// wrong type): fix the mapping or the data, then replay.
    RejectedCommand,
    /// Bloomreach refused the whole request with a 4xx that resending will not fix.
    RejectedRequest,
    /// The command failed its whole retry budget.
    RetriesExhausted,
    /// The frozen payload cannot be sent as it is (not JSON, the wrong destination, an id
    /// Bloomreach cannot store): replaying sends the same bytes, so it fails again.
    InvalidPayload,
    /// Anything else; the reason says what.
    Other,
}

impl ReasonClass {
    /// The class of a recorded reason.
    pub fn of(reason: Option<&str>) -> Self {
        let Some(reason) = reason else {
            return ReasonClass::Other;
        };
        if reason.starts_with("rejected by Bloomreach:") {
            ReasonClass::RejectedCommand
        } else if reason.starts_with("Bloomreach rejected the request") {
            ReasonClass::RejectedRequest
        } else if reason.contains("retry budget") {
            ReasonClass::RetriesExhausted
        } else if reason.contains("not valid JSON")
            || reason.contains("not a JSON object")
            || reason.contains("is not a tracking command")
            || reason.contains("is not a catalog item")
            || reason.contains("cannot store")
        {
            ReasonClass::InvalidPayload
        } else {
            ReasonClass::Other
        }
    }

    /// Every class, in the order screens list them.
    pub const ALL: [ReasonClass; 5] = [
        ReasonClass::RejectedCommand,
        ReasonClass::RejectedRequest,
        ReasonClass::RetriesExhausted,
        ReasonClass::InvalidPayload,
        ReasonClass::Other,
    ];

    /// The class as it travels (`rejected_command`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonClass::RejectedCommand => "rejected_command",
            ReasonClass::RejectedRequest => "rejected_request",
            ReasonClass::RetriesExhausted => "retries_exhausted",
            ReasonClass::InvalidPayload => "invalid_payload",
            ReasonClass::Other => "other",
        }
    }
}

/// A dead letter as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct DeadLetter {
    /// Outbox id (also the Bloomreach `command_id`).
    pub id: u64,
    /// Lane name.
    pub lane: String,
    /// `customers`, `customers/events` or `catalog item <id>`.
    pub destination: String,
    /// The fact, e.g. `purchase:5021`.
    pub fact: String,
    /// The person, e.g. `customer:42`.
    pub person: Option<String>,
    /// Why it was given up on.
    pub reason: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// When it was enqueued.
    pub enqueued_at: DateTime<Utc>,
    /// Its state: `dead`, or after an action `pending` (replayed) or `discarded`.
    pub state: CommandState,
    /// The frozen payload, exactly as it is sent (`null` if it is not JSON).
    pub payload: serde_json::Value,
    /// The class of `reason`, for grouping and the runbook.
    pub reason_class: ReasonClass,
}

/// What a bulk replay or discard did, or with `preview`, exactly what it would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct DeadLetterBatch {
    /// Nothing changed: `letters` is what would go out (or be given up).
    pub preview: bool,
    /// The letters, with their frozen payloads, as they are (or would be) after the action.
    pub letters: Vec<DeadLetter>,
    /// How many were replayed or discarded (0 for a preview).
    pub changed: u64,
}

impl From<&OutboxRecord> for DeadLetter {
    fn from(record: &OutboxRecord) -> Self {
        DeadLetter {
            id: record.id,
            lane: record.lane.name().to_owned(),
            destination: record.destination.to_string(),
            fact: record.fact.clone(),
            person: record.customer_key.clone(),
            reason: record.last_error.clone(),
            attempts: record.attempts,
            enqueued_at: utc(record.enqueued_at_ms),
            state: CommandState::from(&record.status),
            payload: serde_json::from_slice(&record.payload).unwrap_or(serde_json::Value::Null),
            reason_class: ReasonClass::of(record.last_error.as_deref()),
        }
    }
}

fn not_dead(id: u64) -> AppError {
    AppError::new(
        Code::NotFound,
        format!("command {id} is not a dead letter; list them with `bigreach dead-letters list`"),
    )
}

impl AppApi {
    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, AppError> {
        Ok(self
            .store
            .dead_letters()?
            .iter()
            .map(DeadLetter::from)
            .collect())
    }

    /// One dead letter.
    pub fn dead_letter(&self, id: u64) -> Result<DeadLetter, AppError> {
        match self.store.command(id)? {
            Some(record) if record.status == CommandStatus::Dead => Ok(DeadLetter::from(&record)),
            _ => Err(not_dead(id)),
        }
    }

    /// Puts a dead letter back in its lane (byte-identical, fresh retry budget), audited.
    pub fn replay_dead_letter(&self, id: u64, actor: &str) -> Result<DeadLetter, AppError> {
        let now = self.clock.now_ms();
        let record = self.store.write(|tx| {
            let record = tx.replay_dead_letter(id, now)?;
            if let Some(record) = &record {
                tx.audit(
                    now,
                    actor,
                    "dead_letter.replayed",
                    &serde_json::json!({"id": id, "fact": record.fact}),
                )?;
            }
            Ok(record)
        })?;
        let letter = record
            .as_ref()
            .map(DeadLetter::from)
            .ok_or_else(|| not_dead(id))?;
        self.outbox_changed();
        Ok(letter)
    }

    /// Gives a dead letter up for good, audited.
    pub fn discard_dead_letter(&self, id: u64, actor: &str) -> Result<DeadLetter, AppError> {
        let now = self.clock.now_ms();
        let record = self.store.write(|tx| {
            let record = tx.discard_dead_letter(id)?;
            if let Some(record) = &record {
                tx.audit(
                    now,
                    actor,
                    "dead_letter.discarded",
                    &serde_json::json!({"id": id, "fact": record.fact}),
                )?;
            }
            Ok(record)
        })?;
        record
            .as_ref()
            .map(DeadLetter::from)
            .ok_or_else(|| not_dead(id))
    }

    /// The dead letters `ids` name, all of them, or a `NotFound` naming those that are not
    /// (nothing changes then).
    fn all_dead(&self, ids: &[u64]) -> Result<Vec<DeadLetter>, AppError> {
        if ids.is_empty() {
            return Err(AppError::new(
                Code::BadRequest,
                "name at least one dead letter (`ids`); list them with `bigreach dead-letters list`",
            ));
        }
        let mut letters = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for &id in ids {
            match self.store.command(id)? {
                Some(record) if record.status == CommandStatus::Dead => {
                    letters.push(DeadLetter::from(&record))
                }
                _ => missing.push(id.to_string()),
            }
        }
        if !missing.is_empty() {
            return Err(AppError::new(
                Code::NotFound,
                format!(
                    "not dead letters: {}; nothing was changed (list them again, another operator may have acted)",
                    missing.join(", ")
                ),
            ));
        }
        Ok(letters)
    }

    /// Puts every dead letter in `ids` back in its lane in one transaction, each audited; with
    /// `preview`, changes nothing and answers exactly what would go out.
    pub fn replay_dead_letters(
        &self,
        ids: &[u64],
        preview: bool,
        actor: &str,
    ) -> Result<DeadLetterBatch, AppError> {
        self.bulk(ids, preview, actor, Bulk::Replay)
    }

    /// Gives every dead letter in `ids` up for good in one transaction, each audited; with
    /// `preview`, changes nothing.
    pub fn discard_dead_letters(
        &self,
        ids: &[u64],
        preview: bool,
        actor: &str,
    ) -> Result<DeadLetterBatch, AppError> {
        self.bulk(ids, preview, actor, Bulk::Discard)
    }

    fn bulk(
        &self,
        ids: &[u64],
        preview: bool,
        actor: &str,
        action: Bulk,
    ) -> Result<DeadLetterBatch, AppError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let letters = self.all_dead(&ids)?;
        if preview {
            return Ok(DeadLetterBatch {
                preview,
                letters,
                changed: 0,
            });
        }
        let now = self.clock.now_ms();
        let records = self.store.write(|tx| {
            let mut records = Vec::with_capacity(ids.len());
            for &id in &ids {
                let record = match action {
                    Bulk::Replay => tx.replay_dead_letter(id, now)?,
                    Bulk::Discard => tx.discard_dead_letter(id)?,
                };
                if let Some(record) = record {
                    tx.audit(
                        now,
                        actor,
                        action.audit_action(),
                        &serde_json::json!({"id": id, "fact": record.fact, "bulk": ids.len()}),
                    )?;
                    records.push(record);
                }
            }
            Ok(records)
        })?;
        if action == Bulk::Replay {
            self.outbox_changed();
        }
        Ok(DeadLetterBatch {
            preview,
            changed: records.len() as u64,
            letters: records.iter().map(DeadLetter::from).collect(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bulk {
    Replay,
    Discard,
}

impl Bulk {
    fn audit_action(self) -> &'static str {
        match self {
            Bulk::Replay => "dead_letter.replayed",
            Bulk::Discard => "dead_letter.discarded",
        }
    }
}
