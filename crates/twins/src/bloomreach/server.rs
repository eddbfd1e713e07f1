//! The HTTP front: hyper 1.x on 127.0.0.1, gating (outage, rate limit, random 5xx), auth,
//! routing, latency.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bigreach_clock::SharedClock;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::catalogs::{self, ItemWrite};
use super::customers;
use super::gdpr;
use super::imports::{self, StartRequest};
use super::state::{Body, Reply, State};
use super::tracking::{self, RequestTimes};
use crate::control::FaultSwitch;

/// Largest request body the twin reads (inferred; the real limit is undocumented).
pub(crate) const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What the connection tasks share.
pub(crate) struct Core {
    pub clock: SharedClock,
    pub state: Mutex<State>,
    /// The client import runs download with (no proxy: sources are on loopback).
    pub http: reqwest::Client,
    /// Import runs in flight (for `BloomreachTwin::wait_for_import_runs`).
    pub import_runs: watch::Sender<usize>,
    /// Background import tasks, aborted at shutdown.
    pub tasks: Mutex<JoinSet<()>>,
}

impl Core {
    pub(crate) fn new(clock: SharedClock, state: State) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            clock,
            state: Mutex::new(state),
            http,
            import_runs: watch::channel(0).0,
            tasks: Mutex::new(JoinSet::new()),
        }
    }

    /// Runs an import on a background task, counted in `import_runs` until it ends.
    pub(crate) fn spawn_import(
        self: &Arc<Self>,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        /// Uncounts the run however its task ends (finished, panicked or aborted).
        struct InFlight(Arc<Core>);
        impl Drop for InFlight {
            fn drop(&mut self) {
                self.0.import_runs.send_modify(|n| *n = n.saturating_sub(1));
            }
        }
        self.import_runs.send_modify(|n| *n += 1);
        let in_flight = InFlight(self.clone());
        let mut tasks = self.tasks.lock();
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let _in_flight = in_flight;
            work.await;
        });
    }
}

/// Accepts connections until `stop` changes (or its sender is dropped).
pub(crate) async fn serve(listener: TcpListener, core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let core = core.clone();
                    connections.spawn(async move {
                        let ip = peer.ip();
                        let service = service_fn(move |req| handle(core.clone(), ip, req));
                        if let Err(error) = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!(%error, "bloomreach twin connection ended with an error");
                        }
                    });
                }
                Err(error) => tracing::warn!(%error, "bloomreach twin accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Private (Basic key:secret) or public (Token) access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Private,
    Public,
}

/// Presented credentials, before they are checked.
enum Credentials {
    None,
    Basic(String),
    Token(String),
    Unreadable,
}

fn credentials(req: &Request<Incoming>, query: &[(String, String)]) -> Credentials {
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        let Ok(header) = header.to_str() else {
            return Credentials::Unreadable;
        };
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header, ""));
        return match scheme.to_ascii_lowercase().as_str() {
            "basic" => base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .map_or(Credentials::Unreadable, Credentials::Basic),
            "token" => Credentials::Token(rest.trim().to_owned()),
            _ => Credentials::Unreadable,
        };
    }
    match query.iter().find(|(k, _)| k == "access_token") {
        Some((_, token)) => Credentials::Token(token.clone()),
        None => Credentials::None,
    }
}

fn unauthorized() -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"success": false, "errors": ["Unauthorized: missing or invalid credentials."]}),
    )
}

/// Checks credentials and the project token. Order (inferred): no credentials → 401; wrong
/// project token → 400 "Could not authenticate" (documented quirk); wrong credentials → 401;
/// public access on the Data API → 403.
fn authenticate(
    state: &State,
    creds: &Credentials,
    token: &str,
    data_api: bool,
) -> Result<Access, Reply> {
    if matches!(creds, Credentials::None) {
        return Err(unauthorized());
    }
    if token != state.config.project_token {
        return Err(Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"success": false, "error": "Could not authenticate"}),
        ));
    }
    let expected_basic = format!("{}:{}", state.config.key_id, state.config.secret);
    let access = match creds {
        Credentials::Basic(pair) if *pair == expected_basic => Access::Private,
        Credentials::Token(t) if state.config.public_token.as_deref() == Some(t.as_str()) => {
            Access::Public
        }
        _ => return Err(unauthorized()),
    };
    if data_api && access != Access::Private {
        return Err(Reply::json(
            StatusCode::FORBIDDEN,
            json!({"success": false, "errors": ["Access denied: this API key has no permission for this endpoint (private access required)."]}),
        ));
    }
    Ok(access)
}

