//! The production BigCommerce client against the BigCommerce twin (integration).
//!
//! Everything runs on 127.0.0.1 with a `ManualClock` shared by the twin and the client: no test
//! touches the internet or sleeps to wait for timing. Waiting on a condition is done by yielding
//! to the runtime; a real-time deadline only guards against a hang.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bigreach_bigcommerce::{
    BigCommerceClient, BigCommerceError, ClientConfig, HookUpdate, NewHook, Order, RetryHint,
};
use bigreach_clock::{Clock, ManualClock};
use bigreach_twins::bigcommerce::{BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed};
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;

/// Guards the condition waits against a hang; never used to let time pass.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid start time")
}

/// A date before any seeded history.
fn long_ago() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

fn small_store() -> StoreSeed {
    StoreSeed {
        customers: 30,
        products: 10,
        historical_orders: 80,
        ..StoreSeed::default()
    }
}

/// A quota so large that functional tests never reach the pacing reserve.
fn roomy_plan() -> QuotaPlan {
    QuotaPlan::Enterprise {
        requests_per_window: 1_000_000,
    }
}

struct Harness {
    clock: Arc<ManualClock>,
    twin: BigCommerceTwin,
    client: BigCommerceClient,
}

impl Harness {
    async fn start(plan: QuotaPlan, seed: Option<&StoreSeed>) -> Self {
        let clock = ManualClock::new(start_time());
        let twin_config = BigCommerceTwinConfig {
            plan,
            ..BigCommerceTwinConfig::default()
        };
        let token = twin_config.access_token.clone();
        let twin = BigCommerceTwin::start(twin_config, clock.clone())
            .await
            .expect("twin starts");
        if let Some(seed) = seed {
            twin.seed_store(seed);
        }
        let client = client_for(&twin, &clock, &token, 0.2);
        Self {
            clock,
            twin,
            client,
        }
    }

    async fn stop(self) {
        self.twin.shutdown().await;
    }
}

fn client_for(
    twin: &BigCommerceTwin,
    clock: &Arc<ManualClock>,
    token: &str,
    reserve_share: f64,
) -> BigCommerceClient {
    let mut config = ClientConfig::new(twin.api_root(), SecretString::from(token.to_owned()));
    config.reserve_share = reserve_share;
    config.user_agent = "BigReach-it/1".to_owned();
    BigCommerceClient::new(config, clock.clone()).expect("client config is valid")
}

/// Every visible order, paging `orders_modified_since` until a short page.
async fn all_orders_since(client: &BigCommerceClient, since: DateTime<Utc>) -> Vec<Order> {
    let mut all = Vec::new();
    for page in 1u32.. {
        let orders = client
            .orders_modified_since(since, page)
            .await
            .unwrap_or_else(|error| panic!("orders page {page}: {error}"));
        let full = orders.len() >= bigreach_bigcommerce::PAGE_LIMIT as usize;
        all.extend(orders);
        if !full {
            break;
        }
        assert!(page < 100, "paging does not end");
    }
    all
}

/// Yields to the runtime until `condition` holds; panics after [`HANG_GUARD`] of real time.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::task::yield_now().await;
    }
}

/// Runs `future` with a real-time hang guard (the clock never moves by itself).
async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

