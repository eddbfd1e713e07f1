use super::*;
use crate::config::IdNames;
use crate::identity::ResolvedIds;
use bigreach_bigcommerce::Cart;

/// The guest order of reference §10.1 (EUR transactional, USD store currency), as v2 JSON.
fn eur_guest_order(status_id: u32) -> Order {
    let mut order: Order = serde_json::from_value(json!({
        "id": 5021, "customer_id": 0,
        "date_created": "Mon, 03 Mar 2025 14:22:10 +0000",
        "date_modified": "Mon, 03 Mar 2025 14:25:41 +0000",
        "status_id": status_id, "status": "Awaiting Fulfillment", "payment_status": "captured",
        "payment_method": "Credit Card",
        "subtotal_ex_tax": "110.0000", "subtotal_inc_tax": "132.0000",
        "total_ex_tax": "105.0000", "total_inc_tax": "126.0000", "total_tax": "21.0000",
        "shipping_cost_ex_tax": "6.0000", "shipping_cost_inc_tax": "7.2000",
        "discount_amount": "11.0000", "coupon_discount": "11.0000", "items_total": 3,
        "currency_code": "EUR", "currency_exchange_rate": "1.0000000000",
        "default_currency_code": "EUR", "store_default_currency_code": "USD",
        "store_default_to_transactional_exchange_rate": "0.9200000000",
        "billing_address": {"first_name": "Lena", "last_name": "Vogel", "email": "lena.vogel@example.org",
                            "phone": "+49 30 1234567", "country_iso2": "DE", "city": "Berlin"},
        "is_email_opt_in": true, "channel_id": 1, "order_source": "www", "customer_locale": "de-DE",
        "is_deleted": false
    }))
    .expect("order fixture parses");
    order.line_items = serde_json::from_value(json!([
        {"id": 9101, "order_id": 5021, "product_id": 311, "variant_id": 1207, "sku": "TEE-ORG-BLU-M",
         "name": "Organic Tee", "brand": "Northwind", "quantity": 2, "base_price": "25.0000",
         "price_ex_tax": "25.0000", "price_inc_tax": "30.0000", "total_ex_tax": "50.0000",
         "total_inc_tax": "60.0000", "discounted_total_inc_tax": "54.0000",
         "product_options": [{"display_name": "Color", "display_value": "Blue"},
                             {"display_name": "Size", "display_value": "M"}]},
        {"id": 9102, "order_id": 5021, "product_id": 415, "variant_id": 1688, "sku": "HOOD-FLC-GRY-L",
         "name": "Fleece Hoodie", "brand": "Northwind", "quantity": 1, "base_price": "60.0000",
         "price_ex_tax": "60.0000", "price_inc_tax": "72.0000", "total_ex_tax": "60.0000",
         "total_inc_tax": "72.0000", "discounted_total_inc_tax": "64.8000"}
    ]))
    .expect("line fixture parses");
    order
}

fn ctx() -> MappingContext {
    MappingContext {
        store_currency: "USD".into(),
        source_name: "shop.example.com".into(),
        profile: ProfileMapping::default(),
        group_names: Default::default(),
        attribute_names: Default::default(),
        orders: Default::default(),
        currencies: Default::default(),
    }
}

fn guest_ids() -> ResolvedIds {
    ResolvedIds::email(&IdNames::default(), "lena.vogel@example.org")
}

fn data(command: &NewCommand) -> Value {
    serde_json::from_slice(&command.payload).unwrap()
}

