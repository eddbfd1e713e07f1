//! A faulty network for tests: a loopback proxy in front of a twin that forwards every request,
//! and lets the test rewrite or swallow exchanges. It is how tests break the appliance on
//! purpose without a sabotage switch in production code.

#![allow(dead_code)]

pub mod manual_clock;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use url::Url;

/// What the proxy does with one exchange.
pub enum Verdict {
    /// Forward the request and return the twin's answer.
    Forward,
    /// Do not forward; answer this (status, JSON body) instead.
    Answer(u16, String),
}

/// Decides before forwarding (given path and body).
pub type Before = dyn Fn(&str, &[u8]) -> Verdict + Send + Sync;
/// Rewrites the twin's answer (given path, request body, status, response body).
pub type After = dyn Fn(&str, &[u8], u16, &[u8]) -> Option<(u16, String)> + Send + Sync;

/// Starts the proxy; returns its base URL.
pub async fn proxy(target: Url, before: Arc<Before>, after: Arc<After>) -> Url {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (client, target, before, after) = (
                client.clone(),
                target.clone(),
                before.clone(),
                after.clone(),
            );
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (client, target, before, after) = (
                        client.clone(),
                        target.clone(),
                        before.clone(),
                        after.clone(),
                    );
                    async move {
                        let (parts, body) = request.into_parts();
                        // Bounded by `Limited` first.
                        #[allow(clippy::disallowed_methods)]
                        let body = Limited::new(body, 64 << 20)
                            .collect()
                            .await
                            .unwrap()
                            .to_bytes();
                        let path = parts.uri.path().to_owned();
                        if let Verdict::Answer(status, text) = before(&path, &body) {
                            return Ok::<_, std::convert::Infallible>(respond(status, text));
                        }
                        let url = target
                            .join(
                                parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.as_str())
                                    .unwrap_or("/")
                                    .trim_start_matches('/'),
                            )
                            .unwrap();
                        let mut forward = client
                            .request(parts.method.clone(), url)
                            .body(body.to_vec());
                        for (name, value) in &parts.headers {
                            if name != "host" && name != "content-length" {
                                forward = forward.header(name, value);
                            }
                        }
                        let answer = forward.send().await.unwrap();
                        let status = answer.status().as_u16();
                        let headers = answer.headers().clone();
                        let bytes = answer.bytes().await.unwrap();
                        if let Some((status, text)) = after(&path, &body, status, &bytes) {
                            return Ok(respond(status, text));
                        }
                        let mut response = hyper::Response::builder().status(status);
                        for (name, value) in &headers {
                            if name != "content-length" && name != "transfer-encoding" {
                                response = response.header(name, value);
                            }
                        }
                        Ok(response.body(Full::new(bytes)).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Url::parse(&format!("http://{address}/")).unwrap()
}

fn respond(status: u16, text: String) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(text)))
        .unwrap()
}

/// A fake all-success answer for a tracking batch request body.
pub fn fake_batch_success(body: &[u8]) -> String {
    let commands: serde_json::Value = serde_json::from_slice(body).unwrap();
    let results: Vec<_> = commands["commands"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| serde_json::json!({"success": true, "command_id": c["command_id"]}))
        .collect();
    serde_json::json!({"success": true, "results": results}).to_string()
}
