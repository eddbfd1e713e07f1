//! The local HTTP API: loopback only, every request needs the per-install token
//! (`Authorization: Bearer <token>`, the token lives in `<data_dir>/api-token`, mode 0600).
//! It only translates: every answer comes from the application API.

use std::net::SocketAddr;
use std::sync::Arc;

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
    fn status_json(&self) -> Result<serde_json::Value, ApiFailure>;
}

/// An error for the UI: a stable code plus a message.
#[derive(Debug, Clone, Serialize)]
pub struct ApiFailure {
    /// Stable machine-readable code, e.g. `store_unavailable`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
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
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.changed() => break,
            };
            let Ok((stream, _)) = accepted else { continue };
            let backend = backend.clone();
            tokio::spawn(async move {
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
                                &ApiFailure {
                                    code: "unauthorized",
                                    message:
                                        "send Authorization: Bearer <token from data_dir/api-token>"
                                            .into(),
                                },
                            ));
                        }
                        let response = match (request.method(), request.uri().path()) {
                            (&Method::GET, "/api/status") => match backend.status_json() {
                                Ok(status) => json_response(StatusCode::OK, &status),
                                Err(failure) => {
                                    json_response(StatusCode::INTERNAL_SERVER_ERROR, &failure)
                                }
                            },
                            _ => json_response(
                                StatusCode::NOT_FOUND,
                                &ApiFailure {
                                    code: "not_found",
                                    message: "unknown endpoint".into(),
                                },
                            ),
                        };
                        Ok(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((address, task))
}
