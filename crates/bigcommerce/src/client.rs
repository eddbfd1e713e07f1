//! The BigCommerce REST client: auth headers, quota pacing, bounded retries, typed decoding.

use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::SharedClock;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::catalog::Product;
use crate::customer::Customer;
use crate::decode::{self, DecodedOrder, Page};
use crate::error::BigCommerceError;
use crate::order::{Order, OrderProduct};
use crate::pacing::{QuotaSnapshot, QuotaTracker, RateHeaders, RetryPolicy};
use crate::refund::{decode_refunds, Refund};
use crate::store::{Currency, StoreInformation};
use crate::webhook::{Hook, HookUpdate, NewHook};

/// Largest page size BigCommerce accepts.
pub const PAGE_LIMIT: u32 = 250;
/// Ids per `id:in` filter request.
pub const IDS_PER_REQUEST: usize = 50;
/// The longest id [`BigCommerceClient::cart`] accepts (a cart id is a 36-character UUID).
pub const MAX_CART_ID_LEN: usize = 64;
/// Response bodies larger than this are refused.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Settings for [`BigCommerceClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://api.bigcommerce.com/stores/{hash}/`; `v2/...` and `v3/...` are joined on.
    pub api_root: Url,
    /// The store-level API account's access token (`X-Auth-Token`).
    pub access_token: SecretString,
    /// Fraction of the quota left to the merchant's other apps (default 0.2).
    pub reserve_share: f64,
    pub user_agent: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts per call, including the first (≥ 1).
    pub max_attempts: u32,
}

impl ClientConfig {
    /// A config with the defaults: reserve 0.2, 30 s timeout, 5 attempts.
    pub fn new(api_root: Url, access_token: SecretString) -> Self {
        Self {
            api_root,
            access_token,
            reserve_share: 0.2,
            user_agent: format!("BigReach/{}", env!("CARGO_PKG_VERSION")),
            timeout: Duration::from_secs(30),
            max_attempts: 5,
        }
    }

    /// The production API root for a store hash: `https://api.bigcommerce.com/stores/{hash}/`.
    pub fn api_root_for_store(store_hash: &str) -> Result<Url, BigCommerceError> {
        if store_hash.is_empty() || !store_hash.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(BigCommerceError::InvalidConfig {
                field: "store_hash",
                problem: format!(
                    "{store_hash:?} is not a store hash; copy the short code from the API path \
                     (…/stores/<hash>/v3/)"
                ),
            });
        }
        Url::parse(&format!("https://api.bigcommerce.com/stores/{store_hash}/")).map_err(|error| {
            BigCommerceError::InvalidConfig {
                field: "store_hash",
                problem: error.to_string(),
            }
        })
    }

    fn validate(&self) -> Result<Url, BigCommerceError> {
        let invalid = |field, problem: &str| BigCommerceError::InvalidConfig {
            field,
            problem: problem.to_string(),
        };
        if !matches!(self.api_root.scheme(), "http" | "https") || self.api_root.cannot_be_a_base() {
            return Err(invalid(
                "api_root",
                "must be an http(s) URL such as https://api.bigcommerce.com/stores/<hash>/",
            ));
        }
        if self.access_token.expose_secret().trim().is_empty() {
            return Err(invalid(
                "access_token",
                "is empty; paste the API account's access token",
            ));
        }
        if !self.reserve_share.is_finite() || !(0.0..1.0).contains(&self.reserve_share) {
            return Err(invalid(
                "reserve_share",
                "must be at least 0 and below 1 (e.g. 0.2)",
            ));
        }
        if self.max_attempts == 0 {
            return Err(invalid("max_attempts", "must be at least 1"));
        }
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "must be greater than zero"));
        }
        if self.user_agent.trim().is_empty() || HeaderValue::from_str(&self.user_agent).is_err() {
            return Err(invalid(
                "user_agent",
                "must be a non-empty, printable ASCII string",
            ));
        }
        let mut root = self.api_root.clone();
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        root.set_query(None);
        root.set_fragment(None);
        Ok(root)
    }
}

/// A BigCommerce REST client. Cheap to clone; safe to use from concurrent tasks.
#[derive(Clone)]
pub struct BigCommerceClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_root: Url,
    reserve_share: f64,
    max_attempts: u32,
    retry: RetryPolicy,
    clock: SharedClock,
    quota: QuotaTracker,
}

