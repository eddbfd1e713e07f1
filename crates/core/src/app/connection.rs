//! What the appliance is connected to, and the first-run connect: a form's answers become a
//! validated `bigreach.toml` and the secrets go to the host's [`SecretStore`] (the OS keyring
//! from the desktop; a headless install keeps them in its environment or systemd credentials,
//! so there the store refuses and the answer names the variables to set). A secret value is
//! never written to the file, echoed back, or logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{AppApi, AppError, Code};
use crate::config::Config;
use crate::secret::SecretRef;

/// Where the host keeps secrets the connect form is given.
pub trait SecretStore: Send + Sync {
    /// Stores `value` under `name` and answers the reference the config will hold, or refuses
    /// (a headless install) with a message that says where the secret must go instead.
    fn put(&self, name: &str, value: &str) -> Result<SecretRef, AppError>;
    /// Whether `reference` resolves here now (its value is never returned).
    fn present(&self, reference: &SecretRef) -> bool;
}

/// The headless store: secrets live in the process environment (or systemd credentials passed
/// as environment); nothing is stored from a form.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvironmentSecrets;

impl SecretStore for EnvironmentSecrets {
    fn put(&self, name: &str, _value: &str) -> Result<SecretRef, AppError> {
        Err(AppError::new(
            Code::BadRequest,
            format!(
                "a headless install keeps no secrets of its own: set the environment variable {} (for the systemd unit: in its EnvironmentFile or as a credential), then restart",
                env_name(name)
            ),
        ))
    }

    fn present(&self, reference: &SecretRef) -> bool {
        match reference {
            SecretRef::Env(name) => std::env::var_os(name).is_some_and(|v| !v.is_empty()),
            SecretRef::Keyring(_) => false,
        }
    }
}

/// The environment variable a headless install reads a secret from (`bigcommerce-token` →
/// `BIGREACH_BIGCOMMERCE_TOKEN`).
pub fn env_name(name: &str) -> String {
    format!("BIGREACH_{}", name.replace(['-', '.'], "_").to_uppercase())
}

/// The secret names the connect form stores, with the config field each fills.
pub const SECRETS: [(&str, &str); 3] = [
    ("bigcommerce-access-token", "bigcommerce.access_token"),
    ("bloomreach-api-secret", "bloomreach.secret"),
    ("webhook-secret", "webhooks.secret"),
];

/// Where the config is and who keeps the secrets.
#[derive(Clone)]
pub struct ConnectionContext {
    /// The config file the appliance reads (and `connect` writes).
    pub config_path: PathBuf,
    /// The config in use, if there is one.
    pub config: Option<Config>,
    /// The host's secret store.
    pub secrets: Arc<dyn SecretStore>,
}

/// One secret the config refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SecretStatus {
    /// The config field (`bigcommerce.access_token`).
    pub field: String,
    /// Where it lives (`env:NAME` or `keyring:NAME`); never the value.
    pub reference: String,
    /// Whether it resolves now.
    pub present: bool,
}

/// What the appliance is connected to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ConnectionInfo {
    /// Whether a config exists.
    pub configured: bool,
    /// The config file.
    pub config_path: String,
    /// The BigCommerce store hash.
    pub store_hash: Option<String>,
    /// The BigCommerce API root.
    pub bigcommerce_api_root: Option<String>,
    /// Bloomreach's API base URL.
    pub bloomreach_base_url: Option<String>,
    /// The Bloomreach project token (not a secret on its own).
    pub project_token: Option<String>,
    /// The Bloomreach API key id.
    pub key_id: Option<String>,
    /// The URL BigCommerce sends webhooks to.
    pub webhook_public_url: Option<String>,
    /// The data directory.
    pub data_dir: Option<String>,
    /// Each secret by reference, and whether it resolves.
    pub secrets: Vec<SecretStatus>,
}

/// The first-run form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ConnectRequest {
    /// The BigCommerce store hash (`abc123`).
    pub store_hash: String,
    /// The store-level API account's access token.
    pub access_token: String,
    /// Bloomreach's API base URL ("API Target").
    pub bloomreach_base_url: String,
    /// The Bloomreach project token.
    pub project_token: String,
    /// The Bloomreach private API key id.
    pub key_id: String,
    /// The Bloomreach private API secret.
    pub api_secret: String,
    /// The public HTTPS URL BigCommerce will call with webhooks.
    pub webhook_public_url: String,
    /// The webhook shared secret; generated when absent.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Where the store, logs and exports go; the config's default when absent.
    #[serde(default)]
    pub data_dir: Option<String>,
}

/// What `connect` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Connected {
    /// The connection as it now stands.
    pub connection: ConnectionInfo,
    /// What to do next (restart the appliance, run the preflight).
    pub next_steps: Vec<String>,
}

fn info(context: &ConnectionContext, config: Option<&Config>) -> ConnectionInfo {
    let Some(config) = config else {
        return ConnectionInfo {
            configured: false,
            config_path: context.config_path.display().to_string(),
            store_hash: None,
            bigcommerce_api_root: None,
            bloomreach_base_url: None,
            project_token: None,
            key_id: None,
            webhook_public_url: None,
            data_dir: None,
            secrets: Vec::new(),
        };
    };
    let secret = |field: &str, reference: &SecretRef| SecretStatus {
        field: field.to_owned(),
        reference: String::from(reference.clone()),
        present: context.secrets.present(reference),
    };
    ConnectionInfo {
        configured: true,
        config_path: context.config_path.display().to_string(),
        store_hash: Some(config.bigcommerce.store_hash.clone()),
        bigcommerce_api_root: Some(config.bigcommerce_api_root().to_string()),
        bloomreach_base_url: Some(config.bloomreach.base_url.to_string()),
        project_token: Some(config.bloomreach.project_token.clone()),
        key_id: Some(config.bloomreach.key_id.clone()),
        webhook_public_url: Some(config.webhooks.public_url.to_string()),
        data_dir: Some(config.data_dir.display().to_string()),
        secrets: vec![
            secret("bigcommerce.access_token", &config.bigcommerce.access_token),
            secret("bloomreach.secret", &config.bloomreach.secret),
            secret("webhooks.secret", &config.webhooks.secret),
        ],
    }
}

