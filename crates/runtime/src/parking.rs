//! Parking: a component that only an operator can unblock (a revoked credential, a missing
//! permission) stops retrying and is listed here with the hint; the status shows it as an alert.
//! Its data stays queued. It probes once every [`PROBE_EVERY`] in case the fix was made without
//! a restart, and unparks on the first success.

use std::collections::BTreeMap;
use std::time::Duration;

use bigreach_core::app::status::{Component, Parked};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;

/// How often a parked component tries once more.
pub const PROBE_EVERY: Duration = Duration::from_secs(300);

/// The parked components of one appliance.
#[derive(Debug, Default)]
pub struct Parking {
    parked: Mutex<BTreeMap<Component, Parked>>,
}

impl Parking {
    /// Parks `component` (keeping the first `since` when it was parked already); it probes
    /// every [`PROBE_EVERY`].
    pub fn park(&self, component: Component, at: DateTime<Utc>, reason: String, hint: String) {
        self.park_probing_every(component, at, reason, hint, PROBE_EVERY);
    }

    /// Parks `component`, which probes every `probe_every` (the poller probes with its next
    /// pass, so its interval is what the status shows).
    pub fn park_probing_every(
        &self,
        component: Component,
        at: DateTime<Utc>,
        reason: String,
        hint: String,
        probe_every: Duration,
    ) {
        let mut parked = self.parked.lock();
        let since = parked.get(&component).map_or(at, |p| p.since);
        if !parked.contains_key(&component) {
            tracing::error!(component = component.name(), reason = %crate::log_safe::log_safe(&reason), %hint, "parked until an operator acts");
        }
        parked.insert(
            component,
            Parked {
                component,
                since,
                reason,
                hint,
                probe_every_secs: probe_every.as_secs(),
            },
        );
    }

    /// Unparks `component` after a success; returns whether it was parked.
    pub fn unpark(&self, component: Component) -> bool {
        let was = self.parked.lock().remove(&component).is_some();
        if was {
            tracing::info!(component = component.name(), "unparked: the fix worked");
        }
        was
    }

    /// Whether `component` is parked.
    pub fn is_parked(&self, component: Component) -> bool {
        self.parked.lock().contains_key(&component)
    }

    /// Every parked component.
    pub fn list(&self) -> Vec<Parked> {
        self.parked.lock().values().cloned().collect()
    }
}
