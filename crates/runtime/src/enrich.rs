//! The enrich stage: turns thin webhook notifications into full resources fetched from
//! BigCommerce (the source of truth), then runs diff → map → identity → enqueue in one store
//! transaction together with the inbox cursor.
//!
//! Many notifications for one resource become one fetch, and notifications for several orders
//! become one listing of what changed since the oldest notification.
//!
//! No poison pill: when the fetch of one kind fails for good (the retry policy's dead-letter
//! directive: an id the client refuses, a 4xx that is not about credentials, an undecodable
//! body), the targets of that kind are fetched one by one, and each that still fails is set
//! aside in the store with its reason (out of the fetch queue; an operator replays or discards
//! it), while the rest is ingested as usual.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceClient, BigCommerceError, Customer, Order, Product};
use bigreach_clock::SharedClock;
use bigreach_core::ingest::{ingest, IngestBatch, IngestSettings, Observed, Resource};
use bigreach_core::model::{FetchTarget, InboxBody, ResourceKind};
use bigreach_core::store::Store;
use tokio::sync::{watch, Notify};

use crate::metrics::Metrics;
use crate::parking::{Parking, PROBE_EVERY};
use crate::retry_policy::{self, Directive, Wait};
use bigreach_core::app::status::Component;

/// Inbox entries handled per transaction.
const BATCH: usize = 500;
/// At most this many inbox transactions per round before its fetches.
const DRAIN_BATCHES: usize = 10;
/// Wait this long after a wake-up so that a burst of notifications is fetched together.
const COALESCE: Duration = Duration::from_millis(250);
/// How far before the oldest notification a coalesced order listing starts. The notification
/// time is the webhook's `created_at` (BigCommerce's clock, whole seconds), at or after the
/// write it reports, so the overlap only covers the truncation of both to seconds. Each second
/// of overlap is re-listed every round: in a sale of 12,000 orders a minute, 5 s cost five more
/// pages a round and a p50 of 3.2 s, 2 s a p50 of 0.55 s (`bigreach bench flash-sale`).
const LISTING_OVERLAP_MS: i64 = 2_000;
/// Product notifications wait this long so that a burst of stock and variant changes costs one
/// fetch (catalog freshness is not latency-critical; purchases are).
const CATALOG_DEBOUNCE_MS: i64 = 5_000;
/// The longest wait between failed rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The enrich stage.
pub struct Enricher {
    pub(crate) store: Store,
    pub(crate) bigcommerce: Arc<BigCommerceClient>,
    pub(crate) settings: IngestSettings,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: SharedClock,
    pub(crate) wake: Arc<Notify>,
    pub(crate) deliver_wake: Arc<Notify>,
    pub(crate) parking: Arc<Parking>,
    /// What the listings by modification time have read so far (see [`Coverage`]).
    pub(crate) coverage: parking_lot::Mutex<Option<Coverage>>,
}

/// Errors of one enrich round.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

impl EnrichError {
    /// What the retry policy says about this failure.
    pub fn directive(&self) -> Directive {
        match self {
            EnrichError::Fetch(error) => retry_policy::bigcommerce(error).directive,
            // The local store or a task failed: nothing about the data; try again.
            EnrichError::Store(_) | EnrichError::Task(_) => Directive::Retry {
                wait: Wait::Streak { retry_after: None },
                counts: false,
            },
            // A stored resource BigReach itself wrote cannot be read back: retrying cannot
            // help, and the entry stays in the inbox for an operator.
            EnrichError::Decode { .. } => Directive::DeadLetter,
        }
    }
}

