//! The one retry policy for both services. Every failure, whichever service and whichever
//! stage, goes through one exhaustive match per failure source and comes out as a [`Decision`]:
//! a [`Directive`] (what happens to the work) plus a separate [`Pressure`] signal (what pacing
//! does about the service).
//!
//! | source | failure | directive | pressure |
//! |---|---|---|---|
//! | Bloomreach request | 429 | retry on the failure streak, honouring `Retry-After`; not against the budget | rate limited: halve the request rate |
//! | Bloomreach request | 5xx, 408, transport, an unreadable 2xx | retry on the failure streak; not against the budget | server trouble: halve the request rate |
//! | Bloomreach request | credentials, project token, permissions | park delivery with the operator's fix | none |
//! | Bloomreach request | 404, 405, 407 or a redirect (a gateway, a wrong base URL, a deleted catalog: not the commands' fault) | park delivery with the operator's fix | none |
//! | Bloomreach request | any other 4xx, an invalid batch | split the batch in halves until the commands at fault stand alone (`deliver::tracking`); dead letter those with the reason | none |
//! | Bloomreach command (inside a 200) | permanent rejection | dead letter with the reason | none |
//! | Bloomreach command | auth or permission wording | park delivery (the data is kept) | none |
//! | Bloomreach command | transient wording | retry on the command's attempts; against the budget | none |
//! | Bloomreach command | rate-limit wording | retry on the failure streak; not against the budget | rate limited |
//! | BigCommerce | 429 after the client's own retries | retry on the failure streak | rate limited |
//! | BigCommerce | 5xx, 408, transport | retry on the failure streak | server trouble |
//! | BigCommerce | 401, 403 (revoked token, missing scope) | park the stage with the operator's fix | none |
//! | BigCommerce | an unexpected 404, 405, 407 or a redirect (a gateway, a wrong API root: not the resource's fault) | park the stage with the operator's fix | none |
//! | BigCommerce | other 4xx, an undecodable body | dead letter (set the work aside) | none |
//!
//! Parked work is never dropped: it stays queued, and the parked stage probes once every
//! [`crate::parking::PROBE_EVERY`] in case the fix was made without a restart.

use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceError, RetryHint};
use bigreach_bloomreach::{BloomreachError, ErrorClass};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How long to wait before a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Exponential on the streak of consecutive failed requests to the service (the pressure
    /// is the service's, not one command's), at least the service's `Retry-After`.
    Streak {
        /// What the service asked for, if anything.
        retry_after: Option<Duration>,
    },
    /// Exponential on this command's own attempts.
    Attempts,
}

/// What happens to the work that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// Try again later, automatically.
    Retry {
        /// How long to wait.
        wait: Wait,
        /// Whether the attempt uses up the command's retry budget.
        counts: bool,
    },
    /// Stop retrying: only an operator can fix this. The work stays queued.
    Park {
        /// What the operator should do.
        hint: &'static str,
    },
    /// Resending cannot help: set the work aside with its reason (a dead letter).
    DeadLetter,
}

/// What pacing should do about the service, apart from the work's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressure {
    /// Nothing.
    None,
    /// The service refused for load (429): slow down.
    RateLimited,
    /// The service is failing (5xx, unreachable): slow down too.
    ServerTrouble,
}

/// A directive and a pressure signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What happens to the work.
    pub directive: Directive,
    /// What pacing does.
    pub pressure: Pressure,
}