impl std::fmt::Debug for BigCommerceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigCommerceClient")
            .field("api_root", &self.inner.api_root.as_str())
            .field("quota", &self.inner.quota.snapshot())
            .finish_non_exhaustive()
    }
}

/// A successful response.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

/// What to do with a response status, in one exhaustive match (see [`disposition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Success,
    NotFound,
    Unauthorized,
    Forbidden,
    /// 429 with quota headers: wait for the window reset.
    QuotaExceeded,
    /// 429 without quota headers: the platform is under load; back off progressively.
    PlatformLoad,
    /// 5xx: retry with backoff.
    Transient,
    /// Anything else: not retryable.
    Fatal,
}

fn disposition(status: u16, has_quota_headers: bool) -> Disposition {
    match status {
        200..=299 => Disposition::Success,
        401 => Disposition::Unauthorized,
        403 => Disposition::Forbidden,
        404 => Disposition::NotFound,
        429 if has_quota_headers => Disposition::QuotaExceeded,
        429 => Disposition::PlatformLoad,
        500..=599 => Disposition::Transient,
        0..=199 | 300..=400 | 402 | 405..=428 | 430..=499 | 600..=u16::MAX => Disposition::Fatal,
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl BigCommerceClient {
    /// Builds a client; validates the config without I/O.
    pub fn new(config: ClientConfig, clock: SharedClock) -> Result<Self, BigCommerceError> {
        let api_root = config.validate()?;
        let mut token =
            HeaderValue::from_str(config.access_token.expose_secret().trim()).map_err(|_| {
                BigCommerceError::InvalidConfig {
                    field: "access_token",
                    problem: "contains characters that cannot be sent in a header".to_string(),
                }
            })?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-token", token);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            BigCommerceError::InvalidConfig {
                field: "user_agent",
                problem: "must be printable ASCII".to_string(),
            }
        })?;
        headers.insert(USER_AGENT, user_agent);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .build()
            .map_err(|error| BigCommerceError::InvalidConfig {
                field: "http_client",
                problem: error.to_string(),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api_root,
                reserve_share: config.reserve_share,
                max_attempts: config.max_attempts,
                retry: RetryPolicy::default(),
                clock,
                quota: QuotaTracker::default(),
            }),
        })
    }

    /// Replaces the retry timing (tests, or an operator's tuning). Call before sharing the
    /// client.
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                api_root: inner.api_root.clone(),
                reserve_share: inner.reserve_share,
                max_attempts: inner.max_attempts,
                retry,
                clock: inner.clock.clone(),
                quota: QuotaTracker::default(),
            }),
        }
    }

    /// What the client knows about the store's quota, plus request counters.
    pub fn quota(&self) -> QuotaSnapshot {
        self.inner.quota.snapshot()
    }

    /// `GET /v2/store`.
    pub async fn store_information(&self) -> Result<StoreInformation, BigCommerceError> {
        let reply = self.get("v2/store", &[]).await?;
        decode::store_information(&reply.body)
    }

    /// `GET /v2/currencies` (204 → empty).
    pub async fn currencies(&self) -> Result<Vec<Currency>, BigCommerceError> {
        let reply = self.get("v2/currencies", &[]).await?;
        decode::currencies(reply.status, &reply.body)
    }

    /// Customer groups (`GET /v2/customer_groups`, every page). Stores whose plan has no groups
    /// answer 403 or 404: that is an empty list.
    pub async fn customer_groups(&self) -> Result<Vec<crate::CustomerGroup>, BigCommerceError> {
        let mut all = Vec::new();
        for page in 1u32.. {
            let query = [
                ("limit", PAGE_LIMIT.to_string()),
                ("page", page.to_string()),
            ];
            let reply = match self.get("v2/customer_groups", &query).await {
                Ok(reply) => reply,
                Err(BigCommerceError::NotFound { .. } | BigCommerceError::Forbidden { .. }) => {
                    return Ok(all)
                }
                Err(error) => return Err(error),
            };
            let groups = decode::customer_groups(reply.status, &reply.body)?;
            let full = groups.len() >= PAGE_LIMIT as usize;
            all.extend(groups);
            if !full {
                break;
            }
        }
        Ok(all)
    }

    /// Customer attribute definitions (`GET /v3/customers/attributes`, every page).
    pub async fn customer_attribute_definitions(
        &self,
    ) -> Result<Vec<crate::CustomerAttributeDefinition>, BigCommerceError> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let query = [
                ("limit", PAGE_LIMIT.to_string()),
                ("page", page.to_string()),
            ];
            let result: Page<crate::CustomerAttributeDefinition> = self
                .v3_page(
                    "v3/customers/attributes",
                    &query,
                    page,
                    "customer attributes (v3/customers/attributes)",
                )
                .await?;
            all.extend(result.items);
            if result.current_page >= result.total_pages {
                return Ok(all);
            }
            page += 1;
        }
    }

    /// Orders modified at or after `since`, oldest first, 250 per page, with complete line
    /// items. Stop paging when a page has fewer than 250 orders.
    pub async fn orders_modified_since(
        &self,
        since: DateTime<Utc>,
        page: u32,
    ) -> Result<Vec<Order>, BigCommerceError> {
        let query = [
            ("min_date_modified", rfc3339(since)),
            ("sort", "date_modified:asc".to_string()),
        ];
        self.order_page(&query, page).await
    }

    /// Orders modified at or after `since`, by id, 250 per page, with complete line items: the
    /// listing to page through while orders keep changing. Sorted by modification time, an
    /// order changed between two page requests moves from an early page to the last one and
    /// every order after it moves up a place, so the order on the boundary is on neither page;
    /// sorted by id, a change moves nothing (an order changed for the first time since `since`
    /// joins at its id, which at worst shows one order twice).
    pub async fn orders_changed_since_by_id(
        &self,
        since: DateTime<Utc>,
        page: u32,
    ) -> Result<Vec<Order>, BigCommerceError> {
        let query = [
            ("min_date_modified", rfc3339(since)),
            ("sort", "id:asc".to_string()),
        ];
        self.order_page(&query, page).await
    }

    /// Orders created in `[start, end)` (BigCommerce dates have whole seconds), by id, 250 per
    /// page, with complete line items (reconciliation).
    pub async fn orders_created_between(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        page: u32,
    ) -> Result<Vec<Order>, BigCommerceError> {
        let query = [
            ("min_date_created", rfc3339(start)),
            (
                "max_date_created",
                rfc3339(end - chrono::Duration::seconds(1)),
            ),
            ("sort", "id:asc".to_string()),
        ];
        self.order_page(&query, page).await
    }

    /// Orders in status `status_id` modified at or after `since`, by id, 250 per page, with
    /// complete line items (reconciliation: refunds and cancellations of older orders).
    pub async fn orders_in_status_modified_since(
        &self,
        status_id: u32,
        since: DateTime<Utc>,
        page: u32,
    ) -> Result<Vec<Order>, BigCommerceError> {
        let query = [
            ("status_id", status_id.to_string()),
            ("min_date_modified", rfc3339(since)),
            ("sort", "id:asc".to_string()),
        ];
        self.order_page(&query, page).await
    }

    /// Orders with `min_id ≤ id ≤ max_id`, by id, 250 per page, with complete line items.
    pub async fn orders_in_id_range(
        &self,
        min_id: u64,
        max_id: u64,
        page: u32,
    ) -> Result<Vec<Order>, BigCommerceError> {
        let query = [
            ("min_id", min_id.to_string()),
            ("max_id", max_id.to_string()),
            ("sort", "id:asc".to_string()),
        ];
        self.order_page(&query, page).await
    }

    /// How many orders were created at or after `since` (all when `None`):
    /// `GET /v2/orders/count` (the history planner).
    pub async fn orders_count(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<u64, BigCommerceError> {
        #[derive(serde::Deserialize)]
        struct Count {
            count: u64,
        }
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(("min_date_created", rfc3339(since)));
        }
        let reply = self.get("v2/orders/count", &query).await?;
        let count: Count = decode::json(&reply.body, "order count (v2/orders/count)")?;
        Ok(count.count)
    }

    /// Orders created at or after `since` (all when `None`), by id, 250 per page, with complete
    /// line items (the history backfill).
    pub async fn orders_created_since(
        &self,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Vec<Order>, BigCommerceError> {
        let mut query = vec![("sort", "id:asc".to_string())];
        if let Some(since) = since {
            query.push(("min_date_created", rfc3339(since)));
        }
        self.order_page(&query, page).await
    }

    /// One order with complete line items; `None` if it does not exist.
    pub async fn order(&self, id: u64) -> Result<Option<Order>, BigCommerceError> {
        let path = format!("v2/orders/{id}");
        let query = [
            ("include", "consignments.line_items".to_string()),
            ("consignment_structure", "object".to_string()),
        ];
        let reply = match self.get(&path, &query).await {
            Ok(reply) => reply,
            Err(BigCommerceError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let Some(decoded) = decode::order(&reply.body)? else {
            return Ok(None);
        };
        self.complete_order(decoded).await.map(Some)
    }

    async fn order_page(
        &self,
        filters: &[(&str, String)],
        page: u32,
    ) -> Result<Vec<Order>, BigCommerceError> {
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.extend([
            ("limit", PAGE_LIMIT.to_string()),
            ("page", page.max(1).to_string()),
            ("include", "consignments.line_items".to_string()),
            ("consignment_structure", "object".to_string()),
        ]);
        let reply = self.get("v2/orders", &query).await?;
        let decoded = decode::order_page(reply.status, &reply.body)?;
        let mut orders = Vec::with_capacity(decoded.len());
        for one in decoded {
            orders.push(self.complete_order(one).await?);
        }
        Ok(orders)
    }

    /// Completes a decoded order's `line_items`: those from its consignments when they are
    /// complete, else `GET /v2/orders/{id}/products`.
    async fn complete_order(&self, decoded: DecodedOrder) -> Result<Order, BigCommerceError> {
        let DecodedOrder {
            mut order,
            line_items_complete,
        } = decoded;
        if !line_items_complete {
            order.line_items = self.order_products(order.id).await?;
        }
        Ok(order)
    }

    /// `GET /v2/orders/{id}/products`, all pages.
    pub async fn order_products(
        &self,
        order_id: u64,
    ) -> Result<Vec<OrderProduct>, BigCommerceError> {
        let path = format!("v2/orders/{order_id}/products");
        let mut all = Vec::new();
        for page in 1u32.. {
            let query = [
                ("limit", PAGE_LIMIT.to_string()),
                ("page", page.to_string()),
            ];
            let reply = match self.get(&path, &query).await {
                Ok(reply) => reply,
                Err(BigCommerceError::NotFound { .. }) => break,
                Err(error) => return Err(error),
            };
            let items = decode::order_products(reply.status, &reply.body)?;
            let full_page = items.len() >= PAGE_LIMIT as usize;
            all.extend(items);
            if !full_page {
                break;
            }
        }
        Ok(all)
    }

    /// The refunds of one order (`GET v3/orders/{id}/payment_actions/refunds`), ascending
    /// refund id. An order that does not exist (404) or has none (204) has no refunds.
    pub async fn order_refunds(&self, order_id: u64) -> Result<Vec<Refund>, BigCommerceError> {
        let path = format!("v3/orders/{order_id}/payment_actions/refunds");
        let reply = match self.get(&path, &[]).await {
            Ok(reply) => reply,
            Err(BigCommerceError::NotFound { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        decode_refunds(&reply.body).map_err(|source| BigCommerceError::Decode {
            what: "refunds (v3/orders/{id}/payment_actions/refunds)".to_string(),
            source,
        })
    }

    /// The refunds of several orders through the store-wide listing
    /// (`GET v3/orders/payment_actions/refunds?order_id:in=…`), every page, at most
    /// [`IDS_PER_REQUEST`] orders per request.
    pub async fn refunds_of_orders(
        &self,
        order_ids: &[u64],
    ) -> Result<Vec<Refund>, BigCommerceError> {
        let mut all = Vec::new();
        for chunk in order_ids.chunks(IDS_PER_REQUEST) {
            for page in 1u32.. {
                let query = [
                    ("order_id:in", join_ids(chunk)),
                    ("limit", PAGE_LIMIT.to_string()),
                    ("page", page.to_string()),
                ];
                let reply = self
                    .get("v3/orders/payment_actions/refunds", &query)
                    .await?;
                let refunds =
                    decode_refunds(&reply.body).map_err(|source| BigCommerceError::Decode {
                        what: "refunds (v3/orders/payment_actions/refunds)".to_string(),
                        source,
                    })?;
                let full = refunds.len() >= PAGE_LIMIT as usize;
                all.extend(refunds);
                if !full {
                    break;
                }
            }
        }
        Ok(all)
    }

    /// One page of the store's refunds created at or before `until`
    /// (`GET v3/orders/payment_actions/refunds?created:max=…`), ascending refund id, and whether
    /// it was full (another page may follow).
    pub async fn refunds_created_until(
        &self,
        until: DateTime<Utc>,
        page: u32,
    ) -> Result<(Vec<Refund>, bool), BigCommerceError> {
        let query = [
            ("created:max", rfc3339(until)),
            ("limit", PAGE_LIMIT.to_string()),
            ("page", page.max(1).to_string()),
        ];
        let reply = self
            .get("v3/orders/payment_actions/refunds", &query)
            .await?;
        let refunds = decode_refunds(&reply.body).map_err(|source| BigCommerceError::Decode {
            what: "refunds (v3/orders/payment_actions/refunds)".to_string(),
            source,
        })?;
        let full = refunds.len() >= PAGE_LIMIT as usize;
        Ok((refunds, full))
    }

    /// Customers modified at or after `since` (all customers when `None`), oldest first,
    /// with attributes and form fields.
    pub async fn customers_modified_since(
        &self,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Customer>, BigCommerceError> {
        let mut query = vec![
            ("page", page.max(1).to_string()),
            ("limit", PAGE_LIMIT.to_string()),
            ("sort", "date_modified:asc".to_string()),
            ("include", "attributes,formfields".to_string()),
        ];
        if let Some(since) = since {
            query.push(("date_modified:min", rfc3339(since)));
        }
        self.v3_page("v3/customers", &query, page, "customers (v3/customers)")
            .await
    }

    /// Customers by id, in requests of at most 50 ids. Missing ids are simply absent.
    pub async fn customers_by_ids(&self, ids: &[u64]) -> Result<Vec<Customer>, BigCommerceError> {
        let mut all = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let query = [
                ("id:in", join_ids(chunk)),
                ("limit", PAGE_LIMIT.to_string()),
                ("include", "attributes,formfields".to_string()),
            ];
            let page = self
                .v3_page("v3/customers", &query, 1, "customers by id (v3/customers)")
                .await?;
            all.extend(page.items);
        }
        Ok(all)
    }

    /// Products modified at or after `since` (all when `None`), oldest first, with variants,
    /// custom fields and images.
    pub async fn products_modified_since(
        &self,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Product>, BigCommerceError> {
        let mut query = vec![
            ("page", page.max(1).to_string()),
            ("limit", PAGE_LIMIT.to_string()),
            ("sort", "date_modified".to_string()),
            ("direction", "asc".to_string()),
            ("include", "variants,custom_fields,images".to_string()),
        ];
        if let Some(since) = since {
            query.push(("date_modified:min", rfc3339(since)));
        }
        self.v3_page(
            "v3/catalog/products",
            &query,
            page,
            "products (v3/catalog/products)",
        )
        .await
    }

    /// Products by id, in requests of at most 50 ids. Missing ids are simply absent.
    pub async fn products_by_ids(&self, ids: &[u64]) -> Result<Vec<Product>, BigCommerceError> {
        let mut all = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let query = [
                ("id:in", join_ids(chunk)),
                ("limit", PAGE_LIMIT.to_string()),
                ("include", "variants,custom_fields,images".to_string()),
            ];
            let page = self
                .v3_page(
                    "v3/catalog/products",
                    &query,
                    1,
                    "products by id (v3/catalog/products)",
                )
                .await?;
            all.extend(page.items);
        }
        Ok(all)
    }

    /// One cart (`GET /v3/carts/{id}`); `None` once it is gone (converted to an order, deleted,
    /// or older than 30 days). An id that cannot be a cart id (not letters, digits and dashes,
    /// or longer than [`MAX_CART_ID_LEN`]) is refused as [`BigCommerceError::InvalidId`] without
    /// a request.
    pub async fn cart(&self, id: &str) -> Result<Option<crate::Cart>, BigCommerceError> {
        if id.is_empty()
            || id.len() > MAX_CART_ID_LEN
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(BigCommerceError::InvalidId {
                what: "cart id",
                expected: "a UUID",
                id_excerpt: crate::error::excerpt(id, 64),
            });
        }
        let path = format!("v3/carts/{id}");
        let query = [("include", "line_items.physical_items.options".to_string())];
        let reply = match self.get(&path, &query).await {
            Ok(reply) => reply,
            Err(BigCommerceError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        decode::cart(&reply.body).map(Some)
    }

    /// All hooks of this API account (`GET /v3/hooks`, every page).
    pub async fn hooks(&self) -> Result<Vec<Hook>, BigCommerceError> {
        let mut all = Vec::new();
        let mut page = 1u32;
        loop {
            let query = [
                ("page", page.to_string()),
                ("limit", PAGE_LIMIT.to_string()),
            ];
            let current = self
                .v3_page::<Hook>("v3/hooks", &query, page, "hooks (v3/hooks)")
                .await?;
            let more = current.has_next() && !current.items.is_empty();
            all.extend(current.items);
            if !more {
                break;
            }
            page += 1;
        }
        Ok(all)
    }

    /// `POST /v3/hooks`. Not retried after a 5xx or timeout (the hook may exist): list the
    /// hooks before trying again.
    pub async fn create_hook(&self, hook: &NewHook) -> Result<Hook, BigCommerceError> {
        let body = serde_json::to_vec(hook).map_err(|source| BigCommerceError::Decode {
            what: "new hook body".to_string(),
            source,
        })?;
        let reply = self.send(Method::POST, "v3/hooks", &[], Some(body)).await?;
        decode::v3_object(&reply.body, "created hook (v3/hooks)")
    }

    /// `PUT /v3/hooks/{id}` (partial update, e.g. `is_active: Some(true)` to re-activate).
    pub async fn update_hook(
        &self,
        id: u64,
        update: &HookUpdate,
    ) -> Result<Hook, BigCommerceError> {
        let body = serde_json::to_vec(update).map_err(|source| BigCommerceError::Decode {
            what: "hook update body".to_string(),
            source,
        })?;
        let path = format!("v3/hooks/{id}");
        let reply = self.send(Method::PUT, &path, &[], Some(body)).await?;
        decode::v3_object(&reply.body, "updated hook (v3/hooks/{id})")
    }

    async fn v3_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        requested_page: u32,
        what: &str,
    ) -> Result<Page<T>, BigCommerceError> {
        let reply = self.get(path, query).await?;
        decode::v3_page(reply.status, &reply.body, requested_page, what)
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Reply, BigCommerceError> {
        self.send(Method::GET, path, query, None).await
    }

    /// Sends one request with pacing and bounded retries.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, BigCommerceError> {
        let inner = &self.inner;
        let mut url =
            inner
                .api_root
                .join(path)
                .map_err(|error| BigCommerceError::InvalidConfig {
                    field: "api_root",
                    problem: format!("cannot join {path}: {error}"),
                })?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(key, value)| (*key, value.as_str())));
        }
        // Only POST may create something twice; GET and PUT are safe to repeat.
        let idempotent = method != Method::POST;
        let mut consecutive_quota_429 = 0u32;
        let mut platform_retries = 0u32;
        let mut transient_retries = 0u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.pace().await;
            let started = inner.clock.now();
            let mut request = inner.http.request(method.clone(), url.clone());
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = RateHeaders::from_headers(response.headers());
                    inner.quota.observe(&headers, inner.clock.now());
                    read_body(response)
                        .await
                        .map(|body| (status, headers, body))
                }
                Err(error) => Err(error),
            };
            let elapsed_ms = (inner.clock.now() - started).num_milliseconds();
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(error) => {
                    let error = error.without_url();
                    tracing::warn!(
                        method = %method, path, attempt, elapsed_ms,
                        error = %error, "bigcommerce request failed"
                    );
                    // A connect error never reached the server: safe to retry even a POST.
                    let retry_safe = idempotent || error.is_connect();
                    if attempt >= inner.max_attempts || !retry_safe {
                        return Err(BigCommerceError::Transport {
                            path: path.to_string(),
                            attempts: attempt,
                            source: error,
                        });
                    }
                    inner
                        .clock
                        .sleep(inner.retry.transient_delay(transient_retries))
                        .await;
                    transient_retries += 1;
                    continue;
                }
            };
            let body = match body {
                BodyRead::Complete(bytes) => bytes,
                BodyRead::TooLarge => {
                    return Err(BigCommerceError::Http {
                        status,
                        path: path.to_string(),
                        body_excerpt: format!(
                        "response larger than {MAX_BODY_BYTES} bytes; request fewer items per page"
                    ),
                    })
                }
            };
            let verdict = disposition(status, headers.has_quota_headers());
            if verdict == Disposition::Success {
                tracing::debug!(method = %method, path, status, attempt, elapsed_ms, "bigcommerce request");
            } else {
                tracing::warn!(method = %method, path, status, attempt, elapsed_ms, "bigcommerce request");
            }
            let body_excerpt = || decode::error_excerpt(&body);
            let exhausted = attempt >= inner.max_attempts;
            match verdict {
                Disposition::Success => return Ok(Reply { status, body }),
                Disposition::NotFound => {
                    return Err(BigCommerceError::NotFound {
                        path: path.to_string(),
                    })
                }
                Disposition::Unauthorized => {
                    return Err(BigCommerceError::Unauthorized {
                        path: path.to_string(),
                    })
                }
                Disposition::Forbidden => {
                    return Err(BigCommerceError::Forbidden {
                        path: path.to_string(),
                        body_excerpt: body_excerpt(),
                    })
                }
                Disposition::QuotaExceeded => {
                    inner.quota.note_rate_limited();
                    consecutive_quota_429 += 1;
                    let wait = inner.retry.quota_delay(&headers, consecutive_quota_429);
                    if exhausted {
                        return Err(BigCommerceError::RateLimitExhausted {
                            path: path.to_string(),
                            attempts: attempt,
                            retry_after: Some(wait),
                        });
                    }
                    inner.clock.sleep(wait).await;
                }
                Disposition::PlatformLoad => {
                    inner.quota.note_rate_limited();
                    let wait = inner.retry.platform_load_delay(platform_retries);
                    platform_retries += 1;
                    if exhausted {
                        return Err(BigCommerceError::RateLimitExhausted {
                            path: path.to_string(),
                            attempts: attempt,
                            retry_after: Some(wait),
                        });
                    }
                    inner.clock.sleep(wait).await;
                }
                Disposition::Transient => {
                    if exhausted || !idempotent {
                        return Err(BigCommerceError::Http {
                            status,
                            path: path.to_string(),
                            body_excerpt: body_excerpt(),
                        });
                    }
                    inner
                        .clock
                        .sleep(inner.retry.transient_delay(transient_retries))
                        .await;
                    transient_retries += 1;
                }
                Disposition::Fatal => {
                    return Err(BigCommerceError::Http {
                        status,
                        path: path.to_string(),
                        body_excerpt: body_excerpt(),
                    })
                }
            }
        }
    }

    /// Waits (on the injected clock) until the quota admits one more request.
    async fn pace(&self) {
        let inner = &self.inner;
        loop {
            match inner.quota.admit(inner.clock.now(), inner.reserve_share) {
                Ok(()) => return,
                Err(wait) => {
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "bigcommerce quota reserve reached; waiting for reset"
                    );
                    inner.clock.sleep(wait.max(Duration::from_millis(1))).await;
                }
            }
        }
    }
}

enum BodyRead {
    Complete(Vec<u8>),
    TooLarge,
}

async fn read_body(mut response: reqwest::Response) -> Result<BodyRead, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(BodyRead::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(BodyRead::Complete(body))
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_cover_the_documented_statuses() {
        assert_eq!(disposition(200, false), Disposition::Success);
        assert_eq!(disposition(204, false), Disposition::Success);
        assert_eq!(disposition(401, false), Disposition::Unauthorized);
        assert_eq!(disposition(403, false), Disposition::Forbidden);
        assert_eq!(disposition(404, false), Disposition::NotFound);
        assert_eq!(disposition(429, true), Disposition::QuotaExceeded);
        assert_eq!(disposition(429, false), Disposition::PlatformLoad);
        assert_eq!(disposition(503, false), Disposition::Transient);
        assert_eq!(disposition(400, false), Disposition::Fatal);
        assert_eq!(disposition(413, false), Disposition::Fatal);
        assert_eq!(disposition(304, false), Disposition::Fatal);
    }
}
