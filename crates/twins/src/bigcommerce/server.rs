//! The HTTP side: hyper server, the control API under `/_twin/`, auth, quota, routing, and the
//! endpoints BigReach itself reads (other reads in `reads.rs`, writes in `writes.rs`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::model::{Hook, Order};
use super::webhooks::KNOWN_SCOPES;
use super::wire::{self, ConsignmentInclude, CustomerInclude, ProductInclude};
use super::{truth_of, Inner};
use crate::control::{CrowdRequest, FaultSwitch};

const WINDOW_MS: i64 = 30_000;
const MAX_BODY: usize = 64 * 1024;
pub(super) const MAX_LIMIT: usize = 250;

pub(crate) async fn serve(
    inner: Arc<Inner>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let inner = inner.clone();
                let mut stop = shutdown.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let inner = inner.clone();
                        async move { Ok::<_, Infallible>(handle(inner, req).await) }
                    });
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// A response under construction.
pub(super) struct Reply {
    pub status: StatusCode,
    pub body: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(super) fn json(status: StatusCode, v: &Value) -> Self {
        Self {
            status,
            body: Some(v.to_string().into_bytes()),
            headers: Vec::new(),
        }
    }
    pub(super) fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: Vec::new(),
        }
    }
    /// v3 error shape `{status, title, type}`.
    pub(super) fn v3_error(status: StatusCode, title: &str) -> Self {
        Self::json(
            status,
            &json!({ "status": status.as_u16(), "title": title, "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes" }),
        )
    }
    pub(super) fn v3_invalid(status: StatusCode, title: &str, errors: Value) -> Self {
        Self::json(
            status,
            &json!({ "status": status.as_u16(), "title": title, "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes", "errors": errors }),
        )
    }
    /// v2 error shape: an array of `{status, message}`.
    pub(super) fn v2_error(status: StatusCode, message: &str) -> Self {
        Self::json(
            status,
            &json!([{ "status": status.as_u16(), "message": message }]),
        )
    }
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(Bytes::from(
            self.body.clone().unwrap_or_default(),
        )));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        if self.body.is_some() {
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        h.insert("x-bc-store-version", HeaderValue::from_static("7.6.0"));
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        resp
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    V2,
    V3,
}

pub(super) fn not_found(api: Api) -> Reply {
    match api {
        Api::V2 => Reply::v2_error(
            StatusCode::NOT_FOUND,
            "The requested resource was not found.",
        ),
        Api::V3 => Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested resource was not found.",
        ),
    }
}

