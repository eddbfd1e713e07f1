//! The accept loop both listeners share (the webhook receiver and the local API).
//!
//! - **Finished connections are released at once**: each connection is its own detached task
//!   holding one slot of a semaphore; nothing is kept after it ends.
//! - **A cap on concurrent connections** ([`ListenerLimits::max_connections`]): at the cap the
//!   loop stops accepting (new connections wait in the kernel's backlog) until one closes, and
//!   says so in one warning per minute, not per connection.
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

use std::error::Error as StdError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::SharedClock;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
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
    tokio::spawn(async move {
        let mut backoff = Duration::ZERO;
        let mut last_cap_warning: Option<Instant> = None;
        let mut cap_hits_unreported = 0u64;
        loop {
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    metrics.at_capacity.fetch_add(1, Ordering::Relaxed);
                    cap_hits_unreported += 1;
                    if last_cap_warning.is_none_or(|at| at.elapsed() >= CAP_LOG_EVERY) {
                        tracing::warn!(
                            listener = name,
                            max_connections = cap,
                            times = cap_hits_unreported,
                            "connection limit reached: new connections wait until one closes \
                             (logged at most once a minute)"
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
                    drop(slot);
                    tokio::select! {
                        _ = clock.sleep(backoff) => continue,
                        _ = stopped(&mut shutdown) => break,
                    }
                }
            };
            let open = OpenConnection::new(metrics.clone());
            let service = make_service();
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                let _slot = (slot, open);
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .keep_alive(true);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
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
