//! Secrets: where they come from and how they are kept out of sight.
//!
//! Architecture invariant: a secret value never appears in `Debug`, `Display`, logs, the UI or an
//! export. Configuration holds a [`SecretRef`] (where to find the secret), never the secret.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use parking_lot::RwLock;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Where a secret lives. Written in config as `env:VARIABLE` or `keyring:NAME`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    /// An environment variable of the BigReach process.
    Env(String),
    /// A named entry in the keyring: today the in-process vault (demo, tests); the OS keyring
    /// with the desktop shell.
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
    #[error("no secret named {name:?} in the keyring; this version resolves keyring: names only from its in-process vault (the demo and tests fill it), and the OS keyring arrives with the desktop shell, so use env:NAME for `bigreach serve`")]
    MissingKeyring {
        /// The keyring entry name.
        name: String,
    },
}

/// Resolves [`SecretRef`]s. `env:` reads the process environment. `keyring:` reads an
/// in-process vault (filled by the demo and tests, which own their twins' credentials); the OS
/// keyring backend of the desktop shell will plug in behind the same call.
#[derive(Default)]
pub struct SecretResolver {
    vault: RwLock<BTreeMap<String, SecretString>>,
}

impl fmt::Debug for SecretResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretResolver")
            .field("vault_entries", &self.vault.read().len())
            .finish()
    }
}

impl SecretResolver {
    /// A resolver with an empty vault.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts a secret in the in-process vault (used by the demo and tests, which own their twins'
    /// credentials and must not export them into the environment).
    pub fn put(&self, name: &str, value: SecretString) {
        self.vault.write().insert(name.to_owned(), value);
    }

    /// Looks a secret up.
    pub fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError> {
        match reference {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(SecretString::from(value)),
                _ => Err(SecretError::MissingEnv { name: name.clone() }),
            },
            SecretRef::Keyring(name) => self
                .vault
                .read()
                .get(name)
                .cloned()
                .ok_or_else(|| SecretError::MissingKeyring { name: name.clone() }),
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
    fn vault_resolves_keyring_names() {
        let resolver = SecretResolver::new();
        resolver.put("bc-token", SecretString::from("t0ken".to_owned()));
        let value = resolver
            .resolve(&SecretRef::Keyring("bc-token".into()))
            .unwrap();
        assert_eq!(value.expose_secret(), "t0ken");
        assert!(format!("{resolver:?}").contains("vault_entries"));
        assert!(!format!("{resolver:?}").contains("t0ken"));
        assert!(matches!(
            resolver.resolve(&SecretRef::Keyring("nope".into())),
            Err(SecretError::MissingKeyring { .. })
        ));
    }
}
