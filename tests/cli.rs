//! The CLI's offline commands: init writes a config that check accepts; check lists every
//! problem with its field; nothing echoes a pasted secret.

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
