//! `bigreach.toml`: the versioned configuration.
//!
//! Loading is two steps (see STYLE.md, "Config"): parse with `deny_unknown_fields`, then
//! [`Config::validate`] checks everything without I/O and reports every problem at once, each
//! with its field path. Secrets are [`SecretRef`]s, never values, so a config file can be shown,
//! exported and audited as it is.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::SecretRef;

/// The config format version this build reads and writes.
pub const CONFIG_VERSION: u32 = 1;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; must be [`CONFIG_VERSION`].
    pub version: u32,
    /// Where the redb store, logs and exports live.
    pub data_dir: PathBuf,
    /// The BigCommerce store.
    pub bigcommerce: BigCommerceSettings,
    /// The Bloomreach Engagement project.
    pub bloomreach: BloomreachSettings,
    /// The webhook receiver.
    pub webhooks: WebhookSettings,
    /// The local UI and HTTP API.
    pub api: ApiSettings,
    /// Alerts.
    #[serde(default)]
    pub monitoring: MonitoringSettings,
    /// Overrides of the profile mapping in `data/mapping.toml`.
    #[serde(default)]
    pub mapping: MappingSettings,
    /// The daily reconciliation against BigCommerce.
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    /// The staged cutover: the stage an unrecorded store is at, the preflight's freshness and
    /// the checks that watch a running stage.
    #[serde(default)]
    pub cutover: CutoverSettings,
    /// How the first sync loads history: the Imports API or the tracking API.
    #[serde(default)]
    pub history: HistorySettings,
}

/// `[history]`: how history reaches Bloomreach (`crate::backfill`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySettings {
    /// `tracking` (the default for now): the poller's first pass sends history through the
    /// tracking API in the `backfill` lane. `imports`: `bigreach backfill run` writes CSV files
    /// Bloomreach imports, and the poller's first pass starts at the recorded watermark.
    #[serde(default)]
    pub mode: HistoryMode,
    /// Rows per import file at most (Bloomreach's limit, 1,000,000, when unset).
    #[serde(default)]
    pub max_rows_per_file: Option<u64>,
    /// Where `bigreach backfill run` serves the import files to Bloomreach while it imports
    /// them (its own listener, behind Basic auth with a per-run password; default
    /// `127.0.0.1:8789`).
    #[serde(default)]
    pub files_listen: Option<SocketAddr>,
    /// The URL Bloomreach downloads the files from (a reverse proxy or tunnel in front of
    /// `files_listen`), ending with `/`; default `http://<files_listen>/`.
    #[serde(default)]
    pub files_public_url: Option<Url>,
}

/// `[history] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryMode {
    /// Through the tracking API (the `backfill` lane).
    #[default]
    Tracking,
    /// Through the Imports API (`bigreach backfill`).
    Imports,
}

/// The default `[history] files_listen`.
pub const DEFAULT_FILES_LISTEN: &str = "127.0.0.1:8789";

impl HistorySettings {
    /// Where the import files are served.
    pub fn files_listen(&self) -> SocketAddr {
        self.files_listen.unwrap_or_else(|| {
            DEFAULT_FILES_LISTEN
                .parse()
                .expect("the default address parses")
        })
    }

    /// The base URL Bloomreach downloads the files from (ends with `/`). With no setting, the
    /// listen address itself (`None` when it is an unspecified address such as 0.0.0.0, which
    /// nobody can call).
    pub fn files_public_url(&self) -> Option<Url> {
        if let Some(url) = &self.files_public_url {
            return Some(url.clone());
        }
        let listen = self.files_listen();
        if listen.ip().is_unspecified() {
            return None;
        }
        Url::parse(&format!("http://{listen}/")).ok()
    }

    /// Rows per import file.
    pub fn row_limit(&self) -> u64 {
        self.max_rows_per_file
            .unwrap_or(crate::backfill::MAX_ROWS_PER_FILE)
    }
}

/// `[cutover]`: the staged cutover (`crate::cutover`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutoverSettings {
    /// The stage of a store with no recorded stage: `triggers` (everything flows, as before
    /// the cutover existed) unless a new install starts earlier, e.g. at `connect`.
    #[serde(default = "default_start_stage")]
    pub start_stage: crate::cutover::Stage,
    /// How old the newest passing preflight may be for an advance.
    #[serde(default = "default_preflight_max_age")]
    pub preflight_max_age_secs: u64,
    /// The window the checks judge.
    #[serde(default = "default_cutover_window")]
    pub window_secs: u64,
    /// How often the checks run.
    #[serde(default = "default_cutover_check_every")]
    pub check_every_secs: u64,
    /// The checks' thresholds and modes.
    #[serde(default)]
    pub checks: crate::cutover::CheckThresholds,
}

impl Default for CutoverSettings {
    fn default() -> Self {
        Self {
            start_stage: default_start_stage(),
            preflight_max_age_secs: default_preflight_max_age(),
            window_secs: default_cutover_window(),
            check_every_secs: default_cutover_check_every(),
            checks: crate::cutover::CheckThresholds::default(),
        }
    }
}

fn default_start_stage() -> crate::cutover::Stage {
    crate::cutover::Stage::Triggers
}

fn default_preflight_max_age() -> u64 {
    900
}

fn default_cutover_window() -> u64 {
    300
}

