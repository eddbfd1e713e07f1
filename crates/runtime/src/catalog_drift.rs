//! The full catalog comparison in the running appliance: both sides of it over the appliance's
//! clients ([`ApplianceCatalogs`], the application API's [`CatalogSource`]) and the schedule
//! ([`scheduled`]), which compares and repairs every `[mapping.catalog] drift_compare_secs`
//! (daily by default) on the injected clock.
//!
//! Both reads stay within the APIs' budgets: BigCommerce's products are listed 250 a page with
//! their variants through the client's quota pacing (the same listing as a sweep), Bloomreach's
//! items 1,000 a page through the same paced client delivery uses, so a comparison takes its
//! turn in the token bucket rather than adding a burst.

use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceClient, Product};
use bigreach_bloomreach::BloomreachClient;
use bigreach_clock::SharedClock;
use bigreach_core::app::catalog_drift::BloomreachItem;
use bigreach_core::app::{AppApi, AppError, CatalogSource, Code};
use bigreach_core::ingest::IngestSettings;
use bigreach_core::map::CatalogMapping;
use bigreach_core::store::{Store, KEY_DRIFT_AT};
use parking_lot::Mutex;
use tokio::sync::watch;

/// Items per page read back from Bloomreach (the most its `GET …/items` returns).
pub const BLOOMREACH_PAGE: u32 = 1_000;
/// The most pages either listing reads before it gives up with a clear error.
const MAX_PAGES: u32 = 2_000;
/// How long after a comparison that failed (a service down) the schedule tries again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3_600);

/// Who the scheduled comparison is in the audit log.
pub const ACTOR: &str = "system (scheduled)";

/// Both catalogs, over the appliance's clients.
pub struct ApplianceCatalogs {
    bigcommerce: Arc<BigCommerceClient>,
    bloomreach: Arc<BloomreachClient>,
    settings: Arc<Mutex<Option<IngestSettings>>>,
    catalog_id: Arc<Mutex<Option<String>>>,
    runtime: tokio::runtime::Handle,
}

impl ApplianceCatalogs {
    /// A source over both clients; `settings` is filled in once BigCommerce has answered its
    /// preflight, `catalog_id` once the Bloomreach catalog is set up. Must be created inside
    /// the Tokio runtime.
    pub fn new(
        bigcommerce: Arc<BigCommerceClient>,
        bloomreach: Arc<BloomreachClient>,
        settings: Arc<Mutex<Option<IngestSettings>>>,
        catalog_id: Arc<Mutex<Option<String>>>,
    ) -> Self {
        Self {
            bigcommerce,
            bloomreach,
            settings,
            catalog_id,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    async fn list_products(&self) -> Result<Vec<Product>, AppError> {
        let mut products = Vec::new();
        let mut page = 1;
        loop {
            let listed = self
                .bigcommerce
                .products_modified_since(None, page)
                .await
                .map_err(|error| {
                    AppError::new(
                        Code::Upstream,
                        format!(
                            "listing products from BigCommerce failed ({error}); nothing was \
                             changed, try again"
                        ),
                    )
                })?;
            let more = listed.has_next();
            products.extend(listed.items);
            if !more {
                return Ok(products);
            }
            if page >= MAX_PAGES {
                return Err(AppError::new(
                    Code::Upstream,
                    format!("BigCommerce listed more than {MAX_PAGES} pages of products; nothing was changed"),
                ));
            }
            page += 1;
        }
    }

    async fn list_items(&self, catalog_id: &str) -> Result<Vec<BloomreachItem>, AppError> {
        let mut items = Vec::new();
        for page in 0..MAX_PAGES {
            let batch = self
                .bloomreach
                .catalog_items(catalog_id, page * BLOOMREACH_PAGE, BLOOMREACH_PAGE)
                .await
                .map_err(|error| {
                    AppError::new(
                        Code::Upstream,
                        format!(
                            "reading the Bloomreach catalog failed ({error}); nothing was \
                             changed, try again"
                        ),
                    )
                })?;
            let full = batch.len() >= BLOOMREACH_PAGE as usize;
            items.extend(batch);
            if !full {
                return Ok(items);
            }
        }
        Err(AppError::new(
            Code::Upstream,
            format!(
                "the Bloomreach catalog has more than {} items; nothing was changed",
                u64::from(MAX_PAGES) * u64::from(BLOOMREACH_PAGE)
            ),
        ))
    }
}

impl CatalogSource for ApplianceCatalogs {
    fn mapping(&self) -> Result<CatalogMapping, AppError> {
        self.settings
            .lock()
            .as_ref()
            .map(|s| s.catalog.clone())
            .ok_or_else(|| {
                AppError::new(
                    Code::NotRunning,
                    "BigCommerce has not answered the start-up checks yet, so variants cannot \
                     be mapped; see `bigreach status` and try again once it has",
                )
            })
    }

    fn products(&self) -> Result<Vec<Product>, AppError> {
        self.runtime.block_on(self.list_products())
    }

    fn bloomreach_items(&self) -> Result<Vec<BloomreachItem>, AppError> {
        let catalog_id = self.catalog_id.lock().clone().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "the Bloomreach catalog is not set up yet (Bloomreach has not answered the \
                 start-up checks); see `bigreach status` and try again once it has",
            )
        })?;
        self.runtime.block_on(self.list_items(&catalog_id))
    }
}

