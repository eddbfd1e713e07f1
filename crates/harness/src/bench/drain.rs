//! `bigreach bench drain`: a backlog of 200,000 tracking commands (built by
//! [`backlog`](super::backlog) through the product's mapping) delivered by the full appliance
//! to the Bloomreach twin at its default ceiling (6,000 requests/min): throughput as a fraction
//! of the ceiling, batch fill, and 429s after the first adaptation.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use bigreach_clock::{Clock, SharedClock, SystemClock};
use bigreach_core::config::IdNames;
use bigreach_core::model::Lane;
use bigreach_core::outbox::Channel;
use bigreach_core::store::Store;
use bigreach_runtime::Appliance;
use serde::Serialize;
use serde_json::json;

use super::backlog::{enqueue_backlog, CommandMix, Enqueued, ENQUEUE_CHUNK};
use super::figures::{round1, round3, thousands};
use super::report::{Outcome, Target};
use super::{io, twin_plan, BenchError, BLOOMREACH_CEILING_PER_MINUTE};
use crate::plan::StorePlan;
use crate::twins::Twins;

const DRAIN_COMMANDS: usize = 200_000;
const BATCH_COMMANDS: f64 = 50.0;
const DRAIN_REQUESTS_PER_SECOND: u32 = 98;
const DRAIN_LIMIT: Duration = Duration::from_secs(100);

fn drain_lane(order: u64) -> Lane {
    if order % 4 == 3 {
        Lane::Backfill
    } else {
        Lane::Transactions
    }
}

/// Runs the benchmark.
pub(super) async fn run() -> Result<Outcome, BenchError> {
    let clock: SharedClock = SystemClock::shared();
    let dir = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    let mut mix = CommandMix {
        ids: IdNames::default(),
        persons: 20_000,
        order_base: 1_000_000,
        orders: 0,
        email_domain: "bench.example",
        registered: true,
        lane_of_order: drain_lane,
        base_unix_s: clock.now().timestamp() - 30 * 86_400,
    };
    let enqueued = {
        let store = Store::open(&dir.path().join("bigreach.redb"))?;
        enqueue_backlog(&store, &mut mix, DRAIN_COMMANDS, clock.now_ms())?
        // The store closes here; the appliance opens the same file.
    };

    let plan = twin_plan(
        11,
        StorePlan {
            customers: 0,
            products: 1,
            max_variants_per_product: 1,
            historical_orders: 0,
            history_days: 1,
            guest_share_per_mille: 0,
            phone_only_guest_per_mille: 0,
            currencies: vec!["USD".to_owned()],
        },
        "enterprise",
    );
    let twins = Twins::start(&plan, clock.clone()).await?;
    let result = drain_with(&twins, dir.path(), clock, &enqueued).await;
    twins.shutdown().await;
    result
}

#[derive(Debug, Clone, Copy, Serialize)]
struct RateSample {
    at_s: f64,
    bloomreach_429s: u64,
    requests_per_second: u32,
    delivered: u64,
}