fn default_cutover_check_every() -> u64 {
    30
}

/// The daily reconciliation: when it runs, which days, and whether it repairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Run it every day.
    #[serde(default = "default_true")]
    pub daily: bool,
    /// When, in the store's time zone, as `HH:MM`.
    #[serde(default = "default_reconcile_at")]
    pub at: String,
    /// How many complete days before today it covers (late refunds and retries settle).
    #[serde(default = "default_reconcile_days")]
    pub days: u32,
    /// Send what is missing through the outbox (as `bigreach reconcile --repair`).
    #[serde(default)]
    pub repair: bool,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            daily: true,
            at: default_reconcile_at(),
            days: default_reconcile_days(),
            repair: false,
        }
    }
}

impl ReconcileSettings {
    /// `at` as a time of day, if it is `HH:MM`.
    pub fn time_of_day(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(&self.at, "%H:%M").ok()
    }
}

fn default_reconcile_at() -> String {
    "04:00".to_owned()
}

fn default_reconcile_days() -> u32 {
    3
}

/// Overrides of the default mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSettings {
    /// Profile properties: source name → Bloomreach property name (empty = leave it out).
    #[serde(default)]
    pub profile: std::collections::BTreeMap<String, String>,
    /// What orders count as (status id and `payment_status` → paid / held / cancelled /
    /// refunded) and the `purchase_status` names; defaults in `data/mapping.toml` `[orders]`.
    #[serde(default)]
    pub orders: crate::map::payment::OrderMappingSettings,
    /// Which variant options and product custom fields become catalog fields; defaults in
    /// `data/catalog.toml` (data/contract/catalog.md).
    #[serde(default)]
    pub catalog: crate::map::CatalogMappingSettings,
}

/// Alert thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSettings {
    /// Alert when a purchase or profile update has waited this long since it happened in
    /// BigCommerce without Bloomreach acknowledging it.
    #[serde(default = "default_alert_latency")]
    pub alert_latency_secs: u64,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        Self {
            alert_latency_secs: default_alert_latency(),
        }
    }
}

fn default_alert_latency() -> u64 {
    300
}

/// BigCommerce connection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigCommerceSettings {
    /// The permanent short store identifier (`abc123`).
    pub store_hash: String,
    /// API root; defaults to `https://api.bigcommerce.com/stores/{store_hash}/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_root: Option<Url>,
    /// Where the store-level API account's access token lives.
    pub access_token: SecretRef,
    /// Share of the store's API quota left to the merchant's other apps (0.0 to 0.9).
    #[serde(default = "default_reserve_share")]
    pub quota_reserve_share: f64,
    /// How often the safety-net poller runs.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
    /// How far before the watermark each poll starts, to catch late writes.
    #[serde(default = "default_poll_overlap")]
    pub poll_overlap_secs: u64,
}

/// Bloomreach Engagement settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BloomreachSettings {
    /// The instance's API base URL ("API Target"), e.g. `https://api.exponea.com/`.
    pub base_url: Url,
    /// The project token (appears in every path; not a secret on its own).
    pub project_token: String,
    /// The private API key id.
    pub key_id: String,
    /// Where the private API secret lives.
    pub secret: SecretRef,
    /// Request ceiling for the tracking API, below the instance's per-IP limit (100/s by default).
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// The product catalog BigReach keeps, one item per variant.
    #[serde(default = "default_catalog_name")]
    pub catalog_name: String,
    /// The project's customer ID names.
    #[serde(default)]
    pub ids: IdNames,
    /// How customer IDs are chosen: `bigreach` (customer id first, normalized email, E.164
    /// phone) or `email-as-id` (the usual connector setting, kept only to compare against).
    #[serde(default)]
    pub identity: IdentityPolicy,
    /// The project's reference currency (ISO 4217): `total_price` and line prices are sent in
    /// it. Unset: the store's default currency (`GET v2/currencies`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_currency: Option<String>,
}

/// How customer IDs are chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityPolicy {
    /// BigReach's rules (see `core::identity`).
    #[default]
    Bigreach,
    /// The usual connector setting: the email exactly as typed is the only ID; orders without an
    /// email are dropped. A baseline for scenario reports, never for production.
    EmailAsId,
}

/// Which Bloomreach ID names carry which BigCommerce identifier. Hard IDs in the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdNames {
    /// The BigCommerce customer id (primary).
    #[serde(default = "default_customer_id_name")]
    pub customer_id: String,
    /// Normalized email (trimmed, lowercased).
    #[serde(default = "default_email_id_name")]
    pub email: String,
    /// Phone in E.164.
    #[serde(default = "default_phone_id_name")]
    pub phone: String,
}

impl Default for IdNames {
    fn default() -> Self {
        Self {
            customer_id: default_customer_id_name(),
            email: default_email_id_name(),
            phone: default_phone_id_name(),
        }
    }
}

/// The webhook receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Local listen address of the receiver (its own listener, separate from the API).
    pub listen: SocketAddr,
    /// The URL BigCommerce calls (HTTPS on 443 in production, through a proxy or tunnel).
    pub public_url: Url,
    /// The shared secret sent by BigCommerce in the `X-BigReach-Secret` header.
    pub secret: SecretRef,
    /// Largest accepted webhook body.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Register and re-activate hooks at start.
    #[serde(default = "default_true")]
    pub manage_hooks: bool,
    /// Most connections open at once on the receiver; further ones wait until one closes.
    #[serde(default = "default_webhook_connections")]
    pub max_connections: usize,
}

