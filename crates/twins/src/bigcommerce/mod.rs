//! The BigCommerce twin.
//!
//! A strict simulator of the BigCommerce REST Management API (v2 orders with their
//! sub-resources, counts and statuses, v2 customers, store, time and currencies; v3 customers,
//! catalog, inventory adjustments, refunds, transactions, carts and hooks; the writes a
//! merchant's tools make, in `writes.rs`) and of its webhooks, served by hyper on 127.0.0.1 with
//! an OS-picked port. REST writes, shopper actions and crowds share one state machine
//! (`shopper.rs`) and one webhook dispatcher. It keeps a ground truth ([`BigCommerceTruth`]) of every
//! person and order, reads time only from the injected [`bigreach_clock::Clock`] and draws every
//! random choice from `config.seed`. The JSON shapes are written here from the OpenAPI files and
//! are never shared with the production client crate.

mod config;
mod model;
mod reads;
mod seed;
mod server;
mod shopper;
mod storefront;
mod webhooks;
mod wire;
mod writes;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::SharedClock;
use parking_lot::Mutex;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

pub use config::{
    BigCommerceTwinConfig, QuotaPlan, StoreSeed, TradingBurst, TwinError,
    DOCUMENTED_RETRY_SCHEDULE_SECS,
};
pub use model::{BigCommerceTruth, CartTruth, OrderTruth, PersonTruth, RefundTruth, VariantTruth};
pub use shopper::{CheckoutExtras, CheckoutSpec, OrderEdit, ShopperSpec, WebhookFaults};
pub use storefront::{ScopeSettings, StorefrontSettings};

use crate::control::{ControlError, CrowdRequest, FaultSwitch};

use model::{QuotaWindow, Store};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests_served: AtomicU64,
    pub requests_by_endpoint: Mutex<std::collections::BTreeMap<String, u64>>,
    pub rate_limited_429: AtomicU64,
    pub webhooks_sent: AtomicU64,
    pub webhooks_delivered: AtomicU64,
    pub webhook_failures: AtomicU64,
    pub hooks_deactivated: AtomicU64,
    pub webhook_events: AtomicU64,
}

pub(crate) struct Inner {
    pub config: BigCommerceTwinConfig,
    pub clock: SharedClock,
    pub store: Mutex<Store>,
    pub counters: Counters,
    pub dispatcher: webhooks::Dispatcher,
    pub http: reqwest::Client,
    pub base_url: Url,
    pub api_root: Url,
    /// Numeric store id (webhook `store_id`, `GET v2/store` `store_id`).
    pub store_id: u64,
    /// The API account's client id (hooks' `client_id`).
    pub client_id: String,
    /// Per-mille chance of a platform 429 (starts at `config.platform_429_per_mille`).
    pub platform_429_per_mille: AtomicU32,
    /// Every REST answer waits this long on the clock (nanoseconds).
    pub response_delay_nanos: AtomicU64,
    /// `order_listing_churn`: before each order listing page after the first, a staff member
    /// edits the first order of the listing (as a busy store does while a client pages).
    pub listing_churn: std::sync::atomic::AtomicBool,
    /// `order_commit_lag`: an order's status change is stamped this long before it becomes
    /// visible (milliseconds; 0 when off), as a commit that lagged behind newer ones.
    pub commit_lag_ms: AtomicU64,
    /// Crowds started at run time (`start_crowd`, `POST /_twin/crowd`); aborted on shutdown.
    pub crowds: Mutex<Vec<JoinHandle<()>>>,
    /// What the storefront page carries (`PUT /_twin/storefront`).
    pub storefront: Mutex<StorefrontSettings>,
    /// The API account's scopes (`PUT /_twin/scopes`).
    pub scopes: Mutex<ScopeSettings>,
}