fn percent_decode(segment: &str) -> String {
    fn hex_value(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`].
async fn read_body(body: Incoming) -> Result<Bytes, Reply> {
    let mut body = body;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            Reply::errors(StatusCode::BAD_REQUEST, "Could not read the request body.")
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY_BYTES {
                return Err(Reply::errors(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request entity too large.",
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

fn html_error(status: StatusCode) -> Reply {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    Reply::html(
        status,
        format!("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"),
    )
}

/// Outage, rate limit and random server errors, decided on arrival. `Some` means: answer this
/// and discard the request.
fn gate(state: &mut State, ip: IpAddr, now: DateTime<Utc>) -> Option<Reply> {
    if state.outage_until.is_some_and(|until| now < until) {
        state.stats.server_errors_5xx += 1;
        return Some(html_error(StatusCode::SERVICE_UNAVAILABLE));
    }
    if !state.admit(ip, now) {
        state.stats.rate_limited_429 += 1;
        let reply = Reply::json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"success": false, "errors": ["Too many requests. The request was not processed."]}),
        );
        return Some(match state.retry_after_seconds {
            Some(seconds) => reply.with_header("retry-after", seconds.to_string()),
            None => reply,
        });
    }
    let per_mille = state.server_error_per_mille;
    if per_mille > 0 && state.rng.random_range(0..1000u32) < per_mille {
        state.stats.server_errors_5xx += 1;
        return Some(match state.rng.random_range(0..4u32) {
            0 => Reply::errors(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error."),
            1 => html_error(StatusCode::BAD_GATEWAY),
            2 => html_error(StatusCode::SERVICE_UNAVAILABLE),
            _ => html_error(StatusCode::GATEWAY_TIMEOUT),
        });
    }
    None
}

fn latency(state: &mut State) -> Duration {
    let model = state.latency;
    if model.jitter.is_zero() {
        return model.base;
    }
    let jitter_nanos = u64::try_from(model.jitter.as_nanos()).unwrap_or(u64::MAX);
    model.base + Duration::from_nanos(state.rng.random_range(0..=jitter_nanos))
}

fn render(reply: Reply, request_id: &str) -> Response<Full<Bytes>> {
    let (content_type, bytes) = match reply.body {
        Body::Json(value) => (
            "application/json",
            Bytes::from(serde_json::to_vec(&value).unwrap_or_default()),
        ),
        Body::Html(text) => ("text/html", Bytes::from(text)),
    };
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = reply.status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn not_found() -> Reply {
    Reply::errors(StatusCode::NOT_FOUND, "Not found.")
}

fn method_not_allowed() -> Reply {
    Reply::errors(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
}

async fn handle(
    core: Arc<Core>,
    ip: IpAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if let Some(sdk) = super::sdk::serve(req.method(), &path) {
        return Ok(sdk);
    }
    if path.starts_with("/_twin/") {
        let method = req.method().clone();
        let body = match read_body(req.into_body()).await {
            Ok(body) => body,
            Err(reply) => return Ok(render(reply, "")),
        };
        let reply = control(&core, &method, &path, &body);
        let request_id = core.state.lock().random_hex(16);
        return Ok(render(reply, &request_id));
    }

    let arrival = core.clock.now();
    let (request_id, delay, early) = {
        let mut state = core.state.lock();
        state.stats.requests += 1;
        let request_id = state.random_hex(16);
        let delay = latency(&mut state);
        let early = gate(&mut state, ip, arrival);
        (request_id, delay, early)
    };
    let reply = match early {
        Some(reply) => reply,
        None => process(&core, req, delay).await,
    };
    if !delay.is_zero() {
        core.clock.sleep(delay).await;
    }
    Ok(render(reply, &request_id))
}

/// The twin's own endpoints (no auth, no ceiling): `GET /_twin/state` (the ground truth),
/// `GET /_twin/faults`, `PUT|POST /_twin/faults/{kind}` with a [`FaultSwitch`] body, and the
/// edits someone makes behind the connector's back: `PUT|POST
/// /_twin/catalogs/{name}/items/{item_id}` with the properties to merge, `DELETE` of the same.
/// Errors are `{"error": message}`.
fn control(core: &Core, method: &Method, path: &str, body: &[u8]) -> Reply {
    let error =
        |status: StatusCode, message: String| Reply::json(status, json!({ "error": message }));
    let segs: Vec<&str> = path.trim_start_matches("/_twin/").split('/').collect();
    let write = *method == Method::POST || *method == Method::PUT;
    match (segs.as_slice(), write) {
        (["state"], false) if *method == Method::GET => Reply::json(
            StatusCode::OK,
            serde_json::to_value(core.state.lock().truth()).unwrap_or_default(),
        ),
        (["faults"], false) if *method == Method::GET => {
            Reply::json(StatusCode::OK, super::faults_json(core))
        }
        (["faults", kind], true) => {
            let parsed = if body.is_empty() {
                serde_json::from_value::<FaultSwitch>(json!({}))
            } else {
                serde_json::from_slice::<FaultSwitch>(body)
            };
            let mut fault = match parsed {
                Ok(f) => f,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("invalid fault switch: {e}"),
                    )
                }
            };
            fault.kind = (*kind).to_owned();
            match super::switch_fault(core, &fault) {
                Ok(()) => Reply::json(
                    StatusCode::OK,
                    json!({ "kind": fault.kind, "on": fault.on, "faults": super::faults_json(core) }),
                ),
                Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
            }
        }
        (["catalogs", name, "items", item_id], true) => {
            let properties = match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(serde_json::Value::Object(properties)) => properties,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "the body must be a JSON object of the properties to set".to_owned(),
                    )
                }
            };
            let (name, item_id) = (percent_decode(name), percent_decode(item_id));
            match super::edit_catalog_item(core, &name, &item_id, properties) {
                Ok(()) => Reply::json(StatusCode::OK, json!({ "edited": item_id })),
                Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
            }
        }
        (["catalogs", name, "items", item_id], false) if *method == Method::DELETE => {
            let (name, item_id) = (percent_decode(name), percent_decode(item_id));
            match super::delete_catalog_item(core, &name, &item_id) {
                Ok(()) => Reply::json(StatusCode::OK, json!({ "deleted": item_id })),
                Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no control endpoint {method} {path}"),
        ),
    }
}

