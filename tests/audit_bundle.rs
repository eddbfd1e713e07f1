//! The offline audit bundle: export from a data directory, `bigreach verify`, and every way of
//! tampering with a bundle named by the reason it fails (a flipped byte in any file or anywhere
//! in the zip, an added or a removed file, a truncated log, reordered entries, a replaced key,
//! a forged previous bundle); the stock-tool commands the report gives; and a demo's bundle
//! holding none of the configured secrets.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bigreach_clock::SystemClock;
use bigreach_core::audit::bundle::{self, read_zip, write_zip, Period};
use bigreach_core::audit::{self, ExportRequest, Exported, VerifyError};
use bigreach_core::store::Store;
use bigreach_harness::demo;
use bigreach_harness::plan::DemoPlan;
use bigreach_harness::twins::credentials;

const DAY_MS: i64 = 86_400_000;
const T0: i64 = 1_764_633_600_000; // 2025-12-02T00:00:00Z

fn open(dir: &Path) -> Store {
    Store::open(&dir.join("bigreach.redb")).unwrap()
}

fn add_entries(store: &Store, n: u64, start_ms: i64) {
    for i in 0..n {
        store
            .audit(
                start_ms + i as i64 * (DAY_MS / 4),
                "operator (local API)",
                if i % 3 == 0 {
                    "dead_letter.replayed"
                } else {
                    "set_aside.discarded"
                },
                &serde_json::json!({ "id": i, "reason": "a \"quoted\" <reason> ü" }),
            )
            .unwrap();
    }
}

fn export_at(store: &Store, dir: &Path, out: &Path, now_ms: i64) -> Exported {
    audit::export(
        store,
        &ExportRequest {
            data_dir: dir,
            out,
            period: Period::default(),
            secrets: vec![],
            now_ms,
            actor: "operator (test)",
        },
    )
    .unwrap()
}

/// A data directory with a log of `n` entries (plus the key entry) and its first bundle.
fn bundle_of(n: u64) -> (tempfile::TempDir, Store, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // As on a fresh install, the key comes first (`serve` creates it at its first start).
    audit::InstallKey::load_or_create(dir.path(), &store, T0 - 1).unwrap();
    add_entries(&store, n, T0);
    let out = dir.path().join("b.zip");
    export_at(&store, dir.path(), &out, T0 + 10 * DAY_MS);
    let bytes = std::fs::read(&out).unwrap();
    (dir, store, bytes)
}

fn replace(files: &[(String, Vec<u8>)], name: &str, content: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(n, b)| {
            (
                n.clone(),
                if n == name {
                    content.clone()
                } else {
                    b.clone()
                },
            )
        })
        .collect()
}

/// Rewrites the manifest to match the (tampered) files, as an attacker would.
fn with_fresh_manifest(files: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let payload: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(n, _)| n != bundle::MANIFEST)
        .collect();
    let manifest = bundle::manifest(&payload);
    let mut all = payload;
    all.push((bundle::MANIFEST.into(), manifest.into_bytes()));
    write_zip(&all).unwrap()
}

