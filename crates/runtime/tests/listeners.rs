//! Both listeners under hostile connections: slow headers and slow bodies are cut off; at the
//! connection cap the oldest connection between requests is closed to serve a new one, while a
//! connection serving a request is never closed for room; and closed connections are released
//! at once (the tracker is back to 0 after many open/close cycles).
//!
//! Network timeouts run on real time (hyper's timer is tokio's), so these tests use short ones.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, SystemClock};
use bigreach_core::app::{AppApi, AppError};
use bigreach_core::store::Store;
use bigreach_runtime::api::{self, ApiBackend};
use bigreach_runtime::inbox_writer::InboxWriter;
use bigreach_runtime::listener::{ListenerLimits, ListenerMetrics};
use bigreach_runtime::metrics::Metrics;
use bigreach_runtime::receiver::{
    self, NumericStoreId, ReceiverSettings, StoreIdentity, SECRET_HEADER,
};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

const SECRET: &str = "s3cret-webhook";
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

fn limits(max_connections: usize) -> ListenerLimits {
    ListenerLimits {
        max_connections,
        header_read_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
    }
}

struct Receiver {
    _dir: tempfile::TempDir,
    store: Store,
    metrics: Arc<Metrics>,
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn receiver(limits: ListenerLimits) -> Receiver {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
    let metrics = Arc::new(Metrics::default());
    let writer = InboxWriter::start(store.clone(), || {});
    let (shutdown, rx) = watch::channel(false);
    let (address, task) = receiver::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ReceiverSettings {
            secret: SecretString::from(SECRET.to_owned()),
            max_body_bytes: 64 * 1024,
            paths: vec!["/webhooks".into()],
            limits,
            store: StoreIdentity {
                hash: "abc123".into(),
                store_id: NumericStoreId::unknown(),
            },
        },
        writer,
        metrics.clone(),
        SystemClock::shared(),
        rx,
    )
    .await
    .unwrap();
    Receiver {
        _dir: dir,
        store,
        metrics,
        address,
        shutdown,
        task,
    }
}

struct Backend(AppApi);

impl ApiBackend for Backend {
    fn app(&self) -> &AppApi {
        &self.0
    }
    fn prometheus_text(&self) -> Result<String, AppError> {
        Ok(String::new())
    }
}

struct Api {
    _dir: tempfile::TempDir,
    connections: Arc<ListenerMetrics>,
    address: SocketAddr,
    _shutdown: watch::Sender<bool>,
}

async fn api(limits: ListenerLimits) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
    let connections = Arc::new(ListenerMetrics::default());
    let (shutdown, rx) = watch::channel(false);
    let (address, _task) = api::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        TOKEN.to_owned(),
        Arc::new(Backend(AppApi::new(store, SystemClock::shared()))),
        limits,
        connections.clone(),
        SystemClock::shared(),
        rx,
    )
    .await
    .unwrap();
    Api {
        _dir: dir,
        connections,
        address,
        _shutdown: shutdown,
    }
}

fn order_hook(hash: &str) -> String {
    serde_json::json!({
        "scope": "store/order/statusUpdated",
        "store_id": "1025646",
        "data": {"type": "order", "id": 5021},
        "hash": hash,
        "created_at": 1741011941,
        "producer": "stores/abc123"
    })
    .to_string()
}