#[test]
fn paid_order_maps_to_purchase_and_one_item_per_line_in_transactional_currency() {
    let commands = purchase_commands(
        &eur_guest_order(11),
        &guest_ids(),
        &ctx(),
        Lane::Transactions,
    );
    assert_eq!(commands.len(), 3);
    let purchase = data(&commands[0]);
    assert_eq!(purchase["event_type"], "purchase");
    assert_eq!(
        purchase["customer_ids"],
        json!({"email_id": "lena.vogel@example.org"})
    );
    let p = &purchase["properties"];
    assert_eq!(p["purchase_id"], 5021);
    // Reference currency USD (the store default); 126.00 EUR ÷ 0.92 EUR per USD = 136.9565… → 136.96.
    assert_eq!(p["total_price"], json!(136.96));
    assert_eq!(p["total_price_local_currency"], json!(126.0));
    assert_eq!(p["local_currency"], "EUR");
    assert_eq!(p["reference_currency"], "USD");
    assert_eq!(p["exchange_rate"], json!(0.92));
    assert!(p.get("store_currency").is_none() && p.get("total_price_store_currency").is_none());
    assert_eq!(p["total_quantity"], 3);
    assert_eq!(p["variant_ids"], json!(["1207", "1688"]));
    // Event time is the order's creation, never "now".
    assert_eq!(purchase["timestamp"], json!(1741011730.0));

    let item = data(&commands[1]);
    assert_eq!(item["event_type"], "purchase_item");
    assert_eq!(item["properties"]["variant_id"], "1207");
    assert_eq!(item["properties"]["product_id"], "311");
    // 54.00 EUR ÷ 0.92 = 58.6956… → 58.70 USD; the shopper's figure alongside.
    assert_eq!(item["properties"]["total_price"], json!(58.7));
    assert_eq!(
        item["properties"]["total_price_local_currency"],
        json!(54.0)
    );
    assert_eq!(
        item["properties"]["variant_options"],
        "Color: Blue, Size: M"
    );
    assert_eq!(commands[2].fact, "purchase_item:5021:9102");
}

#[test]
fn unpaid_orders_map_to_nothing() {
    for status in [0, 1, 5, 6, 7, 12] {
        // Cancelled / declined before capture (a captured one is a cancellation, tested below).
        let mut order = eur_guest_order(status);
        if matches!(status, 5 | 6) {
            order.payment_status = "void".into();
        }
        assert!(
            purchase_commands(&order, &guest_ids(), &ctx(), Lane::Transactions).is_empty(),
            "status {status}"
        );
    }
}

#[test]
fn payloads_are_byte_identical_for_the_same_record() {
    let a = purchase_commands(
        &eur_guest_order(11),
        &guest_ids(),
        &ctx(),
        Lane::Transactions,
    );
    let b = purchase_commands(
        &eur_guest_order(11),
        &guest_ids(),
        &ctx(),
        Lane::Transactions,
    );
    assert_eq!(a, b);
    assert!(a.iter().all(|c| c.content_hash == "once"));
}

#[test]
fn money_is_exact_for_shop_amounts() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(money(d("62.6793")).to_string(), "62.6793");
    assert_eq!(money(d("54.0000")).to_string(), "54.0");
    assert_eq!(money(d("0.1")).to_string(), "0.1");
    assert_eq!(money(d("99999999.99")).to_string(), "99999999.99");
    assert_eq!(money(d("-12.50")).to_string(), "-12.5");
}