/// A running BigCommerce twin. Cheap to clone.
#[derive(Clone)]
pub struct BigCommerceTwin {
    inner: Arc<Inner>,
    shutdown: watch::Sender<bool>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for BigCommerceTwin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigCommerceTwin")
            .field("base_url", &self.inner.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl BigCommerceTwin {
    /// Binds 127.0.0.1:0, spawns the HTTP server and the webhook dispatcher.
    pub async fn start(
        config: BigCommerceTwinConfig,
        clock: SharedClock,
    ) -> Result<Self, TwinError> {
        if config.store_hash.is_empty()
            || !config.store_hash.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(TwinError::Config(
                "store_hash must be non-empty ASCII alphanumerics".into(),
            ));
        }
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(TwinError::Bind)?;
        let addr = listener.local_addr().map_err(TwinError::Bind)?;
        let base_url = Url::parse(&format!("http://{addr}/"))?;
        let api_root = base_url.join(&format!("stores/{}/", config.store_hash))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(TwinError::HttpClient)?;
        let store_id = 1_000_000 + (config.seed % 8_999_999);
        let client_id = format!("twin{:x}", config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let now = clock.now();
        let store = Store {
            persons: Vec::new(),
            customers: BTreeMap::new(),
            products: BTreeMap::new(),
            variants: BTreeMap::new(),
            orders: BTreeMap::new(),
            hooks: BTreeMap::new(),
            carts: BTreeMap::new(),
            abandoned_tokens: BTreeMap::new(),
            refunds: BTreeMap::new(),
            faults: WebhookFaults::default(),
            fault_rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0xFA17_5EED),
            currencies: seed::currencies(std::slice::from_ref(&config.store_default_currency)),
            next_id: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            platform_rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0x5EED_0429),
            quota: QuotaWindow {
                started: None,
                used: 0,
            },
            store_created: now - chrono::Duration::days(3 * 365),
            bursts: 0,
        };
        let platform_429_per_mille = AtomicU32::new(config.platform_429_per_mille);
        let inner = Arc::new(Inner {
            config,
            clock,
            store: Mutex::new(store),
            counters: Counters::default(),
            dispatcher: webhooks::Dispatcher::new(),
            http,
            base_url,
            api_root,
            store_id,
            client_id,
            platform_429_per_mille,
            response_delay_nanos: AtomicU64::new(0),
            listing_churn: std::sync::atomic::AtomicBool::new(false),
            commit_lag_ms: AtomicU64::new(0),
            crowds: Mutex::new(Vec::new()),
            storefront: Mutex::new(StorefrontSettings::default()),
            scopes: Mutex::new(ScopeSettings::default()),
        });
        let (shutdown, rx) = watch::channel(false);
        let server = tokio::spawn(server::serve(inner.clone(), listener, rx.clone()));
        let dispatcher = tokio::spawn(webhooks::run(inner.clone(), rx));
        Ok(Self {
            inner,
            shutdown,
            tasks: Arc::new(Mutex::new(vec![server, dispatcher])),
        })
    }

    /// The numeric store id (`GET v2/store`'s `store_id`, webhooks' `store_id`).
    pub fn store_id(&self) -> u64 {
        self.inner.store_id
    }

    /// `http://127.0.0.1:PORT/`
    pub fn base_url(&self) -> Url {
        self.inner.base_url.clone()
    }

    /// `http://127.0.0.1:PORT/stores/{hash}/` (`v2/...` and `v3/...` below it).
    pub fn api_root(&self) -> Url {
        self.inner.api_root.clone()
    }

    /// The storefront page (`GET /v2/store`'s `secure_url`): `http://127.0.0.1:PORT/storefront/`.
    pub fn storefront_url(&self) -> Url {
        storefront_url(&self.inner)
    }

    /// Sets what the storefront page carries (also `PUT /_twin/storefront`).
    pub fn set_storefront(&self, settings: StorefrontSettings) {
        *self.inner.storefront.lock() = settings;
    }

