//! The Bloomreach Engagement JavaScript SDK file, `GET /js/exponea.min.js`, as the tracking host
//! serves it to browsers: public (no credentials), cross-origin readable, fixed bytes
//! ([`SDK_FILE`]), so a storefront's `integrity` attribute can be checked against it. The real
//! file is served unversioned and changes in place (reference bloomreach.md §8.2); the twin's
//! never does.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;

/// The path browsers load the SDK from.
pub const SDK_PATH: &str = "/js/exponea.min.js";

/// The twin's SDK file (a stand-in: it defines the `exponea` stub and queues calls).
pub const SDK_FILE: &[u8] =
    b"/*! BigReach twin: Bloomreach Engagement JavaScript SDK stand-in (fixed bytes) */\n\
!function(w){var q=[];w.exponea=w.exponea||{start:function(c){q.push([\"start\",c])},\
track:function(e,p){q.push([\"track\",e,p])},identify:function(i){q.push([\"identify\",i])},\
_queue:q}}(window);\n";

/// The answer to a request for `path`, when it is the SDK file's.
pub(crate) fn serve(method: &Method, path: &str) -> Option<Response<Full<Bytes>>> {
    if path != SDK_PATH {
        return None;
    }
    let mut response = if *method == Method::GET || *method == Method::HEAD {
        Response::new(Full::new(Bytes::from_static(SDK_FILE)))
    } else {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript"),
    );
    headers.insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Some(response)
}
