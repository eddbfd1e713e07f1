//! Tracking commands (what the core's mapper builds) and the batch wire types.
//!
//! A [`TrackingCommand`] serializes to the documented `data` shape of the single endpoints
//! (`customers`, `customers/events`). The outbox freezes that JSON into a [`BatchCommand`] at
//! enqueue time; the client sends those bytes verbatim, so a retry replays an identical payload
//! (Bloomreach deduplicates identical events by content).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{classify_command_errors, BloomreachError, ErrorClass};

/// Customer ids: id name (project-specific, e.g. `registered`, `email_id`) → value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerIds(pub BTreeMap<String, String>);

/// `customers`: update customer properties.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerUpdate {
    pub customer_ids: BTreeMap<String, String>,
    pub properties: Map<String, Value>,
    /// Unix seconds; a property is overwritten only if its stored update time is older.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_timestamp: Option<f64>,
}

/// `customers/events`: add an event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventCommand {
    pub customer_ids: BTreeMap<String, String>,
    pub event_type: String,
    /// Unix seconds, fractional allowed (kept to 6 decimals). Never milliseconds.
    pub timestamp: f64,
    pub properties: Map<String, Value>,
}

/// One tracking command.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackingCommand {
    Customer(CustomerUpdate),
    Event(EventCommand),
}

impl TrackingCommand {
    /// The batch command name: `customers` or `customers/events`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Customer(_) => "customers",
            Self::Event(_) => "customers/events",
        }
    }

    /// The command's `data` object, exactly as the single endpoint would take it.
    pub fn data_json(&self) -> Value {
        let mut data = Map::new();
        match self {
            Self::Customer(update) => {
                data.insert("customer_ids".into(), string_map(&update.customer_ids));
                data.insert(
                    "properties".into(),
                    Value::Object(update.properties.clone()),
                );
                if let Some(at) = update.update_timestamp {
                    data.insert("update_timestamp".into(), number(at));
                }
            }
            Self::Event(event) => {
                data.insert("customer_ids".into(), string_map(&event.customer_ids));
                data.insert("event_type".into(), Value::String(event.event_type.clone()));
                data.insert("timestamp".into(), number(event.timestamp));
                data.insert("properties".into(), Value::Object(event.properties.clone()));
            }
        }
        Value::Object(data)
    }
}

fn string_map(ids: &BTreeMap<String, String>) -> Value {
    Value::Object(
        ids.iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect(),
    )
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// A frozen command as it leaves the outbox: `data` bytes are fixed at enqueue time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchCommand {
    pub command_id: String,
    pub name: String,
    pub data: Box<RawValue>,
}

impl BatchCommand {
    /// Freezes a tracking command under `command_id`.
    pub fn freeze(
        command_id: impl Into<String>,
        command: &TrackingCommand,
    ) -> Result<Self, BloomreachError> {
        let data = serde_json::value::to_raw_value(&command.data_json()).map_err(|source| {
            BloomreachError::Decode {
                what: "tracking command data".to_string(),
                source,
            }
        })?;
        Ok(Self {
            command_id: command_id.into(),
            name: command.name().to_string(),
            data,
        })
    }
}

/// The outcome of one batch request (HTTP 200).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    /// The response's `x-request-id`, for support tickets.
    pub request_id: Option<String>,
    /// One result per sent command, in the order the commands were given.
    pub results: Vec<CommandResult>,
}

/// The outcome of one command of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandResult {
    pub command_id: String,
    pub outcome: CommandOutcome,
}

/// Accepted (queued by Bloomreach, not yet visible) or rejected with its error strings.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    Accepted,
    Rejected {
        errors: Vec<String>,
        class: ErrorClass,
    },
}

