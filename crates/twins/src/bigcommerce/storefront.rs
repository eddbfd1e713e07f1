//! The twin's storefront and the API account's scopes, both switchable at run time.
//!
//! - `GET /storefront/` (any path below it) serves a Stencil-like page: its
//!   `Content-Security-Policy` header, its `<meta http-equiv="Content-Security-Policy">`, the
//!   Bloomreach SDK snippet (a `<script src>` or an inline bootstrap) and the snippet's
//!   `integrity`, `crossorigin` and `nonce` come from [`StorefrontSettings`], set with
//!   `PUT /_twin/storefront`. `GET /v2/store`'s `secure_url` points here.
//! - `PUT /_twin/scopes` with [`ScopeSettings`] sets the OAuth scopes the API account was
//!   granted; a request a missing scope governs answers 403 as BigCommerce does ("You don't have
//!   a required scope to access the endpoint"). Until set, every scope is granted. Read-only
//!   scopes allow GET and HEAD; the modify scope (the name without `_read_only`) allows all.
//!   Webhooks (`/v3/hooks`) and `/v2/time` need no scope (`default`).

use std::collections::BTreeSet;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

/// What the storefront page carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorefrontSettings {
    /// The `Content-Security-Policy` response header (none when `None`).
    pub csp_header: Option<String>,
    /// The content of a `<meta http-equiv="Content-Security-Policy">` (none when `None`).
    pub meta_csp: Option<String>,
    /// Whether the page carries the Bloomreach snippet at all.
    pub snippet: bool,
    /// The SDK `<script src>`; `None` puts the inline bootstrap (which loads
    /// `https://api.exponea.com/js/exponea.min.js`) on the page instead.
    pub sdk_src: Option<String>,
    /// The snippet's `integrity` attribute.
    pub integrity: Option<String>,
    /// The snippet's `crossorigin` attribute.
    pub crossorigin: Option<String>,
    /// The snippet's `nonce` attribute.
    pub nonce: Option<String>,
}

impl Default for StorefrontSettings {
    fn default() -> Self {
        Self {
            csp_header: None,
            meta_csp: None,
            snippet: true,
            sdk_src: None,
            integrity: None,
            crossorigin: None,
            nonce: None,
        }
    }
}

/// The scopes the API account was granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSettings {
    /// The granted OAuth scope names (e.g. `store_v2_orders_read_only`); `None` grants all.
    pub granted: Option<BTreeSet<String>>,
}

fn attribute(name: &str, value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| format!(" {name}=\"{}\"", escape(v)))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The storefront page's HTML for `settings`.
fn html(settings: &StorefrontSettings) -> String {
    let meta = settings
        .meta_csp
        .as_deref()
        .map_or_else(String::new, |csp| {
            format!(
                "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n",
                escape(csp)
            )
        });
    let extras = format!(
        "{}{}{}",
        attribute("integrity", settings.integrity.as_deref()),
        attribute("crossorigin", settings.crossorigin.as_deref()),
        attribute("nonce", settings.nonce.as_deref()),
    );
    let snippet = match (&settings.snippet, &settings.sdk_src) {
        (false, _) => String::new(),
        (true, Some(src)) => format!("<script src=\"{}\"{extras}></script>\n", escape(src)),
        (true, None) => format!(
            "<script{extras}>!function(e,n,t){{var s=n.createElement(\"script\");\
             s.src=t+\"/js/exponea.min.js\";n.head.appendChild(s)}}(window,document,\
             \"https://api.exponea.com\");</script>\n"
        ),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n{meta}\
         <title>BigReach Twin Store</title>\n<link rel=\"stylesheet\" href=\"/storefront/theme.css\">\n\
         {snippet}</head>\n<body>\n<h1>BigReach Twin Store</h1>\n<p>Stencil storefront \
         (twin).</p>\n</body>\n</html>\n"
    )
}

/// The storefront page for `settings`.
pub(crate) fn page(settings: &StorefrontSettings) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(html(settings))));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Some(csp) = &settings.csp_header {
        if let Ok(value) = HeaderValue::from_str(csp) {
            headers.insert("content-security-policy", value);
        }
    }
    response
}

/// The scope (read-only form) that governs `rest` (the path after `/stores/{hash}/`), or
/// `None` for the `default` scope.
pub(crate) fn scope_for(rest: &[&str]) -> Option<&'static str> {
    match rest {
        ["v2", "store" | "currencies", ..] | ["v3", "abandoned-carts", ..] => {
            Some("store_v2_information_read_only")
        }
        ["v2", "orders" | "order_statuses", ..] | ["v3", "orders", ..] => {
            Some("store_v2_orders_read_only")
        }
        ["v2", "customers" | "customer_groups", ..] | ["v3", "customers", ..] => {
            Some("store_v2_customers_read_only")
        }
        ["v3", "catalog", ..] => Some("store_v2_products_read_only"),
        ["v3", "inventory", ..] => Some("store_inventory_read_only"),
        ["v3", "carts", ..] => Some("store_cart_read_only"),
        _ => None,
    }
}

/// Whether `granted` allows `method` on `rest`.
pub(crate) fn allowed(granted: &BTreeSet<String>, method: &Method, rest: &[&str]) -> bool {
    let Some(read_only) = scope_for(rest) else {
        return true;
    };
    let modify = read_only.trim_end_matches("_read_only");
    let reading = *method == Method::GET || *method == Method::HEAD;
    granted.contains(modify) || (reading && granted.contains(read_only))
}

/// BigCommerce's answer to a request without its scope (the title it documents for 403).
pub(crate) const MISSING_SCOPE: &str = "You don't have a required scope to access the endpoint";

/// Status code of a missing scope.
pub(crate) const MISSING_SCOPE_STATUS: StatusCode = StatusCode::FORBIDDEN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_govern_their_paths_and_read_only_allows_reads_only() {
        let granted: BTreeSet<String> = ["store_v2_orders_read_only".to_owned()].into();
        assert!(allowed(&granted, &Method::GET, &["v2", "orders", "5"]));
        assert!(!allowed(&granted, &Method::PUT, &["v2", "orders", "5"]));
        assert!(!allowed(&granted, &Method::GET, &["v3", "customers"]));
        assert!(allowed(&granted, &Method::GET, &["v3", "hooks"]));
        assert!(allowed(&granted, &Method::POST, &["v3", "hooks"]));
        let modify: BTreeSet<String> = ["store_v2_products".to_owned()].into();
        assert!(allowed(
            &modify,
            &Method::PUT,
            &["v3", "catalog", "products", "1"]
        ));
    }

    #[test]
    fn the_page_carries_what_the_settings_say() {
        let settings = StorefrontSettings {
            csp_header: Some("script-src 'self'".into()),
            meta_csp: Some("connect-src 'self'".into()),
            snippet: true,
            sdk_src: Some("http://127.0.0.1:9/js/exponea.min.js".into()),
            integrity: Some("sha384-abc".into()),
            crossorigin: Some("anonymous".into()),
            nonce: None,
        };
        let response = page(&settings);
        assert_eq!(
            response.headers()["content-security-policy"],
            "script-src 'self'"
        );
        let body = html(&settings);
        assert!(body.contains("content=\"connect-src 'self'\""), "{body}");
        assert!(body.contains(
            "<script src=\"http://127.0.0.1:9/js/exponea.min.js\" integrity=\"sha384-abc\" crossorigin=\"anonymous\">"
        ));
        let none = page(&StorefrontSettings {
            snippet: false,
            ..StorefrontSettings::default()
        });
        assert!(none.headers().get("content-security-policy").is_none());
    }
}
