//! The history backfill's I/O (`core::backfill` decides): reading the planner's counts and the
//! quota, listing products, customers and orders in pages of 250 (orders with their line items
//! in the same call; the refunds made by the watermark read store-wide first, a few pages for
//! the whole history), and writing the import files.
//!
//! Each page is one step: its buyers are resolved with the live identity rules and its rows
//! mapped with the live mapper inside one store write transaction; the rows are appended to
//! their files and synced, then the transaction records the cursor and the files' new lengths.
//! A kill before the commit leaves rows past the recorded length, which the next run cuts off
//! before it lists that page again: nothing is listed twice that was committed, no row is
//! written twice.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bigreach_bigcommerce::{BigCommerceClient, BigCommerceError};
use bigreach_clock::SharedClock;
use bigreach_core::app::backfill::BackfillPlanner;
use bigreach_core::app::{AppError, Code};
use bigreach_core::backfill::files::FileSetState;
use bigreach_core::backfill::plan::{plan, BackfillPlan, PlanInput, QuotaFigures, ResourceCounts};
use bigreach_core::backfill::progress::{BackfillProgress, Phase, ResourceKind};
use bigreach_core::backfill::{order_owner, CsvSchema, FileKind, OrderOwner, PAGE_SIZE};
use bigreach_core::identity::{normalize_email, normalize_phone, rules};
use bigreach_core::ingest::IngestSettings;
use bigreach_core::map;
use bigreach_core::model::{Lane, NewCommand};
use bigreach_core::store::{Store, StoreError, StoreTxn};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

mod imports;
mod runner;
pub use imports::{file_url, ImportSettings};
pub use runner::{ApplianceBackfill, RunnerParts};