#[test]
fn customers_get_flattened_form_fields_and_one_segment_property() {
    let customer: Customer = serde_json::from_value(json!({
        "id": 42, "email": "Jane@Example.com", "first_name": "Jane", "last_name": "Doe",
        "customer_group_id": 3,
        "date_created": "2025-01-01T00:00:00+00:00", "date_modified": "2025-02-01T00:00:00+00:00",
        "attributes": [{"attribute_id": 2, "attribute_value": "gold"}, {"attribute_id": 1, "attribute_value": " vip "}],
        "form_fields": [{"name": "How did you hear about us?", "value": "Friend"},
                        {"name": "Interests", "value": ["Yoga", "Running"]}]
    }))
    .unwrap();
    let ids = ResolvedIds::customer(&IdNames::default(), 42, Some("jane@example.com"));
    let command = customer_command(&customer, &ids, None, Lane::Customers, &ctx());
    let p = &data(&command)["properties"];
    assert_eq!(p["form_how_did_you_hear_about_us"], "Friend");
    assert_eq!(p["form_interests"], "Yoga, Running");
    assert_eq!(p["customer_type"], "registered");
    assert_eq!(
        p["segment"],
        "type:registered|group:3|attribute_1:vip|attribute_2:gold"
    );
    // With the store's names the property and the segment read well.
    let named = MappingContext {
        group_names: [(3, "Wholesale".to_owned())].into(),
        attribute_names: [(1, "VIP level".to_owned())].into(),
        ..ctx()
    };
    let command = customer_command(&customer, &ids, None, Lane::Customers, &named);
    let p = &data(&command)["properties"];
    assert_eq!(p["customer_group"], "Wholesale");
    assert_eq!(p["attr_vip_level"], "vip");
    assert_eq!(
        p["segment"],
        "type:registered|group:Wholesale|attr_vip_level:vip|attribute_2:gold"
    );
    assert_eq!(property_name("  Été / 2x Size! "), "t_2x_size");
}

#[test]
fn a_cart_state_is_one_cart_update_with_the_variants_held() {
    let cart: Cart = serde_json::from_value(json!({
        "id": "b3f1c2d4-8e1a-4c55-9b0e-2f6a7d9c1e22", "customer_id": 0,
        "email": "Lena.Vogel@example.org", "currency": {"code": "EUR"}, "cart_amount": 110.0,
        "line_items": {"physical_items": [
            {"id": "l1", "variant_id": 1207, "product_id": 311, "sku": "TEE", "name": "Tee",
             "quantity": 2, "sale_price": 25.0, "extended_sale_price": 50.0}
        ], "digital_items": []},
        "created_time": "2025-03-03T13:02:10+00:00", "updated_time": "2025-03-03T13:09:48+00:00",
        "locale": "de"
    }))
    .unwrap();
    let ids = ResolvedIds::email(&IdNames::default(), "lena.vogel@example.org");
    let command = cart_command(&cart, &ids);
    assert_eq!(command.lane, Lane::Carts);
    assert_eq!(
        command.fact,
        "cart:b3f1c2d4-8e1a-4c55-9b0e-2f6a7d9c1e22:1741007388000"
    );
    let event = data(&command);
    assert_eq!(event["event_type"], "cart_update");
    assert_eq!(event["properties"]["variant_ids"], json!(["1207"]));
    assert_eq!(event["properties"]["total_price"], json!(110.0));
    assert_eq!(event["properties"]["local_currency"], "EUR");
    assert_eq!(event["timestamp"], json!(1741007388.0));
}

#[test]
fn profile_names_come_from_data_mapping_toml_and_config_overrides() {
    let defaults = ProfileMapping::default();
    let props = json!({"company": "Acme", "phone": "+1", "form_x": 1});
    let Value::Object(props) = props else {
        unreachable!()
    };
    assert_eq!(
        Value::Object(defaults.apply(props.clone())),
        json!({"company": "Acme", "phone": "+1", "form_x": 1})
    );
    let overrides = std::collections::BTreeMap::from([
        ("company".to_owned(), String::new()),
        ("phone".to_owned(), "mobile_phone".to_owned()),
    ]);
    let custom = ProfileMapping::with_overrides(&overrides);
    assert_eq!(
        Value::Object(custom.apply(props)),
        json!({"mobile_phone": "+1", "form_x": 1})
    );
    // The shipped file parses and names every standard property.
    assert!(defaults
        .apply(Map::from_iter([("segment".to_owned(), json!("s"))]))
        .contains_key("segment"));
    assert_ne!(
        defaults,
        ProfileMapping {
            names: Default::default()
        }
    );
}

