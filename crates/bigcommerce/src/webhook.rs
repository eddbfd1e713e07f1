//! Webhook deliveries (the envelope BigCommerce POSTs to us) and hook management types
//! (`/v3/hooks`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wire_format::{self, null_as_default};

/// The body of a webhook delivery. `data` is lightweight (ids only): fetch the resource via REST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEnvelope {
    pub scope: String,
    /// Numeric store id; current docs send a string, older ones a JSON integer.
    #[serde(default, with = "wire_format::string_or_number")]
    pub store_id: String,
    #[serde(default)]
    pub data: Value,
    /// SHA-1 of the payload data; identical for duplicate deliveries: the dedupe key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hash: String,
    /// Unix seconds.
    #[serde(default, deserialize_with = "created_at")]
    pub created_at: i64,
    /// `stores/{store_hash}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub producer: String,
}

fn created_at<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    wire_format::signed::deserialize(deserializer)
}

/// What kind of resource a webhook is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceKind {
    Order,
    Customer,
    Product,
    /// A variant; [`ResourceRef::id`] is the variant id, `product_id` its product.
    Sku,
    /// [`ResourceRef::id`] is the cart UUID.
    Cart,
    Other,
}

/// The resource a webhook points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRef {
    pub kind: ResourceKind,
    /// Order/customer/product id, variant id for [`ResourceKind::Sku`], cart UUID for carts.
    pub id: String,
    /// The parent product of a SKU/variant event, or the product of an inventory event.
    pub product_id: Option<u64>,
}

impl WebhookEnvelope {
    /// The resource this event concerns, derived from `scope` and `data`.
    ///
    /// - `store/order/*` → Order (`data.id`, or `order_id`/`resource_id` for transaction and
    ///   metafield events).
    /// - `store/customer/*` → Customer; for address events the customer is
    ///   `data.address.customer_id`, not `data.id` (the address id).
    /// - `store/product/*` → Product (`data.id`, `inventory.product_id` or `resource_id`).
    /// - `store/sku/*` → Sku with the variant id from `data.sku.variant_id` or
    ///   `data.inventory.variant_id`, and the product id. `None` if no variant id is present
    ///   (`data.id` is the legacy SKU id, which is not a variant id).
    /// - `store/cart/*` → Cart with the cart UUID (`data.cartId` for line-item events).
    /// - `store/channel/{id}/order|cart/...` → as above, from `order_id`/`cart_id`.
    /// - `store/channel/{id}/inventory/product/...` → Sku (variant + product) when a variant id
    ///   is present, else Product.
    /// - anything else → Other with `data.id` when there is one; `None` without an id.
    pub fn resource(&self) -> Option<ResourceRef> {
        let segments: Vec<&str> = self.scope.split('/').collect();
        let mut rest: &[&str] = segments.get(1..).unwrap_or(&[]);
        // store/channel/{channel_id|*}/<kind>/...
        if rest.first() == Some(&"channel")
            && rest
                .get(1)
                .is_some_and(|id| *id == "*" || id.chars().all(|c| c.is_ascii_digit()))
            && rest.len() > 2
        {
            rest = &rest[2..];
        }
        let data = &self.data;
        match rest.first().copied().unwrap_or("") {
            "order" => first_id(data, &[&["id"], &["order_id"], &["resource_id"]])
                .map(|id| reference(ResourceKind::Order, id, None)),
            "customer" => first_id(
                data,
                &[&["address", "customer_id"], &["customer_id"], &["id"]],
            )
            .map(|id| reference(ResourceKind::Customer, id, None)),
            "product" if rest.get(1) == Some(&"variant") => {
                first_id(data, &[&["variant_id"], &["resource_id"]]).map(|id| {
                    let product = first_u64(data, &[&["product_id"]]);
                    reference(ResourceKind::Sku, id, product)
                })
            }
            "product" => first_id(
                data,
                &[
                    &["id"],
                    &["product_id"],
                    &["inventory", "product_id"],
                    &["resource_id"],
                ],
            )
            .map(|id| reference(ResourceKind::Product, id, None)),
            "sku" => {
                let variant = first_id(
                    data,
                    &[
                        &["sku", "variant_id"],
                        &["inventory", "variant_id"],
                        &["variant_id"],
                    ],
                )?;
                let product = first_u64(
                    data,
                    &[
                        &["sku", "product_id"],
                        &["inventory", "product_id"],
                        &["product_id"],
                    ],
                );
                Some(reference(ResourceKind::Sku, variant, product))
            }
            "cart" => first_id(data, &[&["cartId"], &["cart_id"], &["id"]])
                .map(|id| reference(ResourceKind::Cart, id, None)),
            "inventory" if rest.get(1) == Some(&"product") => {
                let product = first_u64(data, &[&["product_id"]]);
                match first_id(data, &[&["variant_id"]]) {
                    Some(variant) => Some(reference(ResourceKind::Sku, variant, product)),
                    None => {
                        product.map(|id| reference(ResourceKind::Product, id.to_string(), None))
                    }
                }
            }
            _ => first_id(data, &[&["id"]]).map(|id| reference(ResourceKind::Other, id, None)),
        }
    }
}

