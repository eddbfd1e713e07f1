//! `GET /api/events`: the status, live, as server-sent events.
//!
//! The stream opens with a comment (so the client sees the answer at once), then sends
//! `event: status` / `data: <the status JSON, as {"op": "status"} answers it>` at once and on
//! every second of the appliance's clock after that, and a `: keep-alive` comment every
//! [`KEEP_ALIVE_EVERY`] events for proxies that time out quiet streams. A status that cannot be
//! read is an `event: error` with the `{code, message}` JSON, and the stream goes on. It ends
//! when the client goes away (the body is dropped with its connection) or the appliance shuts
//! down (so a graceful shutdown never waits on it). The UI reads it with `fetch` and a stream
//! reader (the token goes in the `Authorization` header, which `EventSource` cannot send).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bigreach_clock::SharedClock;
use bigreach_core::app::{AppApi, AppError, Code, Operation};
use futures::StreamExt;
use tokio::sync::watch;

/// Time between two status events, on the appliance's clock.
pub const EVERY: Duration = Duration::from_secs(1);

/// A keep-alive comment goes out with every this many status events.
pub const KEEP_ALIVE_EVERY: u64 = 15;

struct Stream {
    app: AppApi,
    actor: &'static str,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
    start_ms: i64,
    sent: u64,
}

impl Stream {
    /// The next frame, or `None` once the appliance stops.
    async fn next(&mut self) -> Option<Bytes> {
        if self.sent > 0 {
            let due = self.start_ms + (self.sent as i64) * EVERY.as_millis() as i64;
            let wait = Duration::from_millis(due.saturating_sub(self.clock.now_ms()).max(0) as u64);
            let clock = self.clock.clone();
            tokio::select! {
                _ = clock.sleep(wait) => {}
                _ = self.shutdown.wait_for(|stopped| *stopped) => return None,
            }
        }
        if *self.shutdown.borrow() {
            return None;
        }
        let app = self.app.clone();
        let actor = self.actor;
        let answer = tokio::task::spawn_blocking(move || app.call(Operation::Status, actor))
            .await
            .unwrap_or_else(|error| {
                Err(AppError::new(
                    Code::Internal,
                    format!("reading the status failed: {error}"),
                ))
            });
        let mut frame = String::new();
        if self.sent == 0 {
            frame.push_str(": bigreach status, one event a second\n\n");
        } else if self.sent.is_multiple_of(KEEP_ALIVE_EVERY) {
            frame.push_str(": keep-alive\n\n");
        }
        // One line of JSON: `data:` never needs splitting.
        let (event, data) = match answer {
            Ok(status) => ("status", serde_json::to_string(&status)),
            Err(error) => ("error", serde_json::to_string(&error)),
        };
        let data = data.unwrap_or_else(|error| {
            format!("{{\"code\":\"internal\",\"message\":\"encoding the event: {error}\"}}")
        });
        frame.push_str(&format!("event: {event}\ndata: {data}\n\n"));
        self.sent += 1;
        Some(Bytes::from(frame))
    }
}

/// The event stream's answer.
pub fn answer(
    app: AppApi,
    actor: &'static str,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) -> Response {
    let stream = Stream {
        app,
        actor,
        start_ms: clock.now_ms(),
        clock,
        shutdown,
        sent: 0,
    };
    let frames = futures::stream::unfold(stream, |mut stream| async move {
        stream.next().await.map(|frame| (frame, stream))
    })
    .map(Ok::<_, Infallible>);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}