/// The local UI and HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Listen address; must be a loopback address.
    pub listen: SocketAddr,
    /// Most connections open at once on the local API; further ones wait until one closes.
    #[serde(default = "default_api_connections")]
    pub max_connections: usize,
}

fn default_reserve_share() -> f64 {
    0.2
}
fn default_poll_interval() -> u64 {
    300
}
fn default_poll_overlap() -> u64 {
    600
}
fn default_rps() -> u32 {
    90
}
fn default_catalog_name() -> String {
    "bigreach_products".to_owned()
}
fn default_customer_id_name() -> String {
    "customer_id".to_owned()
}
fn default_email_id_name() -> String {
    "email_id".to_owned()
}
fn default_phone_id_name() -> String {
    "phone_id".to_owned()
}
fn default_body_limit() -> usize {
    256 * 1024
}
/// Half the usual service file limit (1,024), leaving room for the store, the API and outgoing
/// connections.
fn default_webhook_connections() -> usize {
    512
}
fn default_api_connections() -> usize {
    64
}
fn default_true() -> bool {
    true
}

/// One configuration problem, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path of the field, e.g. `bloomreach.base_url`.
    pub field: String,
    /// What is wrong and what to do.
    pub problem: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Errors loading a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "cannot read config file {path}: {source}; run `bigreach init` to write a default one"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this format.
    #[error("config file {path} is not valid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the line and field).
        message: String,
    },
    /// One or more fields are invalid; all are listed.
    #[error("config has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

