//! Error kinds and the retry classification, each in one exhaustive match.

use std::time::Duration;

/// How a failed request or command should be treated. Callers match on this exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Transient (5xx, 408, transport): resend the same payload later with backoff.
    Retryable,
    /// 429: Bloomreach discarded the request; resend later at a lower rate.
    RateLimited,
    /// The request or command itself is wrong: resending it will not help.
    Permanent,
    /// Credentials, project token or permissions: needs an operator.
    Auth,
}

/// Classifies an HTTP status plus its body, in ONE exhaustive match.
///
/// 429 → RateLimited; 5xx and 408 → Retryable; 401/403, and a 400 whose body says
/// "Could not authenticate" or "Invalid project id" → Auth; other 4xx → Permanent. A 2xx carries
/// per-command errors: its body is classified as command error text
/// ([`classify_command_errors`]).
pub fn classify(status: u16, body: &str) -> ErrorClass {
    match status {
        429 => ErrorClass::RateLimited,
        408 | 500..=599 => ErrorClass::Retryable,
        401 | 403 => ErrorClass::Auth,
        400 if is_auth_message(body) => ErrorClass::Auth,
        400..=407 | 409..=428 | 430..=499 => ErrorClass::Permanent,
        200..=299 => classify_command_errors(&[body.to_string()]),
        // 1xx never reaches us as a final status; a redirect means a wrong base URL.
        0..=199 | 300..=399 | 600..=u16::MAX => ErrorClass::Permanent,
    }
}

/// Classifies the error strings of one failed command inside a 200 batch response: Permanent
/// unless clearly transient, rate-limit or auth wording.
pub fn classify_command_errors(errors: &[String]) -> ErrorClass {
    let text = errors.join(" ").to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|needle| text.contains(needle));
    if any(&["rate limit", "too many requests", "throttl"]) {
        ErrorClass::RateLimited
    } else if is_auth_message(&text) || any(&["no permission", "not authorized", "forbidden"]) {
        ErrorClass::Auth
    } else if any(&[
        // The answer did not mention the command: its outcome is unknown, so it is resent.
        "returned no result",
        "timeout",
        "timed out",
        "temporar",
        "try again",
        "unavailable",
        "internal error",
        "internal server error",
    ]) {
        ErrorClass::Retryable
    } else {
        ErrorClass::Permanent
    }
}

fn is_auth_message(body: &str) -> bool {
    let lower = body.to_lowercase();
    lower.contains("could not authenticate") || lower.contains("invalid project id")
}

/// What went wrong talking to Bloomreach Engagement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BloomreachError {
    /// 429: the request's data was discarded, not stored.
    #[error(
        "Bloomreach rate-limited the request (429, request id {request_id:?}); nothing was \
         stored, resend later at a lower rate (retry after {retry_after:?})"
    )]
    RateLimited {
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },

    /// 5xx or 408.
    #[error(
        "Bloomreach had a server problem ({status}, request id {request_id:?}): {body_excerpt}; \
         resend later"
    )]
    Server {
        status: u16,
        request_id: Option<String>,
        body_excerpt: String,
    },

    /// Credentials, project token or permission problem.
    #[error(
        "Bloomreach refused the credentials ({status}, request id {request_id:?}): {message}; \
         check the project token, the API key id/secret and the API group's permissions"
    )]
    Auth {
        status: u16,
        message: String,
        request_id: Option<String>,
    },

    /// A 4xx that resending will not fix.
    #[error("Bloomreach rejected the request ({status}, request id {request_id:?}): {message}")]
    Rejected {
        status: u16,
        message: String,
        request_id: Option<String>,
    },

    /// No usable HTTP exchange (connect, TLS, timeout, reading the body).
    #[cfg(feature = "client")]
    #[error(
        "could not reach Bloomreach for {operation}: {source}; check the network and base URL"
    )]
    Transport {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },

    /// A 2xx response did not have the documented shape.
    #[error("could not decode {what} from Bloomreach: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    /// More than 50 commands in one batch; nothing was sent.
    #[error("a Bloomreach batch holds at most 50 commands, got {count}; split it")]
    TooManyCommands { count: usize },

    /// A catalog `item_id` with `/` (Bloomreach splits paths on it); nothing was sent.
    #[error(
        "catalog item id {item_id:?} contains '/', which Bloomreach cannot store; use another \
         id (e.g. the numeric variant id)"
    )]
    InvalidItemId { item_id: String },

    /// The client configuration is unusable.
    #[error("invalid Bloomreach client setting `{field}`: {problem}")]
    InvalidConfig {
        field: &'static str,
        problem: String,
    },
}

