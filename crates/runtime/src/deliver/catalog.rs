//! The catalog sink: catalog items through one bulk partial update (upsert) of the configured
//! catalog, each item's properties being the frozen payload: a field-level delta, the full
//! state on an item's first write (`core::map::catalog`, data/contract/catalog.md). Failures back off like the
//! tracking sink's: on each item's own attempts (a transient item rejection) or on the streak
//! of failed requests (a whole request), and a success ends the streak. A command whose payload
//! is the delete marker (`core::map::catalog::drift::DELETE_PAYLOAD`, a drift repair of an item
//! BigCommerce no longer has) goes in one bulk delete beside the update.

use std::sync::Arc;

use bigreach_bloomreach::{
    BloomreachClient, BloomreachError, CatalogItemResult, CatalogItemUpdate, ErrorClass,
};
use bigreach_core::map::catalog::drift;
use bigreach_core::outbox::{AttemptOutcome, Destination, OutboxRecord};

use super::outcome::Classifier;
use super::Sink;
use crate::metrics::Metrics;

/// Sends catalog item upserts.
pub(crate) struct CatalogSink {
    pub(crate) bloomreach: Arc<BloomreachClient>,
    pub(crate) catalog_id: String,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) classifier: Arc<Classifier>,
}

impl Sink for CatalogSink {
    async fn send(&self, work: &[OutboxRecord]) -> Vec<(u64, AttemptOutcome)> {
        let mut items = Vec::with_capacity(work.len());
        let mut ids = Vec::with_capacity(work.len());
        let mut deletes = Vec::new();
        let mut delete_ids = Vec::new();
        let mut outcomes = Vec::new();
        for record in work {
            let Destination::CatalogItem { item_id } = &record.destination else {
                outcomes.push((
                    record.id,
                    AttemptOutcome::Dead {
                        reason: format!("{} is not a catalog item", record.destination),
                    },
                ));
                continue;
            };
            if drift::is_delete(&record.payload) {
                deletes.push(item_id.clone());
                delete_ids.push(record.id);
                continue;
            }
            match serde_json::from_slice(&record.payload) {
                Ok(properties) => {
                    items.push(CatalogItemUpdate {
                        item_id: item_id.clone(),
                        properties,
                        upsert: true,
                    });
                    ids.push(record.id);
                }
                Err(_) => outcomes.push((
                    record.id,
                    AttemptOutcome::Dead {
                        reason: "frozen catalog payload is not a JSON object".to_owned(),
                    },
                )),
            }
        }
        if !items.is_empty() {
            Metrics::add(&self.metrics.catalog_requests, 1);
            let answer = self
                .bloomreach
                .catalog_bulk_partial_update(&self.catalog_id, &items)
                .await;
            outcomes.extend(self.outcomes(work, &ids, answer, false));
        }
        if !deletes.is_empty() {
            Metrics::add(&self.metrics.catalog_requests, 1);
            let answer = self
                .bloomreach
                .catalog_bulk_delete(&self.catalog_id, &deletes)
                .await;
            outcomes.extend(self.outcomes(work, &delete_ids, answer, true));
        }
        outcomes
    }
}

impl CatalogSink {
    /// The outcome of each command `ids` of one request (updates, or deletes with `delete`).
    fn outcomes(
        &self,
        work: &[OutboxRecord],
        ids: &[u64],
        answer: Result<Vec<CatalogItemResult>, BloomreachError>,
        delete: bool,
    ) -> Vec<(u64, AttemptOutcome)> {
        let what = if delete { "delete" } else { "update" };
        let results = match answer {
            Ok(results) => results,
            Err(error) => {
                tracing::warn!(items = ids.len(), error = %crate::log_safe::log_safe(&error.to_string()), "bloomreach catalog {what} failed");
                let attempts = work.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
                let outcome = self.classifier.request_failure(&error, attempts);
                return ids.iter().map(|id| (*id, outcome.clone())).collect();
            }
        };
        tracing::info!(items = ids.len(), "bloomreach catalog {what} delivered");
        let mut outcomes = Vec::with_capacity(ids.len());
        let mut accepted = 0;
        let mut refused_for_service = false;
        for (index, id) in ids.iter().enumerate() {
            let outcome = match results.get(index) {
                Some(r) if r.success || (delete && already_gone(&r.errors)) => {
                    accepted += 1;
                    AttemptOutcome::Delivered { request_id: None }
                }
                Some(r) => {
                    let class = bigreach_bloomreach::classify_command_errors(&r.errors);
                    refused_for_service |=
                        matches!(class, ErrorClass::Auth | ErrorClass::RateLimited);
                    self.classifier.command_failure(
                        class,
                        r.errors.join("; "),
                        attempt_number(work, *id),
                    )
                }
                None => self
                    .classifier
                    .unanswered("no result for this item", attempt_number(work, *id)),
            };
            outcomes.push((*id, outcome));
        }
        // Healthy only if something was taken and nothing refused for credentials or load.
        if accepted > 0 && !refused_for_service {
            self.classifier.recover_rate();
        }
        outcomes
    }
}

/// Whether a refused delete says the item is not there: what the delete wanted (a resend of a
/// delete that was applied, or an item someone else removed).
fn already_gone(errors: &[String]) -> bool {
    errors.iter().any(|e| {
        let e = e.to_ascii_lowercase();
        e.contains("does not exist") || e.contains("not found")
    })
}

/// Which attempt this is for command `id` of `work` (1 for the first).
pub(crate) fn attempt_number(work: &[OutboxRecord], id: u64) -> u32 {
    work.iter()
        .find(|r| r.id == id)
        .map_or(1, |r| r.attempts.saturating_add(1))
}
