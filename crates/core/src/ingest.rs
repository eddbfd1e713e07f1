//! Ingest: the diff → map → identity → enqueue step, applied to resources that the enrich stage
//! (or the poller) fetched from BigCommerce. Mapping is `crate::map`; who a resource belongs to
//! is `crate::identity::rules`. One call is one write transaction: snapshots, identity
//! links, outbox commands and the inbox cursor move together, so a crash at any point resumes
//! from the store without losing or doubling anything.

use bigreach_bigcommerce::{Cart, Customer, Order, Product};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::IdNames;
use crate::identity::rules::{self, Resolution};
use crate::identity::{normalize_email, normalize_phone, PersonKey, ResolvedIds};
use crate::map::{self, MappingContext};
use crate::model::{FetchTarget, Lane, ResourceKind, Snapshot};
use crate::outbox::CommandStatus;
use crate::store::{Store, StoreError, StoreTxn, WithheldRecord};

/// A resource fetched from BigCommerce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Resource {
    /// An order with its line items (boxed: orders are much larger than the others).
    Order(Box<Order>),
    /// A registered customer.
    Customer(Customer),
    /// A product with its variants.
    Product(Product),
    /// A cart.
    Cart(Cart),
}

impl Resource {
    /// Its kind.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Resource::Order(_) => ResourceKind::Order,
            Resource::Customer(_) => ResourceKind::Customer,
            Resource::Product(_) => ResourceKind::Product,
            Resource::Cart(_) => ResourceKind::Cart,
        }
    }

    /// Its snapshot key, e.g. `order:5021`.
    pub fn key(&self) -> String {
        let id = match self {
            Resource::Order(o) => o.id.to_string(),
            Resource::Customer(c) => c.id.to_string(),
            Resource::Product(p) => p.id.to_string(),
            Resource::Cart(c) => c.id.clone(),
        };
        format!("{}:{id}", self.kind().as_str())
    }
}

/// A resource with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The resource.
    pub resource: Resource,
    /// Part of the first full sync (history): its events go to the backfill lane.
    pub initial_sync: bool,
}

/// Why something was not sent (shown by traces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withheld {
    /// What, e.g. `order:5021`.
    pub subject: String,
    /// Why, e.g. `not paid (status 7)`.
    pub reason: String,
}

/// What one ingest call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Commands enqueued.
    pub enqueued: usize,
    /// Resources whose relevant content had not changed.
    pub unchanged: usize,
    /// Things withheld, with reasons.
    pub withheld: Vec<Withheld>,
}

/// Settings for the ingest step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// Bloomreach ID names.
    pub ids: IdNames,
    /// Mapping context.
    pub mapping: MappingContext,
    /// Default region for national phone numbers (the store's country).
    pub phone_region: Option<String>,
    /// How customer IDs are chosen.
    pub policy: crate::config::IdentityPolicy,
    /// Which option and custom fields become catalog fields.
    pub catalog: map::CatalogMapping,
}

fn fingerprint(resource: &Resource) -> Result<(String, Vec<u8>), StoreError> {
    let json = serde_json::to_vec(resource).map_err(|e| StoreError::Codec {
        what: "resource",
        operation: "encoded",
        message: e.to_string(),
    })?;
    Ok((hex::encode(Sha256::digest(&json)), json))
}

/// Whether the store already holds exactly `resource` (its snapshot has the same
/// fingerprint), so that ingesting it again would change nothing: the first thing [`ingest`]
/// checks of each resource. The poller leaves such a resource out of the inbox, so that a
/// safety-net pass over a busy day's orders does not queue them all again ahead of new webhooks.
pub fn already_held(tx: &StoreTxn<'_>, resource: &Resource) -> Result<bool, StoreError> {
    let (fingerprint, _) = fingerprint(resource)?;
    Ok(tx
        .snapshot(&resource.key())?
        .is_some_and(|held| held.fingerprint == fingerprint))
}

/// One step of the pipeline, applied in one store transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestBatch {
    /// Resources to diff, map and enqueue.
    pub observed: Vec<Observed>,
    /// Advance the inbox cursor to this sequence number.
    pub inbox_up_to: Option<u64>,
    /// Re-fetches to queue: (target, due ms, notification time ms).
    pub queue: Vec<(FetchTarget, i64, i64)>,
    /// Queued fetches that `observed` answers (removed from the queue).
    pub fetched: Vec<FetchTarget>,
    /// What can never be fetched or mapped, set aside in the same transaction: (set-aside key,
    /// reason, notification time ms). An id that is not valid for its kind, an inbox entry that
    /// cannot be decoded.
    pub set_aside: Vec<(String, String, i64)>,
}

/// Applies a batch to the store in one transaction.
pub fn ingest(
    store: &Store,
    settings: &IngestSettings,
    batch: &IngestBatch,
    now_ms: i64,
) -> Result<IngestReport, StoreError> {
    store.write(|tx| {
        let mut report = IngestReport::default();
        for (target, due_ms, event_ms) in &batch.queue {
            tx.queue_fetch(target, *due_ms, *event_ms)?;
        }
        for target in &batch.fetched {
            tx.clear_fetch(target)?;
        }
        for (key, reason, event_ms) in &batch.set_aside {
            tx.set_aside_key(key, reason, now_ms, *event_ms)?;
        }
        for item in &batch.observed {
            apply(tx, settings, item, now_ms, &mut report)?;
        }
        if let Some(seq) = batch.inbox_up_to {
            tx.advance_inbox_cursor(seq)?;
        }
        Ok(report)
    })
}

