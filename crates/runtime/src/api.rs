//! The local HTTP API and the UI it serves: loopback only, every `/api/*` and `/metrics`
//! request needs the per-install token (`Authorization: Bearer <token>`, the token lives in
//! `<data_dir>/api-token`, mode 0600). It only translates: every answer is a typed answer of
//! the application API ([`bigreach_core::app`]), routed with axum.
//!
//! | method | path | operation |
//! |---|---|---|
//! | GET | `/`, any other path outside `/api/` | the built UI (`ui/dist`, [`ui`]): its files, else `index.html` (the UI routes itself); no token; 503 with how to build it when it is not built |
//! | GET | `/api/status` | the appliance status (queues, lanes, hooks, quota, parked, alerts) |
//! | GET | `/api/events` | `text/event-stream`: `event: status` with the status JSON once a second ([`events`]) |
//! | GET | `/metrics` | Prometheus/OpenMetrics text |
//! | GET | `/api/trace?q=<email, +phone or customer id>` | a person's identity, commands and what was withheld, and why |
//! | GET | `/api/dead-letters` | every dead letter |
//! | GET | `/api/dead-letters/{id}` | one, with its frozen payload |
//! | POST | `/api/dead-letters/{id}/replay` | back to its lane, byte-identical (audited) |
//! | POST | `/api/dead-letters/{id}/discard` | given up for good (audited) |
//! | GET | `/api/set-aside` | every fetch set aside because it failed for good, with the reason |
//! | POST | `/api/set-aside/{key}/replay` | back into the fetch queue (audited); `key` as listed, e.g. `product:77` (percent-encoded) |
//! | POST | `/api/set-aside/{key}/discard` | given up for good (audited) |
//! | GET | `/api/catalog/drift` | the last catalog comparison's report |
//! | POST | `/api/catalog/drift[?repair=true]` | compare the catalogs now; with `repair`, enqueue the undoing writes (audited) |
//! | GET | `/api/audit/exports/{file_name}` | download a bundle `audit_export` wrote into `<data_dir>/exports/` (a plain `*.zip` name, as an attachment) |
//! | POST | `/api/call` | any [`Operation`] as JSON (`{"op": "trace", "query": "…"}`): the one dispatcher the UI's typed client uses |
//! | POST | `/api/call` `{"op": "preflight"}` | the go-live preflight (optionally `storefront` URLs and `sdk_url`), audited as `preflight.run` |
//!
//! Errors are `{code, message}`; the HTTP status comes from the code in one match
//! ([`http_status`]). Before any route, [`guard`] applies the loopback hardening (a `Host`
//! allowlist against DNS rebinding, `Origin` and `Sec-Fetch-Site` checks, JSON-only writes, a
//! strict CSP and the other security headers on every answer; no CORS headers, ever).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bigreach_clock::SharedClock;
use bigreach_core::app::{AppApi, AppError, Code, Operation, ReconcileRequest};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::listener::{self, ListenerLimits, ListenerMetrics};

pub mod events;
pub mod guard;
pub mod ui;

/// What the API needs from the running appliance.
pub trait ApiBackend: Send + Sync + 'static {
    /// The application API.
    fn app(&self) -> &AppApi;
    /// Metrics in the Prometheus text format.
    fn prometheus_text(&self) -> Result<String, AppError>;
    /// The UI's files: the built `ui/dist` unless the host serves its own.
    fn ui(&self) -> &dyn ui::UiAssets {
        &ui::BuiltUi
    }
}

/// Who the audit log names for actions taken through this API.
const ACTOR: &str = "operator (local API)";

/// The HTTP status for each error code, in one exhaustive match.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::BadRequest => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unauthorized => StatusCode::UNAUTHORIZED,
        Code::NotRunning | Code::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Upstream => StatusCode::BAD_GATEWAY,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // A cutover operation refused in the stage's current state; nothing changed.
        Code::AtLastStage
        | Code::AtFirstStage
        | Code::PreflightMissing
        | Code::PreflightStale
        | Code::PreflightFailed
        | Code::PlanMoved
        | Code::StageHeld
        | Code::NotHeld
        | Code::StageClosed => StatusCode::CONFLICT,
        // The job runs already: asking again changes nothing.
        Code::AlreadyRunning => StatusCode::CONFLICT,
    }
}

/// An [`AppError`] as an HTTP answer.
struct Failure(AppError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (http_status(self.0.code), Json(self.0)).into_response()
    }
}

type Backend = Arc<dyn ApiBackend>;

/// Runs one operation off the async threads (store reads and writes block).
async fn perform(backend: Backend, operation: Operation) -> Response {
    let app = backend.app().clone();
    match tokio::task::spawn_blocking(move || app.call(operation, ACTOR)).await {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(error)) => Failure(error).into_response(),
        Err(error) => Failure(AppError::new(
            Code::Internal,
            format!("the operation's task failed: {error}"),
        ))
        .into_response(),
    }
}