/// Status id × `payment_status` → what the order counts as (reference §3.3, §3.4).
#[test]
fn payment_state_follows_status_and_payment_status() {
    use super::payment::PaymentState::*;
    let table: &[(u32, &str, super::payment::PaymentState)] = &[
        (11, "captured", Paid),
        (11, "paid", Paid),
        (11, "", Paid),
        (10, "captured", Paid),
        (2, "captured", Paid),
        // Authorize-only gateway: Awaiting Fulfillment before any money is captured.
        (11, "authorized", Held),
        (11, "capture pending", Held),
        (11, "held for review", Held),
        (11, "pending", Held),
        (0, "", Held),
        (1, "", Held),
        (7, "", Held),
        (12, "captured", Held),
        (5, "void", Cancelled),
        (5, "captured", CancelledAfterPayment),
        (6, "paid", CancelledAfterPayment),
        (6, "declined", Cancelled),
        (11, "void", Cancelled),
        (11, "declined", Cancelled),
        (4, "refunded", Refunded),
        (14, "partially refunded", PartiallyRefunded),
        (11, "partially refunded", PartiallyRefunded),
        (11, "refunded", Refunded),
    ];
    let mapping = super::payment::OrderMapping::default();
    for (status_id, payment_status, expected) in table {
        let mut order = eur_guest_order(*status_id);
        order.payment_status = (*payment_status).to_owned();
        assert_eq!(
            mapping.state(&order),
            *expected,
            "status {status_id} payment {payment_status:?}"
        );
    }
}

#[test]
fn only_paid_orders_are_purchases() {
    for (status_id, payment_status, purchases) in [
        (11, "captured", 1),
        (11, "authorized", 0),
        (7, "", 0),
        (5, "void", 0),
        (6, "declined", 0),
    ] {
        let mut order = eur_guest_order(status_id);
        order.payment_status = payment_status.to_owned();
        let commands = purchase_commands(&order, &guest_ids(), &ctx(), Lane::Transactions);
        let count = commands
            .iter()
            .filter(|c| {
                data(c)["event_type"] == "purchase"
                    && data(c)["properties"]["purchase_status"] == "success"
            })
            .count();
        assert_eq!(
            count, purchases,
            "status {status_id} payment {payment_status:?}"
        );
    }
}

#[test]
fn a_refunded_order_keeps_its_purchase_and_says_so() {
    let mut order = eur_guest_order(4);
    order.payment_status = "refunded".into();
    let commands = purchase_commands(&order, &guest_ids(), &ctx(), Lane::Transactions);
    // The original sale happened: one `success` purchase, its fact key unchanged, so a purchase
    // already sent while the order was paid is not sent again.
    assert_eq!(commands[0].fact, "purchase:5021");
    assert_eq!(
        data(&commands[0])["properties"]["purchase_status"],
        "success"
    );
}

#[test]
fn order_mapping_overrides_are_validated_all_at_once() {
    let mut overrides = super::payment::OrderMappingSettings::default();
    overrides.status.insert("11".into(), "held".into());
    overrides.status.insert("x".into(), "paid".into());
    overrides
        .payment_status
        .insert("captured".into(), "sold".into());
    let problems = super::payment::OrderMapping::with_overrides(&overrides).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    let mut ok = super::payment::OrderMappingSettings::default();
    ok.status.insert("11".into(), "held".into());
    let mapping = super::payment::OrderMapping::with_overrides(&ok).unwrap();
    assert_eq!(
        mapping.state(&eur_guest_order(11)),
        super::payment::PaymentState::Held
    );
}

