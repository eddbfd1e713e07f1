//! The identity rules: which person a resource belongs to, read and written through the
//! identity links inside the ingest transaction (so links and the commands that rely on them
//! commit together).
//!
//! Links (`identity` table, see `crate::store`):
//! - `email:<email>` → `customer:<id>`: the account that owns an email;
//! - `customer:<id>` → `<email>`: the account's normalized email;
//! - `phone-owner:<E.164>` → a person key: who owns a phone.
//!
//! Rules:
//! - A registered customer is keyed by the customer id, plus the account email when known.
//! - A guest whose email belongs to a known customer goes to that customer; other guests are
//!   keyed by normalized email; phone-only guests by E.164 phone.
//! - A phone belongs to the first person who uses it with an email or an account
//!   (`claim_phone`); that joins their phone-only history to them, and a phone owned by one
//!   person is never attached to another, so a household phone cannot merge two people.

use super::{PersonKey, ResolvedIds};
use crate::config::IdNames;
use crate::store::{StoreError, StoreTxn};

/// Who a resource belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The IDs to send, with the person key they derive from.
    pub ids: ResolvedIds,
    /// A guest (keyed by email or phone): their profile is built from the checkout, since no
    /// customer resource describes them.
    pub guest: bool,
}

/// The identity link key of a phone's owner, e.g. `phone-owner:+14155552671`.
fn phone_owner_link(phone: &str) -> String {
    format!("phone-owner:{phone}")
}

/// The customer that owns `email`, if an account with it was seen.
fn customer_for_email(tx: &StoreTxn<'_>, email: &str) -> Result<Option<u64>, StoreError> {
    let owner = tx.identity(&PersonKey::Email(email.to_owned()).to_string())?;
    Ok(owner
        .and_then(|owner| owner.parse::<PersonKey>().ok())
        .and_then(|owner| owner.customer_id()))
}

/// The normalized email of an account, if known.
fn account_email(tx: &StoreTxn<'_>, customer_id: u64) -> Result<Option<String>, StoreError> {
    tx.identity(&PersonKey::Customer(customer_id).to_string())
}

/// A guest keyed by `email`, unless the email belongs to a known customer.
fn email_buyer(tx: &StoreTxn<'_>, names: &IdNames, email: &str) -> Result<Resolution, StoreError> {
    Ok(match customer_for_email(tx, email)? {
        Some(id) => Resolution {
            ids: ResolvedIds::customer(names, id, Some(email)),
            guest: false,
        },
        None => Resolution {
            ids: ResolvedIds::email(names, email),
            guest: true,
        },
    })
}

/// Decides whether `phone` may be sent as an ID of `claimant`, and records the phone's owner.
/// The policy for shared phones: a phone belongs to the first person who used it with an email
/// or an account; a phone-only guest's phone is handed over to the first such person (that
/// joins the phone-only history to them); a phone already owned by someone else is never
/// attached to another person, so a household phone can never merge two people.
pub fn claim_phone(
    tx: &mut StoreTxn<'_>,
    phone: &str,
    claimant: &PersonKey,
) -> Result<bool, StoreError> {
    let owner_link = phone_owner_link(phone);
    let claimant = claimant.to_string();
    let phone_only = PersonKey::Phone(phone.to_owned()).to_string();
    let owner = tx.identity(&owner_link)?;
    let allowed = match owner.as_deref() {
        None => true,
        Some(owner) if owner == claimant || owner == phone_only => true,
        // The same person under another key (their email, now linked to their account).
        Some(owner) => tx.identity(owner)?.as_deref() == Some(claimant.as_str()),
    };
    if allowed {
        tx.set_identity(&owner_link, &claimant)?;
    } else {
        // Counted for the cutover's identity conflicts check.
        tx.count_identity_conflict()?;
    }
    Ok(allowed)
}

