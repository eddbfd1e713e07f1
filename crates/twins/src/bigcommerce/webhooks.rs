//! Webhook events and the at-least-once dispatcher (retries measured on the injected clock).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};

use super::model::Store;
use super::Inner;

/// How long one delivery attempt may take, on the clock.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// Every scope `POST v3/hooks` accepts (webhooks.v3.yml callbacks plus the wildcards).
pub(crate) const KNOWN_SCOPES: &[&str] = &[
    "store/app/uninstalled",
    "store/cart/*",
    "store/cart/created",
    "store/cart/updated",
    "store/cart/deleted",
    "store/cart/couponApplied",
    "store/cart/abandoned",
    "store/cart/converted",
    "store/cart/lineItem/*",
    "store/cart/lineItem/created",
    "store/cart/lineItem/updated",
    "store/cart/lineItem/deleted",
    "store/category/*",
    "store/category/created",
    "store/category/updated",
    "store/category/deleted",
    "store/channel/*",
    "store/channel/created",
    "store/channel/updated",
    "store/customer/*",
    "store/customer/created",
    "store/customer/updated",
    "store/customer/deleted",
    "store/customer/address/created",
    "store/customer/address/updated",
    "store/customer/address/deleted",
    "store/customer/payment/instrument/default/updated",
    "store/information/updated",
    "store/order/*",
    "store/order/created",
    "store/order/updated",
    "store/order/archived",
    "store/order/statusUpdated",
    "store/order/message/created",
    "store/order/refund/created",
    "store/order/transaction/created",
    "store/order/transaction/updated",
    "store/product/*",
    "store/product/created",
    "store/product/updated",
    "store/product/deleted",
    "store/product/inventory/updated",
    "store/product/inventory/order/updated",
    "store/shipment/*",
    "store/shipment/created",
    "store/shipment/updated",
    "store/shipment/deleted",
    "store/sku/*",
    "store/sku/created",
    "store/sku/updated",
    "store/sku/deleted",
    "store/sku/inventory/updated",
    "store/sku/inventory/order/updated",
    "store/subscriber/*",
    "store/subscriber/created",
    "store/subscriber/updated",
    "store/subscriber/deleted",
];

/// Does a hook registered on `hook_scope` receive an event of `event_scope`?
pub(crate) fn scope_matches(hook_scope: &str, event_scope: &str) -> bool {
    match hook_scope.strip_suffix('*') {
        Some(prefix) => event_scope.starts_with(prefix),
        None => hook_scope == event_scope,
    }
}

/// One event, serialized once so every retry carries the identical body and hash.
#[derive(Debug)]
pub(crate) struct Event {
    pub body: Bytes,
    /// The envelope's `hash` (what a receiver dedupes on).
    pub hash: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub hook_id: u64,
    pub event: Arc<Event>,
    pub failures: usize,
    pub due: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub(crate) struct DispatchState {
    pub pending: Vec<Delivery>,
    pub in_flight: usize,
    /// The `hash` of every delivery answered with a 2xx, in order (repeats included).
    pub acknowledged: Vec<String>,
}

/// Shared dispatcher state.
pub(crate) struct Dispatcher {
    pub state: Mutex<DispatchState>,
    pub wake: Notify,
    pub changed: watch::Sender<u64>,
}

impl Dispatcher {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(DispatchState::default()),
            wake: Notify::new(),
            changed: watch::channel(0).0,
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn backlog(&self) -> usize {
        let s = self.state.lock();
        s.pending.len() + s.in_flight
    }

    pub fn acknowledged(&self) -> Vec<String> {
        self.state.lock().acknowledged.clone()
    }

