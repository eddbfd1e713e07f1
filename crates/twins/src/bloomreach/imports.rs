//! The Imports API (reference §5.3): definitions at `/imports/v1/{token}[/{import_id}]`, runs
//! started at `/data/v1|v2/projects/{token}/imports/{import_id}/start` (and the Magento
//! connector's `/imports/v1/{token}/{import_id}/run`). Private access only.
//!
//! A run downloads the CSV file with reqwest (HTTP Basic auth when the definition has
//! credentials; loopback hosts only), reads it with a real CSV parser (header row first), and
//! applies each row through the same identity rules, property rules, duplicate filter and
//! catalog rules as the Tracking and Catalog APIs. Runs execute on a background task; applying
//! rows takes no clock time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use http::StatusCode;
use serde_json::{json, Map, Number, Value};
use url::{Host, Url};

use super::config::BloomreachTwinConfig;
use super::profiles::ExternalId;
use super::server::Core;
use super::state::{epoch_seconds, round_micros, Reply, State};
use super::tracking::MAX_PROPERTY_VALUE_BYTES;
use super::truth::{EventTruth, ImportRunStatus, ImportRunTruth, ImportTruth};

/// Most active API-created definitions per project (documented).
pub(crate) const MAX_ACTIVE_IMPORTS: usize = 25;
/// Error messages kept per run (the rest are counted in `rows_failed` only).
pub(crate) const MAX_RUN_ERRORS: usize = 20;
/// Largest import file (documented: 1 GB).
pub(crate) const MAX_SOURCE_BYTES: usize = 1024 * 1024 * 1024;
/// How long a download may take on the clock before the run fails (inferred).
pub(crate) const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// `limit` of the list endpoint: default and maximum (documented).
pub(crate) const DEFAULT_LIST_LIMIT: usize = 10;
pub(crate) const MAX_LIST_LIMIT: usize = 50;
/// Rows applied per acquisition of the state lock, so a big file never starves the API.
const ROWS_PER_LOCK: usize = 1000;

/// Property-mapping target types the twin converts (Bloomreach's Magento connector sends
/// `string`, `long text`, `number`, `boolean`, `list`; the commercetools connector `text`).
const TARGET_TYPES: [&str; 6] = ["string", "text", "long text", "number", "boolean", "list"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetType {
    Text,
    Number,
    Boolean,
    List,
}

impl TargetType {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "string" | "text" | "long text" => Some(Self::Text),
            "number" => Some(Self::Number),
            "boolean" => Some(Self::Boolean),
            "list" => Some(Self::List),
            _ => None,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Boolean => "boolean (true or false)",
            Self::List => "list (a JSON array)",
        }
    }
}

#[derive(Debug, Clone)]
struct IdMapping {
    from_column: String,
    to_id: String,
}

#[derive(Debug, Clone)]
struct PropertyMapping {
    from_column: String,
    to_column: String,
    target_type: TargetType,
    /// The type as the definition spelled it (echoed back).
    raw_type: String,
    searchable: bool,
}

#[derive(Debug, Clone)]
enum Destination {
    Event {
        event_type: String,
        event_triggers: bool,
    },
    Customer,
    Catalog {
        catalog_name: String,
        catalog_attributes: Option<Value>,
    },
}

impl Destination {
    fn label(&self) -> String {
        match self {
            Self::Event { event_type, .. } => format!("event:{event_type}"),
            Self::Customer => "customer".to_owned(),
            Self::Catalog { catalog_name, .. } => format!("catalog:{catalog_name}"),
        }
    }

    fn describe(&self) -> Value {
        match self {
            Self::Event {
                event_type,
                event_triggers,
            } => {
                json!({"event_destination": {"event_type": event_type, "event_triggers": event_triggers}})
            }
            Self::Customer => json!({"customer_destination": {}}),
            Self::Catalog {
                catalog_name,
                catalog_attributes,
            } => {
                let mut inner = Map::new();
                inner.insert("catalog_name".to_owned(), json!(catalog_name));
                if let Some(attributes) = catalog_attributes {
                    inner.insert("catalog_attributes".to_owned(), attributes.clone());
                }
                json!({ "catalog_destination": inner })
            }
        }
    }
}

/// How the rows of a file become data.
#[derive(Debug, Clone)]
struct Plan {
    tz_info: String,
    offset: FixedOffset,
    id_mappings: Vec<IdMapping>,
    property_mappings: Vec<PropertyMapping>,
    timestamp_column: Option<String>,
    destination: Destination,
}

impl Plan {
    /// Every column the file's header must name.
    fn required_columns(&self) -> Vec<&str> {
        let mut columns: Vec<&str> = Vec::new();
        let all = self
            .id_mappings
            .iter()
            .map(|m| m.from_column.as_str())
            .chain(
                self.property_mappings
                    .iter()
                    .map(|m| m.from_column.as_str()),
            )
            .chain(self.timestamp_column.as_deref());
        for column in all {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        columns
    }
}

#[derive(Debug, Clone)]
struct BasicAuth {
    username: String,
    password: String,
}

#[derive(Debug, Clone)]
struct Definition {
    id: String,
    name: String,
    active: bool,
    import_url: Url,
    use_socks_proxy: bool,
    auth: Option<BasicAuth>,
    plan: Plan,
    runs: Vec<ImportRunTruth>,
}

impl Definition {
    fn running(&self) -> bool {
        self.runs
            .last()
            .is_some_and(|r| r.status == ImportRunStatus::Running)
    }

