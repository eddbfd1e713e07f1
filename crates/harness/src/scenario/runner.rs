//! Plays a scenario: shoppers' scripted actions, crowds and the fault schedule run on one
//! accelerated clock shared by both twins and the appliance; then the ground-truth verdict plus
//! the scenario's own expectations.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bigreach_clock::{ScaledClock, SharedClock};
use bigreach_core::config::Config;
use bigreach_runtime::Appliance;
use bigreach_twins::bigcommerce::{
    CheckoutExtras, CheckoutSpec, OrderEdit, ShopperSpec, TradingBurst,
};
use bigreach_twins::control::{FaultSwitch, BIGCOMMERCE_FAULTS};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;

use super::{
    Action, CatalogEdit, Expectations, Fault, RefundSpec, Scenario, ScenarioError, ScenarioReport,
};
use crate::twins::{credentials, Twins};
use crate::verdict::evaluate_in;

fn minutes(m: f64) -> Duration {
    Duration::from_secs_f64((m * 60.0).max(0.0))
}

async fn sleep_until(clock: &SharedClock, at: DateTime<Utc>) {
    let now = clock.now();
    if at > now {
        clock.sleep((at - now).to_std().unwrap_or_default()).await;
    }
}

/// Options for a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replace the Bloomreach base URL the appliance uses (tests put a faulty proxy there).
    pub bloomreach_url: Option<url::Url>,
    /// How the appliance chooses customer IDs (`email-as-id` is the comparison baseline).
    pub identity: bigreach_core::config::IdentityPolicy,
}

/// Runs a scenario and reports what it found.
pub async fn run(
    scenario: &Scenario,
    data_dir: &Path,
    options: &RunOptions,
) -> Result<ScenarioReport, ScenarioError> {
    let scaled = ScaledClock::new(Utc::now(), scenario.speed);
    let clock: SharedClock = scaled.clone();
    let plan = scenario.plan();
    let twins = Twins::start(&plan, clock.clone()).await?;
    let result = run_with(scenario, &twins, data_dir, options, clock).await;
    twins.shutdown().await;
    result
}

/// Runs a scenario with the appliance talking to Bloomreach through a proxy that `make_proxy`
/// starts in front of the Bloomreach twin (tests use it to break the network on purpose).
pub async fn run_with_bloomreach_proxy<F, Fut>(
    scenario: &Scenario,
    data_dir: &Path,
    make_proxy: F,
) -> Result<ScenarioReport, ScenarioError>
where
    F: FnOnce(url::Url) -> Fut,
    Fut: std::future::Future<Output = url::Url>,
{
    let clock: SharedClock = ScaledClock::new(Utc::now(), scenario.speed);
    let plan = scenario.plan();
    let twins = Twins::start(&plan, clock.clone()).await?;
    let options = RunOptions {
        bloomreach_url: Some(make_proxy(twins.bloomreach.base_url()).await),
        ..RunOptions::default()
    };
    let result = run_with(scenario, &twins, data_dir, &options, clock).await;
    twins.shutdown().await;
    result
}

