//! The preflight's I/O ([`Preflight`], the application API's [`PreflightRunner`]): it reads
//! BigCommerce through the BigCommerce client (store, one page each of orders, customers and
//! products, the hooks), Bloomreach through the Bloomreach client (system time) and a few
//! read-only probes of its own (a `system/time` batch command, the catalog list and definition,
//! a customer lookup per configured ID name), sends a test webhook delivery to the public URL
//! when the appliance runs, and fetches the storefront pages and the SDK file with a plain GET.
//! Every judgement is a pure function of `bigreach_core::preflight`; every probe has a timeout.
//!
//! It never writes to BigCommerce or Bloomreach.

use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceClient, BigCommerceError, StoreInformation};
use bigreach_bloomreach::{BloomreachClient, BloomreachError};
use bigreach_clock::SharedClock;
use bigreach_core::app::{AppError, PreflightRequest, PreflightRunner};
use bigreach_core::config::Config;
use bigreach_core::preflight::scopes::{self, ScopeFinding};
use bigreach_core::preflight::storefront::{self, FetchedPage, PageFailure, SdkTarget};
use bigreach_core::preflight::{self as checks, Check, Definition, Evidence};
use bigreach_core::secret::SecretResolver;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use url::Url;

use crate::receiver::SECRET_HEADER;

/// How long one probe (a storefront page, the SDK file, a Bloomreach probe, the test delivery)
/// may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Largest storefront page or SDK file read (more is cut off).
const MAX_FETCH_BYTES: usize = 4 * 1024 * 1024;

/// The probe value looked up per ID name; no real customer carries it.
const PROBE_ID: &str = "bigreach-preflight-probe";

/// The scope of the test delivery: BigReach stores it and follows nothing from it.
pub const TEST_DELIVERY_SCOPE: &str = "store/bigreach/preflight";

