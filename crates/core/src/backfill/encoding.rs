//! One mapping, two encodings: the import files carry exactly what the live path would send.
//! A row is the Bloomreach command the live mapper (`core::map`) produced, flattened: one column
//! per customer ID name, the event `timestamp` (events only), then one column per property. Each
//! file declares its columns and their types ([`CsvSchema`]), and a property the schema does not
//! declare is an error ([`EncodeError::Undeclared`]) rather than a silently dropped value, except
//! in the customers file, whose store-defined attributes and form fields go into one
//! `other_properties` JSON column unless declared.
//!
//! Values: text as is; numbers as JSON writes them (money is already the shortest round-tripping
//! number, see `map::money`); booleans `true`/`false`; null and empty text both an empty
//! cell (an import leaves the property unset, as Bloomreach reads an empty string); lists and objects as JSON text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::map::catalog::CatalogItemState;
use crate::model::NewCommand;

/// The four import files.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// The catalog (one row per variant).
    CatalogItems,
    /// Customer profiles.
    Customers,
    /// `purchase` events.
    Purchases,
    /// `purchase_item` events.
    PurchaseItems,
}

impl FileKind {
    /// All kinds, in import order (catalog and profiles before the events that name them).
    pub const ALL: [FileKind; 4] = [
        FileKind::CatalogItems,
        FileKind::Customers,
        FileKind::Purchases,
        FileKind::PurchaseItems,
    ];

    /// The file name stem (`purchases-0001.csv`).
    pub fn stem(self) -> &'static str {
        match self {
            FileKind::CatalogItems => "catalog_items",
            FileKind::Customers => "customers",
            FileKind::Purchases => "purchases",
            FileKind::PurchaseItems => "purchase_items",
        }
    }
}

/// A column's type, as the import definition declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Text.
    String,
    /// A number.
    Number,
    /// `true` / `false`.
    Boolean,
    /// Unix seconds.
    Timestamp,
    /// A JSON list.
    List,
    /// A JSON object or list of objects.
    Json,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvColumn {
    /// The header name.
    pub name: String,
    /// Its type.
    pub column_type: ColumnType,
    /// Whether the column is a customer ID (the import's ID mapping).
    pub customer_id: bool,
}

/// Why a command could not be encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload is not the JSON the mapper writes.
    #[error("{kind:?}: the command payload is not a JSON object")]
    Payload {
        /// The file.
        kind: FileKind,
    },
    /// A property the file does not declare.
    #[error("{kind:?}: property `{name}` is not a declared column")]
    Undeclared {
        /// The file.
        kind: FileKind,
        /// The property.
        name: String,
    },
}

/// The header and column types of one file family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvSchema {
    /// Which file.
    pub kind: FileKind,
    /// The columns, in order.
    pub columns: Vec<CsvColumn>,
    /// Undeclared properties go into this JSON column (customers only).
    pub overflow: Option<String>,
}

/// The overflow column of the customers file.
pub const OTHER_PROPERTIES: &str = "other_properties";

const PURCHASE_PROPERTIES: &[(&str, ColumnType)] = &[
    ("purchase_id", ColumnType::Number),
    ("purchase_status", ColumnType::String),
    ("purchase_source_type", ColumnType::String),
    ("purchase_source_name", ColumnType::String),
    ("status_id", ColumnType::Number),
    ("refund_id", ColumnType::Number),
    ("refund_reason", ColumnType::String),
    ("refunded_items", ColumnType::List),
    ("total_price", ColumnType::Number),
    ("total_price_without_tax", ColumnType::Number),
    ("tax_value", ColumnType::Number),
    ("shipping_cost", ColumnType::Number),
    ("discount_value", ColumnType::Number),
    ("total_price_local_currency", ColumnType::Number),
    ("local_currency", ColumnType::String),
    ("reference_currency", ColumnType::String),
    ("exchange_rate", ColumnType::Number),
    ("total_quantity", ColumnType::Number),
    ("product_ids", ColumnType::List),
    ("variant_ids", ColumnType::List),
    ("product_list", ColumnType::Json),
    ("payment_type", ColumnType::String),
    ("channel_id", ColumnType::Number),
];