/// Flattens an `errors` value (list of strings, a string, or an object of lists) into strings.
pub(crate) fn error_strings(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(error_strings).collect(),
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(key, inner)| {
                error_strings(inner)
                    .into_iter()
                    .map(move |text| format!("{key}: {text}"))
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

/// A JSON boolean or a `"True"`/`"False"`/`"true"` string (the docs show both).
pub(crate) fn lenient_bool(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(number) => number.as_i64().map(|n| n != 0),
        _ => None,
    }
}

/// Matches per-command results back to the sent commands: by `command_id`, else by position.
/// A command without a result is never reported as accepted.
pub(crate) fn match_results(commands: &[BatchCommand], results: &[Value]) -> Vec<CommandResult> {
    let by_id: BTreeMap<&str, &Value> = results
        .iter()
        .filter_map(|result| Some((result.get("command_id")?.as_str()?, result)))
        .collect();
    commands
        .iter()
        .enumerate()
        .map(|(position, command)| {
            let result = by_id.get(command.command_id.as_str()).copied().or_else(|| {
                results
                    .get(position)
                    .filter(|candidate| candidate.get("command_id").is_none())
            });
            let outcome = match result {
                None => CommandOutcome::Rejected {
                    errors: vec!["Bloomreach returned no result for this command".to_string()],
                    class: ErrorClass::Retryable,
                },
                Some(result) => match lenient_bool(result.get("success")) {
                    Some(true) => CommandOutcome::Accepted,
                    _ => {
                        let mut errors =
                            error_strings(result.get("errors").unwrap_or(&Value::Null));
                        if errors.is_empty() {
                            errors.extend(
                                ["error", "message"]
                                    .iter()
                                    .filter_map(|key| result.get(*key))
                                    .flat_map(error_strings),
                            );
                        }
                        if errors.is_empty() {
                            errors.push("command failed without an error message".to_string());
                        }
                        let class = classify_command_errors(&errors);
                        CommandOutcome::Rejected { errors, class }
                    }
                },
            };
            CommandResult {
                command_id: command.command_id.clone(),
                outcome,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids() -> BTreeMap<String, String> {
        BTreeMap::from([("registered".to_string(), "jane@example.com".to_string())])
    }

    #[test]
    fn commands_serialize_to_documented_data_shapes() {
        let update = TrackingCommand::Customer(CustomerUpdate {
            customer_ids: ids(),
            properties: json!({"first_name": "Jane"}).as_object().cloned().unwrap(),
            update_timestamp: Some(1_700_000_000.5),
        });
        assert_eq!(update.name(), "customers");
        assert_eq!(
            update.data_json(),
            json!({"customer_ids": {"registered": "jane@example.com"},
                   "properties": {"first_name": "Jane"},
                   "update_timestamp": 1_700_000_000.5})
        );
        let event = TrackingCommand::Event(EventCommand {
            customer_ids: ids(),
            event_type: "purchase".into(),
            timestamp: 1_700_000_000.25,
            properties: Map::new(),
        });
        assert_eq!(event.name(), "customers/events");
        assert_eq!(
            event.data_json(),
            json!({"customer_ids": {"registered": "jane@example.com"},
                   "event_type": "purchase", "timestamp": 1_700_000_000.25, "properties": {}})
        );
        let frozen = BatchCommand::freeze("c1", &event).unwrap();
        assert_eq!(
            serde_json::to_value(&frozen).unwrap()["data"],
            event.data_json()
        );
    }

    #[test]
    fn results_match_by_command_id_then_position() {
        let command = |id: &str| BatchCommand {
            command_id: id.into(),
            name: "customers".into(),
            data: serde_json::value::to_raw_value(&json!({})).unwrap(),
        };
        let commands = [command("a"), command("b"), command("c")];
        // Out of order with ids; the third has no result at all.
        let results = [
            json!({"command_id": "b", "success": false, "errors": ["At least one id should be specified."]}),
            json!({"command_id": "a", "success": true}),
        ];
        let matched = match_results(&commands, &results);
        assert_eq!(matched[0].outcome, CommandOutcome::Accepted);
        assert!(matches!(
            &matched[1].outcome,
            CommandOutcome::Rejected { class: ErrorClass::Permanent, errors } if errors.len() == 1
        ));
        assert!(matches!(
            &matched[2].outcome,
            CommandOutcome::Rejected {
                class: ErrorClass::Retryable,
                ..
            }
        ));
        // Without command ids: by position.
        let results = [
            json!({"success": "False", "errors": "bad"}),
            json!({"success": "True"}),
        ];
        let matched = match_results(&commands[..2], &results);
        assert!(matches!(
            matched[0].outcome,
            CommandOutcome::Rejected { .. }
        ));
        assert_eq!(matched[1].outcome, CommandOutcome::Accepted);
    }
}
