//! Carts (`GET /v3/carts/{id}`, reference §7.2). A guest's cart carries the email typed at
//! checkout, which identifies the shopper before any order exists.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::wire_format::{self, null_as_default};

/// A cart's currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CartCurrency {
    /// ISO 4217 code: the cart's transactional currency.
    #[serde(default, deserialize_with = "null_as_default")]
    pub code: String,
}

/// One cart line (physical or digital).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    /// Line id (UUID).
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, with = "wire_format::id")]
    pub product_id: u64,
    #[serde(default, with = "wire_format::optional_id")]
    pub variant_id: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "wire_format::count::deserialize")]
    pub quantity: u32,
    /// Unit price after discounts, before tax.
    #[serde(default, with = "wire_format::decimal")]
    pub sale_price: Decimal,
    /// `sale_price × quantity`.
    #[serde(default, with = "wire_format::decimal")]
    pub extended_sale_price: Decimal,
}

/// The cart's lines by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CartLines {
    #[serde(default, deserialize_with = "null_as_default")]
    pub physical_items: Vec<CartLine>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub digital_items: Vec<CartLine>,
}

/// A cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// Cart id (UUID).
    pub id: String,
    /// `0` for a guest.
    #[serde(default, with = "wire_format::id")]
    pub customer_id: u64,
    /// Empty until the shopper types it at checkout.
    #[serde(default, deserialize_with = "null_as_default")]
    pub email: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub currency: CartCurrency,
    /// After cart-level discounts and coupons.
    #[serde(default, with = "wire_format::decimal")]
    pub cart_amount: Decimal,
    #[serde(default, deserialize_with = "null_as_default")]
    pub line_items: CartLines,
    #[serde(default, deserialize_with = "null_as_default")]
    pub locale: String,
    #[serde(with = "wire_format::datetime")]
    pub created_time: DateTime<Utc>,
    #[serde(with = "wire_format::datetime")]
    pub updated_time: DateTime<Utc>,
}

impl Cart {
    /// Every line, physical then digital.
    pub fn lines(&self) -> impl Iterator<Item = &CartLine> {
        self.line_items
            .physical_items
            .iter()
            .chain(&self.line_items.digital_items)
    }
}