pub(super) fn bad_request(api: Api, field: &str) -> Reply {
    match api {
        Api::V2 => Reply::v2_error(
            StatusCode::BAD_REQUEST,
            &format!("The field '{field}' is invalid."),
        ),
        Api::V3 => Reply::v3_invalid(
            StatusCode::BAD_REQUEST,
            "Input is invalid.",
            json!({ field: "invalid value" }),
        ),
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, ()> {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY {
                return Err(());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let api = req.uri().path().starts_with("/stores/");
    let resp = handle_api(&inner, req).await;
    // "Slow responses": the answer (computed on arrival) waits on the clock.
    let delay = inner.response_delay_nanos.load(Ordering::Relaxed);
    if api && delay > 0 {
        inner
            .clock
            .sleep(std::time::Duration::from_nanos(delay))
            .await;
    }
    resp
}

async fn handle_api(inner: &Arc<Inner>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let method = parts.method.clone();

    if path.starts_with("/_twin/") {
        return control(inner, &method, &path, body).await.into_response();
    }
    if path == "/storefront" || path.starts_with("/storefront/") {
        if method != Method::GET && method != Method::HEAD {
            return Reply::v3_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .into_response();
        }
        let settings = inner.storefront.lock().clone();
        return super::storefront::page(&settings);
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segs.len() < 3 || segs[0] != "stores" {
        return Reply::v3_error(StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    if segs[1] != inner.config.store_hash {
        return Reply::v3_error(StatusCode::NOT_FOUND, "Store not found").into_response();
    }
    inner
        .counters
        .requests_served
        .fetch_add(1, Ordering::Relaxed);
    // Past the version, a segment with a digit in it is an id (an order number, a cart's
    // UUID): endpoint names have none, so the map stays small however many ids are asked for.
    let endpoint = segs[2..]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i > 0 && s.bytes().any(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    *inner
        .counters
        .requests_by_endpoint
        .lock()
        .entry(endpoint)
        .or_insert(0) += 1;

    let token_ok = parts
        .headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == inner.config.access_token);
    if !token_ok {
        return Reply::v3_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store.",
        )
        .into_response();
    }

    // The API account's scopes (all, until `PUT /_twin/scopes` sets them).
    let granted = inner.scopes.lock().granted.clone();
    if let Some(granted) = granted {
        if !super::storefront::allowed(&granted, &method, &segs[2..]) {
            return Reply::v3_error(
                super::storefront::MISSING_SCOPE_STATUS,
                super::storefront::MISSING_SCOPE,
            )
            .into_response();
        }
    }

    // Platform-load 429: no quota headers at all.
    let per_mille = inner
        .platform_429_per_mille
        .load(Ordering::Relaxed)
        .min(1000);
    if per_mille > 0 {
        let hit = inner.store.lock().platform_rng.random_range(0..1000) < per_mille;
        if hit {
            inner
                .counters
                .rate_limited_429
                .fetch_add(1, Ordering::Relaxed);
            return Reply::v3_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
                .into_response();
        }
    }

    let quota = inner.config.plan.requests_per_window();
    let (allowed, left, reset_ms) = take_quota(inner, quota);
    let mut quota_headers = vec![
        ("x-rate-limit-time-window-ms", WINDOW_MS.to_string()),
        ("x-rate-limit-time-reset-ms", reset_ms.to_string()),
        ("x-rate-limit-requests-quota", quota.to_string()),
        ("x-rate-limit-requests-left", left.to_string()),
    ];
    if !allowed {
        inner
            .counters
            .rate_limited_429
            .fetch_add(1, Ordering::Relaxed);
        quota_headers.push((
            "x-retry-after",
            ((reset_ms + 999) / 1000).max(1).to_string(),
        ));
        let mut r = Reply::v3_error(
            StatusCode::TOO_MANY_REQUESTS,
            "You have exceeded the request rate limit. Please wait and try again.",
        );
        r.headers = quota_headers;
        return r.into_response();
    }

    let body = if method == Method::POST || method == Method::PUT {
        match read_body(body).await {
            Ok(b) => Some(b),
            Err(()) => {
                let mut r =
                    Reply::v3_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
                r.headers = quota_headers;
                return r.into_response();
            }
        }
    } else {
        None
    };
    let params = parse_query(&query);
    let mut reply = route(inner, &method, &segs[2..], &params, body.as_ref());
    reply.headers.extend(quota_headers);
    reply.into_response()
}

/// The twin's own endpoints (no auth, no quota): `GET /_twin/state` (the ground truth),
/// `GET /_twin/faults`, `PUT|POST /_twin/faults/{kind}` with a [`FaultSwitch`] body, and
/// `POST /_twin/crowd` with a [`CrowdRequest`] body. Errors are `{"error": message}`.
async fn control(inner: &Arc<Inner>, method: &Method, path: &str, body: Incoming) -> Reply {
    let error =
        |status: StatusCode, message: String| Reply::json(status, &json!({ "error": message }));
    let segs: Vec<&str> = path.trim_start_matches("/_twin/").split('/').collect();
    let write = *method == Method::POST || *method == Method::PUT;
    let read_json = |bytes: Result<Bytes, ()>| -> Result<Value, Reply> {
        let bytes =
            bytes.map_err(|()| error(StatusCode::PAYLOAD_TOO_LARGE, "body too large".into()))?;
        if bytes.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))
    };
    match (segs.as_slice(), write) {
        (["state"], false) if *method == Method::GET => {
            let v = serde_json::to_value(truth_of(inner)).unwrap_or(Value::Null);
            Reply::json(StatusCode::OK, &v)
        }
        (["faults"], false) if *method == Method::GET => {
            Reply::json(StatusCode::OK, &super::faults_json(inner))
        }
        (["faults", kind], true) => {
            let v = match read_json(read_body(body).await) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let mut fault: FaultSwitch = match serde_json::from_value(v) {
                Ok(f) => f,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("invalid fault switch: {e}"),
                    )
                }
            };
            fault.kind = (*kind).to_owned();
            match super::switch_fault(inner, &fault) {
                Ok(()) => Reply::json(
                    StatusCode::OK,
                    &json!({ "kind": fault.kind, "on": fault.on, "faults": super::faults_json(inner) }),
                ),
                Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
            }
        }
        (["storefront"], true) => {
            let v = match read_json(read_body(body).await) {
                Ok(v) => v,
                Err(r) => return r,
            };
            match serde_json::from_value::<super::StorefrontSettings>(v) {
                Ok(settings) => {
                    *inner.storefront.lock() = settings.clone();
                    Reply::json(StatusCode::OK, &json!({ "storefront": settings }))
                }
                Err(e) => error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid storefront settings: {e}"),
                ),
            }
        }
        (["storefront"], false) if *method == Method::GET => Reply::json(
            StatusCode::OK,
            &json!({ "storefront": *inner.storefront.lock() }),
        ),
        (["scopes"], true) => {
            let v = match read_json(read_body(body).await) {
                Ok(v) => v,
                Err(r) => return r,
            };
            match serde_json::from_value::<super::ScopeSettings>(v) {
                Ok(scopes) => {
                    *inner.scopes.lock() = scopes.clone();
                    Reply::json(StatusCode::OK, &json!({ "scopes": scopes }))
                }
                Err(e) => error(StatusCode::BAD_REQUEST, format!("invalid scopes: {e}")),
            }
        }
        (["crowd"], true) => {
            let v = match read_json(read_body(body).await) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let crowd: CrowdRequest = match serde_json::from_value(v) {
                Ok(c) => c,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid crowd: {e}")),
            };
            match super::start_crowd(inner, &crowd) {
                Ok(()) => Reply::json(StatusCode::ACCEPTED, &json!({ "started": crowd })),
                Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no control endpoint {method} {path}"),
        ),
    }
}

/// Returns (allowed, requests left, ms until the window resets).
fn take_quota(inner: &Inner, quota: u32) -> (bool, u32, i64) {
    let now = inner.clock.now();
    let window = chrono::Duration::milliseconds(WINDOW_MS);
    let mut store = inner.store.lock();
    let q = &mut store.quota;
    let start = match q.started {
        Some(s) if now >= s => {
            let elapsed = (now - s).num_milliseconds() / WINDOW_MS;
            if elapsed > 0 {
                q.used = 0;
            }
            s + chrono::Duration::milliseconds(elapsed * WINDOW_MS)
        }
        _ => {
            q.used = 0;
            now
        }
    };
    q.started = Some(start);
    let reset_ms = (start + window - now).num_milliseconds().max(0);
    if q.used >= quota {
        return (false, 0, reset_ms);
    }
    q.used += 1;
    (true, quota - q.used, reset_ms)
}

pub(super) type Params = BTreeMap<String, String>;

fn parse_query(q: &str) -> Params {
    let mut out = Params::new();
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

fn route(inner: &Inner, method: &Method, segs: &[&str], p: &Params, body: Option<&Bytes>) -> Reply {
    let api = match segs.first() {
        Some(&"v2") => Api::V2,
        Some(&"v3") => Api::V3,
        _ => return Reply::v3_error(StatusCode::NOT_FOUND, "Not Found"),
    };
    let rest = &segs[1..];
    let get = *method == Method::GET;
    if let Some(reply) = super::reads::route(inner, api, get, rest, p) {
        return reply;
    }
    if let Some(reply) = super::writes::route(inner, method, api, rest, p, body) {
        return reply;
    }
    match (api, rest) {
        (Api::V2, ["time"]) if get => Reply::json(
            StatusCode::OK,
            &json!({ "time": inner.clock.now().timestamp() }),
        ),
        (Api::V2, ["store"]) if get => Reply::json(StatusCode::OK, &store_json(inner)),
        (Api::V2, ["customer_groups"]) if get => {
            Reply::json(StatusCode::OK, &wire::customer_groups_json())
        }
        (Api::V3, ["customers", "attributes"]) if get => {
            Reply::json(StatusCode::OK, &wire::customer_attributes_json())
        }
        (Api::V2, ["currencies"]) if get => {
            let now = inner.clock.now();
            let store = inner.store.lock();
            let list: Vec<Value> = store
                .currencies
                .iter()
                .map(|c| wire::currency_json(c, now))
                .collect();
            Reply::json(StatusCode::OK, &Value::Array(list))
        }
        (Api::V2, ["orders"]) if get => list_orders(inner, p),
        (Api::V2, ["orders", id]) if get => with_order(inner, id, |o| {
            let inc = match consignment_include(p) {
                Ok(i) => i,
                Err(r) => return r,
            };
            Reply::json(
                StatusCode::OK,
                &wire::order_json(o, inner.api_root.as_str(), inc),
            )
        }),
        (Api::V2, ["orders", id, "products"]) if get => with_order(inner, id, |o| {
            let (page, limit) = match page_limit(p, Api::V2, MAX_LIMIT) {
                Ok(x) => x,
                Err(r) => return r,
            };
            let rows: Vec<Value> = o
                .lines
                .iter()
                .skip((page - 1) * limit)
                .take(limit)
                .map(|l| wire::order_product_json(o, l))
                .collect();
            if rows.is_empty() {
                Reply::no_content()
            } else {
                Reply::json(StatusCode::OK, &Value::Array(rows))
            }
        }),
        (Api::V2, ["orders", id, "products", line]) if get => with_order(inner, id, |o| {
            match o
                .lines
                .iter()
                .find(|l| line.parse::<u64>().ok() == Some(l.id))
            {
                Some(l) => Reply::json(StatusCode::OK, &wire::order_product_json(o, l)),
                None => not_found(Api::V2),
            }
        }),
        (Api::V2, ["orders", id, "shipping_addresses"]) if get => with_order(inner, id, |o| {
            Reply::json(
                StatusCode::OK,
                &json!([wire::shipping_address_json(o, inner.api_root.as_str())]),
            )
        }),
        (Api::V2, ["orders", id, "coupons"]) if get => {
            with_order(inner, id, |o| match wire::coupon_json(o) {
                Some(c) => Reply::json(StatusCode::OK, &json!([c])),
                None => Reply::no_content(),
            })
        }
        (Api::V3, ["customers"]) if get => list_customers(inner, p),
        (Api::V3, ["orders", "payment_actions", "refunds"]) if get => list_refunds(inner, p, None),
        (Api::V3, ["orders", "payment_actions", "refunds", id]) if get => get_refund(inner, id),
        (Api::V3, ["orders", id, "payment_actions", "refunds"]) if get => match id.parse::<u64>() {
            Ok(id) => list_refunds(inner, p, Some(id)),
            Err(_) => not_found(Api::V3),
        },
        (Api::V3, ["carts", id]) if get => get_cart(inner, id, p),
        (Api::V3, ["abandoned-carts", token]) if get => get_abandoned_cart(inner, token),
        (Api::V3, ["catalog", "products"]) if get => list_products(inner, p, None),
        (Api::V3, ["catalog", "products", id]) if get => match id.parse::<u64>() {
            Ok(id) => list_products(inner, p, Some(id)),
            Err(_) => not_found(Api::V3),
        },
        (Api::V3, ["catalog", "products", id, "variants"]) if get => match id.parse::<u64>() {
            Ok(id) => list_variants(inner, p, Some(id)),
            Err(_) => not_found(Api::V3),
        },
        (Api::V3, ["catalog", "variants"]) if get => list_variants(inner, p, None),
        (Api::V3, ["hooks"]) if get => list_hooks(inner, p),
        (Api::V3, ["hooks"]) if *method == Method::POST => create_hook(inner, body),
        (Api::V3, ["hooks", id]) => match id.parse::<u64>() {
            Ok(id) if get => get_hook(inner, id),
            Ok(id) if *method == Method::PUT => update_hook(inner, id, body),
            Ok(id) if *method == Method::DELETE => delete_hook(inner, id),
            Ok(_) => Reply::v3_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
            Err(_) => not_found(Api::V3),
        },
        _ => not_found(api),
    }
}

fn store_json(inner: &Inner) -> Value {
    let store = inner.store.lock();
    let default = store.currencies.first().map_or_else(
        || inner.config.store_default_currency.clone(),
        |c| c.code.clone(),
    );
    let (plan_name, plan_level) = inner.config.plan.plan_name();
    let hash = &inner.config.store_hash;
    let first = json!({
        "id": hash,
        "account_uuid": format!("{:08x}-0000-4000-8000-{:012x}", inner.store_id, inner.config.seed & 0xFFFF_FFFF_FFFF),
        "domain": "twin-store.example.com",
        "secure_url": super::storefront_url(inner).as_str(),
        "control_panel_base_url": format!("https://store-{hash}.mybigcommerce.com"),
        "status": "live",
        "name": "BigReach Twin Store",
        "first_name": "Twin",
        "last_name": "Merchant",
        "address": "1 Market Street\nAustin, Texas 78701\nUnited States",
        "country": "United States",
        "country_code": "US",
        "infrastructure_region": "us-central1",
        "phone": "+1 512 555 0100",
        "admin_email": "merchant@example.com",
        "order_email": "orders@example.com",
        "favicon_url": "",
    });
    let more = json!({
        "timezone": { "name": "Etc/UTC", "raw_offset": 0, "dst_offset": 0, "dst_correction": false, "date_format": { "display": "jS M Y", "export": "M jS Y", "extended_display": "M jS Y @ g:i A" } },
        "language": "en",
        "currency": default,
        "currency_symbol": "$",
        "decimal_separator": ".",
        "thousands_separator": ",",
        "decimal_places": 2,
        "currency_symbol_location": "left",
        "weight_units": "kg",
        "dimension_units": "Centimeters",
        "dimension_decimal_places": 2,
        "dimension_decimal_token": ".",
        "dimension_thousands_token": ",",
        "plan_name": plan_name,
        "plan_level": plan_level,
        "plan_is_trial": false,
        "industry": "Apparel",
        "logo": [],
        "is_price_entered_with_tax": false,
        "store_id": inner.store_id,
        "default_channel_id": 1,
        "default_site_id": 1000,
        "active_comparison_modules": [],
        "features": { "stencil_enabled": true, "sitewidehttps_enabled": true, "facebook_catalog_id": "", "checkout_type": "optimized", "wishlists_enabled": false, "graphql_storefront_api_enabled": true, "shopper_consent_tracking_enabled": false, "multi_storefront_enabled": true, "storefront_limits": { "active": 1, "total_including_inactive": 1 } },
        "created_at": store.store_created.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
    });
    wire::merge(first, more)
}

pub(super) fn with_order(inner: &Inner, id: &str, f: impl FnOnce(&Order) -> Reply) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return not_found(Api::V2);
    };
    let store = inner.store.lock();
    match store.orders.get(&id) {
        Some(o) => f(o),
        None => not_found(Api::V2),
    }
}

