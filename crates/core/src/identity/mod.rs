//! Identity: which Bloomreach customer IDs a command carries.
//!
//! Rules (first version; issue 5 deepens them):
//! - A registered BigCommerce customer is keyed by the customer id (primary hard ID), plus the
//!   normalized account email when known.
//! - A guest order whose email belongs to a known customer goes to that customer.
//! - Other guests are keyed by normalized email; phone-only guests by E.164 phone.
//! - Placeholder values (`test@test.com`, `no@noemail.com`, `noreply@…`, `0000000000`, empty)
//!   never become IDs.
//!
//! Normalization is deliberately simple: emails lose invisible characters (Unicode format
//! characters such as zero-width spaces and the byte-order mark), are NFKC-folded, trimmed and
//! lowercased (nothing cleverer: dots and plus tags stay); phones lose the same invisible
//! characters and are parsed with the `phonenumber` crate, with the store's country as default
//! region. Junk local parts (`no`, `noemail`, `none`, `test…`, …) at the domains junk is typed
//! at (`test.com`, `example.*`, `email.com`, `noemail.com`, …), and every address under a
//! reserved name (`.invalid`, `.test`), are placeholders.

use std::collections::BTreeMap;

use crate::config::IdNames;

/// The typed person key (`customer:42`, `email:…`, `phone:+…`, `raw-email:…`).
mod person_key;
/// The identity rules that read and write identity links (per-kind resolution, phone claims).
pub mod rules;

pub use person_key::{PersonKey, PersonKeyError};

/// The IDs a command carries, with the person key they derive from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedIds {
    /// The person.
    pub person: PersonKey,
    /// Bloomreach `customer_ids`: ID name → value.
    pub customer_ids: BTreeMap<String, String>,
}

impl ResolvedIds {
    /// IDs for a registered customer.
    pub fn customer(names: &IdNames, customer_id: u64, email: Option<&str>) -> Self {
        let mut customer_ids = BTreeMap::new();
        customer_ids.insert(names.customer_id.clone(), customer_id.to_string());
        if let Some(email) = email {
            customer_ids.insert(names.email.clone(), email.to_owned());
        }
        ResolvedIds {
            person: PersonKey::Customer(customer_id),
            customer_ids,
        }
    }

    /// Adds another ID (e.g. the phone next to the email) to the same person.
    pub fn add(&mut self, name: &str, value: &str) {
        self.customer_ids.insert(name.to_owned(), value.to_owned());
    }

    /// IDs for a guest keyed by email.
    pub fn email(names: &IdNames, email: &str) -> Self {
        ResolvedIds {
            person: PersonKey::Email(email.to_owned()),
            customer_ids: BTreeMap::from([(names.email.clone(), email.to_owned())]),
        }
    }

    /// IDs for a guest keyed by phone.
    pub fn phone(names: &IdNames, phone: &str) -> Self {
        ResolvedIds {
            person: PersonKey::Phone(phone.to_owned()),
            customer_ids: BTreeMap::from([(names.phone.clone(), phone.to_owned())]),
        }
    }
}

/// Local parts that people type when a form insists on an email they will not give.
const PLACEHOLDER_LOCAL_PARTS: &[&str] = &[
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
    "test",
    "example",
    "none",
    "null",
    "na",
    "n/a",
    "unknown",
    "email",
    "no",
    "noemail",
    "no-email",
    "nomail",
    "no-mail",
    "nobody",
    "noone",
    "asdf",
    "xxx",
    "x",
];
/// Domains that junk is typed at. An address there is a placeholder when its local part is
/// one of [`PLACEHOLDER_LOCAL_PARTS`] or starts with `test` (a real person may still use a real
/// local part on a real provider such as `email.com`).
const PLACEHOLDER_DOMAINS: &[&str] = &[
    "test.com",
    "example.com",
    "example.org",
    "example.net",
    "email.com",
    "none.com",
    "noemail.com",
    "nomail.com",
    "invalid",
];
/// Reserved top-level names (RFC 2606, RFC 6761): nobody receives mail there, so every address
/// on them is a placeholder.
const RESERVED_SUFFIXES: &[&str] = &[".invalid", ".test", ".example", ".localhost"];

/// Removes what a person cannot see or type differently: format characters (Unicode general
/// category Cf: zero-width spaces and joiners, the byte-order mark, soft hyphens, bidi marks),
/// then folds compatibility forms (NFKC: full-width letters become ASCII).
fn without_invisibles(raw: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    raw.chars()
        .filter(|c| c.general_category() != GeneralCategory::Format)
        .nfkc()
        .collect()
}

