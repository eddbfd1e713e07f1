//! Which BigCommerce OAuth scopes BigReach needs, and what a 403 from a read means: the scope
//! that is missing and the exact fix (reference bigcommerce.md §1.3). Read-only scopes are
//! enough: BigReach only reads, and webhooks need no scope of their own (`default`).
//!
//! A store-level API account's scopes cannot be changed after it was created, so the fix is
//! always a new API account whose token replaces the old one.

use serde::{Deserialize, Serialize};

/// One OAuth scope BigReach needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The OAuth scope name, e.g. `store_v2_orders_read_only`.
    pub name: &'static str,
    /// The control panel's name of the permission (Settings › Store-level API accounts).
    pub control_panel: &'static str,
    /// What BigReach reads with it.
    pub reads: &'static str,
}

/// Store information, currencies (`/v2/store`, `/v2/currencies`).
pub const INFORMATION: Scope = Scope {
    name: "store_v2_information_read_only",
    control_panel: "Information & settings: read-only",
    reads: "store information and currencies",
};
/// Orders and their refunds (`/v2/orders…`, `/v3/orders/…/refunds`).
pub const ORDERS: Scope = Scope {
    name: "store_v2_orders_read_only",
    control_panel: "Orders: read-only",
    reads: "orders, their products and refunds",
};
/// Customers, groups and attributes (`/v3/customers…`, `/v2/customer_groups`).
pub const CUSTOMERS: Scope = Scope {
    name: "store_v2_customers_read_only",
    control_panel: "Customers: read-only",
    reads: "customers, customer groups and attributes",
};
/// The catalog (`/v3/catalog/…`).
pub const PRODUCTS: Scope = Scope {
    name: "store_v2_products_read_only",
    control_panel: "Products: read-only",
    reads: "products and variants",
};
/// Carts (`/v3/carts/{id}`).
pub const CARTS: Scope = Scope {
    name: "store_cart_read_only",
    control_panel: "Carts: read-only",
    reads: "carts (for cart updates)",
};

/// Every scope BigReach needs.
pub const NEEDED: [Scope; 5] = [INFORMATION, ORDERS, CUSTOMERS, PRODUCTS, CARTS];

/// The scope that governs a read of `path` (relative to the store's API root, e.g.
/// `v2/orders/5` or `/stores/abc/v3/catalog/products`); `None` for a path under the implicit
/// `default` scope (webhooks, `v2/time`) or one BigReach does not read.
pub fn scope_for_path(path: &str) -> Option<Scope> {
    let path = path.trim_start_matches('/');
    // An absolute path names the store first: `stores/{hash}/v2/...`.
    let path = match path.strip_prefix("stores/") {
        Some(rest) => rest.split_once('/').map_or("", |(_, after)| after),
        None => path,
    };
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["v2", "store" | "currencies", ..] => Some(INFORMATION),
        ["v2", "orders", ..] | ["v3", "orders", ..] => Some(ORDERS),
        ["v2", "customers" | "customer_groups", ..] | ["v3", "customers", ..] => Some(CUSTOMERS),
        ["v3", "catalog", ..] => Some(PRODUCTS),
        ["v3", "carts", ..] => Some(CARTS),
        _ => None,
    }
}

/// What an answer to a read says about the scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeFinding {
    /// The read was allowed (any answer but 401 and 403).
    Granted,
    /// 403: the API account lacks this scope.
    Missing(Scope),
    /// 403 on a path no needed scope governs (the reason is not a scope BigReach knows).
    Forbidden,
    /// 401: the token itself was refused.
    Unauthorized,
}

/// What the answer `status` to a read of `path` says about the scopes.
pub fn diagnose(status: u16, path: &str) -> ScopeFinding {
    match status {
        401 => ScopeFinding::Unauthorized,
        403 => scope_for_path(path).map_or(ScopeFinding::Forbidden, ScopeFinding::Missing),
        _ => ScopeFinding::Granted,
    }
}

/// The exact fix for a missing scope.
pub fn missing_scope_fix(scope: Scope) -> String {
    format!(
        "The API account lacks the scope `{name}` (control panel: \"{panel}\"), so BigReach \
         cannot read {reads}. Scopes of an existing store-level API account cannot be changed: \
         in the BigCommerce control panel open Settings › Store-level API accounts, create an \
         account with \"{panel}\" and every other scope BigReach needs ({all}), then put its \
         access token where `bigcommerce.access_token` points and run the preflight again",
        name = scope.name,
        panel = scope.control_panel,
        reads = scope.reads,
        all = NEEDED.map(|s| s.name).join(", "),
    )
}

/// The exact fix for a refused token (401).
pub fn unauthorized_fix() -> String {
    "BigCommerce refused the access token (401): check `bigcommerce.store_hash` and that \
     `bigcommerce.access_token` points at the token of a store-level API account that still \
     exists (deleting the account revokes its token), then run the preflight again"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_read_maps_to_its_scope() {
        assert_eq!(scope_for_path("v2/orders/5"), Some(ORDERS));
        assert_eq!(scope_for_path("v2/orders?limit=1"), Some(ORDERS));
        assert_eq!(
            scope_for_path("/stores/abc123/v3/orders/payment_actions/refunds"),
            Some(ORDERS)
        );
        assert_eq!(scope_for_path("v3/customers"), Some(CUSTOMERS));
        assert_eq!(scope_for_path("v2/customer_groups"), Some(CUSTOMERS));
        assert_eq!(
            scope_for_path("/stores/abc123/v3/catalog/products/7/variants"),
            Some(PRODUCTS)
        );
        assert_eq!(scope_for_path("v2/store"), Some(INFORMATION));
        assert_eq!(scope_for_path("v3/carts/0c1e"), Some(CARTS));
        assert_eq!(scope_for_path("v3/hooks"), None, "webhooks need no scope");
        assert_eq!(scope_for_path("v2/time"), None);
    }

    #[test]
    fn a_403_names_the_missing_scope_and_its_fix() {
        assert_eq!(
            diagnose(403, "/stores/abc123/v3/customers"),
            ScopeFinding::Missing(CUSTOMERS)
        );
        assert_eq!(diagnose(403, "v3/hooks"), ScopeFinding::Forbidden);
        assert_eq!(diagnose(401, "v2/orders"), ScopeFinding::Unauthorized);
        assert_eq!(diagnose(200, "v2/orders"), ScopeFinding::Granted);
        assert_eq!(diagnose(404, "v2/orders/9"), ScopeFinding::Granted);
        let fix = missing_scope_fix(CUSTOMERS);
        assert!(fix.contains("`store_v2_customers_read_only`"), "{fix}");
        assert!(fix.contains("\"Customers: read-only\""), "{fix}");
        assert!(fix.contains("cannot be changed"), "{fix}");
        assert!(fix.contains("bigcommerce.access_token"), "{fix}");
    }
}
