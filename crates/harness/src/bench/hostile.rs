//! `bigreach bench hostile`: `bigreach serve` as a child process on loopback (both twins
//! in-process), under hostile traffic to its webhook port:
//!
//! 1. 200,000 TCP connection open/close cycles (half send nothing, half a bad request head)
//!    from concurrent client tasks; the child's RSS (`/proc/<pid>/status` `VmRSS`) before and
//!    after;
//! 2. 2,000 idle connections and 300 slow-header connections (a partial request head, then one
//!    more header line a second) held open while legitimate webhooks (valid secret, an envelope
//!    for the configured store) are posted at a steady rate, each on a new connection as
//!    BigCommerce delivers them: their ack latency, how many were refused or failed, and how many
//!    attack connections the server closed within the run;
//! 3. the same attack with the child started under a file limit of 1,024 (`prlimit`, else
//!    `sh -c 'ulimit -n 1024; exec …'`).
//!
//! The child is this very binary (`std::env::current_exe`), started with `serve --config` and
//! a written `bigreach.toml` whose secrets are `env:` references.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bigreach_clock::{SharedClock, SystemClock};
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use super::figures::{percentile, round1, thousands};
use super::report::{Outcome, Target};
use super::{io, twin_plan, BenchError};
use crate::plan::StorePlan;
use crate::twins::{credentials, Twins};

const CYCLES: u64 = 200_000;
const CYCLE_TASKS: u64 = 32;
const WARM_UP_CYCLES: u64 = 2_000;
const IDLE_CONNECTIONS: usize = 2_000;
const SLOW_CONNECTIONS: usize = 300;
const ATTACK_SECS: u64 = 20;
const LEGIT_EVERY: Duration = Duration::from_millis(50);
const LEGIT_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const FILE_LIMIT: u32 = 1_024;
const RSS_GROWTH_LIMIT_KB: u64 = 10 * 1024;
const P99_LIMIT_MS: u64 = 100;
const MAX_CONNECTIONS: usize = 512;
const SECRET_HEADER: &str = "x-bigreach-secret";

const ENV_BC_TOKEN: &str = "BIGREACH_HOSTILE_BC_TOKEN";
const ENV_BR_SECRET: &str = "BIGREACH_HOSTILE_BR_SECRET";
const ENV_WEBHOOK_SECRET: &str = "BIGREACH_HOSTILE_WEBHOOK_SECRET";

/// Runs the benchmark.
pub(super) async fn run() -> Result<Outcome, BenchError> {
    let clock: SharedClock = SystemClock::shared();
    let plan = twin_plan(
        17,
        StorePlan {
            customers: 10,
            products: 3,
            max_variants_per_product: 2,
            historical_orders: 20,
            history_days: 10,
            guest_share_per_mille: 300,
            phone_only_guest_per_mille: 0,
            currencies: vec!["USD".to_owned()],
        },
        "enterprise",
    );
    let twins = Twins::start(&plan, clock.clone()).await?;
    let result = with_twins(&twins, &clock).await;
    twins.shutdown().await;
    result
}

/// The `bigreach serve` child; killed when dropped.
struct Serve {
    child: Child,
    webhook: SocketAddr,
    log: PathBuf,
}

impl Serve {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_kb(&self) -> Result<u64, BenchError> {
        let path = format!("/proc/{}/status", self.pid());
        let text = std::fs::read_to_string(&path).map_err(io(&format!("reading {path}")))?;
        vm_rss_kb(&text).ok_or_else(|| BenchError::Run(format!("no VmRSS in {path}")))
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The child's soft file limit, as `/proc/<pid>/limits` shows it.
    fn file_limit(&self) -> Option<String> {
        let text = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).ok()?;
        soft_file_limit(&text)
    }
}

/// `VmRSS` in KB from the text of `/proc/<pid>/status`.
fn vm_rss_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// The soft limit of open files from the text of `/proc/<pid>/limits`.
fn soft_file_limit(limits: &str) -> Option<String> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3).map(str::to_owned)
}

