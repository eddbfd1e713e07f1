//! The preflight as an operation: the checks are run by a [`PreflightRunner`] (the running
//! appliance's, or the CLI's standalone one, both in `runtime::preflight`), assembled into a
//! [`PreflightReport`] here, and every run is audited as [`AUDIT_ACTION`] with the detail
//! `{"passed": bool, "digest": "<hex>", "blocking": ["check-id", …]}`, which the cutover reads
//! (the newest entry decides freshness and pass; the entry's own time is when it ran).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{AppApi, AppError, Code};
use crate::preflight::{Check, PreflightReport};

/// The audit action of a preflight run (the shared contract with the cutover stages).
pub const AUDIT_ACTION: &str = "preflight.run";

/// What to check beyond the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PreflightRequest {
    /// Storefront pages to read (default: the store's `secure_url` from `GET /v2/store`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storefront: Vec<String>,
    /// The Bloomreach SDK file the snippet should load (default:
    /// `<bloomreach.base_url>/js/exponea.min.js`, or the snippet's own `src`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_url: Option<String>,
}

/// Runs the checks that need BigCommerce, Bloomreach and the storefront. Called from a
/// blocking thread; returns every check in [`crate::preflight::DEFINITIONS`] order. A service
/// that does not answer is a failed or inconclusive check, never an error: an error means the
/// checks could not run at all (a bad request, a secret that cannot be resolved).
pub trait PreflightRunner: Send + Sync {
    /// Runs every check.
    fn run(&self, request: &PreflightRequest) -> Result<Vec<Check>, AppError>;
}

impl AppApi {
    /// The same API, able to run the preflight through `runner`.
    pub fn with_preflight_runner(mut self, runner: std::sync::Arc<dyn PreflightRunner>) -> Self {
        self.preflight = Some(runner);
        self
    }

    /// Runs the preflight on behalf of `actor` and audits the result.
    pub fn preflight(
        &self,
        request: &PreflightRequest,
        actor: &str,
    ) -> Result<PreflightReport, AppError> {
        let runner = self.preflight.as_ref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "the preflight reads BigCommerce, Bloomreach and the storefront through the \
                 running appliance or `bigreach preflight`; neither is set up in this process",
            )
        })?;
        for url in request.storefront.iter().chain(request.sdk_url.iter()) {
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => {
                    return Err(AppError::new(
                        Code::BadRequest,
                        format!("{url:?} is not an http(s) URL"),
                    ))
                }
            }
        }
        let checks = runner.run(request)?;
        let now_ms = self.clock.now_ms();
        let report = PreflightReport::new(checks, super::dead_letters::utc(now_ms));
        self.store.audit(
            now_ms,
            actor,
            AUDIT_ACTION,
            &serde_json::json!({
                "passed": report.passed,
                "digest": report.digest,
                "blocking": report.blocking(),
            }),
        )?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bigreach_clock::ManualClock;
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::app::{Answer, Operation};
    use crate::preflight::{self, Evidence, Outcome};
    use crate::store::Store;

    struct Fixed(Vec<Check>);

    impl PreflightRunner for Fixed {
        fn run(&self, _: &PreflightRequest) -> Result<Vec<Check>, AppError> {
            Ok(self.0.clone())
        }
    }

    fn api(dir: &tempfile::TempDir) -> (AppApi, Store) {
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 3, 7, 0, 0).single().unwrap());
        (AppApi::new(store.clone(), clock), store)
    }

    #[test]
    fn without_a_runner_the_preflight_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let (api, _) = api(&dir);
        let error = api
            .call(Operation::Preflight(PreflightRequest::default()), "test")
            .unwrap_err();
        assert_eq!(error.code, Code::NotRunning);
    }

    #[test]
    fn a_run_is_audited_with_the_contract_shape() {
        let dir = tempfile::tempdir().unwrap();
        let (api, store) = api(&dir);
        let checks = vec![
            preflight::BIGCOMMERCE_CREDENTIALS.pass(Evidence::of(Some(200), None, "GET /v2/store")),
            preflight::STOREFRONT_CSP_SCRIPT.fail(Evidence::local("blocked"), "allow the host"),
            preflight::STOREFRONT_SNIPPET.fail(Evidence::local("none"), "add it"),
        ];
        let api = api.with_preflight_runner(Arc::new(Fixed(checks)));
        let Answer::Preflight(report) = api
            .call(
                Operation::Preflight(PreflightRequest::default()),
                "operator",
            )
            .unwrap()
        else {
            panic!("a preflight answer")
        };
        assert!(!report.passed);
        assert_eq!(report.checks[1].outcome, Outcome::Fail);
        let entry = store.audit_log().unwrap().pop().unwrap();
        assert_eq!(entry.action, AUDIT_ACTION);
        assert_eq!(entry.action, "preflight.run");
        assert_eq!(entry.actor, "operator");
        assert_eq!(entry.at_ms, report.ran_at.timestamp_millis());
        let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
        assert_eq!(
            detail,
            serde_json::json!({
                "passed": false,
                "digest": report.digest,
                "blocking": ["storefront-csp-script-src"],
            })
        );
        insta::assert_json_snapshot!("preflight_report", report);
    }

    #[test]
    fn the_operation_travels_as_op_preflight() {
        let op: Operation = serde_json::from_str(r#"{"op": "preflight"}"#).unwrap();
        assert_eq!(op, Operation::Preflight(PreflightRequest::default()));
        let op: Operation = serde_json::from_str(
            r#"{"op": "preflight", "storefront": ["https://shop.example.com/"], "sdk_url": "https://api.exponea.com/js/exponea.min.js"}"#,
        )
        .unwrap();
        let Operation::Preflight(request) = op else {
            panic!("preflight")
        };
        assert_eq!(request.storefront.len(), 1);
        assert!(!Operation::Preflight(request).changes_state());
        let dir = tempfile::tempdir().unwrap();
        let (api, _) = api(&dir);
        let api = api.with_preflight_runner(Arc::new(Fixed(Vec::new())));
        let bad = PreflightRequest {
            storefront: vec!["ftp://shop".into()],
            sdk_url: None,
        };
        assert_eq!(api.preflight(&bad, "t").unwrap_err().code, Code::BadRequest);
    }
}
