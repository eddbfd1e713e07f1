//! Catalog products and variants (v3). Money is JSON numbers on the wire.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::wire_format::{self, null_as_default};

/// A product's storefront URL path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CustomUrl {
    #[serde(default, deserialize_with = "null_as_default")]
    pub url: String,
}

/// A product custom field (`include=custom_fields`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CustomField {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

/// A product image (`include=images`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProductImage {
    #[serde(default, deserialize_with = "null_as_default")]
    pub url_standard: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_thumbnail: bool,
}

/// One option value of a variant (e.g. Color = Blue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct OptionValue {
    #[serde(default, with = "wire_format::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub label: String,
    #[serde(default, with = "wire_format::id")]
    pub option_id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub option_display_name: String,
}

/// A product variant (`include=variants`). Every product has at least one (the base variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, with = "wire_format::id")]
    pub product_id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku: String,
    /// `None` = inherit the product's value.
    #[serde(default, with = "wire_format::optional_decimal")]
    pub price: Option<Decimal>,
    /// `None` = inherit the product's value.
    #[serde(default, with = "wire_format::optional_decimal")]
    pub sale_price: Option<Decimal>,
    /// `None` = inherit the product's value.
    #[serde(default, with = "wire_format::optional_decimal")]
    pub retail_price: Option<Decimal>,
    #[serde(default, with = "wire_format::decimal")]
    pub calculated_price: Decimal,
    #[serde(default, deserialize_with = "wire_format::signed::deserialize")]
    pub inventory_level: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub purchasing_disabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub image_url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub option_values: Vec<OptionValue>,
}

/// A catalog product (v3 `/catalog/products`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    /// `physical` or `digital`.
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub product_type: String,
    #[serde(default, with = "wire_format::decimal")]
    pub price: Decimal,
    /// `0` = no sale.
    #[serde(default, with = "wire_format::decimal")]
    pub sale_price: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub retail_price: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub calculated_price: Decimal,
    #[serde(default, deserialize_with = "null_as_default")]
    pub categories: Vec<u64>,
    #[serde(default, with = "wire_format::id")]
    pub brand_id: u64,
    /// Meaningful only when `inventory_tracking == "product"`.
    #[serde(default, deserialize_with = "wire_format::signed::deserialize")]
    pub inventory_level: i64,
    /// `none`, `product` or `variant`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub inventory_tracking: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_visible: bool,
    /// `available`, `disabled` or `preorder`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub availability: String,
    #[serde(default)]
    pub custom_url: Option<CustomUrl>,
    #[serde(with = "wire_format::datetime")]
    pub date_modified: DateTime<Utc>,
    /// `None` for products with options.
    #[serde(default, with = "wire_format::optional_id")]
    pub base_variant_id: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub variants: Vec<Variant>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: Vec<CustomField>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub images: Vec<ProductImage>,
}