fn entry_lines(files: &[(String, Vec<u8>)]) -> Vec<String> {
    let entries = &files.iter().find(|(n, _)| n == bundle::ENTRIES).unwrap().1;
    String::from_utf8(entries.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn lines_to_bytes(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

#[test]
fn an_exported_bundle_verifies_and_holds_every_file_of_the_layout() {
    let (_dir, _store, zip) = bundle_of(9);
    let verified = audit::verify_bundle(&zip, None).unwrap();
    assert_eq!(
        verified.checkpoint.size, 10,
        "the key entry and the 9 added"
    );
    assert_eq!(verified.files, bundle::PAYLOAD.len());
    assert_eq!(verified.consistent_with, None);
    let files = read_zip(&zip).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected: Vec<&str> = bundle::PAYLOAD.to_vec();
    expected.push(bundle::MANIFEST);
    assert_eq!(names, expected);
    let lines = entry_lines(&files);
    assert_eq!(lines.len(), 10);
    assert!(
        lines[0].contains("\"action\":\"audit.key_created\""),
        "{}",
        lines[0]
    );
    let csv = String::from_utf8(files[1].1.clone()).unwrap();
    assert!(csv.starts_with("day,actor,action,entries\n"), "{csv}");
    assert!(
        csv.contains("2025-12-02,operator (local API),dead_letter.replayed,"),
        "{csv}"
    );
    let report = String::from_utf8(files[3].1.clone()).unwrap();
    assert!(!report.contains("<script"), "no JavaScript");
    assert!(report.contains("sha256sum -c --strict manifest-sha256.txt"));
    assert!(report.contains(&verified.checkpoint.key_fingerprint));
}

#[test]
fn a_flipped_byte_in_any_file_fails_naming_that_file() {
    let (_dir, _store, zip) = bundle_of(5);
    let files = read_zip(&zip).unwrap();
    for (name, content) in &files {
        for position in [0, content.len() / 2, content.len() - 1] {
            let mut changed = content.clone();
            changed[position] ^= 0x01;
            let tampered = write_zip(&replace(&files, name, changed)).unwrap();
            let error = audit::verify_bundle(&tampered, None).unwrap_err();
            if name == bundle::MANIFEST {
                // A hash digit, a name or the separator of the manifest itself.
                assert!(
                    matches!(
                        error,
                        VerifyError::HashMismatch { .. }
                            | VerifyError::MissingFile { .. }
                            | VerifyError::UnlistedFile { .. }
                            | VerifyError::ManifestLine { .. }
                    ),
                    "{name}@{position}: {error}"
                );
            } else {
                assert!(
                    matches!(&error, VerifyError::HashMismatch { name: n, .. } if n == name),
                    "{name}@{position}: {error}"
                );
                assert!(error.to_string().contains(name.as_str()));
            }
        }
    }
}

#[test]
fn a_flipped_bit_anywhere_in_the_zip_fails() {
    let (_dir, _store, zip) = bundle_of(3);
    for position in 0..zip.len() {
        let mut copy = zip.clone();
        copy[position] ^= 0x10;
        assert!(
            audit::verify_bundle(&copy, None).is_err(),
            "a flipped bit at byte {position} of {} went unnoticed",
            zip.len()
        );
    }
}

#[test]
fn an_added_or_a_removed_file_fails_naming_it() {
    let (_dir, _store, zip) = bundle_of(4);
    let files = read_zip(&zip).unwrap();

    let mut added = files.clone();
    added.push(("notes.txt".into(), b"hello".to_vec()));
    assert_eq!(
        audit::verify_bundle(&write_zip(&added).unwrap(), None),
        Err(VerifyError::UnlistedFile {
            name: "notes.txt".into()
        })
    );
    // Even listed in a rewritten manifest, a file a bundle never has is refused.
    assert_eq!(
        audit::verify_bundle(&with_fresh_manifest(added), None),
        Err(VerifyError::UnknownFile {
            name: "notes.txt".into()
        })
    );

    let removed: Vec<_> = files
        .iter()
        .filter(|(n, _)| n != bundle::REPORT)
        .cloned()
        .collect();
    assert_eq!(
        audit::verify_bundle(&write_zip(&removed).unwrap(), None),
        Err(VerifyError::MissingFile {
            name: bundle::REPORT.into()
        })
    );
    assert_eq!(
        audit::verify_bundle(&with_fresh_manifest(removed), None),
        Err(VerifyError::RequiredFileMissing {
            name: bundle::REPORT.into()
        })
    );
    let no_manifest: Vec<_> = files
        .iter()
        .filter(|(n, _)| n != bundle::MANIFEST)
        .cloned()
        .collect();
    assert_eq!(
        audit::verify_bundle(&write_zip(&no_manifest).unwrap(), None),
        Err(VerifyError::NoManifest)
    );
    let mut folder = files.clone();
    folder.push(("../evil".into(), Vec::new()));
    assert!(matches!(
        audit::verify_bundle(&write_zip(&folder).unwrap(), None),
        Err(VerifyError::BadName { .. })
    ));
}

#[test]
fn a_truncated_or_reordered_log_fails_even_with_a_rewritten_manifest() {
    let (_dir, _store, zip) = bundle_of(6);
    let files = read_zip(&zip).unwrap();
    let lines = entry_lines(&files);

    let truncated = lines_to_bytes(&lines[..lines.len() - 1]);
    assert!(matches!(
        audit::verify_bundle(&write_zip(&replace(&files, bundle::ENTRIES, truncated.clone())).unwrap(), None),
        Err(VerifyError::HashMismatch { ref name, .. }) if name == bundle::ENTRIES
    ));
    assert_eq!(
        audit::verify_bundle(
            &with_fresh_manifest(replace(&files, bundle::ENTRIES, truncated)),
            None
        ),
        Err(VerifyError::SizeMismatch {
            checkpoint: 7,
            entries: 6
        })
    );
    // Cut in the middle of the last line.
    let mut cut = lines_to_bytes(&lines);
    cut.truncate(cut.len() - 5);
    assert!(matches!(
        audit::verify_bundle(
            &with_fresh_manifest(replace(&files, bundle::ENTRIES, cut)),
            None
        ),
        Err(VerifyError::EntryFormat { line: 7, .. })
    ));

    let mut reordered = lines.clone();
    reordered.swap(2, 3);
    assert_eq!(
        audit::verify_bundle(
            &with_fresh_manifest(replace(&files, bundle::ENTRIES, lines_to_bytes(&reordered))),
            None
        ),
        Err(VerifyError::ChainBroken { seq: 4 })
    );

    // An entry re-serialized with other whitespace is not canonical.
    let mut spaced = lines.clone();
    spaced[1] = spaced[1].replacen(",", ", ", 1);
    assert!(matches!(
        audit::verify_bundle(
            &with_fresh_manifest(replace(&files, bundle::ENTRIES, lines_to_bytes(&spaced))),
            None
        ),
        Err(VerifyError::EntryFormat { line: 2, .. })
    ));
}

#[test]
fn a_replaced_key_and_checkpoint_fail_against_the_key_in_the_log() {
    // An attacker truncates the log and signs a new checkpoint with a key of their own.
    let (_dir, _store, zip) = bundle_of(4);
    let files = read_zip(&zip).unwrap();
    let lines = entry_lines(&files);
    let other = tempfile::tempdir().unwrap();
    let other_store = open(other.path());
    let key = audit::InstallKey::load_or_create(other.path(), &other_store, T0).unwrap();
    let records: Vec<bigreach_core::model::AuditRecord> = lines[..3]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let leaves = audit::leaf_hashes(&records);
    let out = other.path().join("unused.zip");
    let forged = bundle::build(
        &records,
        &leaves,
        &key,
        &ExportRequest {
            data_dir: other.path(),
            out: &out,
            period: Period::default(),
            secrets: vec![],
            now_ms: T0 + DAY_MS,
            actor: "attacker",
        },
        None,
    );
    let error = audit::verify_bundle(&write_zip(&forged.files).unwrap(), None).unwrap_err();
    assert!(matches!(error, VerifyError::KeyNotInLog { .. }), "{error}");

    // Only the public key swapped: the checkpoint names the old key.
    let swapped = replace(&files, bundle::PUBLIC_KEY, key.public_pem().into_bytes());
    assert!(matches!(
        audit::verify_bundle(&with_fresh_manifest(swapped), None),
        Err(VerifyError::KeyMismatch { .. })
    ));
}

#[test]
fn a_later_export_extends_the_earlier_one_and_a_forged_previous_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    add_entries(&store, 5, T0);
    let first_path = dir.path().join("first.zip");
    let first = export_at(&store, dir.path(), &first_path, T0 + 2 * DAY_MS);
    assert_eq!(first.consistent_with, None);
    add_entries(&store, 4, T0 + 3 * DAY_MS);
    let second_path = dir.path().join("second.zip");
    let second = export_at(&store, dir.path(), &second_path, T0 + 5 * DAY_MS);
    assert_eq!(second.consistent_with, Some(first.checkpoint.size));
    assert_eq!(
        second.checkpoint.size,
        first.checkpoint.size + 1 + 4,
        "the audit.exported entry and the 4 added"
    );
    let first_zip = std::fs::read(&first_path).unwrap();
    let second_zip = std::fs::read(&second_path).unwrap();
    let verified = audit::verify_bundle(&second_zip, Some(&first_zip)).unwrap();
    assert_eq!(verified.previous, Some(first.checkpoint.size));
    assert_eq!(verified.consistent_with, Some(first.checkpoint.size));

    // The same key, another history: a valid bundle by itself, but not a prefix of this log.
    let forged_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join(audit::KEY_FILE),
        forged_dir.path().join(audit::KEY_FILE),
    )
    .unwrap();
    let forged_store = open(forged_dir.path());
    add_entries(&forged_store, 2, T0 + 7);
    let forged_path = forged_dir.path().join("forged.zip");
    export_at(
        &forged_store,
        forged_dir.path(),
        &forged_path,
        T0 + 2 * DAY_MS,
    );
    let forged = std::fs::read(&forged_path).unwrap();
    assert!(audit::verify_bundle(&forged, None).is_ok());
    assert!(matches!(
        audit::verify_bundle(&second_zip, Some(&forged)),
        Err(VerifyError::PreviousNotPrefix { .. })
    ));
    // The two the wrong way round are named as such.
    assert!(matches!(
        audit::verify_bundle(&first_zip, Some(&second_zip)),
        Err(VerifyError::PreviousIsLater { .. })
    ));
    // A tampered previous is named as the previous bundle's failure.
    let mut broken = first_zip.clone();
    let middle = broken.len() / 2;
    broken[middle] ^= 1;
    assert!(matches!(
        audit::verify_bundle(&second_zip, Some(&broken)),
        Err(VerifyError::PreviousInvalid(_))
    ));
    // A consistency proof altered (and the manifest rewritten) fails.
    let files = read_zip(&second_zip).unwrap();
    let consistency = String::from_utf8(
        files
            .iter()
            .find(|(n, _)| n == bundle::CONSISTENCY)
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    let doc: bundle::ConsistencyDoc = serde_json::from_str(&consistency).unwrap();
    let mut altered = doc.clone();
    altered.proof.reverse();
    altered.proof.push(altered.proof[0].clone());
    let altered_bytes = serde_json::to_vec(&altered).unwrap();
    let error = audit::verify_bundle(
        &with_fresh_manifest(replace(&files, bundle::CONSISTENCY, altered_bytes)),
        None,
    )
    .unwrap_err();
    assert!(matches!(error, VerifyError::Inconsistent { .. }), "{error}");
}

#[test]
fn the_period_scopes_the_summaries_not_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    add_entries(&store, 12, T0); // four entries a day, 2025-12-02 to 2025-12-04
    let out = dir.path().join("p.zip");
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    let exported = audit::export(
        &store,
        &ExportRequest {
            data_dir: dir.path(),
            out: &out,
            period: Period {
                from: Some(day("2025-12-03")),
                to: Some(day("2025-12-03")),
            },
            secrets: vec![],
            now_ms: T0 + 9 * DAY_MS,
            actor: "operator (test)",
        },
    )
    .unwrap();
    assert_eq!(exported.in_period, 4);
    assert_eq!(exported.checkpoint.size, 13);
    let files = read_zip(&std::fs::read(&out).unwrap()).unwrap();
    let csv = String::from_utf8(files[1].1.clone()).unwrap();
    assert!(
        csv.lines().skip(1).all(|l| l.starts_with("2025-12-03,")),
        "{csv}"
    );
    let report = String::from_utf8(files[3].1.clone()).unwrap();
    assert!(
        report.contains("2025-12-03 to 2025-12-03 (UTC, inclusive): 4 entries"),
        "{report}"
    );
}

#[test]
fn the_export_refuses_an_existing_file_a_known_secret_and_a_secret_like_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    add_entries(&store, 2, T0);
    let out = dir.path().join("x.zip");
    std::fs::write(&out, b"keep me").unwrap();
    fn request<'a>(dir: &'a Path, out: &'a Path, secrets: Vec<String>) -> ExportRequest<'a> {
        ExportRequest {
            data_dir: dir,
            out,
            period: Period::default(),
            secrets,
            now_ms: T0 + DAY_MS,
            actor: "operator (test)",
        }
    }
    assert!(matches!(
        audit::export(&store, &request(dir.path(), &out, vec![])),
        Err(audit::AuditError::OutExists { .. })
    ));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    // A value that is in the bundle (an actor name standing in for a leaked secret).
    let leaked = dir.path().join("leaked.zip");
    assert!(matches!(
        audit::export(
            &store,
            &request(dir.path(), &leaked, vec!["operator (local API)".into()])
        ),
        Err(audit::AuditError::SecretInBundle { .. })
    ));
    assert!(!leaked.exists(), "nothing is written");
    store
        .audit(
            T0 + 2,
            "operator",
            "oops",
            &serde_json::json!({"webhook_secret": "x"}),
        )
        .unwrap();
    assert!(matches!(
        audit::export(&store, &request(dir.path(), &leaked, vec![])),
        Err(audit::AuditError::SecretLikeField { field, .. }) if field == "webhook_secret"
    ));
}

