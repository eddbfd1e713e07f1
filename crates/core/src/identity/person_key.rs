//! The person key: who a command, a withheld record or an identity link is about. Its text
//! form is what the store holds (`person_commands`, `pending_profiles`, `person_withheld`,
//! identity links) and what traces show, so `Display` and `FromStr` are exact inverses and
//! must never change.

use std::fmt;
use std::str::FromStr;

/// The identifier chosen for a person, in priority order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PersonKey {
    /// A registered BigCommerce customer: `customer:42`.
    Customer(u64),
    /// A guest keyed by normalized email: `email:jane@shop.com`.
    Email(String),
    /// A phone-only guest keyed by E.164 phone: `phone:+14155552671`.
    Phone(String),
    /// A placeholder or malformed email as typed (trimmed, lowercased), `raw-email:test@test.com`.
    /// It never becomes an ID; it only lets a trace by that value explain what was withheld.
    RawEmail(String),
}

/// A text that is not a person key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a person key (expected customer:<id>, email:<email>, phone:<E.164> or raw-email:<text>)")]
pub struct PersonKeyError {
    /// The text.
    pub text: String,
}

impl PersonKey {
    /// The key used in the store and in traces, e.g. `customer:42` (the `Display` form).
    pub fn store_key(&self) -> String {
        self.to_string()
    }

    /// The customer id, for a registered customer.
    pub fn customer_id(&self) -> Option<u64> {
        match self {
            PersonKey::Customer(id) => Some(*id),
            PersonKey::Email(_) | PersonKey::Phone(_) | PersonKey::RawEmail(_) => None,
        }
    }
}

impl fmt::Display for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersonKey::Customer(id) => write!(f, "customer:{id}"),
            PersonKey::Email(email) => write!(f, "email:{email}"),
            PersonKey::Phone(phone) => write!(f, "phone:{phone}"),
            PersonKey::RawEmail(raw) => write!(f, "raw-email:{raw}"),
        }
    }
}

impl FromStr for PersonKey {
    type Err = PersonKeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || PersonKeyError {
            text: text.to_owned(),
        };
        let (kind, value) = text.split_once(':').ok_or_else(error)?;
        if value.is_empty() {
            return Err(error());
        }
        match kind {
            "customer" => value
                .parse::<u64>()
                .ok()
                // `u64` parsing accepts a leading `+`; the store never writes one.
                .filter(|id| id.to_string() == value)
                .map(PersonKey::Customer)
                .ok_or_else(error),
            "email" => Ok(PersonKey::Email(value.to_owned())),
            "phone" => Ok(PersonKey::Phone(value.to_owned())),
            "raw-email" => Ok(PersonKey::RawEmail(value.to_owned())),
            _ => Err(error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_is_todays_store_format_and_round_trips() {
        for (key, text) in [
            (PersonKey::Customer(42), "customer:42"),
            (
                PersonKey::Email("jane@shop.com".into()),
                "email:jane@shop.com",
            ),
            (
                PersonKey::Phone("+14155552671".into()),
                "phone:+14155552671",
            ),
            (
                PersonKey::RawEmail("test@test.com".into()),
                "raw-email:test@test.com",
            ),
        ] {
            assert_eq!(key.to_string(), text);
            assert_eq!(key.store_key(), text);
            assert_eq!(text.parse::<PersonKey>().unwrap(), key);
        }
    }

    #[test]
    fn other_texts_are_not_person_keys() {
        for text in [
            "",
            "customer:",
            "customer:abc",
            "customer:+42",
            "phone-owner:+14155552671",
            "email",
            "order:5021",
        ] {
            let err = text.parse::<PersonKey>().unwrap_err();
            assert_eq!(err.text, text);
        }
    }
}
