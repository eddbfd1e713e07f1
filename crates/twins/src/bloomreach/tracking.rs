//! The Tracking API: `customers`, `customers/events`, `system/time`, and the batch endpoint.

use chrono::{DateTime, NaiveDateTime, Utc};
use http::StatusCode;
use rand::seq::SliceRandom;
use serde_json::{json, Map, Value};

use super::config::BloomreachTwinConfig;
use super::profiles::ExternalId;
use super::state::{epoch_seconds, round_micros, Reply, State};
use super::truth::EventTruth;

/// Most commands in one batch request.
pub(crate) const MAX_BATCH_COMMANDS: usize = 50;
/// A customer-update (or event) message must stay under this many bytes.
pub(crate) const MAX_MESSAGE_BYTES: usize = 800 * 1024;
/// Each customer property value must stay under this many bytes.
pub(crate) const MAX_PROPERTY_VALUE_BYTES: usize = 16 * 1024;

/// The documented error for empty `customer_ids`.
pub(crate) const NO_IDS: &str = "At least one id should be specified.";

/// A validated tracking command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    Customers {
        ids: Vec<ExternalId>,
        properties: Map<String, Value>,
        update_timestamp: Option<f64>,
    },
    Event {
        ids: Vec<ExternalId>,
        event_type: String,
        timestamp: Option<f64>,
        properties: Map<String, Value>,
    },
    SystemTime,
}

/// A command after validation: ready to apply, or its errors.
type Parsed = Result<Command, Vec<String>>;

/// Times of the request a command arrived in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestTimes {
    /// When the request was processed (receive time).
    pub received: DateTime<Utc>,
    /// When the request is answered (receive time plus latency).
    pub answered: DateTime<Utc>,
}

pub(crate) fn parse_ids(
    data: &Map<String, Value>,
    config: &BloomreachTwinConfig,
) -> Result<Vec<ExternalId>, Vec<String>> {
    let raw = match data.get("customer_ids") {
        None | Some(Value::Null) => return Err(vec![NO_IDS.to_owned()]),
        Some(Value::Object(map)) if map.is_empty() => return Err(vec![NO_IDS.to_owned()]),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(vec!["customer_ids must be an object.".to_owned()]),
    };
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in raw {
        let hard_priority = config.hard_ids.iter().position(|h| h == name);
        let is_soft = config.soft_ids.iter().any(|s| s == name);
        if hard_priority.is_none() && !is_soft {
            errors.push(format!("Unknown customer id '{name}'."));
            continue;
        }
        match value {
            Value::String(s) if s.is_empty() => {
                errors.push(format!("Customer id '{name}' must not be empty."));
            }
            Value::String(s) => ids.push(ExternalId {
                name: name.clone(),
                value: s.clone(),
                hard_priority,
            }),
            _ => errors.push(format!("Customer id '{name}' must be a string.")),
        }
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(errors)
    }
}

/// Parses an event timestamp: float Unix seconds or an ISO-8601 date-time (UTC when it carries
/// no offset). Never guesses milliseconds.
pub(crate) fn parse_timestamp(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => Ok(round_micros(f)),
            _ => Err("Invalid timestamp.".to_owned()),
        },
        Value::String(s) => {
            if let Ok(at) = DateTime::parse_from_rfc3339(s) {
                return Ok(round_micros(epoch_seconds(at.with_timezone(&Utc))));
            }
            for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
                if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
                    return Ok(round_micros(epoch_seconds(naive.and_utc())));
                }
            }
            Err(format!("Invalid timestamp '{s}'."))
        }
        _ => Err("Invalid timestamp.".to_owned()),
    }
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        other => serde_json::to_vec(other).map(|v| v.len()).unwrap_or(0),
    }
}

fn message_too_large(data: &Map<String, Value>) -> bool {
    serde_json::to_vec(data)
        .map(|v| v.len() > MAX_MESSAGE_BYTES)
        .unwrap_or(true)
}