/// Why a webhook body is not an envelope the receiver accepts ([`WebhookEnvelope::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON of the envelope's shape. Only the position is kept: serde_json's message can
    /// quote the content, which may hold anything.
    #[error("malformed webhook JSON at line {line}, column {column}")]
    Malformed { line: usize, column: usize },
    /// The envelope's `scope` is absent or blank.
    #[error("the webhook envelope has no scope")]
    NoScope,
}

/// Why an envelope names another store ([`WebhookEnvelope::check_store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherStore {
    /// `producer` is not `stores/{our hash}`.
    Producer,
    /// `store_id` is not our numeric store id.
    StoreId,
}

impl WebhookEnvelope {
    /// Parses and validates a delivery's body: JSON of the envelope's shape with a non-blank
    /// `scope`. What the receiver runs on every body (and `crates/fuzz` on arbitrary bytes).
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let envelope: WebhookEnvelope =
            serde_json::from_slice(body).map_err(|error| EnvelopeError::Malformed {
                line: error.line(),
                column: error.column(),
            })?;
        if envelope.scope.trim().is_empty() {
            return Err(EnvelopeError::NoScope);
        }
        Ok(envelope)
    }

    /// Whether this envelope is for the store with `hash` and, once known, the numeric
    /// `store_id`.
    ///
    /// A present `producer` must be exactly `stores/{hash}`, and a present `store_id` must be
    /// ours when we know it. An absent `producer` is not taken as another store: every envelope
    /// BigCommerce documents carries it, the shared secret already authenticates the sender, and
    /// refusing would lose real deliveries if some event ever came without it; such an envelope
    /// is judged by `store_id` alone.
    pub fn check_store(&self, hash: &str, store_id: Option<&str>) -> Result<(), OtherStore> {
        let producer = self.producer.trim();
        if !producer.is_empty() && producer.strip_prefix("stores/") != Some(hash) {
            return Err(OtherStore::Producer);
        }
        let theirs = self.store_id.trim();
        if let Some(ours) = store_id {
            if !theirs.is_empty() && theirs != ours {
                return Err(OtherStore::StoreId);
            }
        }
        Ok(())
    }

    /// The resource BigReach re-fetches for this delivery, if it follows the scope: always of
    /// kind [`ResourceKind::Order`], [`ResourceKind::Customer`], [`ResourceKind::Product`] or
    /// [`ResourceKind::Cart`], with the id as sent (the caller checks it for its kind).
    ///
    /// `None` for deletions, archived and converted carts (deletions are handled by catalog
    /// drift and GDPR work, and a converted cart is gone: its order arrives on its own), for
    /// scopes BigReach does not follow, and for variant events without a positive product id; a
    /// variant event re-fetches its product.
    pub fn followed_resource(&self) -> Option<ResourceRef> {
        if self.scope.ends_with("/deleted")
            || self.scope.ends_with("/archived")
            || self.scope.ends_with("/converted")
        {
            return None;
        }
        let resource = self.resource()?;
        match resource.kind {
            ResourceKind::Order
            | ResourceKind::Customer
            | ResourceKind::Product
            | ResourceKind::Cart => Some(resource),
            ResourceKind::Sku => resource
                .product_id
                .filter(|id| *id > 0)
                .map(|id| reference(ResourceKind::Product, id.to_string(), None)),
            ResourceKind::Other => None,
        }
    }
}

