//! Secrets: where they come from and how they are kept out of sight.
//!
//! Architecture invariant: a secret value never appears in `Debug`, `Display`, logs, the UI or an
//! export. Configuration holds a [`SecretRef`] (where to find the secret), never the secret.
//!
//! [`SecretResolver`] reads `env:` references from the process environment and hands `keyring:`
//! references to its [`Keyring`] backend, if it has one: the desktop shell will supply the OS
//! keyring, and the harness supplies its twins' credentials. `bigreach serve` has none, so a
//! `keyring:` reference there fails with [`SecretError::NoKeyring`], which says to use `env:`.

use std::fmt;
use std::str::FromStr;

pub use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Where a secret lives. Written in config as `env:VARIABLE` or `keyring:NAME`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    /// An environment variable of the BigReach process.
    Env(String),
    /// A named entry in the resolver's [`Keyring`] (the OS keyring with the desktop shell; none
    /// in `bigreach serve`).
    Keyring(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({})", String::from(self.clone()))
    }
}

impl From<SecretRef> for String {
    fn from(value: SecretRef) -> Self {
        match value {
            SecretRef::Env(name) => format!("env:{name}"),
            SecretRef::Keyring(name) => format!("keyring:{name}"),
        }
    }
}

impl TryFrom<String> for SecretRef {
    type Error = SecretError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl FromStr for SecretRef {
    type Err = SecretError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = || SecretError::BadReference {
            reference: value.chars().take(12).collect::<String>() + "…",
        };
        let (kind, name) = value.split_once(':').ok_or_else(bad)?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(bad());
        }
        match kind {
            "env" => Ok(SecretRef::Env(name.to_owned())),
            "keyring" => Ok(SecretRef::Keyring(name.to_owned())),
            _ => Err(bad()),
        }
    }
}

/// Errors while resolving secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The reference is not `env:NAME` or `keyring:NAME`.
    #[error("secret reference {reference:?} is not of the form env:NAME or keyring:NAME; write e.g. `env:BIGREACH_BC_TOKEN`")]
    BadReference {
        /// The first characters of the reference (never a whole value: a user may have pasted a secret).
        reference: String,
    },
    /// The environment variable is not set or empty.
    #[error(
        "environment variable {name} is not set (or empty); export it before starting BigReach"
    )]
    MissingEnv {
        /// The variable name.
        name: String,
    },
    /// Nothing is stored under that keyring name.
    #[error(
        "no secret named {name:?} in the keyring; store it there under that name, or use env:NAME"
    )]
    MissingKeyring {
        /// The keyring entry name.
        name: String,
    },
    /// A `keyring:` reference, but this resolver has no keyring (as in `bigreach serve`).
    #[error("secret reference keyring:{name} cannot be resolved: this version has no keyring (the OS keyring arrives with the desktop shell); use env:NAME for `bigreach serve`")]
    NoKeyring {
        /// The keyring entry name.
        name: String,
    },
}

/// A backend for `keyring:NAME` references: the OS keyring of the desktop shell, or a caller
/// that owns the credentials it hands out (the harness and its twins) and must not export them
/// into the environment. Any `Fn(&str) -> Option<SecretString>` is one.
pub trait Keyring: Send + Sync {
    /// The secret stored under `name`, or `None` when there is none.
    fn get(&self, name: &str) -> Option<SecretString>;
}

impl<F> Keyring for F
where
    F: Fn(&str) -> Option<SecretString> + Send + Sync,
{
    fn get(&self, name: &str) -> Option<SecretString> {
        self(name)
    }
}

/// Resolves [`SecretRef`]s: `env:` from the process environment, `keyring:` through the
/// [`Keyring`] given to [`SecretResolver::with_keyring`] (without one, `keyring:` references
/// fail with [`SecretError::NoKeyring`]).
#[derive(Default)]
pub struct SecretResolver {
    keyring: Option<Box<dyn Keyring>>,
}

impl fmt::Debug for SecretResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretResolver")
            .field("keyring", &self.keyring.is_some())
            .finish()
    }
}

impl SecretResolver {
    /// A resolver without a keyring: `env:` references only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A resolver whose `keyring:` references are looked up in `keyring`.
    pub fn with_keyring(keyring: impl Keyring + 'static) -> Self {
        Self {
            keyring: Some(Box::new(keyring)),
        }
    }

    /// Looks a secret up.
    pub fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError> {
        match reference {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(SecretString::from(value)),
                _ => Err(SecretError::MissingEnv { name: name.clone() }),
            },
            SecretRef::Keyring(name) => match &self.keyring {
                None => Err(SecretError::NoKeyring { name: name.clone() }),
                Some(keyring) => keyring
                    .get(name)
                    .ok_or_else(|| SecretError::MissingKeyring { name: name.clone() }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn parses_and_prints_references() {
        let r: SecretRef = "env:BIGREACH_BC_TOKEN".parse().unwrap();
        assert_eq!(r, SecretRef::Env("BIGREACH_BC_TOKEN".into()));
        assert_eq!(String::from(r), "env:BIGREACH_BC_TOKEN");
        assert!("plain-secret-value".parse::<SecretRef>().is_err());
        assert!("env:".parse::<SecretRef>().is_err());
        assert!("file:/etc/x".parse::<SecretRef>().is_err());
    }

    #[test]
    fn bad_reference_error_does_not_echo_a_pasted_secret() {
        let pasted = "sk_live_0123456789abcdefghijklmnopqrstuvwxyz";
        let err = pasted.parse::<SecretRef>().unwrap_err().to_string();
        assert!(!err.contains("abcdefghijklmnop"), "{err}");
    }

    #[test]
    fn keyring_names_resolve_through_the_keyring() {
        let resolver = SecretResolver::with_keyring(|name: &str| {
            (name == "bc-token").then(|| SecretString::from("t0ken".to_owned()))
        });
        let value = resolver
            .resolve(&SecretRef::Keyring("bc-token".into()))
            .unwrap();
        assert_eq!(value.expose_secret(), "t0ken");
        assert!(format!("{resolver:?}").contains("keyring: true"));
        assert!(!format!("{resolver:?}").contains("t0ken"));
        assert!(matches!(
            resolver.resolve(&SecretRef::Keyring("nope".into())),
            Err(SecretError::MissingKeyring { .. })
        ));
    }

    #[test]
    fn without_a_keyring_a_keyring_reference_says_to_use_env() {
        let error = SecretResolver::new()
            .resolve(&SecretRef::Keyring("bc-token".into()))
            .unwrap_err();
        assert!(
            matches!(&error, SecretError::NoKeyring { name } if name == "bc-token"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("keyring:bc-token"), "{message}");
        assert!(message.contains("env:NAME"), "{message}");
    }
}
