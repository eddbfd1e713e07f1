//! The Bloomreach Engagement client: one attempt per call, paced, errors classified.
//!
//! Retries belong to the caller (the durable outbox owns them for tracking): every error says
//! its [`ErrorClass`], and a 429 carries `Retry-After` when Bloomreach sends one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bigreach_clock::SharedClock;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use url::Url;

use crate::catalog::{CatalogField, CatalogItemResult, CatalogItemUpdate, CatalogSummary};
use crate::commands::{BatchCommand, BatchResponse};
use crate::decode;
use crate::error::{BloomreachError, ErrorClass};
use crate::imports::{ImportDefinition, ImportState, ImportSummary, StartImport};
use crate::pacing::Pacer;

/// Most commands Bloomreach accepts in one batch request.
pub const MAX_BATCH_COMMANDS: usize = 50;
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Settings for [`BloomreachClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The instance's API base, e.g. `https://api.exponea.com/`.
    pub base_url: Url,
    pub project_token: String,
    /// Private API key id (HTTP Basic user).
    pub key_id: String,
    /// Private API secret (HTTP Basic password).
    pub secret: SecretString,
    pub timeout: Duration,
    /// Pacing ceiling (default 90; the documented limit is 100 rps per source IP).
    pub requests_per_second: u32,
}

impl ClientConfig {
    /// A config with the defaults: 30 s timeout, 90 requests per second.
    pub fn new(
        base_url: Url,
        project_token: impl Into<String>,
        key_id: impl Into<String>,
        secret: SecretString,
    ) -> Self {
        Self {
            base_url,
            project_token: project_token.into(),
            key_id: key_id.into(),
            secret,
            timeout: Duration::from_secs(30),
            requests_per_second: 90,
        }
    }
}

/// Request counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub requests: u64,
    pub rate_limited: u64,
    pub server_errors: u64,
}

/// A Bloomreach Engagement client. Cheap to clone; safe to use from concurrent tasks.
#[derive(Clone)]
pub struct BloomreachClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    project_token: String,
    clock: SharedClock,
    pacer: Pacer,
    requests: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
}

impl std::fmt::Debug for BloomreachClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BloomreachClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("requests_per_second", &self.inner.pacer.rate())
            .finish_non_exhaustive()
    }
}

struct Reply {
    body: Vec<u8>,
    request_id: Option<String>,
}