fn reference(kind: ResourceKind, id: String, product_id: Option<u64>) -> ResourceRef {
    ResourceRef {
        kind,
        id,
        product_id,
    }
}

fn lookup<'a>(data: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(data, |value, key| value.get(key))
}

/// The first present, non-empty id at any of `paths`, as a string (ints and strings accepted).
fn first_id(data: &Value, paths: &[&[&str]]) -> Option<String> {
    paths.iter().find_map(|path| match lookup(data, path)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    })
}

fn first_u64(data: &Value, paths: &[&[&str]]) -> Option<u64> {
    paths.iter().find_map(|path| {
        wire_format::id_from_value(lookup(data, path)?)
            .ok()
            .flatten()
    })
}

/// A registered webhook (`/v3/hooks`). Only hooks of the calling API account are visible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub scope: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub destination: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_active: bool,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "wire_format::signed::deserialize")]
    pub created_at: i64,
    /// Unix seconds.
    #[serde(default, deserialize_with = "wire_format::signed::deserialize")]
    pub updated_at: i64,
}

/// Body of `POST /v3/hooks`. The destination must be HTTPS on port 443.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewHook {
    pub scope: String,
    pub destination: String,
    pub is_active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

/// Body of `PUT /v3/hooks/{id}`: a partial update; only `Some` fields are sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HookUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_refuses_malformed_json_by_position_and_a_blank_scope() {
        assert_eq!(
            WebhookEnvelope::parse(b"{\n \"scope\": "),
            Err(EnvelopeError::Malformed {
                line: 2,
                column: 10
            })
        );
        assert_eq!(
            WebhookEnvelope::parse(br#"{"scope": "  ", "data": {"id": 1}}"#),
            Err(EnvelopeError::NoScope)
        );
        let envelope =
            WebhookEnvelope::parse(br#"{"scope": "store/order/created", "store_id": 1001}"#)
                .unwrap();
        assert_eq!(envelope.store_id, "1001");
    }

    #[test]
    fn the_store_check_takes_producer_then_a_known_store_id() {
        let envelope = |producer: &str, store_id: &str| WebhookEnvelope {
            scope: "store/order/created".into(),
            store_id: store_id.into(),
            data: Value::Null,
            hash: String::new(),
            created_at: 0,
            producer: producer.into(),
        };
        assert_eq!(envelope("stores/abc", "").check_store("abc", None), Ok(()));
        assert_eq!(envelope("", "7").check_store("abc", Some("7")), Ok(()));
        assert_eq!(
            envelope("stores/abcd", "").check_store("abc", None),
            Err(OtherStore::Producer)
        );
        assert_eq!(
            envelope("stores/abc", "8").check_store("abc", Some("7")),
            Err(OtherStore::StoreId)
        );
        assert_eq!(envelope("stores/abc", "8").check_store("abc", None), Ok(()));
    }

    #[test]
    fn followed_resources_skip_deletions_and_turn_variants_into_their_product() {
        let followed = |scope: &str, data: Value| {
            WebhookEnvelope {
                scope: scope.into(),
                store_id: String::new(),
                data,
                hash: String::new(),
                created_at: 0,
                producer: String::new(),
            }
            .followed_resource()
        };
        let order = followed("store/order/updated", serde_json::json!({"id": 5})).unwrap();
        assert_eq!((order.kind, order.id.as_str()), (ResourceKind::Order, "5"));
        assert_eq!(
            followed("store/order/archived", serde_json::json!({"id": 5})),
            None
        );
        assert_eq!(
            followed("store/cart/converted", serde_json::json!({"id": "c"})),
            None
        );
        let sku = serde_json::json!({"sku": {"variant_id": 9, "product_id": 3}});
        let product = followed("store/sku/updated", sku).unwrap();
        assert_eq!(
            (product.kind, product.id.as_str()),
            (ResourceKind::Product, "3")
        );
        let orphan = serde_json::json!({"sku": {"variant_id": 9, "product_id": 0}});
        assert_eq!(followed("store/sku/updated", orphan), None);
        assert_eq!(
            followed("store/app/uninstalled", serde_json::json!({"id": 1})),
            None
        );
    }
}