async fn run_with(
    scenario: &Scenario,
    twins: &Twins,
    data_dir: &Path,
    options: &RunOptions,
    clock: SharedClock,
) -> Result<ScenarioReport, ScenarioError> {
    let started = Instant::now();
    let limit = Duration::from_secs(scenario.limit_secs);
    let secrets = Twins::secrets();
    let (mut config, listeners): (Config, _) = twins.appliance_config(data_dir)?;
    config.bigcommerce.poll_interval_secs = scenario.poll_interval_secs;
    if let Some(url) = &options.bloomreach_url {
        config.bloomreach.base_url = url.clone();
    }
    config.bloomreach.identity = options.identity;
    config.bloomreach.reference_currency = scenario.bloomreach.reference_currency.clone();
    if scenario.catalog_triggers {
        config.mapping.catalog.triggers = Some(true);
    }
    if scenario.debounce_secs.is_some() {
        config.mapping.catalog.debounce_secs = scenario.debounce_secs;
    }
    if scenario.drift_compare_secs.is_some() {
        config.mapping.catalog.drift_compare_secs = scenario.drift_compare_secs;
    }
    let persons: Vec<u64> = scenario
        .shoppers
        .iter()
        .map(|s| {
            twins.bigcommerce.add_person(&ShopperSpec {
                email: s.email.clone(),
                phone: s.phone.clone(),
                first_name: s.name.clone(),
                last_name: "Scenario".into(),
                country_iso2: s.country.clone(),
            })
        })
        .collect();
    match &scenario.cutover {
        Some(cutover) => config.cutover = cutover.clone(),
        None if !scenario.stages.is_empty() => {
            config.cutover.start_stage = bigreach_core::cutover::Stage::Connect;
        }
        None => {}
    }
    if !scenario.stages.is_empty() {
        crate::rehearsal::good_storefront(twins);
    }
    if let Some(trouble) = &scenario.preflight_trouble {
        if trouble.csp_blocks_sdk {
            crate::rehearsal::storefront_blocking_the_sdk(twins);
        }
    }
    let appliance = Appliance::start_with(&config, &secrets, clock.clone(), listeners).await?;
    // The time limit covers the start too: an appliance that never finishes its first poll
    // pass fails the run instead of hanging it.
    let first_pass = limit.saturating_sub(started.elapsed());
    if tokio::time::timeout(first_pass, appliance.wait_poll_passes(1))
        .await
        .is_err()
    {
        appliance.shutdown().await;
        return Err(ScenarioError::FirstPollPass {
            limit_secs: scenario.limit_secs,
        });
    }
    let t0 = clock.now();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (shopper, person) in scenario.shoppers.iter().cloned().zip(persons) {
        let (bc, clock, errors) = (twins.bigcommerce.clone(), clock.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut state = ShopperState::default();
            for action in &shopper.actions {
                let at =
                    t0 + chrono::Duration::from_std(minutes(action.at_min)).unwrap_or_default();
                sleep_until(&clock, at).await;
                if let Err(e) = perform(&bc, person, action, &mut state).await {
                    errors.lock().push(format!(
                        "{} at {} min: {} failed: {e}",
                        shopper.name,
                        action.at_min,
                        action.name()
                    ));
                }
            }
        }));
    }
    if !scenario.stages.is_empty() {
        let (app, clock, errors) = (appliance.app().clone(), clock.clone(), errors.clone());
        let (steps, sdk_url) = (
            scenario.stages.clone(),
            twins.bloomreach.sdk_url().to_string(),
        );
        tasks.push(tokio::spawn(async move {
            for step in &steps {
                let at = t0 + chrono::Duration::from_std(minutes(step.at_min)).unwrap_or_default();
                sleep_until(&clock, at).await;
                let outcome = crate::rehearsal::operate(&app, &step.action, &sdk_url).await;
                let expected = step.refused.as_deref();
                let problem = match (outcome, expected) {
                    (Ok(()), None) => None,
                    (Ok(()), Some(code)) => Some(format!("went through; it should be refused with {code}")),
                    (Err(failure), Some(code))
                        if failure.code.map(|c| c.as_str()) == Some(code) =>
                    {
                        tracing::info!(step = %step.action, at_min = step.at_min, "refused as expected: {failure}");
                        None
                    }
                    (Err(failure), _) => Some(format!("failed: {failure}")),
                };
                if let Some(problem) = problem {
                    errors.lock().push(format!(
                        "stage step {} at {} min {problem}",
                        step.action, step.at_min
                    ));
                }
            }
        }));
    }
    if let Some(fixed_at) = scenario
        .preflight_trouble
        .as_ref()
        .and_then(|trouble| trouble.fixed_at_min)
    {
        let (bc, sdk_url, clock) = (
            twins.bigcommerce.clone(),
            twins.bloomreach.sdk_url(),
            clock.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let at = t0 + chrono::Duration::from_std(minutes(fixed_at)).unwrap_or_default();
            sleep_until(&clock, at).await;
            tracing::info!("the merchant fixes the storefront's Content-Security-Policy");
            crate::rehearsal::good_storefront_on(&bc, &sdk_url);
        }));
    }
    for crowd in scenario.crowds.clone() {
        let (bc, clock) = (twins.bigcommerce.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            let at = t0 + chrono::Duration::from_std(minutes(crowd.at_min)).unwrap_or_default();
            sleep_until(&clock, at).await;
            bc.run_trading(&TradingBurst {
                orders: crowd.orders,
                new_customers: crowd.new_customers,
                variant_edits: crowd.variant_edits,
                over: minutes(crowd.over_mins),
            })
            .await;
        }));
    }
    let variants = twins.bigcommerce.variant_ids();
    for edit in scenario.catalog.clone() {
        let (bc, clock, errors) = (twins.bigcommerce.clone(), clock.clone(), errors.clone());
        let (br, catalog_name) = (
            twins.bloomreach.clone(),
            config.bloomreach.catalog_name.clone(),
        );
        let variant = variants.get(edit.variant - 1).copied();
        tasks.push(tokio::spawn(async move {
            let at = t0 + chrono::Duration::from_std(minutes(edit.at_min)).unwrap_or_default();
            sleep_until(&clock, at).await;
            let behind = BehindTheBack {
                bloomreach: &br,
                catalog: &catalog_name,
            };
            if let Err(e) = perform_catalog_edit(&bc, &behind, &clock, variant, &edit).await {
                errors.lock().push(format!(
                    "catalog edit at {} min: {} of variant {} failed: {e}",
                    edit.at_min, edit.action, edit.variant
                ));
            }
        }));
    }
    for fault in scenario.faults.clone() {
        let (bc, br, clock) = (
            twins.bigcommerce.clone(),
            twins.bloomreach.clone(),
            clock.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let at = t0 + chrono::Duration::from_std(minutes(fault.at_min)).unwrap_or_default();
            let until =
                at + chrono::Duration::from_std(minutes(fault.for_mins)).unwrap_or_default();
            sleep_until(&clock, at).await;
            switch_fault(&fault, true, until, &bc, &br);
            sleep_until(&clock, until).await;
            switch_fault(&fault, false, until, &bc, &br);
        }));
    }
    let mut finished = true;
    for task in tasks {
        let remaining = limit.saturating_sub(started.elapsed());
        if tokio::time::timeout(remaining, task).await.is_err() {
            finished = false;
        }
    }
    // Everything happened. Wait for two more poll passes (the safety net has then listed every
    // change) and for the appliance to go idle.
    let passes = appliance.poll_passes();
    let mut idle_checks = 0;
    if finished {
        finished = false;
        while started.elapsed() < limit {
            clock
                .sleep(Duration::from_secs_f64(0.1 * scenario.speed))
                .await;
            let idle = appliance.poll_passes() >= passes + 2
                && appliance.status()?.idle
                && (scenario.expect.min_drift_repairs == 0
                    || drift_repairs(appliance.store())? >= scenario.expect.min_drift_repairs);
            idle_checks = if idle { idle_checks + 1 } else { 0 };
            if idle_checks >= 3 {
                finished = true;
                break;
            }
        }
    }
    let status = appliance.status()?;
    let drift_repairs = drift_repairs(appliance.store())?;
    let final_stage = appliance.app().stage().ok().map(|s| s.stage);
    let fell_back_on: Vec<String> = appliance
        .store()
        .cutover_transitions(usize::MAX)?
        .into_iter()
        .filter(|t| t.kind == bigreach_core::cutover::TransitionKind::FallBack)
        .filter_map(|t| {
            let detail: serde_json::Value = serde_json::from_str(&t.detail).ok()?;
            detail["check"].as_str().map(str::to_owned)
        })
        .collect();
    appliance.shutdown().await;
    let store_truth = twins.bigcommerce.truth();
    let bloomreach_truth = twins.bloomreach.truth();
    let mut summary = evaluate_in(
        &store_truth,
        &bloomreach_truth,
        &config.bloomreach.ids,
        &config.bloomreach.catalog_name,
        t0,
        config.bloomreach.reference_currency.as_deref(),
    );
    summary.dead_letters = status.store.dead_letters;
    summary.finished = finished;
    summary.elapsed_s = (started.elapsed().as_millis() as f64 / 100.0).round() / 10.0;

    let catalog = bloomreach_truth
        .catalogs
        .iter()
        .find(|c| c.name == config.bloomreach.catalog_name);
    let catalog_items_stale = store_truth
        .variants
        .iter()
        .filter(|v| {
            let Some(item) = catalog.and_then(|c| c.items.get(&v.variant_id.to_string())) else {
                return false; // counted as missing already
            };
            let price = item
                .get("price")
                .and_then(|p| p.as_f64())
                .and_then(Decimal::from_f64)
                .map(|p| p.round_dp(2));
            let stock = item.get("stock_level").and_then(|s| s.as_i64());
            price != Some(v.price.round_dp(2)) || stock != Some(v.inventory_level)
        })
        .count();
    let deleted: Vec<String> = scenario
        .catalog
        .iter()
        .filter(|edit| edit.action == "variant_delete")
        .filter_map(|edit| variants.get(edit.variant - 1))
        .map(u64::to_string)
        .collect();
    let catalog_items_extra = deleted
        .iter()
        .filter(|id| catalog.is_some_and(|c| c.items.contains_key(*id)))
        .count();
    let hooks_restored = status.metrics.hooks_restored;
    let catalog_item_writes = bloomreach_truth.stats.catalog_items_accepted;
    let catalog_requests = status.metrics.catalog_requests;
    let e = &scenario.expect;
    let mut unmet = catalog_expectations(
        e,
        &store_truth,
        &bloomreach_truth,
        catalog,
        &variants,
        &config,
        catalog_item_writes,
    );
    if let Some(expected) = e.stage.filter(|stage| Some(*stage) != final_stage) {
        unmet.push(format!(
            "expected the run to end at stage {expected}, it ended at {}",
            final_stage.map_or("(unknown)".to_owned(), |s| s.to_string())
        ));
    }
    if let Some(check) = e
        .fell_back_on
        .as_ref()
        .filter(|c| !fell_back_on.contains(c))
    {
        unmet.push(format!(
            "expected a fall back on check {check}, saw {}",
            if fell_back_on.is_empty() {
                "none".to_owned()
            } else {
                fell_back_on.join(", ")
            }
        ));
    }
    if summary.bloomreach_429s < e.min_bloomreach_429s {
        unmet.push(format!(
            "expected at least {} Bloomreach 429s, saw {}",
            e.min_bloomreach_429s, summary.bloomreach_429s
        ));
    }
    if summary.bloomreach_duplicates_dropped < e.min_duplicates_dropped {
        unmet.push(format!(
            "expected at least {} duplicates dropped, saw {}",
            e.min_duplicates_dropped, summary.bloomreach_duplicates_dropped
        ));
    }
    if drift_repairs < e.min_drift_repairs {
        unmet.push(format!(
            "expected at least {} catalog drift repair writes, saw {drift_repairs}",
            e.min_drift_repairs
        ));
    }
    if catalog_items_extra > 0 {
        unmet.push(format!(
            "{catalog_items_extra} catalog item(s) of deleted variants are still in Bloomreach"
        ));
    }
    if hooks_restored < e.min_hooks_restored {
        unmet.push(format!(
            "expected at least {} hooks restored, saw {hooks_restored}",
            e.min_hooks_restored
        ));
    }
    if let Some(max) = e.max_latency_p99_ms {
        if summary.latency_ms.p99 > max {
            unmet.push(format!(
                "expected purchase latency p99 ≤ {max} ms, saw {} ms",
                summary.latency_ms.p99
            ));
        }
    }
    if summary.orders_paid_in_bigcommerce < e.min_paid_orders {
        unmet.push(format!(
            "expected at least {} paid orders, saw {}",
            e.min_paid_orders, summary.orders_paid_in_bigcommerce
        ));
    }
    for expected in &e.events {
        let email = expected.email.trim().to_lowercase();
        let found = has_event(
            &bloomreach_truth.profiles,
            &config.bloomreach.ids.email,
            &email,
            &expected.event_type,
        );
        if !found {
            unmet.push(format!(
                "expected a {} event on the profile of {email}",
                expected.event_type
            ));
        }
    }
    unmet.extend(refund_expectations(
        e,
        &bloomreach_truth,
        &config.bloomreach.ids.email,
    ));
    if summary.purchases_wrong_time > 0 {
        unmet.push(format!(
            "{} sales are not stamped with their order's creation time",
            summary.purchases_wrong_time
        ));
    }
    for (kind, expected, actual) in [
        ("local", &e.revenue, &summary.revenue.local),
        (
            "reference",
            &e.reference_revenue,
            &summary.revenue.reference,
        ),
    ] {
        for (currency, amount) in expected {
            let pair = actual.get(currency).cloned().unwrap_or_default();
            if pair.store != *amount || pair.bloomreach != *amount {
                unmet.push(format!(
                    "expected {kind} revenue {amount} {currency} on both sides, saw store {} and Bloomreach {}",
                    pair.store, pair.bloomreach
                ));
            }
        }
    }
    let statuses = |status: &str| {
        bloomreach_truth
            .profiles
            .iter()
            .flat_map(|p| &p.events)
            .filter(|ev| {
                ev.event_type == "purchase"
                    && ev
                        .properties
                        .get("purchase_status")
                        .and_then(|v| v.as_str())
                        == Some(status)
            })
            .count()
    };
    for (what, expected, status) in [
        ("purchases", e.purchases, "success"),
        ("cancellations", e.cancellations, "cancelled"),
    ] {
        if let Some(expected) = expected {
            let seen = statuses(status);
            if seen != expected {
                unmet.push(format!("expected exactly {expected} {what}, saw {seen}"));
            }
        }
    }
    let action_errors = errors.lock().clone();
    let passed = summary.is_clean()
        && catalog_items_stale == 0
        && action_errors.is_empty()
        && unmet.is_empty();
    Ok(ScenarioReport {
        scenario: scenario.name.clone(),
        summary,
        catalog_items_stale,
        catalog_item_writes,
        catalog_requests,
        hooks_restored,
        drift_repairs,
        catalog_items_extra,
        action_errors,
        unmet_expectations: unmet,
        speed: scenario.speed,
        passed,
    })
}