#[test]
fn a_paid_order_later_cancelled_is_one_sale_and_one_cancellation() {
    let mut order = eur_guest_order(5);
    order.payment_status = "captured".into();
    let commands = purchase_commands(&order, &guest_ids(), &ctx(), Lane::Transactions);
    let purchases: Vec<_> = commands
        .iter()
        .filter(|c| data(c)["event_type"] == "purchase")
        .map(|c| {
            (
                c.fact.clone(),
                data(c)["properties"]["purchase_status"].clone(),
                data(c)["timestamp"].clone(),
            )
        })
        .collect();
    assert_eq!(
        purchases,
        vec![
            (
                "purchase:5021".to_owned(),
                json!("success"),
                json!(unix_seconds(order.date_created))
            ),
            (
                "purchase_cancelled:5021".to_owned(),
                json!("cancelled"),
                json!(unix_seconds(order.date_modified))
            ),
        ]
    );
    // Re-evaluating the same order yields byte-identical commands (the outbox keeps one of each).
    assert_eq!(
        purchase_commands(&order, &guest_ids(), &ctx(), Lane::Transactions),
        commands
    );
}

#[test]
fn the_compiled_in_order_mapping_has_no_problems() {
    assert!(payment::OrderMapping::with_overrides(&Default::default()).is_ok());
}

/// Reference §10.5: one hoodie (order product 9102) refunded from order 5021.
fn hoodie_refund(id: u64) -> bigreach_bigcommerce::Refund {
    serde_json::from_value(json!({
        "id": id, "order_id": 5021, "created": "2025-03-09T10:20:00+00:00",
        "reason": "Wrong size", "total_amount": 64.8, "total_tax": 10.8,
        "items": [{"item_type": "PRODUCT", "item_id": 9102, "quantity": 1, "requested_amount": null}],
        "payments": [{"id": 51, "provider_id": "stripev3", "amount": 64.8}]
    }))
    .unwrap()
}

fn refund_events(commands: &[NewCommand]) -> Vec<(String, Value)> {
    commands
        .iter()
        .filter(|c| c.fact.starts_with("refund"))
        .map(|c| (c.fact.clone(), data(c)))
        .collect()
}

#[test]
fn each_refund_is_one_refund_purchase_with_its_amounts_and_one_item_per_refunded_line() {
    let mut order = eur_guest_order(14);
    order.payment_status = "partially refunded".into();
    order.refunds = vec![hoodie_refund(44)];
    let commands = purchase_commands(&order, &guest_ids(), &ctx(), Lane::Transactions);
    // The sale is still there, unchanged.
    assert_eq!(commands[0].fact, "purchase:5021");
    let refunds = refund_events(&commands);
    assert_eq!(
        refunds.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        vec!["refund:44", "refund_item:44:9102"]
    );
    let (_, refund) = &refunds[0];
    assert_eq!(refund["event_type"], "purchase");
    assert_eq!(
        refund["timestamp"],
        json!(unix_seconds("2025-03-09T10:20:00Z".parse().unwrap()))
    );
    let p = &refund["properties"];
    assert_eq!(p["purchase_id"], 5021);
    assert_eq!(p["purchase_status"], "refund");
    assert_eq!(p["refund_id"], 44);
    assert_eq!(p["refund_reason"], "Wrong size");
    // In the reference currency (the store's USD) at the order's 0.92 EUR per USD, as the sale:
    // 64.80 / 0.92 = 70.434… → 70.43; tax 10.80 / 0.92 = 11.739… → 11.74; without tax
    // 54.00 / 0.92 = 58.695… → 58.70.
    assert_eq!(p["total_price"], json!(70.43));
    assert_eq!(p["total_price_local_currency"], json!(64.8));
    assert_eq!(p["tax_value"], json!(11.74));
    assert_eq!(p["total_price_without_tax"], json!(58.7));
    assert_eq!(p["local_currency"], "EUR");
    assert_eq!(p["reference_currency"], "USD");
    assert_eq!(p["exchange_rate"], json!(0.92));
    assert_eq!(p["total_quantity"], 1);
    assert_eq!(
        p["product_list"],
        json!([{"product_id": "415", "variant_id": "1688", "sku": "HOOD-FLC-GRY-L", "quantity": 1}])
    );
    let (_, item) = &refunds[1];
    assert_eq!(item["event_type"], "purchase_item");
    let i = &item["properties"];
    assert_eq!(i["purchase_status"], "refund");
    assert_eq!(i["product_id"], "415");
    assert_eq!(i["variant_id"], "1688");
    assert_eq!(i["quantity"], 1);
    assert_eq!(i["total_price"], json!(70.43));
    assert_eq!(i["total_price_local_currency"], json!(64.8));
}

