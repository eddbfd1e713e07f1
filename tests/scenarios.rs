//! Scenarios: a scenario file plays through both twins and the appliance, and the report
//! catches a deliberately broken appliance. (Every shipped scenario also runs through the CLI in
//! `scripts/test.sh`.)

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bigreach_harness::scenario::{self, RunOptions, Scenario};

fn scenario_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/scenarios")
        .join(name)
}

#[test]
fn every_shipped_scenario_parses() {
    let mut count = 0;
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/scenarios")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            count += 1;
        }
    }
    assert!(count >= 10, "only {count} scenarios");
}

#[test]
fn a_scenario_with_an_unknown_fault_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "name = \"x\"\ndescription = \"y\"\n[[faults]]\nkind = \"meteor\"\nat_min = 1\nfor_mins = 1\n",
    )
    .unwrap();
    let err = Scenario::load(&path).unwrap_err().to_string();
    assert!(err.contains("unknown fault"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_storm_passes() {
    let scenario = Scenario::load(&scenario_file("rate-limit-storm.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = scenario::run(&scenario, dir.path(), &RunOptions::default())
        .await
        .unwrap();
    assert!(report.passed, "{report:#?}");
    assert!(report.summary.bloomreach_429s > 0, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appliance_that_ignores_429s_fails_the_rate_limit_storm() {
    let scenario = Scenario::load(&scenario_file("rate-limit-storm.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The broken appliance: a 429 is taken as success. We get that by rewriting Bloomreach's 429
    // answers into fake all-success answers on the way back, so the appliance records the data
    // as delivered while Bloomreach discarded it.
    let rewritten = Arc::new(AtomicU64::new(0));
    let count = rewritten.clone();
    let report = scenario::run_with_bloomreach_proxy(&scenario, dir.path(), move |bloomreach| {
        let count = count.clone();
        async move {
            common::proxy(
                bloomreach,
                Arc::new(|_: &str, _: &[u8]| common::Verdict::Forward),
                Arc::new(move |path: &str, request: &[u8], status: u16, _: &[u8]| {
                    if status == 429 && path.ends_with("/batch") {
                        count.fetch_add(1, Ordering::SeqCst);
                        return Some((200, common::fake_batch_success(request)));
                    }
                    None
                }),
            )
            .await
        }
    })
    .await
    .unwrap();
    assert!(rewritten.load(Ordering::SeqCst) > 0, "no 429 was rewritten");
    assert!(!report.passed, "{report:#?}");
    assert!(
        report.summary.purchases_missing > 0 || report.summary.persons_without_profile > 0,
        "{report:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_explains_a_scenarios_withheld_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("declined.toml");
    std::fs::write(
        &file,
        r#"
name = "declined"
description = "A guest's card is declined: no purchase, and the trace says why."
seed = 5
speed = 600
[store]
customers = 3
products = 2
max_variants_per_product = 1
historical_orders = 0
history_days = 5
guest_share_per_mille = 0
phone_only_guest_per_mille = 0
currencies = ["USD"]
[[shoppers]]
name = "dee"
email = "Dee.Clarke@example.org"
actions = [
  { at_min = 1, do = "checkout" },
  { at_min = 2, do = "decline" },
]
"#,
    )
    .unwrap();
    let scenario = Scenario::load(&file).unwrap();
    let data = dir.path().join("data");
    let report = scenario::run(&scenario, &data, &RunOptions::default())
        .await
        .unwrap();
    assert!(report.passed, "{report:#?}");
    // The appliance has stopped; read its store through the application API.
    let store = bigreach_core::store::Store::open(&data.join("bigreach.redb")).unwrap();
    let api = bigreach_core::app::AppApi::new(store, bigreach_clock::SystemClock::shared());
    let trace = api.trace("dee.clarke@example.org").unwrap();
    assert!(trace.commands.is_empty(), "{trace:#?}");
    assert_eq!(trace.withheld.len(), 1, "{trace:#?}");
    assert!(
        trace.withheld[0]
            .reason
            .starts_with("not paid: cancelled (status 6"),
        "{trace:#?}"
    );
}