const BLOOMREACH_AUTH_HINT: &str = "check the project token, the API key id and secret, and the API group's permissions (Events Set, Customer properties Set, Catalogs) in Bloomreach under Project settings → Access management → API; delivery resumes by itself within 5 minutes of the fix, or at once on restart";
const BLOOMREACH_ROUTE_HINT: &str = "the request did not reach the Bloomreach API (a gateway or proxy answered, or the path does not exist): check `bloomreach.base_url`, any proxy or firewall between BigReach and Bloomreach, and that the catalog still exists (a restart re-creates it); nothing is dropped, and delivery resumes by itself within 5 minutes once requests get through";
const BIGCOMMERCE_ROUTE_HINT: &str = "the request did not reach the BigCommerce API (a gateway or proxy answered, or the path does not exist): check the store hash, `bigcommerce.api_root` if set, and any proxy or firewall between BigReach and BigCommerce; nothing is set aside or dropped, and fetching resumes by itself within 5 minutes once requests get through";
const BIGCOMMERCE_AUTH_HINT: &str = "check the store hash and the store-level API account's access token and its read-only scopes (orders, customers, products, information) in BigCommerce under Settings → API accounts, then restart BigReach (it also tries again by itself every 5 minutes)";

/// A whole Bloomreach request failed (nothing in it was applied).
pub fn bloomreach_request(error: &BloomreachError) -> Decision {
    match error.class() {
        ErrorClass::RateLimited => Decision {
            directive: Directive::Retry {
                wait: Wait::Streak {
                    retry_after: match error {
                        BloomreachError::RateLimited { retry_after, .. } => *retry_after,
                        _ => None,
                    },
                },
                counts: false,
            },
            pressure: Pressure::RateLimited,
        },
        ErrorClass::Retryable => Decision {
            directive: Directive::Retry {
                wait: Wait::Streak { retry_after: None },
                counts: false,
            },
            pressure: Pressure::ServerTrouble,
        },
        ErrorClass::Auth => Decision {
            directive: Directive::Park {
                hint: BLOOMREACH_AUTH_HINT,
            },
            pressure: Pressure::None,
        },
        ErrorClass::Permanent if not_the_requests_fault(error) => Decision {
            directive: Directive::Park {
                hint: BLOOMREACH_ROUTE_HINT,
            },
            pressure: Pressure::None,
        },
        ErrorClass::Permanent => Decision {
            directive: Directive::DeadLetter,
            pressure: Pressure::None,
        },
    }
}

/// Whether a whole-request rejection says nothing about the commands in it: a 404 or 405 (a
/// gateway or proxy in front of Bloomreach, a wrong base URL, a deleted catalog), a 407 (a
/// proxy wants credentials) or a redirect. Resending the same commands elsewhere would work.
fn not_the_requests_fault(error: &BloomreachError) -> bool {
    matches!(
        error,
        BloomreachError::Rejected {
            status: 300..=399 | 404 | 405 | 407,
            ..
        }
    )
}

/// Whether a BigCommerce answer says the route is not there rather than anything about the
/// resource: an unexpected 404 (the client turns the expected ones, such as a converted cart,
/// into "absent"), a 405, a proxy's 407 or a redirect.
fn bigcommerce_route_missing(error: &BigCommerceError) -> bool {
    matches!(
        error,
        BigCommerceError::NotFound { .. }
            | BigCommerceError::Http {
                status: 300..=399 | 405 | 407,
                ..
            }
    )
}

/// One command was rejected inside an otherwise successful Bloomreach answer.
pub fn bloomreach_command(class: ErrorClass) -> Decision {
    match class {
        ErrorClass::Permanent => Decision {
            directive: Directive::DeadLetter,
            pressure: Pressure::None,
        },
        ErrorClass::Auth => Decision {
            directive: Directive::Park {
                hint: BLOOMREACH_AUTH_HINT,
            },
            pressure: Pressure::None,
        },
        ErrorClass::Retryable => Decision {
            directive: Directive::Retry {
                wait: Wait::Attempts,
                counts: true,
            },
            pressure: Pressure::None,
        },
        ErrorClass::RateLimited => Decision {
            directive: Directive::Retry {
                wait: Wait::Streak { retry_after: None },
                counts: false,
            },
            pressure: Pressure::RateLimited,
        },
    }
}

