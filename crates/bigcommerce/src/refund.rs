//! Order refunds (v3 `payment_actions/refunds`, reference §3.9 and §10.5).
//!
//! Amounts are in the order's transactional currency. v3 money arrives as JSON numbers (the spec
//! also shows `requested_amount` as a string); both parse through [`crate::wire_format`].
//! [`decode_refunds`] is the pure decoder of a refund listing body.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::wire_format::{self, null_as_default};

/// One refund of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, with = "wire_format::id")]
    pub order_id: u64,
    /// When the refund was made (UTC).
    #[serde(with = "wire_format::datetime")]
    pub created: DateTime<Utc>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub reason: String,
    /// What was refunded, tax included, in the order's transactional currency.
    #[serde(default, with = "wire_format::decimal")]
    pub total_amount: Decimal,
    /// Tax refunded (can be negative).
    #[serde(default, with = "wire_format::decimal")]
    pub total_tax: Decimal,
    /// Empty for a tax-only adjustment.
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<RefundItem>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub payments: Vec<RefundPayment>,
}

/// One refunded item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundItem {
    /// `PRODUCT`, `GIFT_WRAPPING`, `SHIPPING`, `HANDLING`, `ORDER`, `FEE` (or `TAX`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub item_type: String,
    /// Order-product id (PRODUCT, GIFT_WRAPPING), order-address id (SHIPPING, HANDLING), order
    /// id (ORDER, FEE).
    #[serde(default, with = "wire_format::id")]
    pub item_id: u64,
    /// Units refunded; PRODUCT only.
    #[serde(default, with = "wire_format::optional_id")]
    pub quantity: Option<u64>,
    /// The amount asked for (amount-bound items); `None` for quantity-bound ones.
    #[serde(default, with = "wire_format::optional_decimal")]
    pub requested_amount: Option<Decimal>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub reason: String,
}

impl RefundItem {
    /// A refunded product line (`item_id` is then an order-product id).
    pub fn is_product(&self) -> bool {
        self.item_type.eq_ignore_ascii_case("PRODUCT")
    }
}

/// How a refund was paid back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundPayment {
    #[serde(default, with = "wire_format::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub provider_id: String,
    #[serde(default, with = "wire_format::decimal")]
    pub amount: Decimal,
    #[serde(default, deserialize_with = "null_as_default")]
    pub offline: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_declined: bool,
}

/// A refund listing body (`{"data": [...], "meta": {...}}`) → its refunds. An empty body (204)
/// or a `null` data is no refunds. Pure: no I/O.
pub fn decode_refunds(body: &[u8]) -> Result<Vec<Refund>, serde_json::Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        data: Option<Vec<Refund>>,
    }
    let envelope: Envelope = serde_json::from_slice(body)?;
    Ok(envelope.data.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// Reference §10.5, verbatim.
    const HOODIE: &str = r#"{
      "data": [
        {
          "id": 44,
          "order_id": 5021,
          "user_id": 3,
          "created": "2025-03-09T10:20:00+00:00",
          "reason": "Wrong size",
          "total_amount": 64.8,
          "total_tax": 10.8,
          "uses_merchant_override_values": false,
          "items": [ { "item_type": "PRODUCT", "item_id": 9102, "quantity": 1, "requested_amount": null, "reason": "Wrong size" } ],
          "payments": [ { "id": 51, "provider_id": "stripev3", "amount": 64.8, "offline": false,
                          "is_declined": false, "declined_message": "", "transaction_id": "b1e2..." } ]
        }
      ],
      "meta": {}
    }"#;

    #[test]
    fn the_reference_refund_decodes_exactly() {
        let refunds = decode_refunds(HOODIE.as_bytes()).unwrap();
        assert_eq!(refunds.len(), 1);
        let r = &refunds[0];
        assert_eq!((r.id, r.order_id), (44, 5021));
        assert_eq!(r.created.to_rfc3339(), "2025-03-09T10:20:00+00:00");
        assert_eq!((r.total_amount, r.total_tax), (dec("64.8"), dec("10.8")));
        assert_eq!(r.reason, "Wrong size");
        assert_eq!(r.items.len(), 1);
        assert!(r.items[0].is_product());
        assert_eq!((r.items[0].item_id, r.items[0].quantity), (9102, Some(1)));
        assert_eq!(r.items[0].requested_amount, None);
        assert_eq!(r.payments[0].provider_id, "stripev3");
        assert_eq!(r.payments[0].amount, dec("64.8"));
    }

    #[test]
    fn amount_bound_items_string_amounts_and_empty_bodies() {
        let body = br#"{"data":[{"id":"7","order_id":100,"created":"2026-01-02T03:04:05Z",
            "reason":null,"total_amount":"12.50","total_tax":0,"items":[{"item_type":"ORDER",
            "item_id":100,"requested_amount":"12.50","reason":""}],"payments":null}],"meta":{}}"#;
        let refunds = decode_refunds(body).unwrap();
        assert_eq!(refunds[0].id, 7);
        assert_eq!(refunds[0].total_amount, dec("12.50"));
        assert_eq!(refunds[0].items[0].requested_amount, Some(dec("12.50")));
        assert!(!refunds[0].items[0].is_product());
        assert_eq!(refunds[0].items[0].quantity, None);
        assert!(refunds[0].payments.is_empty());
        assert!(decode_refunds(b"").unwrap().is_empty());
        assert!(decode_refunds(br#"{"data":null,"meta":{}}"#)
            .unwrap()
            .is_empty());
        assert!(
            decode_refunds(br#"{"data":[{"id":1}]}"#).is_err(),
            "created is required"
        );
    }
}
