//! The Catalog API (`/data/v2/projects/{token}/catalogs…`). Private access only.

use std::collections::BTreeMap;

use http::StatusCode;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::state::{Reply, State};
use super::truth::CatalogTruth;

/// Field types accepted at catalog creation (documented).
pub(crate) const FIELD_TYPES: [&str; 10] = [
    "string",
    "long text",
    "number",
    "boolean",
    "date",
    "datetime",
    "duration",
    "list",
    "url",
    "json",
];

/// Default and maximum page size of `GET …/items` (inferred).
pub(crate) const DEFAULT_ITEMS_PAGE: usize = 20;
pub(crate) const MAX_ITEMS_PAGE: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
struct Field {
    name: String,
    kind: String,
    searchable: bool,
}

#[derive(Debug, Clone)]
struct Catalog {
    id: String,
    name: String,
    is_product_catalog: bool,
    fields: Vec<Field>,
    items: BTreeMap<String, Map<String, Value>>,
}

impl Catalog {
    fn undeclared<'a>(&self, properties: &'a Map<String, Value>) -> Vec<&'a str> {
        properties
            .keys()
            .filter(|k| !self.fields.iter().any(|f| &f.name == *k))
            .map(String::as_str)
            .collect()
    }

    fn describe(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "is_product_catalog": self.is_product_catalog,
            "fields": self.fields.iter().map(|f| json!({"name": f.name, "type": f.kind, "searchable": f.searchable})).collect::<Vec<_>>(),
        })
    }
}

/// The project's catalogs, in creation order.
#[derive(Debug, Default)]
pub(crate) struct Catalogs {
    list: Vec<Catalog>,
}

impl Catalogs {
    pub(crate) fn truth(&self) -> Vec<CatalogTruth> {
        self.list
            .iter()
            .map(|c| CatalogTruth {
                id: c.id.clone(),
                name: c.name.clone(),
                fields: c
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), f.kind.clone()))
                    .collect(),
                items: c.items.clone(),
            })
            .collect()
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut Catalog> {
        self.list.iter_mut().find(|c| c.id == id)
    }

    /// The id of the (first) catalog called `name`.
    pub(crate) fn id_by_name(&self, name: &str) -> Option<String> {
        self.list
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id.clone())
    }

    /// Writes one imported row into catalog `id`: a partial update that creates the item when
    /// it is missing (inferred), under the same rules as the Catalog API (declared fields only,
    /// no `/` in the item id).
    pub(crate) fn import_item(
        &mut self,
        id: &str,
        item_id: &str,
        properties: Map<String, Value>,
    ) -> Result<(), String> {
        let Some(catalog) = self.find_mut(id) else {
            return Err("Catalog not found.".to_owned());
        };
        let properties = Value::Object(properties);
        check_item_id(Some(&Value::String(item_id.to_owned())))
            .and_then(|item_id| {
                write_item(
                    catalog,
                    item_id,
                    Some(&properties),
                    true,
                    ItemWrite::Partial,
                )
            })
            .map_err(|(field, message)| format!("{field}: {message}"))
    }
}

impl Catalogs {
    /// Someone edits an item of catalog `name` behind the connector's back (in the Bloomreach
    /// UI, another integration): `properties` are merged into it, or make it if it is missing.
    /// Nothing is checked and nothing is counted as an API write. `Err` names what is missing.
    pub(crate) fn edit_behind_the_back(
        &mut self,
        name: &str,
        item_id: &str,
        properties: Map<String, Value>,
    ) -> Result<(), String> {
        let catalog = self
            .list
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("no catalog named {name:?}"))?;
        let item = catalog.items.entry(item_id.to_owned()).or_default();
        for (key, value) in properties {
            item.insert(key, value);
        }
        Ok(())
    }

    /// Someone deletes an item of catalog `name` behind the connector's back. `Err` names what
    /// is missing.
    pub(crate) fn delete_behind_the_back(
        &mut self,
        name: &str,
        item_id: &str,
    ) -> Result<(), String> {
        let catalog = self
            .list
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("no catalog named {name:?}"))?;
        catalog
            .items
            .remove(item_id)
            .map(|_| ())
            .ok_or_else(|| format!("catalog {name:?} has no item {item_id:?}"))
    }
}

fn field_errors(field: &str, message: &str) -> Reply {
    Reply::json(
        StatusCode::BAD_REQUEST,
        json!({"success": false, "errors": {field: [message]}}),
    )
}