#[test]
fn an_amount_refund_has_no_items_and_one_unit_of_a_two_unit_line_is_half_its_paid_total() {
    let mut order = eur_guest_order(14);
    order.payment_status = "partially refunded".into();
    let by_amount: bigreach_bigcommerce::Refund = serde_json::from_value(json!({
        "id": 45, "order_id": 5021, "created": "2025-03-10T08:00:00Z", "reason": "Goodwill",
        "total_amount": 12.5, "total_tax": 0,
        "items": [{"item_type": "ORDER", "item_id": 5021, "requested_amount": "12.50"}]
    }))
    .unwrap();
    let one_tee: bigreach_bigcommerce::Refund = serde_json::from_value(json!({
        "id": 46, "order_id": 5021, "created": "2025-03-11T08:00:00Z", "reason": "",
        "total_amount": 27, "total_tax": 4.5,
        "items": [{"item_type": "PRODUCT", "item_id": 9101, "quantity": 1}]
    }))
    .unwrap();
    order.refunds = vec![one_tee, by_amount];
    let refunds = refund_events(&purchase_commands(
        &order,
        &guest_ids(),
        &ctx(),
        Lane::Transactions,
    ));
    assert_eq!(
        refunds.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        vec!["refund:45", "refund:46", "refund_item:46:9101"]
    );
    // 12.50 EUR / 0.92 = 13.586… → 13.59 USD.
    assert_eq!(refunds[0].1["properties"]["total_price"], json!(13.59));
    assert_eq!(
        refunds[0].1["properties"]["total_price_local_currency"],
        json!(12.5)
    );
    assert_eq!(refunds[0].1["properties"]["total_quantity"], 0);
    assert_eq!(
        refunds[0].1["properties"]["refunded_items"],
        json!(["order"])
    );
    // The tee line paid 54.00 for 2 units: one unit gave back 27.00.
    // 27.00 EUR / 0.92 = 29.347… → 29.35 USD.
    assert_eq!(
        refunds[2].1["properties"]["total_price_local_currency"],
        json!(27.0)
    );
    assert_eq!(refunds[2].1["properties"]["total_price"], json!(29.35));
}

#[test]
fn no_refund_without_a_sale_and_the_refund_vocabulary_is_configurable() {
    let mut never_paid = eur_guest_order(5);
    never_paid.payment_status = "void".into();
    never_paid.refunds = vec![hoodie_refund(44)];
    assert!(purchase_commands(&never_paid, &guest_ids(), &ctx(), Lane::Transactions).is_empty());
    assert!(refund_commands(&never_paid, &guest_ids(), &ctx(), Lane::Transactions).is_empty());

    let mut settings = payment::OrderMappingSettings::default();
    settings
        .purchase_status
        .insert("refund".into(), "returned".into());
    let mut context = ctx();
    context.orders = payment::OrderMapping::with_overrides(&settings).unwrap();
    let mut order = eur_guest_order(4);
    order.payment_status = "refunded".into();
    order.refunds = vec![hoodie_refund(44), hoodie_refund(44)];
    let commands = refund_commands(&order, &guest_ids(), &context, Lane::Transactions);
    assert_eq!(commands.len(), 2, "the same refund twice is one refund");
    assert_eq!(
        data(&commands[0])["properties"]["purchase_status"],
        "returned"
    );
    // Re-reading the order yields byte-identical commands.
    assert_eq!(
        refund_commands(&order, &guest_ids(), &context, Lane::Transactions),
        commands
    );
    settings
        .purchase_status
        .insert("refund".into(), String::new());
    assert!(payment::OrderMapping::with_overrides(&settings).is_err());
}

