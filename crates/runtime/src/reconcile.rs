//! Reconciliation in the running appliance: BigCommerce's side of it ([`BigCommerceOrders`],
//! the application API's [`OrderSource`]) and the daily run ([`daily`]), which reconciles the
//! last complete days at the configured time of day in the store's time zone and writes the
//! finance CSV to `<data_dir>/reconciliation/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{BigCommerceClient, BigCommerceError, Order, PAGE_LIMIT};
use bigreach_clock::SharedClock;
use bigreach_core::app::{AppApi, AppError, Code, OrderSource, ReconcileRequest};
use bigreach_core::config::ReconcileSettings;
use bigreach_core::ingest::IngestSettings;
use bigreach_core::reconcile::{self, BigCommerceSide, Reconciliation, SourceRefund};
use bigreach_core::store::Store;
use chrono::{DateTime, NaiveDate, Utc};
use parking_lot::Mutex;
use tokio::sync::watch;

/// Statuses whose orders are listed again when modified in the range, whenever they were
/// created: refunds and cancellations count on the day they happen (reference §3.3).
const LATE_STATUSES: [u32; 4] = [4, 14, 5, 6];

/// The most pages one listing reads (250 orders each) before it gives up with a clear error.
const MAX_PAGES: u32 = 2_000;

/// BigCommerce's side of a reconciliation, over the appliance's client.
pub struct BigCommerceOrders {
    bigcommerce: Arc<BigCommerceClient>,
    settings: Arc<Mutex<Option<IngestSettings>>>,
    runtime: tokio::runtime::Handle,
}

impl BigCommerceOrders {
    /// A source over `bigcommerce`; `settings` is filled in once BigCommerce has answered the
    /// start-up checks. Must be created inside the Tokio runtime.
    pub fn new(
        bigcommerce: Arc<BigCommerceClient>,
        settings: Arc<Mutex<Option<IngestSettings>>>,
    ) -> Self {
        Self {
            bigcommerce,
            settings,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    async fn list_all(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<BigCommerceSide, BigCommerceError> {
        let mut orders: BTreeMap<u64, Order> = BTreeMap::new();
        // One listing per filter: created in the range, then each late status since it began.
        for status in std::iter::once(None).chain(LATE_STATUSES.map(Some)) {
            let mut page = 1;
            loop {
                let batch = match status {
                    None => {
                        self.bigcommerce
                            .orders_created_between(start, end, page)
                            .await?
                    }
                    Some(status) => {
                        self.bigcommerce
                            .orders_in_status_modified_since(status, start, page)
                            .await?
                    }
                };
                let full = batch.len() >= PAGE_LIMIT as usize;
                orders.extend(batch.into_iter().map(|o| (o.id, o)));
                if !full || page >= MAX_PAGES {
                    break;
                }
                page += 1;
            }
        }
        // Refunds of the orders that show one (status or `payment_status`), 50 orders a request;
        // attached to their orders too, so that a repair sends them.
        let mapping = self
            .settings
            .lock()
            .as_ref()
            .map(|s| s.mapping.orders.clone())
            .unwrap_or_default();
        let refunded: Vec<u64> = orders
            .values()
            .filter(|o| crate::enrich::needs_refunds(o, &mapping))
            .map(|o| o.id)
            .collect();
        let mut refunds = Vec::new();
        if !refunded.is_empty() {
            for refund in self.bigcommerce.refunds_of_orders(&refunded).await? {
                refunds.push(SourceRefund {
                    id: refund.id,
                    order_id: refund.order_id,
                    created: refund.created,
                    amount: refund.total_amount,
                });
                if let Some(order) = orders.get_mut(&refund.order_id) {
                    if !order.refunds.iter().any(|r| r.id == refund.id) {
                        order.refunds.push(refund);
                    }
                }
            }
        }
        Ok(BigCommerceSide {
            orders: orders.into_values().collect(),
            refunds,
        })
    }
}

fn upstream(error: BigCommerceError) -> AppError {
    AppError::new(
        Code::Upstream,
        format!("listing orders from BigCommerce failed ({error}); nothing was changed, try again"),
    )
}

impl OrderSource for BigCommerceOrders {
    fn time_zone(&self) -> Result<String, AppError> {
        let information = self
            .runtime
            .block_on(self.bigcommerce.store_information())
            .map_err(upstream)?;
        Ok(information.timezone.map(|t| t.name).unwrap_or_default())
    }

    fn settings(&self) -> Result<IngestSettings, AppError> {
        self.settings.lock().clone().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "BigCommerce has not answered the start-up checks yet, so orders cannot be \
                 judged; see `bigreach status` and try again once it has",
            )
        })
    }