fn not_found() -> Reply {
    Reply::json(
        StatusCode::NOT_FOUND,
        json!({"success": false, "errors": ["Catalog not found."]}),
    )
}

fn invalid_json() -> Reply {
    Reply::errors(StatusCode::BAD_REQUEST, "Invalid JSON")
}

/// Validates `name` and `fields` of a create or update body.
fn parse_definition(body: &[u8]) -> Result<(String, Vec<Field>, Option<bool>), Reply> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid_json());
    };
    let name = match body.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(field_errors("name", "This field is required.")),
    };
    let Some(Value::Array(raw_fields)) = body.get("fields") else {
        return Err(field_errors("fields", "This field is required."));
    };
    let mut fields: Vec<Field> = Vec::new();
    for raw in raw_fields {
        let Value::Object(raw) = raw else {
            return Err(field_errors("fields", "Each field must be an object."));
        };
        let Some(Value::String(field_name)) = raw.get("name") else {
            return Err(field_errors("fields", "Each field needs a name."));
        };
        if field_name.is_empty() {
            return Err(field_errors("fields", "Each field needs a name."));
        }
        if fields.iter().any(|f| &f.name == field_name) {
            return Err(field_errors(
                "fields",
                &format!("Field '{field_name}' is defined more than once."),
            ));
        }
        let kind = match raw.get("type") {
            None | Some(Value::Null) => "string".to_owned(),
            Some(Value::String(t)) if FIELD_TYPES.contains(&t.as_str()) => t.clone(),
            Some(other) => {
                return Err(field_errors(
                    "fields",
                    &format!("Field '{field_name}' has an unknown type {other}."),
                ))
            }
        };
        let searchable = match raw.get("searchable") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(field_errors(
                    "fields",
                    &format!("Field '{field_name}': searchable must be a boolean."),
                ))
            }
        };
        fields.push(Field {
            name: field_name.clone(),
            kind,
            searchable,
        });
    }
    let is_product_catalog = match body.get("is_product_catalog") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(field_errors("is_product_catalog", "Must be a boolean.")),
    };
    Ok((name, fields, is_product_catalog))
}

/// `GET /catalogs`.
pub(crate) fn list(state: &State) -> Reply {
    let data: Vec<Value> = state
        .catalogs
        .list
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name}))
        .collect();
    Reply::json(StatusCode::OK, json!({"success": true, "data": data}))
}

/// `POST /catalogs`.
pub(crate) fn create(state: &mut State, body: &[u8]) -> Reply {
    let (name, fields, is_product_catalog) = match parse_definition(body) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    let id = state.random_hex(12);
    state.catalogs.list.push(Catalog {
        id: id.clone(),
        name,
        is_product_catalog: is_product_catalog.unwrap_or(false),
        fields,
        items: BTreeMap::new(),
    });
    Reply::json(StatusCode::OK, json!({"success": true, "id": id}))
}

/// `GET /catalogs/{id}`.
pub(crate) fn get(state: &State, id: &str) -> Reply {
    match state.catalogs.list.iter().find(|c| c.id == id) {
        Some(c) => Reply::json(
            StatusCode::OK,
            json!({"success": true, "data": c.describe()}),
        ),
        None => not_found(),
    }
}

/// `PUT /catalogs/{id}`: replaces name and fields. Stored item values are kept as they are.
pub(crate) fn update(state: &mut State, id: &str, body: &[u8]) -> Reply {
    let Some(catalog) = state.catalogs.find_mut(id) else {
        return not_found();
    };
    let (name, fields, is_product_catalog) = match parse_definition(body) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    if let Some(flag) = is_product_catalog {
        if flag != catalog.is_product_catalog {
            return field_errors(
                "is_product_catalog",
                "The catalog type cannot be changed after creation.",
            );
        }
    }
    catalog.name = name;
    catalog.fields = fields;
    Reply::json(StatusCode::OK, json!({"success": true}))
}

/// `DELETE /catalogs/{id}`.
pub(crate) fn delete(state: &mut State, id: &str) -> Reply {
    let before = state.catalogs.list.len();
    state.catalogs.list.retain(|c| c.id != id);
    if state.catalogs.list.len() == before {
        return not_found();
    }
    Reply::json(StatusCode::OK, json!({"success": true}))
}

fn parse_page_param(
    query: &[(String, String)],
    name: &str,
    default: usize,
) -> Result<usize, Reply> {
    match query.iter().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => v
            .parse::<usize>()
            .map_err(|_| field_errors(name, "A valid integer is required.")),
    }
}

