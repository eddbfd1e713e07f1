//! The application API: what an operator can see and do, in one place. The CLI, the local HTTP
//! API and (later) the desktop shell all call these methods; none of them holds domain logic.
//! Errors reach the UI as a stable code plus a message ([`AppError`]).

use bigreach_clock::SharedClock;
use chrono::{TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::model::{CommandStatus, OutboxRecord};
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
            destination: record.destination.to_string(),
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

/// One command in a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceCommand {
    /// Outbox id.
    pub id: u64,
    /// The fact, e.g. `purchase:5021`.
    pub fact: String,
    /// Lane name.
    pub lane: &'static str,
    /// `customers`, `customers/events` or a catalog item.
    pub destination: String,
    /// `pending`, `delivered`, `dead` or `discarded`.
    pub state: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// When it was enqueued (RFC 3339).
    pub enqueued_at: String,
    /// When Bloomreach acknowledged it (RFC 3339), if it did.
    pub acknowledged_at: Option<String>,
    /// Bloomreach's request id for the acknowledgement.
    pub request_id: Option<String>,
    /// The customer IDs the command carried.
    pub customer_ids: Value,
}

/// Everything BigReach knows about one person: "why did this profile not enter the flow".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// What was asked.
    pub query: String,
    /// The person keys it resolved to (`customer:42`, `email:…`, `phone:…`).
    pub person_keys: Vec<String>,
    /// Identity links followed (`email:… → customer:42`).
    pub links: Vec<(String, String)>,
    /// Every command sent or queued for them, in order.
    pub commands: Vec<TraceCommand>,
    /// Everything withheld, with the reason.
    pub withheld: Vec<crate::store::WithheldRecord>,
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

impl AppApi {
    /// Traces a person by email, phone (E.164, starting with `+`) or BigCommerce customer id.
    pub fn trace(&self, query: &str) -> Result<Trace, AppError> {
        let q = query.trim();
        let first = if q.contains('@') {
            match crate::identity::normalize_email(q) {
                Some(email) => format!("email:{email}"),
                None => format!("raw-email:{}", q.to_lowercase()),
            }
        } else if q.starts_with('+') {
            let phone = crate::identity::normalize_phone(q, None).ok_or_else(|| AppError {
                code: "bad_request",
                message: format!("{q:?} is not a valid phone number; write it in E.164 (+4930…)"),
            })?;
            format!("phone:{phone}")
        } else if !q.is_empty() && q.chars().all(|c| c.is_ascii_digit()) {
            format!("customer:{q}")
        } else {
            return Err(AppError {
                code: "bad_request",
                message: format!(
                    "{q:?} is neither an email, a phone starting with + nor a customer id"
                ),
            });
        };
        let mut keys = vec![first];
        let mut links = Vec::new();
        let mut i = 0;
        while i < keys.len() {
            let key = keys[i].clone();
            if let Some(linked) = self.store.identity(&key)? {
                let linked = if linked.contains(':') {
                    linked
                } else {
                    format!("email:{linked}")
                };
                links.push((key.clone(), linked.clone()));
                if !keys.contains(&linked) {
                    keys.push(linked);
                }
            }
            i += 1;
        }
        let mut commands = Vec::new();
        let mut withheld = Vec::new();
        for key in &keys {
            for record in self.store.commands_for_person(key)? {
                let delivery = self.store.delivery(record.id)?;
                let payload: Value = serde_json::from_slice(&record.payload).unwrap_or(Value::Null);
                commands.push(TraceCommand {
                    id: record.id,
                    fact: record.fact.clone(),
                    lane: record.lane.name(),
                    destination: record.destination.to_string(),
                    state: DeadLetter::from(&record).state,
                    attempts: record.attempts,
                    last_error: record.last_error.clone(),
                    enqueued_at: rfc3339(record.enqueued_at_ms),
                    acknowledged_at: delivery.as_ref().map(|d| rfc3339(d.acked_at_ms)),
                    request_id: delivery.and_then(|d| d.request_id),
                    customer_ids: payload.get("customer_ids").cloned().unwrap_or(Value::Null),
                });
            }
            withheld.extend(self.store.withheld_for(key)?);
        }
        commands.sort_by_key(|c| c.id);
        Ok(Trace {
            query: q.to_owned(),
            person_keys: keys,
            links,
            commands,
            withheld,
        })
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
    use crate::model::{AttemptOutcome, Destination, Lane, NewCommand};
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
                                destination: Destination::Event,
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
