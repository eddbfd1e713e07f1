//! The one error type every operator operation returns: a stable [`Code`] plus a message that
//! says what failed and what to do. Each transport maps [`Code`] in one exhaustive match (the
//! local HTTP API to a status, the CLI to an exit code, the desktop shell to its error event),
//! so adding a code is a compile error in every transport until it is mapped.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::store::StoreError;

/// What kind of failure an operation had. Exhaustive on purpose (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// The request itself is wrong (an unparsable id or query); fix it and ask again.
    BadRequest,
    /// The thing asked for does not exist (or is not in the state the operation needs).
    NotFound,
    /// The caller did not present the per-install token.
    Unauthorized,
    /// The operation needs the running appliance, and it is not running here.
    NotRunning,
    /// The local store could not be read or written.
    StoreUnavailable,
    /// BigCommerce or Bloomreach did not answer, or refused; the message says which and what
    /// to do (the operation changed nothing).
    Upstream,
    /// A bug or an unexpected internal state; the message says what.
    Internal,
    /// Cutover: advance at the last stage.
    AtLastStage,
    /// Cutover: rollback at the first stage.
    AtFirstStage,
    /// Cutover: the advance needs a passing preflight and none has run.
    PreflightMissing,
    /// Cutover: the newest preflight is older than `[cutover] preflight_max_age_secs`.
    PreflightStale,
    /// Cutover: the newest preflight has blocking failures.
    PreflightFailed,
    /// Cutover: the store moved on since the plan was shown (the hash no longer matches).
    PlanMoved,
    /// Cutover: a check holds the stage for a person (acknowledge first).
    StageHeld,
    /// Cutover: acknowledge without a hold.
    NotHeld,
    /// The current cutover stage does not let this data flow yet (the history backfill needs
    /// `read_only`); advance first.
    StageClosed,
    /// The same job is already running in this appliance (a history backfill); follow its
    /// status instead of starting it again.
    AlreadyRunning,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 17] = [
        Code::BadRequest,
        Code::NotFound,
        Code::Unauthorized,
        Code::NotRunning,
        Code::StoreUnavailable,
        Code::Upstream,
        Code::Internal,
        Code::AtLastStage,
        Code::AtFirstStage,
        Code::PreflightMissing,
        Code::PreflightStale,
        Code::PreflightFailed,
        Code::PlanMoved,
        Code::StageHeld,
        Code::NotHeld,
        Code::StageClosed,
        Code::AlreadyRunning,
    ];

    /// The code as it appears on the wire (`not_found`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::NotFound => "not_found",
            Code::Unauthorized => "unauthorized",
            Code::NotRunning => "not_running",
            Code::StoreUnavailable => "store_unavailable",
            Code::Upstream => "upstream",
            Code::Internal => "internal",
            Code::AtLastStage => "at_last_stage",
            Code::AtFirstStage => "at_first_stage",
            Code::PreflightMissing => "preflight_missing",
            Code::PreflightStale => "preflight_stale",
            Code::PreflightFailed => "preflight_failed",
            Code::PlanMoved => "plan_moved",
            Code::StageHeld => "stage_held",
            Code::NotHeld => "not_held",
            Code::StageClosed => "stage_closed",
            Code::AlreadyRunning => "already_running",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error for an operator or a UI: a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, TS)]
#[error("{message}")]
pub struct AppError {
    /// Stable, machine-readable.
    pub code: Code,
    /// What happened and what to do.
    pub message: String,
}

impl AppError {
    /// An error with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError::new(Code::StoreUnavailable, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_travel_as_snake_case_strings() {
        for code in Code::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), code);
        }
        let error = AppError::new(Code::NotFound, "no such thing");
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"code": "not_found", "message": "no such thing"})
        );
    }
}