/// `GET /catalogs/{id}/items?count=&skip=`. Items come by ascending `item_id`; `count` above
/// 1000 is clamped (the answer's `limit` says so).
pub(crate) fn items(state: &State, id: &str, query: &[(String, String)]) -> Reply {
    let Some(catalog) = state.catalogs.list.iter().find(|c| c.id == id) else {
        return not_found();
    };
    let count = match parse_page_param(query, "count", DEFAULT_ITEMS_PAGE) {
        Ok(c) => c.min(MAX_ITEMS_PAGE),
        Err(reply) => return reply,
    };
    let skip = match parse_page_param(query, "skip", 0) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let data: Vec<Value> = catalog
        .items
        .iter()
        .skip(skip)
        .take(count)
        .map(|(item_id, properties)| {
            json!({"catalog_id": catalog.id, "item_id": item_id, "properties": properties})
        })
        .collect();
    // Wire shape of Bloomreach's own recorded response (python SDK `tests/data/
    // test_catalog_items.json`; the SDK deletes `success` and each item's `catalog_id` before
    // returning it). No query filter is simulated, so `matched` = `total` and the match is
    // never limited.
    let total = catalog.items.len();
    Reply::json(
        StatusCode::OK,
        json!({
            "success": true,
            "data": data,
            "matched": total,
            "matched_limited": false,
            "total": total,
            "limit": count,
            "skip": skip,
        }),
    )
}

/// How the per-item booleans of one response are spelled.
#[derive(Debug, Clone, Copy)]
struct Spelling {
    strings: bool,
}

impl Spelling {
    fn pick(state: &mut State) -> Self {
        let one_in = state.config.catalog_string_booleans_one_in;
        Self {
            strings: one_in > 0 && state.rng.random_range(0..one_in) == 0,
        }
    }

    fn boolean(self, b: bool) -> Value {
        match (self.strings, b) {
            (true, true) => Value::String("True".to_owned()),
            (true, false) => Value::String("False".to_owned()),
            (false, b) => Value::Bool(b),
        }
    }

    fn ok(self) -> Value {
        json!({"success": self.boolean(true), "queued": self.boolean(true)})
    }

    fn failed(self, field: &str, message: String) -> Value {
        json!({"success": self.boolean(false), "queued": self.boolean(false), "errors": {field: [message]}})
    }
}

/// Which bulk item write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemWrite {
    /// `POST …/items/partial-update`: change listed properties; create only with `upsert: true`.
    Partial,
    /// `PUT …/items`: create or replace every property.
    Replace,
}

