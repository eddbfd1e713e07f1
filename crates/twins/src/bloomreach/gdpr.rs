//! GDPR anonymization (reference §7.2): `POST /data/v2/projects/{token}/customers/anonymize`
//! and `…/customers/anonymize_bulk`. Private access only.
//!
//! Documented effect: every external id is removed, a new cookie id is assigned, only the
//! properties marked Private are removed, and an anonymization event is recorded.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::state::{epoch_seconds, round_micros, Reply, State};
use super::tracking::{self, RequestTimes, NO_IDS};
use super::truth::EventTruth;

/// The event type recorded on an anonymized profile (inferred spelling).
pub(crate) const ANONYMIZATION_EVENT: &str = "anonymization";

/// Anonymizes the customer `raw` (a `customer_ids` object) designates.
/// `Err((status, message))` when it cannot.
fn anonymize_one(
    state: &mut State,
    raw: Option<&Value>,
    times: RequestTimes,
) -> Result<(), (StatusCode, Vec<String>)> {
    let bad = |errors: Vec<String>| (StatusCode::BAD_REQUEST, errors);
    let mut ids = match raw {
        Some(Value::Object(map)) if !map.is_empty() => map.clone(),
        Some(Value::Object(_)) | None | Some(Value::Null) => {
            return Err(bad(vec![NO_IDS.to_owned()]))
        }
        Some(_) => return Err(bad(vec!["customer_ids must be an object.".to_owned()])),
    };
    // Inferred spelling of "Bloomreach's internal customer ID" (the twin's ids are numbers).
    let internal = match ids.remove("internal_id") {
        None => None,
        Some(Value::String(s)) => match s.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return Err(bad(vec![format!("Invalid internal_id '{s}'.")])),
        },
        Some(_) => return Err(bad(vec!["internal_id must be a string.".to_owned()])),
    };
    let external = if ids.is_empty() {
        Vec::new()
    } else {
        let mut data = Map::new();
        data.insert("customer_ids".to_owned(), Value::Object(ids));
        tracking::parse_ids(&data, &state.config).map_err(bad)?
    };
    let target = state
        .profiles
        .lookup(&external, internal)
        .map_err(|message| {
            let status = if message == "Customer not found." {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, vec![message])
        })?;

    let cookie_name = state
        .config
        .soft_ids
        .iter()
        .find(|s| *s == "cookie")
        .or_else(|| state.config.soft_ids.first())
        .cloned();
    let fresh_cookie = cookie_name.map(|name| {
        let raw = state.random_hex(16);
        let value = format!(
            "{}-{}-{}-{}-{}",
            &raw[0..8],
            &raw[8..12],
            &raw[12..16],
            &raw[16..20],
            &raw[20..32]
        );
        (name, value)
    });
    let State {
        config,
        profiles,
        stats,
        ..
    } = state;
    profiles.anonymize(target, &config.private_properties, fresh_cookie);
    let event = EventTruth {
        event_type: ANONYMIZATION_EVENT.to_owned(),
        timestamp: round_micros(epoch_seconds(times.received)),
        properties: Map::new(),
        received_at: times.answered,
    };
    profiles.add_event(target, event, times.received, stats);
    stats.anonymizations += 1;
    Ok(())
}

/// `POST …/customers/anonymize` with `{"customer_ids": {…}}` → `{"success": true}`; an unknown
/// customer answers 404 (inferred status).
pub(crate) fn anonymize(state: &mut State, body: &[u8], times: RequestTimes) -> Reply {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Reply::errors(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    match anonymize_one(state, body.get("customer_ids"), times) {
        Ok(()) => Reply::json(StatusCode::OK, json!({"success": true})),
        Err((status, errors)) => Reply::json(status, json!({"success": false, "errors": errors})),
    }
}

/// `POST …/customers/anonymize_bulk` with `{"customers": [{"customer_ids": {…}}, …]}` →
/// `{"success": true, "results": [{"success": …, "errors"?: […]}, …]}`, one result per
/// customer in order (inferred shape).
pub(crate) fn anonymize_bulk(state: &mut State, body: &[u8], times: RequestTimes) -> Reply {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Reply::errors(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    let customers = match body.get("customers") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            return Reply::errors(
                StatusCode::BAD_REQUEST,
                "customers must be a non-empty list.",
            )
        }
    };
    let results: Vec<Value> = customers
        .iter()
        .map(|customer| {
            let raw = match customer {
                Value::Object(c) => c.get("customer_ids"),
                _ => None,
            };
            match anonymize_one(state, raw, times) {
                Ok(()) => json!({"success": true}),
                Err((_, errors)) => json!({"success": false, "errors": errors}),
            }
        })
        .collect();
    Reply::json(StatusCode::OK, json!({"success": true, "results": results}))
}