impl Enricher {
    /// Runs until shutdown. A failed round is decided by the retry policy: a timed retry
    /// backs off (doubling up to 30 s); a revoked token or missing scope parks the stage (shown
    /// in the status, with the fix) and probes once every [`PROBE_EVERY`] instead of looping.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            // A round in flight stops with the appliance (as a kill would stop it: each batch
            // commits on its own), instead of waiting for the quota or a slow answer.
            let outcome = tokio::select! {
                outcome = self.round() => outcome,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match outcome {
                Ok(done) => {
                    self.parking.unpark(Component::Enrich);
                    backoff = Duration::from_millis(500);
                    if done == 0 {
                        let wait = self.idle_wait();
                        tokio::select! {
                            _ = self.wake.notified() => {}
                            _ = self.clock.sleep(wait) => {}
                            _ = shutdown.changed() => return,
                        }
                        tokio::select! {
                            _ = self.clock.sleep(COALESCE) => {}
                            _ = shutdown.wait_for(|stop| *stop) => return,
                        }
                    }
                }
                Err(error) => {
                    self.metrics
                        .error("enrich", self.clock.now_ms(), error.to_string());
                    let wait = match error.directive() {
                        Directive::Park { hint } => {
                            self.parking.park(
                                Component::Enrich,
                                self.clock.now(),
                                error.to_string(),
                                hint.to_owned(),
                            );
                            PROBE_EVERY
                        }
                        Directive::Retry { .. } => {
                            tracing::warn!(error = %crate::log_safe::log_safe(&error.to_string()), "enrich round failed; will retry");
                            let wait = backoff;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            wait
                        }
                        Directive::DeadLetter => {
                            // Fetches that fail for good and unreadable inbox entries are set
                            // aside inside the round, so nothing should come here; if it does,
                            // the work stays (nothing is lost) and is tried at the slowest pace.
                            tracing::error!(error = %crate::log_safe::log_safe(&error.to_string()), "an enrich round failed for good; retrying slowly");
                            backoff = MAX_BACKOFF;
                            MAX_BACKOFF
                        }
                    };
                    tokio::select! {
                        _ = self.clock.sleep(wait) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }

    /// One round: moves new inbox entries into the store (full resources are mapped at once,
    /// notifications are queued for a coalesced re-fetch), then fetches whatever is due.
    /// Returns how much it did (0 when idle).
    pub async fn round(&self) -> Result<usize, EnrichError> {
        // Notifications only queue fetches (one per resource, however many name it), so the
        // inbox is drained up to `DRAIN_BATCHES` transactions before each fetch: one round's
        // listings then cover a whole burst instead of 500 webhooks of it.
        let started = std::time::Instant::now();
        let mut consumed = 0;
        for _ in 0..DRAIN_BATCHES {
            let moved = self.drain_inbox().await?;
            consumed += moved;
            if moved < BATCH {
                break;
            }
        }
        let drained_ms = started.elapsed().as_millis() as u64;
        let fetched = self.fetch_due().await?;
        if consumed + fetched > 0 {
            tracing::debug!(
                drained = consumed,
                drain_ms = drained_ms,
                fetched,
                round_ms = started.elapsed().as_millis() as u64,
                "enrich round"
            );
        }
        Ok(consumed + fetched)
    }

    async fn drain_inbox(&self) -> Result<usize, EnrichError> {
        let store = self.store.clone();
        let pending = tokio::task::spawn_blocking(move || store.pending_inbox(BATCH))
            .await
            .map_err(|e| EnrichError::Task(e.to_string()))??;
        let Some(&(last_seq, _)) = pending.last() else {
            return Ok(0);
        };
        let now_ms = self.clock.now_ms();
        if tracing::enabled!(tracing::Level::DEBUG) {
            let mut transit: Vec<i64> = pending
                .iter()
                .map(|(_, e)| e.received_at_ms - e.event_time_ms)
                .collect();
            let mut waited: Vec<i64> = pending
                .iter()
                .map(|(_, e)| now_ms - e.received_at_ms)
                .collect();
            transit.sort_unstable();
            waited.sort_unstable();
            tracing::debug!(
                entries = pending.len(),
                transit_p50_ms = transit[transit.len() / 2],
                transit_max_ms = transit[transit.len() - 1],
                waited_p50_ms = waited[waited.len() / 2],
                waited_max_ms = waited[waited.len() - 1],
                "inbox drained"
            );
        }
        let mut batch = IngestBatch {
            inbox_up_to: Some(last_seq),
            ..IngestBatch::default()
        };
        for (seq, entry) in &pending {
            match &entry.body {
                InboxBody::Resource { kind, json } => match decode_resource(*seq, *kind, json) {
                    Ok(resource) => batch.observed.push(Observed {
                        resource,
                        initial_sync: entry.initial_sync,
                    }),
                    // An entry this version cannot read must not stop every later one: it is
                    // set aside (with the cursor moving past it in the same transaction).
                    Err(error) => {
                        let reason = capped(&error.to_string());
                        tracing::error!(
                            seq,
                            reason = %crate::log_safe::log_safe(&reason),
                            "set aside: an inbox entry cannot be read; discard it from the set-aside list"
                        );
                        self.metrics.error(
                            "enrich",
                            now_ms,
                            format!("set aside inbox entry {seq}: {reason}"),
                        );
                        batch
                            .set_aside
                            .push((format!("inbox:{seq}"), reason, entry.event_time_ms));
                    }
                },
                InboxBody::Notification {
                    fetch: Some(target),
                    ..
                } => {
                    let delay = match target {
                        FetchTarget::Product(_) => CATALOG_DEBOUNCE_MS,
                        FetchTarget::Order(_) | FetchTarget::Customer(_) | FetchTarget::Cart(_) => {
                            0
                        }
                    };
                    batch
                        .queue
                        .push((target.clone(), now_ms + delay, entry.event_time_ms));
                }
                InboxBody::Notification {
                    fetch: None,
                    invalid_id: Some(invalid),
                    ..
                } => {
                    batch
                        .set_aside
                        .push((invalid.key(), invalid.to_string(), entry.event_time_ms))
                }
                InboxBody::Notification { fetch: None, .. } => {}
            }
        }
        // Orders the poller listed: a refunded one carries its refunds like a fetched one, so
        // a refund whose webhook was lost is still sent (and the snapshot stays the same).
        self.attach_refunds(
            batch
                .observed
                .iter_mut()
                .filter_map(|o| match &mut o.resource {
                    Resource::Order(order) => Some(order.as_mut()),
                    _ => None,
                }),
        )
        .await?;
        self.apply(batch).await?;
        Ok(pending.len())
    }

    /// Fills [`Order::refunds`] of every order that has refunds to read ([`needs_refunds`]):
    /// one request for one such order, the store-wide listing by `order_id:in` for several.
    async fn attach_refunds<'a>(
        &self,
        orders: impl Iterator<Item = &'a mut Order>,
    ) -> Result<(), BigCommerceError> {
        let mut refunded: Vec<&mut Order> = orders
            .filter(|order| needs_refunds(order, &self.settings.mapping.orders))
            .collect();
        match refunded.as_mut_slice() {
            [] => {}
            [order] => {
                // The order's own listing: every refund is this order's.
                order.refunds = self.bigcommerce.order_refunds(order.id).await?;
            }
            several => {
                let ids: Vec<u64> = several.iter().map(|o| o.id).collect();
                let refunds = self.bigcommerce.refunds_of_orders(&ids).await?;
                for order in several.iter_mut() {
                    order.refunds = refunds
                        .iter()
                        .filter(|r| r.order_id == order.id)
                        .cloned()
                        .collect();
                }
            }
        }
        for order in refunded {
            order.refunds.sort_by_key(|r| r.id);
        }
        Ok(())
    }

    async fn fetch_due(&self) -> Result<usize, EnrichError> {
        let store = self.store.clone();
        let now_ms = self.clock.now_ms();
        let due = tokio::task::spawn_blocking(move || store.due_fetches(now_ms))
            .await
            .map_err(|e| EnrichError::Task(e.to_string()))??;
        if due.is_empty() {
            return Ok(0);
        }
        // Catalog and customers before orders, so identity links exist when orders map.
        let mut groups: [Vec<(FetchTarget, i64)>; 4] = Default::default();
        for (target, oldest) in &due {
            let group = match target {
                FetchTarget::Product(_) => 0,
                FetchTarget::Customer(_) => 1,
                FetchTarget::Cart(_) => 2,
                FetchTarget::Order(_) => ORDERS_GROUP,
            };
            groups[group].push((target.clone(), *oldest));
        }
        let mut observed = Vec::new();
        let mut set_aside = Vec::new();
        for (index, group) in groups.iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            if index == ORDERS_GROUP && !observed.is_empty() {
                // Orders are applied as their pages arrive: what this round fetched of the
                // catalog and customers goes in first, so identity links exist when they map.
                let resources: Vec<Observed> = std::mem::take(&mut observed)
                    .into_iter()
                    .map(fetched)
                    .collect();
                Metrics::add(&self.metrics.resources_fetched, resources.len() as u64);
                self.apply(IngestBatch {
                    observed: resources,
                    ..IngestBatch::default()
                })
                .await?;
            }
            // Orders listed page by page are applied as each page arrives (a sale's first
            // orders do not wait for the round's last page); the queue entries go with the
            // round's batch below.
            match self.fetch_group(group, Streaming::Apply).await {
                Ok(resources) => observed.extend(resources),
                Err(EnrichError::Fetch(error))
                    if retry_policy::bigcommerce(&error).directive == Directive::DeadLetter =>
                {
                    // One of them cannot be fetched, ever: find which, one by one, and set it
                    // aside so that it holds nothing else up.
                    tracing::info!(
                        targets = group.len(),
                        "a fetch failed for good; fetching these one by one to find the culprit"
                    );
                    for single in group {
                        match self
                            .fetch_group(std::slice::from_ref(single), Streaming::Collect)
                            .await
                        {
                            Ok(resources) => observed.extend(resources),
                            Err(EnrichError::Fetch(error))
                                if retry_policy::bigcommerce(&error).directive
                                    == Directive::DeadLetter =>
                            {
                                let (target, oldest) = single.clone();
                                set_aside.push((target, oldest, capped(&error.to_string())));
                            }
                            Err(error) => return Err(error),
                        }
                    }
                }
                Err(error) => return Err(error),
            }
        }
        if !set_aside.is_empty() {
            self.set_aside(&set_aside).await?;
        }
        let mut batch = IngestBatch {
            fetched: due
                .iter()
                .map(|(t, _)| t.clone())
                .filter(|t| !set_aside.iter().any(|(aside, _, _)| aside == t))
                .collect(),
            ..IngestBatch::default()
        };
        batch.observed = observed.into_iter().map(fetched).collect();
        Metrics::add(&self.metrics.resources_fetched, batch.observed.len() as u64);
        self.apply(batch).await?;
        Ok(due.len())
    }

    /// Fetches one kind of target (every entry of `group` is of the same kind) with as few
    /// requests as the API allows.
    async fn fetch_group(
        &self,
        group: &[(FetchTarget, i64)],
        streaming: Streaming,
    ) -> Result<Vec<Resource>, EnrichError> {
        let mut orders = BTreeSet::new();
        let mut customers = Vec::new();
        let mut products = Vec::new();
        let mut carts = Vec::new();
        let mut oldest_order_event_ms = i64::MAX;
        for (target, oldest) in group {
            match target {
                FetchTarget::Order(id) => {
                    orders.insert(*id);
                    oldest_order_event_ms = oldest_order_event_ms.min(*oldest);
                }
                FetchTarget::Customer(id) => customers.push(*id),
                FetchTarget::Product(id) => products.push(*id),
                FetchTarget::Cart(id) => carts.push(id.as_str()),
            }
        }
        let mut out = Vec::new();
        if !products.is_empty() {
            for product in self.bigcommerce.products_by_ids(&products).await? {
                out.push(Resource::Product(product));
            }
        }
        if !customers.is_empty() {
            for customer in self.bigcommerce.customers_by_ids(&customers).await? {
                out.push(Resource::Customer(customer));
            }
        }
        // Carts have no list-by-id endpoint; one request each (a converted cart is gone).
        for id in carts {
            if let Some(cart) = self.bigcommerce.cart(id).await? {
                out.push(Resource::Cart(cart));
            }
        }
        if !orders.is_empty() {
            let mut fetched = self
                .fetch_orders(&orders, oldest_order_event_ms, streaming)
                .await?;
            // A refund webhook names the order; its refunds are read with it.
            self.attach_refunds(fetched.iter_mut()).await?;
            for order in fetched {
                out.push(Resource::Order(Box::new(order)));
            }
        }
        Ok(out)
    }

    /// Takes fetches that failed for good out of the queue, with their reasons (logged once
    /// each, capped: an id from outside can be arbitrarily long).
    async fn set_aside(&self, targets: &[(FetchTarget, i64, String)]) -> Result<(), EnrichError> {
        for (target, _, reason) in targets {
            tracing::error!(
                fetch = %crate::log_safe::log_safe(&target.key()).max_chars(64),
                reason = %crate::log_safe::log_safe(reason),
                "set aside: this resource cannot be fetched; replay or discard it from the set-aside list"
            );
            self.metrics.error(
                "enrich",
                self.clock.now_ms(),
                format!("set aside {:?}: {reason}", capped(&target.key())),
            );
        }
        let store = self.store.clone();
        let now_ms = self.clock.now_ms();
        let targets = targets.to_vec();
        tokio::task::spawn_blocking(move || {
            store.write(|tx| {
                for (target, oldest, reason) in &targets {
                    tx.set_aside_fetch(target, reason, now_ms, *oldest)?;
                }
                Ok(())
            })
        })
        .await
        .map_err(|e| EnrichError::Task(e.to_string()))??;
        Ok(())
    }

    /// Ingests one listing page's orders, with their refunds, in one transaction.
    async fn apply_orders(&self, mut orders: Vec<Order>) -> Result<(), EnrichError> {
        self.attach_refunds(orders.iter_mut()).await?;
        let observed: Vec<Observed> = orders
            .into_iter()
            .map(|order| fetched(Resource::Order(Box::new(order))))
            .collect();
        Metrics::add(&self.metrics.resources_fetched, observed.len() as u64);
        self.apply(IngestBatch {
            observed,
            ..IngestBatch::default()
        })
        .await
    }

    async fn apply(&self, batch: IngestBatch) -> Result<(), EnrichError> {
        let store = self.store.clone();
        let settings = self.settings.clone();
        let now_ms = self.clock.now_ms();
        let report = tokio::task::spawn_blocking(move || ingest(&store, &settings, &batch, now_ms))
            .await
            .map_err(|e| EnrichError::Task(e.to_string()))??;
        for withheld in &report.withheld {
            tracing::debug!(subject = %withheld.subject, reason = %withheld.reason, "withheld");
        }
        if report.enqueued > 0 {
            self.deliver_wake.notify_one();
        }
        Ok(())
    }

    /// How long to wait when idle: until the next queued fetch is due, at most a second.
    fn idle_wait(&self) -> Duration {
        let now = self.clock.now_ms();
        match self.store.fetch_queue_state() {
            Ok((_, Some(due))) if due > now => {
                Duration::from_millis((due - now) as u64).min(Duration::from_secs(1))
            }
            Ok((_, Some(_))) => COALESCE,
            _ => Duration::from_secs(1),
        }
    }

    /// Fetches the notified orders with as few requests as possible (see [`by_time_first`]): ids
    /// spread over many ranges through one listing of what changed since the oldest
    /// notification (at most [`MODIFIED_SINCE_MAX_PAGES`] pages); then whatever that did not
    /// cover by id range (ids close together) or by id (a lone one). Up to 250 orders with line
    /// items per listing request.
    ///
    /// A notified order a complete listing by modification time does not return goes on to the
    /// listing by id range (or by id): a write can commit after a listing that showed a later
    /// one. An order a complete listing by id range does not return is not fetched: the range
    /// holds every order between its ids, so such an order is one the default listing hides
    /// (Incomplete, status 0, which is never a purchase). Its next change arrives as a new
    /// notification, and the poller lists the same window as a safety net.
    async fn fetch_orders(
        &self,
        ids: &BTreeSet<u64>,
        oldest_event_ms: i64,
        streaming: Streaming,
    ) -> Result<Vec<Order>, EnrichError> {
        let mut out = Vec::new();
        let mut missing: BTreeSet<u64> = ids.clone();
        if by_time_first(ids) {
            let start_ms = listing_start_ms(oldest_event_ms, *self.coverage.lock());
            if let Some(since) = chrono::DateTime::from_timestamp_millis(start_ms) {
                let listing = Listing::ChangedSince(since);
                let end = self
                    .list_orders(
                        listing,
                        MODIFIED_SINCE_MAX_PAGES,
                        streaming,
                        &mut missing,
                        &mut out,
                    )
                    .await?;
                if end.ended {
                    let through_ms = end.first_page_newest_ms.unwrap_or(start_ms).max(start_ms);
                    let mut coverage = self.coverage.lock();
                    *coverage = Some(Coverage::extended(*coverage, start_ms, through_ms));
                    drop(coverage);
                    if missing.is_empty() {
                        return Ok(out);
                    }
                    // A notified order the listing did not show is either hidden from listings
                    // (Incomplete) or was written later than its modification time says (a
                    // commit that lagged behind a newer one, past the margin): the listing by
                    // id range or by id below settles which, so no purchase waits for the
                    // safety-net poll.
                }
            }
        }
        // What is left: each range of ids close together through one listing by id range
        // (complete in at most `ID_RANGE_PAGES` + 1 requests), a lone id by id.
        let mut not_listed = 0;
        let mut by_id = BTreeSet::new();
        for range in id_ranges(&missing) {
            let mut left: BTreeSet<u64> = missing
                .range(range.min_id..=range.max_id)
                .copied()
                .collect();
            if left.len() >= 2
                && self
                    .list_orders(
                        Listing::IdRange(range),
                        ID_RANGE_PAGES + 1,
                        streaming,
                        &mut left,
                        &mut out,
                    )
                    .await?
                    .ended
            {
                not_listed += left.len();
                continue;
            }
            by_id.extend(left);
        }
        log_not_listed(not_listed);
        for id in by_id {
            if let Some(order) = self.bigcommerce.order(id).await? {
                out.push(order);
            }
        }
        Ok(out)
    }

    /// Pages through `listing` (at most `max_pages` requests): applied page by page with
    /// [`Streaming::Apply`], moved to `out` otherwise, and struck from `missing`.
    ///
    /// A listing by id range takes only the orders named in `missing` and stops early once
    /// nothing is missing. A listing by modification time takes every order it lists (an order
    /// changed since the oldest notification whose own notification is still on its way is
    /// ingested now, and its notification then finds nothing new) and reads to its end, so that
    /// what it read can be remembered as [`Coverage`].
    async fn list_orders(
        &self,
        listing: Listing,
        max_pages: u32,
        streaming: Streaming,
        missing: &mut BTreeSet<u64>,
        out: &mut Vec<Order>,
    ) -> Result<ListingEnd, EnrichError> {
        let take_all = matches!(listing, Listing::ChangedSince(_));
        let mut first_page_newest_ms = None;
        let page_limit = bigreach_bigcommerce::PAGE_LIMIT as usize;
        let wanted = missing.len();
        let mut listed = 0;
        let started = std::time::Instant::now();
        let report = |pages: u32, listed: usize, left: usize| {
            tracing::debug!(
                listing = listing.kind(),
                pages,
                listed,
                wanted,
                matched = wanted - left,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "orders listed"
            );
        };
        for page in 1..=max_pages {
            if missing.is_empty() && !take_all {
                report(page - 1, listed, 0);
                return Ok(ListingEnd::ended(None));
            }
            let batch = match listing {
                Listing::IdRange(range) => {
                    self.bigcommerce
                        .orders_in_id_range(range.min_id, range.max_id, page)
                        .await?
                }
                Listing::ChangedSince(since) => {
                    self.bigcommerce
                        .orders_changed_since_by_id(since, page)
                        .await?
                }
            };
            if page == 1 {
                first_page_newest_ms = batch
                    .iter()
                    .map(|order| order.date_modified.timestamp_millis())
                    .max();
            }
            let full = batch.len() >= page_limit;
            listed += batch.len();
            let mut taken: Vec<Order> = batch
                .into_iter()
                .filter(|order| missing.remove(&order.id) || take_all)
                .collect();
            match streaming {
                Streaming::Apply if !taken.is_empty() => self.apply_orders(taken).await?,
                _ => out.append(&mut taken),
            }
            if !full {
                report(page, listed, missing.len());
                return Ok(ListingEnd::ended(first_page_newest_ms));
            }
        }
        report(max_pages, listed, missing.len());
        Ok(ListingEnd {
            ended: missing.is_empty() && !take_all,
            first_page_newest_ms,
        })
    }
}

/// The index of the orders among a round's fetch groups (the last).
const ORDERS_GROUP: usize = 3;

/// Whether listed orders are applied page by page or collected for the round's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Streaming {
    /// Each listing page's orders are ingested at once (with their refunds), in their own
    /// transaction; their fetch-queue entries are removed with the round's batch, so a crash in
    /// between re-fetches them (ingest is idempotent: an unchanged order emits nothing).
    Apply,
    /// Collected and returned (the one-by-one search for a fetch that fails for good).
    Collect,
}

