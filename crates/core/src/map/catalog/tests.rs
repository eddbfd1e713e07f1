use super::*;

/// The product of reference bigcommerce.md §10.3 (two variants; one inherits the product's
/// price and has a sale price, the other has its own price), with an image and custom fields.
fn tee() -> Product {
    serde_json::from_value(json!({
        "id": 311, "name": "Organic Tee", "type": "physical", "sku": "TEE-ORG",
        "price": 25.0, "sale_price": 0, "retail_price": 29.0, "calculated_price": 25.0,
        "categories": [23, 41], "brand_id": 7, "inventory_level": 57, "inventory_tracking": "variant",
        "is_visible": true, "availability": "available", "custom_url": {"url": "/organic-tee/"},
        "date_modified": "2025-03-03T14:25:41+00:00", "base_variant_id": null,
        "custom_fields": [{"id": 15, "name": "material", "value": "100% organic cotton"},
                          {"id": 16, "name": "weight_g", "value": "180"},
                          {"id": 17, "name": "tags", "value": "summer, basics ,"}],
        "images": [
            {"url_standard": "https://cdn.example/tee-side.jpg", "is_thumbnail": false},
            {"url_standard": "https://cdn.example/tee.jpg", "is_thumbnail": true}
        ],
        "variants": [
            {"id": 1207, "product_id": 311, "sku": "TEE-ORG-BLU-M", "price": null, "sale_price": 22.0,
             "retail_price": null, "calculated_price": 22.0, "inventory_level": 31,
             "purchasing_disabled": false, "image_url": "",
             "option_values": [
                {"id": 140, "label": "Blue", "option_id": 12, "option_display_name": "Color"},
                {"id": 151, "label": "M", "option_id": 13, "option_display_name": "Size"}]},
            {"id": 1208, "product_id": 311, "sku": "TEE-ORG-BLU-L", "price": 27.0, "sale_price": null,
             "retail_price": 32.0, "calculated_price": 27.0, "inventory_level": 0,
             "purchasing_disabled": true, "image_url": "https://cdn.example/tee-l.jpg",
             "option_values": [
                {"id": 152, "label": "L", "option_id": 13, "option_display_name": "size"}]}
        ]
    }))
    .expect("product fixture parses")
}

fn props(product: &Product, mapping: &CatalogMapping) -> Vec<Map<String, Value>> {
    catalog_items(product, mapping)
        .into_iter()
        .map(|i| i.properties)
        .collect()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn variants_are_items_keyed_by_variant_with_the_parent_as_product_id() {
    let items = catalog_items(&tee(), &CatalogMapping::default());
    let ids: Vec<_> = items.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(ids, ["1207", "1208"]);
    assert!(items.iter().all(|i| !i.item_id.contains('/')));
    assert!(items.iter().all(|i| i.properties["product_id"] == "311"));
    assert_eq!(items[0].fact(), "item:1207");
    let command = items[0].command(&items[0].properties);
    assert_eq!(
        command.destination,
        Destination::CatalogItem {
            item_id: "1207".into()
        }
    );
}

#[test]
fn prices_discount_and_sale_are_worked_out_from_the_regular_price() {
    let p = props(&tee(), &CatalogMapping::default());
    // Variant 1207: price null → the product's 25.00; sale 22.00; MSRP inherited 29.00.
    // Discount from the regular price, not the MSRP: (25 - 22) / 25 = 12.00 %.
    assert_eq!(p[0]["price"], json!(22.0));
    assert_eq!(p[0]["list_price"], json!(25.0));
    assert_eq!(p[0]["msrp"], json!(29.0));
    assert_eq!(p[0]["discount_percentage"], json!(12.0));
    assert_eq!(p[0]["on_sale"], true);
    // Variant 1208: own price 27.00, no sale, own MSRP 32.00.
    assert_eq!(p[1]["price"], json!(27.0));
    assert_eq!(p[1]["list_price"], json!(27.0));
    assert_eq!(p[1]["msrp"], json!(32.0));
    assert_eq!(p[1]["discount_percentage"], json!(0.0));
    assert_eq!(p[1]["on_sale"], false);
    assert!(!p[0].contains_key("original_price"));
}

#[test]
fn discount_is_exact_to_two_places() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    // 1/3 off: 33.333… → 33.33; 2/3 off: 66.666… → 66.67 (half away from zero).
    assert_eq!(discount_percentage(d("30"), d("20")), d("33.33"));
    assert_eq!(discount_percentage(d("30"), d("10")), d("66.67"));
    // 19.99 → 14.99: 5.00 / 19.99 = 25.0125… % → 25.01.
    assert_eq!(discount_percentage(d("19.99"), d("14.99")), d("25.01"));
    assert_eq!(discount_percentage(d("10"), d("10")), Decimal::ZERO);
    assert_eq!(discount_percentage(d("10"), d("12")), Decimal::ZERO);
    assert_eq!(discount_percentage(Decimal::ZERO, d("1")), Decimal::ZERO);
}