impl BloomreachError {
    /// The retry class of this error, in one exhaustive match.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::RateLimited { .. } => ErrorClass::RateLimited,
            Self::Server { .. } => ErrorClass::Retryable,
            #[cfg(feature = "client")]
            Self::Transport { .. } => ErrorClass::Retryable,
            // A 2xx we could not read: the outcome is unknown. Resending the same frozen
            // payload is safe (Bloomreach deduplicates identical events; catalog upserts and
            // customer updates are idempotent).
            Self::Decode { .. } => ErrorClass::Retryable,
            Self::Auth { .. } => ErrorClass::Auth,
            Self::Rejected { .. }
            | Self::TooManyCommands { .. }
            | Self::InvalidItemId { .. }
            | Self::InvalidConfig { .. } => ErrorClass::Permanent,
        }
    }

    /// The `x-request-id` of the failed response, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::RateLimited { request_id, .. }
            | Self::Server { request_id, .. }
            | Self::Auth { request_id, .. }
            | Self::Rejected { request_id, .. } => request_id.as_deref(),
            #[cfg(feature = "client")]
            Self::Transport { .. } => None,
            Self::Decode { .. }
            | Self::TooManyCommands { .. }
            | Self::InvalidItemId { .. }
            | Self::InvalidConfig { .. } => None,
        }
    }

    /// A stable code for UIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "bloomreach.rate_limited",
            Self::Server { .. } => "bloomreach.server",
            Self::Auth { .. } => "bloomreach.auth",
            Self::Rejected { .. } => "bloomreach.rejected",
            #[cfg(feature = "client")]
            Self::Transport { .. } => "bloomreach.transport",
            Self::Decode { .. } => "bloomreach.decode",
            Self::TooManyCommands { .. } => "bloomreach.too_many_commands",
            Self::InvalidItemId { .. } => "bloomreach.invalid_item_id",
            Self::InvalidConfig { .. } => "bloomreach.invalid_config",
        }
    }
}

/// At most `limit` characters of a body, on one line.
pub(crate) fn excerpt(body: &str, limit: usize) -> String {
    let flat: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(limit)
        .collect();
    if body.chars().count() > limit {
        format!("{flat}…")
    } else {
        flat
    }
}

/// A `Retry-After` value: seconds (integer or decimal) or an HTTP date relative to `now` (a
/// date already past waits zero). `None` for anything else, including a count of seconds too
/// large for a [`std::time::Duration`].
pub fn parse_retry_after(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<std::time::Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(seconds).ok();
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(std::time::Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_too_large_for_a_duration_is_ignored_not_a_panic() {
        // Found by the bloomreach_responses fuzz target: Duration::from_secs_f64 panics past
        // u64::MAX seconds.
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(parse_retry_after("1e30", now), None);
        assert_eq!(
            parse_retry_after("2.5", now),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn statuses_classify_as_documented() {
        assert_eq!(classify(429, ""), ErrorClass::RateLimited);
        assert_eq!(classify(500, ""), ErrorClass::Retryable);
        assert_eq!(classify(503, ""), ErrorClass::Retryable);
        assert_eq!(classify(408, ""), ErrorClass::Retryable);
        assert_eq!(classify(401, ""), ErrorClass::Auth);
        assert_eq!(classify(403, "no permission"), ErrorClass::Auth);
        assert_eq!(
            classify(
                400,
                r#"{"success": false, "error": "Could not authenticate"}"#
            ),
            ErrorClass::Auth
        );
        assert_eq!(
            classify(400, r#"{"success": false, "error": "Invalid project id"}"#),
            ErrorClass::Auth
        );
        assert_eq!(
            classify(400, r#"{"success": false, "message": "Invalid JSON"}"#),
            ErrorClass::Permanent
        );
        assert_eq!(classify(404, ""), ErrorClass::Permanent);
        assert_eq!(classify(302, ""), ErrorClass::Permanent);
    }

    #[test]
    fn command_errors_are_permanent_unless_clearly_transient() {
        let permanent = vec!["At least one id should be specified.".to_string()];
        assert_eq!(classify_command_errors(&permanent), ErrorClass::Permanent);
        let transient = vec!["Internal error, try again later".to_string()];
        assert_eq!(classify_command_errors(&transient), ErrorClass::Retryable);
        let limited = vec!["Rate limit exceeded".to_string()];
        assert_eq!(classify_command_errors(&limited), ErrorClass::RateLimited);
        assert_eq!(classify(200, "Could not authenticate"), ErrorClass::Auth);
        let unanswered = vec!["Bloomreach returned no result for this item".to_string()];
        assert_eq!(classify_command_errors(&unanswered), ErrorClass::Retryable);
    }
}