fn log_not_listed(orders: usize) {
    if orders > 0 {
        tracing::debug!(
            orders,
            "notified orders not in the listing (incomplete or superseded)"
        );
    }
}

/// Whether an order's refunds are read: it is refunded or partially refunded (by the order
/// mapping, reference §3.3), or its `payment_status` says money went back (a refund of a paid
/// order that is cancelled or disputed). A refund webhook (`store/order/refund/created`) names
/// the order, which then shows one of these.
pub(crate) fn needs_refunds(
    order: &Order,
    mapping: &bigreach_core::map::payment::OrderMapping,
) -> bool {
    use bigreach_core::map::payment::PaymentState;
    matches!(
        mapping.state(order),
        PaymentState::Refunded | PaymentState::PartiallyRefunded
    ) || matches!(
        order.payment_status.as_str(),
        "refunded" | "partially refunded"
    )
}

/// Notified orders whose ids span fewer than this many pages are listed by id range.
const ID_RANGE_PAGES: u32 = 2;

/// Ids spread over more ranges than this are listed by modification time first.
const MAX_RANGE_LISTINGS: usize = 2;

/// At most this many pages (250 orders each) of the listing by modification time per round;
/// what it did not reach is listed by id range. Enough for a round of a sale of 12,000 orders
/// a minute that is 10 s behind.
const MODIFIED_SINCE_MAX_PAGES: u32 = 16;