/// `POST /api/reconcile` with `{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD", "repair": bool}`.
async fn reconcile(State(backend): State<Backend>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<ReconcileRequest>(&body) {
        Ok(request) => perform(backend, Operation::Reconcile(request)).await,
        Err(error) => Failure(AppError::new(
            Code::BadRequest,
            format!(
                "the body must be {{\"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\", \"repair\": false}}: {error}"
            ),
        ))
        .into_response(),
    }
}

fn command_id(raw: &str) -> Result<u64, Failure> {
    raw.parse().map_err(|_| {
        Failure(AppError::new(
            Code::BadRequest,
            format!("{raw:?} is not a command id (a positive whole number)"),
        ))
    })
}

async fn status(State(backend): State<Backend>) -> Response {
    perform(backend, Operation::Status).await
}

async fn trace(State(backend): State<Backend>, RawQuery(raw): RawQuery) -> Response {
    let query = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "q")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    perform(backend, Operation::Trace { query }).await
}

async fn dead_letters(State(backend): State<Backend>) -> Response {
    perform(backend, Operation::DeadLetters).await
}

async fn dead_letter(State(backend): State<Backend>, Path(raw): Path<String>) -> Response {
    match command_id(&raw) {
        Ok(id) => perform(backend, Operation::DeadLetter { id }).await,
        Err(failure) => failure.into_response(),
    }
}

async fn replay(State(backend): State<Backend>, Path(raw): Path<String>) -> Response {
    match command_id(&raw) {
        Ok(id) => perform(backend, Operation::ReplayDeadLetter { id }).await,
        Err(failure) => failure.into_response(),
    }
}

async fn discard(State(backend): State<Backend>, Path(raw): Path<String>) -> Response {
    match command_id(&raw) {
        Ok(id) => perform(backend, Operation::DiscardDeadLetter { id }).await,
        Err(failure) => failure.into_response(),
    }
}

async fn set_aside_fetches(State(backend): State<Backend>) -> Response {
    perform(backend, Operation::SetAsideFetches).await
}

async fn replay_set_aside(State(backend): State<Backend>, Path(key): Path<String>) -> Response {
    perform(backend, Operation::ReplaySetAsideFetch { key }).await
}

async fn discard_set_aside(State(backend): State<Backend>, Path(key): Path<String>) -> Response {
    perform(backend, Operation::DiscardSetAsideFetch { key }).await
}

async fn last_catalog_drift(State(backend): State<Backend>) -> Response {
    perform(backend, Operation::LastCatalogDrift).await
}

async fn catalog_drift(State(backend): State<Backend>, RawQuery(raw): RawQuery) -> Response {
    let repair = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .any(|(key, value)| key == "repair" && value != "false" && value != "0");
    perform(backend, Operation::CatalogDrift { repair }).await
}

/// Largest operation body accepted by `POST /api/call`.
const MAX_CALL_BODY: usize = 1024 * 1024;

async fn call(
    State(backend): State<Backend>,
    Extension(BodyTimeout(timeout)): Extension<BodyTimeout>,
    request: Request,
) -> Response {
    let read = axum::body::to_bytes(request.into_body(), MAX_CALL_BODY);
    let body: Bytes = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            return Failure(AppError::new(
                Code::BadRequest,
                format!("the body could not be read ({error}); send at most {MAX_CALL_BODY} bytes"),
            ))
            .into_response()
        }
        Err(_) => {
            return Failure(AppError::new(
                Code::BadRequest,
                format!("the body did not arrive within {} s", timeout.as_secs_f64()),
            ))
            .into_response()
        }
    };
    match serde_json::from_slice::<Operation>(&body) {
        Ok(operation) => perform(backend, operation).await,
        Err(error) => Failure(AppError::new(
            Code::BadRequest,
            format!("the body is not an operation ({error}); send e.g. {{\"op\": \"status\"}}"),
        ))
        .into_response(),
    }
}

async fn metrics(State(backend): State<Backend>) -> Response {
    match backend.prometheus_text() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            text,
        )
            .into_response(),
        Err(error) => Failure(error).into_response(),
    }
}

async fn no_endpoint(request: Request) -> Response {
    Failure(AppError::new(
        Code::NotFound,
        format!("no endpoint {} {}", request.method(), request.uri().path()),
    ))
    .into_response()
}

/// Everything no route took: the UI's files (outside `/api/`), else no endpoint.
async fn fallback(State(backend): State<Backend>, request: Request) -> Response {
    if guard::protected(request.uri().path()) {
        return no_endpoint(request).await;
    }
    match ui::answer(backend.ui(), &request) {
        Some(response) => response,
        None => no_endpoint(request).await,
    }
}

/// What the event stream needs besides the backend.
#[derive(Clone)]
struct Events {
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
}