fn apply(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    item: &Observed,
    now_ms: i64,
    report: &mut IngestReport,
) -> Result<(), StoreError> {
    let key = item.resource.key();
    let (fingerprint, json) = fingerprint(&item.resource)?;
    let previous = tx.snapshot(&key)?;
    if let Some(previous) = &previous {
        if previous.fingerprint == fingerprint {
            report.unchanged += 1;
            return Ok(());
        }
    }
    let previous_order = previous_order(&item.resource, previous.as_ref());
    if let (Resource::Order(order), Some(before)) = (&item.resource, &previous_order) {
        // An older state read before the one the store holds (a poll page or a listing that
        // was in flight while a newer read was applied) is not news: BigCommerce moves
        // `date_modified` forward with every change, so applying it would undo the newer one.
        if order.date_modified < before.date_modified {
            report.unchanged += 1;
            return Ok(());
        }
        // Only the marketing-relevant fields count (`map::changes::marketing_fields`).
        if map::changes::marketing_fingerprint(before, &settings.mapping)
            == map::changes::marketing_fingerprint(order, &settings.mapping)
        {
            report.unchanged += 1;
            tx.put_snapshot(
                &key,
                &Snapshot {
                    fingerprint,
                    observed_at_ms: now_ms,
                    json,
                },
            )?;
            return Ok(());
        }
    }
    tx.put_snapshot(
        &key,
        &Snapshot {
            fingerprint,
            observed_at_ms: now_ms,
            json,
        },
    )?;
    let commands = match &item.resource {
        Resource::Order(order) => order_commands(
            tx,
            settings,
            order,
            previous_order.as_deref(),
            item.initial_sync,
            now_ms,
            report,
        )?,
        Resource::Customer(customer) => {
            customer_commands(tx, settings, customer, item.initial_sync)?
        }
        Resource::Product(product) => {
            return catalog_deltas(tx, settings, product, now_ms, report);
        }
        Resource::Cart(cart) => cart_commands(tx, settings, cart, now_ms, report)?,
    };
    for command in &commands {
        if tx.enqueue(command, now_ms)?.is_some() {
            report.enqueued += 1;
        }
    }
    Ok(())
}

/// The order a snapshot held before, when `resource` is an order (an unreadable snapshot counts
/// as none: the order is then mapped as new, and its once-only facts are not sent twice).
fn previous_order(resource: &Resource, previous: Option<&Snapshot>) -> Option<Box<Order>> {
    if !matches!(resource, Resource::Order(_)) {
        return None;
    }
    match serde_json::from_slice::<Resource>(&previous?.json).ok()? {
        Resource::Order(order) => Some(order),
        _ => None,
    }
}

/// The snapshot key of a catalog item's last enqueued full state.
pub(crate) fn catalog_state_key(item_id: &str) -> String {
    format!("catalog_item:{item_id}")
}

/// The snapshot key of a catalog item's open burst (`map::catalog::debounce::Burst`).
fn catalog_burst_key(item_id: &str) -> String {
    format!("catalog_burst:{item_id}")
}

/// Enqueues one command per variant whose state changed, carrying only what changed since the
/// last state enqueued for it (all of it the first time), plus the fields of a last command
/// that never reached Bloomreach: enqueuing supersedes that one, so nothing it carried is lost.
/// The write is debounced per variant (`map::catalog::debounce`): due a window after the
/// burst's first change, which every later change in the window joins. With trigger events on,
/// the burst's `back_in_stock` and `price_drop` are enqueued (or withdrawn) with it.
fn catalog_deltas(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    product: &Product,
    now_ms: i64,
    report: &mut IngestReport,
) -> Result<(), StoreError> {
    use map::catalog::debounce::{self, Burst, Unsent};
    type Properties = serde_json::Map<String, serde_json::Value>;
    for item in map::catalog_items(product, &settings.catalog) {
        let key = catalog_state_key(&item.item_id);
        let previous = tx
            .snapshot(&key)?
            .and_then(|s| serde_json::from_slice::<Properties>(&s.json).ok());
        let last = tx.fact_record(&item.fact())?.filter(|r| {
            !matches!(
                r.status,
                CommandStatus::Delivered | CommandStatus::Superseded
            )
        });
        let unsent = last
            .as_ref()
            .and_then(|r| serde_json::from_slice::<Properties>(&r.payload).ok());
        let delta = map::catalog_delta(&item.properties, previous.as_ref(), unsent.as_ref());
        if delta.is_empty() {
            // Nothing to send (only fields the mapping no longer has went away): record the
            // state.
            if previous.as_ref() != Some(&item.properties) {
                put_catalog_state(tx, &key, &item, now_ms)?;
            }
            continue;
        }
        let burst_key = catalog_burst_key(&item.item_id);
        let open = tx
            .snapshot(&burst_key)?
            .and_then(|s| serde_json::from_slice::<Burst>(&s.json).ok());
        let pending = last
            .as_ref()
            .filter(|r| r.status == CommandStatus::Pending)
            .map(|r| Unsent {
                due_ms: r.next_attempt_ms,
                attempted: r.attempts > 0 || r.last_error.is_some(),
            });
        let plan =
            settings
                .catalog
                .debounce()
                .plan(now_ms, previous.as_ref(), pending, open.as_ref());
        if tx
            .enqueue_due(&item.command(&delta), now_ms, plan.due_ms)?
            .is_none()
        {
            continue;
        }
        report.enqueued += 1;
        put_catalog_state(tx, &key, &item, now_ms)?;
        let Some(burst) = plan.burst else {
            continue;
        };
        if plan.new_burst {
            let json = serde_json::to_vec(&burst).map_err(|e| StoreError::Codec {
                what: "catalog burst",
                operation: "encoded",
                message: e.to_string(),
            })?;
            tx.put_snapshot(
                &burst_key,
                &Snapshot {
                    fingerprint: String::new(),
                    observed_at_ms: now_ms,
                    json,
                },
            )?;
        }
        if !settings.catalog.triggers() {
            continue;
        }
        let triggers = debounce::triggers(&burst.base, &item.properties);
        let commands = map::catalog::triggers::trigger_commands(
            &item,
            &burst,
            &triggers,
            &map::catalog::triggers::TriggerProfile {
                customer_id_name: &settings.ids.customer_id,
                profile: settings.catalog.trigger_profile(),
            },
            now_ms,
        );
        for command in &commands.enqueue {
            // An event of this burst that went out already is not sent again.
            let spent = tx
                .fact_record(&command.fact)?
                .is_some_and(|r| r.status == CommandStatus::Delivered);
            if !spent && tx.enqueue_due(command, now_ms, plan.due_ms)?.is_some() {
                report.enqueued += 1;
            }
        }
        for fact in &commands.withdraw {
            tx.withdraw_trigger(fact, "the change was undone within its debounce window")?;
        }
    }
    Ok(())
}

