//! Quota pacing and retry timing.
//!
//! BigCommerce's quota is per store and shared by every app on it, refreshed on a window
//! (30 s by default). Each response reports `X-Rate-Limit-Requests-Quota`,
//! `X-Rate-Limit-Requests-Left` and `X-Rate-Limit-Time-Reset-Ms`. Before each request the client
//! asks [`QuotaTracker::admit`]: once `requests_left ≤ ceil(quota × reserve_share)` it waits (on
//! the injected clock) until the window resets, leaving that share to the merchant's other apps.
//! Admission decrements the known `requests_left` at once, so concurrent callers see each
//! other's requests before the responses arrive.
//!
//! Retry timing ([`RetryPolicy`]) is a small computed schedule rather than `backon`: the client
//! mixes three different waits (quota reset, platform-load backoff, transient backoff) in one
//! loop, and all of them must sleep on the injected clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rand::Rng;
use reqwest::header::HeaderMap;

/// Rate-limit headers of one response (names are matched case-insensitively).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RateHeaders {
    pub quota: Option<u32>,
    pub requests_left: Option<u32>,
    pub reset_ms: Option<u64>,
    pub window_ms: Option<u64>,
    /// `X-Retry-After`, seconds.
    pub retry_after_secs: Option<u64>,
}

impl RateHeaders {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        fn number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| text.trim().parse::<T>().ok())
        }
        Self {
            quota: number(headers, "x-rate-limit-requests-quota"),
            requests_left: number(headers, "x-rate-limit-requests-left"),
            reset_ms: number(headers, "x-rate-limit-time-reset-ms"),
            window_ms: number(headers, "x-rate-limit-time-window-ms"),
            retry_after_secs: number(headers, "x-retry-after"),
        }
    }

    /// Whether the response carried the quota headers. A 429 without them is platform load,
    /// not our quota.
    pub fn has_quota_headers(&self) -> bool {
        self.reset_ms.is_some() || self.requests_left.is_some() || self.quota.is_some()
    }
}

/// What the client knows about the store's request quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaSnapshot {
    /// Requests allowed per window (`X-Rate-Limit-Requests-Quota`), once seen.
    pub quota: Option<u32>,
    /// Requests left in the current window, as last reported minus requests sent since.
    pub requests_left: Option<u32>,
    /// When the current window resets.
    pub reset_at: Option<DateTime<Utc>>,
    /// Requests sent by this client since it was built (attempts, including retries).
    pub requests_sent: u64,
    /// 429 responses received.
    pub rate_limited: u64,
}

const DEFAULT_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct QuotaTracker {
    state: Mutex<TrackerState>,
}

#[derive(Debug, Default)]
struct TrackerState {
    snapshot: QuotaSnapshot,
    window: Option<Duration>,
}

impl QuotaTracker {
    pub fn snapshot(&self) -> QuotaSnapshot {
        self.state.lock().snapshot
    }

    /// Either admits one request (and counts it) or says how long to wait first.
    pub fn admit(&self, now: DateTime<Utc>, reserve_share: f64) -> Result<(), Duration> {
        let mut state = self.state.lock();
        let window = state.window.unwrap_or(DEFAULT_WINDOW);
        let snapshot = &mut state.snapshot;
        if let (Some(quota), Some(reset_at)) = (snapshot.quota, snapshot.reset_at) {
            if reset_at <= now {
                // The window has reset: assume a fresh quota until a response says otherwise.
                snapshot.requests_left = Some(quota);
                snapshot.reset_at = Some(next_reset(reset_at, now, window));
            }
        }
        if let (Some(quota), Some(left), Some(reset_at)) =
            (snapshot.quota, snapshot.requests_left, snapshot.reset_at)
        {
            let reserve = reserve_for(quota, reserve_share);
            if left <= reserve && reset_at > now {
                return Err((reset_at - now).to_std().unwrap_or(Duration::ZERO));
            }
        }
        snapshot.requests_sent += 1;
        if let Some(left) = snapshot.requests_left.as_mut() {
            *left = left.saturating_sub(1);
        }
        Ok(())
    }

    /// Records the rate-limit headers of a response.
    pub fn observe(&self, headers: &RateHeaders, now: DateTime<Utc>) {
        let mut state = self.state.lock();
        if let Some(window_ms) = headers.window_ms {
            state.window = Some(Duration::from_millis(window_ms));
        }
        let snapshot = &mut state.snapshot;
        if let Some(quota) = headers.quota {
            snapshot.quota = Some(quota);
        }
        if let Some(left) = headers.requests_left {
            snapshot.requests_left = Some(left);
        }
        if let Some(reset_ms) = headers.reset_ms {
            let delta = chrono::Duration::milliseconds(i64::try_from(reset_ms).unwrap_or(i64::MAX));
            snapshot.reset_at = now.checked_add_signed(delta);
        }
    }