async fn events(State(backend): State<Backend>, Extension(events): Extension<Events>) -> Response {
    events::answer(backend.app().clone(), ACTOR, events.clock, events.shutdown)
}

/// `GET /api/audit/exports/{file_name}`: an exported bundle, as an attachment.
async fn audit_export_file(
    State(backend): State<Backend>,
    Path(file_name): Path<String>,
) -> Response {
    if !export_name(&file_name) {
        return Failure(AppError::new(
            Code::BadRequest,
            format!(
                "{:?} is not an export's file name (letters, digits, . _ - and .zip; list them with {{\"op\": \"audit_exports\"}})",
                crate::log_safe::log_safe(&file_name).to_string()
            ),
        ))
        .into_response();
    }
    let app = backend.app().clone();
    let name = file_name.clone();
    let path = match tokio::task::spawn_blocking(move || app.audit_export_path(&name)).await {
        Ok(Ok(path)) => path,
        Ok(Err(error)) => return Failure(error).into_response(),
        Err(error) => {
            return Failure(AppError::new(
                Code::Internal,
                format!("finding the export failed: {error}"),
            ))
            .into_response()
        }
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/zip"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
                        .expect("a checked file name is a header value"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => Failure(AppError::new(
            Code::StoreUnavailable,
            format!("reading the export {file_name}: {error}"),
        ))
        .into_response(),
    }
}

/// A plain bundle name: `^[A-Za-z0-9._-]+\.zip$`, not starting with a dot (so never `..`).
fn export_name(name: &str) -> bool {
    name.len() > ".zip".len()
        && name.len() <= 255
        && name.ends_with(".zip")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// How long a handler waits for a request body.
#[derive(Debug, Clone, Copy)]
struct BodyTimeout(Duration);

/// What [`router`] needs besides the token and the backend.
pub struct RouterSettings {
    /// The listener's bound address (its port makes the `Host` allowlist).
    pub address: SocketAddr,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// The appliance's clock (the event stream's pace).
    pub clock: SharedClock,
    /// Ends the event streams when the appliance stops.
    pub shutdown: watch::Receiver<bool>,
}

/// The API's routes and the UI over `backend`, behind [`guard`] (the `Host` allowlist, and for
/// `/api/*` and `/metrics` the origin, token and content-type checks).
pub fn router(token: &str, backend: Backend, settings: RouterSettings) -> Router {
    let guard = Arc::new(guard::Guard::new(settings.address, token));
    Router::new()
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/trace", get(trace))
        .route("/api/dead-letters", get(dead_letters))
        .route("/api/dead-letters/{id}", get(dead_letter))
        .route("/api/dead-letters/{id}/replay", post(replay))
        .route("/api/dead-letters/{id}/discard", post(discard))
        .route("/api/set-aside", get(set_aside_fetches))
        .route("/api/set-aside/{key}/replay", post(replay_set_aside))
        .route("/api/set-aside/{key}/discard", post(discard_set_aside))
        .route("/api/reconcile", post(reconcile))
        .route(
            "/api/catalog/drift",
            get(last_catalog_drift).post(catalog_drift),
        )
        .route("/api/audit/exports/{file_name}", get(audit_export_file))
        .route("/api/call", post(call))
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .method_not_allowed_fallback(no_endpoint)
        .with_state(backend)
        .layer(Extension(BodyTimeout(settings.body_timeout)))
        .layer(Extension(Events {
            clock: settings.clock,
            shutdown: settings.shutdown,
        }))
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
}

/// Binds the API on a loopback address and serves until shutdown (see [`serve`]).
pub async fn start(
    listen: SocketAddr,
    token: String,
    backend: Backend,
    limits: ListenerLimits,
    connections: Arc<ListenerMetrics>,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    loopback_only(listen)?;
    serve(
        TcpListener::bind(listen).await?,
        token,
        backend,
        limits,
        connections,
        clock,
        shutdown,
    )
}

/// Serves the API on an already bound loopback `listener` until shutdown, within `limits`
/// (the shared accept loop, [`listener::serve`]). When the returned task ends, every
/// connection is closed (nothing may keep the store open after the appliance stops).
pub fn serve(
    listener: TcpListener,
    token: String,
    backend: Backend,
    limits: ListenerLimits,
    connections: Arc<ListenerMetrics>,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let address = listener.local_addr()?;
    loopback_only(address)?;
    let app = router(
        &token,
        backend,
        RouterSettings {
            address,
            body_timeout: limits.body_timeout,
            clock: clock.clone(),
            shutdown: shutdown.clone(),
        },
    );
    let task = listener::serve(
        "api",
        listener,
        limits,
        connections,
        clock,
        move || TowerToHyperService::new(app.clone()),
        shutdown,
    );
    Ok((address, task))
}

fn loopback_only(address: SocketAddr) -> std::io::Result<()> {
    if address.ip().is_loopback() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the local API listens on loopback addresses only",
        ))
    }
}
