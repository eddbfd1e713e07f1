//! The backfill's durable progress (the store's `backfill` table): the phase, a cursor per
//! resource kind, the files with their committed rows and lengths, and the watermark. One write
//! transaction records a page's cursor together with the file state its rows produced.

use std::collections::BTreeMap;
use ts_rs::TS;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::encoding::FileKind;
use super::files::FileSetState;

/// What the backfill is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Listing BigCommerce and writing files.
    Listing,
    /// Files complete; imports not started (or written for upload by hand).
    Written,
    /// Bloomreach is importing the files.
    Importing,
    /// Every import finished.
    Done,
    /// An import failed (the reason is in [`BackfillProgress::failure`]).
    Failed,
}

/// The BigCommerce resources the backfill lists, in listing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// Products (with variants): catalog rows.
    Products,
    /// Customers: profile rows.
    Customers,
    /// Orders (with line items): purchase and purchase item rows.
    Orders,
}

impl ResourceKind {
    /// All, in listing order.
    pub const ALL: [ResourceKind; 3] = [
        ResourceKind::Products,
        ResourceKind::Customers,
        ResourceKind::Orders,
    ];
}

/// Where the listing of one resource stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceCursor {
    /// The next page to list (1-based); pages before it are written.
    pub next_page: u32,
    /// Resources listed so far (in committed pages).
    pub listed: u64,
    /// Whether the last page was seen.
    pub done: bool,
}

/// One file's import: its definition and its run, as Bloomreach reports it.
///
/// `state` moves `pending` → `creating` (recorded before the create call, so a crash in
/// between is resolved by finding the definition by its URL) → `created` (the id recorded
/// before the start call) → `running` → `done` or `failed`. Only `done` means imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ImportRun {
    /// The file.
    pub file: String,
    /// The import definition id (empty until created).
    pub import_id: String,
    /// `pending`, `creating`, `created`, `running`, `done` or `failed`.
    pub state: String,
    /// Rows Bloomreach imported.
    pub rows_imported: u64,
    /// Rows Bloomreach could not import.
    #[serde(default)]
    pub rows_failed: u64,
    /// Why it failed (Bloomreach's reasons).
    pub reason: Option<String>,
}

impl ImportRun {
    /// The states of [`ImportRun::state`].
    pub const PENDING: &'static str = "pending";
    pub const CREATING: &'static str = "creating";
    pub const CREATED: &'static str = "created";
    pub const RUNNING: &'static str = "running";
    pub const DONE: &'static str = "done";
    pub const FAILED: &'static str = "failed";

    /// A file not imported yet.
    pub fn pending(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            import_id: String::new(),
            state: Self::PENDING.to_owned(),
            rows_imported: 0,
            rows_failed: 0,
            reason: None,
        }
    }

    /// Whether the run ended (done or failed).
    pub fn ended(&self) -> bool {
        self.state == Self::DONE || self.state == Self::FAILED
    }
}

/// The import file server's credentials for one run: a random path segment and password
/// (HTTP Basic, user [`FilesAccess::USERNAME`]). Kept in the store; never in `Debug`, logs or
/// the app API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesAccess {
    /// The URL path segment of this run's files.
    pub run: String,
    /// The Basic auth password.
    pub password: String,
}

impl FilesAccess {
    /// The Basic auth user name.
    pub const USERNAME: &'static str = "bigreach";
}

impl std::fmt::Debug for FilesAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesAccess")
            .field("run", &self.run)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// The whole progress record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillProgress {
    /// The phase.
    pub phase: Phase,
    /// Orders created at or before it are imported, later ones go live (see `watermark`).
    pub watermark: DateTime<Utc>,
    /// Orders created before this are left out (`--since`).
    pub since: Option<DateTime<Utc>>,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Totals the planner read (for done / total).
    pub totals: BTreeMap<ResourceKind, u64>,
    /// Cursors.
    pub cursors: BTreeMap<ResourceKind, ResourceCursor>,
    /// Files per kind.
    pub files: BTreeMap<FileKind, FileSetState>,
    /// Orders the listing saw created after the watermark (left to the live path).
    pub orders_after_watermark: u64,
    /// Import runs.
    pub imports: Vec<ImportRun>,
    /// Why the backfill failed.
    pub failure: Option<String>,
    /// The file server's credentials, from the start of the imports.
    #[serde(default)]
    pub files_access: Option<FilesAccess>,
}

