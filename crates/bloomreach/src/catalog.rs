//! Catalog types (`/data/v2/projects/{token}/catalogs…`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::commands::{error_strings, lenient_bool};

/// A catalog column definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogField {
    pub name: String,
    /// `string` (default), `long text`, `number`, `boolean`, `date`, `datetime`, `duration`,
    /// `list`, `url`, `json`.
    #[serde(rename = "type")]
    pub field_type: String,
    /// Indexed; needed for filtering in recommendations (keep ≤ 20 per catalog).
    #[serde(default)]
    pub searchable: bool,
}

/// An existing catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSummary {
    pub id: String,
    pub name: String,
}

/// One item of a bulk partial update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogItemUpdate {
    /// Must not contain `/`.
    pub item_id: String,
    /// Only declared catalog fields are accepted.
    pub properties: Map<String, Value>,
    /// Create the item if it does not exist.
    pub upsert: bool,
}

/// The per-item outcome of a bulk partial update (same order as the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogItemResult {
    pub item_id: String,
    pub success: bool,
    /// Catalog writes are queued, not visible at once.
    pub queued: bool,
    pub errors: Vec<String>,
}

impl CatalogItemResult {
    pub(crate) fn from_value(item_id: &str, value: &Value) -> Self {
        Self {
            item_id: value
                .get("item_id")
                .and_then(Value::as_str)
                .unwrap_or(item_id)
                .to_string(),
            success: lenient_bool(value.get("success")).unwrap_or(false),
            queued: lenient_bool(value.get("queued")).unwrap_or(false),
            errors: error_strings(value.get("errors").unwrap_or(&Value::Null)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_results_accept_booleans_and_strings() {
        let ok = CatalogItemResult::from_value("1", &json!({"success": "True", "queued": "True"}));
        assert!(ok.success && ok.queued && ok.errors.is_empty());
        let failed = CatalogItemResult::from_value(
            "2",
            &json!({"success": false, "queued": false,
                    "errors": {"properties": ["Fields [x] are not properly defined."]}}),
        );
        assert!(!failed.success && !failed.queued);
        assert_eq!(
            failed.errors,
            vec!["properties: Fields [x] are not properly defined.".to_string()]
        );
    }
}
