//! Decoding of BigCommerce REST response bodies, as pure functions of the status and the bytes.
//!
//! [`BigCommerceClient`](crate::BigCommerceClient) calls these for every response it reads, and
//! `crates/fuzz` runs them on arbitrary bytes; they build without the `client` feature. A body
//! that does not have the documented shape is [`BigCommerceError::Decode`], never a panic.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{excerpt, BigCommerceError};
use crate::order::{line_items_from_consignments, Order, OrderProduct};
use crate::store::{Currency, StoreInformation};
use crate::{Cart, Customer, CustomerGroup, Hook, Product};

/// The longest excerpt of an error body kept in an error message, in characters.
pub const ERROR_EXCERPT_CHARS: usize = 300;

/// One page of a v3 list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub current_page: u32,
    pub total_pages: u32,
}

impl<T> Page<T> {
    /// Whether a later page exists.
    pub fn has_next(&self) -> bool {
        self.current_page < self.total_pages
    }
}

#[derive(Deserialize)]
struct V3Envelope<T> {
    data: T,
    #[serde(default)]
    meta: Option<V3Meta>,
}

#[derive(Deserialize, Default)]
struct V3Meta {
    #[serde(default)]
    pagination: Option<V3Pagination>,
}

#[derive(Deserialize, Default)]
struct V3Pagination {
    #[serde(default)]
    current_page: Option<u32>,
    #[serde(default)]
    total_pages: Option<u32>,
}

/// A v2 order as decoded from one response, before its line items are complete.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedOrder {
    /// The order; `line_items` holds the consignments' line items when they were complete.
    pub order: Order,
    /// Whether `order.line_items` is complete; when not, the caller fetches
    /// `GET /v2/orders/{id}/products`.
    pub line_items_complete: bool,
}

/// Any JSON body of type `T`; `what` names it in the error.
pub fn json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, BigCommerceError> {
    serde_json::from_slice(body).map_err(|source| BigCommerceError::Decode {
        what: what.to_string(),
        source,
    })
}

/// A v2 list: a bare array; 204 or an empty body means no rows.
pub fn v2_list<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
    what: &str,
) -> Result<Vec<T>, BigCommerceError> {
    if no_rows(status, body) {
        return Ok(Vec::new());
    }
    json(body, what)
}

/// Whether a v2 list answer holds no rows: 204, or an empty or blank body.
fn no_rows(status: u16, body: &[u8]) -> bool {
    status == 204 || body.iter().all(u8::is_ascii_whitespace)
}

/// A v3 list page (`{"data": [...], "meta": {"pagination": ...}}`); 204 or an empty body is an
/// empty last page. `requested_page` fills in absent pagination.
pub fn v3_page<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
    requested_page: u32,
    what: &str,
) -> Result<Page<T>, BigCommerceError> {
    if body.is_empty() || status == 204 {
        return Ok(Page {
            items: Vec::new(),
            current_page: requested_page.max(1),
            total_pages: requested_page.max(1),
        });
    }
    let envelope: V3Envelope<Option<Vec<T>>> = json(body, what)?;
    let pagination = envelope
        .meta
        .and_then(|meta| meta.pagination)
        .unwrap_or_default();
    let current_page = pagination.current_page.unwrap_or(requested_page.max(1));
    Ok(Page {
        items: envelope.data.unwrap_or_default(),
        current_page,
        total_pages: pagination.total_pages.unwrap_or(current_page),
    })
}

/// A v3 single-object body (`{"data": {...}}`).
pub fn v3_object<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, BigCommerceError> {
    let envelope: V3Envelope<T> = json(body, what)?;
    Ok(envelope.data)
}

/// `GET /v2/store`.
pub fn store_information(body: &[u8]) -> Result<StoreInformation, BigCommerceError> {
    json(body, "store information (v2/store)")
}

/// `GET /v2/currencies`.
pub fn currencies(status: u16, body: &[u8]) -> Result<Vec<Currency>, BigCommerceError> {
    v2_list(status, body, "currencies (v2/currencies)")
}

/// One page of `GET /v2/customer_groups`.
pub fn customer_groups(status: u16, body: &[u8]) -> Result<Vec<CustomerGroup>, BigCommerceError> {
    v2_list(status, body, "customer groups (v2/customer_groups)")
}

/// One v2 order object: the order, with the line items its `consignments` carry when they are
/// complete (see [`DecodedOrder::line_items_complete`]). It is decoded from its text straight into
/// the typed order (no JSON tree of the whole order is built, so a listing page of 250 orders
/// reads in a fraction of the time), and once more for its `consignments` only.
fn order_text(raw: &serde_json::value::RawValue) -> Result<DecodedOrder, BigCommerceError> {
    /// The order's `consignments`, every other field skipped.
    #[derive(Deserialize)]
    struct Consignments {
        #[serde(default)]
        consignments: Option<serde_json::Value>,
    }
    let order: Order = json(raw.get().as_bytes(), "order (v2)")?;
    let Consignments { consignments } = json(raw.get().as_bytes(), "order consignments (v2)")?;
    Ok(with_line_items(order, consignments.as_ref()))
}