/// Keeps `item`'s full state as the last one enqueued for it.
fn put_catalog_state(
    tx: &mut StoreTxn<'_>,
    key: &str,
    item: &map::catalog::CatalogItemState,
    now_ms: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(&item.properties).map_err(|e| StoreError::Codec {
        what: "catalog item state",
        operation: "encoded",
        message: e.to_string(),
    })?;
    tx.put_snapshot(
        key,
        &Snapshot {
            fingerprint: item.content_hash(),
            observed_at_ms: now_ms,
            json,
        },
    )
}

/// A cart identifies its shopper: a registered customer by id, a guest by the email typed at
/// checkout (so abandoned-cart flows work for guests). A cart without either is withheld.
fn cart_commands(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    cart: &Cart,
    now_ms: i64,
    report: &mut IngestReport,
) -> Result<Vec<crate::model::NewCommand>, StoreError> {
    let subject = format!("cart:{}", cart.id);
    let email = if settings.policy == crate::config::IdentityPolicy::EmailAsId {
        Some(cart.email.trim().to_owned()).filter(|e| !e.is_empty())
    } else {
        normalize_email(&cart.email)
    };
    let Some(Resolution { ids, guest }) =
        rules::cart_shopper(tx, &settings.ids, cart.customer_id, email.as_deref())?
    else {
        let reason =
            "cart without a customer or a usable email yet (the shopper has not typed one)";
        report.withheld.push(Withheld {
            subject: subject.clone(),
            reason: reason.to_owned(),
        });
        tx.set_withheld(&WithheldRecord {
            subject,
            reason: reason.to_owned(),
            person: None,
            at_ms: now_ms,
        })?;
        return Ok(Vec::new());
    };
    tx.clear_withheld(&subject)?;
    let mut commands = Vec::new();
    if guest {
        commands.push(map::cart_guest_profile_command(
            cart,
            &ids,
            &settings.mapping,
        ));
    }
    commands.push(map::cart_command(cart, &ids));
    Ok(commands)
}

/// The baseline "email as ID" connector: the billing email exactly as typed (trimmed, as form
/// fields are) is the only ID; an order without one is dropped.
fn email_as_id_order(
    settings: &IngestSettings,
    order: &Order,
    initial_sync: bool,
) -> Vec<crate::model::NewCommand> {
    let email = order.billing_address.email.trim();
    if email.is_empty() || !map::is_paid(order, &settings.mapping) {
        return Vec::new();
    }
    let ids = ResolvedIds::email(&settings.ids, email);
    let lane = if initial_sync {
        Lane::Backfill
    } else {
        Lane::Transactions
    };
    let mut commands = vec![map::guest_profile_command(
        order,
        &ids,
        None,
        lane,
        &settings.mapping,
    )];
    commands.extend(map::purchase_commands(order, &ids, &settings.mapping, lane));
    commands
}

