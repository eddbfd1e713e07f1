use super::*;
use serde_json::json;

/// A v2 order created at `created` (RFC 2822), paid in `currency`, for `total` incl. tax.
fn order(id: u64, created: &str, currency: &str, total: &str, status_id: u32) -> Order {
    serde_json::from_value(json!({
        "id": id, "customer_id": 0,
        "date_created": created, "date_modified": created,
        "status_id": status_id, "status": "", "payment_status": "captured",
        "payment_method": "Credit Card",
        "subtotal_ex_tax": total, "subtotal_inc_tax": total,
        "total_ex_tax": total, "total_inc_tax": total, "total_tax": "1.50",
        "shipping_cost_ex_tax": "4.00", "shipping_cost_inc_tax": "5.00",
        "discount_amount": "2.00", "coupon_discount": "0.50", "items_total": 1,
        "currency_code": currency, "currency_exchange_rate": "1",
        "default_currency_code": currency, "store_default_currency_code": "USD",
        "store_default_to_transactional_exchange_rate": "1",
        "billing_address": {"email": "a@example.org"},
        "is_email_opt_in": false, "channel_id": 1, "order_source": "www", "customer_locale": "en",
        "is_deleted": false
    }))
    .expect("order fixture parses")
}

/// An acknowledged purchase event, as the ledger holds its batch `data`.
fn ack(
    command_id: u64,
    order_id: u64,
    status: &str,
    amount: &str,
    currency: &str,
    at: &str,
) -> DeliveredPurchase {
    let timestamp = DateTime::parse_from_rfc3339(at).unwrap().timestamp() as f64;
    let payload = json!({
        "customer_ids": {"registered": "a@example.org"},
        "event_type": "purchase",
        "timestamp": timestamp,
        "properties": {
            "purchase_id": order_id, "purchase_status": status,
            "total_price": amount.parse::<f64>().unwrap() * 10.0,
            "total_price_local_currency": amount.parse::<f64>().unwrap(),
            "local_currency": currency
        }
    });
    DeliveredPurchase::from_event(command_id, &serde_json::to_vec(&payload).unwrap())
        .expect("a purchase")
}