fn check_item_id(raw: Option<&Value>) -> Result<String, (&'static str, String)> {
    match raw {
        Some(Value::String(s)) if s.is_empty() => {
            Err(("item_id", "This field is required.".to_owned()))
        }
        Some(Value::String(s)) if s.contains('/') => {
            Err(("item_id", "Item id must not contain '/'.".to_owned()))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(("item_id", "This field is required.".to_owned())),
        Some(_) => Err(("item_id", "Item id must be a string.".to_owned())),
    }
}

/// Applies one item; `Err((field, message))` says why it failed.
fn write_item(
    catalog: &mut Catalog,
    item_id: String,
    properties: Option<&Value>,
    upsert: bool,
    mode: ItemWrite,
) -> Result<(), (&'static str, String)> {
    let properties = match properties {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => {
            return Err(("properties", "This field is required.".to_owned()))
        }
        Some(_) => return Err(("properties", "Properties must be an object.".to_owned())),
    };
    let undeclared = catalog.undeclared(properties);
    if !undeclared.is_empty() {
        return Err((
            "properties",
            format!(
                "Fields [{}] are not properly defined.",
                undeclared.join(", ")
            ),
        ));
    }
    match mode {
        ItemWrite::Replace => {
            catalog.items.insert(item_id, properties.clone());
        }
        ItemWrite::Partial => match catalog.items.get_mut(&item_id) {
            Some(existing) => {
                for (k, v) in properties {
                    existing.insert(k.clone(), v.clone());
                }
            }
            None if upsert => {
                catalog.items.insert(item_id, properties.clone());
            }
            None => return Err(("item_id", format!("Item '{item_id}' does not exist."))),
        },
    }
    Ok(())
}

/// `POST …/items/partial-update` and `PUT …/items`: an array in, an array of per-item results
/// (same length and order) out. Faulty items are skipped, the rest applied.
pub(crate) fn bulk_write(state: &mut State, id: &str, body: &[u8], mode: ItemWrite) -> Reply {
    if !state.catalogs.list.iter().any(|c| c.id == id) {
        return not_found();
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return invalid_json();
    };
    let Value::Array(items) = parsed else {
        return Reply::errors(StatusCode::BAD_REQUEST, "Expected a list of items.");
    };
    let spelling = Spelling::pick(state);
    let mut results = Vec::with_capacity(items.len());
    let (mut accepted, mut rejected) = (0u64, 0u64);
    if let Some(catalog) = state.catalogs.find_mut(id) {
        for item in &items {
            let outcome = match item {
                Value::Object(item) => check_item_id(item.get("item_id")).and_then(|item_id| {
                    let upsert = matches!(item.get("upsert"), Some(Value::Bool(true)));
                    write_item(catalog, item_id, item.get("properties"), upsert, mode)
                }),
                _ => Err(("item", "Each item must be an object.".to_owned())),
            };
            match outcome {
                Ok(()) => {
                    accepted += 1;
                    results.push(spelling.ok());
                }
                Err((field, message)) => {
                    rejected += 1;
                    results.push(spelling.failed(field, message));
                }
            }
        }
    }
    state.stats.catalog_items_accepted += accepted;
    state.stats.catalog_items_rejected += rejected;
    Reply::json(StatusCode::OK, Value::Array(results))
}

/// `PUT …/items/{item_id}` (full replace) and `POST …/items/{item_id}/partial-update` with
/// `{"properties": {…}}` (the single-item partial update never creates).
pub(crate) fn single_write(
    state: &mut State,
    id: &str,
    item_id: &str,
    body: &[u8],
    mode: ItemWrite,
) -> Reply {
    if !state.catalogs.list.iter().any(|c| c.id == id) {
        return not_found();
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return invalid_json();
    };
    let spelling = Spelling::pick(state);
    let outcome = match state.catalogs.find_mut(id) {
        Some(catalog) => check_item_id(Some(&Value::String(item_id.to_owned())))
            .and_then(|item_id| write_item(catalog, item_id, body.get("properties"), false, mode)),
        None => return not_found(),
    };
    match outcome {
        Ok(()) => {
            state.stats.catalog_items_accepted += 1;
            Reply::json(StatusCode::OK, spelling.ok())
        }
        Err((field, message)) => {
            state.stats.catalog_items_rejected += 1;
            Reply::json(StatusCode::BAD_REQUEST, spelling.failed(field, message))
        }
    }
}

/// `DELETE …/items/{item_id}`.
pub(crate) fn delete_item(state: &mut State, id: &str, item_id: &str) -> Reply {
    let Some(catalog) = state.catalogs.find_mut(id) else {
        return not_found();
    };
    match catalog.items.remove(item_id) {
        Some(_) => Reply::json(StatusCode::OK, json!({"success": true})),
        None => Reply::json(
            StatusCode::NOT_FOUND,
            json!({"success": false, "errors": ["Item not found."]}),
        ),
    }
}

/// `DELETE …/items`: removes every item.
pub(crate) fn delete_all_items(state: &mut State, id: &str) -> Reply {
    let Some(catalog) = state.catalogs.find_mut(id) else {
        return not_found();
    };
    catalog.items.clear();
    Reply::json(StatusCode::OK, json!({"success": true}))
}

/// `DELETE …/items/bulk-delete` with a JSON array of item ids; per-item results.
pub(crate) fn bulk_delete(state: &mut State, id: &str, body: &[u8]) -> Reply {
    if !state.catalogs.list.iter().any(|c| c.id == id) {
        return not_found();
    }
    let Ok(Value::Array(ids)) = serde_json::from_slice::<Value>(body) else {
        return Reply::errors(StatusCode::BAD_REQUEST, "Expected a list of item ids.");
    };
    let spelling = Spelling::pick(state);
    let mut results = Vec::with_capacity(ids.len());
    if let Some(catalog) = state.catalogs.find_mut(id) {
        for raw in &ids {
            let outcome = check_item_id(Some(raw)).and_then(|item_id| {
                catalog
                    .items
                    .remove(&item_id)
                    .map(|_| ())
                    .ok_or(("item_id", format!("Item '{item_id}' does not exist.")))
            });
            results.push(match outcome {
                Ok(()) => spelling.ok(),
                Err((field, message)) => spelling.failed(field, message),
            });
        }
    }
    Reply::json(StatusCode::OK, Value::Array(results))
}
