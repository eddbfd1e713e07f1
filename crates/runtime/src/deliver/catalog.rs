//! The catalog sink: catalog items through one bulk partial update (upsert) of the configured
//! catalog, each item's properties being the frozen payload: a field-level delta, the full
//! state on an item's first write (`core::map::catalog`, data/contract/catalog.md). Failures back off like the
//! tracking sink's: on each item's own attempts (a transient item rejection) or on the streak
//! of failed requests (a whole request), and a success ends the streak.

use std::sync::Arc;

use bigreach_bloomreach::{BloomreachClient, CatalogItemUpdate, ErrorClass};
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
        if items.is_empty() {
            return outcomes;
        }
        Metrics::add(&self.metrics.catalog_requests, 1);
        match self
            .bloomreach
            .catalog_bulk_partial_update(&self.catalog_id, &items)
            .await
        {
            Ok(results) => {
                tracing::info!(items = items.len(), "bloomreach catalog update delivered");
                let mut accepted = 0;
                let mut refused_for_service = false;
                for (index, id) in ids.iter().enumerate() {
                    let outcome = match results.get(index) {
                        Some(r) if r.success => {
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
            }
            Err(error) => {
                tracing::warn!(items = items.len(), error = %crate::log_safe::log_safe(&error.to_string()), "bloomreach catalog update failed");
                let attempts = work.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
                let outcome = self.classifier.request_failure(&error, attempts);
                outcomes.extend(ids.iter().map(|id| (*id, outcome.clone())));
            }
        }
        outcomes
    }
}

/// Which attempt this is for command `id` of `work` (1 for the first).
pub(crate) fn attempt_number(work: &[OutboxRecord], id: u64) -> u32 {
    work.iter()
        .find(|r| r.id == id)
        .map_or(1, |r| r.attempts.saturating_add(1))
}