/// Writes the catalog drift repairs enqueued, from the `catalog.drift_repaired` audit entries.
fn drift_repairs(store: &bigreach_core::store::Store) -> Result<u64, ScenarioError> {
    use bigreach_core::app::catalog_drift::AUDIT_REPAIRED;
    Ok(store
        .audit_log()?
        .iter()
        .filter(|record| record.action == AUDIT_REPAIRED)
        .map(|record| {
            let detail: serde_json::Value =
                serde_json::from_str(&record.detail).unwrap_or_default();
            ["partial_updates", "full_upserts", "deletes"]
                .iter()
                .filter_map(|key| detail.get(*key).and_then(|v| v.as_u64()))
                .sum::<u64>()
        })
        .sum())
}

/// The Bloomreach catalog someone edits behind the connector's back.
struct BehindTheBack<'a> {
    bloomreach: &'a bigreach_twins::bloomreach::BloomreachTwin,
    catalog: &'a str,
}

/// Makes one scripted catalog edit on the BigCommerce twin (or, for `bloomreach_edit` and
/// `bloomreach_delete`, on the Bloomreach catalog behind the connector's back).
async fn perform_catalog_edit(
    bc: &bigreach_twins::bigcommerce::BigCommerceTwin,
    behind: &BehindTheBack<'_>,
    clock: &SharedClock,
    variant: Option<u64>,
    edit: &CatalogEdit,
) -> Result<(), String> {
    let variant = variant.ok_or_else(|| format!("the store has no variant {}", edit.variant))?;
    let price = edit.price()?;
    let twin = |r: Result<(), bigreach_twins::bigcommerce::TwinError>| r.map_err(|e| e.to_string());
    match edit.action.as_str() {
        "price_drop" => twin(bc.set_sale_price(variant, price)),
        "end_sale" => twin(bc.set_sale_price(variant, None)),
        "variant_edit" => twin(bc.edit_variant(variant, price, None)),
        "stock" => twin(bc.edit_variant(variant, None, edit.stock)),
        "variant_delete" => twin(bc.delete_variant(variant)),
        "bloomreach_edit" => {
            let mut properties = serde_json::Map::new();
            if let Some(price) = price {
                properties.insert("price".into(), bigreach_core::map::money(price));
            }
            if let Some(stock) = edit.stock {
                properties.insert("stock_level".into(), serde_json::json!(stock));
            }
            behind
                .bloomreach
                .edit_catalog_item(behind.catalog, &variant.to_string(), properties)
                .map_err(|e| e.to_string())
        }
        "bloomreach_delete" => behind
            .bloomreach
            .delete_catalog_item(behind.catalog, &variant.to_string())
            .map_err(|e| e.to_string()),
        "stock_flap" => {
            let every = Duration::from_secs_f64(edit.every_secs.unwrap_or(2.0));
            for (i, level) in edit.levels.iter().enumerate() {
                if i > 0 {
                    clock.sleep(every).await;
                }
                twin(bc.edit_variant(variant, None, Some(*level)))?;
            }
            Ok(())
        }
        other => Err(format!("unknown catalog edit {other:?}")),
    }
}