/// Whether attack connection `i` of `total` is a slow-header one: exactly `slow` of them,
/// spread evenly among the idle ones.
fn is_slow(i: usize, total: usize, slow: usize) -> bool {
    (i + 1) * slow / total > i * slow / total
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, BenchError> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(io("binding a loopback port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("reading a loopback port"))?
        .port())
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Writes a config for the twins with fresh ports and starts `bigreach serve` on it.
fn start_serve(
    twins: &Twins,
    dir: &Path,
    name: &str,
    file_limit: Option<u32>,
) -> Result<Serve, BenchError> {
    let webhook = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let data_dir = dir.join("data");
    let config_text = format!(
        r#"version = 1
data_dir = {data_dir}

[bigcommerce]
store_hash = {store_hash}
api_root = {api_root}
access_token = "env:{ENV_BC_TOKEN}"
poll_interval_secs = 600

[bloomreach]
base_url = {base_url}
project_token = {project_token}
key_id = {key_id}
secret = "env:{ENV_BR_SECRET}"
catalog_name = "bigreach_products"

[webhooks]
listen = "{webhook}"
public_url = "http://{webhook}/webhooks"
secret = "env:{ENV_WEBHOOK_SECRET}"
max_connections = {MAX_CONNECTIONS}

[api]
listen = "{api}"
"#,
        data_dir = toml_str(&data_dir.display().to_string()),
        store_hash = toml_str(credentials::STORE_HASH),
        api_root = toml_str(twins.bigcommerce.api_root().as_str()),
        base_url = toml_str(twins.bloomreach.base_url().as_str()),
        project_token = toml_str(credentials::PROJECT_TOKEN),
        key_id = toml_str(credentials::KEY_ID),
    );
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, config_text).map_err(io("writing the serve config"))?;
    let log = dir.join(format!("{name}.log"));
    let log_file = File::create(&log).map_err(io("creating the serve log"))?;
    let log_err = log_file.try_clone().map_err(io("opening the serve log"))?;
    let binary = std::env::current_exe().map_err(io("finding the bigreach binary"))?;
    let mut command = match file_limit {
        None => Command::new(&binary),
        Some(limit) if Path::new("/usr/bin/prlimit").exists() => {
            let mut c = Command::new("/usr/bin/prlimit");
            c.arg(format!("--nofile={limit}:{limit}")).arg(&binary);
            c
        }
        Some(limit) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {limit}; exec \"$0\" \"$@\""))
                .arg(&binary);
            c
        }
    };
    let child = command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env(ENV_BC_TOKEN, credentials::BC_TOKEN)
        .env(ENV_BR_SECRET, credentials::KEY_SECRET)
        .env(ENV_WEBHOOK_SECRET, credentials::WEBHOOK_SECRET)
        .env("BIGREACH_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(io("spawning bigreach serve"))?;
    Ok(Serve {
        child,
        webhook,
        log,
    })
}

/// Legitimate webhooks: a new connection each (no pooling), the demo's secret, an envelope
/// for the configured store naming one of its orders.
#[derive(Clone)]
struct Legit {
    http: reqwest::Client,
    url: String,
    orders: Arc<Vec<u64>>,
    sent: Arc<AtomicU64>,
}