    fn list(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<BigCommerceSide, AppError> {
        self.runtime
            .block_on(self.list_all(start, end))
            .map_err(upstream)
    }
}

/// The days a daily run at `now` covers: the `days` complete days before today (store zone).
pub fn daily_range(now: DateTime<Utc>, zone: chrono_tz::Tz, days: u32) -> (NaiveDate, NaiveDate) {
    let today = now.with_timezone(&zone).date_naive();
    let to = today.pred_opt().unwrap_or(today);
    let from = to - chrono::Duration::days(i64::from(days.max(1)) - 1);
    (from, to)
}

/// How long from `now` until the next `at` in `zone` (never zero: a run just made waits a day).
pub fn until_next(now: DateTime<Utc>, zone: chrono_tz::Tz, at: chrono::NaiveTime) -> Duration {
    use chrono::TimeZone as _;
    let mut day = now.with_timezone(&zone).date_naive();
    for _ in 0..3 {
        let local = day.and_time(at);
        // A time the clocks skip that night (spring forward) runs an hour later.
        let candidate = zone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                zone.from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc));
        if let Some(candidate) = candidate.filter(|c| *c > now) {
            return (candidate - now)
                .to_std()
                .unwrap_or(Duration::from_secs(60));
        }
        day = day.succ_opt().unwrap_or(day);
    }
    Duration::from_secs(24 * 3600)
}

/// The CSV files of a reconciliation in `dir`: `<from>_<to>.csv` and `<from>_<to>-findings.csv`,
/// with `-2`, `-3`… after the range when files of that name exist (an earlier run is never
/// overwritten).
fn csv_paths(dir: &Path, out: &Reconciliation) -> (PathBuf, PathBuf) {
    let range = format!("{}_{}", out.range.from, out.range.to);
    let mut stem = range.clone();
    let mut n = 2;
    while dir.join(format!("{stem}.csv")).exists()
        || dir.join(format!("{stem}-findings.csv")).exists()
    {
        stem = format!("{range}-{n}");
        n += 1;
    }
    (
        dir.join(format!("{stem}.csv")),
        dir.join(format!("{stem}-findings.csv")),
    )
}

/// Writes the finance CSV and the findings CSV of `out` privately into `dir`; returns the
/// summary's path.
pub fn write_csv(dir: &Path, out: &Reconciliation) -> std::io::Result<PathBuf> {
    crate::private::create_dir(dir)?;
    let summary = reconcile::to_csv(out).map_err(std::io::Error::other)?;
    let findings = reconcile::findings_csv(out).map_err(std::io::Error::other)?;
    let (summary_path, findings_path) = csv_paths(dir, out);
    crate::private::write_new_file(&summary_path, &summary)?;
    crate::private::write_new_file(&findings_path, &findings)?;
    Ok(summary_path)
}