/// The `[expect]` lines about the catalog: items keyed by a variant with its URL, image, price
/// and stock; trigger events on the trigger profile; at most so many item writes.
fn catalog_expectations(
    e: &Expectations,
    store_truth: &bigreach_twins::bigcommerce::BigCommerceTruth,
    bloomreach_truth: &bigreach_twins::bloomreach::BloomreachTruth,
    catalog: Option<&bigreach_twins::bloomreach::CatalogTruth>,
    variants: &[u64],
    config: &Config,
    catalog_item_writes: u64,
) -> Vec<String> {
    let mut unmet = Vec::new();
    let decimal = |v: Option<&serde_json::Value>| {
        v.and_then(|p| p.as_f64())
            .and_then(Decimal::from_f64)
            .map(|p| p.round_dp(2))
    };
    for expected in &e.catalog_items {
        let Some(variant_id) = variants.get(expected.variant - 1) else {
            unmet.push(format!("the store has no variant {}", expected.variant));
            continue;
        };
        let Some(item) = catalog.and_then(|c| c.items.get(&variant_id.to_string())) else {
            unmet.push(format!("no catalog item keyed by variant {variant_id}"));
            continue;
        };
        let Some(truth) = store_truth
            .variants
            .iter()
            .find(|v| v.variant_id == *variant_id)
        else {
            unmet.push(format!("variant {variant_id} is not in the store's truth"));
            continue;
        };
        let text = |field: &str| item.get(field).and_then(|v| v.as_str()).unwrap_or_default();
        if text("product_id") != truth.product_id.to_string() {
            unmet.push(format!(
                "item {variant_id}: product_id {:?}, expected {}",
                text("product_id"),
                truth.product_id
            ));
        }
        for field in ["url", "image"] {
            if text(field).is_empty() {
                unmet.push(format!("item {variant_id}: no {field}"));
            }
        }
        if text("sku") != truth.sku {
            unmet.push(format!(
                "item {variant_id}: sku {:?}, expected {:?}",
                text("sku"),
                truth.sku
            ));
        }
        if decimal(item.get("price")) != Some(truth.price.round_dp(2))
            || item.get("stock_level").and_then(|s| s.as_i64()) != Some(truth.inventory_level)
        {
            unmet.push(format!(
                "item {variant_id}: price {:?} and stock {:?}, the store has {} and {}",
                item.get("price"),
                item.get("stock_level"),
                truth.price,
                truth.inventory_level
            ));
        }
        for (field, want) in [
            ("price", &expected.price),
            ("list_price", &expected.list_price),
            ("discount_percentage", &expected.discount_percentage),
        ] {
            let Some(want) = want else { continue };
            let want: Option<Decimal> = want.trim().parse().ok();
            if decimal(item.get(field)) != want.map(|w| w.round_dp(2)) {
                unmet.push(format!(
                    "item {variant_id}: {field} {:?}, expected {want:?}",
                    item.get(field)
                ));
            }
        }
        if let Some(want) = expected.in_stock {
            if item.get("in_stock").and_then(|v| v.as_bool()) != Some(want) {
                unmet.push(format!(
                    "item {variant_id}: in_stock {:?}, expected {want}",
                    item.get("in_stock")
                ));
            }
        }
    }
    if !e.trigger_events.is_empty() {
        let mapping = bigreach_core::map::CatalogMapping::with_overrides(&config.mapping.catalog)
            .unwrap_or_default();
        let profile = bloomreach_truth.profile_by_id(
            &config.bloomreach.ids.customer_id,
            mapping.trigger_profile(),
        );
        for (event_type, want) in &e.trigger_events {
            let seen = profile.map_or(0, |p| {
                p.events
                    .iter()
                    .filter(|ev| &ev.event_type == event_type)
                    .count()
            });
            if seen != *want {
                unmet.push(format!(
                    "expected exactly {want} {event_type} events on the trigger profile, saw {seen}"
                ));
            }
        }
    }
    if let Some(max) = e.max_catalog_item_writes {
        if catalog_item_writes > max {
            unmet.push(format!(
                "expected at most {max} catalog item writes, Bloomreach accepted {catalog_item_writes}"
            ));
        }
    }
    unmet
}

