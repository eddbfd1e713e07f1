//! The injected clock.
//!
//! Architecture invariant: no BigReach component reads the wall clock or sleeps directly. Every
//! component that needs "now" or a delay holds an `Arc<dyn Clock>`. Production uses
//! [`SystemClock`]; tests use [`ManualClock`] and advance it explicitly, so no test sleeps to wait
//! for timing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::watch;

/// A boxed future returned by [`Clock::sleep`].
pub type SleepFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Source of the current UTC time and of delays.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// Completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> SleepFuture<'_>;

    /// Milliseconds since the Unix epoch, for compact storage.
    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock and tokio's timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// A shared handle to the system clock.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Virtual time that runs `factor` times faster than real time, from a chosen start. The
/// scenario runner uses it so that a day of trading runs in seconds while every component (the
/// appliance and both twins) still shares one consistent clock.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    start_virtual: DateTime<Utc>,
    start_real: tokio::time::Instant,
    factor: f64,
}

impl ScaledClock {
    /// A clock at `start` that runs `factor` times faster than real time (`factor` ≥ 1).
    pub fn new(start: DateTime<Utc>, factor: f64) -> Arc<Self> {
        Arc::new(Self {
            start_virtual: start,
            start_real: tokio::time::Instant::now(),
            factor: if factor.is_finite() {
                factor.max(1.0)
            } else {
                1.0
            },
        })
    }

    /// Virtual seconds per real second.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The real duration of a virtual one.
    pub fn real_duration(&self, virtual_duration: Duration) -> Duration {
        virtual_duration.div_f64(self.factor)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.start_real.elapsed();
        let virtual_elapsed = real.mul_f64(self.factor);
        self.start_virtual
            + chrono::Duration::from_std(virtual_elapsed).unwrap_or(chrono::Duration::MAX)
    }

    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        Box::pin(tokio::time::sleep(self.real_duration(duration)))
    }
}

/// A clock that moves only when told to. Sleepers wake when [`ManualClock::advance`] or
/// [`ManualClock::set`] moves the time past their deadline.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    ticks: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    /// A manual clock that starts at `start`.
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        let (ticks, _) = watch::channel(start);
        Arc::new(Self {
            now: Mutex::new(start),
            ticks,
        })
    }

    /// Moves the clock forward by `duration` and wakes every sleeper whose deadline passed.
    pub fn advance(&self, duration: Duration) {
        let delta = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        let mut now = self.now.lock();
        *now += delta;
        let current = *now;
        drop(now);
        self.ticks.send_replace(current);
    }

    /// Sets the clock to `at`. Moving backwards is allowed (to test skew) but never wakes anyone.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock() = at;
        self.ticks.send_replace(at);
    }

    /// How many tasks are currently waiting in [`Clock::sleep`] on this clock.
    pub fn sleepers(&self) -> usize {
        self.ticks.receiver_count()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock()
    }

    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        let delta = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        let deadline = self.now().checked_add_signed(delta);
        let mut ticks = self.ticks.subscribe();
        Box::pin(async move {
            let Some(deadline) = deadline else {
                std::future::pending::<()>().await;
                return;
            };
            // wait_for checks the current value first, then every change.
            let _ = ticks.wait_for(|now| *now >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn manual_sleep_wakes_only_after_advance() {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep(Duration::from_secs(10)).await })
        };
        // Let the sleeper register.
        while clock.sleepers() == 0 {
            tokio::task::yield_now().await;
        }
        clock.advance(Duration::from_secs(9));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(1));
        sleeper.await.unwrap();
        assert_eq!(
            clock.now(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn scaled_clock_runs_faster_than_real_time() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ScaledClock::new(start, 60.0);
        // Tokio's paused test clock: one real second passes without waiting.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(60));
        assert_eq!(
            clock.real_duration(Duration::from_secs(120)),
            Duration::from_secs(2)
        );
    }

    #[tokio::test]
    async fn zero_sleep_completes_at_once() {
        let clock = ManualClock::new(Utc::now());
        clock.sleep(Duration::ZERO).await;
    }
}
