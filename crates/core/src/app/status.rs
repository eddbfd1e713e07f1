//! The status document: queues per lane and their ages, the webhook backlog, hook health, quota,
//! what is parked waiting for an operator, and the alerts. The store supplies the durable counts;
//! the running appliance supplies its live figures through the narrow [`LiveFigures`] trait, so
//! the rule for what is late or stuck lives here, once, for every screen.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use ts_rs::TS;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cutover::Stage;
use crate::model::Lane;
use crate::store::StoreCounts;

/// What the running appliance knows that the store does not.
pub trait LiveFigures: Send + Sync {
    /// The live figures now.
    fn live(&self) -> Live;
}

/// Live figures of the running appliance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// Counters since start.
    pub counters: LiveCounters,
    /// Commands in flight now.
    pub in_flight: usize,
    /// Completed poll passes since start.
    pub poll_passes: u64,
    /// What the last hook check found and did.
    pub hooks: Option<HookHealth>,
    /// BigCommerce quota as last seen.
    pub bigcommerce_quota: BigCommerceQuota,
    /// Current Bloomreach request rate (after adaptation).
    pub bloomreach_requests_per_second: u32,
    /// Receiver address.
    pub webhook_address: SocketAddr,
    /// Local API address.
    pub api_address: SocketAddr,
    /// Stages waiting for an operator.
    pub parked: Vec<Parked>,
    /// What start-up still waits for (a service that failed its preflight; retried with
    /// backoff in the background while the receiver accepts webhooks).
    pub starting: Vec<Starting>,
    /// The cutover stage delivery runs at (it decides which lanes deliver).
    pub stage: Stage,
    /// Latencies (ms, acknowledgement − BigCommerce time) of the purchases Bloomreach
    /// acknowledged in the last [`LATENCY_WINDOW_SECS`].
    pub purchase_latencies_ms: Vec<i64>,
}

/// How far back the status's purchase latency looks.
pub const LATENCY_WINDOW_SECS: u64 = 300;

/// A lane's state as a screen shows it (always with its text, never by colour alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LaneState {
    /// Nothing waits.
    Idle,
    /// Work waits, the oldest within the alert threshold.
    OnTime,
    /// The oldest has waited longer than the alert threshold.
    Late,
    /// Work waits and cannot move: delivery is parked, or the oldest has waited more than
    /// [`STALLED_FACTOR`] times the threshold.
    Stalled,
    /// The cutover stage keeps the lane closed: what it holds queues by design.
    Closed,
}

/// How many alert thresholds the oldest command may wait before its lane counts as stalled.
pub const STALLED_FACTOR: i64 = 6;

/// One lane of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LaneStatus {
    /// The lane's name.
    pub lane: String,
    /// Commands waiting in it.
    pub queued: u64,
    /// How long the oldest has waited since it was enqueued, in ms (0 when none waits).
    pub oldest_age_ms: i64,
    /// Its state.
    pub state: LaneState,
}

/// Purchase latency (acknowledged by Bloomreach − happened in BigCommerce) over the last
/// [`LATENCY_WINDOW_SECS`], against the alert threshold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PurchaseLatency {
    /// The window, in seconds.
    pub window_secs: u64,
    /// Purchases acknowledged in it.
    pub samples: u64,
    /// Median (nearest rank), ms; 0 without samples.
    pub p50_ms: i64,
    /// p99 (nearest rank), ms; 0 without samples.
    pub p99_ms: i64,
    /// The longest, ms.
    pub max_ms: i64,
    /// The alert threshold, ms (the "5-minute line").
    pub limit_ms: i64,
}

impl PurchaseLatency {
    /// The figures of these latencies (ms) against `limit_ms`.
    pub fn of(mut latencies_ms: Vec<i64>, limit_ms: i64) -> Self {
        latencies_ms.sort_unstable();
        let n = latencies_ms.len();
        let rank = |percent: usize| latencies_ms[(n * percent).div_ceil(100).max(1) - 1];
        PurchaseLatency {
            window_secs: LATENCY_WINDOW_SECS,
            samples: n as u64,
            p50_ms: if n == 0 { 0 } else { rank(50) },
            p99_ms: if n == 0 { 0 } else { rank(99) },
            max_ms: latencies_ms.last().copied().unwrap_or(0),
            limit_ms,
        }
    }
}

/// Every lane's queue, oldest age and state.
fn lanes(store: &StoreCounts, live: &Live, now_ms: i64, alert_latency_ms: i64) -> Vec<LaneStatus> {
    let open = live.stage.lanes();
    let delivery_parked = live
        .parked
        .iter()
        .any(|parked| parked.component == Component::Delivery);
    Lane::ALL
        .iter()
        .map(|lane| {
            let queued = store.outbox_pending.get(lane.name()).copied().unwrap_or(0);
            let oldest_age_ms = store
                .outbox_oldest
                .get(lane.name())
                .map(|oldest| (now_ms - oldest.enqueued_at_ms).max(0))
                .unwrap_or(0);
            let state = if queued == 0 {
                LaneState::Idle
            } else if !open.contains(*lane) {
                LaneState::Closed
            } else if delivery_parked || oldest_age_ms > alert_latency_ms * STALLED_FACTOR {
                LaneState::Stalled
            } else if oldest_age_ms > alert_latency_ms {
                LaneState::Late
            } else {
                LaneState::OnTime
            };
            LaneStatus {
                lane: lane.name().to_owned(),
                queued,
                oldest_age_ms,
                state,
            }
        })
        .collect()
}

