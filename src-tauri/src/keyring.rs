//! The desktop's secrets: the OS keyring (the Secret Service over D-Bus: GNOME Keyring,
//! KWallet), under the service name `bigreach`. The connect form's secrets go there and the
//! config holds `keyring:NAME` references; no secret is ever written to a file. Where the
//! session has no Secret Service (a bare X session, a container), storing refuses with what to
//! do instead, and `keyring:` references do not resolve.

use std::sync::Arc;

use bigreach::host::HostSecrets;
use bigreach_core::app::connection::{env_name, EnvironmentSecrets, SecretStore};
use bigreach_core::app::{AppError, Code};
use bigreach_core::secret::{Keyring, SecretRef, SecretString};

/// The keyring service the entries are filed under.
const SERVICE: &str = "bigreach";

/// The OS keyring, or why there is none.
pub struct OsKeyring {
    unavailable: Option<String>,
}

impl OsKeyring {
    /// Connects to the session's Secret Service once; its absence is remembered, not fatal.
    pub fn connect() -> Self {
        let unavailable = match zbus_secret_service_keyring_store::Store::new() {
            Ok(store) => {
                keyring_core::set_default_store(store);
                None
            }
            Err(error) => {
                tracing::warn!(%error, "no OS keyring (Secret Service) in this session");
                Some(error.to_string())
            }
        };
        Self { unavailable }
    }

    /// As the host's two secret roles.
    pub fn host_secrets(self) -> HostSecrets {
        let keyring = Arc::new(self);
        HostSecrets {
            store: keyring.clone(),
            keyring,
        }
    }

    fn entry(name: &str) -> keyring_core::Result<keyring_core::Entry> {
        keyring_core::Entry::new(SERVICE, name)
    }
}

impl SecretStore for OsKeyring {
    fn put(&self, name: &str, value: &str) -> Result<SecretRef, AppError> {
        if let Some(why) = &self.unavailable {
            return Err(AppError::new(
                Code::BadRequest,
                format!(
                    "this session has no OS keyring ({why}); start one (GNOME Keyring or KWallet), or run headless with `bigreach serve` and set {}",
                    env_name(name)
                ),
            ));
        }
        Self::entry(name)
            .and_then(|entry| entry.set_password(value))
            .map_err(|error| {
                AppError::new(
                    Code::Internal,
                    format!(
                        "the OS keyring refused to store {name}: {error}; unlock it and try again"
                    ),
                )
            })?;
        Ok(SecretRef::Keyring(name.to_owned()))
    }

    fn present(&self, reference: &SecretRef) -> bool {
        match reference {
            SecretRef::Env(_) => EnvironmentSecrets.present(reference),
            SecretRef::Keyring(name) => self.get(name).is_some(),
        }
    }
}

impl Keyring for OsKeyring {
    fn get(&self, name: &str) -> Option<SecretString> {
        if self.unavailable.is_some() {
            return None;
        }
        match Self::entry(name).and_then(|entry| entry.get_password()) {
            Ok(value) => Some(SecretString::from(value)),
            Err(keyring_core::Error::NoEntry) => None,
            Err(error) => {
                tracing::warn!(name, %error, "reading the OS keyring");
                None
            }
        }
    }
}