/// The `[expect]` lines about refunds: counts and totals of the refund events Bloomreach holds
/// (each refund once, in the shopper's currency), overall and per email.
fn refund_expectations(
    e: &super::Expectations,
    bloomreach: &bigreach_twins::bloomreach::BloomreachTruth,
    email_id: &str,
) -> Vec<String> {
    use std::collections::BTreeMap;
    let decimal = |text: &str| text.trim().parse::<Decimal>().unwrap_or_default();
    let distinct = |events: Vec<crate::verdict::RefundEvent>| {
        let mut by_id: BTreeMap<u64, Decimal> = BTreeMap::new();
        for event in events {
            by_id
                .entry(event.refund_id)
                .or_insert(event.amount.unwrap_or_default());
        }
        (by_id.len(), by_id.values().copied().sum::<Decimal>())
    };
    let mut unmet = Vec::new();
    let (count, total) = distinct(crate::verdict::refund_events(&bloomreach.profiles));
    if let Some(expected) = e.refunds.filter(|n| *n != count) {
        unmet.push(format!(
            "expected {expected} refunds in Bloomreach, saw {count}"
        ));
    }
    if let Some(expected) = e.refunded_total.as_deref() {
        if decimal(expected) != total {
            unmet.push(format!(
                "expected refunds adding up to {expected}, saw {total}"
            ));
        }
    }
    for person in &e.refunded {
        let email = person.email.trim().to_lowercase();
        let theirs = bloomreach
            .profiles
            .iter()
            .filter(|p| p.ids.get(email_id).is_some_and(|v| v.contains(&email)));
        let (count, total) = distinct(crate::verdict::refund_events(theirs));
        if let Some(expected) = person.refunds.filter(|n| *n != count) {
            unmet.push(format!(
                "expected {expected} refunds on the profile of {email}, saw {count}"
            ));
        }
        if let Some(expected) = person.total.as_deref() {
            if decimal(expected) != total {
                unmet.push(format!(
                    "expected refunds adding up to {expected} on the profile of {email}, saw {total}"
                ));
            }
        }
    }
    unmet
}

