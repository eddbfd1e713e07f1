//! System entries that make the log cover configuration and delivery, not only operator
//! actions: the configuration an appliance started with (by its hash: the config holds only
//! secret references, and the hash is of those), and a daily delivery summary.

use sha2::{Digest, Sha256};

use super::{CONFIG_LOADED, DELIVERY_DAILY};
use crate::config::Config;
use crate::model::AuditRecord;
use crate::store::{Store, StoreError};

/// The SHA-256 (hex) of the configuration's canonical JSON (RFC 8785).
pub fn config_hash(config: &Config) -> String {
    // Plain JSON if JCS refused a value (a float it cannot write): still a stable hash.
    let bytes = serde_jcs::to_vec(config)
        .or_else(|_| serde_json::to_vec(config))
        .unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

fn last_detail(store: &Store, action: &str) -> Result<Option<serde_json::Value>, StoreError> {
    Ok(store
        .audit_log()?
        .into_iter()
        .rev()
        .find(|r| r.action == action)
        .and_then(|r| serde_json::from_str(&r.detail).ok()))
}

/// Appends `config.loaded` with the configuration's hash and whether it changed since the
/// last one.
pub fn record_config(
    store: &Store,
    config: &Config,
    at_ms: i64,
) -> Result<AuditRecord, StoreError> {
    let hash = config_hash(config);
    let previous = last_detail(store, CONFIG_LOADED)?.and_then(|d| {
        d.get("config_sha256")
            .and_then(|h| h.as_str())
            .map(str::to_owned)
    });
    store.audit(
        at_ms,
        "system",
        CONFIG_LOADED,
        &serde_json::json!({
            "config_sha256": hash,
            "config_version": config.version,
            "changed": previous.as_deref().map(|p| p != hash),
            "previous_sha256": previous,
        }),
    )
}

/// Appends `delivery.daily_summary`: what the outbox holds now (enqueued, delivered, dead
/// letters, pending per lane, set aside) and how much of it came since the last summary.
pub fn record_delivery_summary(
    store: &Store,
    at_ms: i64,
    actor: &str,
) -> Result<AuditRecord, StoreError> {
    let counts = store.counts()?;
    let previous = last_detail(store, DELIVERY_DAILY)?;
    let since = |field: &str, now: u64| {
        previous
            .as_ref()
            .and_then(|d| d.get(field).and_then(serde_json::Value::as_u64))
            .map(|before| now.saturating_sub(before))
    };
    store.audit(
        at_ms,
        actor,
        DELIVERY_DAILY,
        &serde_json::json!({
            "enqueued": counts.enqueued,
            "delivered": counts.delivered,
            "dead_letters": counts.dead_letters,
            "set_aside": counts.set_aside,
            "pending": counts.outbox_pending,
            "enqueued_since_last": since("enqueued", counts.enqueued),
            "delivered_since_last": since("delivered", counts.delivered),
            "dead_letters_since_last": since("dead_letters", counts.dead_letters),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_is_recorded_by_hash_and_a_change_is_marked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
        let mut config =
            Config::from_toml(Config::default_toml(), std::path::Path::new("x.toml")).unwrap();
        let first = record_config(&store, &config, 1).unwrap();
        let second = record_config(&store, &config, 2).unwrap();
        config.bloomreach.requests_per_second += 1;
        let third = record_config(&store, &config, 3).unwrap();
        let detail =
            |r: &AuditRecord| serde_json::from_str::<serde_json::Value>(&r.detail).unwrap();
        assert_eq!(detail(&first)["changed"], serde_json::Value::Null);
        assert_eq!(detail(&second)["changed"], serde_json::json!(false));
        assert_eq!(detail(&third)["changed"], serde_json::json!(true));
        assert_ne!(
            detail(&third)["config_sha256"],
            detail(&first)["config_sha256"]
        );
        // The secret references are hashed, never resolved: no secret value can be in it.
        assert!(!first.detail.contains("env:"));
    }

    #[test]
    fn the_daily_summary_counts_what_came_since_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
        let first = record_delivery_summary(&store, 1, "system (daily)").unwrap();
        let detail: serde_json::Value = serde_json::from_str(&first.detail).unwrap();
        assert_eq!(detail["delivered"], serde_json::json!(0));
        assert_eq!(detail["delivered_since_last"], serde_json::Value::Null);
        let second = record_delivery_summary(&store, 2, "system (daily)").unwrap();
        let detail: serde_json::Value = serde_json::from_str(&second.detail).unwrap();
        assert_eq!(detail["delivered_since_last"], serde_json::json!(0));
    }
}
