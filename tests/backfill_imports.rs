//! The history import through the Bloomreach twin's Imports API, on a manual clock with every
//! listener on an OS-picked loopback port: the appliance serves its files behind Basic auth,
//! creates one definition per file, starts and follows each run; the twin's ground truth then
//! holds every paid historical order exactly once, and an order placed afterwards arrives
//! live, so no order is both imported and sent live, and none is neither. A wrong password
//! fails the run with the twin's reason, and a kill between creating and starting a definition
//! (or before its id was recorded) creates no second definition.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceClient, ClientConfig};
use bigreach_bloomreach::BloomreachClient;
use bigreach_clock::ManualClock;
use bigreach_core::backfill::progress::{BackfillProgress, ImportRun, Phase};
use bigreach_core::config::{Config, HistoryMode};
use bigreach_core::store::Store;
use bigreach_harness::twins::Twins;
use bigreach_runtime::backfill::{BackfillJob, ImportSettings};
use bigreach_twins::bloomreach::ImportRunStatus;
use chrono::{DateTime, Utc};
use common::manual_clock::{
    advance_until, drive, paid_guest_order, purchases_in_bloomreach, small_plan,
};
use url::Url;

const START: &str = "2026-03-06T09:00:00Z";
/// Small enough that the purchases and items span several files.
const ROW_LIMIT: u64 = 150;

struct Setup {
    clock: Arc<ManualClock>,
    twins: Twins,
    dir: tempfile::TempDir,
    config: Config,
    listeners: Option<bigreach_runtime::Listeners>,
    job: BackfillJob,
    bloomreach: BloomreachClient,
    /// The file server's address, the same for every run (as `[history] files_listen` is).
    files: std::net::TcpListener,
}

async fn setup(historical_orders: usize) -> Setup {
    let mut plan = small_plan();
    plan.store.historical_orders = historical_orders;
    let start: DateTime<Utc> = START.parse().unwrap();
    let clock = ManualClock::new(start);
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.history.mode = HistoryMode::Imports;
    let secrets = Twins::secrets();
    let token = secrets.resolve(&config.bigcommerce.access_token).unwrap();
    let client = BigCommerceClient::new(
        ClientConfig::new(config.bigcommerce_api_root(), token),
        clock.clone(),
    )
    .unwrap();
    let secret = secrets.resolve(&config.bloomreach.secret).unwrap();
    let bloomreach = BloomreachClient::new(
        bigreach_bloomreach::ClientConfig::new(
            config.bloomreach.base_url.clone(),
            config.bloomreach.project_token.clone(),
            config.bloomreach.key_id.clone(),
            secret,
        ),
        clock.clone(),
    )
    .unwrap();
    let (settings, _) = drive(&clock, bigreach_runtime::mapping_settings(&config, &client))
        .await
        .unwrap();
    let store = Store::open(&config.data_dir.join("bigreach.redb")).unwrap();
    let job = BackfillJob {
        client,
        store,
        dir: config.data_dir.join("history"),
        settings,
        row_limit: ROW_LIMIT,
        clock: clock.clone(),
    };
    Setup {
        clock,
        twins,
        dir,
        config,
        listeners: Some(listeners),
        job,
        bloomreach,
        files: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
    }
}

impl Setup {
    /// The import settings, on the one file listener.
    fn import_settings(&self) -> ImportSettings {
        let listener = self.files.try_clone().unwrap();
        let public_url =
            Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        ImportSettings {
            bloomreach: self.bloomreach.clone(),
            listener,
            public_url,
            catalog_name: self.config.bloomreach.catalog_name.clone(),
            poll_every: Duration::from_secs(1),
        }
    }

    async fn write_files(&self) {
        let progress = drive(&self.clock, self.job.run(None, BTreeMap::new(), |_| {}))
            .await
            .unwrap();
        assert_eq!(progress.phase, Phase::Written);
    }