/// A service the appliance still waits for since it started: its preflight (and, for
/// Bloomreach, the catalog setup) failed and is retried with backoff. The stages that need it
/// (enrich and the poller for BigCommerce, delivery for Bloomreach) start once it answers;
/// webhooks are accepted and stored meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Starting {
    /// `bigcommerce` or `bloomreach`.
    pub service: String,
    /// The stages waiting for it, e.g. `enrich, poller`.
    pub waiting: String,
    /// Since when.
    pub since: DateTime<Utc>,
    /// The last failure (no secrets).
    pub reason: String,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// Counters of the running appliance since it started (the store holds the durable ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LiveCounters {
    /// Webhooks stored (new).
    pub webhooks_accepted: u64,
    /// Webhooks recognised as duplicates by hash.
    pub webhooks_duplicate: u64,
    /// Webhooks refused for a bad secret (401).
    pub webhooks_unauthorized: u64,
    /// Webhooks refused for their size (413).
    pub webhooks_too_large: u64,
    /// Webhooks refused as malformed (400).
    pub webhooks_malformed: u64,
    /// Webhooks refused because they name another store (403), not stored.
    pub webhooks_other_store: u64,
    /// Webhooks stored whose resource id is not valid for its kind (a cart id that is not a
    /// UUID, an order id that is not a number): recorded once and set aside, never fetched.
    pub webhooks_bad_id: u64,
    /// Resources fetched from BigCommerce by the enrich stage.
    pub resources_fetched: u64,
    /// Resources stored by the poller.
    pub resources_polled: u64,
    /// Hooks re-registered or re-activated after start.
    pub hooks_restored: u64,
    /// Tracking batches sent.
    pub batches_sent: u64,
    /// Commands in those batches.
    pub batch_commands: u64,
    /// Catalog bulk requests sent.
    pub catalog_requests: u64,
    /// 429 answers from Bloomreach.
    pub bloomreach_429s: u64,
    /// 5xx answers and transport failures from Bloomreach.
    pub bloomreach_failures: u64,
    /// Commands acknowledged.
    pub delivered: u64,
    /// Commands scheduled for retry.
    pub retries: u64,
    /// Commands dead-lettered.
    pub dead_lettered: u64,
    /// The last errors of each stage (at most 20).
    pub last_errors: Vec<StageError>,
}

/// A recent error of one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StageError {
    /// Which stage (`enrich`, `deliver`, `poller`, …).
    pub stage: String,
    /// When (ms since epoch, UTC).
    pub at_ms: i64,
    /// What happened (no secrets, no personal data).
    pub message: String,
}

/// What the last webhook check found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HookHealth {
    /// Scopes registered now.
    pub created: Vec<String>,
    /// Scopes re-activated now.
    pub reactivated: Vec<String>,
    /// Scopes already active.
    pub active: Vec<String>,
}

/// The BigCommerce quota as the client last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct BigCommerceQuota {
    /// Requests per window, once seen.
    pub quota: Option<u32>,
    /// Requests left in the window.
    pub requests_left: Option<u32>,
    /// Requests sent since start.
    pub requests_sent: u64,
    /// 429 answers received.
    pub rate_limited: u64,
}

/// Which part of the sync loop is parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// Fetching notified resources from BigCommerce.
    Enrich,
    /// Listing changes from BigCommerce and checking hooks.
    Poller,
    /// Sending commands to Bloomreach.
    Delivery,
}

impl Component {
    /// A short name for screens.
    pub fn name(self) -> &'static str {
        match self {
            Component::Enrich => "enrich",
            Component::Poller => "poller",
            Component::Delivery => "delivery",
        }
    }
}

/// A component that stopped retrying because only an operator can fix what failed (a revoked
/// credential, a missing permission). Its data stays queued; it tries once more every
/// `probe_every_secs` in case the fix was made without a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Parked {
    /// What is parked.
    pub component: Component,
    /// Since when.
    pub since: DateTime<Utc>,
    /// What failed (no secrets).
    pub reason: String,
    /// What the operator should do.
    pub hint: String,
    /// How often it checks whether the fix was made.
    pub probe_every_secs: u64,
}

/// Why an operator should look now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Purchases or profile updates have waited longer than the threshold.
    Late,
    /// A component is parked until an operator acts.
    Parked,
    /// Resources whose fetch failed for good were set aside; they are not synced until an
    /// operator replays them (or a later change of theirs fetches fine).
    SetAside,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 3] = [AlertKind::Late, AlertKind::Parked, AlertKind::SetAside];

    /// The kind as it travels (`late`, `parked`, `set_aside`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Late => "late",
            AlertKind::Parked => "parked",
            AlertKind::SetAside => "set_aside",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Alert {
    /// Its kind.
    pub kind: AlertKind,
    /// What is wrong and what to do.
    pub message: String,
}