impl BloomreachClient {
    /// Builds a client; validates the config without I/O.
    pub fn new(config: ClientConfig, clock: SharedClock) -> Result<Self, BloomreachError> {
        let invalid = |field, problem: &str| BloomreachError::InvalidConfig {
            field,
            problem: problem.to_string(),
        };
        if !matches!(config.base_url.scheme(), "http" | "https")
            || config.base_url.cannot_be_a_base()
        {
            return Err(invalid(
                "base_url",
                "must be an http(s) URL such as https://api.exponea.com/",
            ));
        }
        let token = config.project_token.trim();
        if token.is_empty()
            || !token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "project_token",
                "must be the project token (letters, digits and dashes) from Project settings › Access management › API",
            ));
        }
        if config.key_id.trim().is_empty() || config.key_id.contains(':') {
            return Err(invalid("key_id", "must be the private API key id (no ':')"));
        }
        if config.secret.expose_secret().is_empty() {
            return Err(invalid("secret", "is empty; paste the private API secret"));
        }
        if config.timeout.is_zero() {
            return Err(invalid("timeout", "must be greater than zero"));
        }
        if config.requests_per_second == 0 {
            return Err(invalid("requests_per_second", "must be at least 1"));
        }
        let mut base_url = config.base_url.clone();
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        base_url.set_query(None);
        base_url.set_fragment(None);

        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            config.key_id.trim(),
            config.secret.expose_secret()
        ));
        let mut authorization = HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|_| invalid("secret", "cannot be sent in a header"))?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .user_agent(concat!("BigReach/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| BloomreachError::InvalidConfig {
                field: "http_client",
                problem: error.to_string(),
            })?;
        let pacer = Pacer::new(clock.clone(), config.requests_per_second);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                project_token: token.to_string(),
                clock,
                pacer,
                requests: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                server_errors: AtomicU64::new(0),
            }),
        })
    }

    /// Changes the pacing ceiling (the delivery loop lowers/raises it adaptively).
    pub fn set_requests_per_second(&self, rps: u32) {
        self.inner.pacer.set_rate(rps);
    }

    /// The current pacing ceiling.
    pub fn requests_per_second(&self) -> u32 {
        self.inner.pacer.rate()
    }

    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            rate_limited: self.inner.rate_limited.load(Ordering::Relaxed),
            server_errors: self.inner.server_errors.load(Ordering::Relaxed),
        }
    }

    /// `GET track/v2/projects/{token}/system/time`: server time in Unix seconds. Also a cheap
    /// check of the base URL and project token.
    pub async fn system_time(&self) -> Result<f64, BloomreachError> {
        let reply = self
            .send(
                Method::GET,
                &["track", "v2", "projects", TOKEN, "system", "time"],
                None,
                "system time",
            )
            .await?;
        decode::system_time(&reply.body)
    }

    /// `POST track/v2/projects/{token}/batch` with at most 50 frozen commands, sent verbatim.
    /// ONE attempt. Results come back in the order of `commands`.
    pub async fn batch(&self, commands: &[BatchCommand]) -> Result<BatchResponse, BloomreachError> {
        if commands.len() > MAX_BATCH_COMMANDS {
            return Err(BloomreachError::TooManyCommands {
                count: commands.len(),
            });
        }
        if commands.is_empty() {
            return Ok(BatchResponse {
                request_id: None,
                results: Vec::new(),
            });
        }
        #[derive(serde::Serialize)]
        struct Body<'a> {
            commands: &'a [BatchCommand],
        }
        let body =
            serde_json::to_vec(&Body { commands }).map_err(|source| BloomreachError::Decode {
                what: "batch body".to_string(),
                source,
            })?;
        let reply = self
            .send(
                Method::POST,
                &["track", "v2", "projects", TOKEN, "batch"],
                Some(body),
                "batch",
            )
            .await?;
        decode::batch_response(commands, &reply.body, reply.request_id)
    }

    /// `GET data/v2/projects/{token}/catalogs`.
    pub async fn list_catalogs(&self) -> Result<Vec<CatalogSummary>, BloomreachError> {
        let reply = self
            .send(
                Method::GET,
                &["data", "v2", "projects", TOKEN, "catalogs"],
                None,
                "list catalogs",
            )
            .await?;
        decode::catalog_list(&reply.body)
    }

    /// `POST data/v2/projects/{token}/catalogs`; returns the new catalog's id.
    pub async fn create_catalog(
        &self,
        name: &str,
        fields: &[CatalogField],
        is_product_catalog: bool,
    ) -> Result<String, BloomreachError> {
        let body =
            json!({"name": name, "fields": fields, "is_product_catalog": is_product_catalog});
        let reply = self
            .send(
                Method::POST,
                &["data", "v2", "projects", TOKEN, "catalogs"],
                Some(body.to_string().into_bytes()),
                "create catalog",
            )
            .await?;
        decode::created_catalog_id(&reply.body)
    }

    /// `PUT data/v2/projects/{token}/catalogs/{id}` with the name and the full field list.
    pub async fn update_catalog(
        &self,
        id: &str,
        name: &str,
        fields: &[CatalogField],
    ) -> Result<(), BloomreachError> {
        let body = json!({"name": name, "fields": fields});
        self.send(
            Method::PUT,
            &["data", "v2", "projects", TOKEN, "catalogs", id],
            Some(body.to_string().into_bytes()),
            "update catalog",
        )
        .await?;
        Ok(())
    }

    /// `POST data/v2/projects/{token}/catalogs/{id}/items/partial-update`. Item ids with `/`
    /// are rejected before sending. Results are per item, in request order.
    pub async fn catalog_bulk_partial_update(
        &self,
        catalog_id: &str,
        items: &[CatalogItemUpdate],
    ) -> Result<Vec<CatalogItemResult>, BloomreachError> {
        if let Some(bad) = items.iter().find(|item| item.item_id.contains('/')) {
            return Err(BloomreachError::InvalidItemId {
                item_id: bad.item_id.clone(),
            });
        }
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::to_vec(items).map_err(|source| BloomreachError::Decode {
            what: "catalog items body".to_string(),
            source,
        })?;
        let reply = self
            .send(
                Method::POST,
                &[
                    "data",
                    "v2",
                    "projects",
                    TOKEN,
                    "catalogs",
                    catalog_id,
                    "items",
                    "partial-update",
                ],
                Some(body),
                "catalog bulk partial update",
            )
            .await?;
        decode::catalog_bulk_results(items, &reply.body)
    }

    /// `DELETE data/v2/projects/{token}/catalogs/{id}/items/bulk-delete` with the item ids.
    /// Item ids with `/` are rejected before sending. Results are per item, in request order.
    pub async fn catalog_bulk_delete(
        &self,
        catalog_id: &str,
        item_ids: &[String],
    ) -> Result<Vec<CatalogItemResult>, BloomreachError> {
        if let Some(bad) = item_ids.iter().find(|id| id.contains('/')) {
            return Err(BloomreachError::InvalidItemId {
                item_id: bad.clone(),
            });
        }
        if item_ids.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::to_vec(item_ids).map_err(|source| BloomreachError::Decode {
            what: "catalog bulk delete body".to_string(),
            source,
        })?;
        let reply = self
            .send(
                Method::DELETE,
                &[
                    "data",
                    "v2",
                    "projects",
                    TOKEN,
                    "catalogs",
                    catalog_id,
                    "items",
                    "bulk-delete",
                ],
                Some(body),
                "catalog bulk delete",
            )
            .await?;
        decode::catalog_delete_results(item_ids, &reply.body)
    }

    /// `GET data/v2/projects/{token}/catalogs/{id}/items?skip=&count=`: `(item_id, properties)`.
    pub async fn catalog_items(
        &self,
        catalog_id: &str,
        skip: u32,
        count: u32,
    ) -> Result<Vec<(String, Map<String, Value>)>, BloomreachError> {
        let reply = self
            .send_with_query(
                Method::GET,
                &[
                    "data", "v2", "projects", TOKEN, "catalogs", catalog_id, "items",
                ],
                &[("skip", skip.to_string()), ("count", count.to_string())],
                None,
                "catalog items",
            )
            .await?;
        decode::catalog_items(&reply.body)
    }

    /// `POST imports/v1/{token}` with a definition; returns its `import_id`. Not idempotent:
    /// a caller that may repeat it after a crash looks for its definition first
    /// ([`list_imports`](Self::list_imports)).
    pub async fn create_import(
        &self,
        definition: &ImportDefinition,
    ) -> Result<String, BloomreachError> {
        let body = serde_json::to_vec(definition).map_err(|source| BloomreachError::Decode {
            what: "import definition body".to_string(),
            source,
        })?;
        let reply = self
            .send(
                Method::POST,
                &["imports", "v1", TOKEN],
                Some(body),
                "create import",
            )
            .await?;
        decode::created_import_id(&reply.body)
    }

    /// `POST data/v1/projects/{token}/imports/{id}/start` (the documented form).
    pub async fn start_import(
        &self,
        import_id: &str,
        request: &StartImport,
    ) -> Result<(), BloomreachError> {
        let body = serde_json::to_vec(request).map_err(|source| BloomreachError::Decode {
            what: "import start body".to_string(),
            source,
        })?;
        let reply = self
            .send(
                Method::POST,
                &[
                    "data", "v1", "projects", TOKEN, "imports", import_id, "start",
                ],
                Some(body),
                "start import",
            )
            .await?;
        decode::import_started(&reply.body)
    }

    /// `GET imports/v1/{token}/{id}`: the definition with its last run.
    pub async fn import_state(&self, import_id: &str) -> Result<ImportState, BloomreachError> {
        let reply = self
            .send(
                Method::GET,
                &["imports", "v1", TOKEN, import_id],
                None,
                "read import",
            )
            .await?;
        decode::import_state(&reply.body)
    }

    /// `GET imports/v1/{token}?limit=&offset=`: one page of the API-created definitions (at
    /// most 50) and the total.
    pub async fn list_imports(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<ImportSummary>, u64), BloomreachError> {
        let reply = self
            .send_with_query(
                Method::GET,
                &["imports", "v1", TOKEN],
                &[
                    ("limit", limit.clamp(1, 50).to_string()),
                    ("offset", offset.to_string()),
                ],
                None,
                "list imports",
            )
            .await?;
        decode::import_list(&reply.body)
    }

    /// `DELETE imports/v1/{token}/{id}` (data already imported stays).
    pub async fn delete_import(&self, import_id: &str) -> Result<(), BloomreachError> {
        self.send(
            Method::DELETE,
            &["imports", "v1", TOKEN, import_id],
            None,
            "delete import",
        )
        .await?;
        Ok(())
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Vec<u8>>,
        operation: &'static str,
    ) -> Result<Reply, BloomreachError> {
        self.send_with_query(method, segments, &[], body, operation)
            .await
    }

    /// One paced attempt. Non-2xx statuses become classified errors.
    async fn send_with_query(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        operation: &'static str,
    ) -> Result<Reply, BloomreachError> {
        let inner = &self.inner;
        let mut url = inner.base_url.clone();
        {
            let mut path =
                url.path_segments_mut()
                    .map_err(|()| BloomreachError::InvalidConfig {
                        field: "base_url",
                        problem: "cannot carry a path".to_string(),
                    })?;
            path.pop_if_empty();
            for segment in segments {
                let segment = if *segment == TOKEN {
                    inner.project_token.as_str()
                } else {
                    segment
                };
                path.push(segment);
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(key, value)| (*key, value.as_str())));
        }
        inner.pacer.acquire().await;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let started = inner.clock.now();
        let mut request = inner.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let error = error.without_url();
                tracing::warn!(operation, method = %method, error = %error, "bloomreach request failed");
                return Err(BloomreachError::Transport {
                    operation,
                    source: error,
                });
            }
        };
        let status = response.status().as_u16();
        let request_id = header_text(response.headers(), "x-request-id");
        let retry_after = retry_after(response.headers(), inner.clock.now());
        let body = read_body(response)
            .await
            .map_err(|error| BloomreachError::Transport {
                operation,
                source: error.without_url(),
            })?;
        let elapsed_ms = (inner.clock.now() - started).num_milliseconds();
        if (200..300).contains(&status) {
            tracing::debug!(operation, method = %method, status, elapsed_ms, request_id = request_id.as_deref().unwrap_or(""), "bloomreach request");
            return Ok(Reply { body, request_id });
        }
        tracing::warn!(operation, method = %method, status, elapsed_ms, request_id = request_id.as_deref().unwrap_or(""), "bloomreach request");
        let error = decode::error_response(status, &body, request_id, retry_after);
        match error.class() {
            ErrorClass::RateLimited => {
                inner.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            ErrorClass::Retryable => {
                inner.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            ErrorClass::Permanent | ErrorClass::Auth => {}
        }
        Err(error)
    }
}

/// Placeholder segment replaced by the project token.
const TOKEN: &str = "\u{0}project-token";

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

/// `Retry-After` as seconds (integer or decimal) or an HTTP date relative to `now`.
fn retry_after(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    crate::parse_retry_after(&header_text(headers, "retry-after")?, now)
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            // Keep what fits; decoding will report the truncation.
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
