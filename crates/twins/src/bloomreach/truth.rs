//! The ground truth of the twin: what a perfect observer of the Bloomreach project would see.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A snapshot of everything the twin stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BloomreachTruth {
    /// Live customer profiles, by ascending internal id. Profiles merged into another one are
    /// gone; their ids appear in the survivor's `merged_from`.
    pub profiles: Vec<ProfileTruth>,
    /// Catalogs, by creation order.
    pub catalogs: Vec<CatalogTruth>,
    /// Import definitions created through the Imports API (deleted ones are gone), by creation
    /// order, with every run.
    #[serde(default)]
    pub imports: Vec<ImportTruth>,
    /// Counters.
    pub stats: TwinStats,
}

impl BloomreachTruth {
    /// The live profile that holds the external id `name` = `value`, if any.
    pub fn profile_by_id(&self, name: &str, value: &str) -> Option<&ProfileTruth> {
        self.profiles.iter().find(|p| {
            p.ids
                .get(name)
                .is_some_and(|values| values.iter().any(|v| v == value))
        })
    }

    /// The catalog called `name`, if any (the first one when several share the name).
    pub fn catalog_by_name(&self, name: &str) -> Option<&CatalogTruth> {
        self.catalogs.iter().find(|c| c.name == name)
    }

    /// The import definition with id `import_id`, if it exists.
    pub fn import_by_id(&self, import_id: &str) -> Option<&ImportTruth> {
        self.imports.iter().find(|i| i.import_id == import_id)
    }
}

/// One customer profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileTruth {
    /// Bloomreach's internal id; lower means older.
    pub internal_id: u64,
    /// External ids by name: a hard id has exactly one value, a soft id up to 64 (least recently
    /// used first).
    pub ids: BTreeMap<String, Vec<String>>,
    /// Customer properties.
    pub properties: Map<String, Value>,
    /// Stored events, in the order they were stored (moved events are appended on a merge, then
    /// the whole list is ordered by `received_at`).
    pub events: Vec<EventTruth>,
    /// Internal ids of the profiles merged into this one.
    pub merged_from: Vec<u64>,
    /// True once GDPR anonymization ran on this profile (it then holds only a fresh cookie).
    #[serde(default)]
    pub anonymized: bool,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTruth {
    /// The event type (`purchase`, `consent`, …).
    pub event_type: String,
    /// Event time in float Unix seconds, rounded to 6 decimal places as the platform does.
    pub timestamp: f64,
    /// Event properties, exactly as received (number types preserved).
    pub properties: Map<String, Value>,
    /// Clock time when the accepting request was answered.
    pub received_at: DateTime<Utc>,
}

/// One catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogTruth {
    /// The catalog id the API returned at creation.
    pub id: String,
    /// The catalog name.
    pub name: String,
    /// Declared fields as `(name, type)`.
    pub fields: Vec<(String, String)>,
    /// Items by `item_id`.
    pub items: BTreeMap<String, Map<String, Value>>,
}

/// One import definition and its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportTruth {
    /// The id the create call returned.
    pub import_id: String,
    /// The definition's name.
    pub name: String,
    /// `event:<event_type>`, `customer` or `catalog:<catalog_name>`.
    pub destination: String,
    /// Whether the definition counts against the 25 active definitions.
    pub active: bool,
    /// Runs, oldest first.
    pub runs: Vec<ImportRunTruth>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportRunStatus {
    /// Downloading or applying rows.
    Running,
    /// Every row was read; some may have failed (see `rows_failed`).
    Finished,
    /// The run stopped without applying (the rest of) the file; `errors` says why.
    Failed,
}

/// One run of an import definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRunTruth {
    /// Where the run stands.
    pub status: ImportRunStatus,
    /// The URL the run downloads (the definition's, or the start call's `path` override).
    pub source_url: String,
    /// Data rows in the file (header excluded); 0 until the file is read.
    pub rows_total: u64,
    /// Rows applied. An event row dropped by the duplicate filter still counts as imported.
    pub rows_imported: u64,
    /// Rows that failed (see `errors`).
    pub rows_failed: u64,
    /// The first 20 error messages (row errors, or the reason the run failed).
    pub errors: Vec<String>,
    /// Clock time when the run was started.
    pub started_at: DateTime<Utc>,
    /// Clock time when the run finished or failed.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Counters of what the twin did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwinStats {
    /// API requests received (everything except `/_twin/`).
    pub requests: u64,
    /// Requests answered 429 (data discarded).
    pub rate_limited_429: u64,
    /// Requests answered 5xx, random or by outage (data discarded).
    pub server_errors_5xx: u64,
    /// Tracking commands (batch or single endpoint) that succeeded.
    pub commands_accepted: u64,
    /// Tracking commands that failed.
    pub commands_rejected: u64,
    /// Events dropped by the duplicate filter (their command still reported success).
    pub duplicate_events_dropped: u64,
    /// Profile merges (one per profile merged away).
    pub merges: u64,
    /// Addition: commands whose hard ids conflicted with existing profiles (some id could not be
    /// attached, or a soft id was stolen).
    pub identity_conflicts: u64,
    /// Addition: customer properties dropped because the project's attribute cap was reached.
    pub properties_dropped_over_cap: u64,
    /// Addition: catalog items written successfully.
    pub catalog_items_accepted: u64,
    /// Addition: catalog items that failed.
    pub catalog_items_rejected: u64,
    /// Addition: import rows applied (all runs, all destinations).
    #[serde(default)]
    pub import_rows_imported: u64,
    /// Addition: import rows that failed.
    #[serde(default)]
    pub import_rows_failed: u64,
    /// Addition: customers anonymized (GDPR).
    #[serde(default)]
    pub anonymizations: u64,
}
