//! Decoding of BigCommerce REST responses (`bigreach_bigcommerce::decode`): the first byte picks
//! the endpoint, the second the status (200 or 204), the rest is the body. Every decoded value
//! must survive serializing and decoding again unchanged.
#![no_main]

use std::fmt::Debug;

use bigreach_bigcommerce::decode;
use bigreach_bigcommerce::{
    Cart, Currency, Customer, CustomerGroup, Hook, Order, OrderProduct, Product, StoreInformation,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `value` serialized and decoded again is `value`.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let bytes = serde_json::to_vec(value).expect("a decoded value serializes");
    let again: T = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        panic!(
            "{value:?} serialized as {} does not decode again: {error}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(&again, value, "changed by a round trip");
}

fn all<T: Serialize + DeserializeOwned + PartialEq + Debug>(values: &[T]) {
    values.iter().for_each(round_trip);
}

fuzz_target!(|input: &[u8]| {
    let [endpoint, status, body @ ..] = input else {
        return;
    };
    let status = if status % 8 == 0 { 204 } else { 200 };
    match endpoint % 11 {
        0 => {
            if let Ok(store) = decode::store_information(body) {
                round_trip::<StoreInformation>(&store);
            }
        }
        1 => {
            if let Ok(currencies) = decode::currencies(status, body) {
                all::<Currency>(&currencies);
            }
        }
        2 => {
            if let Ok(groups) = decode::customer_groups(status, body) {
                all::<CustomerGroup>(&groups);
            }
        }
        3 => {
            if let Ok(Some(decoded)) = decode::order(body) {
                if decoded.line_items_complete {
                    let quantity: u64 = decoded
                        .order
                        .line_items
                        .iter()
                        .map(|item| u64::from(item.quantity))
                        .sum();
                    assert_eq!(quantity, u64::from(decoded.order.items_total));
                }
                round_trip::<Order>(&decoded.order);
            }
        }
        4 => {
            if let Ok(orders) = decode::order_page(status, body) {
                for decoded in &orders {
                    round_trip::<Order>(&decoded.order);
                }
            }
        }
        5 => {
            if let Ok(items) = decode::order_products(status, body) {
                all::<OrderProduct>(&items);
            }
        }
        6 => {
            if let Ok(page) = decode::customers_page(status, body, 1) {
                if status == 204 {
                    assert!(page.items.is_empty() && !page.has_next());
                }
                all::<Customer>(&page.items);
            }
        }
        7 => {
            if let Ok(page) = decode::products_page(status, body, 1) {
                all::<Product>(&page.items);
            }
        }
        8 => {
            if let Ok(cart) = decode::cart(body) {
                round_trip::<Cart>(&cart);
            }
        }
        9 => {
            if let Ok(page) = decode::hooks_page(status, body, 2) {
                all::<Hook>(&page.items);
            }
        }
        _ => {
            let shown = decode::error_excerpt(body);
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
            assert!(shown.chars().count() <= decode::ERROR_EXCERPT_CHARS + 1);
        }
    }
});