impl Config {
    /// Parses TOML text and validates it.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        if toml::from_str::<toml::Table>(text).is_ok_and(|table| table.is_empty()) {
            return Err(ConfigError::Parse {
                path: origin.to_owned(),
                message: "the file is empty (no settings); run `bigreach init` to write a \
                          default one"
                    .to_owned(),
            });
        }
        // The parser's own Display quotes the offending source line, which may hold a pasted
        // secret: report its message (on one line) and the line number only.
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            // One line, and a key it names back (`unknown field`) cannot drive a terminal.
            let one_line = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            let message: String = one_line
                .chars()
                .map(|c| match c.is_control() {
                    true => c.escape_default().to_string(),
                    false => c.to_string(),
                })
                .collect();
            ConfigError::Parse {
                path: origin.to_owned(),
                message: match line {
                    Some(line) => format!("line {line}: {message}"),
                    None => message,
                },
            }
        })?;
        config.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// The BigCommerce API root, derived from the store hash unless set.
    pub fn bigcommerce_api_root(&self) -> Url {
        match &self.bigcommerce.api_root {
            Some(url) => url.clone(),
            None => Url::parse(&format!(
                "https://api.bigcommerce.com/stores/{}/",
                self.bigcommerce.store_hash
            ))
            .unwrap_or_else(|_| Url::parse("https://api.bigcommerce.com/").expect("static URL")),
        }
    }

    /// Checks every field without I/O and returns all problems.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, field: &str, problem: &str| {
            if !ok {
                problems.push(ConfigProblem {
                    field: field.to_owned(),
                    problem: problem.to_owned(),
                });
            }
        };
        check(
            self.version == CONFIG_VERSION,
            "version",
            &format!(
                "this build reads config version {CONFIG_VERSION}, the file says {}",
                self.version
            ),
        );
        check(
            !self.data_dir.as_os_str().is_empty(),
            "data_dir",
            "must not be empty",
        );
        check(
            self.history
                .max_rows_per_file
                .is_none_or(|rows| (1..=crate::backfill::MAX_ROWS_PER_FILE).contains(&rows)),
            "history.max_rows_per_file",
            "must be from 1 to 1000000 (Bloomreach imports at most 1,000,000 rows per file)",
        );
        let files_listen = self.history.files_listen();
        check(
            files_listen != self.api.listen && files_listen != self.webhooks.listen,
            "history.files_listen",
            &format!(
                "the import file server needs its own address, separate from api.listen and webhooks.listen ({files_listen} is taken)"
            ),
        );
        match &self.history.files_public_url {
            Some(url) => {
                check(
                    matches!(url.scheme(), "https" | "http")
                        && url.host().is_some()
                        && url.path().ends_with('/')
                        && url.query().is_none()
                        && url.fragment().is_none(),
                    "history.files_public_url",
                    "must be the http(s) base URL Bloomreach downloads the files from, ending with '/' (e.g. https://files.example.com/bigreach/)",
                );
                check(
                    url.username().is_empty() && url.password().is_none(),
                    "history.files_public_url",
                    "must not carry credentials (each run has its own password)",
                );
                check(
                    url.port() != Some(0),
                    "history.files_public_url",
                    "port 0 is not a port Bloomreach can call; give the port your proxy or tunnel listens on",
                );
            }
            None => check(
                !files_listen.ip().is_unspecified(),
                "history.files_public_url",
                &format!(
                    "must be set when history.files_listen is {files_listen} (Bloomreach needs a URL it can reach)"
                ),
            ),
        }
        check(
            self.reconcile.time_of_day().is_some(),
            "reconcile.at",
            "must be a time of day as HH:MM in the store's time zone, e.g. \"04:00\"",
        );
        check(
            (1..=31).contains(&self.reconcile.days),
            "reconcile.days",
            "must be from 1 to 31 (the complete days before today the daily run covers)",
        );
        let hash = &self.bigcommerce.store_hash;
        check(
            !hash.is_empty() && hash.chars().all(|c| c.is_ascii_alphanumeric()),
            "bigcommerce.store_hash",
            "must be the short alphanumeric store hash from the API path (e.g. abc123)",
        );
        if let Some(root) = &self.bigcommerce.api_root {
            check(
                root.path().ends_with('/'),
                "bigcommerce.api_root",
                "must end with '/' (e.g. https://api.bigcommerce.com/stores/abc123/)",
            );
            check(
                matches!(root.scheme(), "https" | "http"),
                "bigcommerce.api_root",
                "must be an http(s) URL",
            );
        }
        let share = self.bigcommerce.quota_reserve_share;
        check(
            (0.0..=0.9).contains(&share),
            "bigcommerce.quota_reserve_share",
            "must be between 0.0 and 0.9",
        );
        check(
            self.bigcommerce.poll_interval_secs >= 10,
            "bigcommerce.poll_interval_secs",
            "must be at least 10 seconds",
        );
        let br = &self.bloomreach;
        check(
            matches!(br.base_url.scheme(), "https" | "http") && br.base_url.path().ends_with('/'),
            "bloomreach.base_url",
            "must be an http(s) URL ending with '/' (e.g. https://api.exponea.com/)",
        );
        check(
            !br.project_token.is_empty()
                && br
                    .project_token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "bloomreach.project_token",
            "must be the project token from Project settings → Access management → API",
        );
        check(
            !br.key_id.is_empty(),
            "bloomreach.key_id",
            "must be the private API key id",
        );
        check(
            (1..=1000).contains(&br.requests_per_second),
            "bloomreach.requests_per_second",
            "must be between 1 and 1000 (the default instance limit is 100 per second per IP)",
        );
        check(
            !br.catalog_name.is_empty(),
            "bloomreach.catalog_name",
            "must not be empty",
        );
        check(
            br.reference_currency
                .as_deref()
                .is_none_or(|c| c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase())),
            "bloomreach.reference_currency",
            "must be an ISO 4217 code in capitals, e.g. \"USD\" (leave it out for the store's default currency)",
        );
        let ids = [&br.ids.customer_id, &br.ids.email, &br.ids.phone];
        for (field, name) in ["customer_id", "email", "phone"].iter().zip(ids.iter()) {
            check(
                !name.is_empty() && name.is_ascii(),
                &format!("bloomreach.ids.{field}"),
                "must be a non-empty ASCII ID name configured in the project",
            );
        }
        check(
            br.ids.customer_id != br.ids.email
                && br.ids.email != br.ids.phone
                && br.ids.customer_id != br.ids.phone,
            "bloomreach.ids",
            "the three ID names must differ",
        );
        check(
            self.api.listen.ip().is_loopback(),
            "api.listen",
            "the local API listens on a loopback address only (127.0.0.1 or ::1)",
        );
        check(
            self.webhooks.listen != self.api.listen,
            "webhooks.listen",
            &format!(
                "the webhook receiver needs its own address, separate from api.listen (both are {})",
                self.webhooks.listen
            ),
        );
        check(
            (1024..=16 * 1024 * 1024).contains(&self.webhooks.max_body_bytes),
            "webhooks.max_body_bytes",
            "must be between 1 KiB and 16 MiB",
        );
        check(
            (1..=65_536).contains(&self.webhooks.max_connections),
            "webhooks.max_connections",
            "must be between 1 and 65536 (and below the process's file limit, see `ulimit -n`)",
        );
        check(
            (1..=4096).contains(&self.api.max_connections),
            "api.max_connections",
            "must be between 1 and 4096",
        );
        check(
            matches!(self.webhooks.public_url.scheme(), "https" | "http"),
            "webhooks.public_url",
            "must be the http(s) URL BigCommerce calls",
        );
        check(
            self.webhooks.public_url.port() != Some(0),
            "webhooks.public_url",
            "port 0 is not a port BigCommerce can call; give the port your proxy or tunnel listens on (or none for the scheme's default)",
        );
        for (source, target) in &self.mapping.profile {
            check(
                target.is_empty()
                    || target
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                &format!("mapping.profile.{source}"),
                "must be an ASCII property name (letters, digits, _) or empty to leave it out",
            );
        }
        if let Err(order_problems) =
            crate::map::payment::OrderMapping::with_overrides(&self.mapping.orders)
        {
            for (field, problem) in order_problems {
                check(false, &field, &problem);
            }
        }
        if let Err(catalog_problems) =
            crate::map::CatalogMapping::with_overrides(&self.mapping.catalog)
        {
            for (field, problem) in catalog_problems {
                check(false, &field, &problem);
            }
        }
        let cutover = &self.cutover;
        check(
            (60..=86_400).contains(&cutover.preflight_max_age_secs),
            "cutover.preflight_max_age_secs",
            "must be from 60 to 86400 seconds (how old a passing preflight may be for an advance)",
        );
        check(
            (10..=3_600).contains(&cutover.window_secs),
            "cutover.window_secs",
            "must be from 10 to 3600 seconds",
        );
        check(
            cutover.check_every_secs >= 1 && cutover.check_every_secs <= cutover.window_secs,
            "cutover.check_every_secs",
            "must be at least 1 second and at most cutover.window_secs",
        );
        for (field, share) in [
            (
                "rate_limited_max_share",
                cutover.checks.rate_limited_max_share,
            ),
            (
                "dead_letter_max_share",
                cutover.checks.dead_letter_max_share,
            ),
        ] {
            check(
                (0.0..=1.0).contains(&share),
                &format!("cutover.checks.{field}"),
                "must be a share from 0.0 to 1.0",
            );
        }
        check(
            cutover.checks.purchase_latency_p99_max_secs >= 1,
            "cutover.checks.purchase_latency_p99_max_secs",
            "must be at least 1 second",
        );
        check(
            cutover.checks.min_sample >= 1,
            "cutover.checks.min_sample",
            "must be at least 1",
        );
        check(
            self.monitoring.alert_latency_secs >= 10,
            "monitoring.alert_latency_secs",
            "must be at least 10 seconds",
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The commented default written by `bigreach init`.
    pub fn default_toml() -> &'static str {
        DEFAULT_TOML
    }

    /// What would stop `bigreach serve` although the file is valid: environment variables the
    /// config names that are not set (`is_set` answers for a variable name, so this does no
    /// I/O itself), and values still at the placeholders `bigreach init` wrote. Secrets are
    /// never read or shown, only whether their variable exists.
    pub fn readiness_problems(&self, is_set: impl Fn(&str) -> bool) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (field, secret) in [
            ("bigcommerce.access_token", &self.bigcommerce.access_token),
            ("bloomreach.secret", &self.bloomreach.secret),
            ("webhooks.secret", &self.webhooks.secret),
        ] {
            if let SecretRef::Env(name) = secret {
                if !is_set(name) {
                    problems.push(ConfigProblem {
                        field: field.to_owned(),
                        problem: format!(
                            "environment variable {name} is not set; export it before `bigreach serve`"
                        ),
                    });
                }
            }
        }
        let Ok(template) = Config::from_toml(DEFAULT_TOML, Path::new("the init template")) else {
            return problems;
        };
        let placeholder = |field: &str, value: &str| ConfigProblem {
            field: field.to_owned(),
            problem: format!("still the `bigreach init` placeholder {value:?}; put in your own"),
        };
        if self.bigcommerce.store_hash == template.bigcommerce.store_hash {
            problems.push(placeholder(
                "bigcommerce.store_hash",
                &self.bigcommerce.store_hash,
            ));
        }
        if self.bloomreach.project_token == template.bloomreach.project_token {
            problems.push(placeholder(
                "bloomreach.project_token",
                &self.bloomreach.project_token,
            ));
        }
        if self.bloomreach.key_id == template.bloomreach.key_id {
            problems.push(placeholder("bloomreach.key_id", &self.bloomreach.key_id));
        }
        if self.webhooks.public_url.host_str() == template.webhooks.public_url.host_str() {
            problems.push(placeholder(
                "webhooks.public_url",
                self.webhooks.public_url.as_str(),
            ));
        }
        problems
    }
}

