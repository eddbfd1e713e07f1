//! The local HTTP API: loopback only, every request needs the per-install token
//! (`Authorization: Bearer <token>`, the token lives in `<data_dir>/api-token`, mode 0600).
//! It only translates: every answer comes from the application API.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/api/status` | the appliance status (queues, lanes, hooks, quota, alert) |
//! | GET | `/metrics` | Prometheus/OpenMetrics text |
//! | GET | `/api/trace?q=<email, +phone or customer id>` | a person's identity, commands and what was withheld, and why |
//! | GET | `/api/dead-letters` | every dead letter |
//! | GET | `/api/dead-letters/{id}` | one, with its frozen payload |
//! | POST | `/api/dead-letters/{id}/replay` | back to its lane, byte-identical (audited) |
//! | POST | `/api/dead-letters/{id}/discard` | given up for good (audited) |
//!
//! Errors are `{code, message}` with a stable `code`.

use std::net::SocketAddr;
use std::sync::Arc;

use bigreach_core::app::{AppApi, AppError};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the API can answer; implemented by the running appliance.
pub trait ApiBackend: Send + Sync + 'static {
    /// The status document.
    fn status_json(&self) -> Result<serde_json::Value, AppError>;
    /// Metrics in the Prometheus text format.
    fn prometheus_text(&self) -> Result<String, AppError>;
    /// The application API.
    fn app(&self) -> &AppApi;
    /// Called after an operator put commands back in the outbox (wakes delivery).
    fn outbox_changed(&self);
}

/// Who the audit log names for actions taken through this API.
const ACTOR: &str = "operator (local API)";

fn failure(error: AppError) -> Response<Full<Bytes>> {
    let status = match error.code {
        "not_found" => StatusCode::NOT_FOUND,
        "bad_request" => StatusCode::BAD_REQUEST,
        "store_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_response(status, &error)
}

fn respond<T: Serialize>(result: Result<T, AppError>) -> Response<Full<Bytes>> {
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(error) => failure(error),
    }
}

fn route(
    backend: &dyn ApiBackend,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Response<Full<Bytes>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let id = |s: &str| {
        s.parse::<u64>().map_err(|_| AppError {
            code: "bad_request",
            message: format!("{s:?} is not a command id"),
        })
    };
    match (method, segments.as_slice()) {
        (&Method::GET, ["api", "status"]) => respond(backend.status_json()),
        (&Method::GET, ["metrics"]) => match backend.prometheus_text() {
            Ok(text) => {
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                response
            }
            Err(error) => failure(error),
        },
        (&Method::GET, ["api", "dead-letters"]) => respond(backend.app().dead_letters()),
        (&Method::GET, ["api", "trace"]) => {
            let q = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            respond(backend.app().trace(&q))
        }
        (&Method::GET, ["api", "dead-letters", raw]) => {
            respond(id(raw).and_then(|id| backend.app().dead_letter(id)))
        }
        (&Method::POST, ["api", "dead-letters", raw, "replay"]) => {
            let result = id(raw).and_then(|id| backend.app().replay_dead_letter(id, ACTOR));
            if result.is_ok() {
                backend.outbox_changed();
            }
            respond(result)
        }
        (&Method::POST, ["api", "dead-letters", raw, "discard"]) => {
            respond(id(raw).and_then(|id| backend.app().discard_dead_letter(id, ACTOR)))
        }
        _ => failure(AppError {
            code: "not_found",
            message: format!("no endpoint {method} {path}"),
        }),
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Binds the API on a loopback address and serves until shutdown.
pub async fn start(
    listen: SocketAddr,
    token: String,
    backend: Arc<dyn ApiBackend>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    if !listen.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the local API listens on loopback addresses only",
        ));
    }
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let token_digest: [u8; 32] = Sha256::digest(format!("Bearer {token}").as_bytes()).into();
    let task = tokio::spawn(async move {
        // Connections are tracked so that shutdown finishes them (gracefully) before returning:
        // nothing may keep the store open after the appliance stops.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.changed() => break,
            };
            let Ok((stream, _)) = accepted else { continue };
            let backend = backend.clone();
            let mut stop = shutdown.clone();
            connections.spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let backend = backend.clone();
                    async move {
                        let presented = request
                            .headers()
                            .get(http::header::AUTHORIZATION)
                            .map(|v| Sha256::digest(v.as_bytes()))
                            .unwrap_or_default();
                        if !bool::from(presented.as_slice().ct_eq(&token_digest)) {
                            return Ok::<_, std::convert::Infallible>(json_response(
                                StatusCode::UNAUTHORIZED,
                                &AppError {
                                    code: "unauthorized",
                                    message:
                                        "send Authorization: Bearer <token from data_dir/api-token>"
                                            .into(),
                                },
                            ));
                        }
                        Ok(route(
                            backend.as_ref(),
                            request.method(),
                            request.uri().path(),
                            request.uri().query(),
                        ))
                    }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = stop.changed() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
        }
        while connections.join_next().await.is_some() {}
    });
    Ok((address, task))
}