/// Runs the daily reconciliation until shutdown: at `settings.at` each day (store time zone),
/// the last `settings.days` complete days, with a CSV in `dir` and a log line; a run that fails
/// (BigCommerce down) is logged and tried again the next day. Each run also appends the
/// day's `delivery.daily_summary` to the audit log.
pub async fn daily(
    app: AppApi,
    store: Store,
    source: Arc<BigCommerceOrders>,
    settings: ReconcileSettings,
    dir: PathBuf,
    clock: SharedClock,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(at) = settings.time_of_day() else {
        return;
    };
    loop {
        let zone = match tokio::task::spawn_blocking({
            let source = source.clone();
            move || source.time_zone()
        })
        .await
        {
            Ok(Ok(name)) => reconcile::store_zone(&name),
            _ => chrono_tz::Tz::UTC,
        };
        let wait = until_next(clock.now(), zone, at);
        tokio::select! {
            _ = clock.sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        let (from, to) = daily_range(clock.now(), zone, settings.days);
        let request = ReconcileRequest {
            from,
            to,
            repair: settings.repair,
        };
        let app = app.clone();
        let run = tokio::task::spawn_blocking(move || app.reconcile(request, "system (daily)"));
        match run.await {
            Ok(Ok(out)) => {
                let written = write_csv(&dir, &out);
                let missing = out
                    .findings
                    .iter()
                    .filter(|f| f.class == reconcile::Class::Missing)
                    .count();
                let csv = match &written {
                    Ok(path) => path.display().to_string(),
                    Err(error) => format!("not written: {error}"),
                };
                if out.balanced {
                    tracing::info!(%from, %to, %csv, "daily reconciliation: balanced");
                } else {
                    tracing::warn!(
                        %from,
                        %to,
                        findings = out.findings.len(),
                        missing,
                        repaired = out.repair.is_some(),
                        %csv,
                        "daily reconciliation: BigCommerce and Bloomreach differ; \
                         see `bigreach reconcile --from {from} --to {to}`"
                    );
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(code = %error.code, %error, "daily reconciliation failed; next try tomorrow");
            }
            Err(error) => {
                tracing::error!(%error, "daily reconciliation task failed");
            }
        }
        // The day's delivery summary goes into the audit log, whatever the reconciliation did.
        if let Err(error) = bigreach_core::audit::coverage::record_delivery_summary(
            &store,
            clock.now_ms(),
            "system (daily)",
        ) {
            tracing::warn!(%error, "the daily delivery summary could not be recorded in the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn each_run_writes_private_csv_files_and_never_overwrites_an_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = reconcile::compare(
            reconcile::DayRange::new("2026-03-01".parse().unwrap(), "2026-03-03".parse().unwrap())
                .unwrap(),
            chrono_tz::Tz::UTC,
            &Default::default(),
            &reconcile::StatusNames::of(&Default::default()),
            &BigCommerceSide::default(),
            &[],
            at("2026-03-04T04:00:00Z"),
        );
        let csv_dir = dir.path().join("reconciliation");
        let first = write_csv(&csv_dir, &out).unwrap();
        let second = write_csv(&csv_dir, &out).unwrap();
        assert_eq!(first.file_name().unwrap(), "2026-03-01_2026-03-03.csv");
        assert_eq!(second.file_name().unwrap(), "2026-03-01_2026-03-03-2.csv");
        assert!(csv_dir
            .join("2026-03-01_2026-03-03-2-findings.csv")
            .exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&csv_dir), 0o700);
            assert_eq!(mode(&first), 0o600);
        }
        let text = std::fs::read_to_string(&first).unwrap();
        assert!(text.starts_with("day,time_zone,currency,"), "{text}");
    }

    #[test]
    fn the_daily_run_covers_the_complete_days_before_today_in_the_store_zone() {
        let chicago = reconcile::store_zone("America/Chicago");
        // 03:00 UTC on 5 March is still 4 March in Chicago.
        let (from, to) = daily_range(at("2026-03-05T03:00:00Z"), chicago, 3);
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-03-01".into(), "2026-03-03".into())
        );
        let (from, to) = daily_range(at("2026-03-05T03:00:00Z"), chrono_tz::Tz::UTC, 1);
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-03-04".into(), "2026-03-04".into())
        );
    }

    #[test]
    fn the_next_run_is_at_the_time_of_day_in_the_store_zone() {
        let chicago = reconcile::store_zone("America/Chicago");
        let four = chrono::NaiveTime::from_hms_opt(4, 0, 0).unwrap();
        // 09:00 UTC = 03:00 in Chicago (UTC−6): one hour to go.
        assert_eq!(
            until_next(at("2026-03-02T09:00:00Z"), chicago, four),
            Duration::from_secs(3600)
        );
        // Just after the run: the next is tomorrow.
        assert_eq!(
            until_next(at("2026-03-02T10:00:00Z"), chicago, four),
            Duration::from_secs(24 * 3600)
        );
        // Across the spring-forward night the day is 23 hours long.
        assert_eq!(
            until_next(at("2026-03-07T10:00:00Z"), chicago, four),
            Duration::from_secs(23 * 3600)
        );
    }
}
