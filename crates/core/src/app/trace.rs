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

/// The plain answer to "why did this person not enter the flow", from BigReach's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Everything BigReach holds for them reached Bloomreach: the flow's own conditions decide.
    Entered,
    /// Something of theirs is still on its way (queued, retrying, or held by the cutover stage).
    Waiting,
    /// An order of theirs was kept back on purpose (not paid, cancelled, …) and nothing else
    /// of theirs is missing.
    Withheld,
    /// Something of theirs failed for good (a dead letter, a fetch set aside): an operator acts.
    Failed,
    /// BigReach has never seen this person.
    Unknown,
}

/// The verdict: its kind, one sentence, and the reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Verdict {
    /// What kind of answer it is.
    pub kind: VerdictKind,
    /// One plain sentence.
    pub summary: String,
    /// Each fact behind it, most important first.
    pub reasons: Vec<String>,
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
    /// The plain answer, from everything above.
    pub verdict: Verdict,
}

/// The verdict over a trace's facts: failures first (an operator must act), then what is still
/// on its way, then what was kept back on purpose; only when none of these holds did everything
/// reach Bloomreach.
pub fn verdict(
    query: &str,
    commands: &[TraceCommand],
    withheld: &[TraceWithheld],
    set_aside: &[SetAside],
    set_aside_unattributed: u64,
) -> Verdict {
    let dead: Vec<&TraceCommand> = commands
        .iter()
        .filter(|c| c.state == CommandState::Dead)
        .collect();
    let pending: Vec<&TraceCommand> = commands
        .iter()
        .filter(|c| c.state == CommandState::Pending)
        .collect();
    let delivered: Vec<&TraceCommand> = commands
        .iter()
        .filter(|c| c.state == CommandState::Delivered)
        .collect();
    let mut reasons = Vec::new();
    for command in &dead {
        reasons.push(format!(
            "{} was refused for good: {} (replay it from Dead letters once the cause is fixed)",
            command.fact,
            command
                .last_error
                .as_deref()
                .unwrap_or("no reason recorded")
        ));
    }
    for fetch in set_aside {
        reasons.push(format!(
            "{} could not be fetched from BigCommerce: {} (replay it from Set aside)",
            fetch.key, fetch.reason
        ));
    }
    for command in &pending {
        reasons.push(match &command.last_error {
            Some(error) => format!(
                "{} waits in the {} lane after {} attempt(s); last error: {error}",
                command.fact, command.lane, command.attempts
            ),
            None => format!(
                "{} waits in the {} lane (queued {})",
                command.fact,
                command.lane,
                command.enqueued_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        });
    }
    for item in withheld {
        reasons.push(format!("{} was not sent: {}", item.subject, item.reason));
    }
    if let Some(last) = delivered.iter().filter_map(|c| c.acknowledged_at).max() {
        reasons.push(format!(
            "{} command(s) reached Bloomreach, the last acknowledged {}",
            delivered.len(),
            last.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if set_aside_unattributed > 0 {
        reasons.push(format!(
            "{set_aside_unattributed} other fetch(es) are set aside and could be anyone's, this person's included"
        ));
    }
    let (kind, summary) = if !dead.is_empty() || !set_aside.is_empty() {
        (
            VerdictKind::Failed,
            format!(
                "Not in Bloomreach: {} of {query}'s updates failed for good and wait for an operator.",
                dead.len() + set_aside.len()
            ),
        )
    } else if !pending.is_empty() {
        (
            VerdictKind::Waiting,
            format!(
                "Not yet: {} of {query}'s updates are still on their way to Bloomreach.",
                pending.len()
            ),
        )
    } else if !withheld.is_empty() {
        (
            VerdictKind::Withheld,
            format!(
                "Kept back on purpose: {} of {query}'s orders were not sent (the reasons below); nothing else is missing.",
                withheld.len()
            ),
        )
    } else if !delivered.is_empty() {
        (
            VerdictKind::Entered,
            format!(
                "Everything BigReach holds for {query} reached Bloomreach; if they did not enter the flow, its own trigger or filters kept them out."
            ),
        )
    } else {
        (
            VerdictKind::Unknown,
            format!(
                "BigReach has never seen {query}: no order, profile or cart of theirs arrived from BigCommerce."
            ),
        )
    };
    Verdict {
        kind,
        summary,
        reasons,
    }
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
        let verdict = verdict(
            query,
            &commands,
            &withheld,
            &set_aside,
            set_aside_unattributed,
        );
        Ok(Trace {
            query: query.to_owned(),
            person_keys: keys,
            links,
            commands,
            withheld,
            set_aside,
            set_aside_unattributed,
            verdict,
        })
    }
}