/// One listing request kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    IdRange(IdRange),
    /// Orders modified at or after this time, by id.
    ChangedSince(chrono::DateTime<chrono::Utc>),
}

impl Listing {
    fn kind(&self) -> &'static str {
        match self {
            Listing::IdRange(_) => "id_range",
            Listing::ChangedSince(_) => "changed_since",
        }
    }
}

/// How a listing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListingEnd {
    /// It ended within its bound (a page that was not full), or found every order asked for.
    ended: bool,
    /// The latest modification time on its first page (a listing by modification time).
    first_page_newest_ms: Option<i64>,
}

impl ListingEnd {
    fn ended(first_page_newest_ms: Option<i64>) -> Self {
        Self {
            ended: true,
            first_page_newest_ms,
        }
    }
}

/// A listing that starts where the previous one's [`Coverage`] ends still starts this much
/// before it: a write whose modification time was taken shortly before it committed can
/// appear after a listing that showed a later one.
const COVERAGE_MARGIN_MS: i64 = 1_000;

/// What the complete listings by modification time of this process have read: every order
/// modified in `[since_ms, through_ms)` was ingested in that state or a later one.
///
/// `through_ms` is the latest modification time on a listing's first page. Every order on that
/// page was written before the page was read, so any write after that (on any later page's ids
/// too) has a modification time at or after it; the listing takes every order it lists, so
/// nothing modified before it is left unread. The next listing by modification time then starts
/// there (less [`COVERAGE_MARGIN_MS`]) instead of [`LISTING_OVERLAP_MS`] before the oldest
/// notification: in a sale the window is the time since the last round, not that plus the
/// notification's truncation and overlap, which is one page a round instead of two or three.
/// It is kept in memory only; after a restart listings start from the notifications again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Coverage {
    since_ms: i64,
    through_ms: i64,
}