    /// Sets the API account's scopes (also `PUT /_twin/scopes`); a request a missing scope
    /// governs answers 403.
    pub fn set_scopes(&self, scopes: ScopeSettings) {
        *self.inner.scopes.lock() = scopes;
    }

    /// Creates the synthetic store history silently (no webhooks), deterministic from
    /// `config.seed`, dated over the last `history_days` before `clock.now()`.
    pub fn seed_store(&self, seed: &StoreSeed) {
        seed::seed_store(&self.inner, seed);
    }

    /// Live trading on the clock; every change fires the documented webhooks.
    pub async fn run_trading(&self, burst: &TradingBurst) {
        seed::run_trading(&self.inner, burst).await;
    }

    /// Webhook deliveries queued, in flight or awaiting a retry.
    pub fn webhook_backlog(&self) -> usize {
        self.inner.dispatcher.backlog()
    }

    /// Completes when no webhook delivery is in flight and none is due at the current clock time
    /// (everything left waits for a retry later on the clock). Addition to the agreed API.
    pub async fn webhooks_settled(&self) {
        let mut rx = self.inner.dispatcher.changed.subscribe();
        loop {
            if self.inner.dispatcher.quiescent(self.inner.clock.now()) {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// The ground truth.
    pub fn truth(&self) -> BigCommerceTruth {
        truth_of(&self.inner)
    }

    // ----- Shopper actions (each fires the documented webhooks to active hooks) -----

    /// Adds a human who has not registered (no webhook: a guest is not a customer). The email
    /// is kept as typed for their guest checkouts; the truth holds it canonical. An unknown
    /// `country_iso2` falls back to the United States (the twin knows US, DE, GB, FR, CA, AU).
    pub fn add_person(&self, spec: &ShopperSpec) -> u64 {
        shopper::add_person(&self.inner, spec)
    }

    /// Registers the person as a customer (`store/customer/created`). Their earlier guest orders
    /// keep `customer_id` 0.
    pub fn register(&self, person_id: u64) -> Result<u64, TwinError> {
        shopper::register(&self.inner, person_id)
    }

    /// Changes a customer's email and/or phone (`store/customer/updated`).
    pub fn update_customer(
        &self,
        customer_id: u64,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), TwinError> {
        shopper::update_customer(&self.inner, customer_id, email, phone)
    }

    /// Creates a cart (`store/cart/created`, `store/cart/lineItem/created` per line,
    /// `store/cart/updated`); returns its UUID. `currency` must be transactional (default: the
    /// store default).
    pub fn create_cart(
        &self,
        person_id: u64,
        lines: &[(u64, u32)],
        currency: Option<&str>,
    ) -> Result<String, TwinError> {
        shopper::create_cart(&self.inner, person_id, lines, currency)
    }

    /// A guest types an email at checkout (`store/cart/updated`).
    pub fn set_cart_email(&self, cart_id: &str, email: &str) -> Result<(), TwinError> {
        shopper::set_cart_email(&self.inner, cart_id, email)
    }

    /// Fires `store/cart/abandoned` with a recovery token (returned). Like BigCommerce, only
    /// after at least one hour on the clock without a change to the cart.
    pub fn abandon_cart(&self, cart_id: &str) -> Result<String, TwinError> {
        shopper::abandon_cart(&self.inner, cart_id)
    }

    /// Places an order in status Incomplete (0) or Pending (1) (`store/order/created`). With
    /// `cart_id` the cart's lines and currency are used and the cart is converted
    /// (`store/cart/converted` with `orderId`; the cart then answers 404).
    pub fn checkout(&self, person_id: u64, spec: &CheckoutSpec) -> Result<u64, TwinError> {
        shopper::checkout(&self.inner, person_id, spec, &CheckoutExtras::default())
    }

    /// [`Self::checkout`] with a display currency, a forced coupon or a chosen shipping method.
    pub fn checkout_with(
        &self,
        person_id: u64,
        spec: &CheckoutSpec,
        extras: &CheckoutExtras,
    ) -> Result<u64, TwinError> {
        shopper::checkout(&self.inner, person_id, spec, extras)
    }

    /// An authorize-only gateway: → 11 Awaiting Fulfillment with `payment_status`
    /// `authorized`; no money is captured (see [`Self::capture`]).
    pub fn authorize(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::Authorize)
    }

    /// Cash on delivery: → 11 Awaiting Fulfillment with `payment_status` `pending`, method
    /// `Cash on Delivery`; paid when the money is taken ([`Self::capture`]).
    pub fn cash_on_delivery(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::CashOnDelivery)
    }

    /// An offline payment (bank deposit) awaited: → 7 Awaiting Payment, `pending`.
    pub fn await_payment(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::AwaitPayment)
    }