/// Why the preflight could not be set up (a secret or a client setting).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreflightSetupError {
    /// A secret could not be resolved.
    #[error("{0}")]
    Secret(#[from] bigreach_core::secret::SecretError),
    /// The BigCommerce client settings are unusable.
    #[error("BigCommerce client setup failed: {0}")]
    BigCommerce(#[from] BigCommerceError),
    /// The Bloomreach client settings are unusable.
    #[error("Bloomreach client setup failed: {0}")]
    Bloomreach(#[from] BloomreachError),
    /// The HTTP client could not be built.
    #[error("the preflight's HTTP client could not be built: {0}")]
    Http(#[from] reqwest::Error),
}

/// The preflight over the appliance's clients (or its own, standalone).
pub struct Preflight {
    config: Config,
    bigcommerce: Arc<BigCommerceClient>,
    bloomreach: Arc<BloomreachClient>,
    bloomreach_secret: SecretString,
    webhook_secret: SecretString,
    http: reqwest::Client,
    clock: SharedClock,
    /// Whether the appliance (and so its receiver) runs: only then is a test delivery sent.
    appliance_running: bool,
    runtime: tokio::runtime::Handle,
}

impl Preflight {
    /// A preflight over existing clients. Must be created inside the Tokio runtime.
    pub fn new(
        config: Config,
        bigcommerce: Arc<BigCommerceClient>,
        bloomreach: Arc<BloomreachClient>,
        secrets: &SecretResolver,
        clock: SharedClock,
        appliance_running: bool,
    ) -> Result<Self, PreflightSetupError> {
        let bloomreach_secret = secrets.resolve(&config.bloomreach.secret)?;
        let webhook_secret = secrets.resolve(&config.webhooks.secret)?;
        let http = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .user_agent(concat!("BigReach-preflight/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            config,
            bigcommerce,
            bloomreach,
            bloomreach_secret,
            webhook_secret,
            http,
            clock,
            appliance_running,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// A standalone preflight (no appliance running): builds its own clients from `config`.
    /// Must be created inside the Tokio runtime.
    pub fn standalone(
        config: Config,
        secrets: &SecretResolver,
        clock: SharedClock,
    ) -> Result<Self, PreflightSetupError> {
        let token = secrets.resolve(&config.bigcommerce.access_token)?;
        let bigcommerce = Arc::new(BigCommerceClient::new(
            bigreach_bigcommerce::ClientConfig::new(config.bigcommerce_api_root(), token),
            clock.clone(),
        )?);
        let mut br_config = bigreach_bloomreach::ClientConfig::new(
            config.bloomreach.base_url.clone(),
            config.bloomreach.project_token.clone(),
            config.bloomreach.key_id.clone(),
            secrets.resolve(&config.bloomreach.secret)?,
        );
        br_config.timeout = PROBE_TIMEOUT;
        let bloomreach = Arc::new(BloomreachClient::new(br_config, clock.clone())?);
        Self::new(config, bigcommerce, bloomreach, secrets, clock, false)
    }

    /// Runs every check, in `bigreach_core::preflight::DEFINITIONS` order.
    pub async fn run_checks(&self, request: &PreflightRequest) -> Vec<Check> {
        let (credentials, information) = self.bigcommerce_credentials().await;
        let mut out = vec![credentials];
        out.push(self.orders().await);
        out.push(self.customers().await);
        out.push(self.products().await);
        out.push(self.hooks_registered().await);
        out.push(self.webhook_delivery(information.as_ref()).await);
        let (credentials, skew) = self.bloomreach_time().await;
        out.push(credentials);
        let (permissions, catalogs) = self.bloomreach_permissions().await;
        out.push(permissions);
        out.push(self.catalog_fields(catalogs).await);
        out.push(self.hard_ids().await);
        out.push(skew);
        out.extend(self.storefront(request, information.as_ref()).await);
        out
    }

    // ----- BigCommerce -----

    async fn bigcommerce_credentials(&self) -> (Check, Option<StoreInformation>) {
        let definition = checks::BIGCOMMERCE_CREDENTIALS;
        match self.bigcommerce.store_information().await {
            Ok(information) => (
                definition.pass(Evidence::of(
                    Some(200),
                    None,
                    format!(
                        "GET /v2/store: store {:?} (hash {}, store_id {}), storefront {}",
                        information.name,
                        information.id,
                        information.store_id.as_deref().unwrap_or("?"),
                        if information.secure_url.is_empty() {
                            "not named"
                        } else {
                            information.secure_url.as_str()
                        }
                    ),
                )),
                Some(information),
            ),
            Err(error) => (bigcommerce_failure(definition, "v2/store", &error), None),
        }
    }

    async fn orders(&self) -> Check {
        let definition = checks::BIGCOMMERCE_SCOPE_ORDERS;
        let since = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        match self.bigcommerce.orders_modified_since(since, 1).await {
            Ok(orders) => definition.pass(Evidence::of(
                Some(200),
                None,
                match orders.first() {
                    Some(order) => format!(
                        "GET /v2/orders: read order #{} (status {}, {} line item(s)) of {} on the first page",
                        order.id,
                        order.status_id,
                        order.line_items.len(),
                        orders.len()
                    ),
                    None => "GET /v2/orders: allowed; the store has no orders yet".to_owned(),
                },
            )),
            Err(error) => bigcommerce_failure(definition, "v2/orders", &error),
        }
    }

    async fn customers(&self) -> Check {
        let definition = checks::BIGCOMMERCE_SCOPE_CUSTOMERS;
        match self.bigcommerce.customers_modified_since(None, 1).await {
            Ok(page) => definition.pass(Evidence::of(
                Some(200),
                None,
                match page.items.first() {
                    Some(customer) => format!(
                        "GET /v3/customers: read customer #{} of {} on the first page",
                        customer.id,
                        page.items.len()
                    ),
                    None => "GET /v3/customers: allowed; the store has no customers yet".to_owned(),
                },
            )),
            Err(error) => bigcommerce_failure(definition, "v3/customers", &error),
        }
    }

    async fn products(&self) -> Check {
        let definition = checks::BIGCOMMERCE_SCOPE_PRODUCTS;
        match self.bigcommerce.products_modified_since(None, 1).await {
            Ok(page) => definition.pass(Evidence::of(
                Some(200),
                None,
                match page.items.first() {
                    Some(product) => format!(
                        "GET /v3/catalog/products: read product #{} ({} variant(s)) of {} on the first page",
                        product.id,
                        product.variants.len(),
                        page.items.len()
                    ),
                    None => "GET /v3/catalog/products: allowed; the catalog is empty".to_owned(),
                },
            )),
            Err(error) => bigcommerce_failure(definition, "v3/catalog/products", &error),
        }
    }

    async fn hooks_registered(&self) -> Check {
        let definition = checks::BIGCOMMERCE_WEBHOOKS_REGISTERED;
        let destination = self.config.webhooks.public_url.as_str();
        let hooks = match self.bigcommerce.hooks().await {
            Ok(hooks) => hooks,
            Err(error) => return bigcommerce_failure(definition, "v3/hooks", &error),
        };
        let mut missing = Vec::new();
        let mut inactive = Vec::new();
        for scope in crate::hooks::SCOPES {
            match hooks
                .iter()
                .find(|h| h.scope == scope && h.destination == destination)
            {
                Some(hook) if hook.is_active => {}
                Some(_) => inactive.push(scope),
                None => missing.push(scope),
            }
        }
        let read = format!(
            "GET /v3/hooks: {} hook(s) of this API account; for {destination}: {} missing, {} inactive",
            hooks.len(),
            if missing.is_empty() { "none".to_owned() } else { missing.join(", ") },
            if inactive.is_empty() { "none".to_owned() } else { inactive.join(", ") },
        );
        let evidence = Evidence::of(Some(200), None, read);
        if missing.is_empty() && inactive.is_empty() {
            return definition.pass(evidence);
        }
        definition.fail(
            evidence,
            if self.config.webhooks.manage_hooks {
                format!(
                    "Start (or restart) `bigreach serve`: with `webhooks.manage_hooks` on it \
                     registers and re-activates the hooks for {destination} at start"
                )
            } else {
                format!(
                    "Register the missing hooks (POST /v3/hooks) and re-activate the inactive \
                     ones for {destination} with the `{SECRET_HEADER}` header, or turn on \
                     `webhooks.manage_hooks`"
                )
            },
        )
    }

    async fn webhook_delivery(&self, information: Option<&StoreInformation>) -> Check {
        let definition = checks::BIGCOMMERCE_WEBHOOK_DELIVERY;
        let url = self.config.webhooks.public_url.clone();
        if !self.appliance_running {
            return definition.inconclusive(
                Evidence::local(format!(
                    "the appliance is not running, so no receiver listens behind {url}; no test \
                     delivery was sent"
                )),
                "Start `bigreach serve` and run `bigreach preflight` again: it then asks the \
                 appliance, which sends a test delivery to the public URL",
            );
        }
        let now_ms = self.clock.now_ms();
        let body = json!({
            "scope": TEST_DELIVERY_SCOPE,
            "store_id": information.and_then(|i| i.store_id.clone()).unwrap_or_default(),
            "producer": format!("stores/{}", self.config.bigcommerce.store_hash),
            "hash": format!("bigreach-preflight-{now_ms}"),
            "created_at": now_ms / 1000,
            "data": {"type": "preflight", "id": now_ms},
        });
        let sent = self
            .http
            .post(url.clone())
            .header(SECRET_HEADER, self.webhook_secret.expose_secret())
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                return definition.fail(
                    Evidence::local(format!(
                        "POST {url} (test delivery): no answer ({})",
                        error.without_url()
                    )),
                    format!(
                        "Nothing answered at `webhooks.public_url` ({url}): check the proxy or \
                         tunnel in front of the receiver (it listens on {}) and that the URL \
                         points at it",
                        self.config.webhooks.listen
                    ),
                )
            }
        };
        let status = response.status().as_u16();
        let evidence = Evidence::of(
            Some(status),
            header(response.headers(), "x-request-id"),
            format!("POST {url} (test delivery, scope {TEST_DELIVERY_SCOPE}): {status}"),
        );
        match status {
            200 => definition.pass(Evidence {
                read: format!("{}, stored by the receiver", evidence.read),
                ..evidence
            }),
            401 => definition.fail(
                evidence,
                format!(
                    "The receiver refused the shared secret: the proxy or tunnel must pass the \
                     `{SECRET_HEADER}` header through, and `webhooks.secret` must be the secret \
                     the hooks carry"
                ),
            ),
            404 => definition.fail(
                evidence,
                "The public URL's path does not reach the receiver: point the proxy at \
                 `/webhooks` or make `webhooks.public_url` end in the path the proxy forwards",
            ),
            _ => definition.fail(
                evidence,
                "The receiver did not store the test delivery: see `bigreach status` and the \
                 log, then run the preflight again",
            ),
        }
    }

    // ----- Bloomreach -----

    fn bloomreach_url(&self, segments: &[&str]) -> Url {
        let mut url = self.config.bloomreach.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        url
    }

    /// One authenticated Bloomreach probe: status, request id and body.
    async fn bloomreach_probe(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<Probe, String> {
        let url = self.bloomreach_url(segments);
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(
                self.config.bloomreach.key_id.trim(),
                Some(self.bloomreach_secret.expose_secret()),
            )
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status().as_u16();
        let request_id = header(response.headers(), "x-request-id");
        let body = read_limited(response).await.unwrap_or_default();
        Ok(Probe {
            status,
            request_id,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    fn project(&self) -> &str {
        self.config.bloomreach.project_token.trim()
    }

    async fn bloomreach_time(&self) -> (Check, Check) {
        let definition = checks::BLOOMREACH_CREDENTIALS;
        let path = format!("GET /track/v2/projects/{}/system/time", self.project());
        let before = self.clock.now_ms();
        let answer = self.bloomreach.system_time().await;
        let after = self.clock.now_ms();
        match answer {
            Ok(seconds) => {
                let server_ms = (seconds * 1000.0).round() as i64;
                let evidence =
                    Evidence::of(Some(200), None, format!("{path}: server time {seconds:.3}"));
                (
                    definition.pass(evidence.clone()),
                    checks::clock_skew(before, after, server_ms, evidence),
                )
            }
            Err(error) => {
                let status = bloomreach_status(&error);
                let evidence = Evidence::of(
                    status,
                    error.request_id().map(str::to_owned),
                    format!("{path}: {error}"),
                );
                let fix = match status {
                    Some(400) => {
                        "Bloomreach did not recognise the project: set \
                                  `bloomreach.project_token` to the token in Project settings › \
                                  Access management › API"
                    }
                    Some(401) => {
                        "Bloomreach refused the API key: set `bloomreach.key_id` and \
                                  the secret `bloomreach.secret` points at to a private API key \
                                  of the project (it may have been revoked or rotated)"
                    }
                    Some(403) => {
                        "The API group has no permission for the Tracking API: grant \
                                  it Events › Set and Customer properties › Set"
                    }
                    _ => {
                        "Bloomreach did not answer: check `bloomreach.base_url` (the \
                          instance's API target) and this machine's network, then run the \
                          preflight again"
                    }
                };
                (
                    definition.fail(evidence, fix),
                    checks::CLOCK_SKEW.inconclusive(
                        Evidence::local("Bloomreach's time could not be read"),
                        "Fix bloomreach-credentials, then run the preflight again",
                    ),
                )
            }
        }
    }

    /// The permissions check, and the catalog list it read (for the catalog-fields check).
    async fn bloomreach_permissions(&self) -> (Check, Result<Probe, String>) {
        let definition = checks::BLOOMREACH_PERMISSIONS;
        let project = self.project().to_owned();
        let tracking = self
            .bloomreach_probe(
                reqwest::Method::POST,
                &["track", "v2", "projects", &project, "batch"],
                Some(json!({"commands": [{"name": "system/time", "data": {}}]})),
            )
            .await;
        let catalogs = self
            .bloomreach_probe(
                reqwest::Method::GET,
                &["data", "v2", "projects", &project, "catalogs"],
                None,
            )
            .await;
        let customers = self
            .bloomreach_probe(
                reqwest::Method::POST,
                &["data", "v2", "projects", &project, "customers", "export-one"],
                Some(json!({"customer_ids": {self.config.bloomreach.ids.customer_id.as_str(): PROBE_ID}})),
            )
            .await;
        let mut refused = Vec::new();
        let mut reads = Vec::new();
        let mut deciding: Option<&Probe> = None;
        for (family, probe, what) in [
            ("tracking", &tracking, "POST batch [system/time]"),
            ("catalogs", &catalogs, "GET catalogs"),
            (
                "customers",
                &customers,
                "POST customers/export-one (probe id)",
            ),
        ] {
            match probe {
                Ok(p) => {
                    reads.push(format!("{family}: {what} → {}", p.status));
                    if matches!(p.status, 401 | 403) || (p.status == 400 && is_auth(&p.body)) {
                        refused.push(family);
                        deciding.get_or_insert(p);
                    }
                }
                Err(reason) => {
                    reads.push(format!("{family}: {what} → no answer ({reason})"));
                    refused.push(family);
                }
            }
        }
        let evidence = Evidence::of(
            deciding.map(|p| p.status),
            deciding.and_then(|p| p.request_id.clone()),
            reads.join("; "),
        );
        let check = if refused.is_empty() {
            definition.pass(evidence)
        } else {
            definition.fail(
                evidence,
                format!(
                    "Bloomreach refused or did not answer for: {}. Give the API group \
                     (Project settings › Access management › API) private access with Events › \
                     Set, Customer properties › Set, Catalogs (create, update, items) and \
                     Customers › export; check `bloomreach.base_url` if nothing answered",
                    refused.join(", ")
                ),
            )
        };
        (check, catalogs)
    }

    async fn catalog_fields(&self, catalogs: Result<Probe, String>) -> Check {
        let definition = checks::BLOOMREACH_CATALOG_FIELDS;
        let name = &self.config.bloomreach.catalog_name;
        let list = match catalogs {
            Ok(probe) if (200..300).contains(&probe.status) => probe,
            Ok(probe) => {
                return definition.fail(
                    Evidence::of(
                        Some(probe.status),
                        probe.request_id,
                        format!("GET catalogs: {}", excerpt(&probe.body)),
                    ),
                    "Fix bloomreach-permissions (catalogs), then run the preflight again",
                )
            }
            Err(reason) => {
                return definition.fail(
                    Evidence::local(format!("GET catalogs: no answer ({reason})")),
                    "Bloomreach did not answer: check `bloomreach.base_url` and the network",
                )
            }
        };
        let summaries =
            bigreach_bloomreach::decode::catalog_list(list.body.as_bytes()).unwrap_or_default();
        let Some(catalog) = summaries.iter().find(|c| &c.name == name) else {
            return definition.fail(
                Evidence::of(
                    Some(list.status),
                    list.request_id,
                    format!(
                        "GET catalogs: {} catalog(s), none named {name:?}",
                        summaries.len()
                    ),
                ),
                format!(
                    "Start `bigreach serve`: it creates the catalog {name:?} with every field of \
                     the catalog contract when Bloomreach first answers (or set \
                     `bloomreach.catalog_name` to the catalog BigReach keeps)"
                ),
            );
        };
        let project = self.project().to_owned();
        let probe = match self
            .bloomreach_probe(
                reqwest::Method::GET,
                &["data", "v2", "projects", &project, "catalogs", &catalog.id],
                None,
            )
            .await
        {
            Ok(probe) => probe,
            Err(reason) => {
                return definition.fail(
                    Evidence::local(format!("GET catalogs/{}: no answer ({reason})", catalog.id)),
                    "Bloomreach did not answer: run the preflight again",
                )
            }
        };
        let declared: Vec<(String, String)> = serde_json::from_str::<Value>(&probe.body)
            .ok()
            .and_then(|v| v.pointer("/data/fields").cloned())
            .and_then(|f| f.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|f| {
                Some((
                    f.get("name")?.as_str()?.to_owned(),
                    f.get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("string")
                        .to_owned(),
                ))
            })
            .collect();
        let mapping =
            bigreach_core::map::CatalogMapping::with_overrides(&self.config.mapping.catalog)
                .unwrap_or_default();
        let mut missing = Vec::new();
        let mut mistyped = Vec::new();
        for field in mapping.fields() {
            match declared.iter().find(|(n, _)| *n == field.name) {
                None => missing.push(field.name.clone()),
                Some((_, kind)) if *kind != field.field_type => mistyped.push(format!(
                    "{} is {kind}, the contract says {}",
                    field.name, field.field_type
                )),
                Some(_) => {}
            }
        }
        let evidence = Evidence::of(
            Some(probe.status),
            probe.request_id.clone(),
            format!(
                "GET catalogs/{}: {} field(s) declared, the contract has {}; missing: {}; other type: {}",
                catalog.id,
                declared.len(),
                mapping.fields().len(),
                if missing.is_empty() { "none".to_owned() } else { missing.join(", ") },
                if mistyped.is_empty() { "none".to_owned() } else { mistyped.join(", ") },
            ),
        );
        if !(200..300).contains(&probe.status) {
            return definition.fail(
                evidence,
                "The catalog definition could not be read: fix bloomreach-permissions, then run \
                 the preflight again",
            );
        }
        if missing.is_empty() && mistyped.is_empty() {
            definition.pass(evidence)
        } else {
            definition.fail(
                evidence,
                format!(
                    "Restart `bigreach serve`: it declares every field of the contract on the \
                     catalog {name:?} at start (PUT catalogs/{{id}}); if another tool owns that \
                     catalog, set `bloomreach.catalog_name` to one BigReach keeps"
                ),
            )
        }
    }

    async fn hard_ids(&self) -> Check {
        let definition = checks::BLOOMREACH_HARD_IDS;
        let ids = &self.config.bloomreach.ids;
        let project = self.project().to_owned();
        let mut unknown = Vec::new();
        let mut unanswered = Vec::new();
        let mut reads = Vec::new();
        let mut deciding: Option<Probe> = None;
        for (field, name) in [
            ("customer_id", &ids.customer_id),
            ("email", &ids.email),
            ("phone", &ids.phone),
        ] {
            let probe = self
                .bloomreach_probe(
                    reqwest::Method::POST,
                    &[
                        "data",
                        "v2",
                        "projects",
                        &project,
                        "customers",
                        "export-one",
                    ],
                    Some(json!({"customer_ids": {name.as_str(): PROBE_ID}})),
                )
                .await;
            match probe {
                Ok(p)
                    if p.status == 400 && p.body.to_lowercase().contains("unknown customer id") =>
                {
                    reads.push(format!("{name} ({field}): {} unknown ID name", p.status));
                    unknown.push(format!("bloomreach.ids.{field} = {name:?}"));
                    deciding.get_or_insert(p);
                }
                Ok(p) if p.status < 300 || p.status == 404 => {
                    reads.push(format!("{name} ({field}): {} known", p.status));
                }
                Ok(p) => {
                    reads.push(format!(
                        "{name} ({field}): {} {}",
                        p.status,
                        excerpt(&p.body)
                    ));
                    unanswered.push(name.clone());
                    deciding.get_or_insert(p);
                }
                Err(reason) => {
                    reads.push(format!("{name} ({field}): no answer ({reason})"));
                    unanswered.push(name.clone());
                }
            }
        }
        let evidence = Evidence::of(
            deciding.as_ref().map(|p| p.status),
            deciding.and_then(|p| p.request_id),
            format!(
                "POST customers/export-one with a probe value per ID name: {}",
                reads.join("; ")
            ),
        );
        if !unknown.is_empty() {
            return definition.fail(
                evidence,
                format!(
                    "The project has no customer ID named as {}: set `[bloomreach.ids]` to the \
                     project's hard-ID names (Project settings › Customers › Identifiers; names \
                     are case-sensitive), or create those IDs in the project",
                    unknown.join(", ")
                ),
            );
        }
        if !unanswered.is_empty() {
            return definition.fail(
                evidence,
                "Bloomreach did not answer the ID lookups: fix bloomreach-permissions \
                 (customers), then run the preflight again",
            );
        }
        definition.pass(evidence)
    }

    // ----- The storefront -----

    async fn storefront(
        &self,
        request: &PreflightRequest,
        information: Option<&StoreInformation>,
    ) -> Vec<Check> {
        let mut urls: Vec<Url> = request
            .storefront
            .iter()
            .filter_map(|u| Url::parse(u).ok())
            .collect();
        if urls.is_empty() {
            if let Some(url) = information
                .map(|i| i.secure_url.trim())
                .filter(|u| !u.is_empty())
                .and_then(|u| Url::parse(u).ok())
            {
                urls.push(url);
            }
        }
        let target = match request.sdk_url.as_deref().and_then(|u| Url::parse(u).ok()) {
            Some(url) => SdkTarget::from_sdk_url(url),
            None => SdkTarget::for_api_base(&self.config.bloomreach.base_url),
        };
        let mut pages = Vec::with_capacity(urls.len());
        for url in urls {
            pages.push(self.fetch_page(url).await);
        }
        // The integrity attribute is checked against the file its snippet loads.
        let pinned = pages.iter().flatten().find_map(|page| {
            storefront::read_page(&page.url, &page.html)
                .snippets
                .into_iter()
                .find(|s| s.integrity.is_some())
                .map(|s| s.src.unwrap_or_else(|| target.sdk_url.clone()))
        });
        let sdk = match pinned {
            Some(url) => self.fetch_bytes(url).await,
            None => Err("no snippet carries an integrity attribute".to_owned()),
        };
        storefront::evaluate(&pages, &target, &sdk)
    }

    async fn fetch_page(&self, url: Url) -> Result<FetchedPage, PageFailure> {
        let failure = |status: Option<u16>, reason: String| PageFailure {
            url: url.clone(),
            status,
            reason,
        };
        let response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "text/html")
            .send()
            .await
            .map_err(|e| failure(None, format!("no answer ({})", e.without_url())))?;
        let status = response.status().as_u16();
        let final_url = response.url().clone();
        if !(200..300).contains(&status) {
            return Err(failure(Some(status), format!("answered {status}")));
        }
        let csp_headers = response
            .headers()
            .get_all("content-security-policy")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let body = read_limited(response)
            .await
            .map_err(|e| failure(Some(status), format!("the body could not be read ({e})")))?;
        Ok(FetchedPage {
            url: final_url,
            status,
            csp_headers,
            html: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    async fn fetch_bytes(&self, url: Url) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("no answer ({})", e.without_url()))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(format!("answered {status}"));
        }
        read_limited(response).await.map_err(|e| e.to_string())
    }
}

impl PreflightRunner for Preflight {
    fn run(&self, request: &PreflightRequest) -> Result<Vec<Check>, AppError> {
        Ok(self.runtime.block_on(self.run_checks(request)))
    }
}

/// One Bloomreach probe's answer.
#[derive(Debug, Clone)]
struct Probe {
    status: u16,
    request_id: Option<String>,
    body: String,
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn is_auth(body: &str) -> bool {
    let lower = body.to_lowercase();
    lower.contains("could not authenticate") || lower.contains("invalid project id")
}

fn excerpt(body: &str) -> String {
    let flat: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(160)
        .collect();
    flat
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_FETCH_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_FETCH_BYTES {
            break;
        }
    }
    Ok(body)
}

/// The HTTP status a Bloomreach client error carries, when it carries one.
fn bloomreach_status(error: &BloomreachError) -> Option<u16> {
    match error {
        BloomreachError::RateLimited { .. } => Some(429),
        BloomreachError::Server { status, .. }
        | BloomreachError::Auth { status, .. }
        | BloomreachError::Rejected { status, .. } => Some(*status),
        BloomreachError::Decode { .. } => Some(200),
        _ => None,
    }
}

/// The HTTP status a BigCommerce client error carries, when it carries one.
fn bigcommerce_status(error: &BigCommerceError) -> Option<u16> {
    match error {
        BigCommerceError::Unauthorized { .. } => Some(401),
        BigCommerceError::Forbidden { .. } => Some(403),
        BigCommerceError::NotFound { .. } => Some(404),
        BigCommerceError::Http { status, .. } => Some(*status),
        BigCommerceError::RateLimitExhausted { .. } => Some(429),
        BigCommerceError::Decode { .. } => Some(200),
        _ => None,
    }
}

/// A failed BigCommerce read of `path`: a 403 names the missing scope, a 401 the token.
fn bigcommerce_failure(definition: Definition, path: &str, error: &BigCommerceError) -> Check {
    let status = bigcommerce_status(error);
    let evidence = Evidence::of(status, None, format!("GET /{path}: {error}"));
    let fix = match status.map(|s| scopes::diagnose(s, path)) {
        Some(ScopeFinding::Unauthorized) => scopes::unauthorized_fix(),
        Some(ScopeFinding::Missing(scope)) => scopes::missing_scope_fix(scope),
        Some(ScopeFinding::Forbidden) => format!(
            "BigCommerce refused /{path} (403) although it needs no scope: check that the \
             access token is of a store-level API account of this store \
             (`bigcommerce.store_hash`)"
        ),
        Some(ScopeFinding::Granted) | None => "BigCommerce did not answer the read: check \
             `bigcommerce.store_hash`, `bigcommerce.api_root` and this machine's network, then \
             run the preflight again"
            .to_owned(),
    };
    definition.fail(evidence, fix)
}