fn names() -> StatusNames {
    StatusNames {
        success: "success".into(),
        refund: "refund".into(),
        cancelled: "cancelled".into(),
        adjusted: "adjusted".into(),
    }
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn range(from: &str, to: &str) -> DayRange {
    DayRange::new(day(from), day(to)).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[test]
fn each_paid_order_is_matched_missing_extra_duplicate_or_mismatched_per_day_and_currency() {
    let side = BigCommerceSide {
        orders: vec![
            order(1, "Mon, 02 Mar 2026 10:00:00 +0000", "USD", "10.10", 11),
            order(2, "Mon, 02 Mar 2026 11:00:00 +0000", "USD", "20.20", 11),
            order(3, "Mon, 02 Mar 2026 12:00:00 +0000", "EUR", "30.30", 11),
            order(4, "Tue, 03 Mar 2026 09:00:00 +0000", "EUR", "40.40", 11),
            // Awaiting Payment: not a sale, on either side.
            order(5, "Tue, 03 Mar 2026 09:30:00 +0000", "EUR", "50.50", 7),
        ],
        refunds: vec![],
    };
    let delivered = vec![
        ack(11, 1, "success", "10.10", "USD", "2026-03-02T10:00:00Z"),
        // 2 is missing.
        ack(13, 3, "success", "30.30", "EUR", "2026-03-02T12:00:00Z"),
        ack(14, 3, "success", "30.30", "EUR", "2026-03-02T12:00:00Z"),
        ack(15, 4, "success", "40.00", "EUR", "2026-03-03T09:00:00Z"),
        ack(16, 5, "success", "50.50", "EUR", "2026-03-03T09:30:00Z"),
    ];
    let out = compare(
        range("2026-03-02", "2026-03-03"),
        Tz::UTC,
        &OrderMapping::default(),
        &names(),
        &side,
        &delivered,
        now(),
    );
    let classes: Vec<(u64, Class)> = out.findings.iter().map(|f| (f.order_id, f.class)).collect();
    assert_eq!(
        classes,
        vec![
            (2, Class::Missing),
            (3, Class::Duplicate),
            (4, Class::AmountMismatch),
            (5, Class::Extra),
        ]
    );
    assert!(!out.balanced);
    // The unpaid order is counted as left out, on its day.
    assert_eq!(out.rows[2].bigcommerce_unpaid, 1);
    let detail = String::from_utf8(findings_csv(&out).unwrap()).unwrap();
    let detail: Vec<&str> = detail.lines().collect();
    assert_eq!(detail[0], FINDINGS_COLUMNS.join(","));
    assert_eq!(detail[1], "2026-03-02,USD,sale,missing,2,,20.20,,0,");
    assert_eq!(detail[4], "2026-03-03,EUR,sale,extra,5,,,50.50,1,");
    let keys: Vec<(String, String)> = out
        .rows
        .iter()
        .map(|r| (r.day.unwrap().to_string(), r.currency.clone()))
        .collect();
    assert_eq!(
        keys,
        [
            ("2026-03-02", "EUR"),
            ("2026-03-02", "USD"),
            ("2026-03-03", "EUR")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let usd = &out.rows[1];
    assert_eq!((usd.bigcommerce_orders, usd.bloomreach_orders), (2, 1));
    assert_eq!(usd.bigcommerce_gross, d("30.30"));
    assert_eq!(usd.bloomreach_gross, d("10.10"));
    assert_eq!(usd.difference, d("20.20"));
    assert_eq!(usd.bigcommerce_discounts, d("5.00"));
    assert_eq!(usd.bigcommerce_tax, d("3.00"));
    assert_eq!(usd.bigcommerce_shipping, d("10.00"));
    assert_eq!((usd.matched, usd.missing), (1, 1));
    // The duplicate counts once on Bloomreach's side: the difference is the class, not the sum.
    let eur2 = &out.rows[0];
    assert_eq!((eur2.duplicate, eur2.bloomreach_gross), (1, d("30.30")));
    let eur3 = &out.rows[2];
    assert_eq!((eur3.amount_mismatch, eur3.extra), (1, 1));
    assert_eq!(eur3.bigcommerce_gross, d("40.40"));
    assert_eq!(eur3.bloomreach_gross, d("90.50"));
    // Totals per currency over the range.
    let totals: Vec<(String, Decimal, Decimal)> = out
        .totals
        .iter()
        .map(|t| (t.currency.clone(), t.bigcommerce_net, t.bloomreach_net))
        .collect();
    assert_eq!(
        totals,
        vec![
            ("EUR".to_owned(), d("70.70"), d("120.80")),
            ("USD".to_owned(), d("30.30"), d("10.10")),
        ]
    );
}

#[test]
fn a_complete_ledger_balances_and_sums_exactly_to_the_cent() {
    // 0.10 + 0.20 in f64 is 0.30000000000000004; decimals must not drift.
    let side = BigCommerceSide {
        orders: vec![
            order(1, "Mon, 02 Mar 2026 10:00:00 +0000", "USD", "0.10", 10),
            order(2, "Mon, 02 Mar 2026 11:00:00 +0000", "USD", "0.20", 2),
        ],
        refunds: vec![],
    };
    let delivered = vec![
        ack(1, 1, "success", "0.10", "USD", "2026-03-02T10:00:00Z"),
        ack(2, 2, "success", "0.20", "USD", "2026-03-02T11:00:00Z"),
    ];
    let out = compare(
        range("2026-03-02", "2026-03-02"),
        Tz::UTC,
        &OrderMapping::default(),
        &names(),
        &side,
        &delivered,
        now(),
    );
    assert!(out.balanced, "{out:#?}");
    assert!(out.findings.is_empty());
    assert_eq!(out.rows[0].bloomreach_net, d("0.30"));
    let csv = String::from_utf8(to_csv(&out).unwrap()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], CSV_COLUMNS.join(","));
    assert_eq!(
        lines[1],
        "2026-03-02,UTC,USD,2,0.30,5.00,3.00,10.00,0.00,0.30,0,0,2,0.30,0.00,0.30,0,2,0,0,0,0,0.00,yes,2026-03-10T00:00:00Z"
    );
    assert!(
        lines[2].starts_with("total,UTC,USD,2,0.30,"),
        "{}",
        lines[2]
    );
    assert_eq!(lines.len(), 3);
}

#[test]
fn days_are_the_store_time_zones_and_refunds_count_on_the_day_they_are_processed() {
    let zone = store_zone("America/Chicago");
    // 03:00 UTC on 3 March is 21:00 on 2 March in Chicago (UTC−6).
    let side = BigCommerceSide {
        orders: vec![order(
            7,
            "Tue, 03 Mar 2026 03:00:00 +0000",
            "USD",
            "100.00",
            14,
        )],
        refunds: vec![
            SourceRefund {
                id: 70,
                order_id: 7,
                created: "2026-03-04T15:00:00Z".parse().unwrap(),
                amount: d("25.00"),
            },
            // Outside the range: not counted.
            SourceRefund {
                id: 71,
                order_id: 7,
                created: "2026-03-09T15:00:00Z".parse().unwrap(),
                amount: d("5.00"),
            },
        ],
    };
    let mut refund = ack(21, 7, "refund", "25.00", "USD", "2026-03-04T15:00:00Z");
    refund.refund_id = Some(70);
    let delivered = vec![
        ack(20, 7, "success", "100.00", "USD", "2026-03-03T03:00:00Z"),
        refund,
    ];
    let out = compare(
        range("2026-03-02", "2026-03-04"),
        zone,
        &OrderMapping::default(),
        &names(),
        &side,
        &delivered,
        now(),
    );
    assert!(out.balanced, "{out:#?}");
    let days: Vec<(String, Decimal, Decimal)> = out
        .rows
        .iter()
        .map(|r| {
            (
                r.day.unwrap().to_string(),
                r.bigcommerce_gross,
                r.bigcommerce_refunds,
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-03-02".to_owned(), d("100.00"), d("0")),
            ("2026-03-04".to_owned(), d("0"), d("25.00")),
        ]
    );
    assert_eq!(out.totals[0].bigcommerce_net, d("75.00"));
    assert_eq!(out.time_zone, "America/Chicago");

    // Without the refund event, the refund is missing.
    let out = compare(
        range("2026-03-02", "2026-03-04"),
        zone,
        &OrderMapping::default(),
        &names(),
        &side,
        &delivered[..1],
        now(),
    );
    assert_eq!(out.findings.len(), 1);
    assert_eq!(
        (
            out.findings[0].subject,
            out.findings[0].class,
            out.findings[0].refund_id
        ),
        (Subject::Refund, Class::Missing, Some(70))
    );
}

#[test]
fn ranges_are_checked() {
    assert!(matches!(
        DayRange::new(day("2026-03-02"), day("2026-03-01")),
        Err(RangeError::Backwards { .. })
    ));
    assert!(matches!(
        DayRange::new(day("2024-01-01"), day("2026-01-01")),
        Err(RangeError::TooLong { .. })
    ));
    let r = range("2026-03-08", "2026-03-08");
    // The day US daylight saving starts is 23 hours long in Chicago.
    let (start, end) = r.bounds(store_zone("America/Chicago"));
    assert_eq!((end - start).num_hours(), 23);
    assert_eq!(start.to_rfc3339(), "2026-03-08T06:00:00+00:00");
}

#[test]
fn only_purchase_events_are_read_from_the_ledger_and_amounts_keep_their_digits() {
    let view =
        json!({"event_type": "view_item", "timestamp": 1.0, "properties": {"purchase_id": 1}});
    assert!(DeliveredPurchase::from_event(1, &serde_json::to_vec(&view).unwrap()).is_none());
    let p = ack(1, 9, "success", "1234567.89", "GBP", "2026-03-02T10:00:00Z");
    assert_eq!(p.amount, d("1234567.89"));
    assert_eq!((p.order_id, p.currency.as_str()), (9, "GBP"));
}

#[test]
fn an_amount_edit_counts_with_its_sale_on_bloomreachs_side() {
    // The merchant edited a paid order from 10.00 to 12.50: the sale said 10.00, the adjustment
    // +2.50; Bloomreach's side is 12.50, matched.
    let side = BigCommerceSide {
        orders: vec![order(
            1,
            "Mon, 02 Mar 2026 10:00:00 +0000",
            "USD",
            "12.50",
            11,
        )],
        refunds: vec![],
    };
    let delivered = vec![
        ack(1, 1, "success", "10.00", "USD", "2026-03-02T10:00:00Z"),
        ack(2, 1, "adjusted", "2.50", "USD", "2026-03-02T15:00:00Z"),
    ];
    let out = compare(
        range("2026-03-02", "2026-03-02"),
        Tz::UTC,
        &OrderMapping::default(),
        &names(),
        &side,
        &delivered,
        now(),
    );
    assert!(out.balanced, "{out:#?}");
    assert_eq!(out.rows[0].bloomreach_gross, d("12.50"));
    // Without the adjustment it is a mismatch, with both amounts shown.
    let out = compare(
        range("2026-03-02", "2026-03-02"),
        Tz::UTC,
        &OrderMapping::default(),
        &names(),
        &side,
        &delivered[..1],
        now(),
    );
    assert_eq!(out.findings[0].class, Class::AmountMismatch);
    assert_eq!(
        (
            out.findings[0].bigcommerce_amount,
            out.findings[0].bloomreach_amount
        ),
        (Some(d("12.50")), Some(d("10.00")))
    );
}
