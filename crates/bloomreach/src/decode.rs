//! Parsing of Bloomreach Engagement response bodies, as pure functions of the bytes.
//!
//! [`BloomreachClient`](crate::BloomreachClient) calls these for every response it reads, and
//! `crates/fuzz` runs them on arbitrary bytes; they build without the `client` feature. A 2xx
//! body that does not have the documented shape is [`BloomreachError::Decode`], never a panic;
//! an error body always becomes a classified [`BloomreachError`].

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::catalog::{CatalogItemResult, CatalogItemUpdate, CatalogSummary};
use crate::commands::{error_strings, match_results, BatchCommand, BatchResponse};
use crate::error::{classify, excerpt, BloomreachError, ErrorClass};

/// The longest excerpt of a body kept in an error message, in characters.
pub const BODY_EXCERPT_CHARS: usize = 300;

fn json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, BloomreachError> {
    serde_json::from_slice(body).map_err(|source| BloomreachError::Decode {
        what: what.to_string(),
        source,
    })
}

/// `GET /track/v2/projects/{token}/system/time`: Unix seconds.
pub fn system_time(body: &[u8]) -> Result<f64, BloomreachError> {
    #[derive(Deserialize)]
    struct Time {
        time: f64,
    }
    let time: Time = json(body, "system time")?;
    Ok(time.time)
}

/// A 200 answer to `POST /track/v2/projects/{token}/batch` for `commands`: one result per
/// command, in their order (a command Bloomreach gave no result for is never accepted). A
/// top-level `success: false` without `results` rejected the whole batch: that is an error.
pub fn batch_response(
    commands: &[BatchCommand],
    body: &[u8],
    request_id: Option<String>,
) -> Result<BatchResponse, BloomreachError> {
    let parsed: Value = json(body, "batch response")?;
    if parsed.get("success").and_then(Value::as_bool) == Some(false)
        && parsed.get("results").is_none()
    {
        let message = top_level_message(&parsed);
        return Err(error_for_status(200, &message, request_id, None));
    }
    let results = parsed
        .get("results")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    Ok(BatchResponse {
        results: match_results(commands, results),
        request_id,
    })
}

/// `GET /data/v2/projects/{token}/catalogs`: a bare list or `{"data": [...]}`; entries without
/// an id are left out.
pub fn catalog_list(body: &[u8]) -> Result<Vec<CatalogSummary>, BloomreachError> {
    let parsed: Value = json(body, "catalog list")?;
    let list = parsed
        .get("data")
        .or(Some(&parsed))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    Ok(list
        .iter()
        .filter_map(|entry| {
            let id = id_text(entry.get("id")?)?;
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some(CatalogSummary {
                id,
                name: name.to_string(),
            })
        })
        .collect())
}

/// `POST /data/v2/projects/{token}/catalogs`: the new catalog's id (`id` or `data.id`).
pub fn created_catalog_id(body: &[u8]) -> Result<String, BloomreachError> {
    let parsed: Value = json(body, "created catalog")?;
    match parsed.get("id").or_else(|| parsed.pointer("/data/id")) {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(Value::Number(id)) => Ok(id.to_string()),
        _ => Err(BloomreachError::Decode {
            what: "created catalog id".to_string(),
            source: serde::de::Error::custom(format!(
                "no `id` in {}",
                excerpt(&parsed.to_string(), BODY_EXCERPT_CHARS)
            )),
        }),
    }
}

/// A 2xx answer to a catalog bulk partial update of `items`: one result per item, by
/// position; an item without a result is not a success.
pub fn catalog_bulk_results(
    items: &[CatalogItemUpdate],
    body: &[u8],
) -> Result<Vec<CatalogItemResult>, BloomreachError> {
    results_by_position(
        items.iter().map(|item| item.item_id.as_str()),
        body,
        "catalog bulk update response",
    )
}

/// `DELETE …/catalogs/{id}/items/bulk-delete`: one result per id of `item_ids`, in request
/// order (the same per-item shape as a bulk update's; a missing result is a failure).
pub fn catalog_delete_results(
    item_ids: &[String],
    body: &[u8],
) -> Result<Vec<CatalogItemResult>, BloomreachError> {
    results_by_position(
        item_ids.iter().map(String::as_str),
        body,
        "catalog bulk delete response",
    )
}

/// One result per id, by position, from a bulk answer (a bare array, or one under `results` or
/// `data`); an id without a result is not a success.
fn results_by_position<'a>(
    item_ids: impl Iterator<Item = &'a str>,
    body: &[u8],
    what: &str,
) -> Result<Vec<CatalogItemResult>, BloomreachError> {
    let parsed: Value = json(body, what)?;
    let results = parsed
        .as_array()
        .or_else(|| parsed.get("results").and_then(Value::as_array))
        .or_else(|| parsed.get("data").and_then(Value::as_array))
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    Ok(item_ids
        .enumerate()
        .map(|(position, item_id)| match results.get(position) {
            Some(result) => CatalogItemResult::from_value(item_id, result),
            None => CatalogItemResult {
                item_id: item_id.to_owned(),
                success: false,
                queued: false,
                errors: vec!["Bloomreach returned no result for this item".to_string()],
            },
        })
        .collect())
}

