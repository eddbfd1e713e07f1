//! Request pacing: a GCRA token bucket (`governor`) driven by the injected clock.
//!
//! `governor` asks its clock for "now" and, when a request must wait, answers `NotUntil`; we
//! compute the wait from our clock and sleep on it, so tests with a `ManualClock` never sleep.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::SharedClock;
use chrono::{DateTime, Utc};
use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use parking_lot::RwLock;

/// `governor`'s view of our clock: nanoseconds since the pacer was built.
#[derive(Clone)]
struct PacingClock {
    clock: SharedClock,
    origin: DateTime<Utc>,
}

impl GovernorClock for PacingClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let elapsed = (self.clock.now() - self.origin)
            .to_std()
            .unwrap_or(Duration::ZERO);
        Nanos::from(elapsed)
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, PacingClock, NoOpMiddleware<Nanos>>;

/// A request-rate ceiling that can be changed while in use.
pub(crate) struct Pacer {
    clock: PacingClock,
    limiter: RwLock<Arc<Limiter>>,
    rate: RwLock<u32>,
}

impl Pacer {
    pub fn new(clock: SharedClock, requests_per_second: u32) -> Self {
        let origin = clock.now();
        let clock = PacingClock { clock, origin };
        let rate = requests_per_second.max(1);
        let limiter = Arc::new(build(clock.clone(), rate));
        Self {
            clock,
            limiter: RwLock::new(limiter),
            rate: RwLock::new(rate),
        }
    }

    /// Changes the ceiling; `0` is treated as 1 request per second.
    pub fn set_rate(&self, requests_per_second: u32) {
        let rate = requests_per_second.max(1);
        let mut current = self.rate.write();
        if *current == rate {
            return;
        }
        *current = rate;
        *self.limiter.write() = Arc::new(build(self.clock.clone(), rate));
    }

    pub fn rate(&self) -> u32 {
        *self.rate.read()
    }

    /// Waits until one request may go.
    pub async fn acquire(&self) {
        loop {
            let limiter = self.limiter.read().clone();
            match limiter.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    self.clock
                        .clock
                        .sleep(wait.max(Duration::from_micros(1)))
                        .await;
                }
            }
        }
    }
}

fn build(clock: PacingClock, rate: u32) -> Limiter {
    let per_second = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct_with_clock(Quota::per_second(per_second), clock)
}