impl Legit {
    fn new(webhook: SocketAddr, orders: Vec<u64>) -> Result<Self, BenchError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(LEGIT_TIMEOUT)
            .build()
            .map_err(|e| BenchError::Run(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            url: format!("http://{webhook}/webhooks"),
            orders: Arc::new(orders),
            sent: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Posts one webhook; `Ok(latency)` when answered 2xx, `Err(what)` otherwise.
    async fn post(&self, phase: &str) -> Result<Duration, String> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        let order = self.orders[n as usize % self.orders.len().max(1)];
        let body = json!({
            "scope": "store/order/statusUpdated",
            "data": {"type": "order", "id": order, "status": {"previous_status_id": 0, "new_status_id": 11}},
            "hash": format!("hostile-{phase}-{n}"),
            "created_at": chrono::Utc::now().timestamp(),
            "producer": format!("stores/{}", credentials::STORE_HASH),
        })
        .to_string();
        let started = Instant::now();
        let response = self
            .http
            .post(&self.url)
            .header(SECRET_HEADER, credentials::WEBHOOK_SECRET)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timeout".to_owned()
                } else if e.is_connect() {
                    "connect".to_owned()
                } else {
                    "error".to_owned()
                }
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(started.elapsed())
        } else {
            Err(format!("http {}", status.as_u16()))
        }
    }
}

/// Waits until the child answers a legitimate webhook.
async fn wait_ready(
    serve: &mut Serve,
    legit: &Legit,
    clock: &SharedClock,
) -> Result<f64, BenchError> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if !serve.alive() {
            return Err(BenchError::Run(format!(
                "bigreach serve exited; see {}",
                serve.log.display()
            )));
        }
        if legit.post("ready").await.is_ok() {
            return Ok(started.elapsed().as_secs_f64());
        }
        clock.sleep(Duration::from_millis(100)).await;
    }
    Err(BenchError::Run(format!(
        "bigreach serve did not answer a webhook within 30 s; see {}",
        serve.log.display()
    )))
}

/// `count` open/close cycles from [`CYCLE_TASKS`] tasks; returns the connect failures.
async fn cycles(address: SocketAddr, count: u64) -> u64 {
    let failures = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..CYCLE_TASKS {
        let failures = failures.clone();
        let share = count / CYCLE_TASKS + u64::from(t < count % CYCLE_TASKS);
        // Each task connects from its own loopback source address, so that the closed
        // connections' TIME_WAIT ports (60 s each) do not run out one address's port range.
        let source = SocketAddr::from(([127, 0, 0, 2 + t as u8], 0));
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                let connect = async {
                    let socket = TcpSocket::new_v4()?;
                    socket.bind(source)?;
                    socket.connect(address).await
                };
                match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                    Ok(Ok(mut stream)) => {
                        if i % 2 == 1 {
                            let _ = stream.write_all(b"GET /nope HTTP/1.1\r\n\r\n").await;
                        }
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    failures.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Serialize)]
struct CycleFigures {
    cycles: u64,
    concurrent_tasks: u64,
    seconds: f64,
    connect_failures: u64,
    rss_before_kb: u64,
    rss_after_kb: u64,
    rss_growth_kb: i64,
    rss_growth_kb_per_1000_connections: f64,
}

async fn cycle_phase(serve: &Serve, clock: &SharedClock) -> Result<CycleFigures, BenchError> {
    cycles(serve.webhook, WARM_UP_CYCLES).await;
    clock.sleep(Duration::from_secs(1)).await;
    let before = serve.rss_kb()?;
    let started = Instant::now();
    let failures = cycles(serve.webhook, CYCLES).await;
    let seconds = started.elapsed().as_secs_f64();
    clock.sleep(Duration::from_secs(2)).await;
    let after = serve.rss_kb()?;
    let growth = after as i64 - before as i64;
    Ok(CycleFigures {
        cycles: CYCLES,
        concurrent_tasks: CYCLE_TASKS,
        seconds: round1(seconds),
        connect_failures: failures,
        rss_before_kb: before,
        rss_after_kb: after,
        rss_growth_kb: growth,
        rss_growth_kb_per_1000_connections: round1(growth as f64 * 1000.0 / CYCLES as f64),
    })
}

#[derive(Debug, Clone, Default, Serialize)]
struct AttackFigures {
    file_limit: Option<String>,
    idle_opened: u64,
    slow_opened: u64,
    attack_connect_failures: u64,
    idle_closed_by_server: u64,
    slow_connections_closed: u64,
    legit_sent: u64,
    legit_answered: u64,
    legit_refused: u64,
    legit_refused_by_kind: std::collections::BTreeMap<String, u64>,
    legit_p50_ms: f64,
    legit_p99_ms: f64,
    legit_max_ms: f64,
    rss_before_kb: u64,
    rss_peak_kb: u64,
    server_alive_after: bool,
}

/// Holds one attack connection until `stop`; returns (opened, closed by the server).
async fn hold(address: SocketAddr, slow: bool, mut stop: watch::Receiver<bool>) -> (bool, bool) {
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await
    else {
        return (false, false);
    };
    if slow
        && stream
            .write_all(b"POST /webhooks HTTP/1.1\r\nhost: bigreach\r\n")
            .await
            .is_err()
    {
        return (true, true);
    }
    let mut buf = [0u8; 512];
    let mut line = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return (true, true),
                // An answer (a 408 or 400) comes before the close; keep reading to the EOF.
                Ok(_) => {}
            },
            _ = tick.tick(), if slow => {
                line += 1;
                if stream.write_all(format!("x-trickle-{line}: 1\r\n").as_bytes()).await.is_err() {
                    return (true, true);
                }
            }
            _ = stop.changed() => return (true, false),
        }
    }
}