/// A BigCommerce request failed after the client's own retries.
pub fn bigcommerce(error: &BigCommerceError) -> Decision {
    if bigcommerce_route_missing(error) {
        return Decision {
            directive: Directive::Park {
                hint: BIGCOMMERCE_ROUTE_HINT,
            },
            pressure: Pressure::None,
        };
    }
    match error.retry_hint() {
        RetryHint::Later => {
            let rate_limited = matches!(error, BigCommerceError::RateLimitExhausted { .. });
            Decision {
                directive: Directive::Retry {
                    wait: Wait::Streak { retry_after: None },
                    counts: false,
                },
                pressure: if rate_limited {
                    Pressure::RateLimited
                } else {
                    Pressure::ServerTrouble
                },
            }
        }
        RetryHint::Operator => Decision {
            directive: Directive::Park {
                hint: BIGCOMMERCE_AUTH_HINT,
            },
            pressure: Pressure::None,
        },
        RetryHint::Never => Decision {
            directive: Directive::DeadLetter,
            pressure: Pressure::None,
        },
    }
}

/// Exponential backoff with full jitter from a seeded source, so a run can be replayed.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    rng: Mutex<ChaCha8Rng>,
}

impl Backoff {
    /// Delays from `base` doubling up to `cap`, jittered by a generator seeded with `seed`.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            base,
            cap,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// The delay before retry number `failures` (1 for the first): uniform in
    /// `[0, min(cap, base · 2^failures)]`; with `retry_after`, that long plus a quarter of it.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << failures.min(16))
            .min(self.cap);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = self.rng.lock().random_range(0..=ceiling_ms);
        Duration::from_millis(match retry_after {
            Some(after) => u64::try_from(after.as_millis())
                .unwrap_or(u64::MAX)
                .saturating_add(jittered / 4),
            None => jittered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bc_error(status: Option<u16>) -> BigCommerceError {
        match status {
            Some(401) => BigCommerceError::Unauthorized {
                path: "v2/orders".into(),
            },
            Some(403) => BigCommerceError::Forbidden {
                path: "v2/orders".into(),
                body_excerpt: "missing scope".into(),
            },
            Some(429) => BigCommerceError::RateLimitExhausted {
                path: "v2/orders".into(),
                attempts: 5,
                retry_after: Some(Duration::from_secs(3)),
            },
            Some(status) => BigCommerceError::Http {
                status,
                path: "v2/orders".into(),
                body_excerpt: "no".into(),
            },
            None => BigCommerceError::NotFound {
                path: "v2/orders/1".into(),
            },
        }
    }

    #[test]
    fn a_bloomreach_429_retries_off_budget_and_slows_down() {
        let decision = bloomreach_request(&BloomreachError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            request_id: None,
        });
        assert_eq!(
            decision.directive,
            Directive::Retry {
                wait: Wait::Streak {
                    retry_after: Some(Duration::from_secs(2))
                },
                counts: false
            }
        );
        assert_eq!(decision.pressure, Pressure::RateLimited);
    }

    #[test]
    fn a_bloomreach_5xx_retries_off_budget_under_server_pressure() {
        let decision = bloomreach_request(&BloomreachError::Server {
            status: 503,
            request_id: None,
            body_excerpt: String::new(),
        });
        assert_eq!(
            decision,
            Decision {
                directive: Directive::Retry {
                    wait: Wait::Streak { retry_after: None },
                    counts: false
                },
                pressure: Pressure::ServerTrouble
            }
        );
    }

    #[test]
    fn a_refused_bloomreach_key_parks_instead_of_dead_lettering() {
        let request = bloomreach_request(&BloomreachError::Auth {
            status: 401,
            message: "Could not authenticate".into(),
            request_id: None,
        });
        assert!(matches!(request.directive, Directive::Park { .. }));
        // Inside a 200 too: the data is fine, the key is not.
        let command = bloomreach_command(ErrorClass::Auth);
        assert!(
            matches!(command.directive, Directive::Park { hint } if hint.contains("API group"))
        );
    }

    #[test]
    fn a_whole_request_permanent_error_dead_letters_at_once() {
        let decision = bloomreach_request(&BloomreachError::Rejected {
            status: 400,
            message: "Invalid JSON".into(),
            request_id: None,
        });
        assert_eq!(decision.directive, Directive::DeadLetter);
        assert_eq!(
            bloomreach_command(ErrorClass::Permanent).directive,
            Directive::DeadLetter
        );
    }

    #[test]
    fn a_whole_request_404_from_a_gateway_parks_instead_of_dead_lettering() {
        for status in [404, 405, 407, 302] {
            let decision = bloomreach_request(&BloomreachError::Rejected {
                status,
                message: "Not Found".into(),
                request_id: None,
            });
            assert!(
                matches!(decision.directive, Directive::Park { hint } if hint.contains("base_url")),
                "{status}: {decision:?}"
            );
        }
    }

    #[test]
    fn transient_command_rejections_use_the_budget_rate_limits_do_not() {
        assert_eq!(
            bloomreach_command(ErrorClass::Retryable).directive,
            Directive::Retry {
                wait: Wait::Attempts,
                counts: true
            }
        );
        let limited = bloomreach_command(ErrorClass::RateLimited);
        assert_eq!(
            limited.directive,
            Directive::Retry {
                wait: Wait::Streak { retry_after: None },
                counts: false
            }
        );
        assert_eq!(limited.pressure, Pressure::RateLimited);
    }

    #[test]
    fn a_revoked_bigcommerce_token_or_scope_parks() {
        for status in [401, 403] {
            let decision = bigcommerce(&bc_error(Some(status)));
            assert!(
                matches!(decision.directive, Directive::Park { hint } if hint.contains("access token")),
                "{status}"
            );
            assert_eq!(decision.pressure, Pressure::None);
        }
    }

    #[test]
    fn bigcommerce_429_and_5xx_retry_with_their_pressure() {
        assert_eq!(
            bigcommerce(&bc_error(Some(429))).pressure,
            Pressure::RateLimited
        );
        let server = bigcommerce(&bc_error(Some(502)));
        assert_eq!(server.pressure, Pressure::ServerTrouble);
        assert!(matches!(server.directive, Directive::Retry { .. }));
    }

    #[test]
    fn other_bigcommerce_4xx_set_the_work_aside() {
        for status in [400, 409, 422] {
            assert_eq!(
                bigcommerce(&bc_error(Some(status))).directive,
                Directive::DeadLetter,
                "{status}"
            );
        }
    }

    #[test]
    fn a_bigcommerce_route_that_is_not_there_parks_instead_of_setting_work_aside() {
        // An unexpected 404 (the client already turns the expected ones, a deleted cart, into
        // "absent"), a 405, a proxy's 407 or a redirect say nothing about the resource: a
        // gateway or a wrong API root answered. Setting every resource aside would empty the
        // queue into the operator's lap; parking keeps it queued and probes.
        for error in [
            bc_error(None),
            bc_error(Some(405)),
            bc_error(Some(407)),
            bc_error(Some(302)),
        ] {
            let decision = bigcommerce(&error);
            assert!(
                matches!(decision.directive, Directive::Park { hint } if hint.contains("api_root")),
                "{error}: {decision:?}"
            );
            assert_eq!(decision.pressure, Pressure::None);
        }
    }

    #[test]
    fn jitter_is_seeded_and_bounded() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(60);
        let a = Backoff::new(base, cap, 7);
        let b = Backoff::new(base, cap, 7);
        let c = Backoff::new(base, cap, 8);
        let run = |backoff: &Backoff| -> Vec<Duration> {
            (1..=10).map(|n| backoff.delay(n, None)).collect()
        };
        let first = run(&a);
        assert_eq!(first, run(&b), "same seed, same delays");
        assert_ne!(first, run(&c), "another seed, other delays");
        for (n, delay) in first.iter().enumerate() {
            let ceiling = base.saturating_mul(1 << (n + 1)).min(cap);
            assert!(*delay <= ceiling, "{delay:?} > {ceiling:?}");
        }
        let after = a.delay(1, Some(Duration::from_secs(5)));
        assert!(after >= Duration::from_secs(5) && after <= Duration::from_millis(5_250));
    }
}