fn webhook_request(hash: &str) -> String {
    let body = order_hook(hash);
    format!(
        "POST /webhooks HTTP/1.1\r\nhost: x\r\n{SECRET_HEADER}: {SECRET}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// An API request (its `Host` must name the listener: the API refuses any other).
fn status_request(address: SocketAddr) -> String {
    format!("GET /api/dead-letters HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {TOKEN}\r\nconnection: close\r\n\r\n")
}

/// Sends one raw request and reads the whole answer (the server closes after it).
async fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    read_to_close(stream).await
}

/// Reads until the server closes, failing the test if that takes over 5 s.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection within 5 s")
        .unwrap_or_default();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits (up to 5 s) until `condition` holds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        SystemClock.sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn receiver_closes_slow_headers_and_slow_bodies_and_still_serves() {
    let r = receiver(limits(64)).await;
    // Half a request head, never finished.
    let mut slow_head = TcpStream::connect(r.address).await.unwrap();
    slow_head
        .write_all(b"POST /webhooks HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // A connection that sends nothing at all (idle).
    let mut idle = TcpStream::connect(r.address).await.unwrap();
    // A whole head, then only part of the declared body.
    let mut slow_body = TcpStream::connect(r.address).await.unwrap();
    slow_body
        .write_all(
            format!("POST /webhooks HTTP/1.1\r\nhost: x\r\n{SECRET_HEADER}: {SECRET}\r\ncontent-length: 500\r\n\r\n{{\"scope\"")
                .as_bytes(),
        )
        .await
        .unwrap();
    read_to_close(&mut slow_head).await;
    read_to_close(&mut idle).await;
    let answer = read_to_close(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    eventually("every connection released", || {
        r.metrics.webhook_listener.open_now() == 0
    })
    .await;
    let mut legit = TcpStream::connect(r.address).await.unwrap();
    let answer = exchange(&mut legit, &webhook_request("after-slow")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(r.store.pending_inbox(10).unwrap().len(), 1);
}

#[tokio::test]
async fn api_closes_slow_headers() {
    let a = api(limits(8)).await;
    let mut slow_head = TcpStream::connect(a.address).await.unwrap();
    slow_head
        .write_all(b"GET /api/status HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(a.address).await.unwrap();
    read_to_close(&mut slow_head).await;
    read_to_close(&mut idle).await;
    eventually("every connection released", || {
        a.connections.open_now() == 0
    })
    .await;
    let mut legit = TcpStream::connect(a.address).await.unwrap();
    let answer = exchange(&mut legit, &status_request(a.address)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A whole request head and only part of its declared body: the handler is reading it.
fn half_a_webhook() -> &'static [u8] {
    b"POST /webhooks HTTP/1.1\r\nhost: x\r\nx-bigreach-secret: s3cret-webhook\r\ncontent-length: 500\r\n\r\n{\"scope\""
}

#[tokio::test]
async fn at_the_cap_the_receiver_closes_the_oldest_idle_connection_to_serve_a_webhook() {
    const N: usize = 4;
    let r = receiver(ListenerLimits {
        header_read_timeout: Duration::from_secs(30),
        ..limits(N)
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(TcpStream::connect(r.address).await.unwrap());
        let open = held.len() as u64;
        eventually("the connection is open", || {
            r.metrics.webhook_listener.open_now() == open
        })
        .await;
    }
    // Connection N+1 carries a webhook: the oldest idle connection is closed for it, at once
    // (the idle ones would otherwise hold their slots for the 30 s header timeout).
    let mut extra = TcpStream::connect(r.address).await.unwrap();
    let answer = exchange(&mut extra, &webhook_request("n-plus-one")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(r.store.pending_inbox(10).unwrap().len(), 1);
    let listener = &r.metrics.webhook_listener;
    assert_eq!(listener.closed_for_room.load(Ordering::Relaxed), 1);
    assert!(listener.at_capacity.load(Ordering::Relaxed) >= 1);
    // The oldest was closed; the newer ones are still open.
    assert_eq!(read_to_close(&mut held[0]).await, "");
    let mut byte = [0u8; 1];
    let still_open = tokio::time::timeout(Duration::from_millis(50), held[1].read(&mut byte)).await;
    assert!(still_open.is_err(), "the second-oldest stays open");
}

#[tokio::test]
async fn a_connection_serving_a_request_is_never_closed_for_room() {
    const N: usize = 2;
    let r = receiver(ListenerLimits {
        header_read_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        ..limits(N)
    })
    .await;
    // Both slots serve a request (their bodies are still arriving).
    let mut busy = Vec::new();
    for _ in 0..N {
        let mut stream = TcpStream::connect(r.address).await.unwrap();
        stream.write_all(half_a_webhook()).await.unwrap();
        busy.push(stream);
    }
    eventually("N connections open", || {
        r.metrics.webhook_listener.open_now() == N as u64
    })
    .await;
    let mut extra = TcpStream::connect(r.address).await.unwrap();
    extra
        .write_all(webhook_request("n-plus-one").as_bytes())
        .await
        .unwrap();
    eventually("the cap is reached", || {
        r.metrics
            .webhook_listener
            .at_capacity
            .load(Ordering::Relaxed)
            >= 1
    })
    .await;
    SystemClock.sleep(Duration::from_millis(100)).await;
    assert_eq!(
        r.metrics
            .webhook_listener
            .closed_for_room
            .load(Ordering::Relaxed),
        0
    );
    assert_eq!(r.metrics.webhook_listener.open_now(), N as u64);
    assert_eq!(
        r.store.pending_inbox(10).unwrap().len(),
        0,
        "not served yet"
    );
    // One request ends (its client gives up): N+1 is served.
    busy.pop();
    let answer = read_to_close(&mut extra).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(r.store.pending_inbox(10).unwrap().len(), 1);
}

#[tokio::test]
async fn at_the_cap_the_api_closes_the_oldest_idle_connection() {
    const N: usize = 2;
    let a = api(ListenerLimits {
        header_read_timeout: Duration::from_secs(30),
        ..limits(N)
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(TcpStream::connect(a.address).await.unwrap());
        let open = held.len() as u64;
        eventually("the connection is open", || {
            a.connections.open_now() == open
        })
        .await;
    }
    let mut extra = TcpStream::connect(a.address).await.unwrap();
    let answer = exchange(&mut extra, &status_request(a.address)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(a.connections.closed_for_room.load(Ordering::Relaxed), 1);
    assert_eq!(read_to_close(&mut held[0]).await, "");
}

#[tokio::test]
async fn closed_connections_are_released_at_once_on_both_listeners() {
    let r = receiver(limits(64)).await;
    let a = api(limits(64)).await;
    for round in 0..300 {
        // Opened and closed without a request, and opened for one request.
        drop(TcpStream::connect(r.address).await.unwrap());
        let mut stream = TcpStream::connect(r.address).await.unwrap();
        let answer = exchange(&mut stream, &webhook_request(&format!("cycle-{round}"))).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        drop(TcpStream::connect(a.address).await.unwrap());
        let mut stream = TcpStream::connect(a.address).await.unwrap();
        let answer = exchange(&mut stream, &status_request(a.address)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    eventually("the receiver's tracker is empty", || {
        r.metrics.webhook_listener.open_now() == 0
    })
    .await;
    eventually("the API's tracker is empty", || {
        a.connections.open_now() == 0
    })
    .await;
    assert_eq!(
        r.metrics.webhook_listener.accepted.load(Ordering::Relaxed),
        600
    );
    assert_eq!(a.connections.accepted.load(Ordering::Relaxed), 600);
    assert_eq!(r.store.pending_inbox(1000).unwrap().len(), 300);
}

#[tokio::test]
async fn shutdown_waits_for_an_in_flight_request_then_releases_everything() {
    let r = receiver(limits(64)).await;
    let mut stream = TcpStream::connect(r.address).await.unwrap();
    let request = webhook_request("in-flight");
    let (head, tail) = request.split_at(request.len() - 5);
    stream.write_all(head.as_bytes()).await.unwrap();
    eventually("the connection is open", || {
        r.metrics.webhook_listener.open_now() == 1
    })
    .await;
    r.shutdown.send(true).unwrap();
    stream.write_all(tail.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), r.task)
        .await
        .expect("the receiver stops")
        .unwrap();
    assert_eq!(r.metrics.webhook_listener.open_now(), 0);
    assert_eq!(r.store.pending_inbox(10).unwrap().len(), 1);
}
