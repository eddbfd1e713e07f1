//! Store information (v2 `/store`) and currencies (v2 `/currencies`).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::wire_format::{self, null_as_default};

/// A store currency (v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Currency {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_default: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_transactional: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub currency_code: String,
    #[serde(default, with = "wire_format::decimal")]
    pub currency_exchange_rate: Decimal,
    #[serde(default, deserialize_with = "wire_format::count::deserialize")]
    pub decimal_places: u32,
}

/// The store's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StoreTimezone {
    /// IANA name, e.g. `America/Chicago`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Seconds east of UTC, without DST.
    #[serde(default)]
    pub raw_offset: Option<i64>,
    #[serde(default)]
    pub dst_offset: Option<i64>,
}

/// Store information (v2 `/store`). Lenient: BigCommerce adds fields often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StoreInformation {
    /// The store hash (e.g. `abc123`), not the numeric store id.
    #[serde(default, with = "wire_format::string_or_number")]
    pub id: String,
    /// Numeric store id as used in webhook `store_id` (string form), when present.
    #[serde(default, deserialize_with = "optional_string_or_number")]
    pub store_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub domain: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub secure_url: String,
    /// Default currency code.
    #[serde(default, deserialize_with = "null_as_default")]
    pub currency: String,
    #[serde(default)]
    pub country_code: Option<String>,
    #[serde(default)]
    pub timezone: Option<StoreTimezone>,
    /// Defaults to 1 when absent.
    #[serde(default = "default_channel", with = "wire_format::id")]
    pub default_channel_id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub plan_name: String,
}

fn default_channel() -> u64 {
    1
}

fn optional_string_or_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::String(text) if !text.is_empty() => Some(text),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    })
}