/// Trims, strips invisible characters and lowercases an email; `None` for empty, malformed or
/// placeholder values.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = without_invisibles(raw).trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || email.chars().any(|c| c.is_whitespace())
        || domain.contains('@')
    {
        return None;
    }
    if local.starts_with("noreply") || local.starts_with("no-reply") {
        return None;
    }
    if RESERVED_SUFFIXES
        .iter()
        .any(|suffix| domain.ends_with(suffix))
    {
        return None;
    }
    if PLACEHOLDER_DOMAINS.contains(&domain)
        && (PLACEHOLDER_LOCAL_PARTS.contains(&local) || local.starts_with("test"))
    {
        return None;
    }
    Some(email)
}

/// Parses a phone into E.164 with `default_region` (ISO 3166 alpha-2) for national numbers;
/// `None` for empty, invalid or placeholder values (all one digit, e.g. `0000000000`).
pub fn normalize_phone(raw: &str, default_region: Option<&str>) -> Option<String> {
    let visible = without_invisibles(raw);
    let trimmed = visible.trim();
    let digits: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() < 6 {
        return None;
    }
    let first = digits.chars().next()?;
    if digits.chars().all(|c| c == first) {
        return None;
    }
    let region = default_region.and_then(|r| r.to_ascii_uppercase().parse().ok());
    let number = phonenumber::parse(region, trimmed).ok()?;
    if !phonenumber::is_valid(&number) {
        return None;
    }
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased_only() {
        assert_eq!(
            normalize_email("  Jane.Doe+shop@Example.ORG ").as_deref(),
            Some("jane.doe+shop@example.org")
        );
        // Nothing cleverer: dots and plus tags are kept (Gmail rules are not everyone's rules).
        assert_ne!(
            normalize_email("j.a.n.e@gmail.com"),
            normalize_email("jane@gmail.com")
        );
    }

    #[test]
    fn placeholders_and_garbage_never_become_ids() {
        for raw in [
            "",
            "   ",
            "test@test.com",
            "noreply@shop.com",
            "no-reply@brand.de",
            "TEST@TEST.COM",
            "a@b",
            "@x.com",
            "jane@",
            "ja ne@x.com",
            "email@email.com",
        ] {
            assert_eq!(normalize_email(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn everyday_junk_on_placeholder_domains_never_becomes_an_id() {
        // Two strangers who type one of these would otherwise share one profile.
        for raw in [
            "no@noemail.com",
            "noemail@noemail.com",
            "nomail@example.com",
            "x@test.com",
            "asdf@none.com",
            "none@example.org",
            "no@email.com",
            "noemail@email.com",
            "jane@shop.invalid",
        ] {
            assert_eq!(normalize_email(raw), None, "{raw:?}");
        }
        // email.com is a real mailbox provider: a real local part there stays an ID.
        assert_eq!(
            normalize_email("jane.doe@email.com").as_deref(),
            Some("jane.doe@email.com")
        );
    }

    #[test]
    fn invisible_characters_do_not_split_a_person() {
        let plain = normalize_email("jane@shop.com");
        for raw in [
            "jane\u{200B}@shop.com",
            "\u{FEFF}jane@shop.com",
            "ja\u{200D}ne@shop.com",
            "jane@sh\u{200C}op.com",
            "jane@shop.com\u{2060}",
            "ja\u{00AD}ne@shop.com",
            "\u{200E}jane@shop.com",
            "\u{FF4A}ane@shop.com",
        ] {
            assert_eq!(normalize_email(raw), plain, "{raw:?}");
        }
        assert_eq!(
            normalize_phone("\u{200B}+49 30 1234567\u{FEFF}", None).as_deref(),
            Some("+49301234567")
        );
    }

    #[test]
    fn phones_become_e164_with_the_store_region() {
        assert_eq!(
            normalize_phone("+49 30 1234567", None).as_deref(),
            Some("+49301234567")
        );
        assert_eq!(
            normalize_phone("(415) 555-2671", Some("US")).as_deref(),
            Some("+14155552671")
        );
        assert_eq!(normalize_phone("0000000000", Some("US")), None);
        assert_eq!(normalize_phone("", Some("US")), None);
        assert_eq!(normalize_phone("12", Some("US")), None);
    }
}
