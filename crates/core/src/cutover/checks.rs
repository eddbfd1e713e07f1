//! The checks that watch a running stage, with three outcomes (pass, fail, inconclusive) and a
//! mode each (enforce or observe), after Argo Rollouts' analysis runs. Pure: the runtime
//! measures a window ([`WindowFigures`]) and [`decide`] says what to do:
//!
//! - an **enforced** failure falls back to the previous stage ([`Decision::FallBack`], naming
//!   the check, the value, the threshold and the window);
//! - an **observed** failure, or any inconclusive check (too few samples to judge while
//!   something looks wrong), holds the stage for a person ([`Decision::Hold`]);
//! - otherwise the stage continues.
//!
//! | check | value | fails when |
//! |---|---|---|
//! | `rate_limited` | share of Bloomreach requests answered 429 (or rate-limited inside a 200) | above `rate_limited_max_share`, with at least `min_sample` requests |
//! | `dead_letters` | share of the commands with an outcome that were dead-lettered | above `dead_letter_max_share`, with at least `min_sample` outcomes |
//! | `purchase_latency` | p99 seconds from a purchase (or the stage's start, if later) to its acknowledgement, or the age of the oldest queued purchase if that is more | above `purchase_latency_p99_max_secs` (300: the 5-minute limit), with at least `min_sample` purchases (a queued purchase over the limit fails at once) |
//! | `identity_conflicts` | phones refused to a second person | above `identity_conflicts_max` |

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Stage;

/// A check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    /// Bloomreach 429s per request.
    RateLimited,
    /// Dead letters per outcome.
    DeadLetters,
    /// Purchase latency p99 against the 5-minute limit.
    PurchaseLatency,
    /// Identity conflicts (a phone refused to a second person).
    IdentityConflicts,
}

impl CheckId {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            CheckId::RateLimited => "rate_limited",
            CheckId::DeadLetters => "dead_letters",
            CheckId::PurchaseLatency => "purchase_latency",
            CheckId::IdentityConflicts => "identity_conflicts",
        }
    }

    /// The unit of its value and threshold.
    pub fn unit(self) -> &'static str {
        match self {
            CheckId::RateLimited | CheckId::DeadLetters => "share",
            CheckId::PurchaseLatency => "seconds",
            CheckId::IdentityConflicts => "count",
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a failure falls back on its own or waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    /// A failure falls back to the previous stage.
    Enforce,
    /// A failure holds the stage and asks a person (to tune a threshold before trusting it).
    Observe,
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Within its threshold (or nothing to judge and nothing wrong).
    Pass,
    /// Over its threshold with enough samples.
    Fail,
    /// Something looks wrong but there are too few samples to judge.
    Inconclusive,
}

/// The thresholds and modes of the checks (`[cutover.checks]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckThresholds {
    /// Largest share of Bloomreach requests answered 429.
    #[serde(default = "default_rate_limited_max_share")]
    pub rate_limited_max_share: f64,
    /// Its mode.
    #[serde(default = "enforce")]
    pub rate_limited: CheckMode,
    /// Largest share of command outcomes that are dead letters.
    #[serde(default = "default_dead_letter_max_share")]
    pub dead_letter_max_share: f64,
    /// Its mode.
    #[serde(default = "enforce")]
    pub dead_letters: CheckMode,
    /// Longest purchase latency p99, in seconds.
    #[serde(default = "default_purchase_latency_p99_max_secs")]
    pub purchase_latency_p99_max_secs: u64,
    /// Its mode.
    #[serde(default = "enforce")]
    pub purchase_latency: CheckMode,
    /// Most identity conflicts in a window.
    #[serde(default)]
    pub identity_conflicts_max: u64,
    /// Its mode.
    #[serde(default = "observe")]
    pub identity_conflicts: CheckMode,
    /// Fewest requests, outcomes or purchases a share or a p99 is judged on.
    #[serde(default = "default_min_sample")]
    pub min_sample: u64,
}

fn default_rate_limited_max_share() -> f64 {
    0.05
}
fn default_dead_letter_max_share() -> f64 {
    0.01
}
fn default_purchase_latency_p99_max_secs() -> u64 {
    300
}
fn default_min_sample() -> u64 {
    10
}
fn enforce() -> CheckMode {
    CheckMode::Enforce
}
fn observe() -> CheckMode {
    CheckMode::Observe
}

impl Default for CheckThresholds {
    fn default() -> Self {
        CheckThresholds {
            rate_limited_max_share: default_rate_limited_max_share(),
            rate_limited: enforce(),
            dead_letter_max_share: default_dead_letter_max_share(),
            dead_letters: enforce(),
            purchase_latency_p99_max_secs: default_purchase_latency_p99_max_secs(),
            purchase_latency: enforce(),
            identity_conflicts_max: 0,
            identity_conflicts: observe(),
            min_sample: default_min_sample(),
        }
    }
}

