use super::*;
use crate::config::IdNames;
use crate::identity::ResolvedIds;
use crate::map::{purchase_commands, MappingContext, ProfileMapping, PURCHASE_ITEM};
use crate::model::Lane;
use bigreach_bigcommerce::Order;
use serde_json::json;

fn order() -> Order {
    let mut order: Order = serde_json::from_value(json!({
        "id": 5021, "customer_id": 0,
        "date_created": "Mon, 03 Mar 2025 14:22:10 +0000",
        "date_modified": "Mon, 03 Mar 2025 14:25:41 +0000",
        "status_id": 11, "status": "Awaiting Fulfillment", "payment_status": "captured",
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
         "product_options": [{"display_name": "Color", "display_value": "Blue"}]},
        {"id": 9102, "order_id": 5021, "product_id": 415, "variant_id": 1688, "sku": "HOOD-FLC-GRY-L",
         "name": "Fleece, \"Hoodie\"", "brand": "Northwind", "quantity": 1, "base_price": "60.0000",
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

fn id_names() -> Vec<String> {
    let names = IdNames::default();
    vec![names.customer_id, names.email, names.phone]
}

/// Every cell of a row, read back by its column type, is the value the live command carries:
/// the same IDs, timestamp and properties (null and empty text are both empty cells, so absent).
#[test]
fn rows_carry_exactly_what_the_live_mapping_sends() {
    let ids = ResolvedIds::email(&IdNames::default(), "lena.vogel@example.org");
    let commands = purchase_commands(&order(), &ids, &ctx(), Lane::Backfill);
    assert_eq!(commands.len(), 3, "one purchase, two lines");
    for command in &commands {
        let live: Value = serde_json::from_slice(&command.payload).expect("json payload");
        let kind = if live["event_type"] == PURCHASE_ITEM {
            FileKind::PurchaseItems
        } else {
            FileKind::Purchases
        };
        let schema = CsvSchema::events(kind, &id_names());
        let row = schema
            .command_row(command)
            .expect("every property is declared");
        assert_eq!(row.len(), schema.columns.len());
        let back = decode_row(&schema, &row);
        let mut expected = Map::new();
        for (name, value) in live["customer_ids"].as_object().expect("ids") {
            expected.insert(name.clone(), value.clone());
        }
        expected.insert("timestamp".into(), live["timestamp"].clone());
        for (name, value) in live["properties"].as_object().expect("properties") {
            if !value.is_null() && value != &json!("") {
                expected.insert(name.clone(), value.clone());
            }
        }
        assert_eq!(back, expected, "{kind:?}");
    }
}

/// The CSV writer quotes what needs quoting, so a title with a comma and quotes survives.
#[test]
fn csv_text_round_trips_through_the_csv_crate() {
    let ids = ResolvedIds::email(&IdNames::default(), "lena.vogel@example.org");
    let commands = purchase_commands(&order(), &ids, &ctx(), Lane::Backfill);
    let schema = CsvSchema::events(FileKind::PurchaseItems, &id_names());
    let row = schema.command_row(&commands[2]).expect("encodes");
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(schema.header()).expect("header");
    writer.write_record(&row).expect("row");
    let bytes = writer.into_inner().expect("flush");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let read: Vec<String> = reader
        .records()
        .next()
        .expect("one row")
        .expect("parses")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(read, row);
    assert!(read.contains(&"Fleece, \"Hoodie\"".to_owned()));
}

#[test]
fn an_undeclared_property_is_an_error_not_a_dropped_value() {
    let schema = CsvSchema::events(FileKind::Purchases, &id_names());
    let command = NewCommand {
        lane: Lane::Backfill,
        destination: crate::model::Destination::Event,
        fact: "purchase:1".into(),
        content_hash: "once".into(),
        customer_key: None,
        payload: json!({"customer_ids": {}, "timestamp": 1.0, "properties": {"surprise": 1}})
            .to_string()
            .into_bytes(),
        event_time_ms: 0,
    };
    assert_eq!(
        schema.command_row(&command),
        Err(EncodeError::Undeclared {
            kind: FileKind::Purchases,
            name: "surprise".into()
        })
    );
}

#[test]
fn customer_properties_the_schema_does_not_name_go_to_other_properties() {
    let schema = CsvSchema::customers(&id_names(), &ProfileMapping::default(), &[]);
    let command = NewCommand {
        lane: Lane::Backfill,
        destination: crate::model::Destination::CustomerUpdate,
        fact: "customer:7".into(),
        content_hash: "x".into(),
        customer_key: None,
        payload: json!({"customer_ids": {"customer_id": "7"}, "update_timestamp": 1.0,
                        "properties": {"email": "a@example.org", "form_shoe_size": 42}})
        .to_string()
        .into_bytes(),
        event_time_ms: 0,
    };
    let row = schema.command_row(&command).expect("encodes");
    let back = decode_row(&schema, &row);
    assert_eq!(back["email"], "a@example.org");
    assert_eq!(back[OTHER_PROPERTIES], json!({"form_shoe_size": 42}));
}