impl Coverage {
    /// The coverage after a complete listing of `[start_ms, through_ms)`: joined to `previous`
    /// when it starts inside it, else that listing alone.
    fn extended(previous: Option<Coverage>, start_ms: i64, through_ms: i64) -> Coverage {
        match previous {
            Some(p) if p.since_ms <= start_ms && start_ms <= p.through_ms => Coverage {
                since_ms: p.since_ms,
                through_ms: through_ms.max(p.through_ms),
            },
            _ => Coverage {
                since_ms: start_ms,
                through_ms,
            },
        }
    }
}

/// Where a listing by modification time starts for notifications whose oldest was created at
/// `oldest_event_ms`: [`LISTING_OVERLAP_MS`] before it, or later when `coverage` already holds
/// that point (then where the coverage ends, less [`COVERAGE_MARGIN_MS`]).
fn listing_start_ms(oldest_event_ms: i64, coverage: Option<Coverage>) -> i64 {
    let start = oldest_event_ms - LISTING_OVERLAP_MS;
    match coverage {
        Some(c) if c.since_ms <= start => start.max(c.through_ms - COVERAGE_MARGIN_MS),
        _ => start,
    }
}

/// Ids close together: `min_id ≤ id ≤ max_id`, spanning fewer than [`ID_RANGE_PAGES`] pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdRange {
    min_id: u64,
    max_id: u64,
}