impl CheckThresholds {
    /// A check's mode.
    pub fn mode(&self, check: CheckId) -> CheckMode {
        match check {
            CheckId::RateLimited => self.rate_limited,
            CheckId::DeadLetters => self.dead_letters,
            CheckId::PurchaseLatency => self.purchase_latency,
            CheckId::IdentityConflicts => self.identity_conflicts,
        }
    }

    /// A check's threshold, in its unit.
    pub fn threshold(&self, check: CheckId) -> f64 {
        match check {
            CheckId::RateLimited => self.rate_limited_max_share,
            CheckId::DeadLetters => self.dead_letter_max_share,
            CheckId::PurchaseLatency => self.purchase_latency_p99_max_secs as f64,
            CheckId::IdentityConflicts => self.identity_conflicts_max as f64,
        }
    }
}

/// Purchase latencies measured in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LatencySample {
    /// Purchases acknowledged.
    pub count: u64,
    /// Their p99 (nearest rank), in ms.
    pub p99_ms: i64,
    /// The longest, in ms.
    pub max_ms: i64,
}

impl LatencySample {
    /// The sample of these latencies (ms).
    pub fn of(mut latencies_ms: Vec<i64>) -> Self {
        if latencies_ms.is_empty() {
            return LatencySample::default();
        }
        latencies_ms.sort_unstable();
        let n = latencies_ms.len();
        // Nearest rank: the smallest value with at least 99% of the sample at or below it.
        let rank = (n * 99).div_ceil(100).max(1);
        LatencySample {
            count: n as u64,
            p99_ms: latencies_ms[rank - 1],
            max_ms: latencies_ms[n - 1],
        }
    }
}

/// What the runtime measured over one window of a running stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct WindowFigures {
    /// The window's length, in seconds (shorter than configured right after a stage starts).
    pub window_secs: u64,
    /// Bloomreach requests sent (tracking batches and catalog bulk requests).
    pub requests: u64,
    /// 429 answers (and commands rate-limited inside a 200).
    pub rate_limited: u64,
    /// Commands acknowledged.
    pub delivered: u64,
    /// Commands dead-lettered.
    pub dead_lettered: u64,
    /// Purchases acknowledged, each timed from the later of its BigCommerce time and the
    /// stage's start.
    pub purchase_latency: LatencySample,
    /// How long the oldest queued purchase has waited (from the same start), if one is queued.
    pub oldest_queued_purchase_ms: Option<i64>,
    /// Phones refused to a second person.
    pub identity_conflicts: u64,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct CheckResult {
    /// The check.
    pub check: CheckId,
    /// Its mode.
    pub mode: CheckMode,
    /// What it found.
    pub outcome: CheckOutcome,
    /// The measured value, in the check's unit.
    pub value: f64,
    /// The threshold, in the same unit.
    pub threshold: f64,
    /// The unit (`share`, `seconds`, `count`).
    pub unit: String,
    /// The window, in seconds.
    pub window_secs: u64,
    /// What it saw, in words.
    pub reason: String,
}

/// What to do after a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Every check passed.
    Continue,
    /// An enforced check failed: back to the previous stage.
    FallBack {
        /// The check.
        check: CheckId,
        /// Its value.
        value: f64,
        /// Its threshold.
        threshold: f64,
        /// The window, in seconds.
        window_secs: u64,
    },
    /// An observed check failed, or a check was inconclusive: wait for a person.
    Hold {
        /// The check.
        check: CheckId,
        /// What it saw.
        reason: String,
    },
}

/// A share, judged on a sample: fail above the threshold with enough samples; with fewer,
/// inconclusive if anything went wrong at all.
fn share_outcome(bad: u64, total: u64, threshold: f64, min_sample: u64) -> CheckOutcome {
    let share = if total == 0 {
        0.0
    } else {
        bad.min(total) as f64 / total as f64
    };
    match (total >= min_sample, share > threshold) {
        (true, true) => CheckOutcome::Fail,
        (true, false) => CheckOutcome::Pass,
        (false, _) if bad == 0 => CheckOutcome::Pass,
        (false, _) => CheckOutcome::Inconclusive,
    }
}

