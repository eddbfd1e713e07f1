//! `backfill_status`: where the history backfill stands, for the UI's progress view (phase,
//! done / total, rate, time left, the files with their rows, the import runs with their
//! state, rows and Bloomreach's reason). The file server's credentials are never in it.
//!
//! `backfill_plan`: what a backfill would cost before it starts, read from BigCommerce now by a
//! [`BackfillPlanner`] (the running appliance's, in `runtime::backfill`).
//!
//! `backfill_start`: starts (or resumes) the backfill inside the running appliance through a
//! [`BackfillRunner`], from the `read_only` stage on (history is part of the read-only sync),
//! audited as `backfill.started`.

use serde::Serialize;
use ts_rs::TS;

use super::{AppApi, AppError, Code};
use crate::backfill::plan::BackfillPlan;
use crate::backfill::progress::{ImportRun, Phase};
use crate::cutover::Stage;

/// Reads BigCommerce's counts and quota and plans a backfill (`bigreach backfill plan`). Called
/// from a blocking thread.
pub trait BackfillPlanner: Send + Sync {
    /// The plan for orders created on or after `since` (all orders when `None`).
    fn plan(&self, since: Option<chrono::NaiveDate>) -> Result<BackfillPlan, AppError>;
}

/// Runs the history backfill inside the running appliance (`bigreach backfill run` without
/// closing it). Called from a blocking thread; the run itself goes on in the background.
pub trait BackfillRunner: Send + Sync {
    /// Starts (or resumes, from the store's progress) the backfill of the orders created on or
    /// after `since`. Refuses with [`Code::AlreadyRunning`] while one runs, and with
    /// [`Code::BadRequest`] when the configuration cannot run it (`[history] mode`).
    fn start(&self, since: Option<chrono::NaiveDate>) -> Result<(), AppError>;
    /// Whether a run is going on now.
    fn running(&self) -> bool;
    /// Why the last run in this process stopped before the end (BigCommerce, the store or a
    /// file failed), if it did: start it again to resume. An import that Bloomreach failed is
    /// the progress's own `failure`.
    fn stopped_by(&self) -> Option<String>;
}

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
    /// Whether it runs in this appliance now (the screen follows it while it does).
    pub running: bool,
    /// Why the last run in this appliance stopped before the end, if it did (start it again to
    /// resume where it stopped).
    pub stopped_by: Option<String>,
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
    /// The same API, able to plan a backfill through `planner`.
    pub fn with_backfill_planner(mut self, planner: std::sync::Arc<dyn BackfillPlanner>) -> Self {
        self.backfill_planner = Some(planner);
        self
    }

    /// The same API, able to run a backfill through `runner`.
    pub fn with_backfill_runner(mut self, runner: std::sync::Arc<dyn BackfillRunner>) -> Self {
        self.backfill_runner = Some(runner);
        self
    }

    /// What a backfill of the orders created since `since` would cost, read now.
    pub fn backfill_plan(
        &self,
        since: Option<chrono::NaiveDate>,
    ) -> Result<BackfillPlan, AppError> {
        let planner = self.backfill_planner.as_ref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "the plan reads BigCommerce's counts through the running appliance or \
                 `bigreach backfill plan`; neither is set up in this process",
            )
        })?;
        self.check_since(since)?;
        planner.plan(since)
    }

    fn check_since(&self, since: Option<chrono::NaiveDate>) -> Result<(), AppError> {
        if since.is_some_and(|day| day > self.clock.now().date_naive()) {
            return Err(AppError::new(
                Code::BadRequest,
                "since is after today (UTC): no order can have been created then yet",
            ));
        }
        Ok(())
    }

    /// Starts (or resumes) the backfill in the running appliance and answers where it stands.
    pub fn backfill_start(
        &self,
        since: Option<chrono::NaiveDate>,
        actor: &str,
    ) -> Result<BackfillStatus, AppError> {
        let runner = self.backfill_runner.as_ref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "the backfill runs in the running appliance (or `bigreach backfill run` with \
                 the appliance stopped); none runs in this process",
            )
        })?;
        self.check_since(since)?;
        let stage = self.current_stage()?;
        if stage < Stage::ReadOnly {
            return Err(AppError::new(
                Code::StageClosed,
                format!(
                    "the history import sends to Bloomreach, and the cutover is at {}: advance \
                     to read_only first (the stage that opens customers, catalog and history)",
                    stage.name()
                ),
            ));
        }
        let progress = self.store.backfill_progress()?;
        if let Some(done) = progress.as_ref().filter(|p| p.phase == Phase::Done) {
            return Err(AppError::new(
                Code::BadRequest,
                format!(
                    "the history backfill already finished (watermark {}): every order up to \
                     it is imported and every later one goes live, so there is nothing to start",
                    done.watermark.to_rfc3339()
                ),
            ));
        }
        runner.start(since)?;
        self.store.audit(
            self.clock.now_ms(),
            actor,
            "backfill.started",
            &serde_json::json!({
                "since": since.map(|day| day.to_string()),
                "resumed": progress.is_some(),
            }),
        )?;
        self.backfill_status()
    }

    /// Where the backfill stands.
    pub fn backfill_status(&self) -> Result<BackfillStatus, AppError> {
        let running = self.backfill_runner.as_ref().is_some_and(|r| r.running());
        let stopped_by = self.backfill_runner.as_ref().and_then(|r| r.stopped_by());
        let Some(progress) = self.store.backfill_progress()? else {
            return Ok(BackfillStatus {
                started: false,
                running,
                stopped_by,
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
            running,
            stopped_by,
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

#[cfg(test)]
mod plan_tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::app::{Answer, Operation};
    use crate::backfill::plan::{plan, PlanInput, QuotaFigures, ResourceCounts};
    use crate::store::Store;
    use bigreach_clock::ManualClock;

    /// A planner over fixed counts that records what it was asked.
    struct Counted {
        asked: Mutex<Vec<Option<chrono::NaiveDate>>>,
    }

    impl BackfillPlanner for Counted {
        fn plan(&self, since: Option<chrono::NaiveDate>) -> Result<BackfillPlan, AppError> {
            self.asked.lock().expect("not poisoned").push(since);
            Ok(plan(PlanInput {
                counts: ResourceCounts {
                    orders: 1_000,
                    customers: 300,
                    products: 40,
                    variants_per_product: 2.0,
                    lines_per_order: 1.5,
                },
                quota: QuotaFigures {
                    requests_per_window: 150,
                    window_secs: 30.0,
                    reserve_share: 0.2,
                },
                max_rows_per_file: 1_000_000,
            }))
        }
    }

    fn api() -> (AppApi, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s.redb")).expect("open");
        let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("valid");
        (AppApi::new(store, ManualClock::new(now)), dir)
    }

    #[test]
    fn the_plan_is_read_through_the_planner_and_refused_without_one() {
        let (api, _dir) = api();
        let error = api
            .call(Operation::BackfillPlan { since: None }, "ops")
            .expect_err("no planner in this process");
        assert_eq!(error.code, Code::NotRunning);

        let planner = Arc::new(Counted {
            asked: Mutex::new(Vec::new()),
        });
        let api = api.with_backfill_planner(planner.clone());
        let since = chrono::NaiveDate::from_ymd_opt(2025, 6, 1);
        let Answer::BackfillPlan(answer) = api
            .call(Operation::BackfillPlan { since }, "ops")
            .expect("a plan")
        else {
            panic!("a backfill plan");
        };
        // 4 order pages, 2 customer pages, 1 product page.
        assert_eq!(answer.api_calls, 7);
        assert_eq!(answer.order_calls, 4);
        assert_eq!(*planner.asked.lock().expect("not poisoned"), vec![since]);
        // The UI's tests read this snapshot (ui/test/fixtures.ts).
        insta::assert_json_snapshot!("backfill_plan", answer);
    }

    #[test]
    fn a_plan_from_a_day_after_today_is_a_bad_request() {
        let (api, _dir) = api();
        let planner = Arc::new(Counted {
            asked: Mutex::new(Vec::new()),
        });
        let api = api.with_backfill_planner(planner.clone());
        let error = api
            .call(
                Operation::BackfillPlan {
                    since: chrono::NaiveDate::from_ymd_opt(2026, 1, 2),
                },
                "ops",
            )
            .expect_err("tomorrow");
        assert_eq!(error.code, Code::BadRequest);
        assert!(planner.asked.lock().expect("not poisoned").is_empty());
    }
}

#[cfg(test)]
mod start_tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::app::{Answer, Operation};
    use crate::backfill::progress::BackfillProgress;
    use crate::config::CutoverSettings;
    use crate::cutover::PlanQuotas;
    use crate::store::Store;
    use bigreach_clock::ManualClock;

    /// A runner that records its starts and runs until told otherwise.
    #[derive(Default)]
    struct Recorded {
        starts: Mutex<Vec<Option<chrono::NaiveDate>>>,
        running: AtomicBool,
    }

    impl BackfillRunner for Recorded {
        fn start(&self, since: Option<chrono::NaiveDate>) -> Result<(), AppError> {
            if self.running.swap(true, Ordering::SeqCst) {
                return Err(AppError::new(Code::AlreadyRunning, "runs already"));
            }
            self.starts.lock().expect("not poisoned").push(since);
            Ok(())
        }
        fn running(&self) -> bool {
            self.running.load(Ordering::SeqCst)
        }
        fn stopped_by(&self) -> Option<String> {
            None
        }
    }

    fn api(stage: Stage) -> (AppApi, Arc<Recorded>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s.redb")).expect("open");
        let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("valid");
        let runner = Arc::new(Recorded::default());
        let settings = CutoverSettings {
            start_stage: stage,
            ..CutoverSettings::default()
        };
        let api = AppApi::new(store, ManualClock::new(now))
            .with_cutover(settings, PlanQuotas::default())
            .with_backfill_runner(runner.clone());
        (api, runner, dir)
    }

    fn start(api: &AppApi, since: Option<chrono::NaiveDate>) -> Result<BackfillStatus, AppError> {
        match api.call(Operation::BackfillStart { since }, "ops")? {
            Answer::BackfillStatus(status) => Ok(*status),
            other => panic!("a backfill status, not {other:?}"),
        }
    }

    #[test]
    fn a_start_runs_through_the_runner_is_audited_and_a_second_is_refused_while_it_runs() {
        let (api, runner, _dir) = api(Stage::ReadOnly);
        let since = chrono::NaiveDate::from_ymd_opt(2025, 6, 1);
        let status = start(&api, since).expect("started");
        assert!(status.running && !status.started, "{status:?}");
        assert_eq!(*runner.starts.lock().expect("not poisoned"), vec![since]);
        let audit = api.store.audit_log().expect("audit");
        let entry = audit.last().expect("an entry");
        assert_eq!(
            (entry.action.as_str(), entry.actor.as_str()),
            ("backfill.started", "ops")
        );
        assert_eq!(entry.detail, r#"{"resumed":false,"since":"2025-06-01"}"#);
        let again = start(&api, None).expect_err("runs already");
        assert_eq!(again.code, Code::AlreadyRunning);
        assert_eq!(api.store.audit_log().expect("audit").len(), audit.len());
    }

    #[test]
    fn nothing_starts_before_read_only_without_a_runner_from_tomorrow_or_after_the_end() {
        for stage in [Stage::Connect, Stage::Preflight] {
            let (api, runner, _dir) = api(stage);
            let error = start(&api, None).expect_err("closed");
            assert_eq!(error.code, Code::StageClosed, "{stage:?}");
            assert!(error.message.contains("advance to read_only"), "{error:?}");
            assert!(runner.starts.lock().expect("not poisoned").is_empty());
        }
        let (api, runner, _dir) = api(Stage::Ingest);
        let tomorrow = chrono::NaiveDate::from_ymd_opt(2026, 1, 2);
        assert_eq!(
            start(&api, tomorrow).expect_err("tomorrow").code,
            Code::BadRequest
        );
        let mut done = BackfillProgress::new(api.clock.now(), None, api.clock.now(), 10);
        done.phase = Phase::Done;
        api.store
            .write(|tx| tx.put_backfill_progress(&done))
            .expect("write");
        let finished = start(&api, None).expect_err("finished");
        assert_eq!(finished.code, Code::BadRequest);
        assert!(
            finished.message.contains("already finished"),
            "{finished:?}"
        );
        assert!(runner.starts.lock().expect("not poisoned").is_empty());

        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s.redb")).expect("open");
        let bare = AppApi::new(store, api.clock.clone());
        assert_eq!(
            start(&bare, None).expect_err("no runner").code,
            Code::NotRunning
        );
    }
}
