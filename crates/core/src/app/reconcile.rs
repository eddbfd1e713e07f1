//! Reconciliation as an operation: list BigCommerce's side through an [`OrderSource`] the
//! running appliance supplies, read Bloomreach's side from the delivery ledger, compare
//! ([`crate::reconcile::compare`]), explain every finding from the store (pending, dead letter,
//! withheld, never seen), and with `repair` send what is missing through the normal outbox.
//!
//! A repair is idempotent: a missing event whose command is pending is left to delivery, a dead
//! letter is replayed once, an order BigReach never saw (or saw before it was paid) is read into
//! the pipeline like a polled one, where the fact dedupe stops a second purchase. Extra,
//! duplicate and mismatched events are reported, never "repaired": the Tracking API cannot
//! delete an event.

use std::collections::BTreeSet;
use ts_rs::TS;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::dead_letters::utc;
use super::{AppApi, AppError, Code};
use crate::ingest::{IngestBatch, IngestSettings, Observed, Resource};
use crate::model::{CommandStatus, Destination};
use crate::reconcile::{
    self, BigCommerceSide, Class, DayRange, DeliveredPurchase, Reconciliation, Repair, StatusNames,
    Subject,
};

/// BigCommerce's side of a reconciliation, supplied by the running appliance (it holds the
/// BigCommerce client and, once BigCommerce has answered its preflight, the mapping). Called
/// from a blocking thread.
pub trait OrderSource: Send + Sync {
    /// The store's IANA time zone name (`v2/store`).
    fn time_zone(&self) -> Result<String, AppError>;
    /// How orders are mapped (for the paid rule, the status names, and a repair's ingest).
    fn settings(&self) -> Result<IngestSettings, AppError>;
    /// Orders created in `[start, end)`, plus orders refunded or cancelled since `start`, with
    /// their refunds; listed from BigCommerce, never from local snapshots.
    fn list(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<BigCommerceSide, AppError>;
}

/// A reconciliation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ReconcileRequest {
    /// First day (store time zone).
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// Send what is missing.
    #[serde(default)]
    pub repair: bool,
}

