//! The full catalog comparison against both twins on one manual clock: drift made behind
//! BigReach's back (an item edited and one deleted in Bloomreach, a variant deleted in
//! BigCommerce without its webhook) is found with exact counts; the repair makes a second
//! comparison find nothing; a write still queued is pending, not drift; `--last` shows the
//! stored report; the CLI exits with 10 for drift it did not repair; the schedule runs the
//! repair on its own; and an out-of-range period is refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bigreach_clock::ManualClock;
use bigreach_core::app::{Answer, AppApi, Operation};
use bigreach_core::config::{Config, ConfigError};
use bigreach_core::map::catalog::drift::DriftReport;
use bigreach_harness::twins::Twins;
use chrono::Utc;
use common::manual_clock::{advance_by, advance_until, drive, small_plan, start_appliance};

const DRIFT_SECS: u64 = 3_600;

/// A variant whose product has another one (so it can be deleted), and two variants of other
/// products.
fn pick_variants(twins: &Twins) -> (u64, u64, u64) {
    let truth = twins.bigcommerce.truth();
    let mut per_product = std::collections::BTreeMap::<u64, Vec<u64>>::new();
    for v in &truth.variants {
        per_product
            .entry(v.product_id)
            .or_default()
            .push(v.variant_id);
    }
    let (&deletable_product, variants) = per_product
        .iter()
        .find(|(_, vs)| vs.len() >= 2)
        .expect("the small store has a product with two variants");
    let deleted = *variants.last().unwrap();
    let others: Vec<u64> = truth
        .variants
        .iter()
        .filter(|v| v.product_id != deletable_product)
        .map(|v| v.variant_id)
        .collect();
    (others[0], others[1], deleted)
}

async fn compare(clock: &std::sync::Arc<ManualClock>, app: &AppApi, repair: bool) -> DriftReport {
    let app = app.clone();
    drive(
        clock,
        tokio::task::spawn_blocking(move || app.catalog_drift(repair, "operator (test)")),
    )
    .await
    .unwrap()
    .expect("the comparison runs")
}