    /// Runs the import until `stop_at` holds after a recorded step, and kills it there (a
    /// panic in the step's callback ends its task at once, as a kill does: nothing after the
    /// recorded step runs), or to its end.
    async fn import_until(
        &self,
        stop_at: impl Fn(&BackfillProgress) -> bool + Send + 'static,
    ) -> Option<BackfillProgress> {
        let settings = self.import_settings();
        let job = self.job.clone();
        let task = tokio::spawn(async move {
            job.import(settings, move |p| {
                if stop_at(p) {
                    std::panic::panic_any(Killed);
                }
            })
            .await
        });
        match drive(&self.clock, task).await {
            Ok(done) => Some(done.unwrap()),
            Err(error) if error.is_panic() => {
                let payload = error.into_panic();
                assert!(payload.is::<Killed>(), "the import panicked");
                None
            }
            Err(error) => panic!("{error}"),
        }
    }
}

/// The payload of a simulated kill.
struct Killed;

/// Refund ids of the twin's `purchase` refund events, with how often each is stored.
fn refunds_in_bloomreach(twins: &Twins) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for profile in twins.bloomreach.truth().profiles {
        for event in &profile.events {
            if event.event_type == "purchase"
                && event
                    .properties
                    .get("purchase_status")
                    .and_then(|s| s.as_str())
                    == Some("refund")
            {
                let id = event.properties["refund_id"].as_u64().unwrap();
                *seen.entry(id).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// The refunds of paid orders in BigCommerce.
fn refunds_of_paid_orders(twins: &Twins) -> BTreeSet<u64> {
    let paid = paid_orders(twins);
    twins
        .bigcommerce
        .truth()
        .refunds
        .iter()
        .filter(|r| paid.contains(&r.order_id))
        .map(|r| r.refund_id)
        .collect()
}

fn paid_orders(twins: &Twins) -> BTreeSet<u64> {
    twins
        .bigcommerce
        .truth()
        .orders
        .iter()
        .filter(|o| o.paid)
        .map(|o| o.order_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_imports_the_history_through_the_imports_api_and_live_takes_the_rest() {
    let mut s = setup(400).await;
    s.write_files().await;
    let progress = s.import_until(|_| false).await.unwrap();
    assert_eq!(progress.phase, Phase::Done, "{:?}", progress.failure);
    let files: usize = progress.files.values().map(|f| f.files.len()).sum();
    assert!(files > 4, "several files per kind at {ROW_LIMIT} rows");
    assert_eq!(progress.imports.len(), files, "one import per file");
    for run in &progress.imports {
        assert_eq!(run.state, ImportRun::DONE, "{run:?}");
        assert_eq!(run.rows_failed, 0, "{run:?}");
        let rows = progress
            .files
            .values()
            .flat_map(|f| &f.files)
            .find(|f| f.name == run.file)
            .unwrap()
            .rows;
        assert_eq!(run.rows_imported, rows, "{} imported whole", run.file);
    }
    // Every finished definition was deleted: nothing left against the 25.
    assert!(s.twins.bloomreach.truth().imports.is_empty());
    let status = bigreach_core::app::AppApi::new(s.job.store.clone(), s.clock.clone())
        .backfill_status()
        .unwrap();
    assert_eq!(status.phase, Some(Phase::Done));
    assert_eq!(status.imports.len(), files);
    let history = paid_orders(&s.twins);
    let imported = purchases_in_bloomreach(&s.twins.bloomreach);
    assert_eq!(
        imported.keys().copied().collect::<BTreeSet<_>>(),
        history,
        "every paid historical order, nothing else"
    );
    assert!(imported.values().all(|n| *n == 1), "none twice");
    let truth = s.twins.bloomreach.truth();
    let catalog = truth
        .catalog_by_name(&s.config.bloomreach.catalog_name)
        .unwrap();
    assert_eq!(
        catalog.items.len(),
        s.twins.bigcommerce.truth().variant_ids.len()
    );

    // Live from here: the appliance (imports mode) sends only what comes after the watermark.
    // The appliance opens the store the backfill used.
    drop(s.job);
    s.clock.advance(Duration::from_secs(60));
    let appliance = common::manual_clock::start_appliance(
        &s.clock,
        &s.config,
        &Twins::secrets(),
        s.listeners.take().unwrap(),
    )
    .await;
    let late = paid_guest_order(&s.twins.bigcommerce, "after.import@example.com", None);
    advance_until(
        &s.clock,
        Duration::from_millis(100),
        "the live purchase",
        || purchases_in_bloomreach(&s.twins.bloomreach).contains_key(&late),
    )
    .await;
    advance_until(
        &s.clock,
        Duration::from_millis(100),
        "the appliance to settle",
        || appliance.status().unwrap().idle,
    )
    .await;
    let everything = purchases_in_bloomreach(&s.twins.bloomreach);
    let paid = paid_orders(&s.twins);
    let both: Vec<_> = everything.iter().filter(|(_, n)| **n > 1).collect();
    assert!(both.is_empty(), "imported and sent live: {both:?}");
    let neither: Vec<_> = paid
        .iter()
        .filter(|id| !everything.contains_key(id))
        .collect();
    assert!(
        neither.is_empty(),
        "neither imported nor sent live: {neither:?}"
    );
    assert_eq!(everything.keys().copied().collect::<BTreeSet<_>>(), paid);
    // Refunds too: each refund of a paid order exactly once, imported or live.
    let refunds = refunds_in_bloomreach(&s.twins);
    assert!(!refunds.is_empty(), "the store has refunds");
    assert!(refunds.values().all(|n| *n == 1), "{refunds:?}");
    assert_eq!(
        refunds.keys().copied().collect::<BTreeSet<_>>(),
        refunds_of_paid_orders(&s.twins)
    );
    appliance.shutdown().await;
    s.twins.shutdown().await;
    drop(s.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_the_run_with_the_reason_and_marks_nothing_imported() {
    let s = setup(50).await;
    s.write_files().await;
    // The first definition is created with the run's password; the store's password is then
    // changed, so the file server refuses what the definition sends.
    let stopped = s
        .import_until(|p| {
            p.imports
                .first()
                .is_some_and(|r| r.state == ImportRun::CREATED)
        })
        .await;
    assert!(stopped.is_none());
    let mut progress = s.job.store.backfill_progress().unwrap().unwrap();
    let first = progress.imports[0].clone();
    progress.files_access.as_mut().unwrap().password = "not-the-definitions".to_owned();
    s.job
        .store
        .write(|tx| tx.put_backfill_progress(&progress))
        .unwrap();
    let before = s.twins.bloomreach.truth().stats.import_rows_imported;
    let progress = s.import_until(|_| false).await.unwrap();
    assert_eq!(progress.phase, Phase::Failed);
    let failed = &progress.imports[0];
    assert_eq!(failed.state, ImportRun::FAILED);
    assert_eq!(failed.rows_imported, 0);
    let reason = failed.reason.as_deref().unwrap();
    assert!(reason.contains("401"), "{reason}");
    assert!(progress.failure.as_deref().unwrap().contains(&first.file));
    // The twin's run failed with that reason; the definition is kept for the operator.
    let truth = s.twins.bloomreach.truth();
    let import = truth.import_by_id(&first.import_id).unwrap();
    let run = import.runs.last().unwrap();
    assert_eq!(run.status, ImportRunStatus::Failed);
    assert!(run.errors.iter().any(|e| e.contains("401")), "{run:?}");
    assert_eq!(run.rows_imported, 0);
    // The other files used the recorded password and were imported.
    assert!(progress.imports[1..]
        .iter()
        .all(|r| r.state == ImportRun::DONE));
    assert!(truth.stats.import_rows_imported > before);
    let status = bigreach_core::app::AppApi::new(s.job.store.clone(), s.clock.clone())
        .backfill_status()
        .unwrap();
    assert_eq!(status.phase, Some(Phase::Failed));
    assert!(status.failure.as_deref().unwrap().contains("401"));
    assert!(!serde_json::to_string(&status)
        .unwrap()
        .contains("not-the-definitions"));
    // Run again: the failed file starts over with a new definition (the failed one deleted),
    // and the history is in Bloomreach once.
    let again = s.import_until(|_| false).await.unwrap();
    assert_eq!(again.phase, Phase::Done, "{:?}", again.failure);
    assert!(again.imports.iter().all(|r| r.state == ImportRun::DONE));
    assert!(s.twins.bloomreach.truth().imports.is_empty());
    let imported = purchases_in_bloomreach(&s.twins.bloomreach);
    assert!(imported.values().all(|n| *n == 1));
    assert_eq!(
        imported.keys().copied().collect::<BTreeSet<_>>(),
        paid_orders(&s.twins)
    );
    s.twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_create_and_start_creates_no_second_definition() {
    let s = setup(50).await;
    s.write_files().await;
    // Killed once the first definition's id is recorded (before its start).
    let stopped = s
        .import_until(|p| {
            p.imports
                .first()
                .is_some_and(|r| r.state == ImportRun::CREATED)
        })
        .await;
    assert!(stopped.is_none());
    let truth = s.twins.bloomreach.truth();
    assert_eq!(truth.imports.len(), 1, "one definition so far");
    assert!(
        truth.imports[0].runs.is_empty(),
        "not started: {:?}",
        truth.imports
    );
    let first_id = truth.imports[0].import_id.clone();
    // Killed after the next create call answered but before its id was recorded: the store
    // still says `creating` for it.
    let stopped = s
        .import_until(|p| {
            p.imports
                .get(1)
                .is_some_and(|r| r.state == ImportRun::CREATED)
        })
        .await;
    assert!(stopped.is_none());
    let mut progress = s.job.store.backfill_progress().unwrap().unwrap();
    assert_eq!(
        progress.imports[0].state,
        ImportRun::DONE,
        "{:?}",
        progress.imports[0]
    );
    progress.imports[1].state = ImportRun::CREATING.to_owned();
    progress.imports[1].import_id.clear();
    s.job
        .store
        .write(|tx| tx.put_backfill_progress(&progress))
        .unwrap();
    let progress = s.import_until(|_| false).await.unwrap();
    assert_eq!(progress.phase, Phase::Done, "{:?}", progress.failure);
    assert!(progress.imports.iter().all(|r| r.state == ImportRun::DONE));
    assert_ne!(progress.imports[1].import_id, first_id);
    // Every definition was finished and deleted: an extra one would be left behind.
    assert!(
        s.twins.bloomreach.truth().imports.is_empty(),
        "{:?}",
        s.twins.bloomreach.truth().imports
    );
    let imported = purchases_in_bloomreach(&s.twins.bloomreach);
    assert!(imported.values().all(|n| *n == 1));
    assert_eq!(
        imported.keys().copied().collect::<BTreeSet<_>>(),
        paid_orders(&s.twins)
    );
    s.twins.shutdown().await;
}

/// `backfill_start` on the running appliance's app API: the same backfill as `bigreach
/// backfill run`, without closing the appliance. It runs in the background (a second start is
/// refused while it does); stopped by a Bloomreach outage it says why, and the next start
/// resumes without listing again; it imports every paid historical order once through the
/// Imports API, each start is audited, and a start after the end is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_appliance_starts_the_backfill_from_its_app_api_and_imports_the_history() {
    use bigreach_core::app::{Answer, Code, Operation};
    let mut s = setup(120).await;
    // The appliance opens the store itself; its file server takes a port the system picks.
    drop(s.job);
    s.config.cutover.start_stage = bigreach_core::cutover::Stage::ReadOnly;
    s.config.history.files_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let appliance = common::manual_clock::start_appliance(
        &s.clock,
        &s.config,
        &Twins::secrets(),
        s.listeners.take().unwrap(),
    )
    .await;
    // Bloomreach is down at first: the files get written, the imports cannot start.
    let outage = |on: bool| {
        s.twins
            .bloomreach
            .switch_fault(&bigreach_twins::control::FaultSwitch {
                kind: "bloomreach_outage".into(),
                on,
                until: Some(START.parse::<DateTime<Utc>>().unwrap() + chrono::Duration::days(1)),
                ..Default::default()
            })
            .unwrap()
    };
    outage(true);
    let app = appliance.app().clone();
    let start = || app.call(Operation::BackfillStart { since: None }, "ops");
    // Until BigCommerce answered, the mapping the files are written with is not known.
    let started = std::sync::Mutex::new(None);
    advance_until(
        &s.clock,
        Duration::from_millis(100),
        "the start to be taken",
        || match start() {
            Ok(Answer::BackfillStatus(status)) => {
                *started.lock().unwrap() = Some(status);
                true
            }
            Err(error) if error.code == Code::NotRunning => false,
            other => panic!("the first start: {other:?}"),
        },
    )
    .await;
    let started = started.into_inner().unwrap().unwrap();
    assert!(started.running, "it runs in the background: {started:?}");
    let again = start().unwrap_err();
    assert_eq!(again.code, Code::AlreadyRunning, "{again:?}");
    let status = || app.backfill_status().unwrap();
    advance_until(
        &s.clock,
        Duration::from_millis(500),
        "the backfill to stop at the outage",
        || !status().running,
    )
    .await;
    let stopped = status();
    let why = stopped.stopped_by.clone().expect("why it stopped");
    assert!(
        why.contains("Bloomreach") && why.contains("start it again to resume"),
        "{why}"
    );
    assert_ne!(stopped.phase, Some(Phase::Done), "{stopped:?}");
    assert!(!stopped.files.is_empty(), "the files were written first");
    let written: Vec<_> = stopped.files.clone();
    // Bloomreach is back: the next start resumes (the files are not listed again).
    outage(false);
    let Answer::BackfillStatus(resumed) = start().unwrap() else {
        panic!("a backfill status");
    };
    assert!(
        resumed.running && resumed.stopped_by.is_none(),
        "{resumed:?}"
    );
    advance_until(
        &s.clock,
        Duration::from_millis(500),
        "the backfill to end",
        || !status().running,
    )
    .await;
    let done = status();
    assert_eq!(done.files, written, "nothing listed or written again");
    assert_eq!(done.phase, Some(Phase::Done), "{done:?}");
    assert_eq!(done.stopped_by, None);
    assert!(
        done.imports.iter().all(|r| r.state == ImportRun::DONE),
        "{:?}",
        done.imports
    );
    let imported = purchases_in_bloomreach(&s.twins.bloomreach);
    assert_eq!(
        imported.keys().copied().collect::<BTreeSet<_>>(),
        paid_orders(&s.twins),
        "every paid historical order, nothing else"
    );
    assert!(imported.values().all(|n| *n == 1), "none twice");
    let audit = appliance.store().audit_log().unwrap();
    let starts: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "backfill.started")
        .map(|r| (r.actor.as_str(), r.detail.as_str()))
        .collect();
    assert_eq!(
        starts,
        [
            ("ops", r#"{"resumed":false,"since":null}"#),
            ("ops", r#"{"resumed":true,"since":null}"#)
        ]
    );
    let finished = start().unwrap_err();
    assert_eq!(finished.code, Code::BadRequest);
    assert!(
        finished.message.contains("already finished"),
        "{finished:?}"
    );
    appliance.shutdown().await;
    s.twins.shutdown().await;
    drop(s.dir);
}
