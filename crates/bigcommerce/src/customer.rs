//! Customers (v3). Dates are ISO-8601.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::order::FormField;
use crate::wire_format::{self, null_as_default};

/// A customer attribute value (`include=attributes`). Join with `/v3/customers/attributes` for
/// the attribute's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CustomerAttribute {
    #[serde(default, with = "wire_format::id")]
    pub attribute_id: u64,
    /// Always a string on the wire; numbers are tolerated.
    #[serde(default, with = "wire_format::string_or_number")]
    pub attribute_value: String,
}

/// A registered customer (v3 `/customers`). Guests are not customers: see `Order::billing_address`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub email: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub first_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub company: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub phone: String,
    /// `0` = no group.
    #[serde(default, with = "wire_format::id")]
    pub customer_group_id: u64,
    #[serde(with = "wire_format::datetime")]
    pub date_created: DateTime<Utc>,
    #[serde(with = "wire_format::datetime")]
    pub date_modified: DateTime<Utc>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub accepts_product_review_abandoned_cart_emails: bool,
    #[serde(default, with = "wire_format::optional_id")]
    pub origin_channel_id: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Vec<CustomerAttribute>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub form_fields: Vec<FormField>,
}

/// A customer group (`GET /v2/customer_groups`; not on every plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerGroup {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
}

/// A customer attribute definition (`GET /v3/customers/attributes`): customers carry only the
/// attribute id and value, so names come from here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerAttributeDefinition {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// `string`, `number` or `date`.
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub attribute_type: String,
}