pub(super) fn page_limit(p: &Params, api: Api, max: usize) -> Result<(usize, usize), Reply> {
    let page = match p.get("page") {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(bad_request(api, "page")),
        },
    };
    let limit = match p.get("limit") {
        None => 50,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > max => {
                return Err(match api {
                    Api::V2 => Reply::v2_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("The limit must be at most {max}."),
                    ),
                    Api::V3 => Reply::v3_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("The limit must be at most {max}."),
                    ),
                })
            }
            Ok(n) if n >= 1 => n,
            _ => return Err(bad_request(api, "limit")),
        },
    };
    Ok((page, limit))
}

/// v2 dates: RFC 2822 or ISO 8601.
pub(super) fn parse_v2_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(d.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|d| d.and_utc());
    }
    None
}

/// v3 dates: ISO 8601 or Unix seconds; a bare date gets the current time of day appended
/// (documented quirk).
pub(super) fn parse_v3_date(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|n| DateTime::from_timestamp(n, 0));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(d.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_time(now.time()).and_utc());
    }
    None
}

pub(super) fn date_filter(
    p: &Params,
    key: &str,
    api: Api,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Reply> {
    match p.get(key) {
        None => Ok(None),
        Some(s) => {
            let parsed = match api {
                Api::V2 => parse_v2_date(s),
                Api::V3 => parse_v3_date(s, now),
            };
            parsed.map(Some).ok_or_else(|| bad_request(api, key))
        }
    }
}

pub(super) fn num_filter<T: std::str::FromStr>(
    p: &Params,
    key: &str,
    api: Api,
) -> Result<Option<T>, Reply> {
    match p.get(key) {
        None => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|_| bad_request(api, key)),
    }
}

