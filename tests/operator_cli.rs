//! The operator commands as a person uses them against a running appliance: `status` and `trace`
//! print a readable report and the typed JSON with `--json`; `set-aside` lists, refuses a replay
//! that cannot work and discards; a closed pipe ends quietly; an
//! error's code becomes the exit status; `check` warns about unset variables and `init`
//! placeholders, and `--strict` makes them errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bigreach_clock::{Clock, SystemClock};
use bigreach_core::app::status::Status;
use bigreach_core::app::trace::Trace;
use bigreach_core::config::Config;
use bigreach_harness::plan::DemoPlan;
use bigreach_harness::twins::Twins;
use bigreach_runtime::Appliance;

fn bigreach() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bigreach"));
    for name in [
        "BIGREACH_BC_TOKEN",
        "BIGREACH_BR_SECRET",
        "BIGREACH_WEBHOOK_SECRET",
    ] {
        command.env_remove(name);
    }
    command
}

/// A config file for the CLI: the `init` template, pointed at this data directory and API.
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_trace_read_well_print_json_and_end_quietly_on_a_closed_pipe() {
    let mut plan = DemoPlan::builtin("small").unwrap();
    plan.trading.over_secs = 0;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let twins = Twins::start(&plan, SystemClock::shared()).await.unwrap();
    let secrets = Twins::secrets();
    let (config, listeners) = twins.appliance_config(&data_dir).unwrap();
    let appliance = Appliance::start_with(&config, &secrets, SystemClock::shared(), listeners)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(appliance.poll_passes() >= 1 && appliance.status().unwrap().idle) {
        assert!(tokio::time::Instant::now() < deadline, "never idle");
        SystemClock.sleep(Duration::from_millis(20)).await;
    }
    let api = appliance.status().unwrap().api_address;
    let path = cli_config(dir.path(), &data_dir, api);
    let config_arg = path.to_str().unwrap().to_owned();

    let run = |args: &[&str]| {
        let mut command = bigreach();
        command.args(args).args(["--config", &config_arg]);
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };

    let out = run(&["status"]).await;
    assert!(out.status.success(), "{out:?}");
    let report = text(&out.stdout);
    assert!(report.contains("idle, all caught up"), "{report}");
    assert!(report.contains("transactions"), "{report}");
    assert!(!report.trim_start().starts_with('{'), "not JSON: {report}");

    let out = run(&["status", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let status: Status = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status.idle);
    assert_eq!(status.api_address, api);

    // Customer 1 of the seeded store: a registered customer with a profile command.
    let out = run(&["trace", "1"]).await;
    assert!(out.status.success(), "{out:?}");
    let report = text(&out.stdout);
    assert!(report.starts_with("Trace for 1\n"), "{report}");
    assert!(report.contains("customer:1"), "{report}");
    let out = run(&["trace", "1", "--json"]).await;
    let trace: Trace = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!trace.commands.is_empty(), "{trace:?}");

    // Set-aside fetches: listed (and named by the dead-letter list), a replay that cannot work
    // is refused with the way out, a discard takes any key, even one with `/` and spaces.
    let key = "cart:not a/uuid";
    let now_ms = SystemClock.now_ms();
    appliance
        .store()
        .write(|tx| {
            tx.set_aside_key(
                key,
                "the cart id is not valid (expected a UUID)",
                now_ms,
                now_ms,
            )?;
            Ok(())
        })
        .unwrap();
    let out = run(&["set-aside", "list"]).await;
    assert!(out.status.success(), "{out:?}");
    let report = text(&out.stdout);
    assert!(
        report.contains(key) && report.contains("expected a UUID"),
        "{report}"
    );
    let out = run(&["dead-letters", "list"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stdout).contains("1 fetch(es) set aside as well"),
        "{out:?}"
    );
    let out = run(&["trace", "1"]).await;
    assert!(
        text(&out.stdout).contains("1 other fetch(es) are set aside"),
        "{out:?}"
    );
    let out = run(&["set-aside", "replay", key]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("discard it"), "{out:?}");
    let out = run(&["set-aside", "discard", key, "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let discarded: bigreach_core::app::SetAside = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        discarded.state,
        bigreach_core::app::SetAsideState::Discarded
    );
    let out = run(&["set-aside", "list"]).await;
    assert_eq!(text(&out.stdout), "nothing is set aside\n");

    // Reconciliation of the seeded history (60 days up to today): every paid order is in
    // Bloomreach once, so it balances; the finance CSV and the findings CSV are written.
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (
        (today - chrono::Duration::days(61)).to_string(),
        today.to_string(),
    );
    let csv = dir.path().join("finance.csv");
    let out = run(&[
        "reconcile",
        "--from",
        &from,
        "--to",
        &to,
        "--csv",
        csv.to_str().unwrap(),
        "--json",
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let report: bigreach_core::reconcile::Reconciliation =
        serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.balanced, "{:?}", report.findings);
    assert!(report.rows.len() >= 10, "{} rows", report.rows.len());
    let paid: u64 = report.totals.iter().map(|t| t.bigcommerce_orders).sum();
    assert!(paid >= 50, "{paid} paid orders in the seeded history");
    let finance = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        finance.lines().count(),
        1 + report.rows.len() + report.totals.len()
    );
    assert!(finance.starts_with("day,time_zone,currency,"), "{finance}");
    let findings = std::fs::read_to_string(dir.path().join("finance-findings.csv")).unwrap();
    assert_eq!(findings.lines().count(), 1, "{findings}");
    let out = run(&["reconcile", "--from", &from, "--to", &to]).await;
    assert!(out.status.success(), "{out:?}");
    let readable = text(&out.stdout);
    assert!(readable.contains("sign-off: balanced"), "{readable}");
    assert!(readable.contains("total"), "{readable}");
    // A range that ends before it starts is the operator's to fix: exit status 2.
    let out = run(&["reconcile", "--from", &to, "--to", &from]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("before it starts"), "{out:?}");

    // The reader goes away before anything is written: no panic, no backtrace.
    let mut command = bigreach();
    command
        .args(["trace", "1", "--config", &config_arg])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!text(&out.stderr).contains("panicked"), "{out:?}");

    // An error's code is the exit status: a bad query is 2.
    let out = run(&["trace", "nobody"]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("(bad_request)"), "{out:?}");

    appliance.shutdown().await;
    twins.shutdown().await;

    // Stopped: "not running" is 5.
    let out = run(&["status"]).await;
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(
        text(&out.stderr).contains("is `bigreach serve` running?"),
        "{out:?}"
    );
}

#[test]
fn check_warns_about_unset_variables_and_placeholders_and_strict_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigreach.toml");
    std::fs::write(&path, Config::default_toml()).unwrap();
    let out = bigreach()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = text(&out.stdout);
    assert!(
        report.contains(
            "warning: bigcommerce.access_token: environment variable BIGREACH_BC_TOKEN is not set"
        ),
        "{report}"
    );
    assert!(
        report.contains("warning: bloomreach.key_id: still the `bigreach init` placeholder"),
        "{report}"
    );
    let out = bigreach()
        .args(["check", "--strict", "--config"])
        .arg(&path)
        .env("BIGREACH_BC_TOKEN", "set")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = text(&out.stdout);
    assert!(report.contains("error: bloomreach.secret"), "{report}");
    assert!(!report.contains("bigcommerce.access_token"), "{report}");
}
