//! `bigreach demo`: both twins on loopback, a seeded store, the appliance carrying it into the
//! Bloomreach twin, and a summary checked against the twins' ground truths.
//!
//! The pieces are public so that tests can run the same path with a smaller store, or put a
//! faulty network between the appliance and a twin and prove the summary catches it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bigreach_clock::SharedClock;
use bigreach_core::config::{
    ApiSettings, BigCommerceSettings, BloomreachSettings, Config, IdNames, MonitoringSettings,
    WebhookSettings, CONFIG_VERSION,
};
use bigreach_core::secret::{SecretRef, SecretResolver};
use bigreach_runtime::{Appliance, StartError};
use bigreach_twins::bigcommerce::{
    BigCommerceTruth, BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed, TradingBurst,
};
use bigreach_twins::bloomreach::{BloomreachTruth, BloomreachTwin, BloomreachTwinConfig};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// The demo plan, read from `data/demo.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPlan {
    /// Seed of the synthetic store.
    pub seed: u64,
    /// The store.
    pub store: StorePlan,
    /// The live trading burst.
    pub trading: TradingPlan,
    /// BigCommerce twin settings.
    pub bigcommerce: BigCommercePlan,
    /// Bloomreach twin settings.
    pub bloomreach: BloomreachPlan,
}

/// The seeded store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StorePlan {
    pub customers: usize,
    pub products: usize,
    pub max_variants_per_product: usize,
    pub historical_orders: usize,
    pub history_days: u32,
    pub guest_share_per_mille: u32,
    pub phone_only_guest_per_mille: u32,
    pub currencies: Vec<String>,
}

/// The trading burst.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TradingPlan {
    pub orders: usize,
    pub new_customers: usize,
    pub variant_edits: usize,
    pub over_secs: u64,
}

/// BigCommerce twin settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigCommercePlan {
    /// `standard`, `plus`, `pro` or `enterprise`.
    pub plan: String,
}

/// Bloomreach twin settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BloomreachPlan {
    /// The per-IP ceiling.
    pub requests_per_minute: u32,
}

