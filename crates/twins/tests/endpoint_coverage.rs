//! Enforces the endpoint coverage registry `../endpoints.toml`: for the API families of issue 9
//! (orders v2 and v3, customers v2 and v3, catalog products and variants, inventory, hooks, store
//! information, currencies) every method + path the OpenAPI files declare is listed exactly once,
//! as `served` (with the test that checks its answer against that path of the spec) or
//! `not_simulated` (with a reason). Against a seeded twin, every served route answers (not the
//! twin's no-such-route 404) and every not-simulated one answers 404 or 405, so a route added
//! or removed without updating the registry fails here. The README's coverage counts are
//! checked against the registry. Served routes no other test pins are pinned here
//! ([`shapes_no_other_test_pins`]).

#[path = "support/openapi.rs"]
mod openapi;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bigreach_clock::ManualClock;
use bigreach_twins::bigcommerce::{BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed};
use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

const TOKEN: &str = "twin-access-token";

/// The spec files of the families; the registry must have one family for each.
const FAMILY_SPECS: [&str; 10] = [
    "orders.v2.oas2.yml",
    "orders.v3.yml",
    "customers.v2.yml",
    "customers.v3.yml",
    "products_catalog.v3.yml",
    "product-variants_catalog.v3.yml",
    "inventory.v3.yml",
    "webhooks.v3.yml",
    "store_information.v2.yml",
    "currencies.v2.yml",
];

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Family {
    spec: String,
    api: String,
    endpoints: BTreeMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    served: Option<String>,
    not_simulated: Option<String>,
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn registry() -> BTreeMap<String, Family> {
    let path = crate_dir().join("endpoints.toml");
    let text = std::fs::read_to_string(&path).expect("read endpoints.toml");
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `"GET /orders/{order_id}"` → (`GET`, `/orders/{order_id}`).
fn split_key(key: &str) -> Result<(Method, &str), String> {
    let (m, path) = key
        .split_once(' ')
        .ok_or_else(|| format!("{key:?}: not \"METHOD /path\""))?;
    if !METHODS.contains(&m.to_ascii_lowercase().as_str()) || m != m.to_ascii_uppercase() {
        return Err(format!("{key:?}: unknown method {m}"));
    }
    if !path.starts_with('/') || path.contains(' ') {
        return Err(format!("{key:?}: bad path"));
    }
    Method::from_bytes(m.as_bytes())
        .map(|m| (m, path))
        .map_err(|e| format!("{key:?}: {e}"))
}

/// The body of the top-level `fn name(` in `src` (up to the first `}` at column 0).
fn fn_body<'a>(src: &'a str, name: &str) -> Option<&'a str> {
    let start = src.find(&format!("fn {name}("))?;
    let rest = &src[start..];
    let end = rest.find("\n}\n").map_or(rest.len(), |e| e + 2);
    Some(&rest[..end])
}

/// Checks a `served` pin: `file::test` names a test fn in `tests/file.rs` whose body names the
/// spec path (as the string literal the OpenAPI helpers take), in a file that loads `spec`.
fn check_pin(pin: &str, spec: &str, path: &str, tests_dir: &Path) -> Result<(), String> {
    let (file, name) = pin
        .split_once("::")
        .ok_or_else(|| format!("pin {pin:?} is not \"file::test\""))?;
    let src = std::fs::read_to_string(tests_dir.join(format!("{file}.rs")))
        .map_err(|e| format!("pin {pin:?}: tests/{file}.rs: {e}"))?;
    let body = fn_body(&src, name).ok_or_else(|| format!("pin {pin:?}: no fn {name} in {file}"))?;
    let test_attr = src[..src.find(&format!("fn {name}(")).unwrap_or(0)]
        .trim_end()
        .trim_end_matches("async")
        .trim_end()
        .ends_with(']');
    if !test_attr {
        return Err(format!("pin {pin:?}: {name} is not a test"));
    }
    if !body.contains(&format!("\"{path}\"")) {
        return Err(format!("pin {pin:?} never names \"{path}\""));
    }
    if !src.contains(&format!("\"{spec}\"")) {
        return Err(format!("pin {pin:?}: tests/{file}.rs never loads {spec}"));
    }
    Ok(())
}