const DEFAULT_TOML: &str = r#"# BigReach configuration. Secrets are never written here: each secret field names where the
# secret lives. `env:VARIABLE` reads an environment variable (what `bigreach serve` uses);
# `keyring:NAME` is reserved for the OS keyring of the desktop shell.
version = 1

# The redb store, rolling logs and audit exports live here.
data_dir = "./bigreach-data"

[bigcommerce]
# The short store hash from the API path https://api.bigcommerce.com/stores/{store_hash}/.
store_hash = "abc123"
# api_root = "https://api.bigcommerce.com/stores/abc123/"   # derived from store_hash when absent
# Store-level API account token (read-only scopes: orders, customers, products, information).
access_token = "env:BIGREACH_BC_TOKEN"
# Share of the store's API quota left to the merchant's other apps.
quota_reserve_share = 0.2
# Safety-net polling for missed or disabled webhooks.
poll_interval_secs = 300
poll_overlap_secs = 600

[bloomreach]
# The instance's "API Target" from Project settings → Access management → API.
base_url = "https://api.exponea.com/"
project_token = "00000000-0000-0000-0000-000000000000"
# A private API group with: Events Set, Customer properties Set, Catalogs create/update.
key_id = "your-key-id"
secret = "env:BIGREACH_BR_SECRET"
# Stay under the instance's per-IP limit (6,000 requests per minute by default).
requests_per_second = 90
catalog_name = "bigreach_products"
# total_price and line prices are sent in this currency (ISO 4217); default: the store's default
# currency. The shopper's amount goes alongside as total_price_local_currency.
# reference_currency = "USD"

[bloomreach.ids]
# The project's hard ID names for each BigCommerce identifier.
customer_id = "customer_id"
email = "email_id"
phone = "phone_id"

[webhooks]
# The receiver's own listener. BigCommerce calls public_url (HTTPS on port 443), which your
# reverse proxy or tunnel forwards here.
listen = "127.0.0.1:8787"
public_url = "https://hooks.example.com/bigcommerce/webhooks"
secret = "env:BIGREACH_WEBHOOK_SECRET"
max_body_bytes = 262144
manage_hooks = true
# Most connections open at once; more wait until one closes (keep it below `ulimit -n`).
max_connections = 512

