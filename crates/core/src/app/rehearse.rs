//! Rehearsals against the twins from a screen: the cutover rehearsal (advance → rollback →
//! advance on the current config, as `bigreach rehearse` runs it) or the small demo, each
//! answered with its verdict. The harness that runs them is not in core: the binary supplies a
//! [`Rehearser`].

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{AppApi, AppError, Code};

/// What to rehearse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RehearsalKind {
    /// Advance → rollback → advance against the twins on the current config.
    Cutover,
    /// The small demo: a seeded store carried into a simulated project and checked against the
    /// twins' ground truth.
    Demo,
}

/// A rehearsal's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct RehearsalReport {
    /// What ran.
    pub kind: RehearsalKind,
    /// Whether it found no problem.
    pub passed: bool,
    /// One sentence.
    pub summary: String,
    /// The report, line by line, as the CLI prints it.
    pub lines: Vec<String>,
    /// How long it took, in seconds.
    pub seconds: f64,
}

/// Runs rehearsals (blocking; transports call it off their async threads).
pub trait Rehearser: Send + Sync {
    /// Runs one and answers its verdict.
    fn rehearse(&self, kind: RehearsalKind) -> Result<RehearsalReport, AppError>;
}

impl AppApi {
    /// The same API, able to run rehearsals through `rehearser`.
    pub fn with_rehearser(mut self, rehearser: std::sync::Arc<dyn Rehearser>) -> Self {
        self.rehearser = Some(rehearser);
        self
    }

    /// Runs a rehearsal against the twins (audited as `rehearsal.run` with its verdict).
    pub fn rehearse(&self, kind: RehearsalKind, actor: &str) -> Result<RehearsalReport, AppError> {
        let rehearser = self.rehearser.as_ref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "rehearsals need the twins, which this build or process does not have; run `bigreach rehearse` or `bigreach demo`",
            )
        })?;
        let report = rehearser.rehearse(kind)?;
        let now = self.clock.now_ms();
        self.store.write(|tx| {
            tx.audit(
                now,
                actor,
                "rehearsal.run",
                &serde_json::json!({"kind": kind, "passed": report.passed, "summary": report.summary}),
            )
        })?;
        Ok(report)
    }
}
