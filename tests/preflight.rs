//! The go-live preflight end to end, against both twins on loopback: on a good setup (the
//! appliance running, its catalog and hooks in place, a storefront whose CSP and SRI let the
//! SDK load) every check passes through `POST /api/call {"op": "preflight"}`; then each breakage
//! fails its own check with the evidence and the fix (a CSP header that blocks the SDK host, a
//! meta CSP that blocks tracking, a wrong integrity, a missing scope), and every run writes the
//! `preflight.run` audit entry of the shared contract. Standalone, `bigreach preflight` reports
//! the test delivery as inconclusive and exits 11 on a blocking failure; an ID name the project
//! does not know and a clock two minutes behind Bloomreach's fail their checks.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use bigreach_clock::{ManualClock, SystemClock};
use bigreach_core::app::preflight::AUDIT_ACTION;
use bigreach_core::config::Config;
use bigreach_core::preflight::storefront::integrity_of;
use bigreach_core::preflight::{scopes, Check, Outcome, PreflightReport, DEFINITIONS};
use bigreach_core::secret::SecretRef;
use bigreach_harness::twins::{credentials, Twins};
use bigreach_runtime::Appliance;
use bigreach_twins::bigcommerce::{ScopeSettings, StorefrontSettings};
use bigreach_twins::bloomreach::SDK_FILE;
use chrono::Utc;
use common::manual_clock::{advance_until, drive, small_plan, start_appliance};

fn check<'a>(report: &'a PreflightReport, id: &str) -> &'a Check {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#?}"))
}

/// `host:port` origin of a URL, as a CSP host-source.
fn origin(url: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap(),
        url.port().unwrap()
    )
}

