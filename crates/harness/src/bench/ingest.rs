//! `bigreach bench ingest`: the webhook receiver with the real store and group commit, against
//! the same receiver with the store disabled ([`DiscardingInbox`], defined here: the product has
//! no inbox that skips the store), at 64 concurrent keep-alive senders on loopback, in
//! alternating rounds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bigreach_clock::SystemClock;
use bigreach_core::model::InboxEntry;
use bigreach_core::store::{Appended, Store};
use bigreach_runtime::inbox_writer::{InboxWriteError, InboxWriter};
use bigreach_runtime::listener::ListenerLimits;
use bigreach_runtime::metrics::Metrics;
use bigreach_runtime::receiver::{
    self, Inbox, NumericStoreId, ReceiverSettings, StoreIdentity, SECRET_HEADER,
};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::figures::{median, mix, percentile, round1, round3, thousands};
use super::report::{cores, Outcome, Target};
use super::{io, BenchError};

const INGEST_SENDERS: usize = 64;
const INGEST_ROUNDS: usize = 3;
const INGEST_WARMUP: Duration = Duration::from_secs(1);
const INGEST_MEASURE: Duration = Duration::from_secs(5);
const INGEST_MIN_RATE: f64 = 20_000.0;
const INGEST_MIN_RATIO: f64 = 0.5;
const WEBHOOK_SECRET: &str = "bench-webhook-secret-0123456789";

/// An inbox without a store, the "no store" baseline: every entry is answered
/// `Appended::Stored(n)` at once, with `n` counting up from 1, and then dropped. It breaks the
/// [`Inbox`] durability contract on purpose (nothing is durable, no duplicate is recognised), so
/// it lives here and must never serve real webhooks.
#[derive(Clone, Default)]
struct DiscardingInbox {
    next: Arc<AtomicU64>,
}