    /// The money arrives for an unpaid order (authorization captured → `captured`, cash or an
    /// offline payment received → `paid`); an Awaiting Payment order moves to 11, any other
    /// keeps its status. Only `store/order/updated` fires when the status stays.
    pub fn capture(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::Capture)
    }

    /// Packed: 11 → 9 Awaiting Shipment.
    pub fn await_shipment(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::AwaitShipment)
    }

    /// Some items shipped: 9 or 11 → 3 Partially Shipped.
    pub fn ship_partially(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::ShipPartially)
    }

    /// A staff note or a shipment tracking number (`store/order/updated`, nothing else moves).
    pub fn edit_order(&self, order_id: u64, edit: OrderEdit) -> Result<(), TwinError> {
        shopper::edit_order(&self.inner, order_id, edit)
    }

    /// Payment captured: → 11 Awaiting Fulfillment; stock leaves (inventory webhooks).
    pub fn pay(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::Pay)
    }

    /// Payment declined: → 6 Declined.
    pub fn decline(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::Decline)
    }

    /// Fully shipped: → 2 Shipped (`date_shipped` set, `date_modified` bumps).
    pub fn ship(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::Ship)
    }

    /// Merchant cancels: → 5 Cancelled (stock taken by this order comes back).
    pub fn cancel(&self, order_id: u64) -> Result<(), TwinError> {
        shopper::transition(&self.inner, order_id, shopper::Transition::Cancel)
    }

    /// Creates a v3 refund of `(order product id, quantity)` lines, or of everything left
    /// (shipping included) when `lines` is empty. Status → 14 Partially Refunded, or 4 Refunded
    /// once every unit is refunded. Fires `store/order/refund/created` and
    /// `store/order/updated`, plus `store/order/statusUpdated` when the status changed.
    pub fn refund(&self, order_id: u64, lines: &[(u64, u32)]) -> Result<u64, TwinError> {
        shopper::refund(&self.inner, order_id, lines)
    }

    /// Creates a v3 refund of `amount` off the whole order (an `ORDER` item with
    /// `requested_amount`, no tax), at most what is left of the order total. Status → 14
    /// Partially Refunded, or 4 Refunded once the refunds reach the total; the same webhooks as
    /// [`Self::refund`].
    pub fn refund_amount(&self, order_id: u64, amount: Decimal) -> Result<u64, TwinError> {
        shopper::refund_amount(&self.inner, order_id, amount)
    }

    /// Sets a variant's price (clearing its sale price, so shoppers pay `price`) and/or stock
    /// level (`store/sku/updated`, plus the inventory webhook). The product's `date_modified` is
    /// not bumped.
    pub fn edit_variant(
        &self,
        variant_id: u64,
        price: Option<Decimal>,
        inventory_level: Option<i64>,
    ) -> Result<(), TwinError> {
        shopper::edit_variant(&self.inner, variant_id, price, inventory_level)
    }

    /// Puts a variant on sale at `sale_price`, or ends its sale with `None`
    /// (`store/sku/updated`); its regular price stays.
    pub fn set_sale_price(
        &self,
        variant_id: u64,
        sale_price: Option<Decimal>,
    ) -> Result<(), TwinError> {
        shopper::set_sale_price(&self.inner, variant_id, sale_price)
    }

    /// Deletes a variant as the merchant does (`store/sku/deleted`); a product's only or base
    /// variant is refused.
    pub fn delete_variant(&self, variant_id: u64) -> Result<(), TwinError> {
        shopper::delete_variant(&self.inner, variant_id)
    }

    /// Every variant id, ascending.
    pub fn variant_ids(&self) -> Vec<u64> {
        self.inner.store.lock().variants.keys().copied().collect()
    }

    // ----- Faults -----
    // The setters, `switch_fault` and the control API (`/_twin/faults/{kind}`) all end in the
    // free functions below, so a scenario and an outside script do the same thing.

    /// Webhook faults from now on (duplicates, extra delays, unreachable receiver).
    pub fn set_webhook_faults(&self, faults: WebhookFaults) {
        set_webhook_faults(&self.inner, faults);
    }

    /// The webhook faults in force.
    pub fn webhook_faults(&self) -> WebhookFaults {
        self.inner.store.lock().faults.clone()
    }

    /// Per-mille chance of a platform 429 (no quota headers) from now on.
    pub fn set_platform_429_per_mille(&self, n: u32) {
        set_platform_429_per_mille(&self.inner, n);
    }

    /// Every REST answer waits this long on the clock before it is sent.
    pub fn set_response_delay(&self, delay: Duration) {
        set_response_delay(&self.inner, delay);
    }

    /// Deactivates every hook as BigCommerce does (`is_active=false`); queued deliveries for
    /// them are dropped and never replayed.
    pub fn deactivate_hooks(&self) {
        shopper::deactivate_hooks(&self.inner);
    }

    /// Switches one fault by its scenario name (see [`crate::control`]); `hook_deactivation`
    /// off does nothing. Unknown kinds (including the Bloomreach ones) are refused.
    pub fn switch_fault(&self, fault: &FaultSwitch) -> Result<(), ControlError> {
        switch_fault(&self.inner, fault)
    }

    /// Starts a crowd of generated shoppers on the clock (the same trading as
    /// [`Self::run_trading`]) and returns at once; the crowd is aborted on shutdown.
    pub fn start_crowd(&self, crowd: &CrowdRequest) -> Result<(), ControlError> {
        start_crowd(&self.inner, crowd)
    }

    /// Stops the server and the dispatcher.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for crowd in std::mem::take(&mut *self.inner.crowds.lock()) {
            crowd.abort();
        }
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }
}

