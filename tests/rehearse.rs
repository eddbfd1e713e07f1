//! The cutover rehearsal and the real preflight in front of an advance, against both twins on
//! a manual clock: `bigreach rehearse`'s run on the `init` defaults walks connect → triggers,
//! rolls back once and advances again with nothing lost or doubled; a real preflight run
//! (through the app API, with the appliance's own runner) unlocks the advance into read-only,
//! and a storefront whose CSP blocks the SDK host (`PUT /_twin/storefront`) makes the run fail
//! and the advance refused with `preflight_failed`.

mod common;

use std::path::Path;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock, SystemClock};
use bigreach_core::app::cutover::StagePlanAnswer;
use bigreach_core::app::{Answer, Code, Operation};
use bigreach_core::config::Config;
use bigreach_core::cutover::Stage;
use bigreach_core::preflight::storefront::integrity_of;
use bigreach_core::preflight::PreflightReport;
use bigreach_harness::rehearsal::{self, RehearsalOptions};
use bigreach_harness::twins::Twins;
use bigreach_runtime::Appliance;
use bigreach_twins::bloomreach::SDK_FILE;
use chrono::Utc;
use common::manual_clock::{advance_until, drive, small_plan, start_appliance};

const ACTOR: &str = "test operator";

/// Runs `work` while moving the manual clock faster than `drive` does (the rehearsal waits
/// through several virtual minutes), bounded by five minutes of real time.
async fn drive_long<T>(clock: &ManualClock, work: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(work);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = SystemClock.sleep(Duration::from_millis(2)) => {
                assert!(tokio::time::Instant::now() < deadline, "timed out");
                clock.advance(Duration::from_millis(40));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rehearsal_passes_on_the_default_config_against_the_twins() {
    let config = Config::from_toml(Config::default_toml(), Path::new("init")).unwrap();
    let clock = ManualClock::new(Utc::now());
    let options = RehearsalOptions::default();
    let report = drive_long(&clock, rehearsal::run(&config, &options, clock.clone()))
        .await
        .unwrap();
    let shown = rehearsal::table(&report);
    assert!(report.passed, "{shown}");
    assert!(report.problems.is_empty() && report.findings.is_empty());
    let walk: Vec<(&str, Stage, Stage)> = report
        .steps
        .iter()
        .map(|s| (s.action.as_str(), s.from, s.to))
        .collect();
    assert_eq!(
        walk,
        [
            ("advance", Stage::Connect, Stage::Preflight),
            ("advance", Stage::Preflight, Stage::ReadOnly),
            ("advance", Stage::ReadOnly, Stage::Ingest),
            ("rollback", Stage::Ingest, Stage::ReadOnly),
            ("advance", Stage::ReadOnly, Stage::Ingest),
            ("advance", Stage::Ingest, Stage::Triggers),
        ]
    );
    // Every advance carries the plan hash it was shown; the ones that open lanes ran a real,
    // passing preflight.
    for step in report.steps.iter().filter(|s| s.action == "advance") {
        assert_eq!(
            step.plan_hash.as_ref().map(String::len),
            Some(64),
            "{shown}"
        );
        let preflight = step.preflight.as_ref();
        assert_eq!(
            preflight.is_some(),
            step.to.entry_needs_preflight(),
            "{shown}"
        );
        assert!(preflight.is_none_or(|p| p.passed && p.digest.len() == 64));
    }
    // Read-only keeps the purchase waiting; the rollback lists what ingest sent and keeps the
    // new purchase queued.
    assert!(report.steps[1].queued["transactions"] >= 1, "{shown}");
    let rollback = &report.steps[3];
    assert!(rollback.already_sent["transactions"] > 0, "{shown}");
    assert_eq!(
        rollback.already_sent["transactions"], rollback.delivered["transactions"],
        "ingest sent every transaction so far: {shown}"
    );
    assert!(rollback.queued["transactions"] >= 1, "{shown}");
    assert!(!report.steps[2].checks.is_empty(), "{shown}");
    let end = report.steps.last().unwrap();
    assert!(end.queued.values().all(|n| *n == 0), "{shown}");
    // The verdict saw the traffic: the seeded history plus the rehearsal's orders and refund.
    assert!(report.verdict.purchases_in_bloomreach >= 4, "{shown}");
    assert_eq!(report.verdict.purchases_missing, 0);
    assert_eq!(report.verdict.purchases_duplicated, 0);
    assert!(shown.contains("nothing lost, nothing doubled"), "{shown}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["steps"][3]["action"], "rollback");
    assert_eq!(json["passed"], true);
}

async fn run_preflight(
    clock: &ManualClock,
    appliance: &Appliance,
    sdk_url: &str,
) -> PreflightReport {
    let status = appliance.status().unwrap();
    let answer = drive(
        clock,
        reqwest::Client::new()
            .post(format!("http://{}/api/call", status.api_address))
            .bearer_auth(appliance.api_token())
            .json(&serde_json::json!({"op": "preflight", "sdk_url": sdk_url}))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    drive(clock, answer.json::<PreflightReport>())
        .await
        .unwrap()
}

async fn put_storefront(clock: &ManualClock, twins: &Twins, settings: serde_json::Value) {
    let answer = drive(
        clock,
        reqwest::Client::new()
            .put(format!("{}_twin/storefront", twins.bigcommerce.base_url()))
            .json(&settings)
            .send(),
    )
    .await
    .unwrap();
    assert!(answer.status().is_success(), "{answer:?}");
}

fn plan(appliance: &Appliance) -> StagePlanAnswer {
    match appliance.app().call(Operation::StagePlan, ACTOR).unwrap() {
        Answer::StagePlan(plan) => *plan,
        other => panic!("not a plan: {other:?}"),
    }
}

fn advance(appliance: &Appliance) -> Result<Stage, Code> {
    let hash = plan(appliance).advance.plan_hash;
    match appliance
        .app()
        .call(Operation::Advance { plan_hash: hash }, ACTOR)
    {
        Ok(Answer::Advanced(advanced)) => Ok(advanced.to),
        Ok(other) => panic!("not an advance: {other:?}"),
        Err(error) => Err(error.code),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_preflight_unlocks_the_advance_and_a_csp_blocking_the_sdk_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&small_plan(), clock.clone()).await.unwrap();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.cutover.start_stage = Stage::Connect;
    config.cutover.preflight_max_age_secs = 3600;
    let appliance = start_appliance(&clock, &config, &Twins::secrets(), listeners).await;
    advance_until(&clock, Duration::from_millis(50), "start-up", || {
        appliance.status().unwrap().starting.is_empty()
    })
    .await;
    assert_eq!(advance(&appliance), Ok(Stage::Preflight));

    let sdk_url = twins.bloomreach.sdk_url();
    let sdk_host = format!(
        "{}://{}:{}",
        sdk_url.scheme(),
        sdk_url.host_str().unwrap(),
        sdk_url.port().unwrap()
    );
    let storefront = |script_src: &str| {
        serde_json::json!({
            "csp_header": format!("default-src 'self'; script-src {script_src}; connect-src 'self' {sdk_host}"),
            "meta_csp": null,
            "snippet": true,
            "sdk_src": sdk_url.as_str(),
            "integrity": integrity_of("sha384", SDK_FILE),
            "crossorigin": "anonymous",
            "nonce": null,
        })
    };

    // The storefront's CSP does not let the SDK load: the run fails, the advance is refused.
    put_storefront(&clock, &twins, storefront("'self'")).await;
    let report = run_preflight(&clock, &appliance, sdk_url.as_str()).await;
    assert!(!report.passed, "{report:#?}");
    assert_eq!(
        report.blocking(),
        vec!["storefront-csp-script-src".to_owned()]
    );
    assert_eq!(advance(&appliance), Err(Code::PreflightFailed));
    assert_eq!(appliance.app().stage().unwrap().stage, Stage::Preflight);

    // Fixed: a new run passes and the advance goes through.
    put_storefront(&clock, &twins, storefront(&format!("'self' {sdk_host}"))).await;
    let report = run_preflight(&clock, &appliance, sdk_url.as_str()).await;
    assert!(report.passed, "{report:#?}");
    assert_eq!(advance(&appliance), Ok(Stage::ReadOnly));
    let audit = appliance.store().audit_log().unwrap();
    let runs: Vec<serde_json::Value> = audit
        .iter()
        .filter(|r| r.action == "preflight.run")
        .map(|r| serde_json::from_str(&r.detail).unwrap())
        .collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0]["passed"].clone(), runs[1]["passed"].clone()),
        (false.into(), true.into())
    );
    let advance_entry = audit
        .iter()
        .rev()
        .find(|r| r.action == "cutover.advance")
        .unwrap();
    assert_eq!(advance_entry.actor, ACTOR);

    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}
