//! The twin's mutable state, and the small reply type every handler returns.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use http::StatusCode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::catalogs::Catalogs;
use super::config::{BloomreachTwinConfig, LatencyModel};
use super::imports::Imports;
use super::profiles::Profiles;
use super::truth::{BloomreachTruth, TwinStats};

/// Float Unix seconds of `at`, with microsecond precision.
pub(crate) fn epoch_seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_micros() as f64 / 1e6
}

/// Rounds float seconds to the 6 decimal places the platform keeps.
pub(crate) fn round_micros(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e6
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Json(Value),
    Html(String),
}

/// A status, extra headers and a body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Body,
    /// Headers besides `content-type` and `x-request-id`.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Body::Json(body),
            headers: Vec::new(),
        }
    }

    pub(crate) fn html(status: StatusCode, body: impl Into<String>) -> Self {
        Self {
            status,
            body: Body::Html(body.into()),
            headers: Vec::new(),
        }
    }

    /// The same reply with one more header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// `{"success": false, "errors": [message]}` with `status`.
    pub(crate) fn errors(status: StatusCode, message: &str) -> Self {
        Self::json(status, json!({"success": false, "errors": [message]}))
    }
}

/// Everything the twin remembers, behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub config: BloomreachTwinConfig,
    pub rng: ChaCha8Rng,
    pub stats: TwinStats,
    pub profiles: Profiles,
    pub catalogs: Catalogs,
    pub imports: Imports,
    pub outage_until: Option<DateTime<Utc>>,
    pub requests_per_minute: u32,
    /// Runtime copies of the fault knobs (start from the config, changed by the setters).
    pub latency: LatencyModel,
    pub server_error_per_mille: u32,
    pub retry_after_seconds: Option<u32>,
    /// Accepted-request times per source IP within the last 60 s (sliding window).
    pub windows: HashMap<IpAddr, VecDeque<DateTime<Utc>>>,
}

impl State {
    pub(crate) fn new(config: BloomreachTwinConfig) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            requests_per_minute: config.requests_per_minute,
            latency: config.latency,
            server_error_per_mille: config.server_error_per_mille,
            retry_after_seconds: config.retry_after_seconds,
            config,
            stats: TwinStats::default(),
            profiles: Profiles::default(),
            catalogs: Catalogs::default(),
            imports: Imports::default(),
            outage_until: None,
            windows: HashMap::new(),
        }
    }

    pub(crate) fn truth(&self) -> BloomreachTruth {
        BloomreachTruth {
            profiles: self.profiles.truth(),
            catalogs: self.catalogs.truth(),
            imports: self.imports.truth(),
            stats: self.stats.clone(),
        }
    }

    /// `n` random bytes as lowercase hex.
    pub(crate) fn random_hex(&mut self, bytes: usize) -> String {
        let raw: Vec<u8> = (0..bytes).map(|_| self.rng.random::<u8>()).collect();
        hex::encode(raw)
    }

    /// Records a request from `ip` at `now` in the sliding 60-second window. Returns false (and
    /// records nothing) when the window is already full.
    pub(crate) fn admit(&mut self, ip: IpAddr, now: DateTime<Utc>) -> bool {
        let limit = self.requests_per_minute as usize;
        let window = self.windows.entry(ip).or_default();
        let horizon = now - chrono::Duration::seconds(60);
        while window.front().is_some_and(|t| *t <= horizon) {
            window.pop_front();
        }
        if window.len() >= limit {
            return false;
        }
        window.push_back(now);
        true
    }
}
