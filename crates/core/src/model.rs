//! Records the store keeps: inbox entries, snapshots and audit entries, plus the outbox's
//! records re-exported from [`crate::outbox`] (where lanes, destinations, commands and outcomes
//! live). All are encoded with MessagePack (rmp-serde) on disk.

use serde::{Deserialize, Serialize};

pub use crate::outbox::{
    AttemptOutcome, CommandStatus, DeliveryRecord, Destination, Lane, NewCommand, OutboxRecord,
};

/// A BigCommerce resource BigReach follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    /// A v2 order with its line items.
    Order,
    /// A v3 customer.
    Customer,
    /// A v3 product with its variants.
    Product,
    /// A v3 cart.
    Cart,
}

impl ResourceKind {
    /// The prefix used in store keys.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Order => "order",
            ResourceKind::Customer => "customer",
            ResourceKind::Product => "product",
            ResourceKind::Cart => "cart",
        }
    }
}

/// What a webhook asks the enrich stage to fetch. Its ids are typed: numeric ids are `u64`, and a
/// cart id is a [`CartId`], so an id BigCommerce could never answer for is refused where it
/// enters (the receiver, [`FetchTarget::parse`]) and never reaches the fetch queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FetchTarget {
    /// `GET v2/orders/{id}` with line items.
    Order(u64),
    /// `GET v3/customers?id:in=`.
    Customer(u64),
    /// `GET v3/catalog/products?id:in=` with variants.
    Product(u64),
    /// `GET v3/carts/{id}`.
    Cart(CartId),
}

/// The longest cart id accepted (a UUID has 36 characters).
pub const MAX_CART_ID_LEN: usize = 64;

/// A cart id: a UUID in BigCommerce, so 1 to [`MAX_CART_ID_LEN`] ASCII letters, digits and `-`.
/// Stored as its text. Ids from outside go through [`CartId::parse`]; what is read back from
/// the store is taken as written, so that an entry an older version stored (before ids were
/// checked) still reads: the client refuses such an id, and enrich sets it aside.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CartId(String);

impl CartId {
    /// Checks `id`.
    pub fn parse(id: &str) -> Result<Self, InvalidId> {
        let id = id.trim();
        if id.is_empty()
            || id.len() > MAX_CART_ID_LEN
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(InvalidId::new(ResourceKind::Cart, id, "a UUID"));
        }
        Ok(CartId(id.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CartId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An id from outside that is not valid for its kind (a cart id that is not a UUID, an order id
/// that is not a number). It is recorded once, with [`InvalidId::key`], and never fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("the {kind} id {excerpt:?} is not valid (expected {expected}); it cannot be fetched from BigCommerce, so it is set aside: discard it")]
pub struct InvalidId {
    /// What it was meant to name: `order`, `customer`, `product` or `cart`.
    pub kind: String,
    /// The first 64 characters of the id, control characters escaped.
    pub excerpt: String,
    /// What a valid one looks like.
    pub expected: String,
}

impl InvalidId {
    fn new(kind: ResourceKind, id: &str, expected: &str) -> Self {
        let mut excerpt: String = id.chars().take(64).flat_map(char::escape_default).collect();
        if id.chars().count() > 64 {
            excerpt.push('…');
        }
        InvalidId {
            kind: kind.as_str().to_owned(),
            excerpt,
            expected: expected.to_owned(),
        }
    }

    /// The set-aside key it is recorded under, e.g. `cart:not\ a\ uuid…`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.excerpt)
    }
}

impl FetchTarget {
    /// The target for a resource id from outside (a webhook), checked for its kind.
    pub fn parse(kind: ResourceKind, id: &str) -> Result<Self, InvalidId> {
        let numeric = || {
            id.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| InvalidId::new(kind, id, "a positive whole number"))
        };
        Ok(match kind {
            ResourceKind::Order => FetchTarget::Order(numeric()?),
            ResourceKind::Customer => FetchTarget::Customer(numeric()?),
            ResourceKind::Product => FetchTarget::Product(numeric()?),
            ResourceKind::Cart => FetchTarget::Cart(CartId::parse(id)?),
        })
    }

    /// The queue key, e.g. `order:5021`.
    pub fn key(&self) -> String {
        match self {
            FetchTarget::Order(id) => format!("order:{id}"),
            FetchTarget::Customer(id) => format!("customer:{id}"),
            FetchTarget::Product(id) => format!("product:{id}"),
            FetchTarget::Cart(id) => format!("cart:{id}"),
        }
    }

    /// The target for a queue key; `None` when the key names no kind or its id is not valid.
    pub fn from_key(key: &str) -> Option<Self> {
        let (kind, id) = key.split_once(':')?;
        let kind = match kind {
            "order" => ResourceKind::Order,
            "customer" => ResourceKind::Customer,
            "product" => ResourceKind::Product,
            "cart" => ResourceKind::Cart,
            _ => return None,
        };
        FetchTarget::parse(kind, id).ok()
    }

    /// The target for a key the store holds, taken as written (a cart id queued by a version
    /// that did not check ids still names its target, which the client then refuses and enrich
    /// sets aside, instead of lingering in the queue).
    pub fn from_stored_key(key: &str) -> Option<Self> {
        match key.split_once(':') {
            Some(("cart", id)) if !id.is_empty() => Some(FetchTarget::Cart(CartId(id.to_owned()))),
            _ => FetchTarget::from_key(key),
        }
    }
}

/// How an inbox entry arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxSource {
    /// A webhook delivery (a thin notification).
    Webhook,
    /// A full resource from the poller or the backfill.
    Poll,
}

/// The content of an inbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InboxBody {
    /// A webhook notification: what to fetch (if BigReach follows that scope) and the raw body.
    Notification {
        /// The webhook scope, e.g. `store/order/statusUpdated`.
        scope: String,
        /// What to fetch; `None` for scopes recorded but not followed yet, and for an id that
        /// is not valid (then `invalid_id` says why).
        fetch: Option<FetchTarget>,
        /// The resource id the webhook named, when it is not valid for its kind: enrich sets
        /// it aside once, with the reason; it is never fetched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invalid_id: Option<InvalidId>,
    },
    /// A full resource as JSON.
    Resource {
        /// Which kind of resource.
        kind: ResourceKind,
        /// The resource, as the BigCommerce client decoded it, re-encoded as JSON.
        json: Vec<u8>,
    },
}

