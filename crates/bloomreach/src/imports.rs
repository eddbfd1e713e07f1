//! Imports API types (reference bloomreach.md §5.3): a URL import definition, the start
//! request, and the definition's state with its last run as read back.
//!
//! The definition is the body Bloomreach's own Magento connector sends (`name`, `active`,
//! `trigger`, `source`, `mapping`, `timestamp_column`, `destination`); the shape of `last_run`
//! is inferred (nothing public documents it), so its decoder accepts what it can and names the
//! state [`ImportRunState::Unknown`] when it cannot tell.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One import definition: a run-once URL import of one CSV file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportDefinition {
    pub name: String,
    pub active: bool,
    pub trigger: ImportTrigger,
    pub source: ImportSource,
    pub mapping: ImportMapping,
    /// The column holding each event's time (Unix seconds); `None` for customers and catalogs.
    pub timestamp_column: Option<String>,
    /// `{"event_destination": …}`, `{"customer_destination": {}}` or
    /// `{"catalog_destination": …}`, as the caller built it.
    pub destination: Value,
}

/// When the import runs: `{"trigger_type": "now"}` (runs are started explicitly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportTrigger {
    pub trigger_type: String,
}

/// Where Bloomreach downloads the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSource {
    /// `url`.
    pub source_type: String,
    pub import_url: String,
    #[serde(default)]
    pub use_socks_proxy: bool,
    /// HTTP Basic credentials Bloomreach sends with the download.
    pub auth: Option<ImportAuth>,
}

/// Basic auth for the download. The password never appears in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ImportAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportAuth")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// The columns: `tz_info` and the column mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMapping {
    pub tz_info: String,
    pub column_mapping: ColumnMapping,
}

/// Which columns are customer IDs and which are typed properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    pub id_mappings: Vec<IdMapping>,
    pub property_mappings: Vec<PropertyMapping>,
}

/// A customer ID column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdMapping {
    pub from_column: String,
    pub to_id: String,
}

/// A property column with its Bloomreach type (`string`, `text`, `number`, `boolean`, `list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyMapping {
    pub from_column: String,
    pub to_column: String,
    pub target_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searchable: Option<bool>,
}

/// The body of `POST /data/v1/projects/{token}/imports/{id}/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartImport {
    /// A URL for this run only, instead of the definition's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Whether Bloomreach first checks that it can reach the source (documented default
    /// `true`; a failed check answers 400 and records no run).
    pub test_connection: bool,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportRunState {
    /// Downloading or importing.
    Running,
    /// Every row was read (some may have failed: `rows_failed`).
    Finished,
    /// The run stopped; `errors` says why.
    Failed,
    /// A status this client does not know (treated as still running).
    Unknown,
}

/// One run of a definition, as Bloomreach reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRunStatus {
    pub state: ImportRunState,
    /// The status text as sent.
    pub status: String,
    pub rows_total: u64,
    pub rows_imported: u64,
    pub rows_failed: u64,
    /// Bloomreach's reasons (file-level and per row), as sent.
    pub errors: Vec<String>,
}

/// A definition as read back (`GET /imports/v1/{token}/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportState {
    pub import_id: String,
    pub name: String,
    pub active: bool,
    /// The newest run, if one started.
    pub last_run: Option<ImportRunStatus>,
}

/// One entry of `GET /imports/v1/{token}` (only API-created definitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub import_id: String,
    pub name: String,
    /// The source URL, when the definition has one.
    pub import_url: Option<String>,
}