/// How long from `now_ms` until the next comparison: one `period` after the last one (or after
/// the period began, `last_ms`), at once when that is past.
pub fn until_next(now_ms: i64, last_ms: i64, period: Duration) -> Duration {
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    let due = last_ms.saturating_add(period_ms);
    Duration::from_millis(u64::try_from(due.saturating_sub(now_ms)).unwrap_or(0))
}

/// Runs the comparison with repair every `period` until shutdown: one period after the last
/// comparison, scheduled or asked for (its start is kept in the store, `catalog_drift_at`, so a
/// restart does not move the schedule either); on a fresh store the first period starts now. A
/// comparison that fails (a service down, not started yet) is logged and tried again after
/// [`RETRY_AFTER_FAILURE`] (or the period, if shorter).
pub async fn scheduled(
    app: AppApi,
    store: Store,
    period: Duration,
    clock: SharedClock,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failed_base: Option<i64> = None;
    loop {
        let now_ms = clock.now_ms();
        let stored = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || -> Result<i64, bigreach_core::store::StoreError> {
                match store.meta_i64(KEY_DRIFT_AT)? {
                    Some(at) => Ok(at),
                    None => {
                        store.write(|tx| tx.set_meta_i64(KEY_DRIFT_AT, now_ms))?;
                        Ok(now_ms)
                    }
                }
            })
            .await
        };
        let last_ms = match stored {
            Ok(Ok(at)) => at,
            Ok(Err(error)) => {
                tracing::warn!(%error, "the catalog comparison schedule could not be read; trying again later");
                retry_base(now_ms, period)
            }
            Err(error) => {
                tracing::error!(%error, "the catalog comparison schedule task failed");
                retry_base(now_ms, period)
            }
        };
        let base = failed_base.map_or(last_ms, |failed| failed.max(last_ms));
        let wait = until_next(now_ms, base, period);
        if !wait.is_zero() {
            // Looked at again after the wait: a comparison asked for meanwhile moves the next.
            tokio::select! {
                _ = clock.sleep(wait) => continue,
                _ = shutdown.changed() => return,
            }
        }
        let app = app.clone();
        let run = tokio::task::spawn_blocking(move || app.catalog_drift(true, ACTOR)).await;
        match run {
            Ok(Ok(report)) => {
                failed_base = None;
                let repair = report.repair.clone().unwrap_or_default();
                if report.drifted() == 0 {
                    tracing::info!(
                        items = report.bigcommerce_items,
                        pending_writes = report.counts.pending_writes,
                        "scheduled catalog comparison: Bloomreach holds what BigCommerce has"
                    );
                } else {
                    tracing::warn!(
                        missing = report.counts.missing,
                        extra = report.counts.extra,
                        differing = report.counts.differing,
                        repair_writes = repair.writes(),
                        skipped = repair.skipped.len(),
                        "scheduled catalog comparison: the Bloomreach catalog drifted; the \
                         repair is queued (see `bigreach catalog drift --last`)"
                    );
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(code = %error.code, %error, "scheduled catalog comparison failed; trying again later");
                failed_base = Some(retry_base(clock.now_ms(), period));
            }
            Err(error) => {
                tracing::error!(%error, "scheduled catalog comparison task failed");
                failed_base = Some(retry_base(clock.now_ms(), period));
            }
        }
    }
}

/// The `last_ms` that makes the next attempt come [`RETRY_AFTER_FAILURE`] (at most a period)
/// after `now_ms`.
fn retry_base(now_ms: i64, period: Duration) -> i64 {
    let retry = RETRY_AFTER_FAILURE.min(period);
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    let retry_ms = i64::try_from(retry.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_add(retry_ms).saturating_sub(period_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_comparison_is_one_period_after_the_last_and_a_failure_retries_within_the_hour() {
        let day = Duration::from_secs(86_400);
        assert_eq!(until_next(1_000, 1_000, day), day);
        assert_eq!(
            until_next(1_000 + 3_600_000, 1_000, day),
            day - Duration::from_secs(3_600)
        );
        // Overdue (the appliance was down at the time): at once.
        assert_eq!(until_next(200_000_000, 1_000, day), Duration::ZERO);
        let now = 500_000_000;
        assert_eq!(
            until_next(now, retry_base(now, day), day),
            RETRY_AFTER_FAILURE
        );
        let hour = Duration::from_secs(3_600);
        assert_eq!(until_next(now, retry_base(now, hour), hour), hour);
    }
}
