//! The `/metrics` endpoint's content: the live counters, the store's queue figures and the
//! delivery latency histogram, encoded with `prometheus-client` (OpenMetrics text).

use prometheus_client::encoding::text::encode as encode_text;
use std::sync::atomic::Ordering;

use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::Metrics;
use crate::ApplianceStatus;

/// Encodes the current figures.
pub fn encode(status: &ApplianceStatus, metrics: &Metrics) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("bigreach");
    let m = &status.metrics;
    let counters: [(&str, &str, u64); 17] = [
        (
            "webhooks_accepted",
            "Webhooks stored durably (new)",
            m.webhooks_accepted,
        ),
        (
            "webhooks_duplicate",
            "Webhooks recognised as duplicates by hash",
            m.webhooks_duplicate,
        ),
        (
            "webhooks_unauthorized",
            "Webhooks refused for a bad secret (401)",
            m.webhooks_unauthorized,
        ),
        (
            "webhooks_too_large",
            "Webhooks refused for their size (413)",
            m.webhooks_too_large,
        ),
        (
            "webhooks_malformed",
            "Webhooks refused as malformed (400)",
            m.webhooks_malformed,
        ),
        (
            "webhooks_other_store",
            "Webhooks refused because they name another store (403)",
            m.webhooks_other_store,
        ),
        (
            "webhooks_bad_id",
            "Webhooks stored whose resource id is not valid for its kind (set aside)",
            m.webhooks_bad_id,
        ),
        (
            "resources_fetched",
            "Resources fetched from BigCommerce",
            m.resources_fetched,
        ),
        (
            "resources_polled",
            "Resources listed by the poller",
            m.resources_polled,
        ),
        (
            "hooks_restored",
            "Webhooks re-registered or re-activated",
            m.hooks_restored,
        ),
        ("batches_sent", "Tracking batches sent", m.batches_sent),
        (
            "batch_commands",
            "Commands in tracking batches sent",
            m.batch_commands,
        ),
        (
            "catalog_requests",
            "Catalog bulk requests sent",
            m.catalog_requests,
        ),
        (
            "bloomreach_429",
            "429 answers from Bloomreach",
            m.bloomreach_429s,
        ),
        (
            "bloomreach_failures",
            "5xx answers and transport failures from Bloomreach",
            m.bloomreach_failures,
        ),
        (
            "retries",
            "Commands scheduled for another attempt",
            m.retries,
        ),
        ("dead_lettered", "Commands dead-lettered", m.dead_lettered),
    ];
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    registry.register(
        "delivered",
        "Commands acknowledged by Bloomreach",
        ConstCounter::new(status.store.delivered),
    );
    let pending = Family::<Vec<(String, String)>, Gauge>::default();
    for (lane, count) in &status.store.outbox_pending {
        pending
            .get_or_create(&vec![("lane".to_owned(), lane.clone())])
            .set(*count as i64);
    }
    registry.register("outbox_pending", "Pending commands per lane", pending);
    let age = Family::<Vec<(String, String)>, Gauge>::default();
    for (lane, ms) in &status.lane_age_ms {
        age.get_or_create(&vec![("lane".to_owned(), lane.clone())])
            .set(*ms / 1000);
    }
    registry.register(
        "outbox_oldest_age_seconds",
        "Age of the oldest pending command per lane",
        age,
    );
    let gauge = |value: u64| {
        let g = Gauge::<i64>::default();
        g.set(value as i64);
        g
    };
    registry.register(
        "webhook_backlog",
        "Webhooks stored but not yet processed, plus resources waiting to be fetched",
        gauge(status.store.inbox_pending + status.store.fetch_queue),
    );
    registry.register(
        "dead_letters",
        "Dead letters waiting for an operator",
        gauge(status.store.dead_letters),
    );
    registry.register(
        "in_flight",
        "Commands in flight",
        gauge(status.in_flight as u64),
    );
    registry.register(
        "alert",
        "1 while purchases or profile updates are later than the alert threshold",
        gauge(u64::from(status.alerts.iter().any(|alert| {
            alert.kind == bigreach_core::app::status::AlertKind::Late
        }))),
    );
    registry.register(
        "parked",
        "Components parked until an operator acts (a revoked credential, a missing permission)",
        gauge(status.parked.len() as u64),
    );
    registry.register(
        "webhooks_other_store",
        "Webhooks refused because they name another store (403)",
        ConstCounter::new(metrics.webhooks_other_store.load(Ordering::Relaxed)),
    );
    let open = Family::<Vec<(String, String)>, Gauge>::default();
    let accept_errors = Family::<Vec<(String, String)>, Counter>::default();
    let at_capacity = Family::<Vec<(String, String)>, Counter>::default();
    let closed_for_room = Family::<Vec<(String, String)>, Counter>::default();
    for (name, listener) in [
        ("webhooks", &metrics.webhook_listener),
        ("api", &metrics.api_listener),
    ] {
        let label = vec![("listener".to_owned(), name.to_owned())];
        open.get_or_create(&label).set(listener.open_now() as i64);
        accept_errors
            .get_or_create(&label)
            .inc_by(listener.accept_errors.load(Ordering::Relaxed));
        at_capacity
            .get_or_create(&label)
            .inc_by(listener.at_capacity.load(Ordering::Relaxed));
        closed_for_room
            .get_or_create(&label)
            .inc_by(listener.closed_for_room.load(Ordering::Relaxed));
    }
    registry.register(
        "connections_open",
        "Connections open now, per listener",
        open,
    );
    registry.register(
        "accept_errors",
        "Failed accepts (EMFILE and the like), each followed by a back-off, per listener",
        accept_errors,
    );
    registry.register(
        "connection_limit_reached",
        "Times a connection arrived while every connection slot was taken, per listener",
        at_capacity,
    );
    registry.register(
        "connections_closed_for_room",
        "Connections between requests closed at the cap to serve a new one, per listener",
        closed_for_room,
    );
    registry.register(
        "delivery_latency_seconds",
        "From BigCommerce event time to Bloomreach acknowledgement (live lanes)",
        metrics.delivery_latency.clone(),
    );
    let mut text = String::new();
    encode_text(&mut text, &registry)?;
    Ok(text)
}
