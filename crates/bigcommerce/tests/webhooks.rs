//! Webhook envelopes: every official example parses, and resources are derived correctly.

use std::path::PathBuf;

use bigreach_bigcommerce::{ResourceKind, ResourceRef, WebhookEnvelope};
use serde_json::json;

fn examples_dir() -> PathBuf {
    // crates/bigcommerce → workspace root → ../shared (the shared folder sits beside the repo).
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Ok(dir) = std::env::var("BIGREACH_WEBHOOK_EXAMPLES") {
        return PathBuf::from(dir);
    }
    manifest.join("../../../shared/specs/bigcommerce/webhook-callbacks")
}

#[test]
fn every_official_webhook_example_parses() {
    let dir = examples_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "SKIPPED: webhook examples folder {} is absent (set BIGREACH_WEBHOOK_EXAMPLES)",
            dir.display()
        );
        return;
    };
    let mut parsed = 0;
    let mut empty = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if text.trim().is_empty() {
            // The docs ship some examples as empty files (no payload to parse).
            empty.push(path.file_name().unwrap().to_string_lossy().into_owned());
            continue;
        }
        let envelope: WebhookEnvelope = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{} does not parse: {error}", path.display()));
        assert!(envelope.scope.starts_with("store/"), "{}", path.display());
        assert!(!envelope.store_id.is_empty(), "{}", path.display());
        assert!(envelope.created_at > 0, "{}", path.display());
        let resource = envelope.resource();
        let kind_segment = envelope.scope.split('/').nth(1).unwrap_or("");
        let expected = match kind_segment {
            "order" => Some(ResourceKind::Order),
            "customer" => Some(ResourceKind::Customer),
            "product" => Some(ResourceKind::Product),
            "sku" => Some(ResourceKind::Sku),
            "cart" => Some(ResourceKind::Cart),
            _ => None,
        };
        if let Some(kind) = expected {
            let resource =
                resource.unwrap_or_else(|| panic!("{}: no resource derived", path.display()));
            assert_eq!(resource.kind, kind, "{}", path.display());
            assert!(!resource.id.is_empty(), "{}", path.display());
        }
        parsed += 1;
    }
    eprintln!("parsed {parsed} webhook examples; empty example files skipped: {empty:?}");
    assert!(
        parsed >= 30,
        "expected the official examples, parsed only {parsed}"
    );
}

fn envelope(scope: &str, data: serde_json::Value) -> WebhookEnvelope {
    serde_json::from_value(json!({"scope": scope, "store_id": 1025646, "data": data,
        "hash": "h", "created_at": 1561479335, "producer": "stores/abc123"}))
    .unwrap()
}

fn reference(kind: ResourceKind, id: &str, product_id: Option<u64>) -> Option<ResourceRef> {
    Some(ResourceRef {
        kind,
        id: id.to_string(),
        product_id,
    })
}

#[test]
fn resources_are_derived_from_scope_and_data() {
    let integer_store = envelope(
        "store/order/statusUpdated",
        json!({"type": "order", "id": 250,
        "status": {"previous_status_id": 0, "new_status_id": 11}}),
    );
    assert_eq!(integer_store.store_id, "1025646");
    assert_eq!(
        integer_store.resource(),
        reference(ResourceKind::Order, "250", None)
    );
    assert_eq!(
        envelope(
            "store/sku/updated",
            json!({"type": "sku", "id": 461,
            "sku": {"product_id": 206, "variant_id": 509}})
        )
        .resource(),
        reference(ResourceKind::Sku, "509", Some(206))
    );
    assert_eq!(
        envelope("store/sku/inventory/updated", json!({"type": "sku", "id": 880,
            "inventory": {"product_id": 311, "variant_id": 1207, "method": "relative", "value": -2}}))
        .resource(),
        reference(ResourceKind::Sku, "1207", Some(311))
    );
    assert_eq!(
        envelope(
            "store/cart/lineItem/created",
            json!({"type": "cart_line_item",
            "id": "743b", "cartId": "b038"})
        )
        .resource(),
        reference(ResourceKind::Cart, "b038", None)
    );
    assert_eq!(
        envelope(
            "store/cart/abandoned",
            json!({"type": "cart", "id": "0934", "token": "t"})
        )
        .resource(),
        reference(ResourceKind::Cart, "0934", None)
    );
    assert_eq!(
        envelope(
            "store/customer/address/updated",
            json!({"type": "customer", "id": 60,
            "address": {"customer_id": 32}})
        )
        .resource(),
        reference(ResourceKind::Customer, "32", None)
    );
    assert_eq!(
        envelope(
            "store/order/transaction/created",
            json!({"type": "transaction",
            "order_id": "250", "transaction_id": "x"})
        )
        .resource(),
        reference(ResourceKind::Order, "250", None)
    );
    assert_eq!(
        envelope("store/channel/1/order/created", json!({"order_id": 127})).resource(),
        reference(ResourceKind::Order, "127", None)
    );
    assert_eq!(
        envelope(
            "store/channel/*/inventory/product/stock_changed",
            json!({"variant_id": 5, "product_id": 6, "location_id": 1})
        )
        .resource(),
        reference(ResourceKind::Sku, "5", Some(6))
    );
    assert_eq!(
        envelope(
            "store/category/deleted",
            json!({"type": "category", "id": "42"})
        )
        .resource(),
        reference(ResourceKind::Other, "42", None)
    );
    assert_eq!(
        envelope("store/information/updated", json!({"type": "store"})).resource(),
        None
    );
}
