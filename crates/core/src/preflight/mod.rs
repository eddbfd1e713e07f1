//! The go-live preflight: typed checks, each with a severity, evidence, the exact fix and a
//! runbook link, and the report they make (passed when no blocking check failed, with a digest
//! of the checks). The checks that need I/O are run by the runtime (`runtime::preflight`,
//! through [`crate::app::preflight::PreflightRunner`]); what can be judged without I/O is a pure
//! function here: the storefront's CSP and SRI ([`storefront`]), the BigCommerce scopes a 403
//! means ([`scopes`]), the clock skew ([`clock_skew`]).
//!
//! Every check id is listed in [`DEFINITIONS`] and has a section of the same name in
//! `data/runbooks/preflight.md`.

pub mod scopes;
pub mod storefront;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

/// Whether a failing check stops go-live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A failure blocks advancing past the preflight stage.
    Block,
    /// A failure is shown, go-live may proceed.
    Warn,
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// What was checked is right.
    Pass,
    /// What was checked is wrong; the fix says what to do.
    Fail,
    /// It could not be decided (nothing to read, a service did not answer): a person decides.
    Inconclusive,
}

/// What a check read, so an operator can verify it without running it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Evidence {
    /// The service's request id of the deciding request, when it sent one.
    pub request_id: Option<String>,
    /// The HTTP status of the deciding request (none when nothing answered or nothing was sent).
    pub status: Option<u16>,
    /// What was read, in words (the request, and what the answer held).
    pub read: String,
}

impl Evidence {
    /// Evidence of one request: its status, request id and what it read.
    pub fn of(status: Option<u16>, request_id: Option<String>, read: impl Into<String>) -> Self {
        Self {
            request_id,
            status,
            read: read.into(),
        }
    }

    /// Evidence that needed no request (a local comparison, or nothing could be sent).
    pub fn local(read: impl Into<String>) -> Self {
        Self::of(None, None, read)
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Check {
    /// Stable id (kebab-case), also the runbook anchor.
    pub id: String,
    /// What is checked, in words.
    pub title: String,
    /// Whether a failure blocks go-live.
    pub severity: Severity,
    /// What was found.
    pub outcome: Outcome,
    /// What was read.
    pub evidence: Evidence,
    /// The exact fix (empty when the check passed).
    pub fix: String,
    /// Where the runbook explains the check: `data/runbooks/preflight.md#<id>`.
    pub runbook: String,
}

/// A check's fixed parts: id, title and severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Definition {
    /// Stable id (kebab-case), also the runbook anchor.
    pub id: &'static str,
    /// What is checked.
    pub title: &'static str,
    /// Whether a failure blocks go-live.
    pub severity: Severity,
}

impl Definition {
    /// The check passed.
    pub fn pass(&self, evidence: Evidence) -> Check {
        self.with(Outcome::Pass, evidence, String::new())
    }

    /// The check failed; `fix` says exactly what to do.
    pub fn fail(&self, evidence: Evidence, fix: impl Into<String>) -> Check {
        self.with(Outcome::Fail, evidence, fix.into())
    }

    /// The check could not be decided; `fix` says what a person should look at.
    pub fn inconclusive(&self, evidence: Evidence, fix: impl Into<String>) -> Check {
        self.with(Outcome::Inconclusive, evidence, fix.into())
    }