impl BackfillProgress {
    /// A new run.
    pub fn new(
        watermark: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
        started_at: DateTime<Utc>,
        row_limit: u64,
    ) -> Self {
        Self {
            phase: Phase::Listing,
            watermark,
            since,
            started_at,
            totals: BTreeMap::new(),
            cursors: ResourceKind::ALL
                .into_iter()
                .map(|kind| {
                    (
                        kind,
                        ResourceCursor {
                            next_page: 1,
                            ..ResourceCursor::default()
                        },
                    )
                })
                .collect(),
            files: FileKind::ALL
                .into_iter()
                .map(|kind| (kind, FileSetState::new(kind, row_limit)))
                .collect(),
            orders_after_watermark: 0,
            imports: Vec::new(),
            failure: None,
            files_access: None,
        }
    }

    /// Resources listed, of the planned total (listing phase figures).
    pub fn done_and_total(&self) -> (u64, u64) {
        let done = self.cursors.values().map(|c| c.listed).sum();
        if self.cursors.values().all(|c| c.done) {
            // Listed to the end: the planner's counts were estimates (v3 counts whole pages,
            // and an order can move out of the range), what was listed is the total.
            return (done, done);
        }
        let total: u64 = self.totals.values().sum();
        (done, total.max(done))
    }

    /// Rows listed per second since the start, and the seconds left at that rate.
    pub fn rate_and_time_left(&self, now: DateTime<Utc>) -> (f64, Option<f64>) {
        let (done, total) = self.done_and_total();
        let elapsed = (now - self.started_at).num_milliseconds() as f64 / 1000.0;
        if elapsed <= 0.0 || done == 0 {
            return (0.0, None);
        }
        let rate = done as f64 / elapsed;
        (rate, Some((total - done) as f64 / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_run_to_the_end_is_complete_whatever_the_plan_estimated() {
        let start = DateTime::from_timestamp(0, 0).expect("valid");
        let mut progress = BackfillProgress::new(start, None, start, 10);
        progress.totals.insert(ResourceKind::Orders, 120);
        progress.totals.insert(ResourceKind::Customers, 250);
        for (kind, listed) in [
            (ResourceKind::Orders, 113),
            (ResourceKind::Customers, 40),
            (ResourceKind::Products, 15),
        ] {
            let cursor = progress.cursors.get_mut(&kind).expect("a cursor");
            cursor.listed = listed;
            cursor.done = kind != ResourceKind::Orders;
        }
        let later = start + chrono::Duration::seconds(10);
        assert_eq!(progress.done_and_total(), (168, 370));
        assert!(progress.rate_and_time_left(later).1.expect("a time") > 0.0);
        progress
            .cursors
            .get_mut(&ResourceKind::Orders)
            .expect("a cursor")
            .done = true;
        assert_eq!(progress.done_and_total(), (168, 168));
        assert_eq!(progress.rate_and_time_left(later).1, Some(0.0));
    }

    #[test]
    fn the_files_password_is_never_in_debug() {
        let access = FilesAccess {
            run: "r1".to_owned(),
            password: "s3cret-pass".to_owned(),
        };
        let start = DateTime::from_timestamp(0, 0).expect("valid");
        let mut progress = BackfillProgress::new(start, None, start, 10);
        progress.files_access = Some(access);
        let debug = format!("{progress:?}");
        assert!(!debug.contains("s3cret-pass"), "{debug}");
        assert!(debug.contains("r1"));
    }

    #[test]
    fn rate_and_time_left_come_from_what_is_listed() {
        let start = DateTime::from_timestamp(0, 0).expect("valid");
        let mut progress = BackfillProgress::new(start, None, start, 10);
        progress.totals.insert(ResourceKind::Orders, 1_000);
        progress
            .cursors
            .get_mut(&ResourceKind::Orders)
            .expect("cursor")
            .listed = 250;
        let now = DateTime::from_timestamp(10, 0).expect("valid");
        let (rate, left) = progress.rate_and_time_left(now);
        assert!((rate - 25.0).abs() < 1e-9);
        assert_eq!(left, Some(30.0));
        assert_eq!(progress.done_and_total(), (250, 1_000));
    }
}