async fn drain_with(
    twins: &Twins,
    data_dir: &Path,
    clock: SharedClock,
    enqueued: &Enqueued,
) -> Result<Outcome, BenchError> {
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(data_dir)?;
    config.bloomreach.requests_per_second = DRAIN_REQUESTS_PER_SECOND;
    config.bigcommerce.poll_interval_secs = 600;
    let started = Instant::now();
    let appliance = Appliance::start_with(&config, &secrets, clock.clone(), listeners).await?;
    let none = HashSet::new();
    let mut samples = Vec::new();
    let mut last_sample = Instant::now();
    let mut finished = false;
    while started.elapsed() < DRAIN_LIMIT {
        SystemClock.sleep(Duration::from_millis(50)).await;
        if appliance
            .store()
            .due_commands(i64::MAX, 1, false, &none)?
            .is_empty()
        {
            finished = true;
            break;
        }
        if last_sample.elapsed() >= Duration::from_millis(500) {
            last_sample = Instant::now();
            let status = appliance.status()?;
            samples.push(RateSample {
                at_s: round1(started.elapsed().as_secs_f64()),
                bloomreach_429s: status.metrics.bloomreach_429s,
                requests_per_second: status.bloomreach_requests_per_second,
                delivered: status.metrics.delivered,
            });
        }
    }
    let drain_s = started.elapsed().as_secs_f64();
    let status = appliance.status()?;
    let deliveries = appliance.store().deliveries()?;
    appliance.shutdown().await;
    let stats = twins.bloomreach.truth().stats;

    let tracking: Vec<i64> = deliveries
        .iter()
        .filter(|(record, _)| record.destination.channel() == Channel::Tracking)
        .map(|(_, delivery)| delivery.acked_at_ms)
        .collect();
    let delivered = tracking.len() as u64;
    let first_ack = tracking.iter().min().copied().unwrap_or(0);
    let last_ack = tracking.iter().max().copied().unwrap_or(0);
    let ack_window_s = (last_ack - first_ack) as f64 / 1000.0;
    let ceiling_commands_per_s = f64::from(BLOOMREACH_CEILING_PER_MINUTE) / 60.0 * BATCH_COMMANDS;
    let commands_per_s = delivered as f64 / drain_s;
    let fraction = commands_per_s / ceiling_commands_per_s;
    let window_fraction = if ack_window_s > 0.0 {
        delivered as f64 / ack_window_s / ceiling_commands_per_s
    } else {
        0.0
    };
    let m = &status.metrics;
    let fill = if m.batches_sent > 0 {
        m.batch_commands as f64 / m.batches_sent as f64 / BATCH_COMMANDS
    } else {
        0.0
    };
    // 429s: the first one halves the rate (the adaptation). Answers to requests already in
    // flight then may be 429s too; anything observed more than a second later came after it.
    let total_429s = m.bloomreach_429s;
    let first_429_at = samples
        .iter()
        .find(|s| s.bloomreach_429s > 0)
        .map(|s| s.at_s);
    let after_adaptation = first_429_at.map_or(0, |first| {
        let settled = samples
            .iter()
            .filter(|s| s.at_s <= first + 1.0)
            .map(|s| s.bloomreach_429s)
            .max()
            .unwrap_or(0);
        total_429s.saturating_sub(settled)
    });
    let lowest_rate = samples
        .iter()
        .map(|s| s.requests_per_second)
        .min()
        .unwrap_or(DRAIN_REQUESTS_PER_SECOND);
    let lanes = enqueued
        .per_lane
        .iter()
        .map(|(lane, n)| format!("{lane} {}", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    let table = vec![
        format!(
            "BigReach bench drain: {} tracking commands against the Bloomreach twin at {} requests/min (ceiling {} commands/s at 50 per batch)",
            thousands(enqueued.commands),
            thousands(u64::from(BLOOMREACH_CEILING_PER_MINUTE)),
            thousands(ceiling_commands_per_s as u64),
        ),
        format!(
            "  backlog        {lanes}; enqueued in {:.1} s ({}/s, {} transactions of {})",
            enqueued.seconds,
            thousands(enqueued.commands_per_s as u64),
            enqueued.transactions,
            thousands(ENQUEUE_CHUNK as u64)
        ),
        format!(
            "  pacing         {DRAIN_REQUESTS_PER_SECOND} requests/s configured ({}/min), lowest seen {lowest_rate}/s",
            thousands(u64::from(DRAIN_REQUESTS_PER_SECOND) * 60)
        ),
        format!(
            "  drained        {} commands in {drain_s:.1} s (appliance start -> outbox empty){}",
            thousands(delivered),
            if finished { "" } else { " [NOT FINISHED: time limit]" }
        ),
        format!(
            "  throughput     {}/s = {fraction:.3} of the ceiling; first -> last acknowledgement {ack_window_s:.1} s = {window_fraction:.3}",
            thousands(commands_per_s.round() as u64)
        ),
        format!(
            "  batches        {} sent, {} commands, mean fill {:.2} / 50 = {fill:.3}",
            thousands(m.batches_sent),
            thousands(m.batch_commands),
            fill * BATCH_COMMANDS
        ),
        format!(
            "  429s           {total_429s} in total{}; {after_adaptation} after the first adaptation (twin counted {})",
            first_429_at.map_or_else(String::new, |t| format!(", first at {t:.1} s")),
            stats.rate_limited_429
        ),
        format!(
            "  twin           {} commands accepted, {} rejected; appliance: {} dead letters, {} retries",
            thousands(stats.commands_accepted),
            stats.commands_rejected,
            status.store.dead_letters,
            m.retries
        ),
    ];
    let all_delivered = finished && delivered == enqueued.commands;
    let targets = vec![
        Target::new(
            "commands/s as a fraction of the ceiling",
            "≥ 0.90",
            format!("{fraction:.3}"),
            fraction >= 0.9,
        ),
        Target::new(
            "mean batch fill",
            "≥ 0.95",
            format!("{fill:.3}"),
            fill >= 0.95,
        ),
        Target::new(
            "429s after the first adaptation",
            "0",
            after_adaptation.to_string(),
            after_adaptation == 0,
        ),
        Target::new(
            "backlog fully delivered",
            &format!("{} delivered, 0 dead", thousands(enqueued.commands)),
            format!(
                "{} delivered, {} dead",
                thousands(delivered),
                status.store.dead_letters
            ),
            all_delivered && status.store.dead_letters == 0,
        ),
    ];
    let notes = vec![
        format!(
            "the backlog is tracking commands only, mapped by core::map from {} synthetic orders of 20,000 persons and enqueued as the ingest step enqueues them: guest orders (guest profile, then purchase and purchase_items, in the order's lane) and registered customers' orders (every second one preceded by a profile update in the customers lane); a profile the store already holds unchanged is not enqueued again; orders in the transactions lane, every fourth in the backfill lane. Catalog items play no part in the batch fill",
            thousands(enqueued.orders)
        ),
        format!(
            "throughput counts from Appliance::start_with (preflight, catalog creation and hook registration included) until the outbox is empty; the ceiling is {} requests/min x 50 commands",
            thousands(u64::from(BLOOMREACH_CEILING_PER_MINUTE))
        ),
        "the 429 split: the first 429 halves the request rate; 429s observed more than 1 s after the first are counted as after the adaptation".to_owned(),
        "a fraction slightly above 1 is possible: the twin's ceiling holds for any 60 s window, a drain shorter than 60 s is inside one window, and the client's pacer starts with a full bucket (one second of requests)".to_owned(),
    ];
    let figures = json!({
        "backlog": enqueued,
        "ceiling_requests_per_minute": BLOOMREACH_CEILING_PER_MINUTE,
        "ceiling_commands_per_s": ceiling_commands_per_s,
        "configured_requests_per_second": DRAIN_REQUESTS_PER_SECOND,
        "finished": finished,
        "drain_s": round1(drain_s),
        "delivered": delivered,
        "commands_per_s": commands_per_s.round(),
        "fraction_of_ceiling": round3(fraction),
        "ack_window_s": round1(ack_window_s),
        "fraction_of_ceiling_ack_window": round3(window_fraction),
        "batches_sent": m.batches_sent,
        "batch_commands": m.batch_commands,
        "mean_batch_fill": round3(fill),
        "bloomreach_429s": total_429s,
        "first_429_at_s": first_429_at,
        "bloomreach_429s_after_first_adaptation": after_adaptation,
        "lowest_requests_per_second": lowest_rate,
        "twin": {
            "requests": stats.requests,
            "rate_limited_429": stats.rate_limited_429,
            "commands_accepted": stats.commands_accepted,
            "commands_rejected": stats.commands_rejected,
        },
        "dead_letters": status.store.dead_letters,
        "retries": m.retries,
        "samples": samples,
    });
    Ok(Outcome {
        table,
        figures,
        targets,
        notes,
    })
}
