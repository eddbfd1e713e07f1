//! The CLI's offline commands: init writes a config that check accepts; check lists every
//! problem with its field; nothing echoes a pasted secret. And the installed binary can
//! rehearse: `demo` and `sim` run from an empty directory outside the source tree (the plans
//! are compiled in), and a missing `--plan` file is one clear line.

use std::process::Command;

fn bigreach() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bigreach"))
}

#[test]
fn init_writes_a_config_that_check_accepts_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigreach.toml");
    let out = bigreach()
        .args(["init", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = bigreach()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let again = bigreach()
        .args(["init", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn check_lists_every_problem_and_never_echoes_a_pasted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigreach.toml");
    bigreach()
        .args(["init", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("requests_per_second = 90", "requests_per_second = 0")
        .replace("listen = \"127.0.0.1:8788\"", "listen = \"0.0.0.0:8788\"");
    std::fs::write(&path, text).unwrap();
    let out = bigreach()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bloomreach.requests_per_second"),
        "{stderr}"
    );
    assert!(stderr.contains("api.listen"), "{stderr}");

    let text = std::fs::read_to_string(&path).unwrap().replace(
        "secret = \"env:BIGREACH_BR_SECRET\"",
        "secret = \"sk-live-0123456789abcdefSECRET\"",
    );
    std::fs::write(&path, text).unwrap();
    let out = bigreach()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("0123456789abcdefSECRET"), "{all}");
}

#[test]
fn serve_without_the_secret_in_the_environment_says_which_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigreach.toml");
    bigreach()
        .args(["init", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "./bigreach-data",
        &dir.path().join("data").display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    let out = bigreach()
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("BIGREACH_BC_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BIGREACH_BC_TOKEN"), "{stderr}");
}

#[cfg(feature = "rehearsal")]
#[test]
fn demo_runs_clean_from_an_empty_directory_on_the_compiled_in_small_plan() {
    let dir = tempfile::tempdir().unwrap();
    let out = bigreach()
        .current_dir(dir.path())
        .args(["demo", "--json", "--plan", "small"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(summary["finished"], true, "{summary}");
    assert!(
        summary["orders_paid_in_bigcommerce"].as_u64().unwrap() > 50,
        "{summary}"
    );
    for count in [
        "purchases_missing",
        "purchases_duplicated",
        "purchases_wrong_amount",
        "purchases_unpaid",
        "purchases_on_other_profiles",
        "duplicate_profiles",
        "merged_profiles",
        "persons_without_profile",
        "catalog_items_missing",
    ] {
        assert_eq!(summary[count], 0, "{count}: {summary}");
    }
    // Nothing was written to the working directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[cfg(feature = "rehearsal")]
#[test]
fn sim_starts_from_an_empty_directory_and_prints_live_urls() {
    use std::io::BufRead;
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let mut child = bigreach()
        .current_dir(dir.path())
        .arg("sim")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    let outcome = loop {
        match received.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let done = line.starts_with("These are simulator credentials");
                printed.push(line);
                if done {
                    break Ok(());
                }
            }
            Err(e) => break Err(e),
        }
    };
    // Check the twins listen before stopping them.
    let urls: Vec<url::Url> = printed
        .iter()
        .filter_map(|line| {
            let (label, value) = line.split_once(':')?;
            matches!(label.trim(), "API root" | "base URL")
                .then(|| url::Url::parse(value.trim()).ok())
                .flatten()
        })
        .collect();
    let listening: Vec<bool> = urls
        .iter()
        .map(|url| {
            let address = url.socket_addrs(|| None).unwrap()[0];
            std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5)).is_ok()
        })
        .collect();
    // Each twin prints its control endpoint and fault kinds; switching the first kind off over
    // the printed URL answers 200 with that kind.
    let value = |label: &str| -> Vec<String> {
        printed
            .iter()
            .filter_map(|line| {
                let (l, v) = line.split_once(':')?;
                (l.trim() == label).then(|| v.trim().to_owned())
            })
            .collect()
    };
    let controls = value("control");
    let kinds = value("fault kinds");
    let switched: Vec<String> = controls
        .iter()
        .zip(&kinds)
        .map(|(control, kinds)| {
            let template = control.split_whitespace().next().unwrap_or_default();
            let kind = kinds.split(", ").next().unwrap_or_default();
            let url = url::Url::parse(&template.replace("{kind}", kind)).unwrap();
            let answer = http_put(&url, r#"{"on": false}"#);
            let ok = answer.starts_with("HTTP/1.1 200")
                && answer.contains(&format!("\"kind\":\"{kind}\""));
            if ok {
                kind.to_owned()
            } else {
                answer
            }
        })
        .collect();
    let crowd = controls.first().map(|c| c.contains("_twin/crowd  (POST"));
    child.kill().unwrap();
    child.wait().unwrap();
    outcome.unwrap_or_else(|e| panic!("{e}; sim printed {printed:#?}"));
    assert_eq!(urls.len(), 2, "{printed:#?}");
    assert!(
        urls.iter().all(|u| u.host_str() == Some("127.0.0.1")),
        "{urls:?}"
    );
    assert_eq!(listening, [true, true], "{urls:?}");
    assert_eq!(
        switched,
        ["webhook_duplicates", "bloomreach_outage"],
        "{printed:#?}"
    );
    assert_eq!(crowd, Some(true), "{printed:#?}");
    assert!(
        printed.iter().any(|l| l.contains("crates/twins/README.md")),
        "{printed:#?}"
    );
}

/// One `PUT` with a JSON body over a fresh connection; the whole answer as text.
#[cfg(feature = "rehearsal")]
fn http_put(url: &url::Url, body: &str) -> String {
    use std::io::{Read, Write};
    let address = url.socket_addrs(|| None).unwrap()[0];
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        url.path(),
        address,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[cfg(feature = "rehearsal")]
#[test]
fn a_missing_plan_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = bigreach()
        .current_dir(dir.path())
        .args(["demo", "--plan", "no-such-plan.toml"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("no-such-plan.toml"), "{stderr}");
    assert!(lines[0].contains("--plan takes"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}