/// Whether a round's notified orders are listed by modification time first.
///
/// Ids close together (a sale's new orders) are listed by id range: at most
/// [`ID_RANGE_PAGES`] + 1 requests however far behind enrich is, where a listing by
/// modification time would cover every order changed since the oldest notification. Ids spread
/// over many ranges (payments captured for orders placed anywhere earlier in a sale) are first
/// listed by modification time, which finds them all in a few pages while enrich keeps up; at
/// most [`MODIFIED_SINCE_MAX_PAGES`], the rest by range. Only a lone id is fetched by id: a sale
/// whose listings hide its Incomplete orders never turns into one request per order.
fn by_time_first(ids: &BTreeSet<u64>) -> bool {
    id_ranges(ids).len() > MAX_RANGE_LISTINGS
}

/// `ids` (ascending) cut into ranges that each span fewer than [`ID_RANGE_PAGES`] pages.
fn id_ranges(ids: &BTreeSet<u64>) -> Vec<IdRange> {
    let span = u64::from(ID_RANGE_PAGES) * u64::from(bigreach_bigcommerce::PAGE_LIMIT);
    let mut out: Vec<IdRange> = Vec::new();
    for &id in ids {
        match out.last_mut() {
            Some(range) if id - range.min_id < span => range.max_id = id,
            _ => out.push(IdRange {
                min_id: id,
                max_id: id,
            }),
        }
    }
    out
}