/// Whether a profile whose email ID is `email` (compared trimmed and lowercased on both sides:
/// the email-as-id baseline keys profiles by the email as typed, which is still this person's
/// email) holds an event of `event_type`.
fn has_event(
    profiles: &[bigreach_twins::bloomreach::ProfileTruth],
    email_id: &str,
    email: &str,
    event_type: &str,
) -> bool {
    let email = email.trim().to_lowercase();
    profiles.iter().any(|p| {
        p.ids
            .get(email_id)
            .is_some_and(|values| values.iter().any(|v| v.trim().to_lowercase() == email))
            && p.events.iter().any(|ev| ev.event_type == event_type)
    })
}

#[derive(Default)]
struct ShopperState {
    orders: Vec<u64>,
    carts: Vec<String>,
    /// Their customer id once registered.
    customer_id: Option<u64>,
}

/// The order-product ids of an order, read through the twin's REST API like any other client.
async fn order_lines(
    bc: &bigreach_twins::bigcommerce::BigCommerceTwin,
    order: u64,
) -> Result<Vec<(u64, u32)>, String> {
    let url = bc
        .api_root()
        .join(&format!("v2/orders/{order}/products"))
        .map_err(|e| e.to_string())?;
    let lines: Vec<serde_json::Value> = reqwest::Client::new()
        .get(url)
        .header("X-Auth-Token", credentials::BC_TOKEN)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(lines
        .iter()
        .filter_map(|l| {
            Some((
                l.get("id")?.as_u64()?,
                u32::try_from(l.get("quantity")?.as_u64()?).ok()?,
            ))
        })
        .collect())
}