fn cli_config(dir: &Path, data_dir: &Path, api: std::net::SocketAddr) -> PathBuf {
    let text = Config::default_toml()
        .replace(
            "data_dir = \"./bigreach-data\"",
            &format!("data_dir = {:?}", data_dir.display().to_string()),
        )
        .replace(
            "listen = \"127.0.0.1:8788\"",
            &format!("listen = \"{api}\""),
        );
    let path = dir.join("bigreach.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_behind_our_back_is_found_repaired_and_reported() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(&data_dir).unwrap();
    config.mapping.catalog.drift_compare_secs = Some(DRIFT_SECS);
    config.mapping.catalog.sweep_secs = Some(0);
    let catalog = config.bloomreach.catalog_name.clone();
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(
        &clock,
        Duration::from_millis(200),
        "the first sync delivered",
        || appliance.poll_passes() >= 1 && appliance.status().unwrap().idle,
    )
    .await;
    let app = appliance.app().clone();
    let variants = twins.bigcommerce.truth().variants.len();
    let in_sync = compare(&clock, &app, false).await;
    assert_eq!(in_sync.drifted(), 0, "{in_sync:#?}");
    assert_eq!(in_sync.counts.in_sync, variants);

    // Behind BigReach's back: a price edited and an item deleted in Bloomreach, a variant
    // deleted in BigCommerce (BigReach does not follow sku/deleted).
    let (edited, removed, deleted) = pick_variants(&twins);
    let mut price = serde_json::Map::new();
    price.insert("price".into(), serde_json::json!(0.5));
    twins
        .bloomreach
        .edit_catalog_item(&catalog, &edited.to_string(), price)
        .unwrap();
    twins
        .bloomreach
        .delete_catalog_item(&catalog, &removed.to_string())
        .unwrap();
    twins.bigcommerce.delete_variant(deleted).unwrap();

    let found = compare(&clock, &app, false).await;
    assert_eq!(found.missing, vec![removed.to_string()]);
    assert_eq!(found.extra, vec![deleted.to_string()]);
    assert_eq!(found.differing.len(), 1, "{found:#?}");
    assert_eq!(found.differing[0].item_id, edited.to_string());
    let fields: Vec<&str> = found.differing[0]
        .fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(fields, ["price"]);
    assert_eq!(found.counts.in_sync, variants - 3);
    assert_eq!(found.counts.pending_writes, 0);
    assert_eq!(found.bigcommerce_items, variants - 1);
    assert!(found.unrepaired());

    // The CLI shows it and exits with 10; `--last` is the stored report.
    let api = appliance.status().unwrap().api_address;
    let cli = cli_config(dir.path(), &data_dir, api);
    let run = |args: Vec<String>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bigreach"));
        command.args(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let config_arg = cli.to_str().unwrap().to_owned();
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = ["catalog", "drift", "--config", &config_arg]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let output = drive(&clock, run(args(&[]))).await.unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(10), "{text}");
    assert!(text.contains("differing"), "{text}");
    assert!(text.contains("--repair"), "{text}");
    let output = drive(&clock, run(args(&["--last", "--json"])))
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(10));
    let last: DriftReport = serde_json::from_slice(&output.stdout).unwrap();
    let stored = app.call(Operation::LastCatalogDrift, "test").unwrap();
    assert_eq!(stored, Answer::CatalogDrift(Box::new(last.clone())));
    assert_eq!(last.counts, found.counts);
    let token = std::fs::read_to_string(data_dir.join("api-token")).unwrap();
    let from_api: DriftReport = drive(
        &clock,
        reqwest::Client::new()
            .get(format!("http://{api}/api/catalog/drift"))
            .bearer_auth(token.trim())
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(from_api, last);

    // The repair, delivered: a second comparison finds nothing.
    let repaired = compare(&clock, &app, true).await;
    let repair = repaired.repair.clone().unwrap();
    assert_eq!(
        (repair.partial_updates, repair.full_upserts, repair.deletes),
        (1, 1, 1)
    );
    advance_until(
        &clock,
        Duration::from_millis(200),
        "the repair delivered",
        || appliance.status().unwrap().idle,
    )
    .await;
    let after = compare(&clock, &app, false).await;
    assert_eq!(after.drifted(), 0, "{after:#?}");
    assert_eq!(after.counts.in_sync, variants - 1);
    let item = |id: u64| {
        twins
            .bloomreach
            .truth()
            .catalog_by_name(&catalog)
            .and_then(|c| c.items.get(&id.to_string()).cloned())
    };
    assert!(
        item(deleted).is_none(),
        "the deleted variant's item is gone"
    );
    assert!(item(removed).is_some(), "the removed item is back");
    assert_ne!(item(edited).unwrap()["price"], serde_json::json!(0.5));
    let output = drive(&clock, run(args(&[]))).await.unwrap();
    assert_eq!(output.status.code(), Some(0));

    // A live change still on its way is a pending write, not drift.
    let live = twins.bigcommerce.truth().variants[0].variant_id;
    twins
        .bigcommerce
        .edit_variant(live, Some("88.80".parse().unwrap()), None)
        .unwrap();
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the live write queued",
        || {
            appliance
                .store()
                .catalog_item_commands()
                .unwrap()
                .get(&live.to_string())
                .is_some_and(|c| c.status == bigreach_core::model::CommandStatus::Pending)
        },
    )
    .await;
    let pending = compare(&clock, &app, false).await;
    assert_eq!(
        pending.pending_writes,
        vec![live.to_string()],
        "{pending:#?}"
    );
    assert_eq!(pending.drifted(), 0, "{pending:#?}");

    // The schedule: another drift, and one period later it is repaired on its own.
    advance_until(
        &clock,
        Duration::from_millis(200),
        "the live write delivered",
        || appliance.status().unwrap().idle,
    )
    .await;
    twins
        .bloomreach
        .delete_catalog_item(&catalog, &edited.to_string())
        .unwrap();
    let scheduled = || {
        appliance
            .store()
            .audit_log()
            .unwrap()
            .iter()
            .filter(|r| r.action == "catalog.drift_repaired" && r.actor == "system (scheduled)")
            .count()
    };
    assert_eq!(scheduled(), 0);
    advance_by(
        &clock,
        Duration::from_secs(DRIFT_SECS),
        Duration::from_secs(5),
    )
    .await;
    advance_until(
        &clock,
        Duration::from_millis(200),
        "the scheduled repair",
        || scheduled() == 1 && appliance.status().unwrap().idle,
    )
    .await;
    assert!(item(edited).is_some(), "the scheduled repair wrote it back");
    let last = app.last_catalog_drift().unwrap();
    assert_eq!(last.missing, vec![edited.to_string()]);
    assert_eq!(last.repair.unwrap().full_upserts, 1);

    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

#[test]
fn an_out_of_range_comparison_period_is_refused_with_its_field() {
    for (secs, ok) in [
        (0, true),
        (3_600, true),
        (86_400, true),
        (600, false),
        (700_000, false),
    ] {
        let text = format!(
            "{}\n[mapping.catalog]\ndrift_compare_secs = {secs}\n",
            Config::default_toml()
        );
        match Config::from_toml(&text, Path::new("bigreach.toml")) {
            Ok(_) => assert!(ok, "{secs} s was accepted"),
            Err(ConfigError::Invalid(problems)) => {
                assert!(!ok, "{secs} s was refused: {problems:?}");
                assert_eq!(problems.len(), 1);
                assert_eq!(problems[0].field, "mapping.catalog.drift_compare_secs");
                assert!(problems[0].problem.contains("or 0"), "{problems:?}");
            }
            Err(other) => panic!("{other}"),
        }
    }
}