fn check_order_against_truth(
    order: &Order,
    truth: &BTreeMap<u64, bigreach_twins::bigcommerce::OrderTruth>,
) {
    let id = order.id;
    let expected = truth
        .get(&id)
        .unwrap_or_else(|| panic!("order {id} is not in the twin's truth"));
    assert!(order.items_total > 0, "order {id} has no items");
    let quantities: u64 = order
        .line_items
        .iter()
        .map(|line| u64::from(line.quantity))
        .sum();
    assert_eq!(
        quantities,
        u64::from(order.items_total),
        "order {id}: line quantities must add up to items_total"
    );
    assert_eq!(
        order.line_items.len(),
        expected.line_count,
        "order {id}: number of lines"
    );
    assert!(
        order.line_items.iter().all(|line| line.order_id == id),
        "order {id}: every line belongs to it"
    );
    assert_eq!(
        order.total_inc_tax, expected.total_inc_tax,
        "order {id}: total_inc_tax"
    );
    assert_eq!(
        order.default_currency_code, expected.currency,
        "order {id}: transactional currency"
    );
    let line_sum: Decimal = order.line_items.iter().map(|line| line.total_inc_tax).sum();
    assert_eq!(
        line_sum, order.subtotal_inc_tax,
        "order {id}: lines add up to the subtotal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_page_with_complete_lines_and_truthful_money() {
    let h = Harness::start(roomy_plan(), Some(&small_store())).await;
    let truth = h.twin.truth();
    let by_id: BTreeMap<u64, _> = truth
        .orders
        .iter()
        .map(|order| (order.order_id, order.clone()))
        .collect();
    assert_eq!(truth.orders.len(), 80, "the seed creates 80 orders");

    let orders = all_orders_since(&h.client, long_ago()).await;
    assert!(!orders.is_empty());
    let listed: BTreeSet<u64> = orders.iter().map(|order| order.id).collect();
    assert_eq!(listed.len(), orders.len(), "no order listed twice");
    for order in &orders {
        check_order_against_truth(order, &by_id);
    }
    assert!(
        orders
            .windows(2)
            .all(|pair| pair[0].date_modified <= pair[1].date_modified),
        "oldest first"
    );
    // Every truth order is either listed, or an incomplete order (status 0) that the listing
    // hides unless asked for explicitly.
    let mut hidden = 0;
    for id in by_id.keys().filter(|id| !listed.contains(id)) {
        let order = h
            .client
            .order(*id)
            .await
            .expect("single order")
            .unwrap_or_else(|| panic!("order {id} exists in the truth but not via the API"));
        assert_eq!(
            order.status_id, 0,
            "order {id} is visible yet was not listed"
        );
        hidden += 1;
    }
    assert_eq!(listed.len() + hidden, by_id.len());

    // `since` filters: only orders modified at or after it.
    let mut dates: Vec<DateTime<Utc>> = orders.iter().map(|order| order.date_modified).collect();
    dates.sort();
    let since = dates[dates.len() / 2];
    let recent = all_orders_since(&h.client, since).await;
    let expected: BTreeSet<u64> = orders
        .iter()
        .filter(|order| order.date_modified >= since)
        .map(|order| order.id)
        .collect();
    let got: BTreeSet<u64> = recent.iter().map(|order| order.id).collect();
    assert_eq!(got, expected, "orders modified since {since}");
    assert_eq!(h.twin.truth().rate_limited_429, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_page_through_more_than_one_full_page() {
    let seed = StoreSeed {
        historical_orders: 300,
        ..small_store()
    };
    let h = Harness::start(roomy_plan(), Some(&seed)).await;
    let truth = h.twin.truth();
    let by_id: BTreeMap<u64, _> = truth
        .orders
        .iter()
        .map(|order| (order.order_id, order.clone()))
        .collect();
    let orders = all_orders_since(&h.client, long_ago()).await;
    assert!(
        orders.len() > bigreach_bigcommerce::PAGE_LIMIT as usize,
        "the seed must fill more than one page, got {}",
        orders.len()
    );
    let listed: BTreeSet<u64> = orders.iter().map(|order| order.id).collect();
    assert_eq!(listed.len(), orders.len(), "no order listed twice");
    for order in &orders {
        check_order_against_truth(order, &by_id);
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_order_matches_the_listing_and_unknown_is_none() {
    let h = Harness::start(roomy_plan(), Some(&small_store())).await;
    let orders = all_orders_since(&h.client, long_ago()).await;
    assert!(orders.len() >= 10);
    for listed in orders.iter().step_by(7) {
        let single = h
            .client
            .order(listed.id)
            .await
            .expect("single order")
            .expect("listed order exists");
        assert_eq!(&single, listed, "order {} via order(id)", listed.id);
    }
    let unknown = orders.iter().map(|order| order.id).max().unwrap_or(0) + 100_000;
    assert_eq!(
        h.client.order(unknown).await.expect("404 is not an error"),
        None
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_and_products_match_the_truth() {
    let h = Harness::start(roomy_plan(), Some(&small_store())).await;
    let truth = h.twin.truth();
    let registered: BTreeMap<u64, Option<String>> = truth
        .persons
        .iter()
        .filter_map(|person| person.customer_id.map(|id| (id, person.email.clone())))
        .collect();
    assert_eq!(registered.len(), 30, "the seed registers 30 customers");

    let mut listed = Vec::new();
    for page in 1u32.. {
        let current = h
            .client
            .customers_modified_since(None, page)
            .await
            .expect("customers page");
        let more = current.has_next();
        listed.extend(current.items);
        if !more {
            break;
        }
        assert!(page < 100, "paging does not end");
    }
    let listed_ids: BTreeSet<u64> = listed.iter().map(|customer| customer.id).collect();
    let expected_ids: BTreeSet<u64> = registered.keys().copied().collect();
    assert_eq!(listed_ids, expected_ids, "customers_modified_since(None)");
    assert_eq!(listed_ids.len(), listed.len(), "no customer listed twice");
    for customer in &listed {
        if let Some(Some(email)) = registered.get(&customer.id) {
            assert_eq!(
                customer.email.trim().to_lowercase(),
                *email,
                "customer {} email",
                customer.id
            );
        }
    }
    assert!(
        listed
            .windows(2)
            .all(|pair| pair[0].date_modified <= pair[1].date_modified),
        "oldest first"
    );

    // By ids, with an id that does not exist: it is simply absent.
    let mut ids: Vec<u64> = expected_ids.iter().copied().collect();
    ids.push(9_999_999);
    let by_ids = h.client.customers_by_ids(&ids).await.expect("by ids");
    let by_ids_set: BTreeSet<u64> = by_ids.iter().map(|customer| customer.id).collect();
    assert_eq!(by_ids_set, expected_ids, "customers_by_ids");
    for customer in &by_ids {
        let from_list = listed
            .iter()
            .find(|listed| listed.id == customer.id)
            .expect("listed");
        assert_eq!(
            customer, from_list,
            "customer {} by id vs list",
            customer.id
        );
    }

    let mut products = Vec::new();
    for page in 1u32.. {
        let current = h
            .client
            .products_modified_since(None, page)
            .await
            .expect("products page");
        let more = current.has_next();
        products.extend(current.items);
        if !more {
            break;
        }
        assert!(page < 100, "paging does not end");
    }
    assert_eq!(products.len(), truth.products, "product count");
    let mut variant_ids: Vec<u64> = products
        .iter()
        .flat_map(|product| product.variants.iter().map(|variant| variant.id))
        .collect();
    variant_ids.sort_unstable();
    let mut expected_variants = truth.variant_ids.clone();
    expected_variants.sort_unstable();
    assert_eq!(variant_ids, expected_variants, "variants of all products");
    for product in &products {
        assert!(
            !product.variants.is_empty(),
            "product {} has a variant",
            product.id
        );
        assert!(
            product
                .variants
                .iter()
                .all(|variant| variant.product_id == product.id),
            "variants of product {} point back to it",
            product.id
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn currencies_and_store_information_parse() {
    let h = Harness::start(roomy_plan(), Some(&small_store())).await;
    let store = h
        .client
        .store_information()
        .await
        .expect("store information");
    assert_eq!(store.id, "abc123");
    assert_eq!(store.currency, "USD");
    assert!(store.store_id.is_some(), "numeric store id present");
    assert_eq!(store.default_channel_id, 1);

    let currencies = h.client.currencies().await.expect("currencies");
    let codes: BTreeSet<&str> = currencies
        .iter()
        .map(|currency| currency.currency_code.as_str())
        .collect();
    assert_eq!(codes, BTreeSet::from(["EUR", "GBP", "USD"]));
    let defaults: Vec<&str> = currencies
        .iter()
        .filter(|currency| currency.is_default)
        .map(|currency| currency.currency_code.as_str())
        .collect();
    assert_eq!(
        defaults,
        vec![store.currency.as_str()],
        "exactly the store default"
    );
    let default = currencies
        .iter()
        .find(|currency| currency.is_default)
        .expect("a default");
    assert_eq!(default.currency_exchange_rate, Decimal::ONE);
    assert!(currencies
        .iter()
        .all(|currency| currency.currency_exchange_rate > Decimal::ZERO));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_pacing_waits_for_the_window_reset_instead_of_hitting_429() {
    let h = Harness::start(QuotaPlan::Standard, None).await;
    assert_eq!(QuotaPlan::Standard.requests_per_window(), 150);
    let clock = h.clock.clone();
    let baseline_sleepers = clock.sleepers();
    // Standard: 150 per 30 s; reserve 0.2 leaves 30 to other apps, so 120 go in this window.
    const ALLOWED: usize = 120;
    const TOTAL: usize = 125;
    let done = Arc::new(AtomicUsize::new(0));
    let worker = {
        let client = h.client.clone();
        let done = done.clone();
        tokio::spawn(async move {
            for _ in 0..TOTAL {
                client.currencies().await.expect("currencies");
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    wait_until(
        "120 requests completed and the client sleeps on the clock",
        || {
            let completed = done.load(Ordering::SeqCst);
            assert!(
                completed <= ALLOWED,
                "{completed} requests went out in one window; the reserve allows {ALLOWED}"
            );
            completed == ALLOWED && clock.sleepers() > baseline_sleepers
        },
    )
    .await;
    // The client is parked on the clock: nothing more goes out while time stands still.
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    assert!(
        !worker.is_finished(),
        "the client must wait for the window reset"
    );
    assert_eq!(done.load(Ordering::SeqCst), ALLOWED);
    let truth = h.twin.truth();
    assert_eq!(truth.requests_served, ALLOWED as u64);
    assert_eq!(truth.rate_limited_429, 0);
    let snapshot = h.client.quota();
    assert_eq!(snapshot.quota, Some(150));
    assert_eq!(snapshot.requests_left, Some(30));
    assert_eq!(
        snapshot.reset_at,
        Some(start_time() + chrono::Duration::seconds(30))
    );
    assert_eq!(
        clock.now(),
        start_time(),
        "the test never moved the clock so far"
    );

    // Just before the reset: still waiting.
    clock.advance(Duration::from_millis(29_999));
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    assert_eq!(done.load(Ordering::SeqCst), ALLOWED);
    assert_eq!(h.twin.truth().requests_served, ALLOWED as u64);

    // Past the reset: the rest go.
    clock.advance(Duration::from_millis(2));
    guarded("the remaining requests", worker)
        .await
        .expect("worker task");
    assert_eq!(done.load(Ordering::SeqCst), TOTAL);
    let truth = h.twin.truth();
    assert_eq!(truth.requests_served, TOTAL as u64);
    assert_eq!(
        truth.rate_limited_429, 0,
        "the client paces instead of hitting 429"
    );
    let snapshot = h.client.quota();
    assert_eq!(snapshot.rate_limited, 0);
    assert_eq!(snapshot.requests_sent, TOTAL as u64);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_round_trip_and_duplicates_are_refused() {
    let h = Harness::start(roomy_plan(), None).await;
    assert!(h.client.hooks().await.expect("no hooks yet").is_empty());
    // Loopback destination: nothing ever leaves the machine (and no event fires here anyway).
    let new_hook = NewHook {
        scope: "store/order/created".to_owned(),
        destination: "https://127.0.0.1/bigreach/webhooks/bigcommerce".to_owned(),
        is_active: true,
        headers: Some(BTreeMap::from([(
            "X-BigReach-Secret".to_owned(),
            "s3cret".to_owned(),
        )])),
    };
    let created = h.client.create_hook(&new_hook).await.expect("create hook");
    assert!(created.id > 0);
    assert_eq!(created.scope, new_hook.scope);
    assert_eq!(created.destination, new_hook.destination);
    assert!(created.is_active);
    assert_eq!(created.headers, new_hook.headers);
    assert_eq!(created.created_at, start_time().timestamp());

    let listed = h.client.hooks().await.expect("hooks");
    assert_eq!(listed, vec![created.clone()]);

    h.clock.advance(Duration::from_secs(5));
    let off = h
        .client
        .update_hook(
            created.id,
            &HookUpdate {
                is_active: Some(false),
                ..HookUpdate::default()
            },
        )
        .await
        .expect("deactivate");
    assert!(!off.is_active);
    assert_eq!(off.id, created.id);
    assert_eq!(off.destination, created.destination);
    assert_eq!(off.updated_at, start_time().timestamp() + 5);
    let listed = h.client.hooks().await.expect("hooks");
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].is_active, "listing shows the hook inactive");

    let on = h
        .client
        .update_hook(
            created.id,
            &HookUpdate {
                is_active: Some(true),
                ..HookUpdate::default()
            },
        )
        .await
        .expect("reactivate");
    assert!(on.is_active);
    let listed = h.client.hooks().await.expect("hooks");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_active, "listing shows the hook active again");
    assert_eq!(listed[0].headers, new_hook.headers, "headers kept");

    let duplicate = h.client.create_hook(&new_hook).await;
    match duplicate {
        Err(BigCommerceError::Http { status, .. }) => assert_eq!(status, 422),
        other => panic!("a duplicate hook must be refused, got {other:?}"),
    }
    assert_eq!(h.client.hooks().await.expect("hooks").len(), 1);

    // Updating an unknown hook is an error too.
    let missing = h
        .client
        .update_hook(
            created.id + 1_000,
            &HookUpdate {
                is_active: Some(true),
                ..HookUpdate::default()
            },
        )
        .await;
    assert!(
        matches!(missing, Err(BigCommerceError::NotFound { .. })),
        "{missing:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_unauthorized_without_retries() {
    let h = Harness::start(roomy_plan(), Some(&small_store())).await;
    let client = client_for(&h.twin, &h.clock, "not-the-token", 0.2);
    let error = client
        .store_information()
        .await
        .expect_err("a wrong token must fail");
    assert!(
        matches!(error, BigCommerceError::Unauthorized { .. }),
        "{error:?}"
    );
    assert_eq!(error.retry_hint(), RetryHint::Operator);
    assert_eq!(error.code(), "bigcommerce.unauthorized");
    let error = client
        .orders_modified_since(long_ago(), 1)
        .await
        .expect_err("a wrong token must fail");
    assert!(
        matches!(error, BigCommerceError::Unauthorized { .. }),
        "{error:?}"
    );
    assert_eq!(h.twin.truth().requests_served, 2, "a 401 is not retried");
    // The right token still works on the same twin.
    h.client
        .store_information()
        .await
        .expect("right token works");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_groups_and_attribute_names_resolve_customers_ids() {
    let h = Harness::start(roomy_plan(), Some(&small_store())).await;
    let groups = h.client.customer_groups().await.expect("customer groups");
    let names: BTreeSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["Retail", "Wholesale"]));
    let attributes = h
        .client
        .customer_attribute_definitions()
        .await
        .expect("attribute definitions");
    assert_eq!(attributes.len(), 1);
    assert_eq!(attributes[0].name, "Loyalty tier");
    // Every customer's group and attribute refer to these definitions.
    let page = h
        .client
        .customers_modified_since(None, 1)
        .await
        .expect("customers");
    assert!(!page.items.is_empty());
    for customer in &page.items {
        assert!(
            customer.customer_group_id == 0
                || groups.iter().any(|g| g.id == customer.customer_group_id),
            "{customer:?}"
        );
        assert!(customer
            .attributes
            .iter()
            .all(|a| attributes.iter().any(|d| d.id == a.attribute_id)));
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_per_order_and_batched_match_the_truth_to_the_cent() {
    let h = Harness::start(roomy_plan(), Some(&small_store())).await;
    let truth = h.twin.truth();
    let mut by_order: BTreeMap<u64, Vec<(u64, Decimal)>> = BTreeMap::new();
    for r in &truth.refunds {
        by_order
            .entry(r.order_id)
            .or_default()
            .push((r.refund_id, r.total_amount));
    }
    assert!(
        by_order.len() >= 2,
        "the seeded history has refunded orders: {by_order:?}"
    );
    for (order_id, expected) in &by_order {
        let refunds = h.client.order_refunds(*order_id).await.expect("refunds");
        let got: Vec<(u64, Decimal)> = refunds.iter().map(|r| (r.id, r.total_amount)).collect();
        assert_eq!(&got, expected, "order {order_id}");
        assert!(refunds.iter().all(|r| r.order_id == *order_id));
    }
    let ids: Vec<u64> = by_order.keys().copied().collect();
    let batched = h.client.refunds_of_orders(&ids).await.expect("batched");
    let mut got: Vec<(u64, u64, Decimal)> = batched
        .iter()
        .map(|r| (r.order_id, r.id, r.total_amount))
        .collect();
    got.sort();
    let mut expected: Vec<(u64, u64, Decimal)> = truth
        .refunds
        .iter()
        .map(|r| (r.order_id, r.refund_id, r.total_amount))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
    // An order without refunds, and one that does not exist: none, not an error.
    let unrefunded = truth
        .orders
        .iter()
        .find(|o| !by_order.contains_key(&o.order_id))
        .expect("an order without refunds")
        .order_id;
    assert!(h.client.order_refunds(unrefunded).await.unwrap().is_empty());
    assert!(h.client.order_refunds(9_999_999).await.unwrap().is_empty());
    h.stop().await;
}