/// One catalog item as read back: its `item_id` and properties.
pub type CatalogItem = (String, Map<String, Value>);

/// `GET /data/v2/projects/{token}/catalogs/{id}/items`: `(item_id, properties)` per item; items
/// without an id are left out.
pub fn catalog_items(body: &[u8]) -> Result<Vec<CatalogItem>, BloomreachError> {
    let parsed: Value = json(body, "catalog items")?;
    let data = parsed
        .get("data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    Ok(data
        .iter()
        .filter_map(|item| {
            let id = id_text(item.get("item_id")?)?;
            let properties = item
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            Some((id, properties))
        })
        .collect())
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A non-2xx response as an error, classified by status and body ([`classify`]); the message
/// is the body's `error`/`message`/`errors`, else a bounded excerpt of it.
pub fn error_response(
    status: u16,
    body: &[u8],
    request_id: Option<String>,
    retry_after: Option<Duration>,
) -> BloomreachError {
    error_for_status(
        status,
        &String::from_utf8_lossy(body),
        request_id,
        retry_after,
    )
}

fn error_for_status(
    status: u16,
    body: &str,
    request_id: Option<String>,
    retry_after: Option<Duration>,
) -> BloomreachError {
    let message = || {
        serde_json::from_str::<Value>(body)
            .ok()
            .map(|parsed| top_level_message(&parsed))
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| excerpt(body, BODY_EXCERPT_CHARS))
    };
    match classify(status, body) {
        ErrorClass::RateLimited => BloomreachError::RateLimited {
            retry_after,
            request_id,
        },
        ErrorClass::Retryable => BloomreachError::Server {
            status,
            request_id,
            body_excerpt: excerpt(body, BODY_EXCERPT_CHARS),
        },
        ErrorClass::Auth => BloomreachError::Auth {
            status,
            message: message(),
            request_id,
        },
        ErrorClass::Permanent => BloomreachError::Rejected {
            status,
            message: message(),
            request_id,
        },
    }
}

/// `error`, `message` or `errors` of an error body, flattened.
fn top_level_message(parsed: &Value) -> String {
    ["error", "message", "errors"]
        .iter()
        .filter_map(|key| parsed.get(*key))
        .flat_map(error_strings)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(id: &str) -> BatchCommand {
        BatchCommand {
            command_id: id.to_string(),
            name: "customers".to_string(),
            data: serde_json::value::RawValue::from_string("{}".to_string()).unwrap(),
        }
    }

    #[test]
    fn a_batch_answer_gives_one_result_per_command() {
        let commands = [command("a"), command("b")];
        let response = batch_response(
            &commands,
            br#"{"results": [{"command_id": "b", "success": true}]}"#,
            Some("r1".to_string()),
        )
        .unwrap();
        assert_eq!(response.results.len(), 2);
        assert_eq!(response.results[0].command_id, "a");
        assert!(matches!(
            response.results[0].outcome,
            crate::CommandOutcome::Rejected { .. }
        ));
        assert_eq!(response.results[1].outcome, crate::CommandOutcome::Accepted);
        let refused =
            batch_response(&commands, br#"{"success": false, "error": "nope"}"#, None).unwrap_err();
        assert_eq!(refused.class(), ErrorClass::Permanent);
        assert!(batch_response(&commands, b"not json", None).is_err());
    }

    #[test]
    fn error_bodies_are_classified_with_their_message() {
        let error = error_response(400, br#"{"errors": {"name": ["too long"]}}"#, None, None);
        assert!(error.to_string().contains("name: too long"), "{error}");
        let error = error_response(503, b"\xffupstream\ndown", None, None);
        assert_eq!(error.class(), ErrorClass::Retryable);
        assert!(!error.to_string().contains('\n'));
        let error = error_response(429, b"", None, Some(Duration::from_secs(3)));
        assert_eq!(error.class(), ErrorClass::RateLimited);
    }

    #[test]
    fn catalog_bodies_accept_both_shapes_and_skip_entries_without_ids() {
        let list = catalog_list(br#"{"data": [{"id": 5, "name": "p"}, {"name": "x"}]}"#).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, "5");
        assert_eq!(catalog_list(br#"[{"id": "c1"}]"#).unwrap()[0].id, "c1");
        assert_eq!(
            created_catalog_id(br#"{"data": {"id": "n"}}"#).unwrap(),
            "n"
        );
        assert!(created_catalog_id(br#"{}"#).is_err());
        let items = catalog_items(br#"{"data": [{"item_id": 7, "properties": {"a": 1}}]}"#);
        assert_eq!(items.unwrap()[0].0, "7");
    }
}