/// A registered customer (from a customer resource): links the account and its email both
/// ways, and adds the phone when the customer may claim it.
pub fn registered_customer(
    tx: &mut StoreTxn<'_>,
    names: &IdNames,
    customer_id: u64,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<ResolvedIds, StoreError> {
    let customer = PersonKey::Customer(customer_id);
    if let Some(email) = email {
        tx.set_identity(
            &PersonKey::Email(email.to_owned()).to_string(),
            &customer.to_string(),
        )?;
        tx.set_identity(&customer.to_string(), email)?;
    }
    let mut ids = ResolvedIds::customer(names, customer_id, email);
    if let Some(phone) = phone {
        if claim_phone(tx, phone, &customer)? {
            ids.add(&names.phone, phone);
        }
    }
    Ok(ids)
}

/// The buyer of an order: the account when `customer_id > 0`, else a guest by normalized email
/// (or the customer who owns it), else a phone-only guest; `None` when nothing usable is left.
/// A checkout that carries a phone next to an email or an account claims that phone
/// ([`claim_phone`]); a phone-only buyer becomes the phone's owner unless someone owns it.
pub fn order_buyer(
    tx: &mut StoreTxn<'_>,
    names: &IdNames,
    customer_id: u64,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<Resolution>, StoreError> {
    let resolved = if customer_id > 0 {
        let account_email = account_email(tx, customer_id)?;
        Some(Resolution {
            ids: ResolvedIds::customer(names, customer_id, account_email.as_deref()),
            guest: false,
        })
    } else if let Some(email) = email {
        Some(email_buyer(tx, names, email)?)
    } else {
        phone.map(|phone| Resolution {
            ids: ResolvedIds::phone(names, phone),
            guest: true,
        })
    };
    Ok(match (resolved, phone) {
        (Some(mut buyer), Some(phone)) if email.is_some() || customer_id > 0 => {
            if claim_phone(tx, phone, &buyer.ids.person)? {
                buyer.ids.add(&names.phone, phone);
            }
            Some(buyer)
        }
        (Some(buyer), Some(phone)) => {
            // Phone only: the phone's owner is this phone-only person unless someone claimed it.
            let owner_link = phone_owner_link(phone);
            if tx.identity(&owner_link)?.is_none() {
                tx.set_identity(&owner_link, &buyer.ids.person.to_string())?;
            }
            Some(buyer)
        }
        (resolved, _) => resolved,
    })
}

/// The shopper of a cart: the account when `customer_id > 0` (with its email when known), else
/// a guest by the email typed at checkout (or the customer who owns it); `None` without either.
/// Carts never claim phones.
pub fn cart_shopper(
    tx: &StoreTxn<'_>,
    names: &IdNames,
    customer_id: u64,
    email: Option<&str>,
) -> Result<Option<Resolution>, StoreError> {
    if customer_id > 0 {
        let account_email = account_email(tx, customer_id)?;
        return Ok(Some(Resolution {
            ids: ResolvedIds::customer(names, customer_id, account_email.as_deref()),
            guest: false,
        }));
    }
    email.map(|email| email_buyer(tx, names, email)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        (dir, store)
    }

    const PHONE: &str = "+14155552671";

    #[test]
    fn a_guest_email_that_belongs_to_an_account_goes_to_that_account() {
        let (_dir, store) = store();
        let names = IdNames::default();
        store
            .write(|tx| registered_customer(tx, &names, 42, Some("ann@shop.com"), None))
            .unwrap();
        assert_eq!(
            store.identity("email:ann@shop.com").unwrap().as_deref(),
            Some("customer:42")
        );
        assert_eq!(
            store.identity("customer:42").unwrap().as_deref(),
            Some("ann@shop.com")
        );
        let buyer = store
            .write(|tx| order_buyer(tx, &names, 0, Some("ann@shop.com"), None))
            .unwrap()
            .unwrap();
        assert_eq!(buyer.ids.person, PersonKey::Customer(42));
        assert!(!buyer.guest);
        let stranger = store
            .write(|tx| order_buyer(tx, &names, 0, Some("bob@shop.com"), None))
            .unwrap()
            .unwrap();
        assert_eq!(stranger.ids.person, PersonKey::Email("bob@shop.com".into()));
        assert!(stranger.guest);
        let cart = store
            .write(|tx| cart_shopper(tx, &names, 42, None))
            .unwrap()
            .unwrap();
        assert_eq!(cart.ids.customer_ids[&names.email], "ann@shop.com");
        assert!(store
            .write(|tx| cart_shopper(tx, &names, 0, None))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_phone_only_history_joins_the_first_person_with_an_email_and_nobody_else() {
        let (_dir, store) = store();
        let names = IdNames::default();
        let phone_only = store
            .write(|tx| order_buyer(tx, &names, 0, None, Some(PHONE)))
            .unwrap()
            .unwrap();
        assert_eq!(phone_only.ids.person, PersonKey::Phone(PHONE.into()));
        assert_eq!(
            store
                .identity("phone-owner:+14155552671")
                .unwrap()
                .as_deref(),
            Some("phone:+14155552671")
        );
        let ann = store
            .write(|tx| order_buyer(tx, &names, 0, Some("ann@shop.com"), Some(PHONE)))
            .unwrap()
            .unwrap();
        assert_eq!(
            ann.ids.customer_ids.get(&names.phone).map(String::as_str),
            Some(PHONE)
        );
        // Her housemate uses the same phone: it stays Ann's and is not sent for him.
        let bob = store
            .write(|tx| order_buyer(tx, &names, 0, Some("bob@shop.com"), Some(PHONE)))
            .unwrap()
            .unwrap();
        assert_eq!(bob.ids.customer_ids.get(&names.phone), None);
        assert_eq!(
            store
                .identity("phone-owner:+14155552671")
                .unwrap()
                .as_deref(),
            Some("email:ann@shop.com")
        );
        // Ann registers: her account may claim her phone (same person under another key).
        let account = store
            .write(|tx| registered_customer(tx, &names, 7, Some("ann@shop.com"), Some(PHONE)))
            .unwrap();
        assert_eq!(
            account.customer_ids.get(&names.phone).map(String::as_str),
            Some(PHONE)
        );
        assert_eq!(
            store
                .identity("phone-owner:+14155552671")
                .unwrap()
                .as_deref(),
            Some("customer:7")
        );
    }
}