async fn attack_phase(
    serve: &mut Serve,
    legit: &Legit,
    phase: &'static str,
    clock: &SharedClock,
) -> Result<AttackFigures, BenchError> {
    let mut figures = AttackFigures {
        file_limit: serve.file_limit(),
        rss_before_kb: serve.rss_kb()?,
        ..AttackFigures::default()
    };
    let (stop, stop_rx) = watch::channel(false);
    let mut holders = Vec::new();
    let total = IDLE_CONNECTIONS + SLOW_CONNECTIONS;
    for i in 0..total {
        let slow = is_slow(i, total, SLOW_CONNECTIONS);
        holders.push((
            slow,
            tokio::spawn(hold(serve.webhook, slow, stop_rx.clone())),
        ));
    }
    // Let the attack connect before the legitimate traffic starts.
    clock.sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut senders = Vec::new();
    let mut peak = figures.rss_before_kb;
    let mut next = Instant::now();
    while started.elapsed() < Duration::from_secs(ATTACK_SECS) {
        let legit = legit.clone();
        senders.push(tokio::spawn(async move { legit.post(phase).await }));
        next += LEGIT_EVERY;
        clock
            .sleep(next.saturating_duration_since(Instant::now()))
            .await;
        if senders.len() % 20 == 0 {
            if let Ok(rss) = serve.rss_kb() {
                peak = peak.max(rss);
            }
        }
    }
    let mut latencies = Vec::new();
    for sender in senders {
        figures.legit_sent += 1;
        match sender.await {
            Ok(Ok(latency)) => latencies.push(latency.as_secs_f64() * 1000.0),
            Ok(Err(kind)) => {
                figures.legit_refused += 1;
                *figures.legit_refused_by_kind.entry(kind).or_default() += 1;
            }
            Err(_) => {
                figures.legit_refused += 1;
                *figures
                    .legit_refused_by_kind
                    .entry("task failed".to_owned())
                    .or_default() += 1;
            }
        }
    }
    let _ = stop.send(true);
    for (slow, holder) in holders {
        let (opened, closed) = holder.await.unwrap_or((false, false));
        match (opened, slow) {
            (false, _) => figures.attack_connect_failures += 1,
            (true, true) => {
                figures.slow_opened += 1;
                figures.slow_connections_closed += u64::from(closed);
            }
            (true, false) => {
                figures.idle_opened += 1;
                figures.idle_closed_by_server += u64::from(closed);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    figures.legit_answered = latencies.len() as u64;
    figures.legit_p50_ms = round1(percentile(&latencies, 50));
    figures.legit_p99_ms = round1(percentile(&latencies, 99));
    figures.legit_max_ms = round1(latencies.last().copied().unwrap_or(0.0));
    figures.rss_peak_kb = peak.max(serve.rss_kb().unwrap_or(0));
    figures.server_alive_after = serve.alive();
    Ok(figures)
}

fn attack_line(label: &str, f: &AttackFigures) -> Vec<String> {
    vec![
        format!(
            "  {label:<14} file limit {}; {} idle + {} slow-header held ({} could not connect); server closed {} idle, {} slow",
            f.file_limit.as_deref().unwrap_or("?"),
            thousands(f.idle_opened),
            f.slow_opened,
            f.attack_connect_failures,
            thousands(f.idle_closed_by_server),
            f.slow_connections_closed
        ),
        format!(
            "  {:<14} legit: {} sent, {} answered 2xx, {} refused/failed {:?}; ack p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; RSS {} -> peak {} KB",
            "",
            f.legit_sent,
            f.legit_answered,
            f.legit_refused,
            f.legit_refused_by_kind,
            f.legit_p50_ms,
            f.legit_p99_ms,
            f.legit_max_ms,
            thousands(f.rss_before_kb),
            thousands(f.rss_peak_kb)
        ),
    ]
}

async fn with_twins(twins: &Twins, clock: &SharedClock) -> Result<Outcome, BenchError> {
    let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    let orders: Vec<u64> = twins
        .bigcommerce
        .truth()
        .orders
        .iter()
        .map(|o| o.order_id)
        .collect();
    if orders.is_empty() {
        return Err(BenchError::Run("the twin store has no orders".to_owned()));
    }

    // Phases 1 and 2: the service's own file limit.
    let mut serve = start_serve(twins, dir.path(), "serve", None)?;
    let legit = Legit::new(serve.webhook, orders.clone())?;
    let ready_s = wait_ready(&mut serve, &legit, clock).await?;
    let cycle = cycle_phase(&serve, clock).await?;
    let attack = attack_phase(&mut serve, &legit, "attack", clock).await?;
    drop(serve);

    // Phase 3: the same attack under a file limit of 1,024.
    let mut limited = start_serve(twins, dir.path(), "serve-nofile", Some(FILE_LIMIT))?;
    let legit_limited = Legit::new(limited.webhook, orders)?;
    wait_ready(&mut limited, &legit_limited, clock).await?;
    let limited_attack = attack_phase(&mut limited, &legit_limited, "nofile", clock).await?;
    drop(limited);

    let launcher = if Path::new("/usr/bin/prlimit").exists() {
        "prlimit --nofile=1024:1024"
    } else {
        "sh -c 'ulimit -n 1024; exec …'"
    };
    let table = vec![
        format!(
            "BigReach bench hostile: bigreach serve as a child process on loopback (webhooks.max_connections {MAX_CONNECTIONS}), both twins in-process; first answer after {ready_s:.1} s"
        ),
        format!(
            "  open/close     {} cycles from {} tasks in {:.1} s ({} connect failures); RSS {} -> {} KB = {:+} KB, {:.1} KB per 1,000 connections",
            thousands(cycle.cycles),
            cycle.concurrent_tasks,
            cycle.seconds,
            cycle.connect_failures,
            thousands(cycle.rss_before_kb),
            thousands(cycle.rss_after_kb),
            cycle.rss_growth_kb,
            cycle.rss_growth_kb_per_1000_connections
        ),
    ]
    .into_iter()
    .chain(attack_line("attack", &attack))
    .chain(attack_line("attack @1024", &limited_attack))
    .collect();

    let targets = vec![
        Target::new(
            "RSS growth over 200,000 open/close cycles",
            "< 10 MB",
            format!("{:+} KB", cycle.rss_growth_kb),
            cycle.rss_growth_kb < RSS_GROWTH_LIMIT_KB as i64,
        ),
        Target::new(
            "legit webhook ack p99 under attack",
            "< 100 ms",
            format!("{:.1} ms", attack.legit_p99_ms),
            attack.legit_answered > 0 && attack.legit_p99_ms < P99_LIMIT_MS as f64,
        ),
        Target::new(
            "legit webhooks refused or failed under attack",
            "0",
            format!("{} of {}", attack.legit_refused, attack.legit_sent),
            attack.legit_refused == 0,
        ),
        Target::new(
            "legit webhooks answered at a file limit of 1,024",
            "all answered 2xx",
            format!(
                "{} of {} answered, p99 {:.1} ms",
                limited_attack.legit_answered,
                limited_attack.legit_sent,
                limited_attack.legit_p99_ms
            ),
            limited_attack.legit_refused == 0 && limited_attack.legit_answered > 0,
        ),
    ];
    let notes = vec![
        format!(
            "the open/close cycles connect (each of the {CYCLE_TASKS} tasks from its own 127.0.0.x source address, so TIME_WAIT ports do not run out) and close at once, every second one after sending a bad request head; RSS is VmRSS of the child after {WARM_UP_CYCLES} warm-up cycles and 1 s, and again 2 s after the last cycle"
        ),
        format!(
            "the attack: {IDLE_CONNECTIONS} connections that send nothing and {SLOW_CONNECTIONS} that send a partial POST head and then one more header line a second, all opened at once and held for {ATTACK_SECS} s (not reopened when closed); {IDLE_CONNECTIONS}+{SLOW_CONNECTIONS} exceed the {MAX_CONNECTIONS}-connection cap on purpose. A connection counts as closed by the server when a read sees EOF or an error, or a write fails"
        ),
        format!(
            "legitimate webhooks: one every {} ms for {ATTACK_SECS} s, each on a new connection (as BigCommerce delivers), with a {} s client timeout; refused = not answered 2xx within it (kinds: timeout, connect, http status)",
            LEGIT_EVERY.as_millis(),
            LEGIT_TIMEOUT.as_secs()
        ),
        format!("the file-limited child is started through {launcher}; the file limit column is the child's soft limit from /proc/<pid>/limits"),
        "the load generator shares the machine's cores with the child and the twins".to_owned(),
    ];
    let figures = json!({
        "rss_growth_kb_per_1000_connections": cycle.rss_growth_kb_per_1000_connections,
        "legit_p99_ms_under_attack": attack.legit_p99_ms,
        "legit_refused": attack.legit_refused,
        "slow_connections_closed": attack.slow_connections_closed,
        "legit_answered_at_file_limit_1024": limited_attack.legit_answered,
        "legit_refused_at_file_limit_1024": limited_attack.legit_refused,
        "max_connections": MAX_CONNECTIONS,
        "open_close": cycle,
        "attack": attack,
        "attack_file_limit_1024": limited_attack,
        "launcher": launcher,
    });
    Ok(Outcome {
        table,
        figures,
        targets,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_and_the_soft_file_limit() {
        let status = "Name:\tbigreach\nVmPeak:\t  90000 kB\nVmRSS:\t   41234 kB\nThreads:\t9\n";
        assert_eq!(vm_rss_kb(status), Some(41_234));
        assert_eq!(vm_rss_kb("Name:\tbigreach\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             63429                63429                processes\n\
                      Max open files            1024                 4096                 files\n";
        assert_eq!(soft_file_limit(limits).as_deref(), Some("1024"));
    }

    #[test]
    fn spreads_exactly_the_slow_connections() {
        let total = IDLE_CONNECTIONS + SLOW_CONNECTIONS;
        let slow: Vec<usize> = (0..total)
            .filter(|&i| is_slow(i, total, SLOW_CONNECTIONS))
            .collect();
        assert_eq!(slow.len(), SLOW_CONNECTIONS);
        assert!(slow
            .windows(2)
            .all(|w| w[1] - w[0] >= 7 && w[1] - w[0] <= 8));
    }
}