/// The status of the appliance at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Status {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Durable counts from the store.
    pub store: StoreCounts,
    /// Live counters.
    pub metrics: LiveCounters,
    /// Commands in flight now.
    pub in_flight: usize,
    /// Completed poll passes since start.
    pub poll_passes: u64,
    /// What the last hook check found and did.
    pub hooks: Option<HookHealth>,
    /// BigCommerce quota as last seen.
    pub bigcommerce_quota: BigCommerceQuota,
    /// Current Bloomreach request rate (after adaptation).
    pub bloomreach_requests_per_second: u32,
    /// Receiver address.
    pub webhook_address: SocketAddr,
    /// Local API address.
    pub api_address: SocketAddr,
    /// True when nothing waits in the inbox, the fetch queue or the outbox, nothing is in
    /// flight and start-up waits for no service.
    pub idle: bool,
    /// Age of the oldest pending command per lane, in ms (by enqueue time).
    pub lane_age_ms: BTreeMap<String, i64>,
    /// Components waiting for an operator.
    pub parked: Vec<Parked>,
    /// What start-up still waits for; empty once both services answered.
    pub starting: Vec<Starting>,
    /// The cutover stage delivery runs at: a lane it keeps closed queues by design.
    pub stage: Stage,
    /// Why an operator should look now; empty when all is well.
    pub alerts: Vec<Alert>,
    /// Every lane: queued, oldest age and state.
    pub lanes: Vec<LaneStatus>,
    /// Purchase latency over the last five minutes against the alert threshold.
    pub purchase_latency: PurchaseLatency,
}

/// The lanes whose lateness is alerted: what a marketer's flows wait for.
const LIVE_LANES: [Lane; 2] = [Lane::Transactions, Lane::Customers];

/// Builds the status from the store's counts and the live figures, at `now_ms`, alerting when a
/// purchase or profile update has waited longer than `alert_latency_ms` since it happened in
/// BigCommerce, for every parked component, and when fetches were set aside.
pub fn assemble(store: StoreCounts, live: Live, now_ms: i64, alert_latency_ms: i64) -> Status {
    let lane_age_ms: BTreeMap<String, i64> = store
        .outbox_oldest
        .iter()
        .map(|(lane, oldest)| (lane.clone(), (now_ms - oldest.enqueued_at_ms).max(0)))
        .collect();
    // A lane the cutover stage keeps closed queues by design: what waits there is not late.
    let open = live.stage.lanes();
    let waiting_ms = LIVE_LANES
        .iter()
        .filter(|lane| open.contains(**lane))
        .filter_map(|lane| store.outbox_oldest.get(lane.name()))
        .map(|oldest| now_ms - oldest.event_time_ms)
        .max()
        .unwrap_or(0);
    let mut alerts = Vec::new();
    if waiting_ms > alert_latency_ms {
        alerts.push(Alert {
            kind: AlertKind::Late,
            message: format!(
                "purchases or profile updates are late: the oldest has waited {} s since it happened in BigCommerce (threshold {} s)",
                waiting_ms / 1000,
                alert_latency_ms / 1000
            ),
        });
    }
    for parked in &live.parked {
        alerts.push(Alert {
            kind: AlertKind::Parked,
            message: format!(
                "{} is parked: {}. {}",
                parked.component.name(),
                parked.reason,
                parked.hint
            ),
        });
    }
    if store.set_aside > 0 {
        alerts.push(Alert {
            kind: AlertKind::SetAside,
            message: format!(
                "{} resource(s) could not be fetched from BigCommerce and were set aside (the rest keeps syncing); list them with the set_aside_fetches operation (GET /api/set-aside), then replay or discard each",
                store.set_aside
            ),
        });
    }
    let lanes = lanes(&store, &live, now_ms, alert_latency_ms);
    let purchase_latency = PurchaseLatency::of(live.purchase_latencies_ms, alert_latency_ms);
    let idle = store.inbox_pending == 0
        && store.fetch_queue == 0
        && store.outbox_pending.values().all(|n| *n == 0)
        && live.in_flight == 0
        && live.starting.is_empty();
    Status {
        at: DateTime::from_timestamp_millis(now_ms).unwrap_or_default(),
        store,
        metrics: live.counters,
        in_flight: live.in_flight,
        poll_passes: live.poll_passes,
        hooks: live.hooks,
        bigcommerce_quota: live.bigcommerce_quota,
        bloomreach_requests_per_second: live.bloomreach_requests_per_second,
        webhook_address: live.webhook_address,
        api_address: live.api_address,
        idle,
        lane_age_ms,
        parked: live.parked,
        starting: live.starting,
        stage: live.stage,
        alerts,
        lanes,
        purchase_latency,
    }
}