pub(super) fn id_list(p: &Params, key: &str, api: Api) -> Result<Option<Vec<u64>>, Reply> {
    match p.get(key) {
        None => Ok(None),
        Some(s) => s
            .split(',')
            .map(|x| x.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|_| bad_request(api, key)),
    }
}

pub(super) fn consignment_include(p: &Params) -> Result<Option<ConsignmentInclude>, Reply> {
    let Some(inc) = p.get("include") else {
        return Ok(None);
    };
    let mut consignments = false;
    let mut line_items = false;
    for part in inc.split(',').map(str::trim) {
        match part {
            "consignments" => consignments = true,
            "consignments.line_items" => {
                consignments = true;
                line_items = true;
            }
            "fees" | "" => {}
            _ => return Err(bad_request(Api::V2, "include")),
        }
    }
    Ok(consignments.then(|| ConsignmentInclude {
        line_items,
        object_structure: p
            .get("consignment_structure")
            .is_some_and(|s| s == "object"),
    }))
}

/// The orders a `v2/orders` listing shows, in its order (`field`, then id).
fn listed<'a>(
    store: &'a super::model::Store,
    filter: &super::reads::OrderFilter,
    field: &str,
    desc: bool,
) -> Vec<&'a Order> {
    let mut rows: Vec<&Order> = filter
        .id_bounds()
        .map(|ids| store.orders.range(ids))
        .into_iter()
        .flatten()
        .map(|(_, o)| o)
        .filter(|o| match filter.status_id {
            Some(s) => o.status_id == s,
            // Incomplete orders only show up when asked for explicitly.
            None => o.status_id != 0,
        })
        .filter(|o| filter.matches(o))
        .collect();
    rows.sort_by(|a, b| {
        let ord = match field {
            "date_modified" => a.date_modified.cmp(&b.date_modified),
            "date_created" => a.date_created.cmp(&b.date_created),
            "customer_id" => a.customer_id.cmp(&b.customer_id),
            "status_id" => a.status_id.cmp(&b.status_id),
            _ => std::cmp::Ordering::Equal,
        };
        let ord = if desc { ord.reverse() } else { ord };
        let by_id = if desc && field == "id" {
            b.id.cmp(&a.id)
        } else {
            a.id.cmp(&b.id)
        };
        ord.then(by_id)
    });
    rows
}