pub(crate) fn set_webhook_faults(inner: &Inner, faults: WebhookFaults) {
    inner.store.lock().faults = faults;
    // Deliveries waiting for `fail_all_until` or a delay are re-evaluated.
    inner.dispatcher.wake.notify_one();
}

pub(crate) fn set_platform_429_per_mille(inner: &Inner, n: u32) {
    inner
        .platform_429_per_mille
        .store(n.min(1000), Ordering::Relaxed);
}

pub(crate) fn set_response_delay(inner: &Inner, delay: Duration) {
    let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
    inner.response_delay_nanos.store(nanos, Ordering::Relaxed);
}

pub(crate) fn switch_fault(inner: &Inner, f: &FaultSwitch) -> Result<(), ControlError> {
    let on = f.on;
    let webhook = |change: &dyn Fn(&mut WebhookFaults)| {
        let mut faults = inner.store.lock().faults.clone();
        change(&mut faults);
        set_webhook_faults(inner, faults);
    };
    match f.kind.as_str() {
        "webhook_duplicates" => {
            webhook(&|w| w.duplicate_per_mille = if on { f.per_mille.unwrap_or(300) } else { 0 })
        }
        "webhook_reorder" => webhook(&|w| {
            w.max_extra_delay = if on {
                Duration::from_secs(f.max_delay_secs.unwrap_or(120))
            } else {
                Duration::ZERO
            }
        }),
        "webhook_outage" => {
            let end = f.outage_end(inner.clock.now());
            webhook(&|w| w.fail_all_until = on.then_some(end));
        }
        "hook_deactivation" => {
            if on {
                shopper::deactivate_hooks(inner);
            }
        }
        "bigcommerce_slow" => set_response_delay(
            inner,
            if on {
                Duration::from_millis(f.latency_ms.unwrap_or(2000))
            } else {
                Duration::ZERO
            },
        ),
        "order_listing_churn" => inner.listing_churn.store(on, Ordering::Relaxed),
        "order_commit_lag" => inner.commit_lag_ms.store(
            if on { f.latency_ms.unwrap_or(5_000) } else { 0 },
            Ordering::Relaxed,
        ),
        "bigcommerce_platform_429" => set_platform_429_per_mille(
            inner,
            if on {
                f.per_mille.unwrap_or(100)
            } else {
                inner.config.platform_429_per_mille
            },
        ),
        other => {
            return Err(ControlError::unknown(
                other,
                "BigCommerce",
                crate::control::BIGCOMMERCE_FAULTS,
            ))
        }
    }
    Ok(())
}

