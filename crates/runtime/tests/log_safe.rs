//! Outside input reaches the log escaped: a webhook scope holding a newline, an ANSI escape, a
//! NUL and U+202E is logged as one line with those characters shown as escapes.
//!
//! Its own test binary: the log subscriber is process-wide, and no other test may race it.

use std::net::SocketAddr;
use std::sync::Arc;

use bigreach_clock::SystemClock;
use bigreach_core::store::Store;
use bigreach_runtime::inbox_writer::InboxWriter;
use bigreach_runtime::listener::ListenerLimits;
use bigreach_runtime::metrics::Metrics;
use bigreach_runtime::receiver::{
    self, NumericStoreId, ReceiverSettings, StoreIdentity, SECRET_HEADER,
};
use secrecy::SecretString;
use tokio::sync::watch;

/// A log writer into memory.
#[derive(Clone, Default)]
struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_forged_scope_reaches_the_log_escaped() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
    let (_shutdown, rx) = watch::channel(false);
    let (address, _task): (SocketAddr, _) = receiver::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ReceiverSettings {
            secret: SecretString::from("s3cret-webhook".to_owned()),
            max_body_bytes: 64 * 1024,
            paths: vec!["/webhooks".into()],
            limits: ListenerLimits::with_max_connections(16),
            store: StoreIdentity {
                hash: "abc123".into(),
                store_id: NumericStoreId::unknown(),
            },
        },
        InboxWriter::start(store.clone(), || {}),
        Arc::new(Metrics::default()),
        SystemClock::shared(),
        rx,
    )
    .await
    .unwrap();
    // JSON escapes: the scope holds a newline, an ANSI escape, a NUL and U+202E.
    let forged = r"store/order/created\n2026-12-01T00:00:00Z  INFO bigreach: forged line\u001b[31m\u0000\u202e";
    let body = format!(
        r#"{{"scope":"{forged}","store_id":"1025646","data":{{"type":"order","id":7}},"hash":"forged","created_at":1741011941,"producer":"stores/abc123"}}"#
    );
    let status = reqwest::Client::new()
        .post(format!("http://{address}/webhooks"))
        .header(SECRET_HEADER, "s3cret-webhook")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert_eq!(store.pending_inbox(10).unwrap().len(), 1);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("forged line")).collect();
    assert_eq!(lines.len(), 1, "one line, not a forged second one: {text}");
    assert!(!text.contains("\n2026-12-01"), "{text}");
    assert!(
        lines[0].contains(
            r"store/order/created\n2026-12-01T00:00:00Z  INFO bigreach: forged line\u{1b}[31m\0\u{202e}"
        ),
        "{text}"
    );
    for raw in ['\u{1b}', '\0', '\u{202e}'] {
        assert!(!text.contains(raw), "{raw:?} reached the log raw: {text:?}");
    }
}