/// The longest reason or key written to a log or the store for a set-aside fetch.
const MAX_REASON_CHARS: usize = 300;

/// `text` cut to [`MAX_REASON_CHARS`] characters.
fn capped(text: &str) -> String {
    if text.chars().count() <= MAX_REASON_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_REASON_CHARS).collect();
    cut.push('…');
    cut
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
        ResourceKind::Order => Resource::Order(Box::new(
            serde_json::from_slice::<Order>(json).map_err(error)?,
        )),
        ResourceKind::Customer => {
            Resource::Customer(serde_json::from_slice::<Customer>(json).map_err(error)?)
        }
        ResourceKind::Product => {
            Resource::Product(serde_json::from_slice::<Product>(json).map_err(error)?)
        }
        ResourceKind::Cart => Resource::Cart(
            serde_json::from_slice::<bigreach_bigcommerce::Cart>(json).map_err(error)?,
        ),
    })
}

#[cfg(test)]
mod order_listing_tests {
    use super::*;

    fn ids(list: &[u64]) -> BTreeSet<u64> {
        list.iter().copied().collect()
    }

    fn range(min_id: u64, max_id: u64) -> IdRange {
        IdRange { min_id, max_id }
    }

    #[test]
    fn close_ids_are_listed_by_range_and_ids_over_many_ranges_by_time_first() {
        assert!(!by_time_first(&ids(&[])));
        assert!(!by_time_first(&ids(&[7])));
        // A sale's new orders: one range, whatever else changed since the oldest notification.
        assert!(!by_time_first(&ids(&[1000, 1003, 1499])));
        // Two ranges: still listed by range.
        assert!(!by_time_first(&ids(&[3, 90_000, 90_100])));
        // Payments captured across a whole sale: by modification time first.
        let spread: BTreeSet<u64> = (0..600).map(|i| i * 10).collect();
        assert!(by_time_first(&spread));
        assert_eq!(id_ranges(&spread).len(), 12);
        assert_eq!(id_ranges(&spread)[11], range(5500, 5990));
    }

