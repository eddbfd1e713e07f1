//! The application API: what an operator can see and do, in one place. The CLI, the local HTTP
//! API and (later) the desktop shell all call these methods; none of them holds domain logic.
//! Errors reach the UI as a stable code plus a message ([`AppError`]).

use bigreach_clock::SharedClock;
use chrono::{TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::model::{CommandStatus, Destination, OutboxRecord};
use crate::store::{Store, StoreError};

/// An error for a UI: a stable machine-readable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// Stable code, e.g. `not_found`, `store_unavailable`.
    pub code: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError {
            code: "store_unavailable",
            message: error.to_string(),
        }
    }
}

/// A dead letter as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Outbox id (also the Bloomreach `command_id`).
    pub id: u64,
    /// Lane name.
    pub lane: &'static str,
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
    /// When it was enqueued (RFC 3339, UTC).
    pub enqueued_at: String,
    /// Its state: `dead`, or after an action `pending` (replayed) or `discarded`.
    pub state: &'static str,
    /// The frozen payload, exactly as it is sent.
    pub payload: Value,
}

impl From<&OutboxRecord> for DeadLetter {
    fn from(record: &OutboxRecord) -> Self {
        DeadLetter {
            id: record.id,
            lane: record.lane.name(),
            destination: match &record.destination {
                Destination::Tracking { name } => name.clone(),
                Destination::CatalogItem { item_id } => format!("catalog item {item_id}"),
            },
            fact: record.fact.clone(),
            person: record.customer_key.clone(),
            reason: record.last_error.clone(),
            attempts: record.attempts,
            enqueued_at: Utc
                .timestamp_millis_opt(record.enqueued_at_ms)
                .single()
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            state: match record.status {
                CommandStatus::Pending => "pending",
                CommandStatus::Delivered => "delivered",
                CommandStatus::Dead => "dead",
                CommandStatus::Discarded => "discarded",
            },
            payload: serde_json::from_slice(&record.payload).unwrap_or(Value::Null),
        }
    }
}

/// The application API over the store.
#[derive(Clone)]
pub struct AppApi {
    store: Store,
    clock: SharedClock,
}

impl AppApi {
    /// An API over `store`, reading time from `clock`.
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

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
        record
            .as_ref()
            .map(DeadLetter::from)
            .ok_or_else(|| not_dead(id))
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

fn not_dead(id: u64) -> AppError {
    AppError {
        code: "not_found",
        message: format!(
            "command {id} is not a dead letter; list them with `bigreach dead-letters list`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttemptOutcome, Lane, NewCommand};
    use bigreach_clock::ManualClock;

    #[test]
    fn replay_and_discard_are_audited_and_refuse_non_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let clock = ManualClock::new(Utc::now());
        let api = AppApi::new(store.clone(), clock);
        let ids: Vec<u64> = store
            .write(|tx| {
                (0..3)
                    .map(|i| {
                        tx.enqueue(
                            &NewCommand {
                                lane: Lane::Transactions,
                                destination: Destination::Tracking {
                                    name: "customers/events".into(),
                                },
                                fact: format!("purchase:{i}"),
                                content_hash: "once".into(),
                                customer_key: None,
                                payload: br#"{"event_type":"purchase"}"#.to_vec(),
                                event_time_ms: 0,
                            },
                            0,
                        )
                        .map(|id| id.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap();
        store
            .record_attempts(
                &[
                    (
                        ids[0],
                        AttemptOutcome::Dead {
                            reason: "bad".into(),
                        },
                    ),
                    (
                        ids[1],
                        AttemptOutcome::Dead {
                            reason: "bad".into(),
                        },
                    ),
                ],
                1,
                3,
            )
            .unwrap();
        assert_eq!(api.dead_letters().unwrap().len(), 2);
        assert_eq!(
            api.dead_letter(ids[0]).unwrap().payload["event_type"],
            "purchase"
        );
        assert_eq!(api.dead_letter(ids[2]).unwrap_err().code, "not_found");
        assert_eq!(
            api.replay_dead_letter(ids[0], "operator").unwrap().state,
            "pending"
        );
        assert_eq!(
            api.discard_dead_letter(ids[1], "operator").unwrap().state,
            "discarded"
        );
        assert_eq!(
            api.replay_dead_letter(ids[1], "operator").unwrap_err().code,
            "not_found"
        );
        let actions: Vec<_> = store
            .audit_log()
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(actions, ["dead_letter.replayed", "dead_letter.discarded"]);
    }
}
