//! The UI on the local API's listener and its loopback hardening: the `Host` allowlist, origin
//! and JSON-only writes, the CSP and security headers, the UI's files without the token (and
//! the SPA fallback), the status event stream on a manual clock, the export download; and
//! `bigreach serve --twins --json` printing a line whose URL answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock, SharedClock, SystemClock};
use bigreach_core::app::audit::AuditContext;
use bigreach_core::app::status::Live;
use bigreach_core::app::{AppApi, AppError, LiveFigures};
use bigreach_core::cutover::Stage;
use bigreach_core::store::Store;
use bigreach_runtime::api::ui::{MemoryUi, UiAssets};
use bigreach_runtime::api::{self, ApiBackend};
use bigreach_runtime::listener::{ListenerLimits, ListenerMetrics};
use tokio::sync::watch;

const TOKEN: &str = "test-token-0123456789abcdef";
const INDEX: &str = "<!doctype html><html><head><script type=\"module\" src=\"/assets/app-1a2b.js\"></script></head><body></body></html>";

struct Backend {
    app: AppApi,
    ui: MemoryUi,
}

impl ApiBackend for Backend {
    fn app(&self) -> &AppApi {
        &self.app
    }
    fn prometheus_text(&self) -> Result<String, AppError> {
        Ok(String::new())
    }
    fn ui(&self) -> &dyn UiAssets {
        &self.ui
    }
}

/// The live figures of an appliance that does nothing.
struct Idle;

impl LiveFigures for Idle {
    fn live(&self) -> Live {
        Live {
            counters: Default::default(),
            in_flight: 0,
            poll_passes: 0,
            hooks: None,
            bigcommerce_quota: Default::default(),
            bloomreach_requests_per_second: 0,
            webhook_address: SocketAddr::from(([127, 0, 0, 1], 1)),
            api_address: SocketAddr::from(([127, 0, 0, 1], 2)),
            parked: Vec::new(),
            starting: Vec::new(),
            stage: Stage::Connect,
            purchase_latencies_ms: Vec::new(),
        }
    }
}

