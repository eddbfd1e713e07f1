//! The accept loop both listeners share (the webhook receiver and the local API).
//!
//! - **Finished connections are released at once**: each connection is its own detached task
//!   holding one slot of a semaphore; nothing is kept after it ends.
//! - **A cap on concurrent connections** ([`ListenerLimits::max_connections`]): at the cap the
//!   oldest connection that is *between requests* (it has not sent a whole request head yet,
//!   or it is kept alive after its last answer) is closed to make room, so idle or slow-header
//!   connections cannot lock out a webhook that is ready to be sent. A connection whose request
//!   is being served is never closed for room; when every connection is serving one, new
//!   connections wait in the kernel's backlog until one ends. Both are said in one warning per
//!   minute, not per connection, and counted.
//! - **Timeouts**: hyper's header-read timer (on tokio's real-time timer) closes a connection
//!   that has not sent a whole request head in [`ListenerLimits::header_read_timeout`]. hyper
//!   starts that timer whenever it waits for a request head, so it is also the idle keep-alive
//!   timeout. The body timeout ([`ListenerLimits::body_timeout`]) is applied by each handler
//!   where it reads a body (`tokio::time::timeout`). Network timeouts run on real time, not the
//!   injected clock: they guard sockets, not business time.
//! - **Accept errors** (EMFILE, ENFILE, ENOBUFS…) are counted and logged and back off
//!   (doubling from 5 ms to 1 s, waiting on the injected clock) instead of spinning.
//! - **Graceful shutdown**: the loop stops accepting, every open connection finishes its
//!   in-flight request and closes, and the task ends only when all slots are back, so nothing a
//!   connection holds (the inbox writer, and through it the store) outlives the task.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::SharedClock;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Connection limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Most connections open at once; further ones wait until one closes.
    pub max_connections: usize,
    /// Longest wait for a complete request head, including the wait for the next request on a
    /// kept-alive connection (so it is the idle timeout too).
    pub header_read_timeout: Duration,
    /// Longest time to receive a whole request body.
    pub body_timeout: Duration,
}

impl ListenerLimits {
    /// The default header-read (and idle) timeout.
    pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default body timeout.
    pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

    /// The default timeouts with a connection cap.
    pub fn with_max_connections(max_connections: usize) -> Self {
        Self {
            max_connections,
            header_read_timeout: Self::HEADER_READ_TIMEOUT,
            body_timeout: Self::BODY_TIMEOUT,
        }
    }
}

/// Live figures of one listener.
#[derive(Debug, Default)]
pub struct ListenerMetrics {
    /// Connections open now (the size of the connection tracker).
    pub open: AtomicU64,
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// Times the loop found every slot taken and stopped accepting until one closed.
    pub at_capacity: AtomicU64,
    /// Failed `accept` calls (EMFILE and the like), each followed by a back-off.
    pub accept_errors: AtomicU64,
    /// Connections closed at the cap to make room (each was between requests).
    pub closed_for_room: AtomicU64,
}

impl ListenerMetrics {
    /// Connections open now.
    pub fn open_now(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }
}

/// Counts a connection as open for as long as it lives.
struct OpenConnection(Arc<ListenerMetrics>);

