//! The appliance a window hosts (`bigreach::host`, what the desktop shell calls): unconfigured
//! until `connect`, against the twins, shut down with the window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bigreach::host::{HostSecrets, HostedAppliance, Launch};
use bigreach_core::app::connection::{ConnectRequest, SecretStore};
use bigreach_core::app::{Answer, AppError, Code, Operation};
use bigreach_core::secret::{Keyring, SecretRef, SecretString};

/// A keyring in memory; `resolves` off makes every `keyring:` reference missing.
#[derive(Default)]
struct MemoryKeyring {
    entries: Mutex<HashMap<String, String>>,
    resolves: bool,
}

impl SecretStore for MemoryKeyring {
    fn put(&self, name: &str, value: &str) -> Result<SecretRef, AppError> {
        self.entries
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
        Ok(SecretRef::Keyring(name.to_owned()))
    }

    fn present(&self, reference: &SecretRef) -> bool {
        matches!(reference, SecretRef::Keyring(name) if self.entries.lock().unwrap().contains_key(name))
    }
}

impl Keyring for MemoryKeyring {
    fn get(&self, name: &str) -> Option<SecretString> {
        if !self.resolves {
            return None;
        }
        self.entries
            .lock()
            .unwrap()
            .get(name)
            .map(|value| SecretString::from(value.clone()))
    }
}

fn secrets(keyring: Arc<MemoryKeyring>) -> HostSecrets {
    HostSecrets {
        store: keyring.clone(),
        keyring,
    }
}

fn form() -> ConnectRequest {
    ConnectRequest {
        store_hash: "abc123".into(),
        access_token: "canary-bc-token".into(),
        bloomreach_base_url: "https://api.exponea.com/".into(),
        project_token: "project-token".into(),
        key_id: "key-id".into(),
        api_secret: "canary-br-secret".into(),
        webhook_public_url: "https://hooks.example.com/webhooks".into(),
        webhook_secret: None,
        data_dir: None,
    }
}

#[tokio::test]
async fn a_window_without_a_config_answers_only_the_first_run_until_connect_writes_one() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("bigreach.toml");
    let keyring = Arc::new(MemoryKeyring::default());
    let host = HostedAppliance::launch(
        Launch::Config(config_path.clone()),
        secrets(keyring.clone()),
    )
    .await
    .unwrap();

    match host.call(Operation::Connection).await.unwrap() {
        Answer::Connection(info) => {
            assert!(!info.configured);
            assert_eq!(info.config_path, config_path.display().to_string());
        }
        other => panic!("not the connection: {other:?}"),
    }
    let error = host.call(Operation::Status).await.unwrap_err();
    assert_eq!(error.code, Code::NotRunning, "{error}");
    // Nothing of the scratch store is shown as if it were the shop's: no stage, no plan.
    for operation in [
        Operation::Stage,
        Operation::StagePlan,
        Operation::DeadLetters,
    ] {
        let error = host.call(operation).await.unwrap_err();
        assert_eq!(error.code, Code::NotRunning, "{error}");
        assert!(error.message.contains("not connected yet"), "{error}");
    }
    assert!(matches!(
        host.call(Operation::Runbooks).await.unwrap(),
        Answer::Runbooks(_)
    ));
    let error = host.browser_url().await.unwrap_err();
    assert_eq!(error.code, Code::NotRunning);
    assert!(error.message.contains("Connection screen"), "{error}");

    // A form without its token is refused and writes nothing.
    let mut incomplete = form();
    incomplete.access_token = "  ".into();
    let error = host.call(Operation::Connect(incomplete)).await.unwrap_err();
    assert_eq!(error.code, Code::BadRequest, "{error}");
    assert!(!config_path.exists());
    assert!(keyring.entries.lock().unwrap().is_empty());

    // The form is written, and the window tries to start from it at once. This keyring hands
    // nothing back, so the start fails before any request leaves: the answer says the file
    // was written and what stopped the start, and the window stays on the first run.
    let error = host.call(Operation::Connect(form())).await.unwrap_err();
    assert_eq!(error.code, Code::Internal, "{error}");
    assert!(config_path.exists());
    assert!(
        error
            .message
            .contains("was written, but the appliance did not start"),
        "{error}"
    );
    assert!(
        !error.message.contains("canary-bc-token") && !error.message.contains("canary-br-secret"),
        "a secret is in the answer: {error}"
    );
    assert_eq!(
        host.call(Operation::Status).await.unwrap_err().code,
        Code::NotRunning
    );
    host.shutdown().await;
}

#[tokio::test]
async fn a_window_whose_config_does_not_load_says_why_on_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("bigreach.toml");
    std::fs::write(&config_path, "[bigcommerce]\nstore_hash = 42\n").unwrap();
    let host = HostedAppliance::launch(
        Launch::Config(config_path.clone()),
        secrets(Arc::new(MemoryKeyring::default())),
    )
    .await
    .expect("the window opens to show the problem");
    for operation in [Operation::Status, Operation::Stage, Operation::Connection] {
        let error = host.call(operation).await.unwrap_err();
        assert_eq!(error.code, Code::BadRequest, "{error}");
        assert!(
            error.message.contains(&config_path.display().to_string())
                && error.message.contains("bigreach check"),
            "{error}"
        );
    }
    assert_eq!(host.status().await.unwrap_err().code, Code::BadRequest);
    assert_eq!(host.browser_url().await.unwrap_err().code, Code::BadRequest);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_on_the_twins_runs_the_appliance_and_stops_with_the_window() {
    let keyring = Arc::new(MemoryKeyring::default());
    let host = HostedAppliance::launch(Launch::Twins { data_dir: None }, secrets(keyring))
        .await
        .unwrap();

    let status = match host.call(Operation::Status).await.unwrap() {
        Answer::Status(status) => status,
        other => panic!("not the status: {other:?}"),
    };
    assert_eq!(host.status().await.unwrap().api_address, status.api_address);
    let url = host.browser_url().await.unwrap();
    assert!(
        url.starts_with(&format!("http://{}/#token=", status.api_address)),
        "{url}"
    );
    assert!(url.len() > format!("http://{}/#token=", status.api_address).len());
    match host.call(Operation::Connection).await.unwrap() {
        Answer::Connection(info) => {
            assert!(info.configured);
            assert!(info.secrets.iter().all(|secret| secret.present), "{info:?}");
            assert_eq!(info.config_path, host.config_path().display().to_string());
        }
        other => panic!("not the connection: {other:?}"),
    }

    // The runbooks screen's two operations answer through the window's API too.
    match host.call(Operation::Runbooks).await.unwrap() {
        Answer::Runbooks(books) => assert_eq!(books.len(), 5),
        other => panic!("not the runbooks: {other:?}"),
    }
    match host.call(Operation::ErrorRunbooks).await.unwrap() {
        Answer::ErrorRunbooks(map) => {
            assert_eq!(map.links["code.plan_moved"], "errors#code-plan-moved")
        }
        other => panic!("not the error map: {other:?}"),
    }

    host.shutdown().await;
    let error = host.call(Operation::Status).await.unwrap_err();
    assert_eq!(error.code, Code::NotRunning);
    assert!(error.message.contains("shutting down"), "{error}");
}
