//! The webhook receiver's parsing of a delivery's body: the envelope (`WebhookEnvelope::parse`),
//! the store check, the resource it names and that id as a typed fetch target, and the log
//! escaping every outside value goes through.
#![no_main]

use bigreach_bigcommerce::{OtherStore, ResourceKind as WebhookKind, WebhookEnvelope};
use bigreach_core::model::{FetchTarget, ResourceKind};
use libfuzzer_sys::fuzz_target;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

// The receiver's one escaping path, compiled from its source so that this crate does not
// need the runtime (tokio, hyper, the store).
#[allow(dead_code)]
#[path = "../../runtime/src/log_safe.rs"]
mod log_safe;

fn assert_log_safe(text: &str) {
    let shown = log_safe::log_safe(text).to_string();
    for c in shown.chars() {
        assert!(
            !c.is_control()
                && !matches!(
                    c.general_category(),
                    GeneralCategory::Format
                        | GeneralCategory::LineSeparator
                        | GeneralCategory::ParagraphSeparator
                ),
            "{c:?} reaches the log from {text:?}"
        );
    }
    // At most the default cap of characters, each escaped to at most 10 (`\u{10ffff}`), plus
    // the note of what was left out.
    assert!(shown.chars().count() <= log_safe::LogSafe::DEFAULT_MAX_CHARS * 10 + 32);
}

fuzz_target!(|body: &[u8]| {
    let Ok(envelope) = WebhookEnvelope::parse(body) else {
        return;
    };
    assert!(
        !envelope.scope.trim().is_empty(),
        "accepted without a scope"
    );
    for text in [&envelope.scope, &envelope.producer, &envelope.store_id] {
        assert_log_safe(text);
    }

    // The store check: our own producer always passes; another one never does.
    let ours = envelope.check_store("abc123", None);
    let producer = envelope.producer.trim();
    if producer.is_empty() || producer == "stores/abc123" {
        assert_eq!(ours, Ok(()));
    } else {
        assert_eq!(ours, Err(OtherStore::Producer));
    }
    let store_id = envelope.store_id.trim();
    if ours.is_ok() && !store_id.is_empty() && store_id != "1001" {
        assert_eq!(
            envelope.check_store("abc123", Some("1001")),
            Err(OtherStore::StoreId)
        );
    }

    // The id named, as a typed fetch target; an invalid one is reported bounded and escaped.
    let followed = envelope.followed_resource();
    if let Some(resource) = &followed {
        let kind = match resource.kind {
            WebhookKind::Order => ResourceKind::Order,
            WebhookKind::Customer => ResourceKind::Customer,
            WebhookKind::Product => ResourceKind::Product,
            WebhookKind::Cart => ResourceKind::Cart,
            other => panic!("followed_resource named a {other:?}"),
        };
        match FetchTarget::parse(kind, &resource.id) {
            Ok(target) => assert_eq!(FetchTarget::from_key(&target.key()), Some(target)),
            Err(invalid) => {
                assert!(!invalid.excerpt.chars().any(char::is_control));
                assert!(invalid.excerpt.chars().count() <= 64 * 10 + 1);
                assert_log_safe(&invalid.excerpt);
            }
        }
    }

    // What the envelope says survives serializing it again.
    let bytes = serde_json::to_vec(&envelope).expect("an envelope serializes");
    let again = WebhookEnvelope::parse(&bytes).expect("a serialized envelope parses");
    assert_eq!(
        (
            &again.scope,
            &again.store_id,
            &again.hash,
            again.created_at,
            &again.producer
        ),
        (
            &envelope.scope,
            &envelope.store_id,
            &envelope.hash,
            envelope.created_at,
            &envelope.producer
        )
    );
    // A valid id survives too. An invalid one need not: a number beyond u64 (say 2.5e46) is
    // read through f64 and may re-serialize with another last digit; it is set aside either way.
    let valid = |r: &Option<bigreach_bigcommerce::ResourceRef>| {
        r.as_ref().and_then(|r| {
            let kind = match r.kind {
                WebhookKind::Order => ResourceKind::Order,
                WebhookKind::Customer => ResourceKind::Customer,
                WebhookKind::Product => ResourceKind::Product,
                _ => ResourceKind::Cart,
            };
            FetchTarget::parse(kind, &r.id).ok()
        })
    };
    if valid(&followed).is_some() {
        assert_eq!(valid(&again.followed_resource()), valid(&followed));
    }
});