/// Demo failures.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The plan file could not be read or parsed.
    #[error("demo plan {path}: {message}")]
    Plan {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A twin failed to start.
    #[error("starting a twin failed: {0}")]
    Twin(String),
    /// The appliance failed to start.
    #[error("starting the appliance failed ({code}): {source}", code = source.code())]
    Appliance {
        /// The start error.
        #[from]
        source: StartError,
    },
    /// The generated configuration is invalid (a bug).
    #[error("the demo configuration is invalid: {0}")]
    Config(String),
    /// Reading the store failed.
    #[error("store: {0}")]
    Store(#[from] bigreach_core::store::StoreError),
}

impl DemoPlan {
    /// Reads a plan file.
    pub fn load(path: &Path) -> Result<Self, DemoError> {
        let text = std::fs::read_to_string(path).map_err(|e| DemoError::Plan {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| DemoError::Plan {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })
    }

    fn quota_plan(&self) -> Result<QuotaPlan, DemoError> {
        match self.bigcommerce.plan.as_str() {
            "standard" => Ok(QuotaPlan::Standard),
            "plus" => Ok(QuotaPlan::Plus),
            "pro" => Ok(QuotaPlan::Pro),
            "enterprise" => Ok(QuotaPlan::Enterprise {
                requests_per_window: 3000,
            }),
            other => Err(DemoError::Plan {
                path: PathBuf::from("bigcommerce.plan"),
                message: format!("unknown plan {other:?}; use standard, plus, pro or enterprise"),
            }),
        }
    }

    /// The twin's store seed.
    pub fn store_seed(&self) -> StoreSeed {
        StoreSeed {
            customers: self.store.customers,
            products: self.store.products,
            max_variants_per_product: self.store.max_variants_per_product,
            historical_orders: self.store.historical_orders,
            history_days: self.store.history_days,
            guest_share_per_mille: self.store.guest_share_per_mille,
            phone_only_guest_per_mille: self.store.phone_only_guest_per_mille,
            currencies: self.store.currencies.clone(),
        }
    }

    /// The twin's trading burst.
    pub fn trading_burst(&self) -> TradingBurst {
        TradingBurst {
            orders: self.trading.orders,
            new_customers: self.trading.new_customers,
            variant_edits: self.trading.variant_edits,
            over: Duration::from_secs(self.trading.over_secs),
        }
    }
}

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

    /// A configuration pointing the appliance at these twins, with secrets in `secrets`' vault.
    pub fn appliance_config(&self, data_dir: &Path, secrets: &SecretResolver) -> Config {
        secrets.put(
            "bc-token",
            SecretString::from(credentials::BC_TOKEN.to_owned()),
        );
        secrets.put(
            "br-secret",
            SecretString::from(credentials::KEY_SECRET.to_owned()),
        );
        secrets.put(
            "webhook-secret",
            SecretString::from(credentials::WEBHOOK_SECRET.to_owned()),
        );
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Config {
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
            },
            webhooks: WebhookSettings {
                listen: loopback,
                public_url: Url::parse("http://127.0.0.1:0/webhooks").expect("static URL"),
                secret: SecretRef::Keyring("webhook-secret".into()),
                max_body_bytes: 256 * 1024,
                manage_hooks: true,
            },
            api: ApiSettings { listen: loopback },
            monitoring: MonitoringSettings::default(),
            mapping: Default::default(),
        }
    }

    /// Stops both twins.
    pub async fn shutdown(self) {
        self.bigcommerce.shutdown().await;
        self.bloomreach.shutdown().await;
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
    /// Purchases measured (those paid during the trading burst).
    pub count: usize,
}

/// The demo's summary, checked against both ground truths.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DemoSummary {
    /// Orders whose payment BigCommerce captured.
    pub orders_paid_in_bigcommerce: usize,
    /// Distinct purchases (by `purchase_id`) Bloomreach holds.
    pub purchases_in_bloomreach: usize,
    /// Paid orders without a purchase.
    pub purchases_missing: usize,
    /// Extra purchase events beyond one per order (after Bloomreach's duplicate filter).
    pub purchases_duplicated: usize,
    /// Purchases whose total or currency differs from the order.
    pub purchases_wrong_amount: usize,
    /// Purchases for orders that were never paid.
    pub purchases_unpaid: usize,
    /// Purchases on a profile that is not the paying person's (a split or a false merge).
    pub purchases_on_other_profiles: usize,
    /// Paid orders of persons with no usable identifier (placeholder email, no phone, no
    /// account), withheld by policy: a placeholder never becomes an ID.
    pub purchases_withheld_no_id: usize,
    /// Persons in the store's truth.
    pub persons_in_truth: usize,
    /// Profiles in Bloomreach.
    pub profiles_in_bloomreach: usize,
    /// Extra profiles for persons split across several.
    pub duplicate_profiles: usize,
    /// Persons who should have a profile (registered, or with a paid order) but have none.
    pub persons_without_profile: usize,
    /// Persons who need no profile: guests whose orders were never paid.
    pub persons_never_paid: usize,
    /// Profiles holding more than one person.
    pub merged_profiles: usize,
    /// Variants in the store.
    pub variants_in_bigcommerce: usize,
    /// Items in the Bloomreach catalog.
    pub catalog_items_in_bloomreach: usize,
    /// Variants without a catalog item.
    pub catalog_items_missing: usize,
    /// From BigCommerce payment to Bloomreach acknowledgement, for purchases paid live.
    pub latency_ms: Latency,
    /// 429 answers Bloomreach gave.
    pub bloomreach_429s: u64,
    /// Events Bloomreach's duplicate filter dropped (resends absorbed).
    pub bloomreach_duplicates_dropped: u64,
    /// 429 answers BigCommerce gave.
    pub bigcommerce_429s: u64,
    /// Webhook deliveries BigCommerce made.
    pub webhooks_sent: u64,
    /// Commands the appliance dead-lettered.
    pub dead_letters: u64,
    /// True when the appliance went idle before the time limit.
    pub finished: bool,
    /// Wall-clock seconds.
    pub elapsed_s: f64,
}

impl DemoSummary {
    /// True when nothing is missing, doubled, wrong or split.
    pub fn is_clean(&self) -> bool {
        self.finished
            && self.purchases_missing == 0
            && self.purchases_duplicated == 0
            && self.purchases_wrong_amount == 0
            && self.purchases_unpaid == 0
            && self.purchases_on_other_profiles == 0
            && self.duplicate_profiles == 0
            && self.persons_without_profile == 0
            && self.merged_profiles == 0
            && self.catalog_items_missing == 0
    }
}