[api]
# The local UI and HTTP API; loopback only.
listen = "127.0.0.1:8788"
# Most connections open at once; more wait until one closes.
max_connections = 64

[monitoring]
# Alert (status, /metrics) when a purchase or profile update is still unacknowledged this long
# after it happened in BigCommerce.
alert_latency_secs = 300

[reconcile]
# Every day at `at` (HH:MM, the store's time zone) compare BigCommerce's paid orders and refunds
# of the last `days` complete days with what Bloomreach acknowledged, and write the finance CSV
# to <data_dir>/reconciliation/. `repair = true` also sends what is missing.
daily = true
at = "04:00"
days = 3
repair = false

[cutover]
# The stage a store with no recorded stage is at: `triggers` sends everything (as before the
# staged cutover); a new install can start at "connect" and advance with `bigreach stage`.
start_stage = "triggers"
# An advance needs a passing preflight at most this old.
preflight_max_age_secs = 900
# The checks that watch a running stage judge this window, this often.
window_secs = 300
check_every_secs = 30

[cutover.checks]
# "enforce": a failure falls back to the previous stage; "observe": it holds for a person.
rate_limited_max_share = 0.05
rate_limited = "enforce"
dead_letter_max_share = 0.01
dead_letters = "enforce"
purchase_latency_p99_max_secs = 300
purchase_latency = "enforce"
identity_conflicts_max = 0
identity_conflicts = "observe"
# Fewest requests, outcomes or purchases a share or a p99 is judged on.
min_sample = 10