async fn preflight(
    clock: &ManualClock,
    appliance: &Appliance,
    sdk_url: &url::Url,
) -> PreflightReport {
    let status = appliance.status().unwrap();
    let answer = drive(
        clock,
        reqwest::Client::new()
            .post(format!("http://{}/api/call", status.api_address))
            .bearer_auth(appliance.api_token())
            .json(&serde_json::json!({"op": "preflight", "sdk_url": sdk_url.as_str()}))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    drive(clock, answer.json::<PreflightReport>())
        .await
        .unwrap()
}

/// The newest audit entry is the run's, in the contract's shape.
fn assert_audited(appliance: &Appliance, report: &PreflightReport) {
    let entry = appliance.store().audit_log().unwrap().pop().unwrap();
    assert_eq!(entry.action, AUDIT_ACTION);
    assert_eq!(entry.action, "preflight.run");
    assert_eq!(entry.at_ms, report.ran_at.timestamp_millis());
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({
            "passed": report.passed,
            "digest": report.digest,
            "blocking": report.blocking(),
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_setup_passes_and_each_breakage_fails_its_check_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&small_plan(), clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (config, listeners) = twins.appliance_config(dir.path()).unwrap();
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    // Both services answered: the hooks are registered and the catalog declared.
    advance_until(&clock, Duration::from_millis(50), "start-up", || {
        appliance.status().unwrap().starting.is_empty()
    })
    .await;

    let sdk_url = twins.bloomreach.sdk_url();
    let sdk_host = origin(&sdk_url);
    let good = StorefrontSettings {
        csp_header: Some(format!(
            "default-src 'self'; script-src 'self' {sdk_host}; connect-src 'self' {sdk_host}"
        )),
        meta_csp: None,
        snippet: true,
        sdk_src: Some(sdk_url.to_string()),
        integrity: integrity_of("sha384", SDK_FILE),
        crossorigin: Some("anonymous".into()),
        nonce: None,
    };
    twins.bigcommerce.set_storefront(good.clone());
    let report = preflight(&clock, &appliance, &sdk_url).await;
    let not_passed: Vec<&Check> = report
        .checks
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
    assert!(report.passed);
    assert_eq!(report.checks.len(), DEFINITIONS.len());
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    let expected: Vec<&str> = DEFINITIONS.iter().map(|d| d.id).collect();
    assert_eq!(ids, expected);
    // It read real data and proved delivery.
    assert!(
        check(&report, "bigcommerce-scope-orders")
            .evidence
            .read
            .contains("read order #"),
        "{report:#?}"
    );
    assert!(check(&report, "bigcommerce-webhook-delivery")
        .evidence
        .read
        .contains("stored by the receiver"));
    assert!(check(&report, "storefront-sri")
        .evidence
        .read
        .contains("matches the sha384"));
    assert_audited(&appliance, &report);

    // A CSP header that does not allow the SDK host.
    twins.bigcommerce.set_storefront(StorefrontSettings {
        csp_header: Some(format!("script-src 'self'; connect-src 'self' {sdk_host}")),
        ..good.clone()
    });
    let report = preflight(&clock, &appliance, &sdk_url).await;
    let csp = check(&report, "storefront-csp-script-src");
    assert_eq!(csp.outcome, Outcome::Fail, "{csp:#?}");
    assert!(
        csp.evidence
            .read
            .contains("script-src-elem 'self' (from the header policy)"),
        "{csp:#?}"
    );
    assert_eq!(csp.evidence.status, Some(200));
    assert!(csp.fix.contains(&sdk_host), "{csp:#?}");
    assert_eq!(
        csp.runbook,
        "data/runbooks/preflight.md#storefront-csp-script-src"
    );
    assert!(!report.passed);
    assert_eq!(
        report.blocking(),
        vec!["storefront-csp-script-src".to_owned()]
    );
    assert_audited(&appliance, &report);

    // A meta policy that blocks tracking, though the header allows it.
    twins.bigcommerce.set_storefront(StorefrontSettings {
        meta_csp: Some("connect-src 'self'".into()),
        ..good.clone()
    });
    let report = preflight(&clock, &appliance, &sdk_url).await;
    let connect = check(&report, "storefront-csp-connect-src");
    assert_eq!(connect.outcome, Outcome::Fail, "{connect:#?}");
    assert!(
        connect.evidence.read.contains("meta policy"),
        "{connect:#?}"
    );
    assert!(connect.evidence.read.contains(&format!("{sdk_host}/bulk")));
    assert_eq!(
        check(&report, "storefront-csp-script-src").outcome,
        Outcome::Pass
    );
    assert_eq!(
        report.blocking(),
        vec!["storefront-csp-connect-src".to_owned()]
    );

    // An integrity attribute pinned to another file.
    twins.bigcommerce.set_storefront(StorefrontSettings {
        integrity: integrity_of("sha384", b"an older SDK"),
        ..good.clone()
    });
    let report = preflight(&clock, &appliance, &sdk_url).await;
    let sri = check(&report, "storefront-sri");
    assert_eq!(sri.outcome, Outcome::Fail, "{sri:#?}");
    let actual = integrity_of("sha384", SDK_FILE).unwrap();
    assert!(sri.evidence.read.contains(&actual), "{sri:#?}");
    assert!(sri.fix.contains("Remove the integrity attribute"));
    assert_eq!(report.blocking(), vec!["storefront-sri".to_owned()]);
    assert_audited(&appliance, &report);

    // The API account lacks the customers scope: BigCommerce answers 403.
    twins.bigcommerce.set_storefront(good);
    let granted: BTreeSet<String> = scopes::NEEDED
        .iter()
        .filter(|s| **s != scopes::CUSTOMERS)
        .map(|s| s.name.to_owned())
        .collect();
    twins.bigcommerce.set_scopes(ScopeSettings {
        granted: Some(granted),
    });
    let report = preflight(&clock, &appliance, &sdk_url).await;
    let customers = check(&report, "bigcommerce-scope-customers");
    assert_eq!(customers.outcome, Outcome::Fail, "{customers:#?}");
    assert_eq!(customers.evidence.status, Some(403));
    assert!(customers.fix.contains("`store_v2_customers_read_only`"));
    assert!(customers.fix.contains("\"Customers: read-only\""));
    assert_eq!(
        check(&report, "bigcommerce-scope-orders").outcome,
        Outcome::Pass
    );
    assert_eq!(
        report.blocking(),
        vec!["bigcommerce-scope-customers".to_owned()]
    );
    assert_audited(&appliance, &report);

    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_the_cli_reports_delivery_inconclusive_and_exits_11_on_a_blocking_failure() {
    let dir = tempfile::tempdir().unwrap();
    // The CLI reads the system clock, so the twins do too (the clock-skew check compares them).
    let twins = Twins::start(&small_plan(), SystemClock::shared())
        .await
        .unwrap();
    let (mut config, listeners) = twins.appliance_config(&dir.path().join("data")).unwrap();
    drop(listeners);
    config.bigcommerce.access_token = SecretRef::Env("PREFLIGHT_TEST_BC_TOKEN".into());
    config.bloomreach.secret = SecretRef::Env("PREFLIGHT_TEST_BR_SECRET".into());
    config.webhooks.secret = SecretRef::Env("PREFLIGHT_TEST_WEBHOOK_SECRET".into());
    let path = dir.path().join("bigreach.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    assert_eq!(Config::load(&path).unwrap(), config);

    let sdk_url = twins.bloomreach.sdk_url();
    let path_for_run = path.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bigreach"))
            .args(["preflight", "--config"])
            .arg(&path_for_run)
            .args(["--sdk-url", sdk_url.as_str()])
            .env("PREFLIGHT_TEST_BC_TOKEN", credentials::BC_TOKEN)
            .env("PREFLIGHT_TEST_BR_SECRET", credentials::KEY_SECRET)
            .env("PREFLIGHT_TEST_WEBHOOK_SECRET", credentials::WEBHOOK_SECRET)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No appliance ran: no catalog and no hooks yet, which block.
    assert_eq!(out.status.code(), Some(11), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("? bigcommerce-webhook-delivery"),
        "{stdout}"
    );
    assert!(stdout.contains("the appliance is not running"), "{stdout}");
    assert!(
        stdout.contains("✖ bigcommerce-webhooks-registered"),
        "{stdout}"
    );
    assert!(stdout.contains("✖ bloomreach-catalog-fields"), "{stdout}");
    assert!(stdout.contains("✔ bigcommerce-scope-orders"), "{stdout}");
    assert!(stdout.contains("✔ clock-skew"), "{stdout}");
    assert!(stdout.contains("fix:  Start `bigreach serve`"), "{stdout}");

    // The run is in the data directory's audit log, in the contract's shape.
    let store = bigreach_core::store::Store::open(&config.data_dir.join("bigreach.redb")).unwrap();
    let entry = store.audit_log().unwrap().pop().unwrap();
    assert_eq!(entry.action, "preflight.run");
    assert_eq!(entry.actor, "operator (CLI)");
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(detail["passed"], false);
    assert_eq!(detail["digest"].as_str().map(str::len), Some(64));
    let blocking: Vec<&str> = detail["blocking"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        blocking.contains(&"bigcommerce-webhooks-registered"),
        "{blocking:?}"
    );
    assert!(
        blocking.contains(&"bloomreach-catalog-fields"),
        "{blocking:?}"
    );
    assert!(!blocking.contains(&"bigcommerce-webhook-delivery"));
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_name_and_a_skewed_clock_fail_their_checks() {
    let dir = tempfile::tempdir().unwrap();
    let twin_clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&small_plan(), twin_clock.clone())
        .await
        .unwrap();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    drop(listeners);
    // The project knows `email_id`, not `registered`.
    config.bloomreach.ids.email = "registered".into();
    // This machine's clock is two minutes behind Bloomreach's.
    let clock = ManualClock::new(Utc::now() - chrono::Duration::minutes(2));
    let runner = bigreach_runtime::preflight::Preflight::standalone(
        config,
        &Twins::secrets(),
        clock.clone(),
    )
    .unwrap();
    let checks = drive(
        &clock,
        runner.run_checks(&bigreach_core::app::PreflightRequest::default()),
    )
    .await;
    let report = PreflightReport::new(checks, Utc::now());

    let ids = check(&report, "bloomreach-hard-ids");
    assert_eq!(ids.outcome, Outcome::Fail, "{ids:#?}");
    assert_eq!(ids.evidence.status, Some(400));
    assert!(ids.evidence.request_id.is_some(), "{ids:#?}");
    assert!(ids
        .evidence
        .read
        .contains("registered (email): 400 unknown ID name"));
    assert!(ids
        .evidence
        .read
        .contains("customer_id (customer_id): 404 known"));
    assert!(
        ids.fix.contains("bloomreach.ids.email = \"registered\""),
        "{ids:#?}"
    );

    let skew = check(&report, "clock-skew");
    assert_eq!(skew.outcome, Outcome::Fail, "{skew:#?}");
    assert!(
        skew.evidence.read.contains("behind Bloomreach"),
        "{skew:#?}"
    );
    assert!(skew.fix.contains("NTP"));
    assert_eq!(
        check(&report, "bloomreach-permissions").outcome,
        Outcome::Pass
    );
    // Standalone, the test delivery is never pretended.
    assert_eq!(
        check(&report, "bigcommerce-webhook-delivery").outcome,
        Outcome::Inconclusive
    );
    twins.shutdown().await;
}