fn bad(field: &str, problem: impl std::fmt::Display) -> AppError {
    AppError::new(Code::BadRequest, format!("{field}: {problem}"))
}

/// The config the form describes, with `refs` for its three secrets, validated.
pub fn config_from(
    request: &ConnectRequest,
    refs: [SecretRef; 3],
    base: &Path,
) -> Result<Config, AppError> {
    let mut config = Config::from_toml(Config::default_toml(), base)
        .map_err(|error| AppError::new(Code::Internal, format!("the default config: {error}")))?;
    let [token, secret, webhook] = refs;
    config.bigcommerce.store_hash = request.store_hash.trim().to_owned();
    config.bigcommerce.api_root = None;
    config.bigcommerce.access_token = token;
    config.bloomreach.base_url = request
        .bloomreach_base_url
        .trim()
        .parse()
        .map_err(|error| bad("bloomreach_base_url", error))?;
    config.bloomreach.project_token = request.project_token.trim().to_owned();
    config.bloomreach.key_id = request.key_id.trim().to_owned();
    config.bloomreach.secret = secret;
    config.webhooks.public_url = request
        .webhook_public_url
        .trim()
        .parse()
        .map_err(|error| bad("webhook_public_url", error))?;
    config.webhooks.secret = webhook;
    if let Some(dir) = request
        .data_dir
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        config.data_dir = PathBuf::from(dir);
    }
    config.validate().map_err(|problems| {
        AppError::new(
            Code::BadRequest,
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(config)
}

impl AppApi {
    /// The same API, able to show and write the connection.
    pub fn with_connection(mut self, context: ConnectionContext) -> Self {
        self.connection = Some(Arc::new(context));
        self
    }

    fn connection_context(&self) -> Result<&ConnectionContext, AppError> {
        self.connection.as_deref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "the connection is only known to the running appliance or the desktop app",
            )
        })
    }

    /// What the appliance is connected to.
    pub fn connection(&self) -> Result<ConnectionInfo, AppError> {
        let context = self.connection_context()?;
        Ok(info(context, context.config.as_ref()))
    }

    /// Writes `bigreach.toml` from the first-run form and stores its secrets in the host's
    /// secret store (audited as `connection.written`, without any secret). Refuses to replace
    /// an existing config file.
    pub fn connect(&self, request: &ConnectRequest, actor: &str) -> Result<Connected, AppError> {
        let context = self.connection_context()?;
        if context.config_path.exists() {
            return Err(AppError::new(
                Code::BadRequest,
                format!(
                    "{} already exists; BigReach does not overwrite a config (edit it, or move it away first)",
                    context.config_path.display()
                ),
            ));
        }
        for (field, value) in [
            ("access_token", request.access_token.as_str()),
            ("api_secret", request.api_secret.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(bad(field, "is required"));
            }
        }
        let webhook_secret = match request.webhook_secret.as_deref().map(str::trim) {
            Some(secret) if !secret.is_empty() => secret.to_owned(),
            _ => {
                let mut bytes = [0u8; 24];
                getrandom::fill(&mut bytes).map_err(|error| {
                    AppError::new(
                        Code::Internal,
                        format!("no randomness for the webhook secret: {error}"),
                    )
                })?;
                hex::encode(bytes)
            }
        };
        let base = context
            .config_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        // Validate with placeholder references first, so a bad form stores no secret.
        let placeholders = SECRETS.map(|(name, _)| SecretRef::Env(env_name(name)));
        config_from(request, placeholders, &base)?;
        let values = [
            request.access_token.trim(),
            request.api_secret.trim(),
            webhook_secret.as_str(),
        ];
        let mut refs = Vec::with_capacity(3);
        for ((name, _), value) in SECRETS.iter().zip(values) {
            refs.push(context.secrets.put(name, value)?);
        }
        let refs: [SecretRef; 3] = refs
            .try_into()
            .map_err(|_| AppError::new(Code::Internal, "three secret references"))?;
        let config = config_from(request, refs, &base)?;
        let text = toml::to_string(&config).map_err(|error| {
            AppError::new(
                Code::Internal,
                format!("writing the config as TOML: {error}"),
            )
        })?;
        let text = format!(
            "# Written by BigReach's connect form. Secrets are not in this file: each `keyring:` or\n# `env:` reference says where it lives. See `bigreach init` for every setting, commented.\n{text}"
        );
        write_new(&context.config_path, &text).map_err(|error| {
            AppError::new(
                Code::StoreUnavailable,
                format!("writing {}: {error}", context.config_path.display()),
            )
        })?;
        let now = self.clock.now_ms();
        self.store.write(|tx| {
            tx.audit(
                now,
                actor,
                "connection.written",
                &serde_json::json!({
                    "config": context.config_path.display().to_string(),
                    "store_hash": config.bigcommerce.store_hash,
                    "bloomreach_base_url": config.bloomreach.base_url.to_string(),
                }),
            )
        })?;
        Ok(Connected {
            connection: info(context, Some(&config)),
            next_steps: vec![
                "restart BigReach so it uses the new connection".to_owned(),
                "run the preflight (Connection & preflight) before advancing the cutover"
                    .to_owned(),
            ],
        })
    }
}

fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
