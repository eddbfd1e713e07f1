//! Trace: everything BigReach knows about one person, to answer "why did this profile not enter
//! the flow": the identity links followed, every command queued or sent for them with its
//! delivery state, everything withheld with the reason, and what of theirs is set aside (plus how
//! many set-aside fetches could be anyone's).

use std::collections::BTreeMap;
use ts_rs::TS;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dead_letters::{utc, CommandState};
use super::{AppApi, AppError, Code, SetAside};

/// One identity link followed (`email:… → customer:42`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct IdentityLink {
    /// The key asked about.
    pub from: String,
    /// The key it belongs to.
    pub to: String,
}

/// One command in a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TraceCommand {
    /// Outbox id.
    pub id: u64,
    /// The fact, e.g. `purchase:5021`.
    pub fact: String,
    /// Lane name.
    pub lane: String,
    /// `customers`, `customers/events` or a catalog item.
    pub destination: String,
    /// Its delivery state.
    pub state: CommandState,
    /// Attempts made.
    pub attempts: u32,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub enqueued_at: DateTime<Utc>,
    /// When Bloomreach acknowledged it, if it did.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Bloomreach's request id for the acknowledgement.
    pub request_id: Option<String>,
    /// The customer IDs the command carried (ID name → value).
    pub customer_ids: BTreeMap<String, String>,
}

/// Something not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TraceWithheld {
    /// What, e.g. `order:5021`.
    pub subject: String,
    /// Why, e.g. `not paid (status 7 "Awaiting Payment")`.
    pub reason: String,
    /// The person it belongs to, when one could be told.
    pub person: Option<String>,
    /// When it was decided.
    pub at: DateTime<Utc>,
}

/// Everything BigReach knows about one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Trace {
    /// What was asked.
    pub query: String,
    /// The person keys it resolved to (`customer:42`, `email:…`, `phone:…`).
    pub person_keys: Vec<String>,
    /// Identity links followed.
    pub links: Vec<IdentityLink>,
    /// Every command sent or queued for them, in order.
    pub commands: Vec<TraceCommand>,
    /// Everything withheld, with the reason.
    pub withheld: Vec<TraceWithheld>,
    /// Fetches of theirs set aside because they failed for good (their customer record), with
    /// the reason: until an operator replays them, nothing of it reaches Bloomreach.
    pub set_aside: Vec<SetAside>,
    /// Other set-aside fetches whose person cannot be told before they are fetched (orders,
    /// carts, unreadable inbox entries): any of them may be this person's.
    pub set_aside_unattributed: u64,
}

/// The first person key for a query: an email, a phone in E.164 or a customer id.
fn first_key(query: &str) -> Result<String, AppError> {
    if query.contains('@') {
        return Ok(match crate::identity::normalize_email(query) {
            Some(email) => format!("email:{email}"),
            None => format!("raw-email:{}", query.to_lowercase()),
        });
    }
    if query.starts_with('+') {
        let phone = crate::identity::normalize_phone(query, None).ok_or_else(|| {
            AppError::new(
                Code::BadRequest,
                format!("{query:?} is not a valid phone number; write it in E.164 (+4930…)"),
            )
        })?;
        return Ok(format!("phone:{phone}"));
    }
    if !query.is_empty() && query.chars().all(|c| c.is_ascii_digit()) {
        return Ok(format!("customer:{query}"));
    }
    Err(AppError::new(
        Code::BadRequest,
        format!("{query:?} is neither an email, a phone starting with + nor a customer id"),
    ))
}

fn customer_ids(payload: &[u8]) -> BTreeMap<String, String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return BTreeMap::new();
    };
    let Some(ids) = value.get("customer_ids").and_then(|ids| ids.as_object()) else {
        return BTreeMap::new();
    };
    ids.iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), value)
        })
        .collect()
}

impl AppApi {
    /// Traces a person by email, phone (E.164, starting with `+`) or BigCommerce customer id.
    pub fn trace(&self, query: &str) -> Result<Trace, AppError> {
        let query = query.trim();
        let mut keys = vec![first_key(query)?];
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
                links.push(IdentityLink {
                    from: key.clone(),
                    to: linked.clone(),
                });
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
                commands.push(TraceCommand {
                    id: record.id,
                    fact: record.fact.clone(),
                    lane: record.lane.name().to_owned(),
                    destination: record.destination.to_string(),
                    state: CommandState::from(&record.status),
                    attempts: record.attempts,
                    last_error: record.last_error.clone(),
                    enqueued_at: utc(record.enqueued_at_ms),
                    acknowledged_at: delivery.as_ref().map(|d| utc(d.acked_at_ms)),
                    request_id: delivery.and_then(|d| d.request_id),
                    customer_ids: customer_ids(&record.payload),
                });
            }
            withheld.extend(self.store.withheld_for(key)?.into_iter().map(|record| {
                TraceWithheld {
                    subject: record.subject,
                    reason: record.reason,
                    person: record.person,
                    at: utc(record.at_ms),
                }
            }));
        }
        commands.sort_by_key(|c| c.id);
        let (set_aside, unattributed): (Vec<_>, Vec<_>) = self
            .set_aside_fetches()?
            .into_iter()
            .partition(|s| s.key.starts_with("customer:") && keys.contains(&s.key));
        let set_aside_unattributed = unattributed
            .iter()
            .filter(|s| !s.key.starts_with("customer:") && !s.key.starts_with("product:"))
            .count() as u64;
        Ok(Trace {
            query: query.to_owned(),
            person_keys: keys,
            links,
            commands,
            withheld,
            set_aside,
            set_aside_unattributed,
        })
    }
}
