//! Both twins on loopback with the demo's credentials, and an appliance configuration that
//! points at them, with the appliance's listeners bound on loopback ports the system picks.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use bigreach_clock::SharedClock;
use bigreach_core::config::{
    ApiSettings, BigCommerceSettings, BloomreachSettings, Config, IdNames, MonitoringSettings,
    WebhookSettings, CONFIG_VERSION,
};
use bigreach_core::secret::{SecretRef, SecretResolver};
use bigreach_runtime::Listeners;
use bigreach_twins::bigcommerce::{BigCommerceTwin, BigCommerceTwinConfig};
use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig};
use secrecy::SecretString;
use url::Url;

use crate::demo::DemoError;

use crate::plan::DemoPlan;
/// The fault kinds each twin's control API (`PUT /_twin/faults/{kind}`) and scenario files
/// switch; `bigreach sim` prints them.
pub use bigreach_twins::control::{BIGCOMMERCE_FAULTS, BLOOMREACH_FAULTS};

/// Credentials the demo gives its twins (printed by `bigreach sim`; never real secrets).
pub mod credentials {
    /// BigCommerce store hash.
    pub const STORE_HASH: &str = "demo42";
    /// BigCommerce access token.
    pub const BC_TOKEN: &str = "twin-bigcommerce-token";
    /// Bloomreach project token.
    pub const PROJECT_TOKEN: &str = "demo-project";
    /// Bloomreach private key id.
    pub const KEY_ID: &str = "demo-key";
    /// Bloomreach private key secret.
    pub const KEY_SECRET: &str = "twin-bloomreach-secret";
    /// Webhook shared secret.
    pub const WEBHOOK_SECRET: &str = "twin-webhook-secret";
}

/// Both twins, running.
pub struct Twins {
    /// The BigCommerce twin.
    pub bigcommerce: BigCommerceTwin,
    /// The Bloomreach twin.
    pub bloomreach: BloomreachTwin,
}

impl Twins {
    /// Starts both twins on loopback and seeds the store.
    pub async fn start(plan: &DemoPlan, clock: SharedClock) -> Result<Self, DemoError> {
        let bloomreach = BloomreachTwin::start(
            BloomreachTwinConfig {
                project_token: credentials::PROJECT_TOKEN.into(),
                key_id: credentials::KEY_ID.into(),
                secret: credentials::KEY_SECRET.into(),
                requests_per_minute: plan.bloomreach.requests_per_minute,
                seed: plan.seed,
                ..BloomreachTwinConfig::default()
            },
            clock.clone(),
        )
        .await
        .map_err(|e| DemoError::Twin(e.to_string()))?;
        let bigcommerce = BigCommerceTwin::start(
            BigCommerceTwinConfig {
                store_hash: credentials::STORE_HASH.into(),
                access_token: credentials::BC_TOKEN.into(),
                plan: plan.quota_plan()?,
                seed: plan.seed,
                store_default_currency: plan
                    .store
                    .currencies
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "USD".into()),
                ..BigCommerceTwinConfig::default()
            },
            clock,
        )
        .await
        .map_err(|e| DemoError::Twin(e.to_string()))?;
        bigcommerce.seed_store(&plan.store_seed());
        Ok(Twins {
            bigcommerce,
            bloomreach,
        })
    }

    /// The resolver for [`Twins::appliance_config`]'s secrets: its `keyring:` names
    /// (`bc-token`, `br-secret`, `webhook-secret`) are the twins' [`credentials`], which the
    /// harness owns and never exports into the environment.
    pub fn secrets() -> SecretResolver {
        SecretResolver::with_keyring(|name: &str| {
            let value = match name {
                "bc-token" => credentials::BC_TOKEN,
                "br-secret" => credentials::KEY_SECRET,
                "webhook-secret" => credentials::WEBHOOK_SECRET,
                _ => return None,
            };
            Some(SecretString::from(value.to_owned()))
        })
    }

    /// A configuration pointing the appliance at these twins (resolve its secrets with
    /// [`Twins::secrets`]), and the appliance's two listeners, bound on loopback ports the
    /// system picks. Their addresses are written into `webhooks.listen`, `webhooks.public_url`
    /// (the hooks call the receiver directly) and `api.listen`; start the appliance with
    /// [`Appliance::start_with`](bigreach_runtime::Appliance::start_with) and these listeners.
    pub fn appliance_config(&self, data_dir: &Path) -> Result<(Config, Listeners), DemoError> {
        let bind = || {
            let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            Ok::<_, std::io::Error>((listener.local_addr()?, listener))
        };
        let (webhooks_address, webhooks) = bind().map_err(DemoError::Listen)?;
        let (api_address, api) = bind().map_err(DemoError::Listen)?;
        let config = Config {
            version: CONFIG_VERSION,
            data_dir: data_dir.to_owned(),
            bigcommerce: BigCommerceSettings {
                store_hash: credentials::STORE_HASH.into(),
                api_root: Some(self.bigcommerce.api_root()),
                access_token: SecretRef::Keyring("bc-token".into()),
                quota_reserve_share: 0.2,
                poll_interval_secs: 60,
                poll_overlap_secs: 600,
            },
            bloomreach: BloomreachSettings {
                base_url: self.bloomreach.base_url(),
                project_token: credentials::PROJECT_TOKEN.into(),
                key_id: credentials::KEY_ID.into(),
                secret: SecretRef::Keyring("br-secret".into()),
                requests_per_second: 90,
                catalog_name: "bigreach_products".into(),
                ids: IdNames::default(),
                identity: Default::default(),
                reference_currency: None,
            },
            webhooks: WebhookSettings {
                listen: webhooks_address,
                public_url: Url::parse(&format!("http://{webhooks_address}/webhooks"))
                    .expect("a loopback URL"),
                secret: SecretRef::Keyring("webhook-secret".into()),
                max_body_bytes: 256 * 1024,
                manage_hooks: true,
                max_connections: 512,
            },
            api: ApiSettings {
                listen: api_address,
                max_connections: 64,
            },
            monitoring: MonitoringSettings::default(),
            mapping: Default::default(),
            // Runs and tests reconcile when they mean to (`reconcile` on the API), not at 04:00
            // of an accelerated clock.
            reconcile: bigreach_core::config::ReconcileSettings {
                daily: false,
                ..Default::default()
            },
            cutover: Default::default(),
            history: Default::default(),
        };
        Ok((config, Listeners { webhooks, api }))
    }

    /// Stops both twins.
    pub async fn shutdown(self) {
        self.bigcommerce.shutdown().await;
        self.bloomreach.shutdown().await;
    }
}