fn one(
    check: CheckId,
    figures: &WindowFigures,
    thresholds: &CheckThresholds,
) -> (CheckOutcome, f64, String) {
    let threshold = thresholds.threshold(check);
    let min = thresholds.min_sample;
    match check {
        CheckId::RateLimited => {
            let (bad, total) = (figures.rate_limited, figures.requests);
            let value = if total == 0 {
                0.0
            } else {
                bad.min(total) as f64 / total as f64
            };
            let outcome = share_outcome(bad, total, threshold, min);
            let reason = format!(
                "{bad} of {total} Bloomreach requests were rate-limited (429){}",
                small(outcome, total, min, "requests")
            );
            (outcome, value, reason)
        }
        CheckId::DeadLetters => {
            let (bad, total) = (
                figures.dead_lettered,
                figures.delivered + figures.dead_lettered,
            );
            let value = if total == 0 {
                0.0
            } else {
                bad as f64 / total as f64
            };
            let outcome = share_outcome(bad, total, threshold, min);
            let reason = format!(
                "{bad} of {total} commands with an outcome were dead-lettered{}",
                small(outcome, total, min, "outcomes")
            );
            (outcome, value, reason)
        }
        CheckId::PurchaseLatency => {
            let limit_ms = (threshold * 1000.0) as i64;
            let sample = figures.purchase_latency;
            if let Some(waiting) = figures.oldest_queued_purchase_ms.filter(|w| *w > limit_ms) {
                let value = waiting as f64 / 1000.0;
                return (
                    CheckOutcome::Fail,
                    value,
                    format!("a queued purchase has waited {value:.0} s, over the {threshold:.0} s limit"),
                );
            }
            let value = sample.p99_ms as f64 / 1000.0;
            let outcome = if sample.count >= min {
                if sample.p99_ms > limit_ms {
                    CheckOutcome::Fail
                } else {
                    CheckOutcome::Pass
                }
            } else if sample.max_ms > limit_ms {
                CheckOutcome::Inconclusive
            } else {
                CheckOutcome::Pass
            };
            let reason = format!(
                "p99 {value:.1} s over {} purchase(s) acknowledged (longest {:.1} s){}",
                sample.count,
                sample.max_ms as f64 / 1000.0,
                small(outcome, sample.count, min, "purchases")
            );
            (outcome, value, reason)
        }
        CheckId::IdentityConflicts => {
            let value = figures.identity_conflicts as f64;
            let outcome = if value > threshold {
                CheckOutcome::Fail
            } else {
                CheckOutcome::Pass
            };
            let reason = format!(
                "{} phone(s) refused to a second person (a shared phone never merges two people)",
                figures.identity_conflicts
            );
            (outcome, value, reason)
        }
    }
}

fn small(outcome: CheckOutcome, n: u64, min: u64, what: &str) -> String {
    match outcome {
        CheckOutcome::Inconclusive => {
            format!("; too few {what} to judge ({n}, at least {min} needed)")
        }
        CheckOutcome::Pass | CheckOutcome::Fail => String::new(),
    }
}

/// Every check of `stage` on one window.
pub fn evaluate(
    stage: Stage,
    figures: &WindowFigures,
    thresholds: &CheckThresholds,
) -> Vec<CheckResult> {
    stage
        .checks()
        .iter()
        .map(|&check| {
            let (outcome, value, reason) = one(check, figures, thresholds);
            CheckResult {
                check,
                mode: thresholds.mode(check),
                outcome,
                value,
                threshold: thresholds.threshold(check),
                unit: check.unit().to_owned(),
                window_secs: figures.window_secs,
                reason,
            }
        })
        .collect()
}

/// What to do after one window of `stage`: the first enforced failure falls back; else the
/// first observed failure or inconclusive check holds; else continue.
pub fn decide(stage: Stage, figures: &WindowFigures, thresholds: &CheckThresholds) -> Decision {
    let results = evaluate(stage, figures, thresholds);
    if let Some(failed) = results
        .iter()
        .find(|r| r.outcome == CheckOutcome::Fail && r.mode == CheckMode::Enforce)
    {
        return Decision::FallBack {
            check: failed.check,
            value: failed.value,
            threshold: failed.threshold,
            window_secs: failed.window_secs,
        };
    }
    match results.iter().find(|r| r.outcome != CheckOutcome::Pass) {
        Some(asking) => Decision::Hold {
            check: asking.check,
            reason: match asking.outcome {
                CheckOutcome::Fail => format!(
                    "{} (over the threshold {}; observed, so a person decides)",
                    asking.reason, asking.threshold
                ),
                _ => asking.reason.clone(),
            },
        },
        None => Decision::Continue,
    }
}

/// One round of the checks on a running stage, as the running appliance last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// When (ms since epoch).
    pub at_ms: i64,
    /// The stage it judged.
    pub stage: Stage,
    /// What was measured.
    pub figures: WindowFigures,
    /// Every check's result.
    pub results: Vec<CheckResult>,
    /// What it decided.
    pub decision: Decision,
}

impl Evaluation {
    /// The checks of `stage` on one window at `at_ms`, and the decision.
    pub fn of(
        stage: Stage,
        figures: WindowFigures,
        thresholds: &CheckThresholds,
        at_ms: i64,
    ) -> Self {
        Evaluation {
            at_ms,
            stage,
            results: evaluate(stage, &figures, thresholds),
            decision: decide(stage, &figures, thresholds),
            figures,
        }
    }
}