    #[test]
    fn a_listing_starts_where_the_last_one_read_to_when_that_covers_the_oldest_notification() {
        let c = |since_ms, through_ms| {
            Some(Coverage {
                since_ms,
                through_ms,
            })
        };
        // Nothing read yet: the overlap before the oldest notification.
        assert_eq!(listing_start_ms(100_000, None), 98_000);
        // Read from 90 s to 99 s: the notification at 100 s starts at 99 s less the margin.
        assert_eq!(listing_start_ms(100_000, c(90_000, 99_000)), 98_000);
        assert_eq!(listing_start_ms(100_500, c(90_000, 100_000)), 99_000);
        // A late notification, older than anything read: its own overlap.
        assert_eq!(listing_start_ms(91_000, c(95_000, 99_000)), 89_000);
        // Coverage that ends long before the notification changes nothing.
        assert_eq!(listing_start_ms(200_000, c(90_000, 99_000)), 198_000);
    }

    #[test]
    fn coverage_grows_when_a_listing_starts_inside_it_and_restarts_otherwise() {
        let c = |since_ms, through_ms| Coverage {
            since_ms,
            through_ms,
        };
        assert_eq!(Coverage::extended(None, 10, 20), c(10, 20));
        assert_eq!(Coverage::extended(Some(c(10, 20)), 19, 30), c(10, 30));
        assert_eq!(Coverage::extended(Some(c(10, 20)), 10, 15), c(10, 20));
        // A gap between the two: only the new listing is known to be read.
        assert_eq!(Coverage::extended(Some(c(10, 20)), 21, 30), c(21, 30));
        assert_eq!(Coverage::extended(Some(c(10, 20)), 5, 30), c(5, 30));
    }

    #[test]
    fn a_range_spans_fewer_than_two_pages_of_ids() {
        assert_eq!(
            id_ranges(&ids(&[1, 500, 501, 1000, 1001])),
            vec![range(1, 500), range(501, 1000), range(1001, 1001)]
        );
    }
}