/// The faults in force, as `GET /_twin/faults` shows them.
pub(crate) fn faults_json(inner: &Inner) -> serde_json::Value {
    let w = inner.store.lock().faults.clone();
    serde_json::json!({
        "webhook_duplicates": { "per_mille": w.duplicate_per_mille },
        "webhook_reorder": { "max_delay_secs": w.max_extra_delay.as_secs_f64() },
        "webhook_outage": { "until": w.fail_all_until },
        "bigcommerce_slow": { "latency_ms": inner.response_delay_nanos.load(Ordering::Relaxed) / 1_000_000 },
        "bigcommerce_platform_429": { "per_mille": inner.platform_429_per_mille.load(Ordering::Relaxed) },
        "order_listing_churn": { "on": inner.listing_churn.load(Ordering::Relaxed) },
        "order_commit_lag": { "latency_ms": inner.commit_lag_ms.load(Ordering::Relaxed) },
    })
}

pub(crate) fn start_crowd(inner: &Arc<Inner>, crowd: &CrowdRequest) -> Result<(), ControlError> {
    if crowd.over_secs == 0 {
        return Err(ControlError::EmptyCrowd);
    }
    let burst = TradingBurst {
        orders: crowd.orders,
        new_customers: crowd.new_customers,
        variant_edits: crowd.variant_edits,
        over: Duration::from_secs(crowd.over_secs),
    };
    let task_inner = inner.clone();
    let task = tokio::spawn(async move { seed::run_trading(&task_inner, &burst).await });
    let mut crowds = inner.crowds.lock();
    crowds.retain(|t| !t.is_finished());
    crowds.push(task);
    Ok(())
}

pub(crate) fn truth_of(inner: &Inner) -> BigCommerceTruth {
    let mut t = inner.store.lock().truth();
    let c = &inner.counters;
    t.webhooks_sent = c.webhooks_sent.load(Ordering::Relaxed);
    t.requests_served = c.requests_served.load(Ordering::Relaxed);
    t.requests_by_endpoint = c.requests_by_endpoint.lock().clone();
    t.rate_limited_429 = c.rate_limited_429.load(Ordering::Relaxed);
    t.webhooks_delivered = c.webhooks_delivered.load(Ordering::Relaxed);
    t.webhook_failures = c.webhook_failures.load(Ordering::Relaxed);
    t.hooks_deactivated = c.hooks_deactivated.load(Ordering::Relaxed);
    t.webhook_events = c.webhook_events.load(Ordering::Relaxed);
    t.acknowledged_webhook_hashes = inner.dispatcher.acknowledged();
    t
}

/// `http://127.0.0.1:PORT/storefront/`.
pub(crate) fn storefront_url(inner: &Inner) -> Url {
    inner
        .base_url
        .join("storefront/")
        .unwrap_or_else(|_| inner.base_url.clone())
}