async fn perform(
    bc: &bigreach_twins::bigcommerce::BigCommerceTwin,
    person: u64,
    action: &Action,
    state: &mut ShopperState,
) -> Result<(), String> {
    let last_order = || {
        state
            .orders
            .last()
            .copied()
            .ok_or("no order yet".to_owned())
    };
    match action.name() {
        "register" => {
            state.customer_id = Some(bc.register(person).map_err(|e| e.to_string())?);
            Ok(())
        }
        "checkout" => {
            let cart_id = if action.from_cart {
                Some(state.carts.last().cloned().ok_or("no cart yet")?)
            } else {
                None
            };
            let lines = if action.lines.is_empty() {
                Vec::new()
            } else {
                let variants = bc.variant_ids();
                action
                    .lines
                    .iter()
                    .map(|l| {
                        l.variant
                            .checked_sub(1)
                            .and_then(|i| variants.get(i))
                            .map(|v| (*v, l.quantity))
                            .ok_or_else(|| {
                                format!(
                                    "variant {} does not exist (the store has {})",
                                    l.variant,
                                    variants.len()
                                )
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            let order = bc
                .checkout_with(
                    person,
                    &CheckoutSpec {
                        email_as_typed: action.email.clone(),
                        phone_as_typed: action.phone.clone(),
                        currency: action.currency.clone(),
                        lines,
                        as_guest: action.as_guest.unwrap_or(true),
                        cart_id,
                    },
                    &CheckoutExtras {
                        display_currency: action.display_currency.clone(),
                        coupon: action.coupon,
                        shipping: action.shipping.clone(),
                    },
                )
                .map_err(|e| e.to_string())?;
            state.orders.push(order);
            Ok(())
        }
        "pay" => {
            let order = last_order()?;
            match action.payment.as_deref().unwrap_or("card") {
                "authorize_only" => bc.authorize(order),
                "cash_on_delivery" => bc.cash_on_delivery(order),
                "offline" => bc.await_payment(order),
                _ => bc.pay(order),
            }
            .map_err(|e| e.to_string())
        }
        "capture" => bc.capture(last_order()?).map_err(|e| e.to_string()),
        "await_shipment" => bc.await_shipment(last_order()?).map_err(|e| e.to_string()),
        "ship_partially" => bc.ship_partially(last_order()?).map_err(|e| e.to_string()),
        "staff_note" | "tracking" => {
            let text = action
                .text
                .clone()
                .ok_or_else(|| format!("{} needs text = \"…\"", action.action))?;
            let edit = if action.action == "staff_note" {
                OrderEdit::StaffNote(text)
            } else {
                OrderEdit::Tracking(text)
            };
            bc.edit_order(last_order()?, edit)
                .map_err(|e| e.to_string())
        }
        "decline" => bc.decline(last_order()?).map_err(|e| e.to_string()),
        "ship" => bc.ship(last_order()?).map_err(|e| e.to_string()),
        "cancel" => bc.cancel(last_order()?).map_err(|e| e.to_string()),
        "refund" | "refund_rest" => {
            let order = last_order()?;
            let line = |index: usize, quantity: u32| async move {
                let lines = order_lines(bc, order).await?;
                let (id, _) = *lines.get(index).ok_or(format!(
                    "order {order} has {} line(s), no line {}",
                    lines.len(),
                    index + 1
                ))?;
                Ok::<_, String>(vec![(id, quantity)])
            };
            let refunded = match action.refund_spec()? {
                RefundSpec::Full => bc.refund(order, &[]),
                RefundSpec::FirstUnit => bc.refund(order, &line(0, 1).await?),
                RefundSpec::Line { index, quantity } => {
                    bc.refund(order, &line(index, quantity).await?)
                }
                RefundSpec::Amount(amount) => bc.refund_amount(order, amount),
            };
            refunded.map(|_| ()).map_err(|e| e.to_string())
        }
        "cart" => {
            let variants = bc.variant_ids();
            let first = *variants.first().ok_or("the store has no variants")?;
            let cart = bc
                .create_cart(person, &[(first, 1)], action.currency.as_deref())
                .map_err(|e| e.to_string())?;
            state.carts.push(cart);
            Ok(())
        }
        "cart_email" => {
            let cart = state.carts.last().ok_or("no cart yet")?;
            let email = action.email.as_deref().ok_or("cart_email needs email")?;
            bc.set_cart_email(cart, email).map_err(|e| e.to_string())
        }
        "abandon_cart" => {
            let cart = state.carts.last().ok_or("no cart yet")?;
            bc.abandon_cart(cart).map(|_| ()).map_err(|e| e.to_string())
        }
        "update_email" => {
            let customer = state
                .customer_id
                .ok_or("update_email needs a register action first")?;
            let email = action.email.as_deref().ok_or("update_email needs email")?;
            bc.update_customer(customer, Some(email), None)
                .map_err(|e| e.to_string())
        }
        other => Err(format!("unknown action {other}")),
    }
}

/// Switches a scenario fault through the twin's own control function, the one its HTTP control
/// API (`PUT /_twin/faults/{kind}`) calls, so a scenario and an outside script do the same
/// thing. Off restores the twin's configured value. Kinds were checked when the file loaded.
fn switch_fault(
    fault: &Fault,
    on: bool,
    until: DateTime<Utc>,
    bc: &bigreach_twins::bigcommerce::BigCommerceTwin,
    br: &bigreach_twins::bloomreach::BloomreachTwin,
) {
    let switch = FaultSwitch {
        kind: fault.kind.clone(),
        on,
        per_mille: fault.per_mille,
        requests_per_minute: fault.requests_per_minute,
        latency_ms: fault.latency_ms,
        max_delay_secs: fault.max_delay_secs,
        until: Some(until),
        for_secs: None,
    };
    tracing::info!(kind = %fault.kind, on, "scenario fault");
    let switched = if BIGCOMMERCE_FAULTS.contains(&fault.kind.as_str()) {
        bc.switch_fault(&switch)
    } else {
        br.switch_fault(&switch)
    };
    if let Err(error) = switched {
        // Unreachable for a loaded scenario (`Scenario::load` refuses unknown kinds).
        tracing::error!(%error, "scenario fault refused");
    }
}

#[cfg(test)]
mod tests {
    use bigreach_clock::ManualClock;

    use super::*;

    fn fault(kind: &str) -> Fault {
        Fault {
            at_min: 0.0,
            for_mins: 5.0,
            kind: kind.into(),
            requests_per_minute: None,
            per_mille: None,
            latency_ms: None,
            max_delay_secs: None,
        }
    }

    async fn bloomreach_faults(twins: &Twins) -> serde_json::Value {
        let url = twins.bloomreach.base_url().join("_twin/faults").unwrap();
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }

    #[test]
    fn an_expected_event_is_found_on_a_profile_keyed_by_the_email_as_typed() {
        let profiles: Vec<bigreach_twins::bloomreach::ProfileTruth> =
            serde_json::from_value(serde_json::json!([{
                "internal_id": 1, "ids": {"email_id": [" Sam@Example.co.uk "]}, "properties": {},
                "events": [{"event_type": "cart_update", "timestamp": 1.0, "properties": {},
                            "received_at": "2026-03-01T12:00:00Z"}],
                "merged_from": [], "anonymized": false
            }]))
            .unwrap();
        assert!(has_event(
            &profiles,
            "email_id",
            "sam@example.co.uk",
            "cart_update"
        ));
        assert!(!has_event(
            &profiles,
            "email_id",
            "sam@example.co.uk",
            "purchase"
        ));
        assert!(!has_event(
            &profiles,
            "email_id",
            "tom@example.co.uk",
            "cart_update"
        ));
    }

    #[tokio::test]
    async fn scenario_faults_switch_through_the_twins_control_and_off_restores_the_configuration() {
        let scenario: Scenario = toml::from_str(
            "name = \"x\"\ndescription = \"y\"\n[bloomreach]\nrequests_per_minute = 5000\n",
        )
        .unwrap();
        let clock: SharedClock = ManualClock::new(Utc::now());
        let twins = Twins::start(&scenario.plan(), clock.clone()).await.unwrap();
        let (bc, br) = (&twins.bigcommerce, &twins.bloomreach);
        let until = clock.now() + chrono::Duration::minutes(5);

        let ceiling = Fault {
            requests_per_minute: Some(40),
            ..fault("bloomreach_rate_limit")
        };
        switch_fault(&ceiling, true, until, bc, br);
        let on = bloomreach_faults(&twins).await;
        switch_fault(&ceiling, false, until, bc, br);
        let off = bloomreach_faults(&twins).await;
        assert_eq!(on["bloomreach_rate_limit"]["requests_per_minute"], 40);
        assert_eq!(off["bloomreach_rate_limit"]["requests_per_minute"], 5000);

        switch_fault(&fault("bloomreach_outage"), true, until, bc, br);
        let outage = bloomreach_faults(&twins).await;
        assert_eq!(
            outage["bloomreach_outage"]["until"],
            serde_json::to_value(until).unwrap()
        );

        // Webhook faults overlap: switching one off leaves the other in force.
        let duplicates = Fault {
            per_mille: Some(500),
            ..fault("webhook_duplicates")
        };
        let reorder = Fault {
            max_delay_secs: Some(60),
            ..fault("webhook_reorder")
        };
        switch_fault(&duplicates, true, until, bc, br);
        switch_fault(&reorder, true, until, bc, br);
        assert_eq!(bc.webhook_faults().duplicate_per_mille, 500);
        switch_fault(&duplicates, false, until, bc, br);
        switch_fault(&fault("webhook_outage"), true, until, bc, br);
        let webhook = bc.webhook_faults();
        assert_eq!(webhook.duplicate_per_mille, 0);
        assert_eq!(webhook.max_extra_delay, Duration::from_secs(60));
        assert_eq!(webhook.fail_all_until, Some(until));
        twins.shutdown().await;
    }
}