#[test]
fn a_missing_calculated_price_falls_back_to_the_sale_price() {
    let mut product = tee();
    product.variants[0].calculated_price = Decimal::ZERO;
    let p = props(&product, &CatalogMapping::default());
    assert_eq!(p[0]["price"], json!(22.0));
    product.variants[0].sale_price = Some(Decimal::ZERO);
    let p = props(&product, &CatalogMapping::default());
    assert_eq!(p[0]["price"], json!(25.0));
    assert_eq!(p[0]["on_sale"], false);
}

#[test]
fn image_falls_back_to_the_products_thumbnail_and_msrp_zero_is_null() {
    let mut product = tee();
    let p = props(&product, &CatalogMapping::default());
    assert_eq!(
        p[0]["image"], "https://cdn.example/tee.jpg",
        "thumbnail first"
    );
    assert_eq!(
        p[1]["image"], "https://cdn.example/tee-l.jpg",
        "variant's own"
    );
    assert_eq!(p[0]["url"], "/organic-tee/");
    product.images.retain(|i| !i.is_thumbnail);
    product.retail_price = Decimal::ZERO;
    let p = props(&product, &CatalogMapping::default());
    assert_eq!(p[0]["image"], "https://cdn.example/tee-side.jpg");
    assert_eq!(p[0]["msrp"], Value::Null);
}

#[test]
fn stock_comes_from_the_tracked_level() {
    let mut product = tee();
    let p = props(&product, &CatalogMapping::default());
    assert_eq!(p[0]["stock_level"], 31);
    assert_eq!(p[0]["in_stock"], true);
    assert_eq!(p[1]["stock_level"], 0);
    assert_eq!(p[1]["in_stock"], false);
    assert_eq!(p[1]["active"], false, "purchasing disabled");
    assert_eq!(p[1]["visible"], true);

    product.inventory_tracking = "product".into();
    product.variants[1].purchasing_disabled = false;
    let p = props(&product, &CatalogMapping::default());
    assert_eq!(
        p[0]["stock_level"], 57,
        "product-tracked: the product's level"
    );
    assert_eq!(p[1]["stock_level"], 57);
    assert_eq!(p[1]["in_stock"], true);

    product.inventory_tracking = "none".into();
    product.variants[0].inventory_level = 0;
    let p = props(&product, &CatalogMapping::default());
    assert_eq!(p[0]["in_stock"], true, "untracked never runs out");

    product.availability = "disabled".into();
    let p = props(&product, &CatalogMapping::default());
    assert_eq!(p[0]["in_stock"], false);
    assert_eq!(p[0]["active"], false);
    assert_eq!(p[0]["availability"], "disabled");
}

#[test]
fn options_are_fields_of_their_own_and_text() {
    let p = props(&tee(), &CatalogMapping::default());
    assert_eq!(p[0]["option_color"], "Blue");
    assert_eq!(p[0]["option_size"], "M");
    assert_eq!(p[0]["variant_options"], "Color: Blue, Size: M");
    // Option names compare without case; an option the variant lacks is null (cleared).
    assert_eq!(p[1]["option_size"], "L");
    assert_eq!(p[1]["option_color"], Value::Null);
}