# Profile property names default to data/mapping.toml (compiled in). Override any of them here;
# an empty name leaves the property out.
# [mapping.profile]
# company = ""
# phone = "mobile_phone"
# What orders count as (paid, held, cancelled, refunded) defaults to data/mapping.toml [orders]:
# [mapping.orders.payment_status]
# authorized = "paid"
# Which variant options and product custom fields become catalog fields defaults to
# data/catalog.toml (data/contract/catalog.md):
# [mapping.catalog]
# debounce_secs = 30        # a burst of stock and price changes of a variant within it is one write
# triggers = false          # back_in_stock and price_drop events (the triggers lane)
# sweep_secs = 3600         # list every product's variants this often (0: only after a hook gap)
# drift_compare_secs = 86400  # compare the whole catalog with Bloomreach's, repair drift (0: off)
# [mapping.catalog.options]
# Material = "option_material"
# [mapping.catalog.custom_fields.season]
# field = "season"
# type = "string"
# searchable = true
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_garbled_file_gets_a_one_line_message_that_says_what_to_do() {
        let message = |text: &str| match Config::from_toml(text, Path::new("b.toml")) {
            Err(ConfigError::Parse { message, .. }) => message,
            other => panic!("{text:?}: {other:?}"),
        };
        for empty in ["", "  \n\t\n", "# only a comment\n"] {
            let shown = message(empty);
            assert!(
                shown.contains("empty") && shown.contains("bigreach init"),
                "{shown}"
            );
        }
        // toml's message for a broken table header spans two lines.
        for garbled in [
            "[bigcommerce",
            "\u{0}",
            "a = [1,",
            "version = 1\n\n[api]\nlisten = 5",
            // A quoted key with a terminal escape, named back in `unknown field`.
            "\"x\\u001b[2J\" = 1",
        ] {
            let shown = message(garbled);
            assert!(shown.starts_with("line "), "{shown}");
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
    }

    #[test]
    fn default_template_parses_and_validates() {
        let config = Config::from_toml(Config::default_toml(), Path::new("default")).unwrap();
        assert_eq!(config.version, CONFIG_VERSION);
        assert_eq!(
            config.bigcommerce_api_root().as_str(),
            "https://api.bigcommerce.com/stores/abc123/"
        );
        assert_eq!(config.bloomreach.ids, IdNames::default());
    }

    #[test]
    fn reports_every_problem_with_its_field() {
        let text = Config::default_toml()
            .replace("version = 1", "version = 7")
            .replace("store_hash = \"abc123\"", "store_hash = \"abc/123\"")
            .replace("listen = \"127.0.0.1:8788\"", "listen = \"0.0.0.0:8788\"")
            .replace("requests_per_second = 90", "requests_per_second = 0");
        let err = Config::from_toml(&text, Path::new("t")).unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err}");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "version",
                "bigcommerce.store_hash",
                "bloomreach.requests_per_second",
                "api.listen"
            ]
        );
    }

    #[test]
    fn a_reference_currency_must_be_an_iso_code() {
        let with = |code: &str| {
            Config::default_toml().replace(
                "# reference_currency = \"USD\"",
                &format!("reference_currency = \"{code}\""),
            )
        };
        let config = Config::from_toml(&with("EUR"), Path::new("t")).unwrap();
        assert_eq!(config.bloomreach.reference_currency.as_deref(), Some("EUR"));
        let err = Config::from_toml(&with("euro"), Path::new("t")).unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err}");
        };
        assert_eq!(problems[0].field, "bloomreach.reference_currency");
        let default = Config::from_toml(Config::default_toml(), Path::new("t")).unwrap();
        assert_eq!(default.bloomreach.reference_currency, None);
    }

    #[test]
    fn catalog_mapping_problems_are_listed_with_the_others() {
        let text = format!(
            "{}\n{}",
            Config::default_toml().replace("requests_per_second = 90", "requests_per_second = 0"),
            r#"
[mapping.catalog.options]
Fit = "Fit Type"
[mapping.catalog.custom_fields.note]
field = "price"
[mapping.catalog.custom_fields.chart]
field = "size_chart"
type = "table"
"#
        );
        let err = Config::from_toml(&text, Path::new("t")).unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err}");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "bloomreach.requests_per_second",
                "mapping.catalog.options.Fit",
                "mapping.catalog.custom_fields.chart.type",
                "mapping.catalog.custom_fields.note.field",
            ]
        );
        let ok = format!(
            "{}\n[mapping.catalog.custom_fields.season]\nfield = \"season\"\nsearchable = true\n",
            Config::default_toml()
        );
        let config = Config::from_toml(&ok, Path::new("t")).unwrap();
        let mapping = crate::map::CatalogMapping::with_overrides(&config.mapping.catalog).unwrap();
        assert!(mapping
            .fields()
            .iter()
            .any(|f| f.name == "season" && f.searchable));
    }

    #[test]
    fn the_catalog_comparison_period_is_a_day_by_default_and_out_of_range_values_are_refused() {
        let with = |line: &str| format!("{}\n[mapping.catalog]\n{line}\n", Config::default_toml());
        let default = Config::from_toml(Config::default_toml(), Path::new("t")).unwrap();
        let mapping = crate::map::CatalogMapping::with_overrides(&default.mapping.catalog).unwrap();
        assert_eq!(
            mapping.drift_compare_interval(),
            Some(std::time::Duration::from_secs(86_400))
        );
        for (secs, interval) in [(0, None), (3_600, Some(3_600)), (604_800, Some(604_800))] {
            let config = Config::from_toml(
                &with(&format!("drift_compare_secs = {secs}")),
                Path::new("t"),
            )
            .unwrap();
            let mapping =
                crate::map::CatalogMapping::with_overrides(&config.mapping.catalog).unwrap();
            assert_eq!(
                mapping.drift_compare_interval(),
                interval.map(std::time::Duration::from_secs)
            );
        }
        for secs in [60, 3_599, 604_801] {
            let err = Config::from_toml(
                &with(&format!("drift_compare_secs = {secs}")),
                Path::new("t"),
            )
            .unwrap_err();
            let ConfigError::Invalid(problems) = err else {
                panic!("expected Invalid, got {err}");
            };
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].field, "mapping.catalog.drift_compare_secs");
            assert!(
                problems[0].problem.contains("3600 to 604800"),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn port_zero_is_no_shortcut_for_the_two_listeners_or_the_public_url() {
        // Two listeners on one address is a configuration error, port 0 included: a caller that
        // wants ephemeral ports binds them itself and passes the listeners to the appliance.
        let text = Config::default_toml()
            .replace("listen = \"127.0.0.1:8787\"", "listen = \"127.0.0.1:0\"")
            .replace("listen = \"127.0.0.1:8788\"", "listen = \"127.0.0.1:0\"")
            .replace(
                "https://hooks.example.com/bigcommerce/webhooks",
                "http://127.0.0.1:0/webhooks",
            );
        let err = Config::from_toml(&text, Path::new("t")).unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err}");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["webhooks.listen", "webhooks.public_url"]);
        assert!(
            problems[0].problem.contains("127.0.0.1:0"),
            "{}",
            problems[0]
        );
        assert!(problems[1].problem.contains("port 0"), "{}", problems[1]);
    }

    #[test]
    fn connection_caps_default_and_are_validated() {
        let config = Config::from_toml(Config::default_toml(), Path::new("default")).unwrap();
        assert_eq!(config.webhooks.max_connections, 512);
        assert_eq!(config.api.max_connections, 64);
        let text = Config::default_toml()
            .replace("max_connections = 512", "max_connections = 0")
            .replace("max_connections = 64", "max_connections = 100000");
        let ConfigError::Invalid(problems) = Config::from_toml(&text, Path::new("t")).unwrap_err()
        else {
            panic!("expected Invalid");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["webhooks.max_connections", "api.max_connections"]);
    }

    #[test]
    fn the_daily_reconciliation_defaults_and_is_validated() {
        let config = Config::from_toml(Config::default_toml(), Path::new("default")).unwrap();
        assert_eq!(config.reconcile, ReconcileSettings::default());
        assert_eq!(
            config.reconcile.time_of_day(),
            chrono::NaiveTime::from_hms_opt(4, 0, 0)
        );
        // A file without the section gets the same defaults.
        let toml = Config::default_toml();
        let (start, end) = (
            toml.find("[reconcile]").unwrap(),
            toml.find("# Profile property names").unwrap(),
        );
        let without = format!("{}{}", &toml[..start], &toml[end..]);
        let config = Config::from_toml(&without, Path::new("t")).unwrap();
        assert_eq!(config.reconcile, ReconcileSettings::default());
        let text = Config::default_toml()
            .replace("at = \"04:00\"", "at = \"4 am\"")
            .replace("days = 3", "days = 0");
        let ConfigError::Invalid(problems) = Config::from_toml(&text, Path::new("t")).unwrap_err()
        else {
            panic!("expected Invalid");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["reconcile.at", "reconcile.days"]);
    }

    #[test]
    fn readiness_names_unset_variables_and_init_placeholders() {
        let config = Config::from_toml(Config::default_toml(), Path::new("default")).unwrap();
        let problems = config.readiness_problems(|name| name == "BIGREACH_BR_SECRET");
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "bigcommerce.access_token",
                "webhooks.secret",
                "bigcommerce.store_hash",
                "bloomreach.project_token",
                "bloomreach.key_id",
                "webhooks.public_url"
            ]
        );
        assert!(
            problems[0].problem.contains("BIGREACH_BC_TOKEN"),
            "{}",
            problems[0]
        );
        let text = Config::default_toml()
            .replace("abc123", "k7x9q2")
            .replace(
                "00000000-0000-0000-0000-000000000000",
                "5d6f0c2e-8d0e-4b8e-9c4f-1f2e3d4c5b6a",
            )
            .replace("your-key-id", "k-1")
            .replace("hooks.example.com", "hooks.shop.de");
        let ready = Config::from_toml(&text, Path::new("t")).unwrap();
        assert!(ready.readiness_problems(|_| true).is_empty());
    }

    #[test]
    fn unknown_fields_and_inline_secrets_are_refused() {
        let text = Config::default_toml().replace("poll_overlap_secs = 600", "poll_overlap = 600");
        assert!(matches!(
            Config::from_toml(&text, Path::new("t")),
            Err(ConfigError::Parse { .. })
        ));
        let text = Config::default_toml().replace(
            "secret = \"env:BIGREACH_BR_SECRET\"",
            "secret = \"my-plain-secret\"",
        );
        let err = Config::from_toml(&text, Path::new("t")).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        assert!(!err.to_string().contains("my-plain-secret"), "{err}");
    }

    #[test]
    fn cutover_defaults_keep_everything_flowing_and_problems_name_their_fields() {
        let config = Config::from_toml(Config::default_toml(), Path::new("t")).unwrap();
        assert_eq!(config.cutover, CutoverSettings::default());
        assert_eq!(config.cutover.start_stage, crate::cutover::Stage::Triggers);
        assert_eq!(config.cutover.preflight_max_age_secs, 900);
        // A file without the section gets the same defaults.
        let toml = Config::default_toml();
        let (start, end) = (
            toml.find("[cutover]").unwrap(),
            toml.find("# Profile property names").unwrap(),
        );
        let without = format!("{}{}", &toml[..start], &toml[end..]);
        let config = Config::from_toml(&without, Path::new("t")).unwrap();
        assert_eq!(config.cutover, CutoverSettings::default());
        let text = Config::default_toml()
            .replace("start_stage = \"triggers\"", "start_stage = \"connect\"")
            .replace("preflight_max_age_secs = 900", "preflight_max_age_secs = 5")
            .replace(
                "rate_limited_max_share = 0.05",
                "rate_limited_max_share = 5.0",
            )
            .replace("min_sample = 10", "min_sample = 0");
        let ConfigError::Invalid(problems) = Config::from_toml(&text, Path::new("t")).unwrap_err()
        else {
            panic!("expected Invalid");
        };
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "cutover.preflight_max_age_secs",
                "cutover.checks.rate_limited_max_share",
                "cutover.checks.min_sample"
            ]
        );
        let text = Config::default_toml()
            .replace("start_stage = \"triggers\"", "start_stage = \"connect\"");
        let config = Config::from_toml(&text, Path::new("t")).unwrap();
        assert_eq!(config.cutover.start_stage, crate::cutover::Stage::Connect);
        assert!(Config::from_toml(
            &Config::default_toml().replace("start_stage = \"triggers\"", "start_stage = \"live\""),
            Path::new("t")
        )
        .is_err());
    }

    #[test]
    fn history_file_server_settings_are_checked_with_their_field_paths() {
        let base = DEFAULT_TOML.to_owned();
        let problems = |history: &str| -> Vec<String> {
            let text = format!("{base}\n[history]\n{history}\n");
            let config: Config = toml::from_str(&text).expect("parses");
            match config.validate() {
                Ok(()) => Vec::new(),
                Err(problems) => problems.into_iter().map(|p| p.field).collect(),
            }
        };
        assert!(problems("").is_empty());
        let config: Config = toml::from_str(&base).expect("parses");
        assert_eq!(
            config
                .history
                .files_public_url()
                .map(String::from)
                .as_deref(),
            Some("http://127.0.0.1:8789/")
        );
        assert_eq!(
            problems("files_listen = \"127.0.0.1:8788\""),
            ["history.files_listen"]
        );
        assert_eq!(
            problems("files_listen = \"0.0.0.0:8789\""),
            ["history.files_public_url"]
        );
        assert!(problems(
            "files_listen = \"0.0.0.0:8789\"\nfiles_public_url = \"https://files.example.com/br/\""
        )
        .is_empty());
        for bad in [
            "https://files.example.com/no-slash",
            "ftp://files.example.com/",
            "https://u:p@files.example.com/",
            "https://files.example.com:0/",
        ] {
            assert_eq!(
                problems(&format!("files_public_url = \"{bad}\"")),
                ["history.files_public_url"],
                "{bad}"
            );
        }
    }
}