    fn describe(&self) -> Map<String, Value> {
        let plan = &self.plan;
        let source = json!({
            "source_type": "url",
            "import_url": self.import_url.as_str(),
            "use_socks_proxy": self.use_socks_proxy,
            // Inferred: the stored password is never echoed.
            "auth": self.auth.as_ref().map(|a| json!({"username": a.username})),
        });
        let mapping = json!({
            "tz_info": plan.tz_info,
            "column_mapping": {
                "id_mappings": plan.id_mappings.iter().map(|m| json!({"from_column": m.from_column, "to_id": m.to_id})).collect::<Vec<_>>(),
                "property_mappings": plan.property_mappings.iter().map(|m| json!({
                    "from_column": m.from_column, "to_column": m.to_column,
                    "target_type": m.raw_type, "searchable": m.searchable,
                })).collect::<Vec<_>>(),
            },
        });
        let mut out = Map::new();
        out.insert("import_id".to_owned(), json!(self.id));
        out.insert("name".to_owned(), json!(self.name));
        out.insert("active".to_owned(), json!(self.active));
        out.insert("trigger".to_owned(), json!({"trigger_type": "now"}));
        out.insert("source".to_owned(), source);
        out.insert("mapping".to_owned(), mapping);
        out.insert("timestamp_column".to_owned(), json!(plan.timestamp_column));
        out.insert("destination".to_owned(), plan.destination.describe());
        out
    }
}

/// Inferred shape of `last_run` (nothing public documents it).
fn run_json(run: &ImportRunTruth) -> Value {
    json!({
        "status": run.status,
        "rows_total": run.rows_total,
        "rows_imported": run.rows_imported,
        "rows_failed": run.rows_failed,
        "errors": run.errors,
        "started_at": epoch_seconds(run.started_at),
        "finished_at": run.finished_at.map(epoch_seconds),
    })
}

/// The project's API-created import definitions, in creation order.
#[derive(Debug, Default)]
pub(crate) struct Imports {
    list: Vec<Definition>,
}

impl Imports {
    pub(crate) fn truth(&self) -> Vec<ImportTruth> {
        self.list
            .iter()
            .map(|d| ImportTruth {
                import_id: d.id.clone(),
                name: d.name.clone(),
                destination: d.plan.destination.label(),
                active: d.active,
                runs: d.runs.clone(),
            })
            .collect()
    }

    fn find(&self, id: &str) -> Option<&Definition> {
        self.list.iter().find(|d| d.id == id)
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut Definition> {
        self.list.iter_mut().find(|d| d.id == id)
    }

    fn run_mut(&mut self, id: &str, index: usize) -> Option<&mut ImportRunTruth> {
        self.find_mut(id).and_then(|d| d.runs.get_mut(index))
    }
}

// ---------------------------------------------------------------------------------------------
// Definition validation

/// Validation errors by field path (`source.import_url`, …), answered as
/// `{"success": false, "errors": {field: [message, …]}}` like the Catalog API.
#[derive(Debug, Default)]
struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn reply(self) -> Reply {
        Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"success": false, "errors": self.0}),
        )
    }
}

const REQUIRED: &str = "This field is required.";

fn required_string(
    object: &Map<String, Value>,
    key: &str,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<String> {
    match object.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        None | Some(Value::Null) => {
            errors.add(field, REQUIRED);
            None
        }
        Some(Value::String(_)) => {
            errors.add(field, "This field may not be blank.");
            None
        }
        Some(_) => {
            errors.add(field, "Must be a string.");
            None
        }
    }
}

fn object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<&'a Map<String, Value>> {
    match parent.get(key) {
        Some(Value::Object(map)) => Some(map),
        None | Some(Value::Null) => {
            errors.add(field, REQUIRED);
            None
        }
        Some(_) => {
            errors.add(field, "Must be an object.");
            None
        }
    }
}

fn optional_bool(
    parent: &Map<String, Value>,
    key: &str,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<bool> {
    match parent.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.add(field, "Must be a boolean.");
            None
        }
    }
}