impl Inbox for DiscardingInbox {
    async fn append(&self, entry: InboxEntry) -> Result<Appended, InboxWriteError> {
        drop(entry);
        Ok(Appended::Stored(
            self.next.fetch_add(1, Ordering::Relaxed) + 1,
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum IngestMode {
    /// The real store with group commit.
    Durable,
    /// The same receiver with the store disabled.
    NoStore,
}

impl IngestMode {
    fn label(self) -> &'static str {
        match self {
            IngestMode::Durable => "durable",
            IngestMode::NoStore => "no store",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct IngestRound {
    mode: IngestMode,
    round: usize,
    /// Acknowledged (200) webhooks in the measured window.
    acknowledged: u64,
    webhooks_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Answers other than 200 (whole run).
    failures: u64,
    /// 200 answers over the whole round, warm-up included.
    acknowledged_total: u64,
    /// Inbox entries in the store after the round (durable mode): must equal
    /// `acknowledged_total`.
    stored: Option<u64>,
}

#[derive(Default)]
struct SenderTally {
    latencies_us: Vec<u32>,
    acknowledged_total: u64,
    failures: u64,
}

/// Latency of one 4 KiB write plus `fdatasync` in a temporary directory (where the rounds'
/// stores live), 200 times: (p50 ms, p99 ms). A durable group commit costs at least this.
async fn fsync_probe() -> Result<(f64, f64), BenchError> {
    tokio::task::spawn_blocking(|| {
        use std::io::Write;
        let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
        let mut file = std::fs::File::create(dir.path().join("fsync-probe"))
            .map_err(io("creating the fsync probe file"))?;
        let block = [0u8; 4096];
        let mut times: Vec<u32> = Vec::with_capacity(200);
        for _ in 0..200 {
            let t = Instant::now();
            file.write_all(&block)
                .and_then(|()| file.sync_data())
                .map_err(io("writing the fsync probe"))?;
            times.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
        times.sort_unstable();
        let ms = |us: u32| round3(f64::from(us) / 1000.0);
        Ok((ms(percentile(&times, 50)), ms(percentile(&times, 99))))
    })
    .await
    .map_err(|e| BenchError::Run(format!("the fsync probe panicked: {e}")))?
}

/// Runs the benchmark.
pub(super) async fn run() -> Result<Outcome, BenchError> {
    let (fsync_p50, fsync_p99) = fsync_probe().await?;
    let mut rounds = Vec::new();
    for round in 1..=INGEST_ROUNDS {
        // Alternate so that both modes see the same machine conditions.
        for mode in [IngestMode::Durable, IngestMode::NoStore] {
            rounds.push(ingest_round(mode, round).await?);
        }
    }
    let figures_of = |mode: IngestMode| {
        let of: Vec<&IngestRound> = rounds.iter().filter(|r| r.mode == mode).collect();
        let rate = median(&of.iter().map(|r| r.webhooks_per_s).collect::<Vec<_>>());
        let p50 = median(&of.iter().map(|r| r.p50_ms).collect::<Vec<_>>());
        let p99 = median(&of.iter().map(|r| r.p99_ms).collect::<Vec<_>>());
        (rate, p50, p99)
    };
    let (durable_rate, durable_p50, durable_p99) = figures_of(IngestMode::Durable);
    let (bare_rate, bare_p50, bare_p99) = figures_of(IngestMode::NoStore);
    let ratio = if bare_rate > 0.0 {
        durable_rate / bare_rate
    } else {
        0.0
    };
    let round_ratios: Vec<f64> = (1..=INGEST_ROUNDS)
        .filter_map(|n| {
            let rate = |mode| {
                rounds
                    .iter()
                    .find(|r| r.round == n && r.mode == mode)
                    .map(|r| r.webhooks_per_s)
            };
            let (d, b) = (rate(IngestMode::Durable)?, rate(IngestMode::NoStore)?);
            (b > 0.0).then(|| round3(d / b))
        })
        .collect();
    let lost: Vec<String> = rounds
        .iter()
        .filter(|r| r.stored.is_some_and(|s| s != r.acknowledged_total))
        .map(|r| {
            format!(
                "round {}: {} acknowledged but {} stored",
                r.round,
                r.acknowledged_total,
                r.stored.unwrap_or(0)
            )
        })
        .collect();

    let mut table = vec![
        format!(
            "BigReach bench ingest: {INGEST_SENDERS} concurrent keep-alive senders on loopback, {INGEST_ROUNDS} rounds x {} s per mode (+{} s warm-up each), modes alternating",
            INGEST_MEASURE.as_secs(),
            INGEST_WARMUP.as_secs()
        ),
        format!(
            "  {:<9} {:>5} {:>12} {:>8} {:>8} {:>8} {:>10} {:>10}",
            "mode", "round", "webhooks/s", "p50 ms", "p99 ms", "max ms", "acked", "stored"
        ),
    ];
    for r in &rounds {
        table.push(format!(
            "  {:<9} {:>5} {:>12} {:>8.2} {:>8.2} {:>8.2} {:>10} {:>10}",
            r.mode.label(),
            r.round,
            thousands(r.webhooks_per_s.round() as u64),
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            thousands(r.acknowledged_total),
            r.stored.map_or_else(|| "-".to_owned(), thousands),
        ));
    }
    table.push(format!(
        "  median    durable {}/s (p50 {durable_p50:.2} ms, p99 {durable_p99:.2} ms); no store {}/s (p50 {bare_p50:.2} ms, p99 {bare_p99:.2} ms)",
        thousands(durable_rate.round() as u64),
        thousands(bare_rate.round() as u64),
    ));
    table.push(format!(
        "  disk      4 KiB write + fdatasync: p50 {fsync_p50:.2} ms, p99 {fsync_p99:.2} ms; with {INGEST_SENDERS} senders a commit holds at most {INGEST_SENDERS} webhooks, so durable throughput <= {INGEST_SENDERS} / commit time (e.g. {}/s at the p50 sync alone)",
        thousands((INGEST_SENDERS as f64 / (fsync_p50.max(0.001) / 1000.0)).round() as u64)
    ));
    table.push(format!(
        "  ratio     durable / no store = {ratio:.2} (per round: {})",
        round_ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let targets = vec![
        Target::new(
            "durable throughput",
            "≥ 20,000 webhooks/s",
            format!("{}/s", thousands(durable_rate.round() as u64)),
            durable_rate >= INGEST_MIN_RATE,
        ),
        Target::new(
            "durable / no-store throughput",
            "≥ 0.50",
            format!("{ratio:.2}"),
            ratio >= INGEST_MIN_RATIO,
        ),
        Target::new(
            "every acknowledged webhook stored",
            "acked = stored in each durable round",
            if lost.is_empty() {
                "yes".to_owned()
            } else {
                lost.join("; ")
            },
            lost.is_empty(),
        ),
    ];
    let notes = vec![
        format!(
            "the load generator runs in the same process and shares the {} cores with the receiver and the inbox writer thread; it is a minimal HTTP/1.1 client (one request in flight per connection, no pipelining), like wrk",
            cores()
        ),
        "durable = receiver + group-commit InboxWriter + redb (Durability::Immediate), acknowledged only after the commit holding the webhook; no store = the same receiver with a discarding inbox, which answers at once (no writer thread, no redb)".to_owned(),
        "each webhook is a BigCommerce envelope (~230 bytes, mixed order/customer/sku/cart scopes) with a unique hash; a fresh store per round".to_owned(),
        "figures are medians of the rounds; the machine is noisy, so compare the ratio within one run".to_owned(),
    ];
    let figures = json!({
        "senders": INGEST_SENDERS,
        "rounds_per_mode": INGEST_ROUNDS,
        "measure_s": INGEST_MEASURE.as_secs(),
        "warmup_s": INGEST_WARMUP.as_secs(),
        "durable": {
            "webhooks_per_s": durable_rate.round(),
            "p50_ms": durable_p50,
            "p99_ms": durable_p99,
        },
        "no_store": {
            "webhooks_per_s": bare_rate.round(),
            "p50_ms": bare_p50,
            "p99_ms": bare_p99,
        },
        "ratio": round3(ratio),
        "round_ratios": round_ratios,
        "fsync_4k_p50_ms": fsync_p50,
        "fsync_4k_p99_ms": fsync_p99,
        "rounds": rounds,
    });
    Ok(Outcome {
        table,
        figures,
        targets,
        notes,
    })
}

/// The bench's receiver on a loopback port, storing into `inbox`.
async fn start_receiver(
    inbox: impl Inbox,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    receiver::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ReceiverSettings {
            secret: SecretString::from(WEBHOOK_SECRET.to_owned()),
            max_body_bytes: 256 * 1024,
            paths: vec!["/webhooks".to_owned()],
            limits: ListenerLimits::with_max_connections(4096),
            store: StoreIdentity {
                hash: "demo42".to_owned(),
                store_id: NumericStoreId::known("1001042"),
            },
        },
        inbox,
        Arc::new(Metrics::default()),
        SystemClock::shared(),
        shutdown,
    )
    .await
}

async fn ingest_round(mode: IngestMode, round: usize) -> Result<IngestRound, BenchError> {
    let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    let store = match mode {
        IngestMode::Durable => Some(Store::open(&dir.path().join("bench.redb"))?),
        IngestMode::NoStore => None,
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (address, server) = match &store {
        Some(store) => start_receiver(InboxWriter::start(store.clone(), || {}), shutdown_rx).await,
        None => start_receiver(DiscardingInbox::default(), shutdown_rx).await,
    }
    .map_err(io("binding the webhook receiver"))?;

    let start = Instant::now();
    let measure_from = start + INGEST_WARMUP;
    let end = measure_from + INGEST_MEASURE;
    let sequence = Arc::new(AtomicU64::new(
        (round as u64) << 40 | u64::from(mode == IngestMode::Durable) << 39,
    ));
    let senders: Vec<_> = (0..INGEST_SENDERS)
        .map(|_| {
            let sequence = sequence.clone();
            tokio::spawn(async move { send_webhooks(address, measure_from, end, sequence).await })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut acknowledged_total = 0;
    let mut failures = 0;
    for sender in senders {
        let tally = sender
            .await
            .map_err(|e| BenchError::Run(format!("a load sender panicked: {e}")))??;
        latencies.extend(tally.latencies_us);
        acknowledged_total += tally.acknowledged_total;
        failures += tally.failures;
    }
    let _ = shutdown.send(true);
    let _ = server.await;
    let stored = match &store {
        Some(store) => Some(store.counts()?.inbox_total),
        None => None,
    };
    if latencies.is_empty() {
        return Err(BenchError::Run(format!(
            "no webhook was acknowledged in the {} round {round}",
            mode.label()
        )));
    }
    latencies.sort_unstable();
    let ms = |us: u32| round3(f64::from(us) / 1000.0);
    Ok(IngestRound {
        mode,
        round,
        acknowledged: latencies.len() as u64,
        webhooks_per_s: round1(latencies.len() as f64 / INGEST_MEASURE.as_secs_f64()),
        p50_ms: ms(percentile(&latencies, 50)),
        p99_ms: ms(percentile(&latencies, 99)),
        max_ms: ms(latencies.last().copied().unwrap_or(0)),
        failures,
        acknowledged_total,
        stored,
    })
}

/// One keep-alive connection posting webhooks back to back until `end`. Latencies are kept for
/// answers that arrive in `[measure_from, end)`.
async fn send_webhooks(
    address: SocketAddr,
    measure_from: Instant,
    end: Instant,
    sequence: Arc<AtomicU64>,
) -> Result<SenderTally, BenchError> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(io("connecting to the receiver"))?;
    stream
        .set_nodelay(true)
        .map_err(io("setting TCP_NODELAY"))?;
    let mut tally = SenderTally {
        latencies_us: Vec::with_capacity(200_000),
        ..SenderTally::default()
    };
    let mut request = Vec::with_capacity(1024);
    let mut response = Vec::with_capacity(1024);
    loop {
        if Instant::now() >= end {
            break;
        }
        let n = sequence.fetch_add(1, Ordering::Relaxed);
        request.clear();
        webhook_request(&mut request, address, n);
        let sent = Instant::now();
        stream
            .write_all(&request)
            .await
            .map_err(io("sending a webhook"))?;
        let status = read_response(&mut stream, &mut response).await?;
        let done = Instant::now();
        if status != 200 {
            tally.failures += 1;
            continue;
        }
        tally.acknowledged_total += 1;
        if done >= measure_from && done < end {
            let us = u32::try_from(done.duration_since(sent).as_micros()).unwrap_or(u32::MAX);
            tally.latencies_us.push(us);
        }
    }
    Ok(tally)
}

/// A BigCommerce webhook delivery as raw HTTP/1.1, with a unique `hash`.
fn webhook_request(out: &mut Vec<u8>, address: SocketAddr, n: u64) {
    let id = 100_000 + mix(n) % 900_000;
    let created_at = 1_767_225_600 + (n % 86_400);
    let (scope, data) = match n % 10 {
        0..=3 => (
            "store/order/statusUpdated",
            format!(
                r#"{{"type":"order","id":{id},"status":{{"previous_status_id":0,"new_status_id":11}}}}"#
            ),
        ),
        4 | 5 => (
            "store/order/created",
            format!(r#"{{"type":"order","id":{id}}}"#),
        ),
        6 => (
            "store/customer/updated",
            format!(r#"{{"type":"customer","id":{}}}"#, id % 50_000),
        ),
        7 | 8 => (
            "store/sku/inventory/order/updated",
            format!(
                r#"{{"type":"sku","id":{id},"inventory":{{"product_id":{},"method":"relative","value":-1,"variant_id":{id}}}}}"#,
                id % 5_000
            ),
        ),
        _ => (
            "store/cart/updated",
            format!(
                r#"{{"type":"cart","id":"{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}"}}"#,
                mix(n) as u32,
                mix(n) >> 48,
                mix(n) >> 52,
                mix(n) & 0xfff,
                mix(n ^ 0x00C0_FFEE) & 0xFFFF_FFFF_FFFF
            ),
        ),
    };
    let body = format!(
        r#"{{"created_at":{created_at},"store_id":"1001042","producer":"stores/demo42","scope":"{scope}","hash":"{:016x}{:016x}{:08x}","data":{data}}}"#,
        mix(n),
        mix(n ^ 0x5EED),
        n as u32
    );
    out.extend_from_slice(
        format!(
            "POST /webhooks HTTP/1.1\r\nhost: {address}\r\nuser-agent: BigCommerce-Webhooks\r\ncontent-type: application/json\r\naccept-encoding: gzip\r\n{SECRET_HEADER}: {WEBHOOK_SECRET}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
}

/// Reads one HTTP/1.1 response (status line, headers, `content-length` body); returns the
/// status code.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, BenchError> {
    buf.clear();
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or_else(|| BenchError::Run("the receiver sent a malformed response".into()))?;
            let body_len = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = head_end + 4 + body_len;
            while buf.len() < total {
                let n = stream
                    .read(&mut chunk)
                    .await
                    .map_err(io("reading a response"))?;
                if n == 0 {
                    return Err(BenchError::Run("the receiver closed a connection".into()));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(io("reading a response"))?;
        if n == 0 {
            return Err(BenchError::Run("the receiver closed a connection".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_requests_parse_as_envelopes() {
        let address = SocketAddr::from(([127, 0, 0, 1], 8080));
        for n in 0..20 {
            let mut out = Vec::new();
            webhook_request(&mut out, address, n);
            let text = String::from_utf8(out).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("content-length: {}", body.len())));
            let envelope: bigreach_bigcommerce::WebhookEnvelope =
                serde_json::from_str(body).unwrap();
            assert_eq!(envelope.hash.len(), 40);
            assert!(!envelope.scope.is_empty());
        }
    }
}