fn list_orders(inner: &Inner, p: &Params) -> Reply {
    let api = Api::V2;
    let now = inner.clock.now();
    let parsed = (|| -> Result<_, Reply> {
        let (page, limit) = page_limit(p, api, MAX_LIMIT)?;
        let filter = super::reads::OrderFilter::parse(p, now)?;
        let inc = consignment_include(p)?;
        let (field, desc) = match p.get("sort").map(String::as_str) {
            None => ("id", false),
            Some(s) => {
                let (f, d) = s.split_once(':').unwrap_or((s, "asc"));
                let desc = match d {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(bad_request(api, "sort")),
                };
                let f = match f {
                    "id" => "id",
                    "date_modified" => "date_modified",
                    "date_created" => "date_created",
                    "customer_id" => "customer_id",
                    "status_id" => "status_id",
                    "channel_id" => "channel_id",
                    _ => return Err(bad_request(api, "sort")),
                };
                (f, desc)
            }
        };
        Ok((page, limit, filter, inc, field, desc))
    })();
    let (page, limit, filter, inc, field, desc) = match parsed {
        Ok(x) => x,
        Err(r) => return r,
    };
    if page > 1 && inner.listing_churn.load(Ordering::Relaxed) {
        // Between two page requests a staff member edits the listing's first order: listed
        // by modification time it moves to the last page, and every order after it up a place.
        let first = listed(&inner.store.lock(), &filter, field, desc)
            .first()
            .map(|o| o.id);
        if let Some(id) = first {
            let _ = super::shopper::edit_order(
                inner,
                id,
                super::shopper::OrderEdit::StaffNote(format!(
                    "edited while page {page} was asked for"
                )),
            );
        }
    }
    let store = inner.store.lock();
    let rows = listed(&store, &filter, field, desc);
    // The page's orders are rendered after the lock is released: rendering 250 orders with
    // their consignments takes long enough to stall the shoppers writing new ones.
    let page_orders: Vec<Order> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .cloned()
        .collect();
    drop(store);
    let out: Vec<Value> = page_orders
        .iter()
        .map(|o| wire::order_json(o, inner.api_root.as_str(), inc))
        .collect();
    if out.is_empty() {
        Reply::no_content()
    } else {
        Reply::json(StatusCode::OK, &Value::Array(out))
    }
}

pub(super) fn pagination(
    total: usize,
    count: usize,
    page: usize,
    limit: usize,
    base_query: &str,
) -> Value {
    let total_pages = total.div_ceil(limit);
    let mut links = serde_json::Map::new();
    if page > 1 {
        links.insert(
            "previous".into(),
            json!(format!("?page={}&limit={limit}{base_query}", page - 1)),
        );
    }
    links.insert(
        "current".into(),
        json!(format!("?page={page}&limit={limit}{base_query}")),
    );
    if page < total_pages {
        links.insert(
            "next".into(),
            json!(format!("?page={}&limit={limit}{base_query}", page + 1)),
        );
    }
    json!({
        "total": total,
        "count": count,
        "per_page": limit,
        "current_page": page,
        "total_pages": total_pages,
        "links": links,
    })
}

pub(super) fn sort_spec(
    p: &Params,
    key_values: &[&str],
    api: Api,
) -> Result<Option<(String, bool)>, Reply> {
    match p.get("sort") {
        None => Ok(None),
        Some(s) => {
            let (f, d) = s.split_once(':').unwrap_or((s, ""));
            if !key_values.contains(&f) {
                return Err(bad_request(api, "sort"));
            }
            let desc = match (d, p.get("direction").map(String::as_str)) {
                ("desc", _) | ("", Some("desc")) => true,
                ("asc", _) | ("", Some("asc") | None) => false,
                _ => return Err(bad_request(api, "direction")),
            };
            Ok(Some((f.to_owned(), desc)))
        }
    }
}

fn list_customers(inner: &Inner, p: &Params) -> Reply {
    let api = Api::V3;
    let now = inner.clock.now();
    let parsed = (|| -> Result<_, Reply> {
        let (page, limit) = page_limit(p, api, MAX_LIMIT)?;
        let ids = id_list(p, "id:in", api)?;
        let min_dm = date_filter(p, "date_modified:min", api, now)?;
        let max_dm = date_filter(p, "date_modified:max", api, now)?;
        let min_dc = date_filter(p, "date_created:min", api, now)?;
        let max_dc = date_filter(p, "date_created:max", api, now)?;
        let sort = sort_spec(p, &["date_created", "date_modified", "last_name"], api)?;
        if let Some((_, _)) = &sort {
            if let Some(s) = p.get("sort") {
                if !s.contains(':') {
                    return Err(bad_request(api, "sort"));
                }
            }
        }
        Ok((page, limit, ids, min_dm, max_dm, min_dc, max_dc, sort))
    })();
    let (page, limit, ids, min_dm, max_dm, min_dc, max_dc, sort) = match parsed {
        Ok(x) => x,
        Err(r) => return r,
    };
    let emails: Option<Vec<String>> = p
        .get("email:in")
        .map(|s| s.split(',').map(|e| e.trim().to_lowercase()).collect());
    let mut inc = CustomerInclude::default();
    if let Some(s) = p.get("include") {
        for part in s.split(',').map(str::trim) {
            match part {
                "addresses" => inc.addresses = true,
                "attributes" => inc.attributes = true,
                "formfields" => inc.formfields = true,
                "storecredit" => inc.storecredit = true,
                _ => {}
            }
        }
    }
    let countries = super::seed::countries();
    let store = inner.store.lock();
    let mut rows: Vec<_> = store
        .customers
        .values()
        .filter(|c| ids.as_ref().is_none_or(|v| v.contains(&c.id)))
        .filter(|c| {
            emails
                .as_ref()
                .is_none_or(|v| v.contains(&c.email.to_lowercase()))
        })
        .filter(|c| min_dm.is_none_or(|d| c.date_modified >= d))
        .filter(|c| max_dm.is_none_or(|d| c.date_modified <= d))
        .filter(|c| min_dc.is_none_or(|d| c.date_created >= d))
        .filter(|c| max_dc.is_none_or(|d| c.date_created <= d))
        .collect();
    if let Some((field, desc)) = &sort {
        rows.sort_by(|a, b| {
            let ord = match field.as_str() {
                "date_created" => a.date_created.cmp(&b.date_created),
                "date_modified" => a.date_modified.cmp(&b.date_modified),
                _ => a.last_name.cmp(&b.last_name),
            };
            let ord = if *desc { ord.reverse() } else { ord };
            ord.then(a.id.cmp(&b.id))
        });
    }
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|c| {
            let k = &countries[c.country.min(countries.len() - 1)];
            wire::customer_json(c, inc, (k.iso2, k.name, k.city, k.state, k.zip))
        })
        .collect();
    let count = data.len();
    Reply::json(
        StatusCode::OK,
        &json!({ "data": data, "meta": { "pagination": pagination(total, count, page, limit, "") } }),
    )
}

