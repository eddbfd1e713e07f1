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
}