impl OpenConnection {
    fn new(metrics: Arc<ListenerMetrics>) -> Self {
        metrics.open.fetch_add(1, Ordering::Relaxed);
        metrics.accepted.fetch_add(1, Ordering::Relaxed);
        Self(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One open connection as the accept loop sees it.
#[derive(Debug, Default)]
struct Tracked {
    /// A request is being served: its head has been read and its answer is not written yet.
    busy: AtomicBool,
    /// Told to close to make room.
    close: Notify,
}

/// The open connections in the order they were accepted.
#[derive(Debug, Default)]
struct Tracker {
    next: u64,
    open: BTreeMap<u64, Arc<Tracked>>,
}

impl Tracker {
    fn insert(&mut self) -> (u64, Arc<Tracked>) {
        let id = self.next;
        self.next += 1;
        let tracked = Arc::new(Tracked::default());
        self.open.insert(id, tracked.clone());
        (id, tracked)
    }

    /// Tells the oldest connection between requests to close; false when every open
    /// connection is serving a request.
    fn close_oldest_between_requests(&mut self) -> bool {
        let oldest = self
            .open
            .iter()
            .find(|(_, tracked)| !tracked.busy.load(Ordering::Acquire))
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.open.remove(&id)) {
            Some(tracked) => {
                tracked.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Removes its connection from the tracker when the connection's task ends.
struct Untrack {
    tracker: Arc<Mutex<Tracker>>,
    id: u64,
}

impl Drop for Untrack {
    fn drop(&mut self) {
        self.tracker.lock().open.remove(&self.id);
    }
}

/// Marks its connection busy while a request is served.
struct Busy(Arc<Tracked>);

impl Busy {
    fn new(tracked: Arc<Tracked>) -> Self {
        tracked.busy.store(true, Ordering::Release);
        Self(tracked)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

/// A connection's service that marks the connection busy for each request it serves.
struct Marked<S> {
    inner: S,
    tracked: Arc<Tracked>,
}

type BoxedResponse<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S> Service<Request<Incoming>> for Marked<S>
where
    S: Service<Request<Incoming>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxedResponse<S::Response, S::Error>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = Busy::new(self.tracked.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(busy);
            answer
        })
    }
}

/// Pending connections the kernel may queue for a listener before it refuses more (the
/// kernel caps it at `net.core.somaxconn`). Large, so a burst of idle connections does not
/// push a webhook out of the queue while the loop makes room.
pub const BACKLOG: i32 = 4096;

/// Binds a listening TCP socket on `address` with [`BACKLOG`].
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// File descriptors kept out of the listeners' caps: the store, the logs, connections to
/// BigCommerce and Bloomreach, and the listening sockets themselves.
pub const FILES_RESERVED: u64 = 128;

/// The process's soft limit on open files (`ulimit -n`), when it can be read.
pub fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// The connection caps of the webhook receiver and the local API, lowered when the process's
/// file limit (`soft_limit`) cannot hold both plus [`FILES_RESERVED`]: the local API keeps up
/// to a quarter of what is left, the receiver the rest, each at least one. Past the file
/// limit, accepts fail (EMFILE) for both listeners at once; under the caps, the receiver makes
/// room by closing connections between requests instead.
pub fn fit_file_limit(webhooks: usize, api: usize, soft_limit: Option<u64>) -> (usize, usize) {
    let Some(limit) = soft_limit else {
        return (webhooks, api);
    };
    let room = limit.saturating_sub(FILES_RESERVED).max(2);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if webhooks.saturating_add(api) <= room {
        return (webhooks, api);
    }
    let api = api.min(room / 4).max(1);
    let webhooks = webhooks.min(room - api).max(1);
    (webhooks, api)
}

/// How often, at most, the "connection limit reached" warning is written.
const CAP_LOG_EVERY: Duration = Duration::from_secs(60);
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The back-off after a failed accept: doubling from 5 ms up to 1 s, reset by a success.
pub fn next_accept_backoff(previous: Duration) -> Duration {
    if previous.is_zero() {
        ACCEPT_BACKOFF_FIRST
    } else {
        (previous * 2).min(ACCEPT_BACKOFF_MAX)
    }
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves HTTP/1 connections on `listener` until `shutdown` turns true, one `make_service()`
/// per connection, within `limits` (see the module docs). `name` names the listener in logs.
pub fn serve<F, S, B>(
    name: &'static str,
    listener: TcpListener,
    limits: ListenerLimits,
    metrics: Arc<ListenerMetrics>,
    clock: SharedClock,
    make_service: F,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()>
where
    F: Fn() -> S + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    // Bounded well below the semaphore's and `acquire_many`'s limits.
    let cap = limits.max_connections.clamp(1, 1 << 20);
    let slots = Arc::new(Semaphore::new(cap));
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    tokio::spawn(async move {
        let mut backoff = Duration::ZERO;
        let mut last_cap_warning: Option<Instant> = None;
        let mut cap_hits_unreported = 0u64;
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped(&mut shutdown) => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => {
                    backoff = Duration::ZERO;
                    stream
                }
                Err(error) => {
                    metrics.accept_errors.fetch_add(1, Ordering::Relaxed);
                    backoff = next_accept_backoff(backoff);
                    tracing::warn!(
                        listener = name,
                        %error,
                        retry_in_ms = backoff.as_millis() as u64,
                        "accepting a connection failed; backing off"
                    );
                    tokio::select! {
                        _ = clock.sleep(backoff) => continue,
                        _ = stopped(&mut shutdown) => break,
                    }
                }
            };
            // A connection is waiting: it takes a free slot, or at the cap the oldest
            // connection between requests makes room for it.
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    metrics.at_capacity.fetch_add(1, Ordering::Relaxed);
                    cap_hits_unreported += 1;
                    let made_room = tracker.lock().close_oldest_between_requests();
                    if made_room {
                        metrics.closed_for_room.fetch_add(1, Ordering::Relaxed);
                    }
                    if last_cap_warning.is_none_or(|at| at.elapsed() >= CAP_LOG_EVERY) {
                        tracing::warn!(
                            listener = name,
                            max_connections = cap,
                            times = cap_hits_unreported,
                            closed_for_room = metrics.closed_for_room.load(Ordering::Relaxed),
                            "connection limit reached: the oldest connection between requests \
                             is closed to make room; when every connection is serving a request, \
                             new ones wait until one ends (logged at most once a minute)"
                        );
                        last_cap_warning = Some(Instant::now());
                        cap_hits_unreported = 0;
                    }
                    tokio::select! {
                        slot = slots.clone().acquire_owned() => match slot {
                            Ok(slot) => slot,
                            Err(_) => break,
                        },
                        _ = stopped(&mut shutdown) => break,
                    }
                }
            };
            let open = OpenConnection::new(metrics.clone());
            let (id, tracked) = tracker.lock().insert();
            let untrack = Untrack {
                tracker: tracker.clone(),
                id,
            };
            let service = Marked {
                inner: make_service(),
                tracked: tracked.clone(),
            };
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                let _slot = (slot, open, untrack);
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .keep_alive(true);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    // Closed for room: between requests it is dropped at once; had a request
                    // begun meanwhile, it is answered first.
                    _ = tracked.close.notified() => {
                        if tracked.busy.load(Ordering::Acquire) {
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                    _ = stopped(&mut stop) => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
        }
        drop(listener);
        // Every connection gives its slot back when it ends: holding all of them means none is
        // left (and nothing they held, such as the inbox writer, is alive).
        let _ = slots.acquire_many(cap as u32).await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_the_file_limit_with_files_to_spare() {
        // Room enough: the configured caps stand.
        assert_eq!(fit_file_limit(512, 64, Some(1024)), (512, 64));
        assert_eq!(fit_file_limit(512, 64, None), (512, 64));
        // 1,024 files minus 128 reserved leave 896: 4,000 + 64 do not fit.
        assert_eq!(fit_file_limit(4_000, 64, Some(1024)), (832, 64));
        // A tight limit: the API keeps a quarter of the room at most.
        assert_eq!(fit_file_limit(512, 64, Some(256)), (96, 32));
        // Absurdly low: each keeps one.
        assert_eq!(fit_file_limit(512, 64, Some(10)), (1, 1));
    }

    #[test]
    fn the_oldest_connection_between_requests_is_closed_for_room() {
        let mut tracker = Tracker::default();
        let (first, a) = tracker.insert();
        let (_, b) = tracker.insert();
        let (_, c) = tracker.insert();
        a.busy.store(true, Ordering::Release);
        // `a` is serving a request: `b`, the next oldest, goes.
        assert!(tracker.close_oldest_between_requests());
        assert_eq!(tracker.open.len(), 2);
        assert!(tracker.open.contains_key(&first));
        c.busy.store(true, Ordering::Release);
        // Both left are serving requests: nothing is closed.
        assert!(!tracker.close_oldest_between_requests());
        assert_eq!(tracker.open.len(), 2);
        drop(b);
    }

    #[test]
    fn accept_backoff_doubles_up_to_one_second() {
        let mut delays = Vec::new();
        let mut delay = Duration::ZERO;
        for _ in 0..10 {
            delay = next_accept_backoff(delay);
            delays.push(delay.as_millis());
        }
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    }
}