/// The trace's note on refunds of an order whose sale never happened: a refund only follows a
/// sale, so none is sent.
fn refunds_not_sent(order: &Order) -> String {
    match order.refunds.len() {
        0 => String::new(),
        n => format!(
            "; its {n} refund(s) ({}) are not sent: a refund only follows a sale",
            order
                .refunds
                .iter()
                .map(|r| format!("refund {}", r.id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn customer_commands(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    customer: &Customer,
    initial_sync: bool,
) -> Result<Vec<crate::model::NewCommand>, StoreError> {
    if settings.policy == crate::config::IdentityPolicy::EmailAsId {
        let email = customer.email.trim();
        if email.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ResolvedIds::email(&settings.ids, email);
        let lane = if initial_sync {
            Lane::Backfill
        } else {
            Lane::Customers
        };
        return Ok(vec![map::customer_command(
            customer,
            &ids,
            None,
            lane,
            &settings.mapping,
        )]);
    }
    let email = normalize_email(&customer.email);
    let phone = normalize_phone(&customer.phone, settings.phone_region.as_deref());
    let ids = rules::registered_customer(
        tx,
        &settings.ids,
        customer.id,
        email.as_deref(),
        phone.as_deref(),
    )?;
    let lane = if initial_sync {
        Lane::Backfill
    } else {
        Lane::Customers
    };
    Ok(vec![map::customer_command(
        customer,
        &ids,
        phone.as_deref(),
        lane,
        &settings.mapping,
    )])
}

#[allow(clippy::too_many_arguments)]
fn order_commands(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    order: &Order,
    before: Option<&Order>,
    initial_sync: bool,
    now_ms: i64,
    report: &mut IngestReport,
) -> Result<Vec<crate::model::NewCommand>, StoreError> {
    let subject = format!("order:{}", order.id);
    if settings.policy == crate::config::IdentityPolicy::EmailAsId {
        return Ok(email_as_id_order(settings, order, initial_sync));
    }
    let email = normalize_email(&order.billing_address.email);
    let phone = normalize_phone(
        &order.billing_address.phone,
        Some(order.billing_address.country_iso2.as_str())
            .filter(|c| !c.is_empty())
            .or(settings.phone_region.as_deref()),
    );
    let resolved = rules::order_buyer(
        tx,
        &settings.ids,
        order.customer_id,
        email.as_deref(),
        phone.as_deref(),
    )?;
    let mut withhold = |tx: &mut StoreTxn<'_>, person: Option<String>, reason: String| {
        report.withheld.push(Withheld {
            subject: subject.clone(),
            reason: reason.clone(),
        });
        tx.set_withheld(&WithheldRecord {
            subject: subject.clone(),
            reason,
            person,
            at_ms: now_ms,
        })
    };
    let Some(Resolution { ids, guest }) = resolved else {
        // Keep the raw value so that a trace by that (placeholder) email still explains it.
        let raw = order.billing_address.email.trim().to_lowercase();
        let person = (!raw.is_empty()).then(|| PersonKey::RawEmail(raw).to_string());
        withhold(
            tx,
            person,
            format!(
                "guest order without a usable email or phone (empty, invalid or a placeholder such as test@test.com, which never becomes an ID){}",
                refunds_not_sent(order)
            ),
        )?;
        return Ok(Vec::new());
    };
    let state = settings.mapping.orders.state(order);
    if !state.was_paid() {
        withhold(
            tx,
            Some(ids.person.store_key()),
            format!(
                "not paid: {} (status {} {:?}, payment {:?}, see [mapping.orders]); a purchase is sent when BigCommerce shows it paid{}",
                state.name(),
                order.status_id,
                order.status,
                order.payment_status,
                refunds_not_sent(order)
            ),
        )?;
        return Ok(Vec::new());
    }
    if let Err(problem) = settings.mapping.order_currency(order) {
        withhold(
            tx,
            Some(ids.person.store_key()),
            format!(
                "amounts not convertible: {problem}; nothing is sent rather than a wrong total"
            ),
        )?;
        return Ok(Vec::new());
    }
    tx.clear_withheld(&subject)?;
    let (event_lane, profile_lane) = if initial_sync {
        (Lane::Backfill, Lane::Backfill)
    } else {
        (Lane::Transactions, Lane::Customers)
    };
    let mut commands = Vec::new();
    if guest {
        commands.push(map::guest_profile_command(
            order,
            &ids,
            phone.as_deref(),
            profile_lane,
            &settings.mapping,
        ));
    }
    commands.extend(map::purchase_commands(
        order,
        &ids,
        &settings.mapping,
        event_lane,
    ));
    if let Some(watermark) = history_import_watermark(tx, order)? {
        // The import files carry this sale and its lines (created at or before the cut-over
        // watermark, `core::backfill::watermark`), and its refunds made by then: live sends
        // what happens to it afterwards.
        let sale = format!("purchase:{}", order.id);
        let lines = format!("purchase_item:{}:", order.id);
        let imported_refunds: Vec<(String, String)> = order
            .refunds
            .iter()
            .filter(|refund| refund.created <= watermark)
            .map(|refund| {
                (
                    format!("refund:{}", refund.id),
                    format!("refund_item:{}:", refund.id),
                )
            })
            .collect();
        commands.retain(|c| {
            c.fact != sale
                && !c.fact.starts_with(&lines)
                && !imported_refunds
                    .iter()
                    .any(|(refund, items)| c.fact == *refund || c.fact.starts_with(items))
        });
    }
    if let Some(before) = before {
        commands.extend(map::changes::adjustment_command(
            before,
            order,
            &ids,
            &settings.mapping,
            event_lane,
        ));
    }
    Ok(commands)
}

/// The cut-over watermark when the history import owns `order`'s sale: a backfill recorded a
/// watermark and the order was created at or before it.
fn history_import_watermark(
    tx: &StoreTxn<'_>,
    order: &Order,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
    let Some(watermark_ms) = tx.history_watermark_ms()? else {
        return Ok(None);
    };
    let Some(watermark) = chrono::DateTime::from_timestamp_millis(watermark_ms) else {
        return Ok(None);
    };
    Ok((crate::backfill::order_owner(order.date_created, watermark)
        == crate::backfill::OrderOwner::Import)
        .then_some(watermark))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::AppApi;
    use bigreach_clock::ManualClock;
    use chrono::Utc;
    use serde_json::json;

    fn order(id: u64, status_id: u32, email: &str) -> Order {
        let mut order: Order = serde_json::from_value(json!({
            "id": id, "customer_id": 0,
            "date_created": "Mon, 03 Mar 2025 14:22:10 +0000",
            "date_modified": "Mon, 03 Mar 2025 14:25:41 +0000",
            "status_id": status_id, "status": "x", "payment_status": "x",
            "total_inc_tax": "10.0000", "total_ex_tax": "10.0000", "items_total": 1,
            "default_currency_code": "USD",
            "billing_address": {"email": email, "country_iso2": "US"}
        }))
        .unwrap();
        order.line_items = serde_json::from_value(json!([
            {"id": 1, "order_id": id, "product_id": 3, "variant_id": 4, "quantity": 1,
             "price_inc_tax": "10.0000", "total_inc_tax": "10.0000"}
        ]))
        .unwrap();
        order
    }

    fn settings() -> IngestSettings {
        IngestSettings {
            ids: IdNames::default(),
            mapping: MappingContext {
                store_currency: "USD".into(),
                source_name: "shop".into(),
                profile: Default::default(),
                group_names: Default::default(),
                attribute_names: Default::default(),
                orders: Default::default(),
                currencies: Default::default(),
            },
            phone_region: Some("US".into()),
            policy: crate::config::IdentityPolicy::Bigreach,
            catalog: Default::default(),
        }
    }

    fn observed(order: Order) -> IngestBatch {
        IngestBatch {
            observed: vec![Observed {
                resource: Resource::Order(Box::new(order)),
                initial_sync: false,
            }],
            ..IngestBatch::default()
        }
    }

    #[test]
    fn the_trace_explains_a_withheld_order_until_it_is_paid() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let api = AppApi::new(store.clone(), ManualClock::new(Utc::now()));
        ingest(
            &store,
            &settings(),
            &observed(order(7, 7, "Ann@Shop.com")),
            1,
        )
        .unwrap();
        let trace = api.trace(" ann@shop.COM ").unwrap();
        assert_eq!(trace.person_keys, vec!["email:ann@shop.com"]);
        assert!(trace.commands.is_empty());
        assert_eq!(trace.withheld.len(), 1);
        assert_eq!(trace.withheld[0].subject, "order:7");
        assert!(
            trace.withheld[0]
                .reason
                .starts_with("not paid: held (status 7"),
            "{trace:?}"
        );

        ingest(
            &store,
            &settings(),
            &observed(order(7, 11, "ann@shop.com")),
            2,
        )
        .unwrap();
        let trace = api.trace("ann@shop.com").unwrap();
        assert!(trace.withheld.is_empty(), "{trace:?}");
        let facts: Vec<_> = trace.commands.iter().map(|c| c.fact.as_str()).collect();
        assert_eq!(
            facts,
            [
                "guest:email:ann@shop.com",
                "purchase:7",
                "purchase_item:7:1"
            ]
        );
        assert_eq!(trace.commands[1].state.name(), "pending");
        assert_eq!(
            serde_json::to_value(&trace.commands[1].customer_ids).unwrap(),
            json!({"email_id": "ann@shop.com"})
        );
    }

    #[test]
    fn a_placeholder_email_is_withheld_and_still_traceable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let api = AppApi::new(store.clone(), ManualClock::new(Utc::now()));
        ingest(
            &store,
            &settings(),
            &observed(order(8, 11, "test@test.com")),
            1,
        )
        .unwrap();
        let trace = api.trace("test@test.com").unwrap();
        assert!(trace.commands.is_empty());
        assert!(
            trace.withheld[0].reason.contains("placeholder"),
            "{trace:?}"
        );
        assert_eq!(api.trace("hello").unwrap_err().code.as_str(), "bad_request");
    }

    fn refund(id: u64, order_id: u64, amount: &str) -> bigreach_bigcommerce::Refund {
        serde_json::from_value(json!({
            "id": id, "order_id": order_id, "created": "2025-03-05T10:00:00Z",
            "total_amount": amount, "total_tax": 0,
            "items": [{"item_type": "PRODUCT", "item_id": 1, "quantity": 1}]
        }))
        .unwrap()
    }

    #[test]
    fn a_refund_is_enqueued_once_however_often_the_order_is_seen_and_never_without_a_sale() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let api = AppApi::new(store.clone(), ManualClock::new(Utc::now()));
        let mut paid = order(9, 11, "bea@shop.com");
        ingest(&store, &settings(), &observed(paid.clone()), 1).unwrap();
        // refund/created, updated and statusUpdated each lead to a read of the order, some of
        // them twice; a second refund arrives later.
        paid.status_id = 14;
        paid.refunds = vec![refund(31, 9, "4.00")];
        let mut later = paid.clone();
        later.date_modified += chrono::Duration::minutes(5);
        later.status_id = 4;
        later.refunds.push(refund(32, 9, "6.00"));
        let mut now = 2;
        // Alternating records, so that every read is mapped again (an unchanged one is not).
        for seen in [&paid, &paid, &later, &paid, &later] {
            ingest(&store, &settings(), &observed(seen.clone()), now).unwrap();
            now += 1;
        }
        let facts: Vec<String> = api
            .trace("bea@shop.com")
            .unwrap()
            .commands
            .iter()
            .map(|c| c.fact.clone())
            .collect();
        for fact in [
            "refund:31",
            "refund_item:31:1",
            "refund:32",
            "refund_item:32:1",
        ] {
            assert_eq!(
                facts.iter().filter(|f| f.as_str() == fact).count(),
                1,
                "{fact} in {facts:?}"
            );
        }
        assert_eq!(
            facts.iter().filter(|f| f.starts_with("purchase:")).count(),
            1
        );

        // An order never paid (declined) whose record carries a refund: nothing is sent, and the
        // trace says why.
        let mut declined = order(10, 6, "cy@shop.com");
        declined.payment_status = "declined".into();
        declined.refunds = vec![refund(33, 10, "10.00")];
        ingest(&store, &settings(), &observed(declined), now).unwrap();
        let trace = api.trace("cy@shop.com").unwrap();
        assert!(trace.commands.is_empty(), "{trace:?}");
        assert!(
            trace.withheld[0]
                .reason
                .contains("refund 33) are not sent: a refund only follows a sale"),
            "{trace:?}"
        );
    }

    fn ingest_at(store: &Store, order: &Order, now_ms: i64) -> IngestReport {
        ingest(store, &settings(), &observed(order.clone()), now_ms).unwrap()
    }

    fn purchase_facts(store: &Store, email: &str) -> Vec<String> {
        let api = AppApi::new(store.clone(), ManualClock::new(Utc::now()));
        api.trace(email)
            .unwrap()
            .commands
            .iter()
            .filter(|c| c.fact.starts_with("purchase"))
            .map(|c| c.fact.clone())
            .collect()
    }

    #[test]
    fn an_older_state_read_after_a_newer_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let first = order(9, 11, "di@shop.com");
        ingest_at(&store, &first, 1);
        // The merchant edits the amounts: 10.00 -> 12.50, one adjustment of +2.50.
        let mut edited = first.clone();
        edited.total_inc_tax = "12.5".parse().unwrap();
        edited.total_ex_tax = "12.5".parse().unwrap();
        edited.date_modified += chrono::Duration::minutes(10);
        assert_eq!(ingest_at(&store, &edited, 2).enqueued, 1);
        // The first state arrives once more, last (a poll page listed before the edit): it
        // must not send an adjustment of -2.50, and the edited state stays the one held.
        let report = ingest_at(&store, &first, 3);
        assert_eq!((report.enqueued, report.unchanged), (0, 1));
        assert_eq!(
            ingest_at(&store, &edited, 4).enqueued,
            0,
            "the edit is held"
        );
        let adjusted = format!(
            "purchase_adjusted:9:{}",
            edited.date_modified.timestamp_millis()
        );
        assert_eq!(
            purchase_facts(&store, "di@shop.com"),
            ["purchase:9", "purchase_item:9:1", adjusted.as_str()]
        );
    }

    #[test]
    fn a_second_partial_refund_is_news_though_status_and_totals_stay_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let mut o = order(9, 14, "bo@shop.com");
        o.payment_status = "partially refunded".into();
        o.refunds = vec![refund(31, 9, "4.00")];
        ingest_at(&store, &o, 1);
        // Another partial refund: still status 14, same totals, one more refund.
        o.refunds.push(refund(32, 9, "2.00"));
        o.date_modified += chrono::Duration::minutes(5);
        let report = ingest_at(&store, &o, 2);
        assert_eq!(report.enqueued, 2, "refund 32 and its item");
        let api = AppApi::new(store.clone(), ManualClock::new(Utc::now()));
        let facts: Vec<String> = api
            .trace("bo@shop.com")
            .unwrap()
            .commands
            .iter()
            .map(|c| c.fact.clone())
            .collect();
        assert!(facts.contains(&"refund:32".to_owned()), "{facts:?}");
        // Seen again unchanged: nothing.
        assert_eq!(ingest_at(&store, &o, 3).enqueued, 0);
    }

    #[test]
    fn fulfilment_only_updates_send_nothing_and_an_amount_edit_sends_one_adjustment() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let mut o = order(9, 11, "bo@shop.com");
        assert_eq!(
            ingest_at(&store, &o, 1).enqueued,
            3,
            "profile, purchase, line"
        );
        // Awaiting Fulfillment → Awaiting Shipment → Partially Shipped → Shipped, each a new
        // date_modified: marketing fields unchanged, nothing sent.
        for (step, status) in [9u32, 3, 2].into_iter().enumerate() {
            o.status_id = status;
            o.status = format!("status {status}");
            o.payment_method = "PayPal".into();
            o.date_modified += chrono::Duration::minutes(step as i64 + 1);
            let report = ingest_at(&store, &o, 2 + step as i64);
            assert_eq!(
                (report.enqueued, report.unchanged),
                (0, 1),
                "status {status}"
            );
        }
        // The merchant edits the amounts of the paid order: 10.00 → 12.50, one adjustment of
        // +2.50 (USD is the reference currency), once however often it is seen.
        o.total_inc_tax = "12.5".parse().unwrap();
        o.total_ex_tax = "12.5".parse().unwrap();
        o.date_modified += chrono::Duration::minutes(10);
        assert_eq!(ingest_at(&store, &o, 10).enqueued, 1);
        assert_eq!(ingest_at(&store, &o, 11).enqueued, 0);
        let adjusted = format!("purchase_adjusted:9:{}", o.date_modified.timestamp_millis());
        assert_eq!(
            purchase_facts(&store, "bo@shop.com"),
            ["purchase:9", "purchase_item:9:1", adjusted.as_str()]
        );
        // A cancellation after payment is one more event.
        o.status_id = 5;
        o.payment_status = "captured".into();
        o.date_modified += chrono::Duration::minutes(10);
        assert_eq!(ingest_at(&store, &o, 20).enqueued, 1);
        assert_eq!(ingest_at(&store, &o, 21).enqueued, 0);
    }

    #[test]
    fn an_order_without_an_exchange_rate_is_withheld_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let mut o = order(12, 11, "cy@shop.com");
        o.default_currency_code = "EUR".into();
        assert_eq!(ingest_at(&store, &o, 1).enqueued, 0);
        let api = AppApi::new(store.clone(), ManualClock::new(Utc::now()));
        let trace = api.trace("cy@shop.com").unwrap();
        assert!(
            trace.withheld[0]
                .reason
                .starts_with("amounts not convertible: no exchange rate"),
            "{trace:?}"
        );
        // Once the rate is known (the order carries it), the purchase goes.
        o.store_default_to_transactional_exchange_rate = "0.92".parse().unwrap();
        assert_eq!(ingest_at(&store, &o, 2).enqueued, 3);
    }

    fn product(price: f64, sale_price: Option<f64>, stock_m: i64, modified: &str) -> Product {
        serde_json::from_value(json!({
            "id": 311, "name": "Organic Tee", "price": price, "sale_price": 0,
            "inventory_tracking": "variant", "is_visible": true, "availability": "available",
            "date_modified": modified,
            "variants": [
                {"id": 1207, "product_id": 311, "sku": "TEE-M", "price": null,
                 "sale_price": sale_price, "inventory_level": stock_m},
                {"id": 1208, "product_id": 311, "sku": "TEE-L", "price": 27.0,
                 "inventory_level": 5}
            ]
        }))
        .unwrap()
    }

    fn ingest_product(store: &Store, product: Product, now_ms: i64) -> IngestReport {
        let batch = IngestBatch {
            observed: vec![Observed {
                resource: Resource::Product(product),
                initial_sync: false,
            }],
            ..IngestBatch::default()
        };
        ingest(store, &settings(), &batch, now_ms).unwrap()
    }

    fn payload(record: &crate::model::OutboxRecord) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_slice(&record.payload).unwrap()
    }

    fn latest(store: &Store, item: &str) -> crate::model::OutboxRecord {
        store
            .fact_command(&format!("item:{item}"))
            .unwrap()
            .unwrap()
    }

    fn answer(store: &Store, id: u64, outcome: crate::outbox::AttemptOutcome) {
        store.record_attempts(&[(id, outcome)], 0, 5).unwrap();
    }

    fn delivered() -> crate::outbox::AttemptOutcome {
        crate::outbox::AttemptOutcome::Delivered { request_id: None }
    }

    /// What Bloomreach holds after applying `payloads` in order as partial updates.
    fn applied<'a>(
        payloads: impl IntoIterator<Item = &'a serde_json::Map<String, serde_json::Value>>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut item = serde_json::Map::new();
        for p in payloads {
            for (k, v) in p {
                item.insert(k.clone(), v.clone());
            }
        }
        item
    }

    fn full_state(product: &Product, item: usize) -> serde_json::Map<String, serde_json::Value> {
        map::catalog_items(product, &settings().catalog)[item]
            .properties
            .clone()
    }

    #[test]
    fn a_first_catalog_write_is_full_and_a_change_sends_only_the_changed_fields() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let v1 = product(25.0, None, 31, "2025-03-03T14:25:41+00:00");
        assert_eq!(ingest_product(&store, v1.clone(), 1).enqueued, 2);
        let first = latest(&store, "1207");
        assert_eq!(
            payload(&first),
            full_state(&v1, 0),
            "first write: the full state"
        );
        answer(&store, first.id, delivered());
        answer(&store, latest(&store, "1208").id, delivered());

        let v2 = product(25.0, None, 30, "2025-03-03T15:00:00+00:00");
        let report = ingest_product(&store, v2.clone(), 2);
        assert_eq!(
            report.enqueued, 1,
            "variant 1208 did not change: nothing for it"
        );
        let second = latest(&store, "1207");
        assert_eq!(
            serde_json::Value::Object(payload(&second)),
            json!({"stock_level": 30}),
            "only the changed field"
        );
        answer(&store, second.id, delivered());
        assert_eq!(
            applied([&payload(&first), &payload(&second)]),
            full_state(&v2, 0),
            "Bloomreach holds the newest state"
        );

        // The same state seen again (the product was touched, nothing we map changed): the
        // hash is of the full state, so nothing is enqueued, not even an empty delta.
        let touched = product(25.0, None, 30, "2025-03-03T16:00:00+00:00");
        assert_eq!(ingest_product(&store, touched, 3).enqueued, 0);
        assert_eq!(latest(&store, "1207").id, second.id);
    }

    fn ingest_product_with(
        store: &Store,
        settings: &IngestSettings,
        product: Product,
        now_ms: i64,
    ) -> IngestReport {
        let batch = IngestBatch {
            observed: vec![Observed {
                resource: Resource::Product(product),
                initial_sync: false,
            }],
            ..IngestBatch::default()
        };
        ingest(store, settings, &batch, now_ms).unwrap()
    }

    #[test]
    fn a_burst_of_stock_changes_is_one_write_due_a_window_later_with_one_back_in_stock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let mut with_triggers = settings();
        with_triggers.catalog = map::CatalogMapping::default().with_triggers(true);
        let window = i64::from(30) * 1000;
        // Out of stock, written at once (a first write waits for nothing).
        ingest_product_with(
            &store,
            &with_triggers,
            product(25.0, None, 0, "2025-03-03T14:00:00+00:00"),
            0,
        );
        let first = latest(&store, "1207");
        assert_eq!(first.next_attempt_ms, 0);
        for record in store
            .claim_batch(
                0,
                50,
                crate::outbox::Channel::Catalog,
                crate::outbox::LaneSet::ALL,
                &Default::default(),
            )
            .unwrap()
        {
            answer(&store, record.id, delivered());
        }
        // A flap: in, out, in, in… within the window.
        for (i, stock) in [3, 0, 2, 7].into_iter().enumerate() {
            let at = 1_000 + i as i64 * 250;
            ingest_product_with(
                &store,
                &with_triggers,
                product(25.0, None, stock, "2025-03-03T14:00:00+00:00"),
                at,
            );
        }
        let write = latest(&store, "1207");
        assert_eq!(
            write.next_attempt_ms,
            1_000 + window,
            "due a window after the first change"
        );
        assert_eq!(write.status, CommandStatus::Pending);
        assert_eq!(
            store
                .claim_batch(
                    1_000 + window - 1,
                    50,
                    crate::outbox::Channel::Catalog,
                    crate::outbox::LaneSet::ALL,
                    &Default::default()
                )
                .unwrap()
                .len(),
            0,
            "nothing goes before the window ends"
        );
        let due = store
            .claim_batch(
                1_000 + window,
                50,
                crate::outbox::Channel::Catalog,
                crate::outbox::LaneSet::ALL,
                &Default::default(),
            )
            .unwrap();
        assert_eq!(due.len(), 1, "one write for the burst");
        assert_eq!(payload(&due[0])["stock_level"], json!(7));
        assert_eq!(payload(&due[0])["in_stock"], json!(true));
        let events: Vec<_> = store
            .claim_batch(
                1_000 + window,
                50,
                crate::outbox::Channel::Tracking,
                crate::outbox::LaneSet::ALL,
                &Default::default(),
            )
            .unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].lane, Lane::Triggers);
        let event: serde_json::Value = serde_json::from_slice(&events[0].payload).unwrap();
        assert_eq!(event["event_type"], json!("back_in_stock"));
        assert_eq!(event["properties"]["item_id"], json!("1207"));
        assert_eq!(event["properties"]["stock_level"], json!(7));

        // A flap that ends where it began withdraws the event.
        answer(&store, due[0].id, delivered());
        answer(&store, events[0].id, delivered());
        let later = 100_000;
        ingest_product_with(
            &store,
            &with_triggers,
            product(25.0, None, 0, "2025-03-03T14:00:00+00:00"),
            later,
        );
        ingest_product_with(
            &store,
            &with_triggers,
            product(25.0, None, 4, "2025-03-03T14:00:00+00:00"),
            later + 100,
        );
        ingest_product_with(
            &store,
            &with_triggers,
            product(25.0, None, 0, "2025-03-03T14:00:00+00:00"),
            later + 200,
        );
        assert!(
            store
                .claim_batch(
                    later + window,
                    50,
                    crate::outbox::Channel::Tracking,
                    crate::outbox::LaneSet::ALL,
                    &Default::default()
                )
                .unwrap()
                .is_empty(),
            "a flap back to out of stock fires nothing"
        );
    }

    #[test]
    fn a_price_drop_event_carries_old_and_new_price_and_the_discount_from_the_regular_price() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let mut with_triggers = settings();
        with_triggers.catalog = map::CatalogMapping::default().with_triggers(true);
        ingest_product_with(
            &store,
            &with_triggers,
            product(25.0, None, 3, "2025-03-03T14:00:00+00:00"),
            0,
        );
        ingest_product_with(
            &store,
            &with_triggers,
            product(25.0, Some(22.0), 3, "2025-03-03T14:00:00+00:00"),
            1_000,
        );
        ingest_product_with(
            &store,
            &with_triggers,
            product(25.0, Some(20.0), 3, "2025-03-03T14:00:00+00:00"),
            2_000,
        );
        let events = store
            .claim_batch(
                40_000,
                50,
                crate::outbox::Channel::Tracking,
                crate::outbox::LaneSet::ALL,
                &Default::default(),
            )
            .unwrap();
        assert_eq!(
            events.len(),
            1,
            "the refined drop replaces the first: {events:?}"
        );
        let event: serde_json::Value = serde_json::from_slice(&events[0].payload).unwrap();
        assert_eq!(event["event_type"], json!("price_drop"));
        assert_eq!(event["properties"]["old_price"], json!(25.0));
        assert_eq!(event["properties"]["new_price"], json!(20.0));
        assert_eq!(event["properties"]["list_price"], json!(25.0));
        assert_eq!(event["properties"]["discount_percentage"], json!(20.0));
        // Off by default: the same changes enqueue no event.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        ingest_product(
            &store,
            product(25.0, None, 3, "2025-03-03T14:00:00+00:00"),
            0,
        );
        ingest_product(
            &store,
            product(25.0, Some(20.0), 3, "2025-03-03T14:00:00+00:00"),
            1_000,
        );
        assert!(store
            .claim_batch(
                40_000,
                50,
                crate::outbox::Channel::Tracking,
                crate::outbox::LaneSet::ALL,
                &Default::default()
            )
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_superseded_catalog_delta_is_carried_by_the_newer_command() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let v1 = product(25.0, None, 31, "2025-03-03T14:25:41+00:00");
        ingest_product(&store, v1, 1);
        let first = latest(&store, "1207");
        answer(&store, first.id, delivered());

        // A price drop; Bloomreach answers 429, so it stays pending (backing off).
        let v2 = product(25.0, Some(22.0), 31, "2025-03-03T15:00:00+00:00");
        ingest_product(&store, v2, 2);
        let drop = latest(&store, "1207");
        let drop_fields: Vec<String> = payload(&drop).keys().cloned().collect();
        assert_eq!(
            drop_fields,
            ["discount_percentage", "on_sale", "price"],
            "the price drop alone"
        );
        answer(
            &store,
            drop.id,
            crate::outbox::AttemptOutcome::Retry {
                error: "429".into(),
                next_attempt_ms: 10_000,
                counts: false,
            },
        );

        // Then a stock change: it supersedes the pending price drop and must carry it.
        let v3 = product(25.0, Some(22.0), 30, "2025-03-03T15:01:00+00:00");
        ingest_product(&store, v3.clone(), 3);
        let newest = latest(&store, "1207");
        assert_eq!(
            store.command(drop.id).unwrap().unwrap().status,
            CommandStatus::Superseded
        );
        let newest_fields: Vec<String> = payload(&newest).keys().cloned().collect();
        assert_eq!(
            newest_fields,
            ["discount_percentage", "on_sale", "price", "stock_level"],
            "the union of both deltas"
        );
        answer(&store, newest.id, delivered());
        assert_eq!(
            applied([&payload(&first), &payload(&newest)]),
            full_state(&v3, 0),
            "nothing the superseded delta carried is lost"
        );
    }

    #[test]
    fn a_dead_catalog_delta_is_carried_by_the_newer_command() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        ingest_product(
            &store,
            product(25.0, None, 31, "2025-03-03T14:25:41+00:00"),
            1,
        );
        // The first write dies (say, a rejected field); the next state must be full again.
        let first = latest(&store, "1207");
        answer(
            &store,
            first.id,
            crate::outbox::AttemptOutcome::Dead {
                reason: "rejected".into(),
            },
        );
        let v2 = product(25.0, None, 29, "2025-03-03T15:00:00+00:00");
        ingest_product(&store, v2.clone(), 2);
        let newest = latest(&store, "1207");
        assert_eq!(
            store.command(first.id).unwrap().unwrap().status,
            CommandStatus::Superseded
        );
        assert_eq!(payload(&newest), full_state(&v2, 0));
    }

    #[test]
    fn a_field_the_mapping_dropped_sends_nothing_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        ingest_product(
            &store,
            product(25.0, None, 31, "2025-03-03T14:25:41+00:00"),
            1,
        );
        let first = latest(&store, "1207");
        answer(&store, first.id, delivered());
        answer(&store, latest(&store, "1208").id, delivered());
        let mut shrunk = settings();
        let mut overrides = map::CatalogMappingSettings::default();
        overrides.custom_fields.insert(
            "material".into(),
            map::catalog::CustomFieldSettings::default(),
        );
        shrunk.catalog = map::CatalogMapping::with_overrides(&overrides).unwrap();
        let batch = IngestBatch {
            observed: vec![Observed {
                resource: Resource::Product(product(25.0, None, 31, "2025-03-03T15:00:00+00:00")),
                initial_sync: false,
            }],
            ..IngestBatch::default()
        };
        let report = ingest(&store, &shrunk, &batch, 2).unwrap();
        assert_eq!(report.enqueued, 0, "no empty update is sent");
        assert_eq!(latest(&store, "1207").id, first.id);
        // The next real change is a delta against the shrunk state.
        let batch = IngestBatch {
            observed: vec![Observed {
                resource: Resource::Product(product(25.0, None, 30, "2025-03-03T15:01:00+00:00")),
                initial_sync: false,
            }],
            ..IngestBatch::default()
        };
        assert_eq!(ingest(&store, &shrunk, &batch, 3).unwrap().enqueued, 1);
        assert_eq!(
            serde_json::Value::Object(payload(&latest(&store, "1207"))),
            json!({"stock_level": 30})
        );
    }
}