/// An absolute `http` or `https` URL.
fn parse_source_url(raw: &str) -> Option<Url> {
    Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// `UTC` (and aliases) or a fixed offset `±HH:MM`. Named zones need a zone database the twin
/// does not carry.
fn parse_tz(raw: &str) -> Option<FixedOffset> {
    if matches!(raw, "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Z") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match raw.as_bytes().first() {
        Some(b'+') => (1, &raw[1..]),
        Some(b'-') => (-1, &raw[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

struct Parsed {
    name: String,
    active: bool,
    import_url: Url,
    use_socks_proxy: bool,
    auth: Option<BasicAuth>,
    plan: Plan,
}

fn parse_source(
    body: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> Option<(Url, bool, Option<BasicAuth>)> {
    let source = object(body, "source", "source", errors)?;
    let source_type = required_string(source, "source_type", "source.source_type", errors);
    match source_type.as_deref() {
        Some("url") | None => {}
        Some(other) => errors.add(
            "source.source_type",
            format!("Source type '{other}' is not simulated by the twin; use 'url'."),
        ),
    }
    let url = required_string(source, "import_url", "source.import_url", errors).and_then(|raw| {
        let url = parse_source_url(&raw);
        if url.is_none() {
            errors.add("source.import_url", "Enter a valid http or https URL.");
        }
        url
    });
    let socks = optional_bool(source, "use_socks_proxy", "source.use_socks_proxy", errors);
    let auth = match source.get("auth") {
        None | Some(Value::Null) => None,
        Some(Value::Object(auth)) => {
            let username = required_string(auth, "username", "source.auth.username", errors);
            let password = match auth.get("password") {
                Some(Value::String(p)) if !p.is_empty() => Some(p.clone()),
                _ => {
                    errors.add("source.auth.password", REQUIRED);
                    None
                }
            };
            username
                .zip(password)
                .map(|(username, password)| BasicAuth { username, password })
        }
        Some(_) => {
            errors.add(
                "source.auth",
                "Must be an object with username and password.",
            );
            None
        }
    };
    Some((url?, socks.unwrap_or(false), auth))
}

fn parse_id_mappings(
    column_mapping: &Map<String, Value>,
    config: &BloomreachTwinConfig,
    errors: &mut FieldErrors,
) -> Vec<IdMapping> {
    const FIELD: &str = "mapping.column_mapping.id_mappings";
    let raw = match column_mapping.get("id_mappings") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => {
            errors.add(FIELD, REQUIRED);
            return Vec::new();
        }
        Some(_) => {
            errors.add(FIELD, "Must be a list.");
            return Vec::new();
        }
    };
    let mut out: Vec<IdMapping> = Vec::new();
    for (i, item) in raw.iter().enumerate() {
        let field = format!("{FIELD}[{i}]");
        let Value::Object(item) = item else {
            errors.add(&field, "Must be an object.");
            continue;
        };
        let from = required_string(item, "from_column", &format!("{field}.from_column"), errors);
        let to = required_string(item, "to_id", &format!("{field}.to_id"), errors);
        let Some(to) = to else { continue };
        let known = config.hard_ids.contains(&to) || config.soft_ids.contains(&to);
        if !known {
            errors.add(
                &format!("{field}.to_id"),
                format!("Unknown customer id '{to}'."),
            );
            continue;
        }
        if out.iter().any(|m| m.to_id == to) {
            errors.add(
                &format!("{field}.to_id"),
                format!("Customer id '{to}' is mapped more than once."),
            );
            continue;
        }
        if let Some(from) = from {
            out.push(IdMapping {
                from_column: from,
                to_id: to,
            });
        }
    }
    out
}

fn parse_property_mappings(
    column_mapping: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> Vec<PropertyMapping> {
    const FIELD: &str = "mapping.column_mapping.property_mappings";
    let raw = match column_mapping.get("property_mappings") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => {
            errors.add(FIELD, REQUIRED);
            return Vec::new();
        }
        Some(_) => {
            errors.add(FIELD, "Must be a list.");
            return Vec::new();
        }
    };
    let mut out: Vec<PropertyMapping> = Vec::new();
    for (i, item) in raw.iter().enumerate() {
        let field = format!("{FIELD}[{i}]");
        let Value::Object(item) = item else {
            errors.add(&field, "Must be an object.");
            continue;
        };
        let from = required_string(item, "from_column", &format!("{field}.from_column"), errors);
        let to = required_string(item, "to_column", &format!("{field}.to_column"), errors);
        let raw_type =
            required_string(item, "target_type", &format!("{field}.target_type"), errors);
        let searchable = optional_bool(item, "searchable", &format!("{field}.searchable"), errors);
        let target_type = raw_type.as_deref().and_then(|t| {
            let parsed = TargetType::parse(t);
            if parsed.is_none() {
                errors.add(
                    &format!("{field}.target_type"),
                    format!(
                        "Unknown target type '{t}'; expected one of: {}.",
                        TARGET_TYPES.join(", ")
                    ),
                );
            }
            parsed
        });
        if let Some(to) = &to {
            if !to.is_ascii() {
                errors.add(
                    &format!("{field}.to_column"),
                    format!("Property name '{to}' must be ASCII."),
                );
                continue;
            }
            if out.iter().any(|m| &m.to_column == to) {
                errors.add(
                    &format!("{field}.to_column"),
                    format!("Property '{to}' is mapped more than once."),
                );
                continue;
            }
        }
        if let (Some(from), Some(to), Some(target_type), Some(raw_type)) =
            (from, to, target_type, raw_type)
        {
            out.push(PropertyMapping {
                from_column: from,
                to_column: to,
                target_type,
                raw_type,
                searchable: searchable.unwrap_or(false),
            });
        }
    }
    out
}

fn parse_destination(body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Destination> {
    let destination = object(body, "destination", "destination", errors)?;
    let kinds: Vec<&String> = destination.keys().collect();
    if kinds.len() != 1 {
        errors.add(
            "destination",
            "Exactly one of event_destination, customer_destination or catalog_destination is required.",
        );
        return None;
    }
    match kinds[0].as_str() {
        "event_destination" => {
            let inner = object(
                destination,
                "event_destination",
                "destination.event_destination",
                errors,
            )?;
            let event_type = required_string(
                inner,
                "event_type",
                "destination.event_destination.event_type",
                errors,
            );
            let event_triggers = match inner.get("event_triggers") {
                Some(Value::Bool(b)) => Some(*b),
                None | Some(Value::Null) => {
                    errors.add("destination.event_destination.event_triggers", REQUIRED);
                    None
                }
                Some(_) => {
                    errors.add(
                        "destination.event_destination.event_triggers",
                        "Must be a boolean.",
                    );
                    None
                }
            };
            Some(Destination::Event {
                event_type: event_type?,
                event_triggers: event_triggers?,
            })
        }
        "customer_destination" => {
            object(
                destination,
                "customer_destination",
                "destination.customer_destination",
                errors,
            )?;
            Some(Destination::Customer)
        }
        "catalog_destination" => {
            let inner = object(
                destination,
                "catalog_destination",
                "destination.catalog_destination",
                errors,
            )?;
            let catalog_name = required_string(
                inner,
                "catalog_name",
                "destination.catalog_destination.catalog_name",
                errors,
            );
            let catalog_attributes = match inner.get("catalog_attributes") {
                None | Some(Value::Null) => None,
                Some(Value::Object(a)) => Some(Value::Object(a.clone())),
                Some(_) => {
                    errors.add(
                        "destination.catalog_destination.catalog_attributes",
                        "Must be an object.",
                    );
                    None
                }
            };
            Some(Destination::Catalog {
                catalog_name: catalog_name?,
                catalog_attributes,
            })
        }
        other => {
            errors.add("destination", format!("Unknown destination '{other}'."));
            None
        }
    }
}

fn parse_definition(
    body: &Map<String, Value>,
    config: &BloomreachTwinConfig,
) -> Result<Parsed, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = required_string(body, "name", "name", &mut errors);
    let active = match body.get("active") {
        Some(Value::Bool(b)) => Some(*b),
        None | Some(Value::Null) => {
            errors.add("active", REQUIRED);
            None
        }
        Some(_) => {
            errors.add("active", "Must be a boolean.");
            None
        }
    };
    if let Some(trigger) = object(body, "trigger", "trigger", &mut errors) {
        match required_string(trigger, "trigger_type", "trigger.trigger_type", &mut errors)
            .as_deref()
        {
            Some("now") | None => {}
            Some("scheduled") => errors.add(
                "trigger.trigger_type",
                "Scheduled imports are not simulated by the twin; use 'now' and start runs explicitly.",
            ),
            Some(other) => errors.add(
                "trigger.trigger_type",
                format!("Unknown trigger type '{other}'."),
            ),
        }
    }
    let source = parse_source(body, &mut errors);

    let mut tz = None;
    let mut id_mappings = Vec::new();
    let mut property_mappings = Vec::new();
    if let Some(mapping) = object(body, "mapping", "mapping", &mut errors) {
        if let Some(raw) = required_string(mapping, "tz_info", "mapping.tz_info", &mut errors) {
            match parse_tz(&raw) {
                Some(offset) => tz = Some((raw, offset)),
                None => errors.add(
                    "mapping.tz_info",
                    format!("Unknown time zone '{raw}' (the twin knows UTC and fixed offsets such as +02:00)."),
                ),
            }
        }
        if let Some(columns) = object(
            mapping,
            "column_mapping",
            "mapping.column_mapping",
            &mut errors,
        ) {
            id_mappings = parse_id_mappings(columns, config, &mut errors);
            property_mappings = parse_property_mappings(columns, &mut errors);
        }
    }
    let timestamp_column = match body.get("timestamp_column") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            errors.add("timestamp_column", "Must be a column name or null.");
            None
        }
    };
    let destination = parse_destination(body, &mut errors);

    match &destination {
        Some(Destination::Event { .. } | Destination::Customer) if id_mappings.is_empty() => {
            errors.add(
                "mapping.column_mapping.id_mappings",
                "At least one id mapping is required for event and customer imports.",
            );
        }
        Some(Destination::Catalog { .. }) => {
            if !id_mappings.is_empty() {
                errors.add(
                    "mapping.column_mapping.id_mappings",
                    "Catalog imports take no id mappings; map the item_id column in property_mappings.",
                );
            }
            if !property_mappings.iter().any(|m| m.to_column == "item_id") {
                errors.add(
                    "mapping.column_mapping.property_mappings",
                    "Catalog imports need a property mapping to item_id.",
                );
            }
            if timestamp_column.is_some() {
                errors.add(
                    "timestamp_column",
                    "Catalog imports take no timestamp column.",
                );
            }
        }
        _ => {}
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    match (name, active, source, tz, destination) {
        (
            Some(name),
            Some(active),
            Some((import_url, use_socks_proxy, auth)),
            Some((tz_info, offset)),
            Some(destination),
        ) => Ok(Parsed {
            name,
            active,
            import_url,
            use_socks_proxy,
            auth,
            plan: Plan {
                tz_info,
                offset,
                id_mappings,
                property_mappings,
                timestamp_column,
                destination,
            },
        }),
        _ => {
            errors.add("non_field_errors", "Invalid import definition.");
            Err(errors)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Management endpoints

fn import_not_found() -> Reply {
    Reply::json(
        StatusCode::NOT_FOUND,
        json!({"success": false, "errors": ["Import not found."]}),
    )
}

/// `POST /imports/v1/{token}`.
pub(crate) fn create(state: &mut State, body: &[u8]) -> Reply {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Reply::errors(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    let parsed = match parse_definition(&body, &state.config) {
        Ok(parsed) => parsed,
        Err(errors) => return errors.reply(),
    };
    if parsed.active && state.imports.list.iter().filter(|d| d.active).count() >= MAX_ACTIVE_IMPORTS
    {
        return Reply::errors(
            StatusCode::BAD_REQUEST,
            &format!("The project already has {MAX_ACTIVE_IMPORTS} active imports created through the API (the maximum); delete or deactivate one first."),
        );
    }
    let id = state.random_hex(12);
    state.imports.list.push(Definition {
        id: id.clone(),
        name: parsed.name,
        active: parsed.active,
        import_url: parsed.import_url,
        use_socks_proxy: parsed.use_socks_proxy,
        auth: parsed.auth,
        plan: parsed.plan,
        runs: Vec::new(),
    });
    Reply::json(StatusCode::OK, json!({"success": true, "import_id": id}))
}

fn page_param(
    query: &[(String, String)],
    name: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, Reply> {
    let Some((_, raw)) = query.iter().find(|(k, _)| k == name) else {
        return Ok(default);
    };
    let mut errors = FieldErrors::default();
    match raw.parse::<usize>() {
        Ok(n) if range.contains(&n) => return Ok(n),
        Ok(_) => errors.add(
            name,
            format!(
                "Ensure this value is between {} and {}.",
                range.start(),
                range.end()
            ),
        ),
        Err(_) => errors.add(name, "A valid non-negative integer is required."),
    }
    Err(errors.reply())
}

/// `GET /imports/v1/{token}?limit=&offset=`: only API-created definitions (all of the twin's).
pub(crate) fn list(state: &State, query: &[(String, String)]) -> Reply {
    let limit = match page_param(query, "limit", DEFAULT_LIST_LIMIT, 1..=MAX_LIST_LIMIT) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let offset = match page_param(query, "offset", 0, 0..=usize::MAX) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let data: Vec<Value> = state
        .imports
        .list
        .iter()
        .skip(offset)
        .take(limit)
        .map(|d| Value::Object(d.describe()))
        .collect();
    Reply::json(
        StatusCode::OK,
        json!({"success": true, "data": data, "total": state.imports.list.len(), "limit": limit, "offset": offset}),
    )
}

/// `GET /imports/v1/{token}/{import_id}`: the definition plus `last_run` (inferred shape).
pub(crate) fn get(state: &State, id: &str) -> Reply {
    let Some(definition) = state.imports.find(id) else {
        return import_not_found();
    };
    let mut out = Map::new();
    out.insert("success".to_owned(), json!(true));
    out.extend(definition.describe());
    out.insert(
        "last_run".to_owned(),
        definition.runs.last().map_or(Value::Null, run_json),
    );
    Reply::json(StatusCode::OK, Value::Object(out))
}

/// `DELETE /imports/v1/{token}/{import_id}`. Data already imported stays.
pub(crate) fn delete(state: &mut State, id: &str) -> Reply {
    let before = state.imports.list.len();
    state.imports.list.retain(|d| d.id != id);
    if state.imports.list.len() == before {
        return import_not_found();
    }
    Reply::json(StatusCode::OK, json!({"success": true}))
}

// ---------------------------------------------------------------------------------------------
// Runs

/// A start request, handled outside the state lock because it may download.
#[derive(Debug)]
pub(crate) struct StartRequest {
    pub import_id: String,
    pub body: Bytes,
    /// The body key of the per-run URL override: `path` (`…/start`) or `path_to_overwrite`
    /// (`…/run`).
    pub path_key: &'static str,
}

/// What a background run needs, copied out of the definition.
#[derive(Debug)]
struct RunJob {
    import_id: String,
    run_index: usize,
    url: Url,
    auth: Option<BasicAuth>,
    plan: Plan,
}

/// Parses `{"path": "<url>", "test_connection": bool}` (both optional; `test_connection`
/// defaults to true as documented).
fn parse_start_body(body: &[u8], path_key: &str) -> Result<(Option<Url>, bool), Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, true));
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(Reply::errors(StatusCode::BAD_REQUEST, "Invalid JSON"));
    };
    let mut errors = FieldErrors::default();
    let path = match body.get(path_key) {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => {
            let url = parse_source_url(raw);
            if url.is_none() {
                errors.add(path_key, "Enter a valid http or https URL.");
            }
            url
        }
        Some(_) => {
            errors.add(path_key, "Must be a string.");
            None
        }
    };
    let test_connection =
        optional_bool(&body, "test_connection", "test_connection", &mut errors).unwrap_or(true);
    if errors.is_empty() {
        Ok((path, test_connection))
    } else {
        Err(errors.reply())
    }
}

/// Checks the definition can start a run now.
fn startable(state: &State, id: &str) -> Result<(Url, Option<BasicAuth>, Plan), Reply> {
    let Some(definition) = state.imports.find(id) else {
        return Err(import_not_found());
    };
    if !definition.active {
        return Err(Reply::errors(
            StatusCode::BAD_REQUEST,
            "The import is not active.",
        ));
    }
    if definition.running() {
        return Err(Reply::errors(
            StatusCode::BAD_REQUEST,
            "The import is already running.",
        ));
    }
    Ok((
        definition.import_url.clone(),
        definition.auth.clone(),
        definition.plan.clone(),
    ))
}

/// `POST /data/v1|v2/projects/{token}/imports/{import_id}/start` (and `/imports/v1/…/run`).
///
/// With `test_connection` (the default) the twin first requests the file and answers 400 when
/// that fails, recording no run (inferred). Otherwise a failing download shows up only in the
/// run's status. The run itself goes on in the background; the answer is `{"success": true}`.
pub(crate) async fn start(core: &Arc<Core>, request: StartRequest) -> Reply {
    let (path, test_connection) = match parse_start_body(&request.body, request.path_key) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    let checked = startable(&core.state.lock(), &request.import_id);
    let (url, auth) = match checked {
        Ok((url, auth, _)) => (path.unwrap_or(url), auth),
        Err(reply) => return reply,
    };
    if test_connection {
        if let Err(reason) = fetch(core, &url, auth.as_ref(), false).await {
            return Reply::errors(
                StatusCode::BAD_REQUEST,
                &format!("Connection test failed: {reason}"),
            );
        }
    }
    let job = {
        let mut state = core.state.lock();
        let plan = match startable(&state, &request.import_id) {
            Ok((_, _, plan)) => plan,
            Err(reply) => return reply,
        };
        let now = core.clock.now();
        let Some(definition) = state.imports.find_mut(&request.import_id) else {
            return import_not_found();
        };
        definition.runs.push(ImportRunTruth {
            status: ImportRunStatus::Running,
            source_url: url.to_string(),
            rows_total: 0,
            rows_imported: 0,
            rows_failed: 0,
            errors: Vec::new(),
            started_at: now,
            finished_at: None,
        });
        RunJob {
            import_id: request.import_id,
            run_index: definition.runs.len() - 1,
            url,
            auth,
            plan,
        }
    };
    core.spawn_import(run(core.clone(), job));
    Reply::json(StatusCode::OK, json!({"success": true}))
}

/// The background run: download, read, apply, record.
async fn run(core: Arc<Core>, job: RunJob) {
    let outcome = execute(&core, &job).await;
    let mut state = core.state.lock();
    let now = core.clock.now();
    if let Some(run) = state.imports.run_mut(&job.import_id, job.run_index) {
        run.finished_at = Some(now);
        match outcome {
            Ok(()) => run.status = ImportRunStatus::Finished,
            Err(reason) => {
                run.status = ImportRunStatus::Failed;
                if run.errors.len() >= MAX_RUN_ERRORS {
                    run.errors.pop();
                }
                run.errors.push(reason);
            }
        }
    }
}

/// A read CSV file: column positions and data rows (cells, or why the row cannot be read).
struct Table {
    columns: HashMap<String, usize>,
    rows: Vec<Result<Vec<String>, String>>,
}

async fn execute(core: &Arc<Core>, job: &RunJob) -> Result<(), String> {
    let bytes = fetch(core, &job.url, job.auth.as_ref(), true).await?;
    let table = read_csv(&bytes, &job.plan)?;
    let rows_total = table.rows.len() as u64;
    let catalog_id = {
        let mut state = core.state.lock();
        let limit = state.config.import_row_limit;
        let catalog_id = match &job.plan.destination {
            Destination::Catalog { catalog_name, .. } => {
                Some(state.catalogs.id_by_name(catalog_name))
            }
            _ => None,
        };
        if let Some(run) = state.imports.run_mut(&job.import_id, job.run_index) {
            run.rows_total = rows_total;
        }
        if table.rows.len() > limit {
            return Err(format!(
                "The file has {} rows; an import may have at most {limit} rows. Nothing was imported.",
                table.rows.len()
            ));
        }
        match (catalog_id, &job.plan.destination) {
            (Some(None), Destination::Catalog { catalog_name, .. }) => {
                return Err(format!("Catalog '{catalog_name}' does not exist."));
            }
            (Some(Some(id)), _) => Some(id),
            _ => None,
        }
    };

    for (chunk_index, chunk) in table.rows.chunks(ROWS_PER_LOCK).enumerate() {
        {
            let mut state = core.state.lock();
            let now = core.clock.now();
            let mut imported = 0u64;
            let mut errors: Vec<String> = Vec::new();
            for (i, row) in chunk.iter().enumerate() {
                let number = chunk_index * ROWS_PER_LOCK + i + 1;
                let outcome = row.as_ref().map_err(Clone::clone).and_then(|cells| {
                    apply_row(
                        &mut state,
                        &job.plan,
                        &table.columns,
                        cells,
                        catalog_id.as_deref(),
                        now,
                    )
                });
                match outcome {
                    Ok(()) => imported += 1,
                    Err(message) => errors.push(format!("Row {number}: {message}")),
                }
            }
            let failed = errors.len() as u64;
            state.stats.import_rows_imported += imported;
            state.stats.import_rows_failed += failed;
            if let Some(run) = state.imports.run_mut(&job.import_id, job.run_index) {
                run.rows_imported += imported;
                run.rows_failed += failed;
                let room = MAX_RUN_ERRORS.saturating_sub(run.errors.len());
                run.errors.extend(errors.into_iter().take(room));
            }
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// The twin fetches only from the local machine.
fn loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Requests `url` (with Basic auth when configured); with `read_body`, returns the whole body.
/// Bounded by [`DOWNLOAD_TIMEOUT`] on the injected clock.
async fn fetch(
    core: &Core,
    url: &Url,
    auth: Option<&BasicAuth>,
    read_body: bool,
) -> Result<Bytes, String> {
    if !loopback(url) {
        return Err(format!(
            "The twin downloads only from loopback hosts (127.0.0.1, ::1, localhost), not {url}."
        ));
    }
    let work = async {
        let mut request = core.http.get(url.clone());
        if let Some(auth) = auth {
            request = request.basic_auth(&auth.username, Some(&auth.password));
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("Downloading {url} failed: {}.", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "Downloading {url} failed: the server answered HTTP {status}."
            ));
        }
        if !read_body {
            return Ok(Bytes::new());
        }
        let mut buffer = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("Downloading {url} failed: {}.", e.without_url()))?
        {
            if buffer.len() + chunk.len() > MAX_SOURCE_BYTES {
                return Err("The file is larger than 1 GB.".to_owned());
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    };
    tokio::select! {
        result = work => result,
        () = core.clock.sleep(DOWNLOAD_TIMEOUT) => Err(format!(
            "Downloading {url} timed out after {} seconds.",
            DOWNLOAD_TIMEOUT.as_secs()
        )),
    }
}

/// Reads a CSV file with a header row. File-level problems fail the run; row-level problems
/// fail only their row.
fn read_csv(bytes: &[u8], plan: &Plan) -> Result<Table, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| format!("The file cannot be read as CSV: {e}."))?
        .clone();
    if header.is_empty() {
        return Err("The file is empty (no header row).".to_owned());
    }
    let mut columns: HashMap<String, usize> = HashMap::new();
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| "The header row is not valid UTF-8.".to_owned())?
            .to_owned();
        if columns.insert(name.clone(), i).is_some() {
            return Err(format!(
                "Column '{name}' appears more than once in the header."
            ));
        }
    }
    for column in plan.required_columns() {
        if !columns.contains_key(column) {
            return Err(format!(
                "Column '{column}' is missing from the file's header."
            ));
        }
    }
    let width = header.len();
    let mut rows = Vec::new();
    for record in reader.byte_records() {
        let row = match record {
            Ok(record) if record.len() != width => Err(format!(
                "the row has {} columns; the header has {width}.",
                record.len()
            )),
            Ok(record) => record
                .iter()
                .map(|cell| std::str::from_utf8(cell).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "the row is not valid UTF-8.".to_owned()),
            Err(e) if e.is_io_error() => {
                return Err(format!("The file cannot be read: {e}."));
            }
            Err(e) => Err(format!("the row cannot be read as CSV: {e}.")),
        };
        rows.push(row);
    }
    Ok(Table { columns, rows })
}

/// A timestamp cell: float Unix seconds, or ISO 8601 (without an offset it is read in the
/// definition's `tz_info`; a bare date means midnight there).
fn parse_cell_timestamp(raw: &str, offset: FixedOffset) -> Result<f64, String> {
    if raw.is_empty() {
        return Err("the timestamp is empty.".to_owned());
    }
    if let Ok(seconds) = raw.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 {
            return Ok(round_micros(seconds));
        }
        return Err(format!("'{raw}' is not a valid timestamp."));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(round_micros(epoch_seconds(at.with_timezone(&Utc))));
    }
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    match local.and_then(|naive| offset.from_local_datetime(&naive).single()) {
        Some(at) => Ok(round_micros(epoch_seconds(at.with_timezone(&Utc)))),
        None => Err(format!(
            "'{raw}' is not a timestamp (float seconds or ISO 8601)."
        )),
    }
}

/// Converts one cell to its mapping's type.
fn convert(raw: &str, target: TargetType) -> Option<Value> {
    match target {
        TargetType::Text => Some(Value::String(raw.to_owned())),
        TargetType::Number => {
            if let Ok(n) = raw.parse::<i64>() {
                return Some(Value::Number(n.into()));
            }
            raw.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(Number::from_f64)
                .map(Value::Number)
        }
        TargetType::Boolean => match raw.to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        TargetType::List => match serde_json::from_str::<Value>(raw) {
            Ok(list @ Value::Array(_)) => Some(list),
            _ => None,
        },
    }
}

/// Applies one row. Empty cells are skipped (the property is left out).
fn apply_row(
    state: &mut State,
    plan: &Plan,
    columns: &HashMap<String, usize>,
    cells: &[String],
    catalog_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let cell = |column: &str| -> &str {
        columns
            .get(column)
            .and_then(|&i| cells.get(i))
            .map_or("", String::as_str)
    };
    let mut properties = Map::new();
    for mapping in &plan.property_mappings {
        let raw = cell(&mapping.from_column);
        if raw.is_empty() {
            continue;
        }
        let value = convert(raw, mapping.target_type).ok_or_else(|| {
            format!(
                "column '{}': '{raw}' is not a {}.",
                mapping.from_column,
                mapping.target_type.noun()
            )
        })?;
        if raw.len() > MAX_PROPERTY_VALUE_BYTES {
            return Err(format!(
                "column '{}': the value is too large (limit is 16 KB).",
                mapping.from_column
            ));
        }
        properties.insert(mapping.to_column.clone(), value);
    }
    let timestamp = match &plan.timestamp_column {
        Some(column) => Some(parse_cell_timestamp(cell(column), plan.offset)?),
        None => None,
    };
    let ids = || -> Result<Vec<ExternalId>, String> {
        let ids: Vec<ExternalId> = plan
            .id_mappings
            .iter()
            .filter(|m| !cell(&m.from_column).is_empty())
            .map(|m| ExternalId {
                name: m.to_id.clone(),
                value: cell(&m.from_column).to_owned(),
                hard_priority: state.config.hard_ids.iter().position(|h| *h == m.to_id),
            })
            .collect();
        if ids.is_empty() {
            let names: Vec<&str> = plan
                .id_mappings
                .iter()
                .map(|m| m.from_column.as_str())
                .collect();
            return Err(format!(
                "no customer id (columns {} are empty).",
                names.join(", ")
            ));
        }
        Ok(ids)
    };
    match &plan.destination {
        Destination::Event { event_type, .. } => {
            let ids = ids()?;
            let State {
                profiles, stats, ..
            } = state;
            let target = profiles.resolve(&ids, stats);
            let event = EventTruth {
                event_type: event_type.clone(),
                timestamp: timestamp.unwrap_or_else(|| round_micros(epoch_seconds(now))),
                properties,
                received_at: now,
            };
            profiles.add_event(target, event, now, stats);
            Ok(())
        }
        Destination::Customer => {
            let ids = ids()?;
            let State {
                profiles,
                stats,
                config,
                ..
            } = state;
            let target = profiles.resolve(&ids, stats);
            profiles.update_properties(
                target,
                &properties,
                timestamp,
                epoch_seconds(now),
                config.customer_attribute_limit,
                stats,
            );
            Ok(())
        }
        Destination::Catalog { .. } => {
            let item_id = match properties.remove("item_id") {
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => return Err("item_id is empty.".to_owned()),
            };
            let catalog_id = catalog_id.ok_or_else(|| "Catalog not found.".to_owned())?;
            state.catalogs.import_item(catalog_id, &item_id, properties)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_utc_or_fixed_offsets() {
        assert_eq!(parse_tz("UTC"), FixedOffset::east_opt(0));
        assert_eq!(parse_tz("+02:00"), FixedOffset::east_opt(7200));
        assert_eq!(parse_tz("-05:30"), FixedOffset::east_opt(-19800));
        assert_eq!(parse_tz("Europe/Prague"), None);
        assert_eq!(parse_tz("+2"), None);
    }

    #[test]
    fn cell_timestamps_are_seconds_or_iso_in_the_definition_zone() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let plus_two = FixedOffset::east_opt(7200).unwrap();
        assert_eq!(
            parse_cell_timestamp("1700000000.5", utc),
            Ok(1_700_000_000.5)
        );
        assert_eq!(
            parse_cell_timestamp("2026-01-01T00:00:00Z", plus_two),
            Ok(1_767_225_600.0)
        );
        assert_eq!(
            parse_cell_timestamp("2026-01-01 02:00:00", plus_two),
            Ok(1_767_225_600.0)
        );
        assert_eq!(parse_cell_timestamp("2026-01-01", utc), Ok(1_767_225_600.0));
        assert!(parse_cell_timestamp("", utc).is_err());
        assert!(parse_cell_timestamp("-1", utc).is_err());
        assert!(parse_cell_timestamp("yesterday", utc).is_err());
    }

    #[test]
    fn cells_convert_strictly() {
        assert_eq!(convert("12", TargetType::Number), Some(json!(12)));
        assert_eq!(convert("12.50", TargetType::Number), Some(json!(12.5)));
        assert_eq!(convert("12,50", TargetType::Number), None);
        assert_eq!(convert("NaN", TargetType::Number), None);
        assert_eq!(convert("TRUE", TargetType::Boolean), Some(json!(true)));
        assert_eq!(convert("1", TargetType::Boolean), None);
        assert_eq!(
            convert("[1,\"a\"]", TargetType::List),
            Some(json!([1, "a"]))
        );
        assert_eq!(convert("a,b", TargetType::List), None);
        assert_eq!(convert("007", TargetType::Text), Some(json!("007")));
    }
}
