//! The loopback hardening in front of every route, in this order:
//!
//! 1. **`Host` allowlist** (against DNS rebinding): the `Host` header (and an absolute-form
//!    request target) must name the listener's own port on a loopback name: `127.0.0.1:PORT`,
//!    `localhost:PORT`, `[::1]:PORT` or the bound address. Anything else is 403, before routing,
//!    for the UI's files too.
//! 2. For `/api/*` and `/metrics`:
//!    - **`Origin`**: when present it must be `http://` and an allowed host (403 otherwise;
//!      `null` too). **`Sec-Fetch-Site`**: when present it must be `same-origin` or `none`
//!      (403 for `cross-site` and `same-site`: another port on localhost is same-site).
//!    - **the token** (401 without it, compared in constant time).
//!    - **writes** (any method but GET, HEAD, OPTIONS) need `Content-Type: application/json`
//!      (415), even with an empty body, so no HTML form and no "simple" cross-site request
//!      can reach one.
//!
//!    The rule for a request without `Origin` (the CLI and scripts are not browsers and send
//!    none): it is allowed when it carries the bearer token and no browser marker says it is
//!    cross-site (`Sec-Fetch-Site` absent, `same-origin` or `none`). A browser always sends
//!    `Origin` on a write, so a write from a page on another origin is refused twice: by its
//!    `Origin` and, since no CORS header is ever sent, by the browser before it can add the
//!    token.
//! 3. **Headers on every answer** (the 403s too): a strict `Content-Security-Policy` without
//!    `unsafe-inline` ([`CSP`]), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//!    no-referrer`, `X-Frame-Options: DENY`, `Cross-Origin-Opener-Policy` and
//!    `Cross-Origin-Resource-Policy: same-origin`, and `Cache-Control: no-store` for API
//!    answers that set no cache policy of their own.
//!
//! The 403 and 415 answers are the API's `{code, message}` errors with codes `unauthorized`
//! and `bad_request` (the app API has no code of its own for them), with the HTTP status that
//! says which.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bigreach_core::app::{AppError, Code};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The Content-Security-Policy of every answer: only this origin's scripts, styles, images
/// (and `data:` images), and connections; no framing, no `<base>`, no inline code.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What the guard checks requests against.
#[derive(Debug)]
pub struct Guard {
    /// Allowed `Host` values, lowercase (`127.0.0.1:PORT`, …).
    hosts: Vec<String>,
    /// SHA-256 of `Bearer <token>`.
    token_digest: [u8; 32],
}