/// Which API a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `/track/v2/projects/{token}/…` (public or private access).
    Track,
    /// `/data/v2/projects/{token}/…` (private access).
    DataV2,
    /// `/data/v1/projects/{token}/…` (private access; import starts only).
    DataV1,
    /// `/imports/v1/{token}/…` (private access).
    Imports,
}

/// Splits a path into its API family, project token and the segments after the token.
fn family(segments: &[String]) -> Option<(Family, &str, &[String])> {
    match segments {
        [api, version, projects, token, rest @ ..] if projects == "projects" => {
            let family = match (api.as_str(), version.as_str()) {
                ("track", "v2") => Family::Track,
                ("data", "v2") => Family::DataV2,
                ("data", "v1") => Family::DataV1,
                _ => return None,
            };
            Some((family, token.as_str(), rest))
        }
        [api, version, token, rest @ ..] if api == "imports" && version == "v1" => {
            Some((Family::Imports, token.as_str(), rest))
        }
        _ => None,
    }
}

async fn process(core: &Arc<Core>, req: Request<Incoming>, delay: Duration) -> Reply {
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let segments: Vec<String> = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let Some((family, token, rest)) = family(&segments) else {
        return not_found();
    };
    let creds = credentials(&req, &query);
    {
        let state = core.state.lock();
        if let Err(reply) = authenticate(&state, &creds, token, family != Family::Track) {
            return reply;
        }
    }
    let method = req.method().clone();
    let body = match read_body(req.into_body()).await {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let received = core.clock.now();
    let answered = received + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
    let times = RequestTimes { received, answered };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let routed = {
        let mut state = core.state.lock();
        match family {
            Family::Track => Routed::Reply(route_track(&mut state, &method, &rest, &body, times)),
            Family::DataV2 => route_data(&mut state, &method, &rest, &query, &body, times),
            Family::DataV1 => route_data_v1(&method, &rest, &body),
            Family::Imports => route_imports(&mut state, &method, &rest, &query, &body),
        }
    };
    match routed {
        Routed::Reply(reply) => reply,
        Routed::StartImport(request) => imports::start(core, request).await,
    }
}

/// A routed request: answered under the state lock, or an import start (which may download
/// before answering, so runs outside the lock).
enum Routed {
    Reply(Reply),
    StartImport(StartRequest),
}

fn start_import(id: &str, body: &Bytes, path_key: &'static str) -> Routed {
    Routed::StartImport(StartRequest {
        import_id: id.to_owned(),
        body: body.clone(),
        path_key,
    })
}

/// `/data/v1/projects/{token}/imports/{id}/start` (documented form).
fn route_data_v1(method: &Method, rest: &[&str], body: &Bytes) -> Routed {
    match rest {
        ["imports", id, "start"] if !id.is_empty() => match *method {
            Method::POST => start_import(id, body, "path"),
            _ => Routed::Reply(method_not_allowed()),
        },
        _ => Routed::Reply(not_found()),
    }
}

/// `/imports/v1/{token}[/{id}[/run]]`: definitions, and the Magento connector's run form.
fn route_imports(
    state: &mut State,
    method: &Method,
    rest: &[&str],
    query: &[(String, String)],
    body: &Bytes,
) -> Routed {
    let reply = match rest {
        [] | [""] => match *method {
            Method::GET => imports::list(state, query),
            Method::POST => imports::create(state, body),
            _ => method_not_allowed(),
        },
        [id] => match *method {
            Method::GET => imports::get(state, id),
            Method::DELETE => imports::delete(state, id),
            _ => method_not_allowed(),
        },
        [id, "run"] if !id.is_empty() => match *method {
            Method::POST => return start_import(id, body, "path_to_overwrite"),
            _ => method_not_allowed(),
        },
        _ => not_found(),
    };
    Routed::Reply(reply)
}

fn route_track(
    state: &mut State,
    method: &Method,
    rest: &[&str],
    body: &[u8],
    times: RequestTimes,
) -> Reply {
    match (rest, method) {
        (["system", "time"], &Method::GET) => tracking::system_time(times),
        (["batch"], &Method::POST) => tracking::batch(state, body, times),
        (["customers"], &Method::POST) => tracking::single(state, "customers", body, times),
        (["customers", "events"], &Method::POST) => {
            tracking::single(state, "customers/events", body, times)
        }
        (["system", "time"] | ["batch"] | ["customers"] | ["customers", "events"], _) => {
            method_not_allowed()
        }
        _ => not_found(),
    }
}

fn route_data(
    state: &mut State,
    method: &Method,
    rest: &[&str],
    query: &[(String, String)],
    body: &Bytes,
    times: RequestTimes,
) -> Routed {
    let reply = match rest {
        ["imports", id, "start"] if !id.is_empty() => match *method {
            // The SFCC cartridge's form of the documented `/data/v1/…/start`.
            Method::POST => return start_import(id, body, "path"),
            _ => method_not_allowed(),
        },
        ["customers", "export-one"] => match *method {
            Method::POST => customers::export_one(state, body),
            _ => method_not_allowed(),
        },
        ["customers", "attributes"] => match *method {
            Method::POST => customers::attributes(state, body),
            _ => method_not_allowed(),
        },
        ["customers", "events"] => match *method {
            Method::POST => customers::events(state, body),
            _ => method_not_allowed(),
        },
        ["customers", "export"] => match *method {
            Method::POST => customers::export(state, body),
            _ => method_not_allowed(),
        },
        ["customers", "anonymize"] => match *method {
            Method::POST => gdpr::anonymize(state, body, times),
            _ => method_not_allowed(),
        },
        ["customers", "anonymize_bulk"] => match *method {
            Method::POST => gdpr::anonymize_bulk(state, body, times),
            _ => method_not_allowed(),
        },
        ["catalogs"] => match *method {
            Method::GET => catalogs::list(state),
            Method::POST => catalogs::create(state, body),
            _ => method_not_allowed(),
        },
        ["catalogs", id] if !id.is_empty() => match *method {
            Method::GET => catalogs::get(state, id),
            Method::PUT => catalogs::update(state, id, body),
            Method::DELETE => catalogs::delete(state, id),
            _ => method_not_allowed(),
        },
        ["catalogs", id, "items"] => match *method {
            Method::GET => catalogs::items(state, id, query),
            Method::PUT => catalogs::bulk_write(state, id, body, ItemWrite::Replace),
            Method::DELETE => catalogs::delete_all_items(state, id),
            _ => method_not_allowed(),
        },
        ["catalogs", id, "items", "partial-update"] if *method == Method::POST => {
            catalogs::bulk_write(state, id, body, ItemWrite::Partial)
        }
        ["catalogs", id, "items", "bulk-delete"] if *method == Method::DELETE => {
            catalogs::bulk_delete(state, id, body)
        }
        ["catalogs", id, "items", item_id] if !item_id.is_empty() => match *method {
            Method::PUT => catalogs::single_write(state, id, item_id, body, ItemWrite::Replace),
            Method::DELETE => catalogs::delete_item(state, id, item_id),
            _ => method_not_allowed(),
        },
        ["catalogs", id, "items", item_id, "partial-update"] if !item_id.is_empty() => {
            match *method {
                Method::POST => {
                    catalogs::single_write(state, id, item_id, body, ItemWrite::Partial)
                }
                _ => method_not_allowed(),
            }
        }
        _ => not_found(),
    };
    Routed::Reply(reply)
}
