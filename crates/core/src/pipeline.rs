//! The diff → map → identity → enqueue step, applied to resources that the enrich stage (or the
//! poller) fetched from BigCommerce. One call is one write transaction: snapshots, identity
//! links, outbox commands and the inbox cursor move together, so a crash at any point resumes
//! from the store without losing or doubling anything.

use bigreach_bigcommerce::{Customer, Order, Product};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::IdNames;
use crate::identity::{normalize_email, normalize_phone, ResolvedIds};
use crate::map::{self, MappingContext};
use crate::model::{FetchTarget, Lane, ResourceKind, Snapshot};
use crate::store::{Store, StoreError, StoreTxn};

/// A resource fetched from BigCommerce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Resource {
    /// An order with its line items (boxed: orders are much larger than the others).
    Order(Box<Order>),
    /// A registered customer.
    Customer(Customer),
    /// A product with its variants.
    Product(Product),
}

impl Resource {
    /// Its kind.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Resource::Order(_) => ResourceKind::Order,
            Resource::Customer(_) => ResourceKind::Customer,
            Resource::Product(_) => ResourceKind::Product,
        }
    }

    /// Its snapshot key, e.g. `order:5021`.
    pub fn key(&self) -> String {
        let id = match self {
            Resource::Order(o) => o.id,
            Resource::Customer(c) => c.id,
            Resource::Product(p) => p.id,
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
}

fn fingerprint(resource: &Resource) -> Result<(String, Vec<u8>), StoreError> {
    let json = serde_json::to_vec(resource).map_err(|e| StoreError::Codec {
        what: "resource",
        operation: "encoded",
        message: e.to_string(),
    })?;
    Ok((hex::encode(Sha256::digest(&json)), json))
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
    if let Some(previous) = tx.snapshot(&key)? {
        if previous.fingerprint == fingerprint {
            report.unchanged += 1;
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
        Resource::Order(order) => order_commands(tx, settings, order, item.initial_sync, report)?,
        Resource::Customer(customer) => {
            customer_commands(tx, settings, customer, item.initial_sync)?
        }
        Resource::Product(product) => map::catalog_commands(product),
    };
    for command in &commands {
        if tx.enqueue(command, now_ms)?.is_some() {
            report.enqueued += 1;
        }
    }
    Ok(())
}

fn customer_commands(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    customer: &Customer,
    initial_sync: bool,
) -> Result<Vec<crate::model::NewCommand>, StoreError> {
    let email = normalize_email(&customer.email);
    let phone = normalize_phone(&customer.phone, settings.phone_region.as_deref());
    let customer_key = format!("customer:{}", customer.id);
    if let Some(email) = &email {
        tx.set_identity(&format!("email:{email}"), &customer_key)?;
        tx.set_identity(&customer_key, email)?;
    }
    let ids = ResolvedIds::customer(&settings.ids, customer.id, email.as_deref());
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
    )])
}

fn order_commands(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    order: &Order,
    initial_sync: bool,
    report: &mut IngestReport,
) -> Result<Vec<crate::model::NewCommand>, StoreError> {
    let subject = format!("order:{}", order.id);
    if !map::is_paid(order) {
        report.withheld.push(Withheld {
            subject,
            reason: format!(
                "not paid (status {} {:?}, payment {:?})",
                order.status_id, order.status, order.payment_status
            ),
        });
        return Ok(Vec::new());
    }
    let email = normalize_email(&order.billing_address.email);
    let phone = normalize_phone(
        &order.billing_address.phone,
        Some(order.billing_address.country_iso2.as_str())
            .filter(|c| !c.is_empty())
            .or(settings.phone_region.as_deref()),
    );
    let (ids, guest) = if order.customer_id > 0 {
        let account_email = tx.identity(&format!("customer:{}", order.customer_id))?;
        (
            ResolvedIds::customer(&settings.ids, order.customer_id, account_email.as_deref()),
            false,
        )
    } else if let Some(email) = &email {
        let known = tx.identity(&format!("email:{email}"))?;
        match known.as_deref().and_then(|k| k.strip_prefix("customer:")) {
            Some(id) => match id.parse::<u64>() {
                Ok(id) => (ResolvedIds::customer(&settings.ids, id, Some(email)), false),
                Err(_) => (ResolvedIds::email(&settings.ids, email), true),
            },
            None => (ResolvedIds::email(&settings.ids, email), true),
        }
    } else if let Some(phone) = &phone {
        (ResolvedIds::phone(&settings.ids, phone), true)
    } else {
        report.withheld.push(Withheld {
            subject,
            reason: "guest order without a usable email or phone (empty, invalid or placeholder)"
                .to_owned(),
        });
        return Ok(Vec::new());
    };
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
        ));
    }
    commands.extend(map::purchase_commands(
        order,
        &ids,
        &settings.mapping,
        event_lane,
    ));
    Ok(commands)
}