impl AppApi {
    /// Reconciles `request`'s days; with `repair`, sends what is missing (audited).
    pub fn reconcile(
        &self,
        request: ReconcileRequest,
        actor: &str,
    ) -> Result<Reconciliation, AppError> {
        let source = self.reconciling.as_ref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "reconciliation lists orders from BigCommerce through the running appliance; \
                 start `bigreach serve` and ask it",
            )
        })?;
        let range = DayRange::new(request.from, request.to)
            .map_err(|e| AppError::new(Code::BadRequest, e.to_string()))?;
        let settings = source.settings()?;
        let names = StatusNames::of(&settings.mapping.orders);
        let zone_name = source.time_zone()?;
        let zone = reconcile::store_zone(&zone_name);
        let (start, end) = range.bounds(zone);
        let side = source.list(start, end)?;
        let delivered = self.delivered_purchases()?;
        let now = utc(self.clock.now_ms());
        let mut out = reconcile::compare(
            range,
            zone,
            &settings.mapping.orders,
            &names,
            &side,
            &delivered,
            now,
        );
        for finding in &mut out.findings {
            finding.note = self.explain(finding.subject, finding.order_id, finding.refund_id)?;
        }
        if request.repair {
            out.repair = Some(self.repair(&out, &side, &settings, actor)?);
        }
        self.store.audit(
            self.clock.now_ms(),
            actor,
            if request.repair {
                "reconcile.repaired"
            } else {
                "reconcile.run"
            },
            &summary(&out),
        )?;
        Ok(out)
    }

    /// Every acknowledged `purchase` event in the ledger.
    fn delivered_purchases(&self) -> Result<Vec<DeliveredPurchase>, AppError> {
        Ok(self
            .store
            .deliveries()?
            .into_iter()
            .filter(|(record, _)| record.destination == Destination::Event)
            .filter_map(|(record, _)| DeliveredPurchase::from_event(record.id, &record.payload))
            .collect())
    }

    /// What BigReach knows of a sale or refund that did not match.
    fn explain(
        &self,
        subject: Subject,
        order_id: u64,
        refund_id: Option<u64>,
    ) -> Result<String, AppError> {
        let fact = fact(subject, order_id, refund_id);
        if let Some(command) = self.store.fact_command(&fact)? {
            let error = command.last_error.as_deref().unwrap_or("no error recorded");
            return Ok(match command.status {
                CommandStatus::Pending => format!(
                    "pending delivery (command {}, {} attempts; last: {error})",
                    command.id, command.attempts
                ),
                CommandStatus::Dead => format!("dead letter {}: {error}", command.id),
                CommandStatus::Discarded => {
                    format!("dead letter {} discarded by an operator", command.id)
                }
                CommandStatus::Delivered => format!("delivered as command {}", command.id),
                CommandStatus::Superseded => format!("command {}: {error}", command.id),
            });
        }
        let subject_key = format!("order:{order_id}");
        if let Some(withheld) = self.store.withheld(&subject_key)? {
            return Ok(format!("withheld: {}", withheld.reason));
        }
        Ok(if self.store.snapshot(&subject_key)?.is_some() {
            "seen by BigReach, nothing sent for it".to_owned()
        } else {
            "never seen by BigReach (no webhook or poll brought it)".to_owned()
        })
    }

    fn repair(
        &self,
        out: &Reconciliation,
        side: &BigCommerceSide,
        settings: &IngestSettings,
        actor: &str,
    ) -> Result<Repair, AppError> {
        let mut repair = Repair::default();
        let mut resend = BTreeSet::new();
        for finding in out.findings.iter().filter(|f| f.class == Class::Missing) {
            let fact = fact(finding.subject, finding.order_id, finding.refund_id);
            match self.store.fact_command(&fact)? {
                Some(command) if command.status == CommandStatus::Pending => {
                    repair.already_pending.push(finding.order_id);
                }
                Some(command) if command.status == CommandStatus::Dead => {
                    self.replay_dead_letter(command.id, actor)?;
                    repair.dead_letters_replayed.push(command.id);
                }
                Some(command) if command.status == CommandStatus::Discarded => {
                    repair.left_discarded.push(finding.order_id);
                }
                _ => {
                    resend.insert(finding.order_id);
                }
            }
        }
        if !resend.is_empty() {
            let batch = IngestBatch {
                observed: side
                    .orders
                    .iter()
                    .filter(|o| resend.contains(&o.id))
                    .map(|o| Observed {
                        resource: Resource::Order(Box::new(o.clone())),
                        initial_sync: false,
                    })
                    .collect(),
                ..IngestBatch::default()
            };
            crate::ingest::ingest(&self.store, settings, &batch, self.clock.now_ms())?;
            repair.orders_resent = resend.into_iter().collect();
            self.outbox_changed();
        }
        Ok(repair)
    }
}

/// The outbox fact of a sale or a refund.
fn fact(subject: Subject, order_id: u64, refund_id: Option<u64>) -> String {
    match (subject, refund_id) {
        (Subject::Refund, Some(id)) => format!("refund:{id}"),
        _ => format!("purchase:{order_id}"),
    }
}

/// The audit detail of a reconciliation: range, sign-off, class counts, repairs.
fn summary(out: &Reconciliation) -> serde_json::Value {
    let count = |class: Class| out.findings.iter().filter(|f| f.class == class).count();
    serde_json::json!({
        "from": out.range.from,
        "to": out.range.to,
        "time_zone": out.time_zone,
        "balanced": out.balanced,
        "missing": count(Class::Missing),
        "extra": count(Class::Extra),
        "duplicate": count(Class::Duplicate),
        "amount_mismatch": count(Class::AmountMismatch),
        "totals": out.totals.iter().map(|t| serde_json::json!({
            "currency": t.currency,
            "bigcommerce_net": t.bigcommerce_net,
            "bloomreach_net": t.bloomreach_net,
        })).collect::<Vec<_>>(),
        "repair": out.repair,
    })
}

#[cfg(test)]
mod tests;