    fn with(&self, outcome: Outcome, evidence: Evidence, fix: String) -> Check {
        Check {
            id: self.id.to_owned(),
            title: self.title.to_owned(),
            severity: self.severity,
            outcome,
            evidence,
            fix,
            runbook: runbook(self.id),
        }
    }
}

/// The runbook link of a check.
pub fn runbook(id: &str) -> String {
    format!("data/runbooks/preflight.md#{id}")
}

macro_rules! definitions {
    ($($name:ident = $id:literal, $severity:ident, $title:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: Definition = Definition {
                id: $id,
                title: $title,
                severity: Severity::$severity,
            };
        )*
        /// Every check, in the order a report lists them.
        pub const DEFINITIONS: &[Definition] = &[$($name),*];
    };
}

definitions! {
    BIGCOMMERCE_CREDENTIALS = "bigcommerce-credentials", Block,
        "BigCommerce accepts the access token (GET /v2/store)";
    BIGCOMMERCE_SCOPE_ORDERS = "bigcommerce-scope-orders", Block,
        "The API account may read orders (store_v2_orders_read_only)";
    BIGCOMMERCE_SCOPE_CUSTOMERS = "bigcommerce-scope-customers", Block,
        "The API account may read customers (store_v2_customers_read_only)";
    BIGCOMMERCE_SCOPE_PRODUCTS = "bigcommerce-scope-products", Block,
        "The API account may read the catalog (store_v2_products_read_only)";
    BIGCOMMERCE_WEBHOOKS_REGISTERED = "bigcommerce-webhooks-registered", Block,
        "Every webhook BigReach follows is registered and active for the public URL";
    BIGCOMMERCE_WEBHOOK_DELIVERY = "bigcommerce-webhook-delivery", Block,
        "A test delivery to the public webhook URL reaches the receiver";
    BLOOMREACH_CREDENTIALS = "bloomreach-credentials", Block,
        "Bloomreach accepts the project token and API key (system time)";
    BLOOMREACH_PERMISSIONS = "bloomreach-permissions", Block,
        "The API group may use tracking, catalogs and customers";
    BLOOMREACH_CATALOG_FIELDS = "bloomreach-catalog-fields", Block,
        "The catalog declares every field of the catalog contract";
    BLOOMREACH_HARD_IDS = "bloomreach-hard-ids", Block,
        "The project knows the customer ID names in the config";
    CLOCK_SKEW = "clock-skew", Block,
        "This machine's clock agrees with Bloomreach's";
    STOREFRONT_SNIPPET = "storefront-snippet", Warn,
        "The storefront page carries the Bloomreach SDK snippet";
    STOREFRONT_CSP_SCRIPT = "storefront-csp-script-src", Block,
        "The storefront's CSP lets the SDK load (script-src)";
    STOREFRONT_CSP_CONNECT = "storefront-csp-connect-src", Block,
        "The storefront's CSP lets the SDK send tracking (connect-src)";
    STOREFRONT_SRI = "storefront-sri", Block,
        "An integrity attribute on the SDK snippet matches the SDK file";
}

/// The definition with this id.
pub fn definition(id: &str) -> Option<Definition> {
    DEFINITIONS.iter().copied().find(|d| d.id == id)
}

/// The largest clock difference from Bloomreach's time the [`CLOCK_SKEW`] check accepts.
pub const MAX_CLOCK_SKEW_MS: i64 = 30_000;

/// The clock-skew check, from this machine's clock before and after asking Bloomreach for its
/// time (`server_ms`): the local time is taken as the midpoint, and the check fails when the
/// difference is larger than [`MAX_CLOCK_SKEW_MS`] plus half the round trip (the part of the
/// difference the network could explain).
pub fn clock_skew(before_ms: i64, after_ms: i64, server_ms: i64, evidence: Evidence) -> Check {
    let round_trip = (after_ms - before_ms).max(0);
    let local = before_ms + round_trip / 2;
    let skew = local - server_ms;
    let allowed = MAX_CLOCK_SKEW_MS + round_trip / 2;
    let read = format!(
        "{}; this machine is {} ms {} Bloomreach (round trip {round_trip} ms, limit {MAX_CLOCK_SKEW_MS} ms)",
        evidence.read,
        skew.abs(),
        if skew >= 0 { "ahead of" } else { "behind" },
    );
    let evidence = Evidence { read, ..evidence };
    if skew.abs() <= allowed {
        CLOCK_SKEW.pass(evidence)
    } else {
        CLOCK_SKEW.fail(
            evidence,
            "Synchronise this machine's clock with NTP (`timedatectl set-ntp true`, or chrony), \
             then run the preflight again: event times and webhook ages are read from it",
        )
    }
}

/// The preflight's answer: every check, whether go-live may proceed, and a digest that names
/// exactly these results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PreflightReport {
    /// Every check, in [`DEFINITIONS`] order.
    pub checks: Vec<Check>,
    /// No check of severity block failed.
    pub passed: bool,
    /// SHA-256 (hex) of the canonical JSON (RFC 8785) of `checks`.
    pub digest: String,
    /// When the preflight ran (UTC).
    pub ran_at: DateTime<Utc>,
}