fn parse_customers(
    data: &Map<String, Value>,
    config: &BloomreachTwinConfig,
) -> Result<Command, Vec<String>> {
    let mut errors = Vec::new();
    if message_too_large(data) {
        errors.push("Message is too large (limit is 800 KB).".to_owned());
    }
    let ids = parse_ids(data, config).map_err(|e| errors.extend(e)).ok();
    let properties = match data.get("properties") {
        Some(Value::Object(map)) if !map.is_empty() => {
            for (name, value) in map {
                if !name.is_ascii() {
                    errors.push(format!("Property name '{name}' must be ASCII."));
                }
                if value_bytes(value) > MAX_PROPERTY_VALUE_BYTES {
                    errors.push(format!(
                        "Value of property '{name}' is too large (limit is 16 KB)."
                    ));
                }
            }
            Some(map.clone())
        }
        Some(Value::Object(_)) | None | Some(Value::Null) => {
            errors.push("At least one property should be specified.".to_owned());
            None
        }
        Some(_) => {
            errors.push("properties must be an object.".to_owned());
            None
        }
    };
    let update_timestamp = match data.get("update_timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => Some(f),
            _ => {
                errors.push("Invalid update_timestamp.".to_owned());
                None
            }
        },
        Some(_) => {
            errors.push("update_timestamp must be a number (Unix seconds).".to_owned());
            None
        }
    };
    match (ids, properties) {
        (Some(ids), Some(properties)) if errors.is_empty() => Ok(Command::Customers {
            ids,
            properties,
            update_timestamp,
        }),
        _ => Err(errors),
    }
}

fn parse_event(
    data: &Map<String, Value>,
    config: &BloomreachTwinConfig,
) -> Result<Command, Vec<String>> {
    let mut errors = Vec::new();
    if message_too_large(data) {
        errors.push("Message is too large (limit is 800 KB).".to_owned());
    }
    let ids = parse_ids(data, config).map_err(|e| errors.extend(e)).ok();
    let event_type = match data.get("event_type") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            errors.push("event_type is required.".to_owned());
            None
        }
        Some(_) => {
            errors.push("event_type must be a string.".to_owned());
            None
        }
    };
    let properties = match data.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            errors.push("properties must be an object.".to_owned());
            Map::new()
        }
    };
    let timestamp = match data.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(value) => match parse_timestamp(value) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    match (ids, event_type) {
        (Some(ids), Some(event_type)) if errors.is_empty() => Ok(Command::Event {
            ids,
            event_type,
            timestamp,
            properties,
        }),
        _ => Err(errors),
    }
}

/// Validates the command called `name` with payload `data`.
pub(crate) fn parse_command(
    name: &str,
    data: Option<&Value>,
    config: &BloomreachTwinConfig,
) -> Result<Command, Vec<String>> {
    if name == "system/time" {
        return Ok(Command::SystemTime);
    }
    if name != "customers" && name != "customers/events" {
        return Err(vec![format!("Unknown command '{name}'.")]);
    }
    let Some(Value::Object(data)) = data else {
        return Err(vec!["Command data must be an object.".to_owned()]);
    };
    if name == "customers" {
        parse_customers(data, config)
    } else {
        parse_event(data, config)
    }
}

/// Applies a validated command; returns its result object (without `command_id`).
pub(crate) fn apply(
    state: &mut State,
    command: Command,
    times: RequestTimes,
) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("success".to_owned(), Value::Bool(true));
    let State {
        config,
        stats,
        profiles,
        ..
    } = state;
    match command {
        Command::SystemTime => {
            result.insert("time".to_owned(), json!(epoch_seconds(times.received)));
        }
        Command::Customers {
            ids,
            properties,
            update_timestamp,
        } => {
            let target = profiles.resolve(&ids, stats);
            profiles.update_properties(
                target,
                &properties,
                update_timestamp,
                epoch_seconds(times.received),
                config.customer_attribute_limit,
                stats,
            );
        }
        Command::Event {
            ids,
            event_type,
            timestamp,
            properties,
        } => {
            let target = profiles.resolve(&ids, stats);
            let event = EventTruth {
                event_type,
                timestamp: timestamp.unwrap_or_else(|| round_micros(epoch_seconds(times.received))),
                properties,
                received_at: times.answered,
            };
            profiles.add_event(target, event, times.received, stats);
        }
    }
    state.stats.commands_accepted += 1;
    result
}

