//! The enrich stage: turns thin webhook notifications into full resources fetched from
//! BigCommerce (the source of truth), then runs diff → map → identity → enqueue in one store
//! transaction together with the inbox cursor.
//!
//! Many notifications for one resource become one fetch, and notifications for several orders
//! with nearby ids become one ranged list request (`min_id`/`max_id`, line items included).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceClient, BigCommerceError, Customer, Order, Product};
use bigreach_clock::SharedClock;
use bigreach_core::model::{FetchTarget, InboxBody, ResourceKind};
use bigreach_core::pipeline::{ingest, IngestSettings, Observed, Resource};
use bigreach_core::store::Store;
use tokio::sync::{watch, Notify};

use crate::metrics::Metrics;

/// Inbox entries handled per transaction.
const BATCH: usize = 500;
/// Wait this long after a wake-up so that a burst of notifications is fetched together.
const COALESCE: Duration = Duration::from_millis(100);

/// The enrich stage.
pub struct Enricher {
    pub(crate) store: Store,
    pub(crate) bigcommerce: Arc<BigCommerceClient>,
    pub(crate) settings: IngestSettings,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: SharedClock,
    pub(crate) wake: Arc<Notify>,
    pub(crate) deliver_wake: Arc<Notify>,
}

/// Errors of one enrich round.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// BigCommerce could not be read; the entries stay in the inbox.
    #[error("fetching from BigCommerce failed: {0}")]
    Fetch(#[from] BigCommerceError),
    /// The store failed; the entries stay in the inbox.
    #[error("store: {0}")]
    Store(#[from] bigreach_core::store::StoreError),
    /// A stored resource could not be decoded.
    #[error("inbox entry {seq} holds an undecodable {kind:?}: {message}")]
    Decode {
        /// Its sequence number.
        seq: u64,
        /// Its kind.
        kind: ResourceKind,
        /// The decoder's message.
        message: String,
    },
    /// A blocking task panicked.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl Enricher {
    /// Runs until shutdown.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.round().await {
                Ok(0) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = self.clock.sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => return,
                    }
                    self.clock.sleep(COALESCE).await;
                }
                Ok(_) => backoff = Duration::from_millis(500),
                Err(error) => {
                    tracing::warn!(%error, "enrich round failed; will retry");
                    self.metrics
                        .error("enrich", self.clock.now_ms(), error.to_string());
                    tokio::select! {
                        _ = self.clock.sleep(backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Processes one batch of inbox entries. Returns how many entries it consumed.
    pub async fn round(&self) -> Result<usize, EnrichError> {
        let store = self.store.clone();
        let pending = tokio::task::spawn_blocking(move || store.pending_inbox(BATCH))
            .await
            .map_err(|e| EnrichError::Task(e.to_string()))??;
        let Some(&(last_seq, _)) = pending.last() else {
            return Ok(0);
        };
        let mut observed = Vec::new();
        let mut orders = BTreeSet::new();
        let mut customers = BTreeSet::new();
        let mut products = BTreeSet::new();
        for (seq, entry) in &pending {
            match &entry.body {
                InboxBody::Resource { kind, json } => {
                    observed.push(Observed {
                        resource: decode_resource(*seq, *kind, json)?,
                        initial_sync: entry.initial_sync,
                    });
                }
                InboxBody::Notification { fetch, .. } => match fetch {
                    Some(FetchTarget::Order(id)) => {
                        orders.insert(*id);
                    }
                    Some(FetchTarget::Customer(id)) => {
                        customers.insert(*id);
                    }
                    Some(FetchTarget::Product(id)) => {
                        products.insert(*id);
                    }
                    None => {}
                },
            }
        }
        // Catalog and customers before orders, so identity links exist when orders map.
        let ids: Vec<u64> = products.into_iter().collect();
        for product in self.bigcommerce.products_by_ids(&ids).await? {
            observed.push(fetched(Resource::Product(product)));
        }
        let ids: Vec<u64> = customers.into_iter().collect();
        for customer in self.bigcommerce.customers_by_ids(&ids).await? {
            observed.push(fetched(Resource::Customer(customer)));
        }
        for order in self.fetch_orders(&orders).await? {
            observed.push(fetched(Resource::Order(order)));
        }
        Metrics::add(
            &self.metrics.resources_fetched,
            observed.iter().filter(|o| !o.initial_sync).count() as u64,
        );
        observed.sort_by_key(|o| match o.resource {
            Resource::Product(_) => 0,
            Resource::Customer(_) => 1,
            Resource::Order(_) => 2,
        });
        let store = self.store.clone();
        let settings = self.settings.clone();
        let now_ms = self.clock.now_ms();
        let report = tokio::task::spawn_blocking(move || {
            ingest(&store, &settings, &observed, Some(last_seq), now_ms)
        })
        .await
        .map_err(|e| EnrichError::Task(e.to_string()))??;
        for withheld in &report.withheld {
            tracing::debug!(subject = %withheld.subject, reason = %withheld.reason, "withheld");
        }
        if report.enqueued > 0 {
            self.deliver_wake.notify_one();
        }
        tracing::debug!(
            entries = pending.len(),
            enqueued = report.enqueued,
            unchanged = report.unchanged,
            "enrich round"
        );
        Ok(pending.len())
    }

    async fn fetch_orders(&self, ids: &BTreeSet<u64>) -> Result<Vec<Order>, BigCommerceError> {
        let (Some(&min), Some(&max)) = (ids.first(), ids.last()) else {
            return Ok(Vec::new());
        };
        // A ranged list costs one request per 250 orders; use it when the ids are dense enough.
        let span = max - min + 1;
        if ids.len() >= 3 && span <= (ids.len() as u64) * 4 {
            let mut out = Vec::new();
            let mut page = 1;
            loop {
                let batch = self.bigcommerce.orders_in_id_range(min, max, page).await?;
                let full = batch.len() >= bigreach_bigcommerce::PAGE_LIMIT as usize;
                out.extend(batch.into_iter().filter(|o| ids.contains(&o.id)));
                if !full {
                    break;
                }
                page += 1;
            }
            return Ok(out);
        }
        let mut out = Vec::new();
        for id in ids {
            if let Some(order) = self.bigcommerce.order(*id).await? {
                out.push(order);
            }
        }
        Ok(out)
    }
}

fn fetched(resource: Resource) -> Observed {
    Observed {
        resource,
        initial_sync: false,
    }
}

fn decode_resource(seq: u64, kind: ResourceKind, json: &[u8]) -> Result<Resource, EnrichError> {
    let error = |e: serde_json::Error| EnrichError::Decode {
        seq,
        kind,
        message: e.to_string(),
    };
    Ok(match kind {
        ResourceKind::Order => Resource::Order(serde_json::from_slice::<Order>(json).map_err(error)?),
        ResourceKind::Customer => {
            Resource::Customer(serde_json::from_slice::<Customer>(json).map_err(error)?)
        }
        ResourceKind::Product => {
            Resource::Product(serde_json::from_slice::<Product>(json).map_err(error)?)
        }
        ResourceKind::Cart => {
            return Err(EnrichError::Decode {
                seq,
                kind,
                message: "carts are not followed yet".to_owned(),
            })
        }
    })
}