/// One durable inbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Arrival time at BigReach (ms since epoch, UTC).
    pub received_at_ms: i64,
    /// When BigCommerce says the event happened (ms since epoch, UTC).
    pub event_time_ms: i64,
    /// How it arrived.
    pub source: InboxSource,
    /// The webhook `hash` (dedupe key), if any.
    pub hash: Option<String>,
    /// True for entries of the first full sync (history), which go to the backfill lane.
    pub initial_sync: bool,
    /// The content.
    pub body: InboxBody,
}

/// A snapshot of a resource as last seen, with the fingerprint of what matters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Hash of the fields the mapper reads.
    pub fingerprint: String,
    /// When it was stored.
    pub observed_at_ms: i64,
    /// The resource as JSON.
    pub json: Vec<u8>,
}

/// One entry of the hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When (ms since epoch, UTC).
    pub at_ms: i64,
    /// Who: `system`, `operator` or a component name.
    pub actor: String,
    /// What, e.g. `store.created`, `config.loaded`, `delivery.summary`.
    pub action: String,
    /// Details as JSON text (never secrets).
    pub detail: String,
    /// Hash of the previous record (hex), empty for the first.
    pub prev_hash: String,
    /// SHA-256 over `prev_hash`, seq, time, actor, action and detail (hex).
    pub hash: String,
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn ids_from_outside_are_checked_for_their_kind() {
        assert_eq!(
            FetchTarget::parse(ResourceKind::Order, " 5021 "),
            Ok(FetchTarget::Order(5021))
        );
        for bad in ["", "0", "-3", "12a", "1e3", "99999999999999999999999"] {
            let error = FetchTarget::parse(ResourceKind::Order, bad).unwrap_err();
            assert_eq!(error.kind, "order");
            assert!(
                error.to_string().contains("positive whole number"),
                "{error}"
            );
        }
        let uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
        assert_eq!(
            FetchTarget::parse(ResourceKind::Cart, uuid).unwrap().key(),
            format!("cart:{uuid}")
        );
        let long = "a".repeat(MAX_CART_ID_LEN + 1);
        for bad in ["", "not a uuid", "../etc", &long, "ünïcode"] {
            assert!(
                FetchTarget::parse(ResourceKind::Cart, bad).is_err(),
                "{bad:?}"
            );
        }
        // Keys round-trip, and a key with an invalid id names no target.
        for target in [
            FetchTarget::Product(7),
            FetchTarget::Customer(9),
            FetchTarget::Cart(CartId::parse(uuid).unwrap()),
        ] {
            assert_eq!(FetchTarget::from_key(&target.key()), Some(target));
        }
        assert_eq!(FetchTarget::from_key("cart:not a uuid"), None);
        assert_eq!(FetchTarget::from_key("inbox:17"), None);
    }

    #[test]
    fn an_invalid_id_is_capped_and_escaped_in_its_key_and_message() {
        let id = format!("x\n\u{202e}{}", "y".repeat(10_000));
        let error = CartId::parse(&id).unwrap_err();
        assert!(error.key().chars().count() < 80 * 10);
        assert!(!error.key().contains('\n') && !error.key().contains('\u{202e}'));
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn a_cart_target_is_stored_as_its_text_as_before() {
        // Stores written before cart ids were typed hold the plain string.
        #[derive(Serialize)]
        enum Old {
            Cart(String),
        }
        let old = rmp_serde::to_vec_named(&Old::Cart("3f2504e0".into())).unwrap();
        let read: FetchTarget = rmp_serde::from_slice(&old).unwrap();
        assert_eq!(read, FetchTarget::Cart(CartId::parse("3f2504e0").unwrap()));
        // Even one written before ids were checked still reads (the entry holding it must not
        // become unreadable); the client refuses it and enrich sets it aside.
        let old_bad = rmp_serde::to_vec_named(&Old::Cart("not a uuid".into())).unwrap();
        let read: FetchTarget = rmp_serde::from_slice(&old_bad).unwrap();
        assert_eq!(read.key(), "cart:not a uuid");
    }
}
