//! The lane gate: what the current cutover stage lets the deliverer take, and how fast.
//!
//! - The deliverer claims only from the lanes the stage opens ([`LaneGate::lanes`]); a closed
//!   lane keeps its queue (nothing is claimed, so nothing is dropped or dead-lettered) and
//!   flows once a stage opens it.
//! - The stage's ceiling scales the configured Bloomreach rate ([`LaneGate::ceiling`]); the
//!   AIMD recovery climbs back to the scaled ceiling, not above it.
//! - The gate also keeps the recent purchase acknowledgements (acknowledged at, BigCommerce
//!   time), bounded, for the cutover checks' latency figure (`crate::cutover`).
//!
//! The stage is set by the application API when an operator moves it, and by the check loop
//! (which also re-reads the store on every round).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use bigreach_core::cutover::Stage;
use bigreach_core::outbox::LaneSet;
use parking_lot::Mutex;

/// Purchase acknowledgements kept for the latency check (the newest).
const LATENCY_LOG: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Gated {
    stage: Stage,
    entered_at_ms: Option<i64>,
}

/// What the current stage lets through (shared by the deliverer, the API and the check loop).
#[derive(Debug)]
pub struct LaneGate {
    gated: Mutex<Gated>,
    /// Bumped on every change, so the deliverer applies a new ceiling once.
    generation: AtomicU64,
    /// (acknowledged at, BigCommerce time) of recent purchases, oldest first.
    purchases: Mutex<VecDeque<(i64, i64)>>,
}

impl LaneGate {
    /// A gate at `stage`, entered at `entered_at_ms` (`None`: not recorded).
    pub fn new(stage: Stage, entered_at_ms: Option<i64>) -> Self {
        LaneGate {
            gated: Mutex::new(Gated {
                stage,
                entered_at_ms,
            }),
            generation: AtomicU64::new(1),
            purchases: Mutex::new(VecDeque::new()),
        }
    }

    /// A gate that lets everything through at the full rate (the last stage).
    pub fn open() -> Self {
        LaneGate::new(Stage::Triggers, None)
    }

    /// Moves the gate to `stage`, entered at `entered_at_ms`; a no-op when nothing changed.
    pub fn set(&self, stage: Stage, entered_at_ms: Option<i64>) {
        let mut gated = self.gated.lock();
        if gated.stage == stage && gated.entered_at_ms == entered_at_ms {
            return;
        }
        if gated.stage != stage {
            tracing::info!(from = %gated.stage, to = %stage, "cutover stage changed");
        }
        *gated = Gated {
            stage,
            entered_at_ms,
        };
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// The current stage.
    pub fn stage(&self) -> Stage {
        self.gated.lock().stage
    }

    /// When the current stage was entered, if recorded.
    pub fn entered_at_ms(&self) -> Option<i64> {
        self.gated.lock().entered_at_ms
    }

    /// The lanes that may deliver.
    pub fn lanes(&self) -> LaneSet {
        self.stage().lanes()
    }

    /// The request ceiling for a configured rate (at least 1: the pacer's floor).
    pub fn ceiling(&self, configured: u32) -> u32 {
        self.stage().requests_per_second(configured).max(1)
    }

    /// A counter that changes whenever the stage does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Records a purchase Bloomreach acknowledged at `acked_at_ms` that happened at
    /// `event_ms`.
    pub fn observe_purchase(&self, acked_at_ms: i64, event_ms: i64) {
        let mut purchases = self.purchases.lock();
        if purchases.len() == LATENCY_LOG {
            purchases.pop_front();
        }
        purchases.push_back((acked_at_ms, event_ms));
    }

    /// Latencies (ms) of the purchases acknowledged at or after `since_ms`, each timed from
    /// the later of its BigCommerce time and `start_ms` (when its lane opened).
    pub fn purchase_latencies(&self, since_ms: i64, start_ms: i64) -> Vec<i64> {
        self.purchases
            .lock()
            .iter()
            .filter(|(acked, _)| *acked >= since_ms)
            .map(|(acked, event)| (acked - (*event).max(start_ms)).max(0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bigreach_core::outbox::Lane;

    #[test]
    fn the_gate_follows_the_stage_and_scales_the_rate() {
        let gate = LaneGate::new(Stage::ReadOnly, Some(1_000));
        assert!(!gate.lanes().contains(Lane::Transactions));
        assert!(gate.lanes().contains(Lane::Catalog));
        assert_eq!(gate.ceiling(90), 45);
        let before = gate.generation();
        gate.set(Stage::ReadOnly, Some(1_000));
        assert_eq!(gate.generation(), before);
        gate.set(Stage::Ingest, Some(2_000));
        assert_ne!(gate.generation(), before);
        assert!(gate.lanes().contains(Lane::Transactions));
        assert_eq!(gate.ceiling(90), 72);
        gate.set(Stage::Preflight, Some(3_000));
        assert_eq!(gate.lanes(), LaneSet::NONE);
        assert_eq!(gate.ceiling(90), 1);
        assert_eq!(LaneGate::open().lanes(), LaneSet::ALL);
    }

    #[test]
    fn purchase_latencies_count_from_when_the_lane_opened() {
        let gate = LaneGate::open();
        gate.observe_purchase(10_000, 1_000);
        gate.observe_purchase(20_000, 19_000);
        gate.observe_purchase(30_000, 25_000);
        assert_eq!(gate.purchase_latencies(15_000, 0), [1_000, 5_000]);
        // A purchase that waited behind a closed lane is timed from the opening.
        assert_eq!(gate.purchase_latencies(0, 8_000), [2_000, 1_000, 5_000]);
    }
}