fn bigreach() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bigreach"))
}

#[test]
fn the_cli_exports_offline_refuses_a_store_in_use_and_verify_exits_9_on_a_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        add_entries(&store, 3, T0);
    }
    let out = dir.path().join("cli.zip");
    let run = bigreach()
        .args(["audit", "export", "--data-dir"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("4 entries"), "{stdout}");

    let verify = bigreach().arg("verify").arg(&out).output().unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).starts_with("OK: "));

    let mut bytes = std::fs::read(&out).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let changed = dir.path().join("changed.zip");
    std::fs::write(&changed, &bytes).unwrap();
    let verify = bigreach().arg("verify").arg(&changed).output().unwrap();
    assert_eq!(verify.status.code(), Some(9));
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(stderr.starts_with("FAILED: "), "{stderr}");

    // A running appliance holds the store: a clear error, exit status 6, nothing written.
    let held = open(dir.path());
    let second = dir.path().join("second.zip");
    let run = bigreach()
        .args(["audit", "export", "--data-dir"])
        .arg(dir.path())
        .arg("--out")
        .arg(&second)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("open in another process"), "{stderr}");
    assert!(!second.exists());
    drop(held);

    // No store at all: said so, and none is created.
    let empty = tempfile::tempdir().unwrap();
    let run = bigreach()
        .args(["audit", "export", "--data-dir"])
        .arg(empty.path())
        .arg("--out")
        .arg(empty.path().join("e.zip"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("there is no store at"));
    assert!(!empty.path().join("bigreach.redb").exists());
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

#[test]
fn the_stock_tool_commands_of_the_report_work() {
    let (_dir, _store, zip) = bundle_of(3);
    let unpacked = tempfile::tempdir().unwrap();
    for (name, bytes) in read_zip(&zip).unwrap() {
        std::fs::write(unpacked.path().join(name), bytes).unwrap();
    }
    let verified = audit::verify_bundle(&zip, None).unwrap();
    let mut checked = Vec::new();
    if which("sha256sum").is_some() {
        let run = Command::new("sha256sum")
            .args(["-c", "--strict", bundle::MANIFEST])
            .current_dir(unpacked.path())
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stdout)
        );
        checked.push("sha256sum");
    }
    if which("openssl").is_some() {
        let pkeyutl = |checkpoint: &str| {
            Command::new("openssl")
                .args([
                    "pkeyutl",
                    "-verify",
                    "-pubin",
                    "-inkey",
                    "public-key.pem",
                    "-rawin",
                    "-in",
                    checkpoint,
                    "-sigfile",
                    "checkpoint.sig",
                ])
                .current_dir(unpacked.path())
                .output()
                .unwrap()
        };
        let run = pkeyutl("checkpoint.txt");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(String::from_utf8_lossy(&run.stdout).contains("Signature Verified Successfully"));
        let text = std::fs::read_to_string(unpacked.path().join("checkpoint.txt")).unwrap();
        std::fs::write(
            unpacked.path().join("forged.txt"),
            text.replacen("\n4\n", "\n5\n", 1),
        )
        .unwrap();
        assert!(
            !pkeyutl("forged.txt").status.success(),
            "a changed checkpoint fails"
        );
        let der = Command::new("openssl")
            .args(["pkey", "-pubin", "-in", "public-key.pem", "-outform", "DER"])
            .current_dir(unpacked.path())
            .output()
            .unwrap();
        assert!(der.status.success());
        if which("sha256sum").is_some() {
            let mut child = Command::new("sha256sum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&der.stdout).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(String::from_utf8_lossy(&out.stdout)
                .starts_with(&verified.checkpoint.key_fingerprint));
        }
        checked.push("openssl");
    }
    eprintln!("stock tools checked: {checked:?} (missing tools are skipped)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_bundle_verifies_and_holds_none_of_the_configured_secrets() {
    let mut plan = DemoPlan::builtin("small").unwrap();
    plan.trading.over_secs = 0;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let summary = demo::run(&plan, &data, SystemClock::shared(), Duration::from_secs(90))
        .await
        .unwrap();
    assert!(summary.finished, "{summary:#?}");

    let out = dir.path().join("demo.zip");
    let run = bigreach()
        .args(["audit", "export", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let zip = std::fs::read(&out).unwrap();
    eprintln!(
        "demo bundle: {} bytes; {}",
        zip.len(),
        String::from_utf8_lossy(&run.stdout)
    );
    let verify = bigreach().arg("verify").arg(&out).output().unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    let files = read_zip(&zip).unwrap();
    let lines = entry_lines(&files);
    assert!(
        lines[0].contains("audit.key_created"),
        "the key is entry #1: {}",
        lines[0]
    );
    assert!(lines.iter().any(|l| l.contains("config.loaded")));

    let api_token = std::fs::read_to_string(data.join("api-token")).unwrap();
    let private_key = std::fs::read_to_string(data.join(audit::KEY_FILE)).unwrap();
    let key_body: String = private_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let canaries = [
        credentials::BC_TOKEN,
        credentials::KEY_SECRET,
        credentials::WEBHOOK_SECRET,
        api_token.trim(),
        key_body.as_str(),
    ];
    let haystacks = std::iter::once(("demo.zip".to_owned(), zip.clone())).chain(files);
    for (name, bytes) in haystacks {
        let text = String::from_utf8_lossy(&bytes);
        for canary in canaries {
            assert!(!text.contains(canary), "{name} holds a secret");
        }
    }

    let mut copy = zip.clone();
    let middle = copy.len() / 2;
    copy[middle] ^= 0x01;
    assert!(audit::verify_bundle(&copy, None).is_err());
}

#[test]
fn with_config_the_export_finds_the_data_directory_and_refuses_a_configured_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let config = dir.path().join("bigreach.toml");
    let text = bigreach_core::config::Config::default_toml().replace(
        "data_dir = \"./bigreach-data\"",
        &format!("data_dir = {:?}", data.display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    let canary = "canary-webhook-secret-5f1c9e";
    {
        let store = open(&data);
        add_entries(&store, 2, T0);
    }
    let export = |out: &str| {
        bigreach()
            .args(["audit", "export", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(dir.path().join(out))
            .env("BIGREACH_WEBHOOK_SECRET", canary)
            .output()
            .unwrap()
    };
    let run = export("clean.zip");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let zip = std::fs::read(dir.path().join("clean.zip")).unwrap();
    assert!(!String::from_utf8_lossy(&zip).contains(canary));

    // A (buggy) entry carrying the configured secret's value: the export refuses, and says so
    // without printing it.
    {
        let store = open(&data);
        store
            .audit(
                T0 + DAY_MS,
                "system",
                "oops",
                &serde_json::json!({ "note": canary }),
            )
            .unwrap();
    }
    let run = export("leaky.zip");
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("would contain a configured secret"),
        "{stderr}"
    );
    assert!(!stderr.contains(canary));
    assert!(!dir.path().join("leaky.zip").exists());
}
