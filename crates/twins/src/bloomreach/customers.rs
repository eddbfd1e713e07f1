//! Customer reads of the Data API (private access only): `POST /data/v2/projects/{token}/
//! customers/export-one`, `…/customers/attributes`, `…/customers/events` and
//! `…/customers/export`.
//!
//! Wire shapes as recorded in Bloomreach's own Python SDK test data (`tests/data/
//! test_customer.json`, `test_customer_attributes.json`, `test_events.json`,
//! `test_customers.json`); the SDK post-processes them, so the reference's examples are not the
//! wire. *Inferred* where nothing public shows it: a soft id is a list of values (as in the
//! export), a hard id a string; an unknown customer answers 404 `{"success": false, "errors":
//! ["Customer not found."]}`; attribute types other than `property` and `id` answer
//! `{"success": false, "errors": [...]}` per attribute (the twin has no segmentations,
//! expressions, aggregates, predictions or consent categories); export columns are the
//! project's ids (hard first, config order) then every property name in ascending order, and
//! `format` must be `native_json` (the SDK's value; CSV exports are not simulated).

use std::collections::BTreeSet;

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::config::BloomreachTwinConfig;
use super::state::{Reply, State};
use super::tracking;
use super::truth::{EventTruth, ProfileTruth};

fn body_object(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Reply::errors(StatusCode::BAD_REQUEST, "Invalid JSON")),
    }
}

/// The live profile `body.customer_ids` designates.
fn find(state: &State, body: &Map<String, Value>) -> Result<ProfileTruth, Reply> {
    let ids = tracking::parse_ids(body, &state.config).map_err(|errors| {
        Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"success": false, "errors": errors}),
        )
    })?;
    let internal = state.profiles.lookup(&ids, None).map_err(|message| {
        let status = if message == "Customer not found." {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        Reply::json(status, json!({"success": false, "errors": [message]}))
    })?;
    state.profiles.view(internal).ok_or_else(|| {
        Reply::json(
            StatusCode::NOT_FOUND,
            json!({"success": false, "errors": ["Customer not found."]}),
        )
    })
}

/// A hard id's value as a string, a soft id's values as a list, `null` when absent.
fn id_value(config: &BloomreachTwinConfig, p: &ProfileTruth, name: &str) -> Value {
    let values = p.ids.get(name);
    if config.hard_ids.iter().any(|h| h == name) {
        values
            .and_then(|v| v.first())
            .map_or(Value::Null, |v| Value::String(v.clone()))
    } else {
        values.map_or(Value::Null, |v| json!(v))
    }
}

fn ids_object(config: &BloomreachTwinConfig, p: &ProfileTruth) -> Map<String, Value> {
    config
        .hard_ids
        .iter()
        .chain(config.soft_ids.iter())
        .filter(|name| p.ids.contains_key(name.as_str()))
        .map(|name| (name.clone(), id_value(config, p, name)))
        .collect()
}

/// A profile's events by ascending event time (*inferred*; stored order follows the seeded
/// shuffle of batch commands).
fn by_time(p: &ProfileTruth) -> Vec<&EventTruth> {
    let mut events: Vec<&EventTruth> = p.events.iter().collect();
    events.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    events
}

fn event_json(e: &EventTruth) -> Value {
    json!({"type": e.event_type, "timestamp": e.timestamp, "properties": e.properties})
}