    pub fn quiescent(&self, now: DateTime<Utc>) -> bool {
        let s = self.state.lock();
        s.in_flight == 0 && s.pending.iter().all(|d| d.due > now)
    }
}

/// Builds the event for `scope`/`data` and queues one delivery per matching active hook.
/// Called with the store locked (lock order: store, then dispatcher).
pub(crate) fn emit(inner: &Inner, store: &mut Store, scope: &str, data: Value) {
    let now = inner.clock.now();
    let hooks: Vec<u64> = store
        .hooks
        .values()
        .filter(|h| h.is_active && scope_matches(&h.scope, scope))
        .map(|h| h.id)
        .collect();
    if hooks.is_empty() {
        return;
    }
    let seq = store.next("event");
    let created_at = now.timestamp();
    let mut hasher = Sha256::new();
    hasher.update(inner.store_id.to_string().as_bytes());
    hasher.update(scope.as_bytes());
    hasher.update(data.to_string().as_bytes());
    hasher.update(created_at.to_le_bytes());
    hasher.update(seq.to_le_bytes());
    let digest = hasher.finalize();
    // 40 hex digits, like the documented SHA-1 hashes.
    let hash = hex::encode(&digest[..20]);
    let payload = json!({
        "scope": scope,
        "store_id": inner.store_id.to_string(),
        "data": data,
        "hash": hash,
        "created_at": created_at,
        "producer": format!("stores/{}", inner.config.store_hash),
    });
    let event = Arc::new(Event {
        body: Bytes::from(payload.to_string()),
        hash,
    });
    // Fault injection: random extra delays (reordering) and duplicate sends of the same event.
    let max_ms = u64::try_from(store.faults.max_extra_delay.as_millis()).unwrap_or(u64::MAX);
    let dup = store.faults.duplicate_per_mille.min(1000);
    let delay = |rng: &mut rand_chacha::ChaCha8Rng| {
        if max_ms == 0 {
            now
        } else {
            let ms = rng.random_range(0..=max_ms);
            now + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
        }
    };
    let mut deliveries = Vec::new();
    for hook_id in hooks {
        inner
            .counters
            .webhook_events
            .fetch_add(1, Ordering::Relaxed);
        let copies = if dup > 0 && store.fault_rng.random_range(0..1000) < dup {
            2
        } else {
            1
        };
        for _ in 0..copies {
            deliveries.push(Delivery {
                hook_id,
                event: event.clone(),
                failures: 0,
                due: delay(&mut store.fault_rng),
            });
        }
    }
    inner.dispatcher.state.lock().pending.extend(deliveries);
    inner.dispatcher.bump();
    inner.dispatcher.wake.notify_one();
}

/// The dispatcher loop: starts due deliveries concurrently, sleeps on the clock until the next
/// one is due or something is queued.
pub(crate) async fn run(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = inner.clock.now();
        let (due, next_due) = {
            let mut s = inner.dispatcher.state.lock();
            let (due, rest): (Vec<Delivery>, Vec<Delivery>) =
                s.pending.drain(..).partition(|d| d.due <= now);
            s.pending = rest;
            s.in_flight += due.len();
            (due, s.pending.iter().map(|d| d.due).min())
        };
        for d in due {
            let inner = inner.clone();
            tokio::spawn(async move { attempt(inner, d).await });
        }
        let clock = inner.clock.clone();
        let sleep = async move {
            match next_due {
                Some(at) => {
                    let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
                    clock.sleep(wait).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = inner.dispatcher.wake.notified() => {}
            _ = shutdown.changed() => break,
        }
    }
}

async fn attempt(inner: Arc<Inner>, mut d: Delivery) {
    let (hook, fail_until) = {
        let store = inner.store.lock();
        let hook = store
            .hooks
            .get(&d.hook_id)
            .filter(|h| h.is_active)
            .map(|h| (h.destination.clone(), h.headers.clone()));
        (hook, store.faults.fail_all_until)
    };
    let Some((destination, headers)) = hook else {
        finish(&inner);
        return;
    };
    let unreachable = fail_until.is_some_and(|t| inner.clock.now() < t);
    let mut req = inner
        .http
        .post(&destination)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(d.event.body.clone());
    for (k, v) in headers.iter().flatten() {
        req = req.header(k.as_str(), v.as_str());
    }
    inner.counters.webhooks_sent.fetch_add(1, Ordering::Relaxed);
    let clock = inner.clock.clone();
    let ok = if unreachable {
        // Fault: the receiver is unreachable; nothing leaves the twin.
        false
    } else {
        tokio::select! {
            r = req.send() => r.map(|resp| resp.status().is_success()).unwrap_or(false),
            () = clock.sleep(DELIVERY_TIMEOUT) => false,
        }
    };
    if ok {
        inner
            .counters
            .webhooks_delivered
            .fetch_add(1, Ordering::Relaxed);
        inner
            .dispatcher
            .state
            .lock()
            .acknowledged
            .push(d.event.hash.clone());
    } else {
        inner
            .counters
            .webhook_failures
            .fetch_add(1, Ordering::Relaxed);
        d.failures += 1;
        let schedule = &inner.config.webhook_retry_schedule;
        if let Some(delay) = schedule.get(d.failures - 1) {
            let delta = chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::MAX);
            d.due = inner.clock.now() + delta;
            inner.dispatcher.state.lock().pending.push(d);
        } else {
            // Retries exhausted: deactivate the hook; nothing queued for it is replayed.
            let now = inner.clock.now().timestamp();
            {
                let mut store = inner.store.lock();
                if let Some(h) = store.hooks.get_mut(&d.hook_id) {
                    if h.is_active {
                        h.is_active = false;
                        h.updated_at = now;
                        inner
                            .counters
                            .hooks_deactivated
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            inner
                .dispatcher
                .state
                .lock()
                .pending
                .retain(|p| p.hook_id != d.hook_id);
        }
    }
    finish(&inner);
}

fn finish(inner: &Inner) {
    {
        let mut s = inner.dispatcher.state.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
    }
    inner.dispatcher.bump();
    inner.dispatcher.wake.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_by_prefix() {
        assert!(scope_matches("store/order/*", "store/order/statusUpdated"));
        assert!(scope_matches("store/sku/*", "store/sku/inventory/updated"));
        assert!(!scope_matches("store/order/*", "store/customer/created"));
        assert!(scope_matches("store/order/created", "store/order/created"));
        assert!(!scope_matches("store/order/created", "store/order/updated"));
    }
}
