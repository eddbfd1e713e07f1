//! Import definitions (reference bloomreach.md §5.3): one per file, a run-once URL import with
//! the file's declared columns, its IDs, and `event_triggers: false`, so that history never
//! starts a scenario. The manual mode writes the same settings without a source, for upload by
//! hand.

use serde_json::{json, Value};

use super::encoding::{ColumnType, CsvSchema, FileKind};

/// Where Bloomreach downloads a file from, with the per-run Basic credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSource {
    /// The file's URL on the appliance's import listener.
    pub url: String,
    /// Basic auth user.
    pub username: String,
    /// Basic auth password (per run; never logged).
    pub password: String,
}

/// The Bloomreach type of a column (the import mapping's `target_type`s: string, text, long
/// text, number, boolean, list): Unix seconds are numbers, JSON objects are text.
fn target_type(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::String => "string",
        ColumnType::Number | ColumnType::Timestamp => "number",
        ColumnType::Boolean => "boolean",
        ColumnType::List => "list",
        ColumnType::Json => "text",
    }
}

/// The definition body for one file. `source` is `None` in manual mode.
pub fn definition(
    schema: &CsvSchema,
    file_name: &str,
    catalog_name: &str,
    source: Option<&UrlSource>,
) -> Value {
    let id_mappings: Vec<Value> = schema
        .columns
        .iter()
        .filter(|c| c.customer_id)
        .map(|c| json!({"from_column": c.name, "to_id": c.name}))
        .collect();
    let property_mappings: Vec<Value> = schema
        .columns
        .iter()
        .filter(|c| !c.customer_id && c.name != "timestamp")
        .map(|c| {
            json!({"from_column": c.name, "to_column": c.name,
                   "target_type": target_type(c.column_type)})
        })
        .collect();
    let destination = match schema.kind {
        FileKind::Purchases => {
            json!({"event_destination": {"event_type": "purchase", "event_triggers": false}})
        }
        FileKind::PurchaseItems => {
            json!({"event_destination": {"event_type": "purchase_item", "event_triggers": false}})
        }
        FileKind::Customers => json!({"customer_destination": {}}),
        FileKind::CatalogItems => json!({"catalog_destination": {
            "catalog_name": catalog_name, "catalog_attributes": {"catalog_type": "product"}}}),
    };
    let timestamp = schema
        .columns
        .iter()
        .any(|c| c.name == "timestamp")
        .then_some("timestamp");
    let mut body = json!({
        "name": format!("BigReach history {file_name}"),
        "active": true,
        "trigger": {"trigger_type": "now"},
        "mapping": {"tz_info": "UTC", "column_mapping": {
            "id_mappings": id_mappings, "property_mappings": property_mappings}},
        "timestamp_column": timestamp,
        "destination": destination,
    });
    if let Some(source) = source {
        body["source"] = json!({"source_type": "url", "import_url": source.url,
            "use_socks_proxy": false,
            "auth": {"username": source.username, "password": source.password}});
    } else {
        body["file"] = json!(file_name);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_file_maps_ids_timestamp_and_typed_properties_without_triggers() {
        let ids = vec!["customer_id".to_owned(), "email_id".to_owned()];
        let schema = CsvSchema::events(FileKind::Purchases, &ids);
        let body = definition(&schema, "purchases-0001.csv", "products", None);
        assert_eq!(body["timestamp_column"], "timestamp");
        assert_eq!(
            body["destination"]["event_destination"]["event_triggers"],
            false
        );
        let id_mappings = body["mapping"]["column_mapping"]["id_mappings"]
            .as_array()
            .expect("ids");
        assert_eq!(id_mappings.len(), 2);
        let properties = body["mapping"]["column_mapping"]["property_mappings"]
            .as_array()
            .expect("properties");
        assert_eq!(properties.len(), schema.columns.len() - 3);
        assert!(properties
            .iter()
            .any(|p| p["from_column"] == "total_price" && p["target_type"] == "number"));
        let allowed = ["string", "text", "long text", "number", "boolean", "list"];
        assert!(properties
            .iter()
            .all(|p| allowed.contains(&p["target_type"].as_str().unwrap_or(""))));
        assert_eq!(body["file"], "purchases-0001.csv");
        assert!(body.get("source").is_none());
    }
}