fn amounts(command: &NewCommand, keys: &[&str]) -> Vec<Value> {
    let p = &data(command)["properties"];
    keys.iter().map(|k| p[*k].clone()).collect()
}

/// Worked by hand: the reference §10.1 order, 126.00 EUR at 0.92 EUR per USD (the order's
/// `store_default_to_transactional_exchange_rate`, the same direction as the EUR row of
/// `GET v2/currencies`: EUR units per 1 USD), reference = store default USD:
/// total 126.00 / 0.92 = 136.95652… → 136.96; ex tax 105.00 / 0.92 = 114.13043… → 114.13;
/// tax 21.00 / 0.92 = 22.82608… → 22.83; shipping 7.20 / 0.92 = 7.82608… → 7.83;
/// discount 11.00 / 0.92 = 11.95652… → 11.96. Lines: unit 30.00 / 0.92 = 32.60869… → 32.61,
/// line total 54.00 / 0.92 = 58.69565… → 58.70; hoodie 64.80 / 0.92 = 70.43478… → 70.43.
#[test]
fn amounts_are_in_the_reference_currency_with_the_local_ones_alongside() {
    let commands = purchase_commands(
        &eur_guest_order(11),
        &guest_ids(),
        &ctx(),
        Lane::Transactions,
    );
    assert_eq!(
        amounts(
            &commands[0],
            &[
                "total_price",
                "total_price_without_tax",
                "tax_value",
                "shipping_cost",
                "discount_value",
                "total_price_local_currency",
            ]
        ),
        [136.96, 114.13, 22.83, 7.83, 11.96, 126.0].map(|v| json!(v))
    );
    let line = [
        "price",
        "total_price",
        "price_local_currency",
        "total_price_local_currency",
    ];
    assert_eq!(
        amounts(&commands[1], &line),
        [32.61, 58.7, 30.0, 54.0].map(|v| json!(v))
    );
    assert_eq!(amounts(&commands[2], &["total_price"]), [json!(70.43)]);
}

/// Reference EUR ≠ store default USD, a GBP order at 0.79 GBP per USD, EUR listed at 0.92 per
/// USD: 100.00 GBP × 0.92 / 0.79 = 116.45569… → 116.46 EUR; exchange_rate = 0.79 / 0.92 =
/// 0.85869565217… → 0.8586956522 GBP per EUR.
#[test]
fn another_reference_currency_converts_through_both_store_rates() {
    let mut order = eur_guest_order(11);
    order.default_currency_code = "GBP".into();
    order.currency_code = "GBP".into();
    order.store_default_to_transactional_exchange_rate = "0.79".parse().unwrap();
    order.total_inc_tax = "100.00".parse().unwrap();
    let mut context = ctx();
    context.currencies.reference = "EUR".into();
    context.currencies.rates = [("USD", "1"), ("EUR", "0.92"), ("GBP", "0.79")]
        .into_iter()
        .map(|(c, r)| (c.to_owned(), r.parse().unwrap()))
        .collect();
    let commands = purchase_commands(&order, &guest_ids(), &context, Lane::Transactions);
    assert_eq!(
        amounts(
            &commands[0],
            &[
                "total_price",
                "total_price_local_currency",
                "local_currency",
                "reference_currency",
                "exchange_rate"
            ]
        ),
        [
            json!(116.46),
            json!(100.0),
            json!("GBP"),
            json!("EUR"),
            json!(0.8586956522)
        ]
    );
    // Without a rate for the reference currency nothing is sent (ingest withholds the order).
    context.currencies.rates.remove("EUR");
    assert!(purchase_commands(&order, &guest_ids(), &context, Lane::Transactions).is_empty());
    assert!(matches!(
        context.order_currency(&order),
        Err(currency::CurrencyError::NoReferenceRate { .. })
    ));
}