/// `export-one` → `{success, ids, properties, events: [{type, timestamp, properties}]}`.
pub(crate) fn export_one(state: &State, body: &[u8]) -> Reply {
    let body = match body_object(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let p = match find(state, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let events: Vec<Value> = by_time(&p).into_iter().map(event_json).collect();
    Reply::json(
        StatusCode::OK,
        json!({
            "success": true,
            "ids": ids_object(&state.config, &p),
            "properties": p.properties,
            "events": events,
        }),
    )
}

/// `attributes` with `{customer_ids, attributes: [{type, property | id}, …]}` → `{success,
/// results: [{success, value}]}`, one result per attribute in order.
pub(crate) fn attributes(state: &State, body: &[u8]) -> Reply {
    let body = match body_object(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(Value::Array(wanted)) = body.get("attributes") else {
        return Reply::errors(StatusCode::BAD_REQUEST, "attributes must be a list.");
    };
    let p = match find(state, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let results: Vec<Value> = wanted
        .iter()
        .map(|a| {
            let kind = a.get("type").and_then(Value::as_str).unwrap_or_default();
            match kind {
                "property" => match a.get("property").and_then(Value::as_str) {
                    Some(name) => json!({
                        "success": true,
                        "value": p.properties.get(name).cloned().unwrap_or(Value::Null),
                    }),
                    None => json!({"success": false, "errors": ["property is required."]}),
                },
                "id" => match a.get("id").and_then(Value::as_str) {
                    Some(name) => {
                        json!({"success": true, "value": id_value(&state.config, &p, name)})
                    }
                    None => json!({"success": false, "errors": ["id is required."]}),
                },
                other => json!({
                    "success": false,
                    "errors": [format!("Attribute type '{other}' is not available.")],
                }),
            }
        })
        .collect();
    Reply::json(StatusCode::OK, json!({"success": true, "results": results}))
}

/// `events` with `{customer_ids, event_types: [...]}` → `{success, data: [events]}` (by event
/// time; every type when `event_types` is empty, *inferred*).
pub(crate) fn events(state: &State, body: &[u8]) -> Reply {
    let body = match body_object(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let types: Option<BTreeSet<&str>> = match body.get("event_types") {
        Some(Value::Array(list)) => {
            let set: BTreeSet<&str> = list.iter().filter_map(Value::as_str).collect();
            if set.len() != list.len() {
                return Reply::errors(StatusCode::BAD_REQUEST, "event_types must be strings.");
            }
            (!set.is_empty()).then_some(set)
        }
        None | Some(Value::Null) => None,
        Some(_) => return Reply::errors(StatusCode::BAD_REQUEST, "event_types must be a list."),
    };
    let p = match find(state, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let data: Vec<Value> = by_time(&p)
        .into_iter()
        .filter(|e| {
            types
                .as_ref()
                .is_none_or(|t| t.contains(e.event_type.as_str()))
        })
        .map(event_json)
        .collect();
    Reply::json(StatusCode::OK, json!({"success": true, "data": data}))
}

/// `export` with `{format: "native_json"}` → `{success, fields: [{type: "id", id} |
/// {type: "property", property}], data: [[row], …]}`; anonymized profiles are exported with
/// what they still hold.
pub(crate) fn export(state: &State, body: &[u8]) -> Reply {
    let body = match body_object(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match body.get("format").and_then(Value::as_str) {
        Some("native_json") => {}
        _ => {
            return Reply::errors(
                StatusCode::BAD_REQUEST,
                "format must be native_json (the twin does not simulate CSV exports).",
            )
        }
    }
    let profiles = state.profiles.truth();
    let config = &state.config;
    let id_names: Vec<&String> = config
        .hard_ids
        .iter()
        .chain(config.soft_ids.iter())
        .collect();
    let properties: BTreeSet<&String> = profiles.iter().flat_map(|p| p.properties.keys()).collect();
    let mut fields: Vec<Value> = id_names
        .iter()
        .map(|n| json!({"type": "id", "id": n}))
        .collect();
    fields.extend(
        properties
            .iter()
            .map(|n| json!({"type": "property", "property": n})),
    );
    let data: Vec<Value> = profiles
        .iter()
        .map(|p| {
            let mut row: Vec<Value> = id_names.iter().map(|n| id_value(config, p, n)).collect();
            row.extend(
                properties
                    .iter()
                    .map(|n| p.properties.get(n.as_str()).cloned().unwrap_or(Value::Null)),
            );
            Value::Array(row)
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        json!({"success": true, "fields": fields, "data": data}),
    )
}