fn list_products(inner: &Inner, p: &Params, single: Option<u64>) -> Reply {
    let api = Api::V3;
    let now = inner.clock.now();
    let mut inc = ProductInclude::default();
    if let Some(s) = p.get("include") {
        for part in s.split(',').map(str::trim) {
            match part {
                "variants" => inc.variants = true,
                "custom_fields" => inc.custom_fields = true,
                "images" => inc.images = true,
                "primary_image" => inc.primary_image = true,
                "options" | "modifiers" => inc.options = true,
                _ => {}
            }
        }
    }
    let store = inner.store.lock();
    let render = |prod: &super::model::Product| {
        let vs: Vec<&super::model::Variant> = prod
            .variant_ids
            .iter()
            .filter_map(|v| store.variants.get(v))
            .collect();
        wire::product_json(prod, &vs, inc, &inner.config.store_hash)
    };
    if let Some(id) = single {
        return match store.products.get(&id) {
            Some(prod) => Reply::json(StatusCode::OK, &json!({ "data": render(prod), "meta": {} })),
            None => Reply::v3_error(
                StatusCode::NOT_FOUND,
                "The requested product was not found.",
            ),
        };
    }
    let parsed = (|| -> Result<_, Reply> {
        let (page, mut limit) = page_limit(p, api, MAX_LIMIT)?;
        if inc.options {
            // With options/modifiers included, pages hold at most 10 products.
            limit = limit.min(10);
        }
        let ids = id_list(p, "id:in", api)?;
        let id_eq = num_filter::<u64>(p, "id", api)?;
        let min_dm = date_filter(p, "date_modified:min", api, now)?;
        let max_dm = date_filter(p, "date_modified:max", api, now)?;
        let sort = sort_spec(
            p,
            &[
                "id",
                "name",
                "sku",
                "price",
                "date_modified",
                "total_sold",
                "inventory_level",
            ],
            api,
        )?;
        Ok((page, limit, ids, id_eq, min_dm, max_dm, sort))
    })();
    let (page, limit, ids, id_eq, min_dm, max_dm, sort) = match parsed {
        Ok(x) => x,
        Err(r) => return r,
    };
    let sku = p.get("sku");
    let mut rows: Vec<_> = store
        .products
        .values()
        .filter(|x| ids.as_ref().is_none_or(|v| v.contains(&x.id)))
        .filter(|x| id_eq.is_none_or(|v| x.id == v))
        .filter(|x| sku.is_none_or(|s| x.sku.eq_ignore_ascii_case(s)))
        .filter(|x| min_dm.is_none_or(|d| x.date_modified >= d))
        .filter(|x| max_dm.is_none_or(|d| x.date_modified <= d))
        .collect();
    let (field, desc) = sort.unwrap_or(("id".to_owned(), false));
    rows.sort_by(|a, b| {
        let ord = match field.as_str() {
            "name" => a.name.cmp(&b.name),
            "sku" => a.sku.cmp(&b.sku),
            "price" => a.price.cmp(&b.price),
            "date_modified" => a.date_modified.cmp(&b.date_modified),
            "total_sold" => a.total_sold.cmp(&b.total_sold),
            "inventory_level" => a.inventory_level.cmp(&b.inventory_level),
            _ => a.id.cmp(&b.id),
        };
        let ord = if desc { ord.reverse() } else { ord };
        ord.then(a.id.cmp(&b.id))
    });
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(render)
        .collect();
    let count = data.len();
    Reply::json(
        StatusCode::OK,
        &json!({ "data": data, "meta": { "pagination": pagination(total, count, page, limit, "") } }),
    )
}

/// `GET v3/catalog/variants` has no date filter; unknown parameters are ignored, as the real API
/// does.
fn list_variants(inner: &Inner, p: &Params, product: Option<u64>) -> Reply {
    let api = Api::V3;
    let parsed = (|| -> Result<_, Reply> {
        let (page, limit) = page_limit(p, api, MAX_LIMIT)?;
        let ids = id_list(p, "id:in", api)?;
        let pids = id_list(p, "product_id:in", api)?;
        Ok((page, limit, ids, pids))
    })();
    let (page, limit, ids, pids) = match parsed {
        Ok(x) => x,
        Err(r) => return r,
    };
    let sku = p.get("sku");
    let store = inner.store.lock();
    if let Some(pid) = product {
        if !store.products.contains_key(&pid) {
            return Reply::v3_error(
                StatusCode::NOT_FOUND,
                "The requested product was not found.",
            );
        }
    }
    let rows: Vec<_> = store
        .variants
        .values()
        .filter(|v| product.is_none_or(|pid| v.product_id == pid))
        .filter(|v| ids.as_ref().is_none_or(|x| x.contains(&v.id)))
        .filter(|v| pids.as_ref().is_none_or(|x| x.contains(&v.product_id)))
        .filter(|v| sku.is_none_or(|s| v.sku.eq_ignore_ascii_case(s)))
        .collect();
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .filter_map(|v| {
            store
                .products
                .get(&v.product_id)
                .map(|prod| wire::variant_json(prod, v))
        })
        .collect();
    let count = data.len();
    Reply::json(
        StatusCode::OK,
        &json!({ "data": data, "meta": { "pagination": pagination(total, count, page, limit, "") } }),
    )
}