/// Every `(METHOD, path)` the spec declares.
fn declared(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if ops.get(m).is_some() {
                out.insert(format!("{} {path}", m.to_ascii_uppercase()));
            }
        }
    }
    out
}

/// The README's coverage rows: family → (served, not simulated).
fn readme_counts() -> BTreeMap<String, (usize, usize)> {
    let text = std::fs::read_to_string(crate_dir().join("README.md")).expect("README");
    let section = text
        .split("\n## Endpoint coverage")
        .nth(1)
        .expect("README has an \"## Endpoint coverage\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut out = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (Some(name), Some(served), Some(not)) = (cells.first(), cells.get(2), cells.get(3))
        else {
            continue;
        };
        out.insert(
            name.trim_matches('`').to_owned(),
            (
                served.parse().expect("served count"),
                not.parse().expect("not-simulated count"),
            ),
        );
    }
    out
}

#[test]
fn the_registry_is_well_formed_and_every_pin_names_its_path() {
    let reg = registry();
    let tests_dir = crate_dir().join("tests");
    let mut errs = Vec::new();
    let specs: BTreeSet<&str> = reg.values().map(|f| f.spec.as_str()).collect();
    assert_eq!(
        specs,
        BTreeSet::from(FAMILY_SPECS),
        "one family per spec file of the issue's families"
    );
    assert_eq!(
        reg.len(),
        FAMILY_SPECS.len(),
        "a spec file has two families"
    );
    let mut counts = BTreeMap::new();
    for (name, fam) in &reg {
        if fam.api != "v2" && fam.api != "v3" {
            errs.push(format!("{name}: api {:?} is not v2 or v3", fam.api));
        }
        if fam.endpoints.is_empty() {
            errs.push(format!("{name}: no endpoints"));
        }
        let (mut served, mut not) = (0, 0);
        for (key, e) in &fam.endpoints {
            let path = match split_key(key) {
                Ok((_, p)) => p,
                Err(e) => {
                    errs.push(format!("{name}: {e}"));
                    continue;
                }
            };
            match (&e.served, &e.not_simulated) {
                (Some(pin), None) => {
                    served += 1;
                    if let Err(e) = check_pin(pin, &fam.spec, path, &tests_dir) {
                        errs.push(format!("{name} {key}: {e}"));
                    }
                }
                (None, Some(reason)) => {
                    not += 1;
                    if reason.len() < 60 || !reason.contains("would take") {
                        errs.push(format!(
                            "{name} {key}: a reason says who would call it and what it would take"
                        ));
                    }
                }
                _ => errs.push(format!(
                    "{name} {key}: exactly one of served / not_simulated"
                )),
            }
        }
        counts.insert(name.clone(), (served, not));
    }
    assert!(errs.is_empty(), "endpoints.toml:\n{}", errs.join("\n"));
    assert_eq!(
        readme_counts(),
        counts,
        "README \"Endpoint coverage\" counts (left) differ from endpoints.toml (right)"
    );
}