impl Guard {
    /// The guard of a listener bound at `address` with the per-install `token`.
    pub fn new(address: SocketAddr, token: &str) -> Self {
        let port = address.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            // `SocketAddr` writes an IPv6 address in brackets, as `Host` does.
            address.to_string(),
        ];
        if port == 80 {
            // Browsers leave the default port out.
            hosts.extend(["127.0.0.1", "localhost", "[::1]"].map(str::to_owned));
            hosts.push(address.ip().to_string());
        }
        hosts.sort();
        hosts.dedup();
        Guard {
            hosts,
            token_digest: Sha256::digest(format!("Bearer {token}").as_bytes()).into(),
        }
    }

    /// The allowed `Host` values.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        origin
            .to_ascii_lowercase()
            .strip_prefix("http://")
            .is_some_and(|host| self.hosts.iter().any(|allowed| allowed == host))
    }

    fn token_matches(&self, headers: &HeaderMap) -> bool {
        let presented = headers
            .get(header::AUTHORIZATION)
            .map(|v| Sha256::digest(v.as_bytes()))
            .unwrap_or_default();
        bool::from(presented.as_slice().ct_eq(self.token_digest.as_slice()))
    }

    /// Why `request` is refused, if it is.
    fn refusal(&self, request: &Request) -> Option<(StatusCode, AppError)> {
        let forbidden = |message: String| {
            Some((
                StatusCode::FORBIDDEN,
                AppError::new(Code::Unauthorized, message),
            ))
        };
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        let authority = request.uri().authority().map(|a| a.as_str());
        match (host, authority) {
            (None, None) => return forbidden("send a Host header naming this listener".to_owned()),
            (Some(name), _) | (None, Some(name)) if !self.host_allowed(name) => {
                return forbidden(format!(
                    "Host \"{}\" is not this appliance's loopback address; open it as http://{}/",
                    crate::log_safe::log_safe(name),
                    self.hosts.first().map_or("127.0.0.1", String::as_str)
                ))
            }
            _ => {}
        }
        if let (Some(_), Some(name)) = (host, authority) {
            if !self.host_allowed(name) {
                return forbidden("the request target names another host".to_owned());
            }
        }
        if !protected(request.uri().path()) {
            return None;
        }
        let headers = request.headers();
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !self.origin_allowed(origin) {
                return forbidden(format!(
                    "requests from the page at \"{}\" are refused: the local API answers only its own pages",
                    crate::log_safe::log_safe(origin)
                ));
            }
        }
        if let Some(site) = headers.get(SEC_FETCH_SITE) {
            let site = site.to_str().unwrap_or("");
            if !matches!(site, "same-origin" | "none") {
                return forbidden(format!(
                    "a {} request is refused: the local API answers only its own pages",
                    crate::log_safe::log_safe(site)
                ));
            }
        }
        if !self.token_matches(headers) {
            return Some((
                StatusCode::UNAUTHORIZED,
                AppError::new(
                    Code::Unauthorized,
                    "send Authorization: Bearer <token from data_dir/api-token>",
                ),
            ));
        }
        if is_write(request.method()) && !is_json(headers) {
            return Some((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                AppError::new(
                    Code::BadRequest,
                    "send writes with Content-Type: application/json (an empty body is fine where the path says it all)",
                ),
            ));
        }
        None
    }
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Whether `path` is the API's (token, origin and content-type checks) rather than the UI's.
pub fn protected(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path == "/metrics"
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The middleware: refuses what [`Guard`] refuses, runs the rest, and sets the security
/// headers on every answer.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let api = protected(request.uri().path());
    let mut response = match guard.refusal(&request) {
        Some((status, error)) => (status, Json(error)).into_response(),
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(SocketAddr::from(([127, 0, 0, 1], 4321)), "t0ken")
    }

    fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = axum::http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    fn status(request: &Request) -> Option<u16> {
        guard().refusal(request).map(|(status, _)| status.as_u16())
    }

    const TOKEN: (&str, &str) = ("authorization", "Bearer t0ken");
    const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");

    #[test]
    fn only_loopback_names_of_this_port_are_hosts() {
        for host in ["127.0.0.1:4321", "LOCALHOST:4321", "[::1]:4321"] {
            assert_eq!(status(&request(Method::GET, "/", &[("host", host)])), None);
        }
        for host in [
            "evil.example",
            "127.0.0.1:80",
            "localhost",
            "127.0.0.1:43210",
        ] {
            assert_eq!(
                status(&request(Method::GET, "/", &[("host", host)])),
                Some(403),
                "{host}"
            );
        }
        assert_eq!(status(&request(Method::GET, "/", &[])), Some(403));
        // An absolute-form target must agree with the allowlist too.
        assert_eq!(
            status(&request(
                Method::GET,
                "http://evil.example/",
                &[("host", "127.0.0.1:4321")]
            )),
            Some(403)
        );
    }

    #[test]
    fn the_api_checks_origin_fetch_site_token_and_json_writes() {
        let host = ("host", "127.0.0.1:4321");
        let call = |headers: &[(&str, &str)]| status(&request(Method::POST, "/api/call", headers));
        assert_eq!(call(&[host, TOKEN, JSON]), None, "the CLI: no Origin");
        assert_eq!(
            call(&[host, TOKEN, JSON, ("origin", "http://localhost:4321")]),
            None
        );
        assert_eq!(
            call(&[host, TOKEN, JSON, ("sec-fetch-site", "same-origin")]),
            None
        );
        assert_eq!(
            call(&[host, TOKEN, JSON, ("origin", "http://evil.example")]),
            Some(403)
        );
        assert_eq!(call(&[host, TOKEN, JSON, ("origin", "null")]), Some(403));
        assert_eq!(
            call(&[host, TOKEN, JSON, ("origin", "https://127.0.0.1:4321")]),
            Some(403)
        );
        assert_eq!(
            call(&[host, TOKEN, JSON, ("sec-fetch-site", "cross-site")]),
            Some(403)
        );
        assert_eq!(
            call(&[host, TOKEN, JSON, ("sec-fetch-site", "same-site")]),
            Some(403)
        );
        assert_eq!(call(&[host, JSON]), Some(401));
        assert_eq!(call(&[host, TOKEN]), Some(415));
        assert_eq!(
            call(&[host, TOKEN, ("content-type", "text/plain")]),
            Some(415)
        );
        // Reads need no content type; the UI's files need no token.
        assert_eq!(
            status(&request(Method::GET, "/api/status", &[host, TOKEN])),
            None
        );
        assert_eq!(
            status(&request(Method::GET, "/metrics", &[host])),
            Some(401)
        );
        assert_eq!(status(&request(Method::GET, "/wizard", &[host])), None);
    }
}