/// Why the backfill stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackfillError {
    /// BigCommerce failed (after the client's own retries).
    #[error("BigCommerce: {0}")]
    BigCommerce(#[from] BigCommerceError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A file could not be written or read.
    #[error("backfill file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A mapped command did not fit its file's columns.
    #[error("{0}")]
    Encode(#[from] bigreach_core::backfill::EncodeError),
    /// Bloomreach refused the credentials, could not be reached after retries, or answered
    /// from no route: the import stops where it is (run it again once fixed).
    #[error("Bloomreach: {0}")]
    Bloomreach(bigreach_bloomreach::BloomreachError),
    /// The import step ran before the files were written.
    #[error("the history files are not written yet; run the backfill to the end first")]
    NotWritten,
    /// The import file server could not listen.
    #[error("the import file server cannot listen ([history] files_listen): {source}")]
    Listen {
        /// The I/O error.
        source: std::io::Error,
    },
    /// A setting cannot be used.
    #[error("{field}: {problem}")]
    Setting {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackfillError + '_ {
    move |source| BackfillError::File {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the planner's input: the order count (`v2/orders/count`), one page of customers and
/// of products (v3 pagination meta: pages of 250; the last page's size is read from it when it
/// is the only one), one page of orders for lines per order, and the quota the client's pacing
/// learned from those responses.
pub async fn read_plan(
    client: &BigCommerceClient,
    since: Option<DateTime<Utc>>,
    reserve_share: f64,
    max_rows_per_file: u64,
) -> Result<BackfillPlan, BackfillError> {
    let orders = client.orders_count(since).await?;
    let sample = client.orders_created_since(since, 1).await?;
    let lines: usize = sample.iter().map(|o| o.line_items.len()).sum();
    let lines_per_order = if sample.is_empty() {
        0.0
    } else {
        lines as f64 / sample.len() as f64
    };
    let customers = client.customers_modified_since(None, 1).await?;
    let customer_count = estimate(customers.total_pages, customers.items.len());
    let products = client.products_modified_since(None, 1).await?;
    let product_count = estimate(products.total_pages, products.items.len());
    let variants: usize = products.items.iter().map(|p| p.variants.len().max(1)).sum();
    let variants_per_product = if products.items.is_empty() {
        0.0
    } else {
        variants as f64 / products.items.len() as f64
    };
    let quota = client.quota();
    // The client's pacing does not expose the window; BigCommerce's is 30 s on every plan.
    let window_secs = 30.0;
    Ok(plan(PlanInput {
        counts: ResourceCounts {
            orders,
            customers: customer_count,
            products: product_count,
            variants_per_product,
            lines_per_order,
        },
        quota: QuotaFigures {
            // A store that sent no quota headers (none do on the first call of some plans):
            // the Standard plan's 150 per 30 s.
            requests_per_window: quota.quota.unwrap_or(150),
            window_secs,
            reserve_share,
        },
        max_rows_per_file,
    }))
}

/// Resources behind a v3 listing of `total_pages` pages whose first page held `first` (exact
/// when there is one page, else an upper bound: full pages and a full last page).
fn estimate(total_pages: u32, first: usize) -> u64 {
    if total_pages <= 1 {
        first as u64
    } else {
        u64::from(total_pages) * PAGE_SIZE
    }
}

/// Everything a backfill run needs.
#[derive(Clone)]
pub struct BackfillJob {
    /// BigCommerce.
    pub client: BigCommerceClient,
    /// The store (progress, identity links).
    pub store: Store,
    /// Where the files go.
    pub dir: PathBuf,
    /// The live path's settings: identity names, mapping context, catalog mapping.
    pub settings: IngestSettings,
    /// Rows per file at most.
    pub row_limit: u64,
    /// The clock.
    pub clock: SharedClock,
}

/// The schema of each file for `settings`.
pub fn schemas(settings: &IngestSettings) -> BTreeMap<FileKind, CsvSchema> {
    let ids = vec![
        settings.ids.customer_id.clone(),
        settings.ids.email.clone(),
        settings.ids.phone.clone(),
    ];
    let attributes: Vec<String> = settings
        .mapping
        .attribute_names
        .values()
        .map(|name| format!("attr_{}", map::property_name(name)))
        .collect();
    BTreeMap::from([
        (
            FileKind::CatalogItems,
            CsvSchema::catalog(settings.catalog.fields()),
        ),
        (
            FileKind::Customers,
            CsvSchema::customers(&ids, &settings.mapping.profile, &attributes),
        ),
        (
            FileKind::Purchases,
            CsvSchema::events(FileKind::Purchases, &ids),
        ),
        (
            FileKind::PurchaseItems,
            CsvSchema::events(FileKind::PurchaseItems, &ids),
        ),
    ])
}

/// Refunds by order id.
type RefundsByOrder = BTreeMap<u64, Vec<bigreach_bigcommerce::Refund>>;

/// Rows of one page, per file.
type PageRows = BTreeMap<FileKind, Vec<Vec<String>>>;

impl BackfillJob {
    /// Starts (or resumes) the backfill and lists until every file is written. `totals` are
    /// the planner's figures (for done / total); `on_page` sees the progress after each page.
    pub async fn run(
        &self,
        since: Option<DateTime<Utc>>,
        totals: BTreeMap<ResourceKind, u64>,
        mut on_page: impl FnMut(&BackfillProgress),
    ) -> Result<BackfillProgress, BackfillError> {
        std::fs::create_dir_all(&self.dir).map_err(file_error(&self.dir))?;
        let mut progress = match self.store.backfill_progress()? {
            Some(progress) => {
                self.cut_back(&progress)?;
                progress
            }
            None => {
                let now = self.clock.now();
                // A watermark the live path already recorded (`[history] mode = "imports"`)
                // is adopted: ownership never moves once live ingest has judged by it.
                let watermark = self
                    .store
                    .history_watermark_ms()?
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or(now);
                let mut progress = BackfillProgress::new(watermark, since, now, self.row_limit);
                progress.totals = totals;
                self.store.write(|tx| tx.put_backfill_progress(&progress))?;
                progress
            }
        };
        let schemas = schemas(&self.settings);
        // The refunds the files carry: every refund made by the watermark, read store-wide
        // (a few pages for the whole history, not a request per page of orders); a later
        // refund is the live path's.
        let refunds =
            if progress.phase == Phase::Listing && !progress.cursors[&ResourceKind::Orders].done {
                self.refunds_until(progress.watermark).await?
            } else {
                RefundsByOrder::new()
            };
        for kind in ResourceKind::ALL {
            while !progress.cursors[&kind].done && progress.phase == Phase::Listing {
                let page = progress.cursors[&kind].next_page;
                let listed = self.list_page(kind, progress.since, page, &refunds).await?;
                progress = self.commit_page(progress, &schemas, kind, listed)?;
                on_page(&progress);
            }
        }
        if progress.phase == Phase::Listing {
            for files in progress.files.values_mut() {
                for file in &mut files.files {
                    if file.sha256.is_none() {
                        file.sha256 = Some(sha256_file(&self.dir.join(&file.name))?);
                    }
                }
            }
            progress.phase = Phase::Written;
            self.store.write(|tx| tx.put_backfill_progress(&progress))?;
            on_page(&progress);
        }
        Ok(progress)
    }

    /// Cuts every file back to its committed length and removes files no commit recorded.
    fn cut_back(&self, progress: &BackfillProgress) -> Result<(), BackfillError> {
        let entries = std::fs::read_dir(&self.dir).map_err(file_error(&self.dir))?;
        for entry in entries {
            let entry = entry.map_err(file_error(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(kind) = FileKind::ALL
                .into_iter()
                .find(|k| name.starts_with(&format!("{}-", k.stem())) && name.ends_with(".csv"))
            else {
                continue;
            };
            let path = entry.path();
            match progress.files[&kind].resume_length(&name) {
                Some(length) => {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(file_error(&path))?;
                    file.set_len(length).map_err(file_error(&path))?;
                    file.sync_all().map_err(file_error(&path))?;
                }
                None => std::fs::remove_file(&path).map_err(file_error(&path))?,
            }
        }
        Ok(())
    }

    /// Every refund created at or before `until`, by order, ascending refund id.
    async fn refunds_until(&self, until: DateTime<Utc>) -> Result<RefundsByOrder, BackfillError> {
        let mut by_order = RefundsByOrder::new();
        for page in 1u32.. {
            let (refunds, full) = self.client.refunds_created_until(until, page).await?;
            for refund in refunds {
                by_order.entry(refund.order_id).or_default().push(refund);
            }
            if !full {
                break;
            }
        }
        for refunds in by_order.values_mut() {
            refunds.sort_by_key(|r| r.id);
        }
        Ok(by_order)
    }

    async fn list_page(
        &self,
        kind: ResourceKind,
        since: Option<DateTime<Utc>>,
        page: u32,
        refunds: &RefundsByOrder,
    ) -> Result<Listed, BackfillError> {
        Ok(match kind {
            ResourceKind::Products => {
                let listed = self.client.products_modified_since(None, page).await?;
                let last = !listed.has_next();
                Listed::Products(listed.items, last)
            }
            ResourceKind::Customers => {
                let listed = self.client.customers_modified_since(None, page).await?;
                let last = !listed.has_next();
                Listed::Customers(listed.items, last)
            }
            ResourceKind::Orders => {
                let mut listed = self.client.orders_created_since(since, page).await?;
                let last = (listed.len() as u64) < PAGE_SIZE;
                for order in &mut listed {
                    if let Some(of_order) = refunds.get(&order.id) {
                        order.refunds = of_order.clone();
                    }
                }
                Listed::Orders(listed, last)
            }
        })
    }

    /// Maps a page (identity links and mapping in one transaction), appends its rows, syncs,
    /// and commits the cursor and file lengths with the identity links.
    fn commit_page(
        &self,
        mut progress: BackfillProgress,
        schemas: &BTreeMap<FileKind, CsvSchema>,
        kind: ResourceKind,
        listed: Listed,
    ) -> Result<BackfillProgress, BackfillError> {
        let settings = &self.settings;
        let watermark = progress.watermark;
        let dir = self.dir.clone();
        let outcome = self.store.write(|tx| {
            let mut rows = PageRows::new();
            let mut count = 0u64;
            let mut after_watermark = 0u64;
            let last = match &listed {
                Listed::Products(products, last) => {
                    for product in products {
                        count += 1;
                        for item in map::catalog_items(product, &settings.catalog) {
                            push(&mut rows, schemas, FileKind::CatalogItems, |s| {
                                s.catalog_row(&item)
                            })?;
                        }
                    }
                    *last
                }
                Listed::Customers(customers, last) => {
                    for customer in customers {
                        count += 1;
                        let command = customer_command(tx, settings, customer)?;
                        push(&mut rows, schemas, FileKind::Customers, |s| {
                            s.command_row(&command)
                        })?;
                    }
                    *last
                }
                Listed::Orders(orders, last) => {
                    for order in orders {
                        count += 1;
                        if order_owner(order.date_created, watermark) == OrderOwner::Live {
                            after_watermark += 1;
                            continue;
                        }
                        for command in order_commands(tx, settings, order)? {
                            let file = event_file(&command);
                            push(&mut rows, schemas, file, |s| s.command_row(&command))?;
                        }
                    }
                    *last
                }
            };
            for (file_kind, file_rows) in &rows {
                let state = progress
                    .files
                    .get_mut(file_kind)
                    .expect("every kind has a file set");
                append_rows(&dir, state, &schemas[file_kind], file_rows)
                    .map_err(StoreFileError)
                    .map_err(|e| e.into_store())?;
            }
            let cursor = progress
                .cursors
                .get_mut(&kind)
                .expect("every kind has a cursor");
            cursor.next_page += 1;
            cursor.listed += count;
            cursor.done = last;
            progress.orders_after_watermark += after_watermark;
            tx.put_backfill_progress(&progress)?;
            Ok(())
        });
        match outcome {
            Ok(()) => Ok(progress),
            Err(StoreError::Codec {
                what: "backfill file",
                message,
                ..
            }) => Err(BackfillError::File {
                path: self.dir.display().to_string(),
                source: std::io::Error::other(message),
            }),
            Err(error) => Err(error.into()),
        }
    }
}

/// A file or encoding error inside the page's transaction (it aborts the transaction, so
/// nothing is committed; it is carried out as a store codec error and turned back).
struct StoreFileError(String);

impl StoreFileError {
    fn into_store(self) -> StoreError {
        StoreError::Codec {
            what: "backfill file",
            operation: "written",
            message: self.0,
        }
    }
}

enum Listed {
    Products(Vec<bigreach_bigcommerce::Product>, bool),
    Customers(Vec<bigreach_bigcommerce::Customer>, bool),
    Orders(Vec<bigreach_bigcommerce::Order>, bool),
}

fn push(
    rows: &mut PageRows,
    schemas: &BTreeMap<FileKind, CsvSchema>,
    kind: FileKind,
    encode: impl FnOnce(&CsvSchema) -> Result<Vec<String>, bigreach_core::backfill::EncodeError>,
) -> Result<(), StoreError> {
    let row = encode(&schemas[&kind]).map_err(|e| StoreFileError(e.to_string()).into_store())?;
    rows.entry(kind).or_default().push(row);
    Ok(())
}

/// The file a mapped order command belongs to.
fn event_file(command: &NewCommand) -> FileKind {
    let event_type = serde_json::from_slice::<serde_json::Value>(&command.payload)
        .ok()
        .and_then(|v| v["event_type"].as_str().map(str::to_owned));
    if event_type.as_deref() == Some(map::PURCHASE_ITEM) {
        FileKind::PurchaseItems
    } else {
        FileKind::Purchases
    }
}

/// The live path's commands of a historical order: the buyer by the live identity rules, then
/// the live mapper (`purchase_commands`, in the backfill lane). Unpaid orders and buyers with no
/// usable ID map to nothing, as live.
fn order_commands(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    order: &bigreach_bigcommerce::Order,
) -> Result<Vec<NewCommand>, StoreError> {
    let email = normalize_email(&order.billing_address.email);
    let phone = normalize_phone(
        &order.billing_address.phone,
        Some(order.billing_address.country_iso2.as_str())
            .filter(|c| !c.is_empty())
            .or(settings.phone_region.as_deref()),
    );
    let Some(buyer) = rules::order_buyer(
        tx,
        &settings.ids,
        order.customer_id,
        email.as_deref(),
        phone.as_deref(),
    )?
    else {
        return Ok(Vec::new());
    };
    Ok(map::purchase_commands(
        order,
        &buyer.ids,
        &settings.mapping,
        Lane::Backfill,
    ))
}

fn customer_command(
    tx: &mut StoreTxn<'_>,
    settings: &IngestSettings,
    customer: &bigreach_bigcommerce::Customer,
) -> Result<NewCommand, StoreError> {
    let email = normalize_email(&customer.email);
    let phone = normalize_phone(&customer.phone, settings.phone_region.as_deref());
    let ids = rules::registered_customer(
        tx,
        &settings.ids,
        customer.id,
        email.as_deref(),
        phone.as_deref(),
    )?;
    Ok(map::customer_command(
        customer,
        &ids,
        phone.as_deref(),
        Lane::Backfill,
        &settings.mapping,
    ))
}

/// Appends `rows` to the files of `state` as its placement says (a header first in a new
/// file), syncs each file, and records the committed rows and lengths in `state`.
fn append_rows(
    dir: &Path,
    state: &mut FileSetState,
    schema: &CsvSchema,
    rows: &[Vec<String>],
) -> Result<(), String> {
    let mut offset = 0usize;
    for placement in state.place(rows.len() as u64) {
        let name = bigreach_core::backfill::files::file_name(state.kind, placement.index);
        let path = dir.join(&name);
        let mut writer = csv::Writer::from_writer(Vec::new());
        if placement.new_file {
            writer
                .write_record(schema.header())
                .map_err(|e| e.to_string())?;
        }
        let take = placement.rows as usize;
        for row in &rows[offset..offset + take] {
            writer.write_record(row).map_err(|e| e.to_string())?;
        }
        offset += take;
        let bytes = writer.into_inner().map_err(|e| e.to_string())?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let length = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        state.commit(placement.index, placement.rows, length);
    }
    Ok(())
}

/// SHA-256 (hex) of a file.
pub fn sha256_file(path: &Path) -> Result<String, BackfillError> {
    let mut file = File::open(path).map_err(file_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).map_err(file_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The start (00:00 UTC) of `since`, the day a backfill's orders are created on or after.
pub fn since_instant(since: Option<chrono::NaiveDate>) -> Option<DateTime<Utc>> {
    since
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// The running appliance's [`BackfillPlanner`]: [`read_plan`] through its BigCommerce client,
/// at its quota reserve and file row limit.
pub struct AppliancePlanner {
    client: Arc<BigCommerceClient>,
    reserve_share: f64,
    max_rows_per_file: u64,
    runtime: tokio::runtime::Handle,
}

impl AppliancePlanner {
    /// A planner on the current runtime.
    pub fn new(client: Arc<BigCommerceClient>, reserve_share: f64, max_rows_per_file: u64) -> Self {
        Self {
            client,
            reserve_share,
            max_rows_per_file,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl BackfillPlanner for AppliancePlanner {
    fn plan(&self, since: Option<chrono::NaiveDate>) -> Result<BackfillPlan, AppError> {
        self.runtime
            .block_on(read_plan(
                &self.client,
                since_instant(since),
                self.reserve_share,
                self.max_rows_per_file,
            ))
            .map_err(|error| {
                AppError::new(
                    Code::Upstream,
                    format!(
                        "reading BigCommerce's counts for the plan failed ({error}); nothing \
                         started, try again"
                    ),
                )
            })
    }
}
