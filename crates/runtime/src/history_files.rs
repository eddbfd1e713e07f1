//! The import file server: while `bigreach backfill run` imports the history, Bloomreach
//! downloads the CSV files from here (reference bloomreach.md §5.3, a URL source with Basic
//! auth). Its own listener (`[history] files_listen`, through the shared accept loop), and:
//!
//! - only `GET`/`HEAD /{run}/{file}` for the current run's files (the run segment and the
//!   password are random per run, kept in the store's backfill progress, never logged); any
//!   other path is 404, with no directory listing;
//! - HTTP Basic auth checked in constant time (SHA-256 of the presented header against the
//!   expected one, compared with `subtle`) before anything else, 401 otherwise;
//! - `Content-Type: text/csv; charset=utf-8`, the file streamed from disk in 64 KiB chunks.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use bigreach_clock::SharedClock;
use bigreach_core::backfill::progress::FilesAccess;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::listener::{self, ListenerLimits, ListenerMetrics};
use crate::log_safe::log_safe;

/// The body of every answer.
type Body = UnsyncBoxBody<Bytes, std::io::Error>;

const CHUNK: usize = 64 * 1024;

/// What the server serves.
#[derive(Clone)]
pub struct FilesToServe {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// The file names it may serve (the current run's, nothing else in `dir`).
    pub names: BTreeSet<String>,
    /// The run's path segment and password.
    pub access: FilesAccess,
}

impl std::fmt::Debug for FilesToServe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesToServe")
            .field("dir", &self.dir)
            .field("names", &self.names)
            .field("access", &self.access)
            .finish()
    }
}

struct State {
    files: FilesToServe,
    /// SHA-256 of the one `Authorization` value accepted.
    expected: [u8; 32],
}

/// The `Authorization` header value for `access`.
pub fn basic_header(access: &FilesAccess) -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        FilesAccess::USERNAME,
        access.password
    ));
    format!("Basic {credentials}")
}

/// Serves `files` on `listener` until `shutdown` turns true; returns the bound address and
/// the task (which ends once every connection closed).
pub fn serve(
    listener: TcpListener,
    files: FilesToServe,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let address = listener.local_addr()?;
    let expected: [u8; 32] = Sha256::digest(basic_header(&files.access).as_bytes()).into();
    let state = Arc::new(State { files, expected });
    let limits = ListenerLimits::with_max_connections(16);
    let task = listener::serve(
        "history_files",
        listener,
        limits,
        Arc::new(ListenerMetrics::default()),
        clock,
        move || {
            let state = state.clone();
            service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&state, request).await) }
            })
        },
        shutdown,
    );
    Ok((address, task))
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Body> {
    let head = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return empty(StatusCode::METHOD_NOT_ALLOWED),
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| Sha256::digest(v.as_bytes()))
        .unwrap_or_default();
    if !bool::from(presented.as_slice().ct_eq(&state.expected)) {
        tracing::warn!(
            path = %log_safe(request.uri().path()),
            "import file request refused: bad or missing credentials"
        );
        let mut response = empty(StatusCode::UNAUTHORIZED);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"bigreach-history\""),
        );
        return response;
    }
    let path = request.uri().path();
    let name = path
        .strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .filter(|(run, _)| *run == state.files.access.run)
        .map(|(_, name)| name)
        .filter(|name| state.files.names.contains(*name));
    let Some(name) = name else {
        return empty(StatusCode::NOT_FOUND);
    };
    let file_path = state.files.dir.join(name);
    let file = match tokio::fs::File::open(&file_path).await {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(file = name, %error, "import file cannot be opened");
            return empty(StatusCode::NOT_FOUND);
        }
    };
    let length = file.metadata().await.map(|m| m.len()).ok();
    tracing::info!(file = name, bytes = length, "serving an import file");
    let body: Body = if head {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        let chunks = futures::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buffer = vec![0u8; CHUNK];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(read) => {
                    buffer.truncate(read);
                    Some((Ok(Frame::data(Bytes::from(buffer))), Some(file)))
                }
                Err(error) => Some((Err(error), None)),
            }
        });
        StreamBody::new(chunks).boxed_unsync()
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use bigreach_clock::SystemClock;

    async fn started(dir: &std::path::Path) -> (String, watch::Sender<bool>, JoinHandle<()>) {
        std::fs::write(dir.join("purchases-0001.csv"), "a,b\n1,2\n").expect("write");
        std::fs::write(dir.join("secret.txt"), "not served").expect("write");
        let files = FilesToServe {
            dir: dir.to_owned(),
            names: BTreeSet::from(["purchases-0001.csv".to_owned()]),
            access: FilesAccess {
                run: "r0n".to_owned(),
                password: "pa55".to_owned(),
            },
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (stop, shutdown) = watch::channel(false);
        let (address, task) =
            serve(listener, files, SystemClock::shared(), shutdown).expect("serves");
        (format!("http://{address}"), stop, task)
    }

    #[tokio::test]
    async fn serves_only_the_runs_files_as_csv_behind_basic_auth() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (base, stop, task) = started(dir.path()).await;
        let http = reqwest::Client::new();
        let get = |path: &str, password: Option<&str>| {
            let mut request = http.get(format!("{base}{path}"));
            if let Some(password) = password {
                request = request.basic_auth(FilesAccess::USERNAME, Some(password));
            }
            request.send()
        };
        let ok = get("/r0n/purchases-0001.csv", Some("pa55"))
            .await
            .expect("answer");
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["content-type"], "text/csv; charset=utf-8");
        assert_eq!(ok.text().await.expect("body"), "a,b\n1,2\n");
        for (path, password, status) in [
            ("/r0n/purchases-0001.csv", None, 401),
            ("/r0n/purchases-0001.csv", Some("wrong"), 401),
            ("/r0n/purchases-0001.csv", Some("pa55x"), 401),
            ("/other/purchases-0001.csv", Some("pa55"), 404),
            ("/r0n/secret.txt", Some("pa55"), 404),
            ("/r0n/", Some("pa55"), 404),
            ("/r0n/../secret.txt", Some("pa55"), 404),
            ("/", Some("pa55"), 404),
        ] {
            let answer = get(path, password).await.expect("answer");
            assert_eq!(answer.status(), status, "{path} {password:?}");
        }
        let unauthorized = get("/r0n/purchases-0001.csv", None).await.expect("answer");
        assert!(unauthorized.headers().contains_key("www-authenticate"));
        let post = http
            .post(format!("{base}/r0n/purchases-0001.csv"))
            .basic_auth(FilesAccess::USERNAME, Some("pa55"))
            .send()
            .await
            .expect("answer");
        assert_eq!(post.status(), 405);
        stop.send(true).expect("stop");
        task.await.expect("stops");
    }
}
