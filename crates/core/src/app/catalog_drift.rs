//! The catalog drift comparison as an operation: read both catalogs through a
//! [`CatalogSource`] the running appliance supplies (BigCommerce's products with their variants,
//! the Bloomreach catalog's items), map every variant as the live path would, compare
//! ([`crate::map::catalog::drift::compare`]), and with `repair` enqueue the writes that undo the
//! drift through the ordinary catalog destination, so the newest-state rule and the lanes still
//! apply. Each run is audited (`catalog.drift`, and `catalog.drift_repaired` for a repair) and
//! kept as the last report (`bigreach catalog drift --last`).
//!
//! A repair never overtakes a newer write: in the transaction that enqueues it, an item whose
//! last command is pending, or was enqueued since the comparison began, is skipped (that write
//! carries the newer state). A repaired item's state becomes the last state enqueued for it
//! (its `catalog_item:` snapshot), so later deltas are taken against what Bloomreach now holds.
//! A repair sends no trigger events (`back_in_stock`, `price_drop`): those follow live changes.

use std::collections::BTreeMap;

use bigreach_bigcommerce::Product;
use serde_json::{Map, Value};

use super::{AppApi, AppError, Code};
use crate::map::catalog::drift::{
    self, DriftInput, DriftRepair, DriftReport, LastWrite, RepairWrite,
};
use crate::map::catalog::CatalogItemState;
use crate::map::CatalogMapping;
use crate::model::{CommandStatus, Snapshot};
use crate::store::{StoreError, StoreTxn};

/// The audit action of every comparison (detail: the counts).
pub const AUDIT_DRIFT: &str = "catalog.drift";
/// The audit action of a repair (detail: what it enqueued).
pub const AUDIT_REPAIRED: &str = "catalog.drift_repaired";

/// One item read back from the Bloomreach catalog: its `item_id` and properties.
pub type BloomreachItem = (String, Map<String, Value>);

/// Both sides of the comparison, supplied by the running appliance (it holds both clients, the
/// mapping once BigCommerce has answered its preflight, and the catalog id once Bloomreach has).
/// Called from a blocking thread.
pub trait CatalogSource: Send + Sync {
    /// The catalog mapping the live path uses.
    fn mapping(&self) -> Result<CatalogMapping, AppError>;
    /// Every product with its variants, listed from BigCommerce (never from local snapshots).
    fn products(&self) -> Result<Vec<Product>, AppError>;
    /// Every item of the Bloomreach catalog, read back page by page: `(item_id, properties)`.
    fn bloomreach_items(&self) -> Result<Vec<BloomreachItem>, AppError>;
}

impl AppApi {
    /// Compares BigCommerce's variants with the Bloomreach catalog; with `repair`, enqueues the
    /// writes that undo the drift (audited, kept as the last report).
    pub fn catalog_drift(&self, repair: bool, actor: &str) -> Result<DriftReport, AppError> {
        let source = self.catalog.as_ref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "the catalog comparison reads BigCommerce and Bloomreach through the running \
                 appliance; start `bigreach serve` and ask it",
            )
        })?;
        let started_at_ms = self.clock.now_ms();
        let mapping = source.mapping()?;
        // Bloomreach first: a live write delivered while BigCommerce is read is then seen as
        // enqueued since the start, not as drift.
        let actual: BTreeMap<String, Map<String, Value>> =
            source.bloomreach_items()?.into_iter().collect();
        let expected: Vec<CatalogItemState> = source
            .products()?
            .iter()
            .flat_map(|product| crate::map::catalog_items(product, &mapping))
            .collect();
        let writes: BTreeMap<String, LastWrite> = self
            .store
            .catalog_item_commands()?
            .into_iter()
            .map(|(item_id, record)| {
                let write = LastWrite {
                    pending: record.status == CommandStatus::Pending,
                    delete: drift::is_delete(&record.payload),
                    enqueued_at_ms: record.enqueued_at_ms,
                };
                (item_id, write)
            })
            .collect();
        let queued_products = self.store.queued_product_fetches()?;
        let mut report = drift::compare(DriftInput {
            expected: &expected,
            actual: &actual,
            writes: &writes,
            queued_products: &queued_products,
            started_at_ms,
            finished_at_ms: self.clock.now_ms(),
        });
        let plan = if repair {
            drift::repair_plan(&report, &expected)
        } else {
            Vec::new()
        };
        let now_ms = self.clock.now_ms();
        report = self.store.write(|tx| {
            if repair {
                let done = enqueue_repair(tx, &plan, started_at_ms, now_ms)?;
                tx.audit(now_ms, actor, AUDIT_REPAIRED, &repair_detail(&done))?;
                report.repair = Some(done);
            }
            tx.audit(now_ms, actor, AUDIT_DRIFT, &counts_detail(&report))?;
            tx.set_last_catalog_drift(&report)?;
            tx.set_meta_i64(crate::store::KEY_DRIFT_AT, started_at_ms)?;
            Ok(report)
        })?;
        if report.repair.as_ref().is_some_and(|r| r.writes() > 0) {
            self.outbox_changed();
        }
        Ok(report)
    }

    /// The last comparison's report.
    pub fn last_catalog_drift(&self) -> Result<DriftReport, AppError> {
        self.store.last_catalog_drift()?.ok_or_else(|| {
            AppError::new(
                Code::NotFound,
                "no catalog comparison has run yet; run `bigreach catalog drift`",
            )
        })
    }
}