/// Half away from zero: 10.02 GBP at 0.8 GBP per USD = 12.525 → 12.53 (banker's rounding would
/// give 12.52), and -10.02 → -12.53.
#[test]
fn conversion_rounds_half_away_from_zero_to_the_cent() {
    let mut order = eur_guest_order(11);
    order.default_currency_code = "GBP".into();
    order.store_default_to_transactional_exchange_rate = "0.8".parse().unwrap();
    let conversion = ctx().order_currency(&order).unwrap();
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(conversion.reference(d("10.02")), d("12.53"));
    assert_eq!(conversion.reference(d("-10.02")), d("-12.53"));
    assert_eq!(conversion.exchange_rate(), d("0.8"));
    // An order in the reference currency is only rounded; its rate is 1.
    let mut usd = eur_guest_order(11);
    usd.default_currency_code = "USD".into();
    let same = ctx().order_currency(&usd).unwrap();
    assert_eq!(same.reference(d("62.6750")), d("62.68"));
    assert_eq!(same.exchange_rate(), Decimal::ONE);
}

/// A shopper browsing in a display currency (GBP) pays in the store default (USD): the order's
/// `currency_code` is the display one, `default_currency_code` the transactional one, and
/// `local_currency` is the transactional one.
#[test]
fn a_display_currency_is_never_the_local_currency() {
    let mut order = eur_guest_order(11);
    order.currency_code = "GBP".into();
    order.currency_exchange_rate = "0.79".parse().unwrap();
    order.default_currency_code = "USD".into();
    order.store_default_to_transactional_exchange_rate = Decimal::ONE;
    let commands = purchase_commands(&order, &guest_ids(), &ctx(), Lane::Transactions);
    assert_eq!(
        amounts(
            &commands[0],
            &[
                "total_price",
                "total_price_local_currency",
                "local_currency",
                "exchange_rate"
            ]
        ),
        [json!(126.0), json!(126.0), json!("USD"), json!(1.0)]
    );
}

/// An amount edit on a paid EUR order (126.00 → 138.00 EUR at 0.92 EUR per USD): the
/// adjustment carries the change, each side converted then subtracted:
/// 138.00 / 0.92 = 150.00 USD, 126.00 / 0.92 = 136.96 → +13.04 USD; +12.00 EUR local.
#[test]
fn an_amount_edit_is_one_adjustment_with_the_change_in_both_currencies() {
    let before = eur_guest_order(11);
    let mut after = eur_guest_order(2);
    after.total_inc_tax = "138.00".parse().unwrap();
    after.date_modified += chrono::Duration::hours(1);
    let command =
        changes::adjustment_command(&before, &after, &guest_ids(), &ctx(), Lane::Transactions)
            .expect("an adjustment");
    assert_eq!(
        command.fact,
        format!(
            "purchase_adjusted:5021:{}",
            after.date_modified.timestamp_millis()
        )
    );
    let event = data(&command);
    assert_eq!(event["timestamp"], json!(unix_seconds(after.date_modified)));
    assert_eq!(
        amounts(
            &command,
            &[
                "purchase_status",
                "total_price",
                "total_price_local_currency",
                "order_total_price",
                "local_currency"
            ]
        ),
        [
            json!("adjusted"),
            json!(13.04),
            json!(12.0),
            json!(150.0),
            json!("EUR")
        ]
    );
    // A status move alone (11 → 2) is no adjustment and leaves the marketing fields alone.
    let shipped = eur_guest_order(2);
    assert!(changes::adjustment_command(
        &before,
        &shipped,
        &guest_ids(),
        &ctx(),
        Lane::Transactions
    )
    .is_none());
    assert_eq!(
        changes::marketing_fingerprint(&before, &ctx()),
        changes::marketing_fingerprint(&shipped, &ctx())
    );
    assert_ne!(
        changes::marketing_fingerprint(&before, &ctx()),
        changes::marketing_fingerprint(&after, &ctx())
    );
}
