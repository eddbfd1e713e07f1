//! A tiny scripted HTTP server on 127.0.0.1:0 and a driver that advances a `ManualClock`
//! whenever the code under test sleeps on it. No test touches the internet or sleeps.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpListener;

/// A canned response.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Canned {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A request as the server saw it, with the manual clock's time of arrival.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub raw_query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: DateTime<Utc>,
}

impl Recorded {
    /// Query pairs, percent-decoded once.
    pub fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.raw_query.as_deref().unwrap_or("").as_bytes())
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect()
    }

    pub fn query_value(&self, key: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

const MAX_TEST_BODY: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct State {
    responses: VecDeque<Canned>,
    requests: Vec<Recorded>,
}

pub struct MockServer {
    pub base: url::Url,
    state: Arc<Mutex<State>>,
}

impl MockServer {
    pub async fn start(clock: Arc<ManualClock>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                let clock = clock.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let state = state.clone();
                        let clock = clock.clone();
                        async move { Ok::<_, Infallible>(respond(request, &state, &clock).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let base = url::Url::parse(&format!("http://{address}/")).expect("url");
        Self { base, state }
    }

    pub fn push(&self, canned: Canned) {
        self.state.lock().responses.push_back(canned);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().requests.clone()
    }
}

async fn respond(
    request: Request<Incoming>,
    state: &Mutex<State>,
    clock: &ManualClock,
) -> Response<Full<Bytes>> {
    let (parts, mut incoming) = request.into_parts();
    let mut body = Vec::new();
    while let Some(Ok(frame)) = incoming.frame().await {
        if let Ok(data) = frame.into_data() {
            if body.len() + data.len() > MAX_TEST_BODY {
                break;
            }
            body.extend_from_slice(&data);
        }
    }
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        raw_query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    value.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        body,
        at: clock.now(),
    };
    let canned = {
        let mut state = state.lock();
        state.requests.push(recorded);
        state.responses.pop_front()
    };
    let canned =
        canned.unwrap_or_else(|| Canned::json(599, r#"{"error":"no canned response left"}"#));
    let mut response = Response::builder().status(canned.status);
    for (name, value) in &canned.headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from(canned.body)))
        .expect("response")
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// Runs `future` to completion, advancing `clock` by `step` whenever something sleeps on it.
pub async fn drive<F>(clock: &Arc<ManualClock>, step: Duration, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = tokio::spawn(future);
    let mut spins: u64 = 0;
    while !task.is_finished() {
        if clock.sleepers() > 0 {
            clock.advance(step);
        }
        tokio::task::yield_now().await;
        spins += 1;
        assert!(spins < 50_000_000, "the future never completed");
    }
    task.await.expect("task panicked")
}