const PURCHASE_ITEM_PROPERTIES: &[(&str, ColumnType)] = &[
    ("purchase_id", ColumnType::Number),
    ("purchase_status", ColumnType::String),
    ("refund_id", ColumnType::Number),
    ("line_id", ColumnType::Number),
    ("product_id", ColumnType::String),
    ("variant_id", ColumnType::String),
    ("sku", ColumnType::String),
    ("title", ColumnType::String),
    ("brand", ColumnType::String),
    ("quantity", ColumnType::Number),
    ("price", ColumnType::Number),
    ("price_without_tax", ColumnType::Number),
    ("total_price", ColumnType::Number),
    ("price_local_currency", ColumnType::Number),
    ("total_price_local_currency", ColumnType::Number),
    ("tax_value", ColumnType::Number),
    ("local_currency", ColumnType::String),
    ("reference_currency", ColumnType::String),
    ("exchange_rate", ColumnType::Number),
    ("variant_options", ColumnType::String),
];

const CUSTOMER_PROPERTIES: &[(&str, ColumnType)] = &[
    ("email", ColumnType::String),
    ("first_name", ColumnType::String),
    ("last_name", ColumnType::String),
    ("phone", ColumnType::String),
    ("company", ColumnType::String),
    ("customer_group_id", ColumnType::Number),
    ("customer_group", ColumnType::String),
    ("accepts_marketing", ColumnType::Boolean),
    ("registered", ColumnType::Boolean),
    ("registered_at", ColumnType::Timestamp),
    ("origin_channel_id", ColumnType::Number),
    ("country", ColumnType::String),
    ("city", ColumnType::String),
    ("locale", ColumnType::String),
    ("customer_type", ColumnType::String),
    ("segment", ColumnType::String),
];

fn column(name: &str, column_type: ColumnType, customer_id: bool) -> CsvColumn {
    CsvColumn {
        name: name.to_owned(),
        column_type,
        customer_id,
    }
}

fn id_columns(id_names: &[String]) -> Vec<CsvColumn> {
    id_names
        .iter()
        .map(|name| column(name, ColumnType::String, true))
        .collect()
}

impl CsvSchema {
    /// An event file (`purchase` or `purchase_item`): the ID columns, `timestamp`, the
    /// properties.
    pub fn events(kind: FileKind, id_names: &[String]) -> Self {
        let properties = match kind {
            FileKind::PurchaseItems => PURCHASE_ITEM_PROPERTIES,
            _ => PURCHASE_PROPERTIES,
        };
        let mut columns = id_columns(id_names);
        columns.push(column("timestamp", ColumnType::Timestamp, false));
        columns.extend(properties.iter().map(|(n, t)| column(n, *t, false)));
        Self {
            kind,
            columns,
            overflow: None,
        }
    }

    /// The customers file: the ID columns, the standard profile properties (under the names
    /// `profile_names` renames them to; an empty name drops one), `extra` (store-defined
    /// properties known up front, as text), then `other_properties`.
    pub fn customers(
        id_names: &[String],
        profile_names: &crate::map::ProfileMapping,
        extra: &[String],
    ) -> Self {
        let mut standard = Map::new();
        for (name, _) in CUSTOMER_PROPERTIES {
            standard.insert((*name).to_owned(), Value::String((*name).to_owned()));
        }
        let renamed = profile_names.apply(standard);
        let mut columns = id_columns(id_names);
        for (target, source) in &renamed {
            let column_type = CUSTOMER_PROPERTIES
                .iter()
                .find(|(n, _)| Some(*n) == source.as_str())
                .map_or(ColumnType::String, |(_, t)| *t);
            columns.push(column(target, column_type, false));
        }
        for name in extra {
            if !columns.iter().any(|c| &c.name == name) {
                columns.push(column(name, ColumnType::String, false));
            }
        }
        columns.push(column(OTHER_PROPERTIES, ColumnType::Json, false));
        Self {
            kind: FileKind::Customers,
            columns,
            overflow: Some(OTHER_PROPERTIES.to_owned()),
        }
    }