/// Compares Bloomreach's state with the store's truth. The ID names are the appliance's.
pub fn evaluate(
    store: &BigCommerceTruth,
    bloomreach: &BloomreachTruth,
    ids: &IdNames,
    catalog_name: &str,
    live_since: chrono::DateTime<chrono::Utc>,
) -> DemoSummary {
    let mut summary = DemoSummary::default();
    let orders: BTreeMap<u64, _> = store.orders.iter().map(|o| (o.order_id, o)).collect();
    // purchase_id → (count, first received_at, total, currency)
    let mut purchases: BTreeMap<u64, Vec<(&bigreach_twins::bloomreach::EventTruth, u64)>> =
        BTreeMap::new();
    for profile in &bloomreach.profiles {
        for event in &profile.events {
            if event.event_type != "purchase" {
                continue;
            }
            if let Some(id) = event.properties.get("purchase_id").and_then(|v| v.as_u64()) {
                purchases
                    .entry(id)
                    .or_default()
                    .push((event, profile.internal_id));
            }
        }
    }
    // Persons with no usable identifier (only a placeholder email such as test@test.com, no
    // phone, no account) can never have a profile: their purchases are withheld by policy.
    let unidentifiable: BTreeSet<u64> = store
        .persons
        .iter()
        .filter(|p| {
            p.customer_id.is_none()
                && p.phone_e164.is_none()
                && p.email
                    .as_deref()
                    .and_then(bigreach_core::identity::normalize_email)
                    .is_none()
        })
        .map(|p| p.person_id)
        .collect();
    let paid: Vec<_> = store
        .orders
        .iter()
        .filter(|o| o.paid && !unidentifiable.contains(&o.person_id))
        .collect();
    summary.purchases_withheld_no_id = store
        .orders
        .iter()
        .filter(|o| o.paid && unidentifiable.contains(&o.person_id))
        .count();
    summary.orders_paid_in_bigcommerce = paid.len() + summary.purchases_withheld_no_id;
    summary.purchases_in_bloomreach = purchases.len();
    let mut latencies = Vec::new();
    for order in &paid {
        match purchases.get(&order.order_id) {
            None => summary.purchases_missing += 1,
            Some(events) => {
                summary.purchases_duplicated += events.len() - 1;
                let (event, _) = events[0];
                let total = event
                    .properties
                    .get("total_price")
                    .and_then(|v| v.as_f64())
                    .and_then(Decimal::from_f64);
                let currency = event
                    .properties
                    .get("local_currency")
                    .and_then(|v| v.as_str());
                if total.map(|t| t.round_dp(2)) != Some(order.total_inc_tax.round_dp(2))
                    || currency != Some(order.currency.as_str())
                {
                    summary.purchases_wrong_amount += 1;
                }
                if let Some(paid_at) = order.paid_at.filter(|at| *at >= live_since) {
                    let first = events
                        .iter()
                        .map(|(e, _)| e.received_at)
                        .min()
                        .unwrap_or(paid_at);
                    latencies.push((first - paid_at).num_milliseconds().max(0) as u64);
                }
            }
        }
    }
    summary.purchases_unpaid = purchases
        .keys()
        .filter(|id| orders.get(id).is_none_or(|o| !o.paid))
        .count();
    latencies.sort_unstable();
    summary.latency_ms = Latency {
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
        max: latencies.last().copied().unwrap_or(0),
        count: latencies.len(),
    };

    // Persons ↔ profiles, through the IDs the appliance uses.
    // Which person a profile belongs to is the truth's question, not Bloomreach's: an email ID
    // in another case or with stray spaces still names the same person (so a connector that
    // keys profiles by the email as typed shows up as splitting that person).
    let mut owner: BTreeMap<(String, String), BTreeSet<u64>> = BTreeMap::new();
    for profile in &bloomreach.profiles {
        for (name, values) in &profile.ids {
            for value in values {
                let value = if *name == ids.email {
                    value.trim().to_lowercase()
                } else {
                    value.clone()
                };
                owner
                    .entry((name.clone(), value))
                    .or_default()
                    .insert(profile.internal_id);
            }
        }
    }
    let mut persons_of_profile: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let mut profiles_of_person: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let paying: BTreeSet<u64> = paid.iter().map(|o| o.person_id).collect();
    // An identifier several persons share (a household phone or email) says nothing about which
    // of them a profile belongs to, so it is not used to map persons to profiles.
    let mut holders: BTreeMap<(String, String), usize> = BTreeMap::new();
    let person_keys = |person: &bigreach_twins::bigcommerce::PersonTruth| {
        let mut keys = Vec::new();
        if let Some(id) = person.customer_id {
            keys.push((ids.customer_id.clone(), id.to_string()));
        }
        if let Some(email) = &person.email {
            keys.push((ids.email.clone(), email.clone()));
        }
        if let Some(phone) = &person.phone_e164 {
            keys.push((ids.phone.clone(), phone.clone()));
        }
        keys
    };
    for person in &store.persons {
        for key in person_keys(person) {
            *holders.entry(key).or_default() += 1;
        }
    }
    for person in &store.persons {
        let keys: Vec<_> = person_keys(person)
            .into_iter()
            .filter(|key| holders.get(key) == Some(&1))
            .collect();
        let profiles: BTreeSet<u64> = keys
            .iter()
            .filter_map(|k| owner.get(k))
            .flatten()
            .copied()
            .collect();
        summary.duplicate_profiles += profiles.len().saturating_sub(1);
        profiles_of_person.insert(person.person_id, profiles.clone());
        let needs_profile = !unidentifiable.contains(&person.person_id)
            && (person.customer_id.is_some() || paying.contains(&person.person_id));
        if profiles.is_empty() {
            if needs_profile {
                summary.persons_without_profile += 1;
            } else {
                summary.persons_never_paid += 1;
            }
        }
        for profile in profiles {
            persons_of_profile
                .entry(profile)
                .or_default()
                .insert(person.person_id);
        }
    }
    summary.merged_profiles = persons_of_profile.values().filter(|p| p.len() > 1).count();
    // Every purchase must sit on a profile of the person who paid.
    for order in &paid {
        let Some(events) = purchases.get(&order.order_id) else {
            continue;
        };
        let theirs = profiles_of_person.get(&order.person_id);
        if events
            .iter()
            .any(|(_, profile)| theirs.is_none_or(|p| !p.contains(profile)))
        {
            summary.purchases_on_other_profiles += 1;
        }
    }
    summary.persons_in_truth = store.persons.len();
    summary.profiles_in_bloomreach = bloomreach.profiles.len();

    summary.variants_in_bigcommerce = store.variant_ids.len();
    let catalog = bloomreach.catalogs.iter().find(|c| c.name == catalog_name);
    summary.catalog_items_in_bloomreach = catalog.map_or(0, |c| c.items.len());
    summary.catalog_items_missing = store
        .variant_ids
        .iter()
        .filter(|id| catalog.is_none_or(|c| !c.items.contains_key(&id.to_string())))
        .count();
    summary.bloomreach_429s = bloomreach.stats.rate_limited_429;
    summary.bloomreach_duplicates_dropped = bloomreach.stats.duplicate_events_dropped;
    summary.bigcommerce_429s = store.rate_limited_429;
    summary.webhooks_sent = store.webhooks_sent;
    summary
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs the appliance against running twins: start, trade, wait until idle (or `limit`),
/// stop, and evaluate.
pub async fn run_with_twins(
    plan: &DemoPlan,
    twins: &Twins,
    config: &Config,
    secrets: &SecretResolver,
    clock: SharedClock,
    limit: Duration,
) -> Result<DemoSummary, DemoError> {
    config
        .validate()
        .map_err(|problems| DemoError::Config(format!("{problems:?}")))?;
    let started = Instant::now();
    let appliance = Appliance::start(config, secrets, clock.clone()).await?;
    appliance.wait_poll_passes(1).await;
    let live_since = clock.now();
    let trading = {
        let bigcommerce = twins.bigcommerce.clone();
        let burst = plan.trading_burst();
        tokio::spawn(async move { bigcommerce.run_trading(&burst).await })
    };
    let mut finished = false;
    let mut idle_checks = 0;
    while started.elapsed() < limit {
        clock.sleep(Duration::from_millis(100)).await;
        let idle = trading.is_finished()
            && twins.bigcommerce.webhook_backlog() == 0
            && appliance.status()?.idle;
        idle_checks = if idle { idle_checks + 1 } else { 0 };
        if idle_checks >= 3 {
            finished = true;
            break;
        }
    }
    let status = appliance.status()?;
    appliance.shutdown().await;
    trading.abort();
    let mut summary = evaluate(
        &twins.bigcommerce.truth(),
        &twins.bloomreach.truth(),
        &config.bloomreach.ids,
        &config.bloomreach.catalog_name,
        live_since,
    );
    summary.dead_letters = status.store.dead_letters;
    summary.finished = finished;
    summary.elapsed_s = (started.elapsed().as_millis() as f64 / 100.0).round() / 10.0;
    Ok(summary)
}

/// The whole demo: twins, a fresh data directory, the appliance, the summary.
pub async fn run(
    plan: &DemoPlan,
    data_dir: &Path,
    clock: SharedClock,
    limit: Duration,
) -> Result<DemoSummary, DemoError> {
    let twins = Twins::start(plan, clock.clone()).await?;
    let secrets = Arc::new(SecretResolver::new());
    let config = twins.appliance_config(data_dir, &secrets);
    let result = run_with_twins(plan, &twins, &config, &secrets, clock, limit).await;
    twins.shutdown().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), 50);
        assert_eq!(percentile(&values, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn the_shipped_plans_parse() {
        for file in ["demo.toml", "demo-small.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("data")
                .join(file);
            let plan = DemoPlan::load(&path).unwrap();
            assert!(plan.quota_plan().is_ok(), "{file}");
        }
    }
}
