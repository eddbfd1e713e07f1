//! Parsing of Bloomreach Engagement responses (`bigreach_bloomreach::decode`) and of
//! `Retry-After`: the first byte picks the response, the second sizes the request it answers
//! (commands or catalog items) or the status of an error, the rest is the body.
#![no_main]

use bigreach_bloomreach::decode;
use bigreach_bloomreach::{classify, parse_retry_after, BatchCommand, CatalogItemUpdate};
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fn commands(count: usize) -> Vec<BatchCommand> {
    (0..count)
        .map(|n| BatchCommand {
            command_id: format!("c{n}"),
            name: "customers/events".to_string(),
            data: serde_json::value::RawValue::from_string("{}".to_string()).expect("JSON"),
        })
        .collect()
}

fn items(count: usize) -> Vec<CatalogItemUpdate> {
    (0..count)
        .map(|n| CatalogItemUpdate {
            item_id: format!("{n}"),
            properties: serde_json::Map::new(),
            upsert: true,
        })
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let [which, size, body @ ..] = input else {
        return;
    };
    let count = usize::from(size % 51);
    match which % 8 {
        0 => {
            let sent = commands(count);
            if let Ok(response) = decode::batch_response(&sent, body, Some("r".to_string())) {
                // One result per command, in order; nothing invented.
                assert_eq!(response.results.len(), sent.len());
                for (result, command) in response.results.iter().zip(&sent) {
                    assert_eq!(result.command_id, command.command_id);
                }
                assert_eq!(response.request_id.as_deref(), Some("r"));
            }
        }
        1 => {
            let _ = decode::catalog_list(body);
        }
        2 => {
            let _ = decode::created_catalog_id(body);
        }
        3 => {
            let sent = items(count);
            if let Ok(results) = decode::catalog_bulk_results(&sent, body) {
                assert_eq!(results.len(), sent.len());
            }
        }
        4 => {
            let _ = decode::catalog_items(body);
        }
        5 => {
            let _ = decode::system_time(body);
        }
        6 => {
            let status = 400 + u16::from(*size) % 200;
            let error = decode::error_response(status, body, None, None);
            assert_eq!(
                error.class(),
                classify(status, &String::from_utf8_lossy(body)),
                "{error}"
            );
            let _ = error.to_string();
        }
        _ => {
            let Ok(text) = std::str::from_utf8(body) else {
                return;
            };
            let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            if let Some(wait) = parse_retry_after(text, now) {
                // Seconds are what they say (to the nanosecond a Duration holds).
                if let Ok(seconds) = text.trim().parse::<f64>() {
                    let off = (wait.as_secs_f64() - seconds).abs();
                    assert!(off <= 1e-9 + seconds.abs() * 1e-12, "{text:?} -> {wait:?}");
                }
            }
        }
    }
});
