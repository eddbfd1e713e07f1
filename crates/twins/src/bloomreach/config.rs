//! Configuration of the Bloomreach Engagement twin.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long the twin waits (on the injected clock) before answering a request.
///
/// Each answer is delayed by `base` plus a seeded uniform value in `[0, jitter]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyModel {
    /// The fixed part of every delay.
    pub base: Duration,
    /// The upper bound of the random part of every delay.
    pub jitter: Duration,
}

impl LatencyModel {
    /// No delay at all (the default).
    pub const ZERO: LatencyModel = LatencyModel {
        base: Duration::ZERO,
        jitter: Duration::ZERO,
    };

    /// True when no request is ever delayed.
    pub fn is_zero(&self) -> bool {
        self.base.is_zero() && self.jitter.is_zero()
    }
}

/// Everything that shapes one Bloomreach Engagement project simulated by the twin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BloomreachTwinConfig {
    /// The project token that must appear in every `/track/v2/projects/{token}` and
    /// `/data/v2/projects/{token}` path.
    pub project_token: String,
    /// The API key ID of the private-access API group (HTTP Basic user name).
    pub key_id: String,
    /// The API secret of the private-access API group (HTTP Basic password).
    pub secret: String,
    /// The public-access API token (`Authorization: Token …` or `?access_token=`). Accepted by the
    /// Tracking API only. `None` disables public access.
    pub public_token: Option<String>,
    /// Hard-ID names of the project, in priority order (the first one wins identity conflicts).
    pub hard_ids: Vec<String>,
    /// Soft-ID names of the project.
    pub soft_ids: Vec<String>,
    /// The per-source-IP ceiling of HTTP requests in any 60-second window (clock time).
    pub requests_per_minute: u32,
    /// Delay before answering.
    pub latency: LatencyModel,
    /// Chance, in thousandths, that an API request answers a random 5xx (and is discarded).
    pub server_error_per_mille: u32,
    /// Seed of every random choice the twin makes.
    pub seed: u64,
    /// Addition: one catalog item-write response in this many answers its per-item booleans as the
    /// strings `"True"` / `"False"` (as in Bloomreach's docs example). `0` never does. Default 4.
    pub catalog_string_booleans_one_in: u32,
    /// Addition: the project's cap on distinct customer attribute names (255 or 1024 by
    /// contract). Updates that would create a new attribute beyond the cap are dropped silently.
    pub customer_attribute_limit: usize,
    /// Addition: seconds sent in a `Retry-After` header on 429 answers. `None` (the default)
    /// sends no header: Bloomreach documents none for Engagement (reference §3).
    #[serde(default)]
    pub retry_after_seconds: Option<u32>,
    /// Customer properties marked Private (PII) in the project's Data Manager: GDPR
    /// anonymization removes these and only these (reference §7.2).
    #[serde(default = "default_private_properties")]
    pub private_properties: Vec<String>,
    /// Addition: most data rows one import file may hold (documented: 1,000,000). More and the
    /// run fails without applying anything. Lower it in tests.
    #[serde(default = "default_import_row_limit")]
    pub import_row_limit: usize,
}

fn default_private_properties() -> Vec<String> {
    ["email", "phone", "first_name", "last_name"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn default_import_row_limit() -> usize {
    1_000_000
}

impl Default for BloomreachTwinConfig {
    fn default() -> Self {
        Self {
            project_token: "8c2f2d6e-4b1a-11ef-9c3e-0a58a9feac02".to_owned(),
            key_id: "twin-key-id".to_owned(),
            secret: "twin-secret".to_owned(),
            public_token: None,
            hard_ids: vec![
                "customer_id".to_owned(),
                "email_id".to_owned(),
                "phone_id".to_owned(),
            ],
            soft_ids: vec!["cookie".to_owned()],
            requests_per_minute: 6000,
            latency: LatencyModel::ZERO,
            server_error_per_mille: 0,
            seed: 0,
            catalog_string_booleans_one_in: 4,
            customer_attribute_limit: 255,
            retry_after_seconds: None,
            private_properties: default_private_properties(),
            import_row_limit: default_import_row_limit(),
        }
    }
}
