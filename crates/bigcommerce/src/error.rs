//! The one error type of this crate: kinds, each with what failed and what to do.

use std::time::Duration;

/// What went wrong talking to BigCommerce.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BigCommerceError {
    /// The client configuration is unusable; fix the setting named in `field`.
    #[error("invalid BigCommerce client setting `{field}`: {problem}")]
    InvalidConfig {
        field: &'static str,
        problem: String,
    },

    /// An id from outside (a webhook) that cannot name a resource of this kind, so it is never
    /// sent; the excerpt is capped, so an over-long id cannot flood a log.
    #[error("{what} {id_excerpt:?} is not a valid id ({expected}); it is not fetched")]
    InvalidId {
        what: &'static str,
        expected: &'static str,
        id_excerpt: String,
    },

    /// No usable HTTP exchange (connect, TLS, timeout, reading the body) after all attempts.
    #[cfg(feature = "client")]
    #[error(
        "could not reach BigCommerce for {path} after {attempts} attempt(s): {source}; check the \
         network and the API path, the request will be retried on the next run"
    )]
    Transport {
        path: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    /// 401: the access token is wrong or its API account was deleted.
    #[error(
        "BigCommerce rejected the access token for {path} (401); check the store hash and the \
         access token of the store-level API account"
    )]
    Unauthorized { path: String },

    /// 403: the API account lacks an OAuth scope for this resource.
    #[error(
        "BigCommerce denied access to {path} (403): {body_excerpt}; grant the API account the \
         read-only scope for this resource"
    )]
    Forbidden { path: String, body_excerpt: String },

    /// 404 on an endpoint where the caller did not expect absence.
    #[error("BigCommerce has no resource at {path} (404)")]
    NotFound { path: String },

    /// A status that retrying will not fix (4xx), or a 5xx that persisted through all attempts.
    #[error("BigCommerce answered {status} for {path}: {body_excerpt}")]
    Http {
        status: u16,
        path: String,
        body_excerpt: String,
    },

    /// Still rate limited (429) after all attempts; the quota is shared with the merchant's
    /// other apps.
    #[error(
        "BigCommerce kept rate-limiting {path} after {attempts} attempt(s); wait for the quota \
         window to reset (next try in about {retry_after:?}) or lower the sync's request rate"
    )]
    RateLimitExhausted {
        path: String,
        attempts: u32,
        retry_after: Option<Duration>,
    },

    /// The response body did not have the documented shape.
    #[error("could not decode {what} from BigCommerce: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

/// How a caller (a poll loop, the webhook worker) should treat an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Try again later, automatically.
    Later,
    /// Needs an operator: credentials, scopes or configuration.
    Operator,
    /// Retrying the same request will not help.
    Never,
}

impl BigCommerceError {
    /// The retry policy for this kind, in one exhaustive match.
    pub fn retry_hint(&self) -> RetryHint {
        match self {
            #[cfg(feature = "client")]
            Self::Transport { .. } => RetryHint::Later,
            Self::RateLimitExhausted { .. } => RetryHint::Later,
            // 5xx, and 408 (the server or a gateway timed out waiting): nothing wrong with the
            // request itself.
            Self::Http { status, .. } if *status >= 500 || *status == 408 => RetryHint::Later,
            Self::Http { .. } => RetryHint::Never,
            Self::Unauthorized { .. } | Self::Forbidden { .. } | Self::InvalidConfig { .. } => {
                RetryHint::Operator
            }
            Self::NotFound { .. } | Self::Decode { .. } | Self::InvalidId { .. } => {
                RetryHint::Never
            }
        }
    }

    /// A stable code for UIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "bigcommerce.invalid_config",
            Self::InvalidId { .. } => "bigcommerce.invalid_id",
            #[cfg(feature = "client")]
            Self::Transport { .. } => "bigcommerce.transport",
            Self::Unauthorized { .. } => "bigcommerce.unauthorized",
            Self::Forbidden { .. } => "bigcommerce.forbidden",
            Self::NotFound { .. } => "bigcommerce.not_found",
            Self::Http { .. } => "bigcommerce.http",
            Self::RateLimitExhausted { .. } => "bigcommerce.rate_limited",
            Self::Decode { .. } => "bigcommerce.decode",
        }
    }
}

/// At most `limit` characters of a response body, on one line, for error messages.
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