fn with_line_items(mut order: Order, consignments: Option<&serde_json::Value>) -> DecodedOrder {
    match line_items_from_consignments(consignments, order.items_total) {
        Some(items) => {
            order.line_items = items;
            DecodedOrder {
                order,
                line_items_complete: true,
            }
        }
        None => DecodedOrder {
            order,
            line_items_complete: false,
        },
    }
}

/// `GET /v2/orders/{id}`: `None` for an empty body.
pub fn order(body: &[u8]) -> Result<Option<DecodedOrder>, BigCommerceError> {
    if body.is_empty() {
        return Ok(None);
    }
    let raw: Box<serde_json::value::RawValue> = json(body, "order (v2/orders/{id})")?;
    order_text(&raw).map(Some)
}

/// One page of `GET /v2/orders`.
pub fn order_page(status: u16, body: &[u8]) -> Result<Vec<DecodedOrder>, BigCommerceError> {
    if no_rows(status, body) {
        return Ok(Vec::new());
    }
    let raws: Vec<&serde_json::value::RawValue> =
        serde_json::from_slice(body).map_err(|source| BigCommerceError::Decode {
            what: "orders (v2/orders)".to_string(),
            source,
        })?;
    raws.into_iter().map(order_text).collect()
}

/// One page of `GET /v2/orders/{id}/products`.
pub fn order_products(status: u16, body: &[u8]) -> Result<Vec<OrderProduct>, BigCommerceError> {
    v2_list(status, body, "order products (v2/orders/{id}/products)")
}

/// One page of `GET /v3/customers`.
pub fn customers_page(
    status: u16,
    body: &[u8],
    requested_page: u32,
) -> Result<Page<Customer>, BigCommerceError> {
    v3_page(status, body, requested_page, "customers (v3/customers)")
}

/// One page of `GET /v3/catalog/products` (with variants).
pub fn products_page(
    status: u16,
    body: &[u8],
    requested_page: u32,
) -> Result<Page<Product>, BigCommerceError> {
    v3_page(
        status,
        body,
        requested_page,
        "products (v3/catalog/products)",
    )
}

/// `GET /v3/carts/{id}`.
pub fn cart(body: &[u8]) -> Result<Cart, BigCommerceError> {
    v3_object(body, "cart (v3/carts/{id})")
}

/// One page of `GET /v3/hooks`.
pub fn hooks_page(
    status: u16,
    body: &[u8],
    requested_page: u32,
) -> Result<Page<Hook>, BigCommerceError> {
    v3_page(status, body, requested_page, "hooks (v3/hooks)")
}

/// An error response's body as it appears in an error message: lossy UTF-8, control
/// characters blanked, at most [`ERROR_EXCERPT_CHARS`] characters.
pub fn error_excerpt(body: &[u8]) -> String {
    excerpt(&String::from_utf8_lossy(body), ERROR_EXCERPT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_pages_fill_in_absent_pagination_and_empty_bodies() {
        let page: Page<Hook> = v3_page(204, b"", 3, "hooks").unwrap();
        assert_eq!(
            (page.items.len(), page.current_page, page.total_pages),
            (0, 3, 3)
        );
        let page: Page<Hook> = v3_page(200, br#"{"data": null}"#, 2, "hooks").unwrap();
        assert_eq!((page.current_page, page.total_pages), (2, 2));
        let page: Page<Hook> = v3_page(
            200,
            br#"{"data": [], "meta": {"pagination": {"current_page": 1, "total_pages": 4}}}"#,
            1,
            "hooks",
        )
        .unwrap();
        assert!(page.has_next());
        assert!(matches!(
            v3_page::<Hook>(200, b"{", 1, "hooks"),
            Err(BigCommerceError::Decode { .. })
        ));
    }

    #[test]
    fn v2_lists_read_204_and_blank_bodies_as_empty() {
        assert!(currencies(204, b"garbage").unwrap().is_empty());
        assert!(currencies(200, b" \n").unwrap().is_empty());
        assert!(currencies(200, b"{}").is_err());
    }

    #[test]
    fn an_order_without_complete_consignments_says_so() {
        let body = br#"{"id": 7, "date_created": "Tue, 14 May 2024 09:34:00 +0000",
            "date_modified": "2024-05-14T09:34:00Z", "items_total": 1,
            "consignments": {"shipping": [{"line_items": [{"url": "x", "resource": "y"}]}]}}"#;
        let decoded = order(body).unwrap().unwrap();
        assert_eq!(decoded.order.id, 7);
        assert!(!decoded.line_items_complete);
        assert!(order(b"").unwrap().is_none());
    }

    #[test]
    fn error_excerpts_are_one_bounded_line() {
        let body = format!("bad\nline\u{1b}[31m{}", "x".repeat(1000));
        let shown = error_excerpt(body.as_bytes());
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown.chars().count(), ERROR_EXCERPT_CHARS + 1);
        assert_eq!(error_excerpt(b"\xff\xfe"), "\u{fffd}\u{fffd}");
    }
}