struct Server {
    dir: tempfile::TempDir,
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

async fn server(clock: SharedClock) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
    let app = AppApi::running(
        store,
        clock.clone(),
        Arc::new(Idle),
        300_000,
        Arc::new(|| {}),
    )
    .with_audit(AuditContext {
        data_dir: dir.path().to_owned(),
        secrets: Vec::new(),
    });
    let ui = MemoryUi::new([
        ("index.html", INDEX),
        ("assets/app-1a2b.js", "console.log('bigreach')"),
    ]);
    let (shutdown, rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let (address, task) = api::serve(
        listener,
        TOKEN.to_owned(),
        Arc::new(Backend { app, ui }),
        ListenerLimits::with_max_connections(16),
        Arc::new(ListenerMetrics::default()),
        clock,
        rx,
    )
    .unwrap();
    Server {
        dir,
        address,
        shutdown,
        task,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn a_foreign_host_is_refused_before_routing() {
    let s = server(SystemClock::shared()).await;
    for path in ["/", "/api/status", "/assets/app-1a2b.js"] {
        let answer = client()
            .get(s.url(path))
            .header("host", "evil.example")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{path}");
        let error: serde_json::Value = answer.json().await.unwrap();
        assert!(
            error["message"].as_str().unwrap().contains("Host"),
            "{error}"
        );
    }
    let ok = client()
        .get(s.url("/"))
        .header("host", format!("localhost:{}", s.address.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn writes_need_our_origin_and_json() {
    let s = server(SystemClock::shared()).await;
    let call = |origin: Option<&str>, content_type: Option<&str>| {
        let mut request = client()
            .post(s.url("/api/call"))
            .bearer_auth(TOKEN)
            .body(r#"{"op": "dead_letters"}"#);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let json = Some("application/json");
    let foreign = call(Some("http://evil.example"), json).await.unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert_eq!(call(None, None).await.unwrap().status(), 415);
    assert_eq!(call(None, Some("text/plain")).await.unwrap().status(), 415);
    // The CLI (no Origin) and the UI (its own origin).
    assert_eq!(call(None, json).await.unwrap().status(), 200);
    let own = format!("http://127.0.0.1:{}", s.address.port());
    assert_eq!(call(Some(&own), json).await.unwrap().status(), 200);
    let cross = client()
        .post(s.url("/api/call"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("sec-fetch-site", "cross-site")
        .body(r#"{"op": "dead_letters"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
}

#[tokio::test]
async fn the_ui_needs_no_token_and_the_api_does() {
    let s = server(SystemClock::shared()).await;
    let index = client().get(s.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let headers = index.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    let body = index.text().await.unwrap();
    assert_eq!(body, INDEX);
    assert!(!body.contains(TOKEN));

    let script = client()
        .get(s.url("/assets/app-1a2b.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    // The app's own route falls back to index.html.
    let route = client().get(s.url("/wizard/stage")).send().await.unwrap();
    assert_eq!(route.status(), 200);
    assert_eq!(route.text().await.unwrap(), INDEX);
    // A missing hashed file is not HTML.
    assert_eq!(
        client()
            .get(s.url("/assets/gone-0000.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // The API: 401 without the token, its own 404 with it.
    assert_eq!(
        client()
            .get(s.url("/api/status"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let unknown = client()
        .get(s.url("/api/nothing-here"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.headers()["content-type"], "application/json");
}

/// Reads from `answer` until a whole `event: status` frame arrived; its data as JSON.
async fn next_status(answer: &mut reqwest::Response, buffer: &mut String) -> serde_json::Value {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(rest) = frame.strip_prefix("event: status\ndata: ") {
                return serde_json::from_str(rest.trim_end()).unwrap();
            }
            assert!(!frame.starts_with("event: error"), "{frame}");
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), answer.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream is still open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn the_event_stream_sends_the_status_every_second_of_the_clock() {
    let clock = ManualClock::new(chrono::Utc::now());
    let s = server(clock.clone()).await;
    assert_eq!(
        client()
            .get(s.url("/api/events"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let mut answer = client()
        .get(s.url("/api/events"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = next_status(&mut answer, &mut buffer).await;
    assert!(first["store"].is_object(), "{first}");
    let first_at = first["at"].as_str().unwrap().to_owned();
    // Nothing more until the clock moves a second.
    SystemClock.sleep(Duration::from_millis(200)).await;
    assert!(!buffer.contains("event: status"));
    clock.advance(Duration::from_secs(1));
    let second = next_status(&mut answer, &mut buffer).await;
    assert_ne!(second["at"].as_str().unwrap(), first_at);
    // Shutting down ends the stream, and the server with it.
    s.shutdown.send(true).unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while answer.chunk().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the stream ended at shutdown");
    tokio::time::timeout(Duration::from_secs(10), s.task)
        .await
        .expect("the server stopped")
        .unwrap();
}

#[tokio::test]
async fn an_export_downloads_by_plain_name_only() {
    let s = server(SystemClock::shared()).await;
    let exports = s.dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(exports.join("bigreach-audit-1.zip"), b"PK\x03\x04bundle").unwrap();
    std::fs::write(s.dir.path().join("secret.zip"), b"not an export").unwrap();
    let get = |path: &str| client().get(s.url(path)).bearer_auth(TOKEN).send();
    let ok = get("/api/audit/exports/bigreach-audit-1.zip")
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "application/zip");
    assert_eq!(
        ok.headers()["content-disposition"],
        "attachment; filename=\"bigreach-audit-1.zip\""
    );
    assert_eq!(&ok.bytes().await.unwrap()[..], b"PK\x03\x04bundle");
    for path in [
        "/api/audit/exports/..%2Fsecret.zip",
        "/api/audit/exports/%2E%2E%2Fsecret.zip",
        "/api/audit/exports/..%5Csecret.zip",
        "/api/audit/exports/bigreach.redb",
        "/api/audit/exports/.zip",
    ] {
        assert_eq!(get(path).await.unwrap().status(), 400, "{path}");
    }
    assert_eq!(
        get("/api/audit/exports/missing.zip")
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client()
            .get(s.url("/api/audit/exports/bigreach-audit-1.zip"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn serve_twins_json_prints_a_line_whose_url_answers() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bigreach"))
        .args(["serve", "--twins", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        }),
    )
    .await
    .expect("ready within 60 s")
    .unwrap()
    .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    let api = ready["api"].as_str().unwrap();
    let token = ready["token"].as_str().unwrap();
    assert_eq!(
        ready["url"].as_str().unwrap(),
        format!("{api}/#token={token}")
    );
    // The page answers without the token (the UI, or how to build it), the API with it.
    let page = client()
        .get(ready["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        matches!(page.status().as_u16(), 200 | 503),
        "{}",
        page.status()
    );
    let status = client()
        .get(format!("{api}/api/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let stage = client()
        .post(format!("{api}/api/call"))
        .bearer_auth(token)
        .json(&serde_json::json!({"op": "stage"}))
        .send()
        .await
        .unwrap();
    let stage: serde_json::Value = stage.json().await.unwrap();
    assert_eq!(stage["stage"], "connect", "{stage}");
    let twin = client()
        .get(format!(
            "{}state",
            ready["bigcommerce_control"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(twin.status(), 200);
    let data_dir = std::path::PathBuf::from(ready["data_dir"].as_str().unwrap());
    assert!(data_dir.join("bigreach.toml").is_file());
    // SIGTERM stops it cleanly and removes the temporary data directory.
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("stopped within 30 s")
    .unwrap()
    .unwrap();
    assert!(exit.success(), "{exit}");
    assert!(!data_dir.exists());
}