fn hook_reply(inner: &Inner, h: &Hook) -> Reply {
    Reply::json(
        StatusCode::OK,
        &json!({ "data": wire::hook_json(h, &inner.client_id, &inner.config.store_hash), "meta": {} }),
    )
}

fn list_hooks(inner: &Inner, p: &Params) -> Reply {
    let (page, limit) = match page_limit(p, Api::V3, MAX_LIMIT) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let active = match p.get("is_active").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return bad_request(Api::V3, "is_active"),
    };
    let store = inner.store.lock();
    let rows: Vec<&Hook> = store
        .hooks
        .values()
        .filter(|h| active.is_none_or(|a| h.is_active == a))
        .filter(|h| p.get("scope").is_none_or(|s| &h.scope == s))
        .filter(|h| p.get("destination").is_none_or(|d| &h.destination == d))
        .collect();
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|h| wire::hook_json(h, &inner.client_id, &inner.config.store_hash))
        .collect();
    let count = data.len();
    Reply::json(
        StatusCode::OK,
        &json!({ "data": data, "meta": { "pagination": pagination(total, count, page, limit, "") } }),
    )
}

pub(super) fn parse_json_body(
    body: Option<&Bytes>,
) -> Result<serde_json::Map<String, Value>, Reply> {
    let bytes = body.map(|b| b.as_ref()).unwrap_or_default();
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Reply::v3_error(
            StatusCode::BAD_REQUEST,
            "Input is invalid.",
        )),
    }
}

pub(super) fn unprocessable(field: &str, msg: &str) -> Reply {
    Reply::v3_invalid(
        StatusCode::UNPROCESSABLE_ENTITY,
        "JSON data is missing or invalid",
        json!({ field: msg }),
    )
}

fn valid_destination(d: &str) -> bool {
    match url::Url::parse(d) {
        Ok(u) => match u.scheme() {
            // The real service requires HTTPS on 443; the twin also takes plain HTTP to loopback
            // receivers so tests need no TLS.
            "https" => u.port().is_none_or(|p| p == 443),
            "http" => matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
            _ => false,
        },
        Err(_) => false,
    }
}

fn parse_headers(v: &Value) -> Result<Option<BTreeMap<String, String>>, Reply> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let Some(s) = v.as_str() else {
                    return Err(unprocessable("headers", "header values must be strings"));
                };
                if http::HeaderName::from_bytes(k.as_bytes()).is_err()
                    || HeaderValue::from_str(s).is_err()
                {
                    return Err(unprocessable("headers", "invalid header"));
                }
                out.insert(k.clone(), s.to_owned());
            }
            Ok(Some(out))
        }
        _ => Err(unprocessable("headers", "headers must be an object")),
    }
}

fn create_hook(inner: &Inner, body: Option<&Bytes>) -> Reply {
    let m = match parse_json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(scope) = m.get("scope").and_then(Value::as_str).map(str::to_owned) else {
        return unprocessable("scope", "error.path.missing");
    };
    let Some(destination) = m
        .get("destination")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return unprocessable("destination", "error.path.missing");
    };
    if !KNOWN_SCOPES.contains(&scope.as_str()) {
        return unprocessable("scope", "scope is not a valid webhook scope");
    }
    if !valid_destination(&destination) {
        return unprocessable(
            "destination",
            "destination must be an HTTPS URL on port 443",
        );
    }
    let is_active = match m.get("is_active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return unprocessable("is_active", "must be a boolean"),
    };
    let headers = match parse_headers(m.get("headers").unwrap_or(&Value::Null)) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let now = inner.clock.now().timestamp();
    let mut store = inner.store.lock();
    if store
        .hooks
        .values()
        .any(|h| h.scope == scope && h.destination == destination)
    {
        return unprocessable(
            "destination",
            "a webhook with this scope and destination already exists",
        );
    }
    if store.hooks.values().filter(|h| h.scope == scope).count() >= 10 {
        return unprocessable("scope", "at most 10 webhooks per scope");
    }
    let id = store.next("hook");
    let hook = Hook {
        id,
        scope,
        destination,
        is_active,
        headers,
        created_at: now,
        updated_at: now,
    };
    store.hooks.insert(id, hook.clone());
    hook_reply(inner, &hook)
}

fn get_hook(inner: &Inner, id: u64) -> Reply {
    let store = inner.store.lock();
    match store.hooks.get(&id) {
        Some(h) => hook_reply(inner, h),
        None => Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested webhook was not found.",
        ),
    }
}

fn update_hook(inner: &Inner, id: u64, body: Option<&Bytes>) -> Reply {
    let m = match parse_json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let now = inner.clock.now().timestamp();
    let mut store = inner.store.lock();
    let Some(current) = store.hooks.get(&id).cloned() else {
        return Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested webhook was not found.",
        );
    };
    let mut next = current.clone();
    let mut touched = false;
    if let Some(v) = m.get("scope") {
        let Some(s) = v.as_str().filter(|s| KNOWN_SCOPES.contains(s)) else {
            return unprocessable("scope", "scope is not a valid webhook scope");
        };
        next.scope = s.to_owned();
        touched = true;
    }
    if let Some(v) = m.get("destination") {
        let Some(d) = v.as_str().filter(|d| valid_destination(d)) else {
            return unprocessable(
                "destination",
                "destination must be an HTTPS URL on port 443",
            );
        };
        next.destination = d.to_owned();
        touched = true;
    }
    if let Some(v) = m.get("is_active") {
        let Some(b) = v.as_bool() else {
            return unprocessable("is_active", "must be a boolean");
        };
        next.is_active = b;
        touched = true;
    }
    if let Some(v) = m.get("headers") {
        next.headers = match parse_headers(v) {
            Ok(h) => h,
            Err(r) => return r,
        };
        touched = true;
    }
    if !touched {
        return unprocessable("body", "at least one field is required");
    }
    if store
        .hooks
        .values()
        .any(|h| h.id != id && h.scope == next.scope && h.destination == next.destination)
    {
        return unprocessable(
            "destination",
            "a webhook with this scope and destination already exists",
        );
    }
    next.updated_at = now;
    store.hooks.insert(id, next.clone());
    hook_reply(inner, &next)
}

