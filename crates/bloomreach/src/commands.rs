//! The tracking batch wire types.
//!
//! The core's mapper (`bigreach_core::map`) builds each command's `data` object in the documented
//! shape of the single endpoints (`customers`, `customers/events`) and the outbox stores those
//! bytes at enqueue time. A [`BatchCommand`] carries them as raw JSON; the client sends them
//! verbatim, so a retry replays an identical payload (Bloomreach deduplicates identical events by
//! content).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{classify_command_errors, ErrorClass};

/// A frozen command as it leaves the outbox: `data` bytes are fixed at enqueue time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchCommand {
    pub command_id: String,
    pub name: String,
    pub data: Box<RawValue>,
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