/// Enqueues `plan` in one transaction, skipping items with a newer write since `started_at_ms`.
fn enqueue_repair(
    tx: &mut StoreTxn<'_>,
    plan: &[RepairWrite],
    started_at_ms: i64,
    now_ms: i64,
) -> Result<DriftRepair, StoreError> {
    let mut done = DriftRepair::default();
    // Tells this repair's writes from an earlier repair of the same state.
    let marker = format!("drift:{started_at_ms}");
    for write in plan {
        let item_id = write.item_id();
        let fact = format!("item:{item_id}");
        let newer = tx.fact_record(&fact)?.is_some_and(|record| {
            record.status == CommandStatus::Pending || record.enqueued_at_ms >= started_at_ms
        });
        if newer {
            done.skipped.push(item_id.to_owned());
            continue;
        }
        match write {
            RepairWrite::Partial { state, fields } => {
                let mut command = state.command(fields);
                command.content_hash = format!("{}:{marker}", command.content_hash);
                if tx.enqueue_due(&command, now_ms, now_ms)?.is_some() {
                    put_state(tx, state, now_ms)?;
                    done.partial_updates += 1;
                }
            }
            RepairWrite::Upsert { state } => {
                let mut command = state.command(&state.properties);
                command.content_hash = format!("{}:{marker}", command.content_hash);
                if tx.enqueue_due(&command, now_ms, now_ms)?.is_some() {
                    put_state(tx, state, now_ms)?;
                    done.full_upserts += 1;
                }
            }
            RepairWrite::Delete { item_id } => {
                let command = drift::delete_command(item_id, format!("deleted:{marker}"), now_ms);
                if tx.enqueue_due(&command, now_ms, now_ms)?.is_some() {
                    tx.remove_snapshot(&crate::ingest::catalog_state_key(item_id))?;
                    done.deletes += 1;
                }
            }
        }
    }
    Ok(done)
}

/// Keeps `state` as the last state enqueued for its item (what later deltas are taken against).
fn put_state(
    tx: &mut StoreTxn<'_>,
    state: &CatalogItemState,
    now_ms: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(&state.properties).map_err(|e| StoreError::Codec {
        what: "catalog item state",
        operation: "encoded",
        message: e.to_string(),
    })?;
    tx.put_snapshot(
        &crate::ingest::catalog_state_key(&state.item_id),
        &Snapshot {
            fingerprint: state.content_hash(),
            observed_at_ms: now_ms,
            json,
        },
    )
}

/// The audit detail of a comparison: when, and how many items fell in each class.
fn counts_detail(report: &DriftReport) -> Value {
    serde_json::json!({
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "bigcommerce_items": report.bigcommerce_items,
        "bloomreach_items": report.bloomreach_items,
        "in_sync": report.counts.in_sync,
        "missing": report.counts.missing,
        "extra": report.counts.extra,
        "differing": report.counts.differing,
        "retired": report.counts.retired,
        "pending_writes": report.counts.pending_writes,
    })
}

/// The audit detail of a repair: what it enqueued and what it left to a newer write.
fn repair_detail(repair: &DriftRepair) -> Value {
    serde_json::json!({
        "partial_updates": repair.partial_updates,
        "full_upserts": repair.full_upserts,
        "deletes": repair.deletes,
        "skipped": repair.skipped.len(),
    })
}

#[cfg(test)]
mod tests;