impl PreflightReport {
    /// The report of `checks`, run at `ran_at`.
    pub fn new(checks: Vec<Check>, ran_at: DateTime<Utc>) -> Self {
        let passed = !checks.iter().any(is_blocking);
        let digest = digest(&checks);
        Self {
            checks,
            passed,
            digest,
            ran_at,
        }
    }

    /// The ids of the checks that block go-live (severity block, outcome fail).
    pub fn blocking(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| is_blocking(c))
            .map(|c| c.id.clone())
            .collect()
    }
}

fn is_blocking(check: &Check) -> bool {
    check.severity == Severity::Block && check.outcome == Outcome::Fail
}

/// SHA-256 (hex) of the canonical JSON of `checks`.
pub fn digest(checks: &[Check]) -> String {
    // Serializing plain structs of strings and numbers cannot fail; an empty digest input
    // would still be a stable value.
    let canonical = serde_jcs::to_vec(checks).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 6, 0, 0).single().unwrap()
    }

    #[test]
    fn a_report_passes_unless_a_blocking_check_fails() {
        let checks = vec![
            BIGCOMMERCE_CREDENTIALS.pass(Evidence::of(Some(200), None, "GET /v2/store")),
            STOREFRONT_SNIPPET.fail(Evidence::local("no snippet"), "add it"),
            BIGCOMMERCE_WEBHOOK_DELIVERY.inconclusive(Evidence::local("not running"), "start"),
        ];
        let report = PreflightReport::new(checks.clone(), at());
        assert!(
            report.passed,
            "a warning and an inconclusive check do not block"
        );
        assert!(report.blocking().is_empty());

        let mut failing = checks;
        failing.push(STOREFRONT_SRI.fail(Evidence::local("mismatch"), "remove integrity"));
        let report = PreflightReport::new(failing, at());
        assert!(!report.passed);
        assert_eq!(report.blocking(), vec!["storefront-sri".to_owned()]);
    }

    #[test]
    fn the_digest_names_the_checks_exactly() {
        let one = vec![CLOCK_SKEW.pass(Evidence::local("0 ms"))];
        let other = vec![CLOCK_SKEW.pass(Evidence::local("1 ms"))];
        assert_eq!(digest(&one), digest(&one.clone()));
        assert_ne!(digest(&one), digest(&other));
        assert_eq!(digest(&one).len(), 64);
        assert_eq!(PreflightReport::new(one.clone(), at()).digest, digest(&one));
    }

    #[test]
    fn every_check_links_its_runbook_section() {
        let runbook = include_str!("../../../../data/runbooks/preflight.md");
        for definition in DEFINITIONS {
            assert_eq!(
                definition.pass(Evidence::local("")).runbook,
                format!("data/runbooks/preflight.md#{}", definition.id)
            );
            assert!(
                runbook.contains(&format!("\n## {}\n", definition.id)),
                "the runbook has no section `## {}`",
                definition.id
            );
        }
        let mut ids: Vec<&str> = DEFINITIONS.iter().map(|d| d.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), DEFINITIONS.len(), "ids are unique");
    }

    #[test]
    fn clock_skew_allows_the_limit_plus_half_the_round_trip() {
        let server = 1_000_000;
        let ok = clock_skew(
            server + MAX_CLOCK_SKEW_MS - 10,
            server + MAX_CLOCK_SKEW_MS + 10,
            server,
            Evidence::local("system/time"),
        );
        assert_eq!(ok.outcome, Outcome::Pass, "{ok:?}");
        let behind = clock_skew(
            server - MAX_CLOCK_SKEW_MS - 1_000,
            server - MAX_CLOCK_SKEW_MS - 1_000,
            server,
            Evidence::local("system/time"),
        );
        assert_eq!(behind.outcome, Outcome::Fail);
        assert!(
            behind.evidence.read.contains("31000 ms behind"),
            "{behind:?}"
        );
        assert!(behind.fix.contains("NTP"));
    }
}