#[test]
fn custom_fields_follow_the_declarative_mapping() {
    let p = props(&tee(), &CatalogMapping::default());
    assert_eq!(p[0]["material"], "100% organic cotton", "data/catalog.toml");
    assert!(!p[0].contains_key("weight_g"), "not mapped");

    let overrides: CatalogMappingSettings = toml::from_str(
        r#"
        [options]
        colour = ""
        color = "option_colour"
        [custom_fields.material]
        field = ""
        [custom_fields.weight_g]
        field = "weight_grams"
        type = "number"
        [custom_fields.tags]
        field = "tags"
        type = "list"
        searchable = true
        [custom_fields.absent]
        field = "care"
        "#,
    )
    .unwrap();
    let mapping = CatalogMapping::with_overrides(&overrides).unwrap();
    let p = props(&tee(), &mapping);
    assert!(!p[0].contains_key("material"), "dropped by the override");
    assert!(
        !p[0].contains_key("option_color"),
        "replaced by the override"
    );
    assert_eq!(p[0]["option_colour"], "Blue");
    assert_eq!(p[0]["weight_grams"], json!(180.0));
    assert_eq!(p[0]["tags"], json!(["summer", "basics"]));
    assert_eq!(p[0]["care"], Value::Null, "declared, absent on the product");
    let declared = |name: &str| mapping.fields().iter().find(|f| f.name == name).cloned();
    assert_eq!(
        declared("tags"),
        Some(CatalogFieldSpec {
            name: "tags".into(),
            field_type: "list".into(),
            searchable: true
        })
    );
    assert_eq!(declared("weight_grams").unwrap().field_type, "number");
    assert!(declared("material").is_none());
    // Every property an item carries is a declared field (Bloomreach refuses the others).
    for name in p[0].keys() {
        assert!(declared(name).is_some(), "{name} is not declared");
    }
}

#[test]
fn the_default_mapping_is_valid_and_declares_every_property() {
    let mapping = CatalogMapping::with_overrides(&CatalogMappingSettings::default())
        .expect("data/catalog.toml validates");
    assert_eq!(mapping, CatalogMapping::default());
    let names: Vec<_> = mapping.fields().iter().map(|f| f.name.as_str()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "declared once each: {names:?}");
    assert!(
        !names.contains(&"item_id"),
        "item_id is the key, never a field"
    );
    assert!(mapping.fields().iter().filter(|f| f.searchable).count() <= MAX_SEARCHABLE);
    for p in props(&tee(), &mapping) {
        let keys: Vec<_> = p.keys().map(String::as_str).collect();
        let mut declared = names.clone();
        declared.sort_unstable();
        assert_eq!(
            keys, declared,
            "an item carries exactly the declared fields"
        );
    }
}

#[test]
fn validation_lists_every_problem_at_once() {
    let mut settings = CatalogMappingSettings::default();
    settings.options.insert("Fit".into(), "Fit Type".into());
    settings.custom_fields.insert(
        "price_note".into(),
        CustomFieldSettings {
            field: "price".into(),
            field_type: "string".into(),
            searchable: false,
        },
    );
    settings.custom_fields.insert(
        "size_chart".into(),
        CustomFieldSettings {
            field: "size_chart".into(),
            field_type: "table".into(),
            searchable: false,
        },
    );
    settings.custom_fields.insert(
        "colour_name".into(),
        CustomFieldSettings {
            field: "option_color".into(),
            field_type: "string".into(),
            searchable: false,
        },
    );
    for n in 0..12 {
        settings.custom_fields.insert(
            format!("facet{n}"),
            CustomFieldSettings {
                field: format!("facet_{n}"),
                field_type: "string".into(),
                searchable: true,
            },
        );
    }
    let problems = CatalogMapping::with_overrides(&settings).unwrap_err();
    let paths: Vec<_> = problems.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "mapping.catalog.options.Fit",
            "mapping.catalog.custom_fields.colour_name.field",
            "mapping.catalog.custom_fields.price_note.field",
            "mapping.catalog.custom_fields.size_chart.type",
            "mapping.catalog",
        ],
        "{problems:?}"
    );
    assert!(problems[2].1.contains("already a catalog field"));
    assert!(problems[3].1.contains("table"));
    // 9 built-in + 2 option fields + 12 facets.
    assert!(
        problems[4].1.starts_with("23 searchable"),
        "{}",
        problems[4].1
    );
}