    pub fn note_rate_limited(&self) {
        self.state.lock().snapshot.rate_limited += 1;
    }
}

fn next_reset(previous: DateTime<Utc>, now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::seconds(30));
    let mut next = previous;
    if window <= chrono::Duration::zero() {
        return now;
    }
    while next <= now {
        next += window;
    }
    next
}

/// `ceil(quota × reserve_share)`, the requests left untouched for the merchant's other apps.
pub(crate) fn reserve_for(quota: u32, reserve_share: f64) -> u32 {
    let reserve = (f64::from(quota) * reserve_share).ceil();
    if reserve <= 0.0 {
        0
    } else if reserve >= f64::from(quota) {
        quota
    } else {
        reserve as u32
    }
}

/// Backoff timing for retries. Delays grow as `base × 2^n`, capped, with "equal jitter"
/// (uniform in `[d/2, d]`) so parallel clients do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay after a 5xx or transport error.
    pub transient_base: Duration,
    pub transient_cap: Duration,
    /// First delay after a 429 without quota headers (platform under load).
    pub platform_load_base: Duration,
    pub platform_load_cap: Duration,
    /// Extra wait added per consecutive quota 429, on top of `X-Rate-Limit-Time-Reset-Ms`.
    pub quota_step: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            transient_base: Duration::from_secs(2),
            transient_cap: Duration::from_secs(60),
            platform_load_base: Duration::from_secs(5),
            platform_load_cap: Duration::from_secs(120),
            quota_step: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (0-based) after a transient failure.
    pub fn transient_delay(&self, retry: u32) -> Duration {
        jittered(exponential(self.transient_base, self.transient_cap, retry))
    }

    /// Delay before retry number `retry` (0-based) after a 429 without quota headers.
    pub fn platform_load_delay(&self, retry: u32) -> Duration {
        jittered(exponential(
            self.platform_load_base,
            self.platform_load_cap,
            retry,
        ))
    }

    /// Wait after a quota 429: the window reset (or `X-Retry-After`), growing with each
    /// consecutive 429.
    pub(crate) fn quota_delay(&self, headers: &RateHeaders, consecutive: u32) -> Duration {
        let reset = headers
            .reset_ms
            .map(Duration::from_millis)
            .unwrap_or_default();
        let retry_after = headers
            .retry_after_secs
            .map(Duration::from_secs)
            .unwrap_or_default();
        let progressive = self
            .quota_step
            .saturating_mul(consecutive.saturating_sub(1));
        reset.max(retry_after).saturating_add(progressive)
    }
}

fn exponential(base: Duration, cap: Duration, retry: u32) -> Duration {
    let factor = 2u32.checked_pow(retry.min(20)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap)
}

fn jittered(delay: Duration) -> Duration {
    let half = delay / 2;
    let spread = delay.saturating_sub(half).as_millis() as u64;
    if spread == 0 {
        return delay;
    }
    half + Duration::from_millis(rand::rng().random_range(0..=spread))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn reserve_is_ceiling_of_share() {
        assert_eq!(reserve_for(150, 0.2), 30);
        assert_eq!(reserve_for(151, 0.2), 31);
        assert_eq!(reserve_for(150, 0.0), 0);
        assert_eq!(reserve_for(10, 0.99), 10);
    }

    #[test]
    fn admit_waits_for_reset_once_reserve_is_reached() {
        let tracker = QuotaTracker::default();
        let now = start();
        tracker.observe(
            &RateHeaders {
                quota: Some(10),
                requests_left: Some(4),
                reset_ms: Some(15_000),
                ..RateHeaders::default()
            },
            now,
        );
        // reserve = 2: two requests go (4 → 3 → 2), the third waits for the reset.
        assert!(tracker.admit(now, 0.2).is_ok());
        assert!(tracker.admit(now, 0.2).is_ok());
        assert_eq!(tracker.admit(now, 0.2), Err(Duration::from_secs(15)));
        let later = now + chrono::Duration::seconds(15);
        assert!(tracker.admit(later, 0.2).is_ok());
        let snapshot = tracker.snapshot();
        assert_eq!(snapshot.requests_sent, 3);
        assert_eq!(snapshot.requests_left, Some(9));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        for retry in 0..10 {
            let delay = policy.transient_delay(retry);
            let full = exponential(policy.transient_base, policy.transient_cap, retry);
            assert!(delay >= full / 2 && delay <= full, "{delay:?} vs {full:?}");
        }
        assert_eq!(
            exponential(Duration::from_secs(2), Duration::from_secs(60), 10),
            Duration::from_secs(60)
        );
    }
}