fn failure(errors: Vec<String>) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("success".to_owned(), Value::Bool(false));
    result.insert("errors".to_owned(), json!(errors));
    result
}

/// `POST /track/v2/projects/{token}/batch`.
pub(crate) fn batch(state: &mut State, body: &[u8], times: RequestTimes) -> Reply {
    let invalid = || {
        Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"success": false, "message": "Invalid JSON"}),
        )
    };
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return invalid();
    };
    let Value::Object(top) = parsed else {
        return invalid();
    };
    let commands = match top.get("commands") {
        Some(Value::Array(commands)) if !commands.is_empty() => commands,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Reply::json(
                StatusCode::BAD_REQUEST,
                json!({"success": false, "message": "No commands"}),
            );
        }
        Some(_) => return invalid(),
    };
    if commands.len() > MAX_BATCH_COMMANDS {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"success": false, "message": format!("Too many commands: at most {MAX_BATCH_COMMANDS} commands are allowed in one batch")}),
        );
    }

    let mut parsed: Vec<(Option<Value>, Parsed)> = commands
        .iter()
        .map(|command| match command {
            Value::Object(c) => {
                let command_id = c.get("command_id").cloned();
                let outcome = match c.get("name") {
                    Some(Value::String(name)) => parse_command(name, c.get("data"), &state.config),
                    _ => Err(vec!["Command name is required.".to_owned()]),
                };
                (command_id, outcome)
            }
            _ => (None, Err(vec!["Invalid command.".to_owned()])),
        })
        .collect();

    // Documented: commands are not executed in array order.
    let mut order: Vec<usize> = (0..parsed.len()).collect();
    order.shuffle(&mut state.rng);
    let mut results: Vec<Map<String, Value>> = vec![Map::new(); parsed.len()];
    for index in order {
        let outcome = std::mem::replace(&mut parsed[index].1, Err(Vec::new()));
        results[index] = match outcome {
            Ok(command) => apply(state, command, times),
            Err(errors) => {
                state.stats.commands_rejected += 1;
                failure(errors)
            }
        };
    }
    let results: Vec<Value> = results
        .into_iter()
        .zip(parsed)
        .map(|(mut result, (command_id, _))| {
            if let Some(id) = command_id {
                result.insert("command_id".to_owned(), id);
            }
            Value::Object(result)
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        json!({
            "success": true,
            "start_time": epoch_seconds(times.received),
            "end_time": epoch_seconds(times.answered),
            "results": results,
        }),
    )
}

/// `POST /track/v2/projects/{token}/customers` and `…/customers/events`.
pub(crate) fn single(state: &mut State, name: &str, body: &[u8], times: RequestTimes) -> Reply {
    let Ok(data) = serde_json::from_slice::<Value>(body) else {
        return Reply::errors(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    match parse_command(name, Some(&data), &state.config) {
        Ok(command) => {
            let result = apply(state, command, times);
            Reply::json(StatusCode::OK, Value::Object(result))
        }
        Err(errors) => {
            state.stats.commands_rejected += 1;
            Reply::json(
                StatusCode::BAD_REQUEST,
                json!({"success": false, "errors": errors}),
            )
        }
    }
}

/// `GET /track/v2/projects/{token}/system/time`.
pub(crate) fn system_time(times: RequestTimes) -> Reply {
    Reply::json(
        StatusCode::OK,
        json!({"success": true, "time": epoch_seconds(times.received)}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_seconds_or_iso_and_never_guessed_milliseconds() {
        assert_eq!(
            parse_timestamp(&json!(1_700_000_000.1234567)),
            Ok(1_700_000_000.123457)
        );
        assert_eq!(
            parse_timestamp(&json!(1_700_000_000_000_i64)),
            Ok(1_700_000_000_000.0)
        );
        assert_eq!(
            parse_timestamp(&json!("2026-01-01T00:00:00+01:00")),
            Ok(1_767_222_000.0)
        );
        assert_eq!(
            parse_timestamp(&json!("2026-01-01T00:00:00.5")),
            Ok(1_767_225_600.5)
        );
        assert!(parse_timestamp(&json!("1700000000")).is_err());
        assert!(parse_timestamp(&json!(-1)).is_err());
        assert!(parse_timestamp(&json!(true)).is_err());
    }
}
