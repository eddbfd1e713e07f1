//! `backfill_status`: where the history backfill stands, for the UI's progress view (phase,
//! done / total, rate, time left, the files with their rows, the import runs with their
//! state, rows and Bloomreach's reason). The file server's credentials are never in it.

use serde::Serialize;
use ts_rs::TS;

use super::{AppApi, AppError};
use crate::backfill::progress::{ImportRun, Phase};

/// One written file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct BackfillFile {
    /// The file name.
    pub name: String,
    /// Data rows.
    pub rows: u64,
    /// SHA-256 (hex), once complete.
    pub sha256: Option<String>,
}

/// The answer to `Operation::BackfillStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct BackfillStatus {
    /// Whether a backfill ever started on this store.
    pub started: bool,
    /// Its phase.
    pub phase: Option<Phase>,
    /// Resources listed.
    pub done: u64,
    /// Resources planned (at least `done`).
    pub total: u64,
    /// Resources listed per second since the start.
    pub rate_per_second: f64,
    /// Seconds left at that rate.
    pub seconds_left: Option<f64>,
    /// The cut-over watermark (RFC 3339).
    pub watermark: Option<String>,
    /// Orders created after the watermark seen by the listing (the live path's).
    pub orders_after_watermark: u64,
    /// The files, in import order.
    pub files: Vec<BackfillFile>,
    /// The import runs.
    pub imports: Vec<ImportRun>,
    /// Why it failed.
    pub failure: Option<String>,
}

impl AppApi {
    /// Where the backfill stands.
    pub fn backfill_status(&self) -> Result<BackfillStatus, AppError> {
        let Some(progress) = self.store.backfill_progress()? else {
            return Ok(BackfillStatus {
                started: false,
                phase: None,
                done: 0,
                total: 0,
                rate_per_second: 0.0,
                seconds_left: None,
                watermark: None,
                orders_after_watermark: 0,
                files: Vec::new(),
                imports: Vec::new(),
                failure: None,
            });
        };
        let (done, total) = progress.done_and_total();
        let (rate, left) = progress.rate_and_time_left(self.clock.now());
        Ok(BackfillStatus {
            started: true,
            phase: Some(progress.phase),
            done,
            total,
            rate_per_second: rate,
            seconds_left: left,
            watermark: Some(progress.watermark.to_rfc3339()),
            orders_after_watermark: progress.orders_after_watermark,
            files: progress
                .files
                .values()
                .flat_map(|set| &set.files)
                .map(|file| BackfillFile {
                    name: file.name.clone(),
                    rows: file.rows,
                    sha256: file.sha256.clone(),
                })
                .collect(),
            imports: progress.imports,
            failure: progress.failure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Answer, Operation};
    use crate::backfill::progress::{BackfillProgress, ResourceKind};
    use crate::backfill::FileKind;
    use crate::store::Store;
    use bigreach_clock::ManualClock;

    #[test]
    fn status_reports_phase_progress_rate_and_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s.redb")).expect("open");
        let start = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("valid");
        let clock = ManualClock::new(start);
        let api = AppApi::new(store.clone(), clock.clone());
        let Answer::BackfillStatus(none) =
            api.call(Operation::BackfillStatus, "ops").expect("answers")
        else {
            panic!("a backfill status");
        };
        assert!(!none.started);
        let mut progress = BackfillProgress::new(start, None, start, 10);
        progress.totals.insert(ResourceKind::Orders, 1_000);
        progress
            .cursors
            .get_mut(&ResourceKind::Orders)
            .expect("cursor")
            .listed = 500;
        progress
            .files
            .get_mut(&FileKind::Purchases)
            .expect("files")
            .commit(0, 10, 900);
        let mut failed = ImportRun::pending("purchases-0001.csv");
        failed.import_id = "imp-1".to_owned();
        failed.state = ImportRun::FAILED.to_owned();
        failed.rows_failed = 10;
        failed.reason = Some("Downloading failed: the server answered HTTP 401.".to_owned());
        progress.imports.push(failed);
        progress.failure = Some("purchases-0001.csv: Downloading failed".to_owned());
        progress.phase = Phase::Failed;
        progress.files_access = Some(crate::backfill::progress::FilesAccess {
            run: "run-segment".to_owned(),
            password: "per-run-password".to_owned(),
        });
        store
            .write(|tx| tx.put_backfill_progress(&progress))
            .expect("write");
        clock.advance(std::time::Duration::from_secs(100));
        let status = api.backfill_status().expect("status");
        assert_eq!((status.done, status.total), (500, 1_000));
        assert_eq!(status.seconds_left, Some(100.0));
        let json = serde_json::to_string(&status).expect("json");
        assert!(!json.contains("per-run-password") && !json.contains("run-segment"));
        insta::assert_json_snapshot!("backfill_status", status);
    }
}
