//! The planner: from the store's counts and its request quota, how many BigCommerce calls the
//! backfill makes, how long it takes at the share of the quota BigReach allows itself, and which
//! files it writes. Pure arithmetic; the runtime reads the counts and the quota.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::encoding::FileKind;
use super::PAGE_SIZE;

/// What BigCommerce holds (the counts the listing endpoints report).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct ResourceCounts {
    /// Orders in scope (created since `--since`, when given).
    pub orders: u64,
    /// Registered customers.
    pub customers: u64,
    /// Products (each listed with its variants).
    pub products: u64,
    /// Variants per product, from a sample page (each variant is one catalog row).
    pub variants_per_product: f64,
    /// Lines per order, from a sample page (each line is one `purchase_item` row).
    pub lines_per_order: f64,
}

/// The store's request quota as the client's pacing knows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct QuotaFigures {
    /// Requests per window (`X-Rate-Limit-Requests-Quota`).
    pub requests_per_window: u32,
    /// The window, seconds (`X-Rate-Limit-Time-Window-Ms` / 1000; 30 by default).
    pub window_secs: f64,
    /// The share of the quota left to the merchant's other apps (`[bigcommerce] reserve_share`).
    pub reserve_share: f64,
}

impl QuotaFigures {
    /// Requests per second BigReach allows itself.
    pub fn allowed_per_second(&self) -> f64 {
        let reserve = (f64::from(self.requests_per_window) * self.reserve_share).ceil();
        let allowed = (f64::from(self.requests_per_window) - reserve).max(1.0);
        allowed / self.window_secs.max(0.001)
    }
}

/// Everything the planner reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct PlanInput {
    /// The counts.
    pub counts: ResourceCounts,
    /// The quota.
    pub quota: QuotaFigures,
    /// Rows per file at most ([`super::MAX_ROWS_PER_FILE`] in production).
    pub max_rows_per_file: u64,
}

/// One file family of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PlannedFiles {
    /// Which file.
    pub kind: FileKind,
    /// Rows in all its files (estimated for lines and variants).
    pub rows: u64,
    /// Files (each at most `max_rows_per_file` rows).
    pub files: u64,
    /// Rows per file: every file but the last is full.
    pub rows_per_file: u64,
}

/// What the backfill will cost, before it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct BackfillPlan {
    /// The input it was computed from.
    pub input: PlanInput,
    /// BigCommerce calls: one per page of 250 orders (line items in the same call), customers
    /// and products.
    pub api_calls: u64,
    /// Of which order pages.
    pub order_calls: u64,
    /// Of which customer pages.
    pub customer_calls: u64,
    /// Of which product pages.
    pub product_calls: u64,
    /// Seconds of listing at the allowed request rate.
    pub seconds: f64,
    /// The files, in import order (catalog and customers before purchases).
    pub files: Vec<PlannedFiles>,
}

/// Pages of [`PAGE_SIZE`] for `rows` (a store with none still costs the one call that says so).
pub fn pages(rows: u64) -> u64 {
    rows.div_ceil(PAGE_SIZE).max(1)
}

/// Files for `rows` at `max_rows_per_file` (none for no rows).
pub fn files_for(rows: u64, max_rows_per_file: u64) -> u64 {
    rows.div_ceil(max_rows_per_file.max(1))
}

/// The plan.
pub fn plan(input: PlanInput) -> BackfillPlan {
    let counts = input.counts;
    let order_calls = pages(counts.orders);
    let customer_calls = pages(counts.customers);
    let product_calls = pages(counts.products);
    let api_calls = order_calls + customer_calls + product_calls;
    let seconds = api_calls as f64 / input.quota.allowed_per_second();
    let estimate = |base: u64, per: f64| (base as f64 * per.max(0.0)).round() as u64;
    let rows = [
        (
            FileKind::CatalogItems,
            estimate(counts.products, counts.variants_per_product),
        ),
        (FileKind::Customers, counts.customers),
        (FileKind::Purchases, counts.orders),
        (
            FileKind::PurchaseItems,
            estimate(counts.orders, counts.lines_per_order),
        ),
    ];
    let files = rows
        .into_iter()
        .map(|(kind, rows)| PlannedFiles {
            kind,
            rows,
            files: files_for(rows, input.max_rows_per_file),
            rows_per_file: rows.min(input.max_rows_per_file),
        })
        .collect();
    BackfillPlan {
        input,
        api_calls,
        order_calls,
        customer_calls,
        product_calls,
        seconds,
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(orders: u64, limit: u64) -> PlanInput {
        PlanInput {
            counts: ResourceCounts {
                orders,
                customers: 1_001,
                products: 250,
                variants_per_product: 3.0,
                lines_per_order: 2.5,
            },
            quota: QuotaFigures {
                requests_per_window: 150,
                window_secs: 30.0,
                reserve_share: 0.2,
            },
            max_rows_per_file: limit,
        }
    }

    #[test]
    fn calls_are_pages_of_250_for_each_resource() {
        let plan = plan(input(100_000, 1_000_000));
        assert_eq!(plan.order_calls, 400);
        assert_eq!(plan.customer_calls, 5);
        assert_eq!(plan.product_calls, 1);
        assert_eq!(plan.api_calls, 406);
        // 150 per 30 s less 30 reserved = 4 per second.
        assert!((plan.seconds - 406.0 / 4.0).abs() < 1e-9);
    }

    #[test]
    fn an_empty_store_still_costs_one_call_each_and_no_files() {
        let mut input = input(0, 1_000_000);
        input.counts.customers = 0;
        input.counts.products = 0;
        let plan = plan(input);
        assert_eq!(plan.api_calls, 3);
        assert!(plan.files.iter().all(|f| f.files == 0 && f.rows == 0));
    }

    #[test]
    fn files_split_at_the_row_limit() {
        let plan = plan(input(100_000, 40_000));
        let purchases = plan
            .files
            .iter()
            .find(|f| f.kind == FileKind::Purchases)
            .expect("purchases planned");
        assert_eq!((purchases.rows, purchases.files), (100_000, 3));
        assert_eq!(purchases.rows_per_file, 40_000);
        let items = plan
            .files
            .iter()
            .find(|f| f.kind == FileKind::PurchaseItems)
            .expect("items planned");
        assert_eq!((items.rows, items.files), (250_000, 7));
        assert_eq!(files_for(40_000, 40_000), 1);
        assert_eq!(files_for(40_001, 40_000), 2);
    }
}