    /// The catalog file: `item_id`, then the catalog's declared fields with their types.
    pub fn catalog(fields: &[crate::map::catalog::CatalogFieldSpec]) -> Self {
        let mut columns = vec![column("item_id", ColumnType::String, false)];
        for field in fields {
            let column_type = match field.field_type.as_str() {
                "number" => ColumnType::Number,
                "boolean" => ColumnType::Boolean,
                "list" => ColumnType::List,
                _ => ColumnType::String,
            };
            columns.push(column(&field.name, column_type, false));
        }
        Self {
            kind: FileKind::CatalogItems,
            columns,
            overflow: None,
        }
    }

    /// The header row.
    pub fn header(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// One command of the live mapper (a `purchase`/`purchase_item` event, or a profile
    /// update) as a row of this file.
    pub fn command_row(&self, command: &NewCommand) -> Result<Vec<String>, EncodeError> {
        let payload: Value = serde_json::from_slice(&command.payload)
            .map_err(|_| EncodeError::Payload { kind: self.kind })?;
        let Value::Object(payload) = payload else {
            return Err(EncodeError::Payload { kind: self.kind });
        };
        let mut row = vec![String::new(); self.columns.len()];
        let mut overflow = Map::new();
        if let Some(Value::Object(ids)) = payload.get("customer_ids") {
            for (name, value) in ids {
                self.place(&mut row, &mut overflow, name, value)?;
            }
        }
        if let Some(timestamp) = payload.get("timestamp") {
            self.place(&mut row, &mut overflow, "timestamp", timestamp)?;
        }
        let Some(Value::Object(properties)) = payload.get("properties") else {
            return Err(EncodeError::Payload { kind: self.kind });
        };
        for (name, value) in properties {
            self.place(&mut row, &mut overflow, name, value)?;
        }
        self.finish(row, overflow)
    }

    /// One catalog item (the state the live path keeps and sends as its delta) as a row.
    pub fn catalog_row(&self, item: &CatalogItemState) -> Result<Vec<String>, EncodeError> {
        let mut row = vec![String::new(); self.columns.len()];
        let mut overflow = Map::new();
        self.place(
            &mut row,
            &mut overflow,
            "item_id",
            &Value::String(item.item_id.clone()),
        )?;
        for (name, value) in &item.properties {
            self.place(&mut row, &mut overflow, name, value)?;
        }
        self.finish(row, overflow)
    }

    fn place(
        &self,
        row: &mut [String],
        overflow: &mut Map<String, Value>,
        name: &str,
        value: &Value,
    ) -> Result<(), EncodeError> {
        match self.position(name) {
            Some(index) => {
                row[index] = cell(value);
                Ok(())
            }
            None if self.overflow.is_some() => {
                overflow.insert(name.to_owned(), value.clone());
                Ok(())
            }
            None => Err(EncodeError::Undeclared {
                kind: self.kind,
                name: name.to_owned(),
            }),
        }
    }

    fn finish(
        &self,
        mut row: Vec<String>,
        overflow: Map<String, Value>,
    ) -> Result<Vec<String>, EncodeError> {
        if let Some(index) = self.overflow.as_deref().and_then(|n| self.position(n)) {
            if !overflow.is_empty() {
                row[index] = Value::Object(overflow).to_string();
            }
        }
        Ok(row)
    }
}

/// One value as CSV cell text (see the module docs).
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        other => other.to_string(),
    }
}

/// A row back as the property map it came from (for tests and the twin's comparison): each
/// non-empty cell parsed by its column type.
pub fn decode_row(schema: &CsvSchema, row: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for (column, text) in schema.columns.iter().zip(row) {
        if text.is_empty() {
            continue;
        }
        let value = match column.column_type {
            ColumnType::String => Value::String(text.clone()),
            ColumnType::Boolean => Value::Bool(text == "true"),
            _ => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
        };
        out.insert(column.name.clone(), value);
    }
    out
}

#[cfg(test)]
mod tests;