fn delete_hook(inner: &Inner, id: u64) -> Reply {
    let mut store = inner.store.lock();
    match store.hooks.remove(&id) {
        Some(h) => hook_reply(inner, &h),
        None => Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested webhook was not found.",
        ),
    }
}

/// `GET v3/orders/{id}/payment_actions/refunds` (`meta: {}`) and
/// `GET v3/orders/payment_actions/refunds` (filters, paging; `meta.pagination` is *inferred*:
/// the spec's meta is an open object). Ascending refund id.
fn list_refunds(inner: &Inner, p: &Params, order: Option<u64>) -> Reply {
    let api = Api::V3;
    let parsed = (|| -> Result<_, Reply> {
        let (page, limit) = page_limit(p, api, MAX_LIMIT)?;
        let order_ids = id_list(p, "order_id:in", api)?;
        let ids = id_list(p, "id:in", api)?;
        let rfc3339 = |key: &str| -> Result<Option<DateTime<Utc>>, Reply> {
            match p.get(key) {
                None => Ok(None),
                Some(s) => DateTime::parse_from_rfc3339(s)
                    .map(|d| Some(d.with_timezone(&Utc)))
                    .map_err(|_| bad_request(api, key)),
            }
        };
        Ok((
            page,
            limit,
            order_ids,
            ids,
            rfc3339("created:min")?,
            rfc3339("created:max")?,
        ))
    })();
    let (page, limit, order_ids, ids, min_c, max_c) = match parsed {
        Ok(x) => x,
        Err(r) => return r,
    };
    let store = inner.store.lock();
    if let Some(oid) = order {
        if !store.orders.contains_key(&oid) {
            return Reply::v3_error(StatusCode::NOT_FOUND, "The requested order was not found.");
        }
    }
    let txn = p.get("transaction_id");
    let rows: Vec<&super::model::Refund> = store
        .refunds
        .values()
        .filter(|r| order.is_none_or(|o| r.order_id == o))
        .filter(|r| txn.is_none_or(|t| &r.transaction_id == t))
        .filter(|r| order.is_some() || order_ids.as_ref().is_none_or(|v| v.contains(&r.order_id)))
        .filter(|r| order.is_some() || ids.as_ref().is_none_or(|v| v.contains(&r.id)))
        .filter(|r| order.is_some() || min_c.is_none_or(|d| r.created >= d))
        .filter(|r| order.is_some() || max_c.is_none_or(|d| r.created <= d))
        .collect();
    if order.is_some() {
        let data: Vec<Value> = rows.into_iter().map(wire::refund_json).collect();
        return Reply::json(StatusCode::OK, &json!({ "data": data, "meta": {} }));
    }
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(wire::refund_json)
        .collect();
    let count = data.len();
    Reply::json(
        StatusCode::OK,
        &json!({ "data": data, "meta": { "pagination": pagination(total, count, page, limit, "") } }),
    )
}

fn get_refund(inner: &Inner, id: &str) -> Reply {
    let store = inner.store.lock();
    match id.parse::<u64>().ok().and_then(|id| store.refunds.get(&id)) {
        Some(r) => Reply::json(
            StatusCode::OK,
            &json!({ "data": wire::refund_json(r), "meta": {} }),
        ),
        None => Reply::v3_error(StatusCode::NOT_FOUND, "The requested refund was not found."),
    }
}

/// `GET v3/carts/{id}`: 404 once converted or deleted. `include` takes the documented values;
/// only `line_items.physical_items.options` changes the answer.
fn get_cart(inner: &Inner, id: &str, p: &Params) -> Reply {
    let mut options = false;
    if let Some(inc) = p.get("include") {
        for part in inc.split(',').map(str::trim) {
            match part {
                "line_items.physical_items.options" => options = true,
                "line_items.digital_items.options" | "redirect_urls" | "promotions.banners" => {}
                _ => return bad_request(Api::V3, "include"),
            }
        }
    }
    let store = inner.store.lock();
    match store.carts.get(id).filter(|c| c.live()) {
        Some(c) => Reply::json(
            StatusCode::OK,
            &json!({ "data": wire::cart_json(c, options), "meta": {} }),
        ),
        None => Reply::v3_error(StatusCode::NOT_FOUND, "Cart not found."),
    }
}

/// `GET v3/abandoned-carts/{token}` → `{data: {cart_id}}`; the token keeps resolving after the
/// cart converted (*inferred*).
fn get_abandoned_cart(inner: &Inner, token: &str) -> Reply {
    let store = inner.store.lock();
    match store.abandoned_tokens.get(token) {
        Some(cart_id) => Reply::json(
            StatusCode::OK,
            &json!({ "data": { "cart_id": cart_id }, "meta": {} }),
        ),
        None => Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested abandoned cart was not found.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_dates_accept_rfc2822_and_iso() {
        let a = parse_v2_date("Thu, 20 Apr 2017 11:32:00 -0400");
        let b = parse_v2_date("2017-04-20T11:32:00.000-04:00");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert!(parse_v2_date("yesterday").is_none());
        // A '+' that was not URL-encoded arrives as a space: rejected.
        assert!(parse_v2_date("2017-04-20T11:32:00 00:00").is_none());
    }

    #[test]
    fn v3_bare_date_gets_time_of_day_appended() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T13:14:15Z")
            .map(|d| d.with_timezone(&Utc))
            .ok();
        let Some(now) = now else { return };
        let d = parse_v3_date("2026-02-01", now);
        assert_eq!(
            d.map(|d| d.to_rfc3339()),
            Some("2026-02-01T13:14:15+00:00".to_owned())
        );
        assert_eq!(
            parse_v3_date("1700000000", now).map(|d| d.timestamp()),
            Some(1_700_000_000)
        );
    }
}