#[test]
fn a_first_write_is_the_full_state() {
    let state = object(json!({"price": 22.0, "stock_level": 31, "title": "Tee"}));
    assert_eq!(catalog_delta(&state, None, None), state);
}

#[test]
fn unchanged_fields_are_not_sent() {
    let previous = object(json!({"price": 22.0, "stock_level": 31, "title": "Tee"}));
    let state = object(json!({"price": 22.0, "stock_level": 30, "title": "Tee"}));
    assert_eq!(
        catalog_delta(&state, Some(&previous), None),
        object(json!({"stock_level": 30}))
    );
    // A field the state no longer has (mapping shrank) is not sent.
    let shrunk = object(json!({"price": 22.0, "stock_level": 31}));
    assert!(catalog_delta(&shrunk, Some(&previous), None).is_empty());
}

#[test]
fn a_superseded_delta_is_merged_into_the_new_one() {
    // Delivered: {price 25, stock 31}. Pending (never sent): the price drop {price: 22}.
    // New state: stock 30. The new command supersedes the pending one, so it carries both,
    // with the newest values.
    let pending = object(json!({"price": 22.0}));
    let previous = object(json!({"price": 22.0, "stock_level": 31, "title": "Tee"}));
    let state = object(json!({"price": 22.0, "stock_level": 30, "title": "Tee"}));
    assert_eq!(
        catalog_delta(&state, Some(&previous), Some(&pending)),
        object(json!({"price": 22.0, "stock_level": 30}))
    );
    // The pending delta's value is replaced by the newest one.
    let newer = object(json!({"price": 21.0, "stock_level": 31, "title": "Tee"}));
    assert_eq!(
        catalog_delta(&newer, Some(&previous), Some(&pending)),
        object(json!({"price": 21.0}))
    );
}

#[test]
fn the_content_hash_is_of_the_full_state() {
    let items = catalog_items(&tee(), &CatalogMapping::default());
    let full = items[0].command(&items[0].properties);
    let delta = items[0].command(&object(json!({"stock_level": 31})));
    assert_eq!(full.content_hash, delta.content_hash);
    assert_ne!(full.payload, delta.payload);
    assert_ne!(items[0].content_hash(), items[1].content_hash());
}

#[test]
fn debouncing_defaults_to_thirty_seconds_triggers_are_off_and_both_are_validated() {
    let default = CatalogMapping::default();
    assert_eq!(default.debounce().window_ms, 30_000);
    assert!(!default.triggers());
    assert_eq!(default.trigger_profile(), DEFAULT_TRIGGER_PROFILE);
    let on = CatalogMapping::with_overrides(&CatalogMappingSettings {
        debounce_secs: Some(0),
        triggers: Some(true),
        ..CatalogMappingSettings::default()
    })
    .unwrap();
    assert_eq!(on.debounce().window_ms, 0);
    assert!(on.triggers());
    assert_eq!(
        default.sweep_interval(),
        Some(std::time::Duration::from_secs(DEFAULT_SWEEP_SECS))
    );
    let no_sweep = CatalogMapping::with_overrides(&CatalogMappingSettings {
        sweep_secs: Some(0),
        ..CatalogMappingSettings::default()
    })
    .unwrap();
    assert_eq!(no_sweep.sweep_interval(), None);
    let problems = CatalogMapping::with_overrides(&CatalogMappingSettings {
        debounce_secs: Some(61),
        trigger_profile: Some(" ".into()),
        sweep_secs: Some(60),
        ..CatalogMappingSettings::default()
    })
    .unwrap_err();
    let paths: Vec<_> = problems.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "mapping.catalog.sweep_secs",
            "mapping.catalog.debounce_secs",
            "mapping.catalog.trigger_profile"
        ],
        "{problems:?}"
    );
    assert!(problems[1].1.contains("within a minute"), "{problems:?}");
}
