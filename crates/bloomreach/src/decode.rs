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
use crate::imports::{ImportRunState, ImportRunStatus, ImportState, ImportSummary};

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

/// A 2xx answer whose `success` is `false` (the Imports API answers some refusals so): the
/// request was refused, classified by its message like a 400.
fn refused_in_body(parsed: &Value) -> Option<BloomreachError> {
    (parsed.get("success").and_then(Value::as_bool) == Some(false))
        .then(|| error_for_status(400, &parsed.to_string(), None, None))
}

fn missing(what: &str, key: &str, parsed: &Value) -> BloomreachError {
    BloomreachError::Decode {
        what: what.to_string(),
        source: serde::de::Error::custom(format!(
            "no `{key}` in {}",
            excerpt(&parsed.to_string(), BODY_EXCERPT_CHARS)
        )),
    }
}

/// `POST /imports/v1/{token}`: the new definition's `import_id` (or `id`, `data.import_id`).
pub fn created_import_id(body: &[u8]) -> Result<String, BloomreachError> {
    let parsed: Value = json(body, "created import")?;
    if let Some(refused) = refused_in_body(&parsed) {
        return Err(refused);
    }
    ["/import_id", "/id", "/data/import_id", "/data/id"]
        .iter()
        .find_map(|pointer| parsed.pointer(pointer).and_then(id_text))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| missing("created import id", "import_id", &parsed))
}

/// `POST …/imports/{id}/start`: `{"success": true}` (an empty body is taken as accepted).
pub fn import_started(body: &[u8]) -> Result<(), BloomreachError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let parsed: Value = json(body, "import start")?;
    match refused_in_body(&parsed) {
        Some(refused) => Err(refused),
        None => Ok(()),
    }
}

/// `GET /imports/v1/{token}/{id}`: the definition and its `last_run` (inferred shape:
/// `status` `running|finished|failed` (also `success`, `done`, `error`), row counts, `errors`).
pub fn import_state(body: &[u8]) -> Result<ImportState, BloomreachError> {
    let parsed: Value = json(body, "import definition")?;
    if let Some(refused) = refused_in_body(&parsed) {
        return Err(refused);
    }
    let root = parsed
        .get("data")
        .filter(|data| data.is_object())
        .unwrap_or(&parsed);
    let import_id = ["import_id", "id"]
        .iter()
        .find_map(|key| root.get(*key).and_then(id_text))
        .ok_or_else(|| missing("import definition", "import_id", &parsed))?;
    let last_run = match root.get("last_run") {
        None | Some(Value::Null) => None,
        Some(run) => Some(run_status(run)),
    };
    Ok(ImportState {
        import_id,
        name: text(root.get("name")),
        active: root.get("active").and_then(Value::as_bool).unwrap_or(true),
        last_run,
    })
}

fn text(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn count(run: &Value, key: &str) -> u64 {
    match run.get(key) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn run_status(run: &Value) -> ImportRunStatus {
    let status = text(run.get("status").or_else(|| run.get("state")));
    let state = match status.to_ascii_lowercase().as_str() {
        "running" | "started" | "queued" | "pending" | "in_progress" => ImportRunState::Running,
        "finished" | "success" | "succeeded" | "done" | "completed" => ImportRunState::Finished,
        "failed" | "error" | "errored" | "cancelled" | "canceled" => ImportRunState::Failed,
        _ => ImportRunState::Unknown,
    };
    ImportRunStatus {
        state,
        status,
        rows_total: count(run, "rows_total"),
        rows_imported: count(run, "rows_imported"),
        rows_failed: count(run, "rows_failed"),
        errors: error_strings(run.get("errors").unwrap_or(&Value::Null)),
    }
}

/// `GET /imports/v1/{token}?limit=&offset=`: the definitions (`data`, or a bare list) and the
/// `total` (the list's length when absent); entries without an id are left out.
pub fn import_list(body: &[u8]) -> Result<(Vec<ImportSummary>, u64), BloomreachError> {
    let parsed: Value = json(body, "import list")?;
    if let Some(refused) = refused_in_body(&parsed) {
        return Err(refused);
    }
    let list = parsed
        .get("data")
        .or(Some(&parsed))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let entries: Vec<ImportSummary> = list
        .iter()
        .filter_map(|entry| {
            let import_id = ["import_id", "id"]
                .iter()
                .find_map(|key| entry.get(*key).and_then(id_text))?;
            Some(ImportSummary {
                import_id,
                name: text(entry.get("name")),
                import_url: entry
                    .pointer("/source/import_url")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        })
        .collect();
    let total = parsed
        .get("total")
        .and_then(Value::as_u64)
        .unwrap_or(entries.len() as u64);
    Ok((entries, total))
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

    #[test]
    fn import_answers_decode_ids_states_and_refusals() {
        assert_eq!(
            created_import_id(br#"{"success": true, "import_id": "a1"}"#).unwrap(),
            "a1"
        );
        assert_eq!(created_import_id(br#"{"data": {"id": 7}}"#).unwrap(), "7");
        assert!(matches!(
            created_import_id(br#"{"success": true}"#),
            Err(BloomreachError::Decode { .. })
        ));
        let refused =
            created_import_id(br#"{"success": false, "errors": ["At most 25"]}"#).unwrap_err();
        assert_eq!(refused.class(), ErrorClass::Permanent);
        assert!(refused.to_string().contains("At most 25"), "{refused}");
        assert!(import_started(b"").is_ok());
        assert!(import_started(br#"{"success": true}"#).is_ok());
        assert!(
            import_started(br#"{"success": false, "error": "Could not authenticate"}"#)
                .is_err_and(|e| e.class() == ErrorClass::Auth)
        );

        let none =
            import_state(br#"{"success": true, "import_id": "a1", "name": "n", "last_run": null}"#)
                .unwrap();
        assert_eq!(none.last_run, None);
        let failed = import_state(
            br#"{"import_id": "a1", "name": "n", "active": true, "last_run": {"status": "failed",
                "rows_total": 3, "rows_imported": "0", "rows_failed": 0,
                "errors": ["Downloading failed: the server answered HTTP 401."]}}"#,
        )
        .unwrap();
        let run = failed.last_run.unwrap();
        assert_eq!(run.state, ImportRunState::Failed);
        assert_eq!((run.rows_total, run.rows_imported), (3, 0));
        assert_eq!(run.errors.len(), 1);
        let odd = import_state(br#"{"id": "b", "last_run": {"status": "paused"}}"#).unwrap();
        assert_eq!(odd.last_run.unwrap().state, ImportRunState::Unknown);
        let done = import_state(
            br#"{"import_id": "c", "last_run": {"status": "finished",
            "rows_imported": 5}}"#,
        )
        .unwrap();
        assert_eq!(done.last_run.unwrap().state, ImportRunState::Finished);
        assert!(import_state(b"[]").is_err());

        let (list, total) = import_list(
            br#"{"data": [{"import_id": "x", "name": "a", "source": {"import_url": "http://h/f"}},
                {"name": "no id"}], "total": 9}"#,
        )
        .unwrap();
        assert_eq!(total, 9);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].import_url.as_deref(), Some("http://h/f"));
    }
}