#[test]
fn the_registry_lists_exactly_what_the_specs_declare() {
    let reg = registry();
    let mut errs = Vec::new();
    for (name, fam) in &reg {
        let Some(doc) = openapi::load_spec(&fam.spec) else {
            return;
        };
        let spec = declared(&doc);
        let listed: BTreeSet<String> = fam.endpoints.keys().cloned().collect();
        for missing in spec.difference(&listed) {
            errs.push(format!(
                "{name}: {} declares {missing}, endpoints.toml lacks it",
                fam.spec
            ));
        }
        for extra in listed.difference(&spec) {
            errs.push(format!(
                "{name}: endpoints.toml lists {extra}, {} does not declare it",
                fam.spec
            ));
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

// ---------- against the twin ----------

async fn seeded() -> (BigCommerceTwin, Arc<ManualClock>) {
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("valid start time"),
    );
    let config = BigCommerceTwinConfig {
        plan: QuotaPlan::Enterprise {
            requests_per_window: 1_000_000,
        },
        ..BigCommerceTwinConfig::default()
    };
    let twin = BigCommerceTwin::start(config, clock.clone())
        .await
        .expect("twin starts");
    twin.seed_store(&StoreSeed::default());
    (twin, clock)
}

/// `(status, body)`; `body` is the raw text (compared byte for byte with the no-route answer).
async fn call(
    twin: &BigCommerceTwin,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .request(method, twin.api_root().join(path).expect("url"))
        .header("X-Auth-Token", TOKEN)
        .header("Accept", "application/json");
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn get_json(twin: &BigCommerceTwin, path: &str) -> Value {
    let (status, text) = call(twin, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).expect("json")
}

fn id(v: &Value) -> u64 {
    v["id"].as_u64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Ids of resources that exist in the seeded store, by the spec's parameter names.
struct Ids {
    /// A shipped order (it has a shipment, lines and a shipping address).
    shipped: u64,
    line: u64,
    shipment: u64,
    address: u64,
    /// A paid order with a refund.
    refunded: u64,
    refund: u64,
    customer: u64,
    customer_address: u64,
    product: u64,
    variant: u64,
    hook: u64,
}

impl Ids {
    async fn discover(twin: &BigCommerceTwin) -> Self {
        let shipped = id(&get_json(twin, "v2/orders?status_id=2&limit=1").await[0]);
        let line = id(&get_json(twin, &format!("v2/orders/{shipped}/products")).await[0]);
        let shipment = id(&get_json(twin, &format!("v2/orders/{shipped}/shipments")).await[0]);
        let address =
            id(&get_json(twin, &format!("v2/orders/{shipped}/shipping_addresses")).await[0]);
        let refunded = id(&get_json(twin, "v2/orders?status_id=11&limit=1").await[0]);
        let refund = twin.refund(refunded, &[]).expect("refund a paid order");
        let mut with_address = None;
        for c in get_json(twin, "v2/customers?limit=50")
            .await
            .as_array()
            .expect("customers")
        {
            let (s, text) = call(
                twin,
                Method::GET,
                &format!("v2/customers/{}/addresses", id(c)),
                None,
            )
            .await;
            if s == 200 {
                let a: Value = serde_json::from_str(&text).expect("json");
                with_address = Some((id(c), id(&a[0])));
                break;
            }
        }
        let (customer, customer_address) = with_address.expect("a customer with an address");
        let v = &get_json(twin, "v3/catalog/variants?limit=1").await["data"][0];
        let (product, variant) = (v["product_id"].as_u64().expect("product_id"), id(v));
        let (s, text) = call(
            twin,
            Method::POST,
            "v3/hooks",
            Some(&json!({ "scope": "store/order/*", "destination": "https://hooks.example.com/coverage" })),
        )
        .await;
        assert_eq!(s, 200, "{text}");
        let hook = id(&serde_json::from_str::<Value>(&text).expect("json")["data"]);
        Self {
            shipped,
            line,
            shipment,
            address,
            refunded,
            refund,
            customer,
            customer_address,
            product,
            variant,
            hook,
        }
    }

    /// The value of `{param}` in `family`; `None` when the family has no such resource.
    fn value(&self, family: &str, param: &str) -> Option<u64> {
        Some(match (family, param) {
            ("orders_v2", "order_id") => self.shipped,
            ("orders_v2", "product_id") => self.line,
            ("orders_v2", "shipment_id") => self.shipment,
            ("orders_v2", "id" | "shipping_address_id" | "shipping_consignment_id") => self.address,
            ("orders_v2", "status_id") => 11,
            ("orders_v3", "order_id") => self.refunded,
            ("orders_v3", "refund_id") => self.refund,
            ("customers_v2", "customer_id") | ("customers_v3", "customerId") => self.customer,
            ("customers_v2", "customer_address_id") => self.customer_address,
            ("customers_v2", "customer_group_id") => 1,
            ("catalog_products" | "catalog_variants", "product_id") => self.product,
            ("catalog_variants", "variant_id") => self.variant,
            ("hooks", "webhook_id") => self.hook,
            ("currencies", "id") | ("inventory", "location_id") => 1,
            _ => return None,
        })
    }

    /// `template` with its parameters filled in; unknown parameters of a not-simulated endpoint
    /// take 1 (any id: no route should match).
    fn fill(&self, family: &str, template: &str, served: bool) -> Result<String, String> {
        let mut out = Vec::new();
        for seg in template.trim_start_matches('/').split('/') {
            match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => match self.value(family, param) {
                    Some(v) => out.push(v.to_string()),
                    None if !served => out.push("1".to_owned()),
                    None => {
                        return Err(format!(
                            "{family} {template}: no existing id for {{{param}}} (add one to Ids)"
                        ))
                    }
                },
                None => out.push(seg.to_owned()),
            }
        }
        Ok(out.join("/"))
    }
}

/// Probing order: reads, then writes, then deletes (the served DELETE removes the probe hook).
fn rank(m: &Method) -> u8 {
    match *m {
        Method::GET => 0,
        Method::DELETE => 2,
        _ => 1,
    }
}

#[tokio::test]
async fn served_routes_answer_and_the_others_are_not_routed() {
    let reg = registry();
    let (twin, _clock) = seeded().await;
    let ids = Ids::discover(&twin).await;
    // The twin's answer to a route it does not have, per API version.
    let mut no_route = BTreeMap::new();
    for api in ["v2", "v3"] {
        let answer = call(
            &twin,
            Method::GET,
            &format!("{api}/no-such-route/at-all"),
            None,
        )
        .await;
        assert_eq!(answer.0, 404, "{api}: {answer:?}");
        no_route.insert(api, answer);
    }
    let unrouted = |api: &str, (status, body): &(u16, String)| {
        *status == 405 || (*status == 404 && no_route.get(api).is_some_and(|n| &n.1 == body))
    };

    let mut probes = Vec::new();
    for (name, fam) in &reg {
        for (key, e) in &fam.endpoints {
            let (method, template) = split_key(key).expect("well-formed key");
            probes.push((
                e.served.is_none(),
                rank(&method),
                name,
                fam,
                method,
                template,
            ));
        }
    }
    probes.sort_by_key(|p| (p.0, p.1));
    let mut errs = Vec::new();
    let mut probed = 0;
    for (not_served, _, name, fam, method, template) in probes {
        let path = match ids.fill(name, template, !not_served) {
            Ok(p) => format!("{}/{p}", fam.api),
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        // Writes go without a body: a served route validates it (4xx), it does not 404.
        let answer = call(&twin, method.clone(), &path, None).await;
        probed += 1;
        let status = answer.0;
        let problem = if not_served {
            // A 404 with another body is a neighbouring route taking the literal segment for an
            // id (`PUT v3/catalog/products/metafields` → "product not found"): nothing served.
            (!unrouted(&fam.api, &answer) && status != 404)
                .then_some("is listed as not simulated but answers: mark it served (with its pin)")
        } else if unrouted(&fam.api, &answer) {
            Some("is listed as served but answers the no-such-route 404/405")
        } else if method == Method::GET && status != 200 && status != 204 {
            Some("is a served read of existing ids but does not answer 200/204")
        } else if method == Method::DELETE && !(200..300).contains(&status) {
            Some("is a served delete of an existing id but does not answer 2xx")
        } else if (method == Method::POST || method == Method::PUT) && !(400..500).contains(&status)
        {
            Some("is a served write but does not refuse an empty body with a 4xx")
        } else {
            None
        };
        if let Some(p) = problem {
            errs.push(format!(
                "{name} {method} {template} ({path}) {p}: {status} {}",
                answer.1
            ));
        }
    }
    assert_eq!(
        probed,
        reg.values().map(|f| f.endpoints.len()).sum::<usize>(),
        "every entry probed"
    );
    assert!(errs.is_empty(), "{}", errs.join("\n"));
    twin.shutdown().await;
}

/// `base_variant_id`: "This value is `null` for complex products" (products_catalog.v3.yml);
/// `sku_id`: null for a base variant (reference doc 5.2); a refund item's `requested_amount`
/// is nullable (reference, refunds; the twin refunds by quantity, so it is always null).
const DOCUMENTED_NULLS: &[&str] = &[
    ".base_variant_id: null",
    ".sku_id: null",
    ".requested_amount: null",
];

/// `GET|PUT /catalog/variants` inline their variant schema without the `nullable` marks the same
/// file's `productVariant_Base` carries for these fields (null = inherited from the product).
const INLINED_VARIANT_NULLS: &[&str] = &[
    ".base_variant_id: null",
    ".sku_id: null",
    ".price: null",
    ".sale_price: null",
    ".retail_price: null",
    ".weight: null",
    ".width: null",
    ".height: null",
    ".depth: null",
    ".fixed_cost_shipping_price: null",
];

/// The served routes whose answers no other test checks against their own path of the spec.
#[tokio::test]
async fn shapes_no_other_test_pins() {
    let (
        Some(orders2),
        Some(orders3),
        Some(customers3),
        Some(products),
        Some(variants),
        Some(inventory),
        Some(hooks),
    ) = (
        openapi::load_spec("orders.v2.oas2.yml"),
        openapi::load_spec("orders.v3.yml"),
        openapi::load_spec("customers.v3.yml"),
        openapi::load_spec("products_catalog.v3.yml"),
        openapi::load_spec("product-variants_catalog.v3.yml"),
        openapi::load_spec("inventory.v3.yml"),
        openapi::load_spec("webhooks.v3.yml"),
    )
    else {
        return;
    };
    let (twin, _clock) = seeded().await;
    let ids = Ids::discover(&twin).await;
    let shipped = ids.shipped;

    let order = get_json(&twin, &format!("v2/orders/{shipped}")).await;
    openapi::assert_response_with_nulls(
        &orders2,
        "/orders/{order_id}",
        "get",
        "200",
        &order,
        &["fees"],
        DOCUMENTED_NULLS,
    );
    let line = get_json(&twin, &format!("v2/orders/{shipped}/products/{}", ids.line)).await;
    openapi::assert_response(
        &orders2,
        "/orders/{order_id}/products/{product_id}",
        "get",
        "200",
        &line,
        &[],
    );
    // The spec documents only a 200 `orderFees_Resp` object; the twin's orders carry no fees and
    // it answers 204 without a body, as v2 does for other empty sub-resources (*inferred*).
    let (s, text) = call(
        &twin,
        Method::GET,
        &format!("v2/orders/{shipped}/fees"),
        None,
    )
    .await;
    if s == 200 {
        let fees: Value = serde_json::from_str(&text).expect("json");
        openapi::assert_response(
            &orders2,
            "/orders/{order_id}/fees",
            "get",
            "200",
            &fees,
            &[],
        );
    } else {
        assert_eq!(
            (s, text.as_str()),
            (204, ""),
            "fees of an order without any"
        );
    }

    let refunded = ids.refunded;
    let listed = get_json(
        &twin,
        &format!("v3/orders/{refunded}/payment_actions/refunds"),
    )
    .await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    openapi::assert_response_with_nulls(
        &orders3,
        "/orders/{order_id}/payment_actions/refunds",
        "get",
        "200",
        &listed,
        &[],
        DOCUMENTED_NULLS,
    );
    let one = get_json(
        &twin,
        &format!("v3/orders/payment_actions/refunds/{}", ids.refund),
    )
    .await;
    openapi::assert_response_with_nulls(
        &orders3,
        "/orders/payment_actions/refunds/{refund_id}",
        "get",
        "200",
        &one,
        &[],
        DOCUMENTED_NULLS,
    );
    let all = get_json(&twin, "v3/orders/payment_actions/refunds?limit=5").await;
    openapi::assert_response_with_nulls(
        &orders3,
        "/orders/payment_actions/refunds",
        "get",
        "200",
        &all,
        &[],
        DOCUMENTED_NULLS,
    );

    let custs = get_json(
        &twin,
        "v3/customers?include=addresses,attributes,formfields&limit=5",
    )
    .await;
    openapi::assert_response(&customers3, "/customers", "get", "200", &custs, &[]);
    let attrs = get_json(&twin, "v3/customers/attributes").await;
    openapi::assert_response(
        &customers3,
        "/customers/attributes",
        "get",
        "200",
        &attrs,
        &[],
    );

    let product = get_json(&twin, &format!("v3/catalog/products/{}", ids.product)).await;
    openapi::assert_response_with_nulls(
        &products,
        "/catalog/products/{product_id}",
        "get",
        "200",
        &product,
        &[],
        DOCUMENTED_NULLS,
    );
    let of_product = get_json(
        &twin,
        &format!("v3/catalog/products/{}/variants", ids.product),
    )
    .await;
    openapi::assert_response_with_nulls(
        &variants,
        "/catalog/products/{product_id}/variants",
        "get",
        "200",
        &of_product,
        &[],
        DOCUMENTED_NULLS,
    );
    let all_variants = get_json(&twin, "v3/catalog/variants?limit=5").await;
    openapi::assert_response_with_nulls(
        &variants,
        "/catalog/variants",
        "get",
        "200",
        &all_variants,
        &[],
        INLINED_VARIANT_NULLS,
    );
    let body = json!([{ "id": ids.variant, "price": 19.5 }]);
    let (s, text) = call(&twin, Method::PUT, "v3/catalog/variants", Some(&body)).await;
    assert_eq!(s, 200, "{text}");
    let updated: Value = serde_json::from_str(&text).expect("json");
    openapi::assert_response_with_nulls(
        &variants,
        "/catalog/variants",
        "put",
        "200",
        &updated,
        &[],
        INLINED_VARIANT_NULLS,
    );

    let truth = twin.truth();
    let tracked = truth
        .variants
        .iter()
        .find(|v| v.inventory_tracking == "variant")
        .expect("a variant-tracked product");
    let body = json!({ "reason": "found in the back", "items": [{ "location_id": 1, "variant_id": tracked.variant_id, "quantity": 2 }] });
    let (s, text) = call(
        &twin,
        Method::POST,
        "v3/inventory/adjustments/relative",
        Some(&body),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let adjusted: Value = serde_json::from_str(&text).expect("json");
    openapi::assert_response(
        &inventory,
        "/inventory/adjustments/relative",
        "post",
        "200",
        &adjusted,
        &[],
    );

    let body = json!({ "scope": "store/customer/*", "destination": "https://hooks.example.com/shapes", "headers": { "X-Custom": "1" } });
    let (s, text) = call(&twin, Method::POST, "v3/hooks", Some(&body)).await;
    assert_eq!(s, 200, "{text}");
    let created: Value = serde_json::from_str(&text).expect("json");
    openapi::assert_response(&hooks, "/hooks", "post", "200", &created, &[]);
    let hook = id(&created["data"]);
    let got = get_json(&twin, &format!("v3/hooks/{hook}")).await;
    openapi::assert_response(&hooks, "/hooks/{webhook_id}", "get", "200", &got, &[]);
    let (s, text) = call(
        &twin,
        Method::PUT,
        &format!("v3/hooks/{hook}"),
        Some(&json!({ "is_active": false })),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let put: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(put["data"]["is_active"], false);
    openapi::assert_response(&hooks, "/hooks/{webhook_id}", "put", "200", &put, &[]);
    let (s, text) = call(&twin, Method::DELETE, &format!("v3/hooks/{hook}"), None).await;
    assert_eq!(s, 200, "{text}");
    let deleted: Value = serde_json::from_str(&text).expect("json");
    openapi::assert_response(
        &hooks,
        "/hooks/{webhook_id}",
        "delete",
        "200",
        &deleted,
        &[],
    );
    assert_eq!(
        call(&twin, Method::GET, &format!("v3/hooks/{hook}"), None)
            .await
            .0,
        404,
        "a deleted hook is gone"
    );
    twin.shutdown().await;
}
