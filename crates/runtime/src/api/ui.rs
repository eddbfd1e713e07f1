//! The built UI (`ui/dist`, `bash scripts/ui.sh build`) on the local API's listener.
//!
//! [`BuiltUi`] embeds the folder with rust-embed: release builds carry the files in the binary
//! (`build.rs` makes cargo rebuild when `ui/dist` changes), debug builds read them from disk.
//! The folder may be absent, then the crate still builds and `/` answers 503 with how to build
//! it. Any path outside `/api/` that is not a file is the single-page app's own route and gets
//! `index.html`, except under `/assets/` (a missing script must not come back as HTML). Files
//! under `/assets/` carry a content hash in their names (Vite), so they are cached for a year;
//! everything else is revalidated (`no-cache`, with an `ETag`). No file needs the token: the
//! token reaches the page in the URL fragment, never in its HTML.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// A file of the UI.
#[derive(Debug, Clone)]
pub struct UiFile {
    /// Its bytes.
    pub bytes: Cow<'static, [u8]>,
    /// SHA-256 of the bytes (the `ETag`).
    pub sha256: [u8; 32],
}

/// Where the UI's files come from.
pub trait UiAssets: Send + Sync + 'static {
    /// The file at `path` (relative, `/`-separated, e.g. `assets/index-3f2a.js`), if any.
    fn get(&self, path: &str) -> Option<UiFile>;
}

/// `ui/dist` as built (embedded in release builds, read from disk in debug builds).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltUi;

#[derive(rust_embed::Embed)]
#[folder = "../../ui/dist"]
#[allow_missing = true]
struct Dist;

impl UiAssets for BuiltUi {
    fn get(&self, path: &str) -> Option<UiFile> {
        Dist::get(path).map(|file| UiFile {
            sha256: file.metadata.sha256_hash(),
            bytes: file.data,
        })
    }
}

/// Files held in memory (tests; a host that ships its own build).
#[derive(Debug, Clone, Default)]
pub struct MemoryUi {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryUi {
    /// The UI made of `files` (relative path, bytes).
    pub fn new<P: Into<String>, B: Into<Vec<u8>>>(files: impl IntoIterator<Item = (P, B)>) -> Self {
        MemoryUi {
            files: files
                .into_iter()
                .map(|(path, bytes)| (path.into(), bytes.into()))
                .collect(),
        }
    }
}

impl UiAssets for MemoryUi {
    fn get(&self, path: &str) -> Option<UiFile> {
        self.files.get(path).map(|bytes| UiFile {
            sha256: Sha256::digest(bytes).into(),
            bytes: Cow::Owned(bytes.clone()),
        })
    }
}

/// What `/` answers when the UI is not built.
pub const NOT_BUILT: &str = "The BigReach UI is not built into this binary.\n\
Build it with `bash scripts/ui.sh build`, then build bigreach again (`cargo build`).\n\
The local API under /api/ works without it.\n";

/// Cache policy of hashed files (`/assets/…`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Answers a request for the UI (any method but GET and HEAD gets `None`: not the UI's).
pub fn answer(ui: &dyn UiAssets, request: &Request) -> Option<Response> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let path = request.uri().path().trim_start_matches('/');
    let hashed = path.starts_with("assets/");
    let plain = path.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && !segment.contains(['\\', '\0', '%'])
    });
    let found = if path.is_empty() {
        None
    } else if plain {
        ui.get(path).map(|file| (path, file))
    } else {
        None
    };
    let (name, file) = match found {
        Some(found) => found,
        None if hashed => {
            return Some(text(
                StatusCode::NOT_FOUND,
                format!("no file /{path} in this build of the UI\n"),
            ))
        }
        None => match ui.get("index.html") {
            Some(index) => ("index.html", index),
            None => return Some(text(StatusCode::SERVICE_UNAVAILABLE, NOT_BUILT.to_owned())),
        },
    };
    let etag = format!("\"{}\"", hex::encode(&file.sha256[..16]));
    let cache = if hashed { IMMUTABLE } else { "no-cache" };
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let headers = [
        (header::CONTENT_TYPE, content_type(name)),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (
            header::ETAG,
            HeaderValue::from_str(&etag).expect("hex in quotes is a header value"),
        ),
    ];
    Some(if unchanged {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (headers, Body::from(file.bytes.into_owned())).into_response()
    })
}

/// The content type of a file by its extension (text with its charset).
pub fn content_type(path: &str) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml");
    let value = if text && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(ui: &dyn UiAssets, path: &str) -> Response {
        let request = axum::http::Request::get(path).body(Body::empty()).unwrap();
        answer(ui, &request).expect("a GET is the UI's")
    }

    fn header(response: &Response, name: header::HeaderName) -> &str {
        response.headers()[name].to_str().unwrap()
    }

    #[test]
    fn files_fallback_and_cache_policy() {
        let ui = MemoryUi::new([
            ("index.html", "<!doctype html><title>BigReach</title>"),
            ("assets/index-abc123.js", "export {}"),
            ("assets/index-abc123.css", "body{}"),
            ("favicon.svg", "<svg/>"),
        ]);
        let index = get(&ui, "/");
        assert_eq!(index.status(), 200);
        assert_eq!(
            header(&index, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&index, header::CACHE_CONTROL), "no-cache");
        let script = get(&ui, "/assets/index-abc123.js");
        assert_eq!(
            header(&script, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(header(&script, header::CACHE_CONTROL), IMMUTABLE);
        assert_eq!(
            header(&get(&ui, "/assets/index-abc123.css"), header::CONTENT_TYPE),
            "text/css; charset=utf-8"
        );
        assert_eq!(
            header(&get(&ui, "/favicon.svg"), header::CONTENT_TYPE),
            "image/svg+xml"
        );
        // The app's own routes get index.html; a missing asset does not.
        let route = get(&ui, "/trace/someone@example.com");
        assert_eq!(route.status(), 200);
        assert_eq!(
            header(&route, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(get(&ui, "/assets/gone-000.js").status(), 404);
        // Traversal never reaches a file.
        assert_eq!(
            header(&get(&ui, "/x/../index.html"), header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(get(&ui, "/assets/../../Cargo.toml").status(), 404);
        // Revalidation.
        let etag = header(&index, header::ETAG).to_owned();
        let again = axum::http::Request::get("/")
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .unwrap();
        assert_eq!(answer(&ui, &again).unwrap().status(), 304);
        // Not the UI's: writes.
        let post = axum::http::Request::post("/").body(Body::empty()).unwrap();
        assert!(answer(&ui, &post).is_none());
    }

    #[test]
    fn an_unbuilt_ui_says_how_to_build_it() {
        let ui = MemoryUi::default();
        let index = get(&ui, "/");
        assert_eq!(index.status(), 503);
        assert_eq!(
            header(&index, header::CONTENT_TYPE),
            "text/plain; charset=utf-8"
        );
        assert_eq!(get(&ui, "/wizard").status(), 503);
    }
}
