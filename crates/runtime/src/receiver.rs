//! The webhook receiver: hyper on its own listener, through the accept loop shared with the
//! local API ([`crate::listener`]: connection cap, header/idle and body timeouts, accept back-off,
//! connections released as they close).
//!
//! Per delivery: check the shared-secret header in constant time (401), bound the body (413),
//! validate the JSON envelope (400), refuse an envelope naming another store (403, see
//! [`StoreIdentity::check`]), then store it durably through the [`Inbox`] (in the product
//! the group-commit [`InboxWriter`](crate::inbox_writer::InboxWriter)) and answer 200. Nothing is stored from a rejected request, and rejections are counted and logged
//! without the body; what came from outside (scope, path) is logged through [`crate::log_safe`]. The receiver never calls BigCommerce or Bloomreach before answering.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

pub use bigreach_bigcommerce::OtherStore;
use bigreach_bigcommerce::{EnvelopeError, ResourceKind as WebhookKind, WebhookEnvelope};
use bigreach_clock::SharedClock;
use bigreach_core::model::{
    FetchTarget, InboxBody, InboxEntry, InboxSource, InvalidId, ResourceKind,
};
use bigreach_core::store::Appended;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::inbox_writer::InboxWriteError;
use crate::listener::{self, ListenerLimits};
use crate::log_safe::log_safe;
use crate::metrics::Metrics;

/// The header BigCommerce sends our shared secret in (configured on the hook).
pub const SECRET_HEADER: &str = "x-bigreach-secret";

/// Receiver settings.
#[derive(Clone)]
pub struct ReceiverSettings {
    /// The shared secret.
    pub secret: SecretString,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// Paths accepted for POST (e.g. `/webhooks` and the public URL's path).
    pub paths: Vec<String>,
    /// Connection cap and timeouts.
    pub limits: ListenerLimits,
    /// The one store whose webhooks are accepted.
    pub store: StoreIdentity,
}

/// The BigCommerce store this appliance syncs, as webhook envelopes name it.
#[derive(Debug, Clone)]
pub struct StoreIdentity {
    /// `bigcommerce.store_hash`: the envelope's `producer` must be `stores/{hash}`.
    pub hash: String,
    /// The numeric store id (`GET /v2/store`'s `store_id`), once known: the envelope's
    /// `store_id`, when present, must be it.
    pub store_id: NumericStoreId,
}

/// The numeric store id, learned once: the receiver opens before BigCommerce has answered (it
/// must accept during an outage), and the BigCommerce preflight fills it in, after which every
/// envelope's `store_id` is checked against it. Clones share the one value.
#[derive(Debug, Clone, Default)]
pub struct NumericStoreId(Arc<OnceLock<String>>);

impl NumericStoreId {
    /// Not known yet; [`NumericStoreId::learn`] fills it in.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// Already known.
    pub fn known(id: impl Into<String>) -> Self {
        let cell = Self::default();
        cell.learn(id);
        cell
    }

    /// Records the id (trimmed; an empty one is ignored). The first value stays.
    pub fn learn(&self, id: impl Into<String>) {
        let id = id.into();
        let id = id.trim();
        if !id.is_empty() {
            let _ = self.0.set(id.to_owned());
        }
    }

    /// The id, once known.
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

impl StoreIdentity {
    /// Whether `envelope` is for this store (see [`WebhookEnvelope::check_store`]: a present
    /// `producer` must be `stores/{hash}`, a present `store_id` ours once we know it).
    pub fn check(&self, envelope: &WebhookEnvelope) -> Result<(), OtherStore> {
        envelope.check_store(&self.hash, self.store_id.get())
    }
}

/// Where the receiver puts an accepted delivery. The product's implementation is the
/// group-commit [`InboxWriter`](crate::inbox_writer::InboxWriter).
///
/// **Durability contract.** The receiver answers 200 as soon as [`Inbox::append`] returns `Ok`,
/// and BigCommerce never resends an acknowledged webhook, so an implementation must return `Ok`
/// only after the commit that holds the entry is durable (it survives a crash or power loss that
/// follows): `Appended::Stored` for a new entry, `Appended::Duplicate` when an entry with the same
/// dedup hash is already durably stored. When the entry cannot be made durable it must return
/// `Err` (the receiver answers 503 and BigCommerce retries), never `Ok`.
pub trait Inbox: Clone + Send + Sync + 'static {
    /// Stores one entry durably and says whether it was new; see the trait's durability contract.
    fn append(
        &self,
        entry: InboxEntry,
    ) -> impl Future<Output = Result<Appended, InboxWriteError>> + Send;
}

struct ReceiverState<I> {
    settings: ReceiverSettings,
    secret_digest: [u8; 32],
    writer: I,
    metrics: Arc<Metrics>,
    clock: SharedClock,
}

/// Binds the receiver on `listen` and serves until `shutdown` turns true (see [`serve`]).
/// Returns the bound address.
pub async fn start<I: Inbox>(
    listen: SocketAddr,
    settings: ReceiverSettings,
    writer: I,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    serve(listener, settings, writer, metrics, clock, shutdown)
}

/// Serves the receiver on an already bound `listener` until `shutdown` turns true, storing
/// accepted deliveries in `writer`. Returns the listener's address.
pub fn serve<I: Inbox>(
    listener: TcpListener,
    settings: ReceiverSettings,
    writer: I,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let address = listener.local_addr()?;
    let secret_digest: [u8; 32] = Sha256::digest(settings.secret.expose_secret().as_bytes()).into();
    let state = Arc::new(ReceiverState {
        settings,
        secret_digest,
        writer,
        metrics,
        clock,
    });
    let connections = state.metrics.webhook_listener.clone();
    let limits = state.settings.limits;
    let clock = state.clock.clone();
    let task = listener::serve(
        "webhooks",
        listener,
        limits,
        connections,
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

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn handle<I: Inbox>(
    state: &ReceiverState<I>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if request.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    if !state
        .settings
        .paths
        .iter()
        .any(|p| p == request.uri().path())
    {
        return reply(StatusCode::NOT_FOUND, "");
    }
    let presented = request
        .headers()
        .get(SECRET_HEADER)
        .map(|v| Sha256::digest(v.as_bytes()))
        .unwrap_or_default();
    if !bool::from(presented.as_slice().ct_eq(&state.secret_digest)) {
        Metrics::add(&state.metrics.webhooks_unauthorized, 1);
        tracing::warn!(
            path = %log_safe(request.uri().path()),
            "webhook refused: bad or missing secret header"
        );
        return reply(StatusCode::UNAUTHORIZED, "");
    }
    let limit = state.settings.max_body_bytes;
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        Metrics::add(&state.metrics.webhooks_too_large, 1);
        tracing::warn!(declared, limit, "webhook refused: body too large");
        return reply(StatusCode::PAYLOAD_TOO_LARGE, "");
    }
    // The body is bounded by `Limited` before it is collected.
    #[allow(clippy::disallowed_methods)]
    let collected = tokio::time::timeout(
        state.settings.limits.body_timeout,
        Limited::new(request.into_body(), limit).collect(),
    )
    .await;
    let Ok(collected) = collected else {
        Metrics::add(&state.metrics.webhooks_malformed, 1);
        tracing::warn!(
            timeout_ms = state.settings.limits.body_timeout.as_millis() as u64,
            "webhook refused: body not received in time"
        );
        return reply(StatusCode::REQUEST_TIMEOUT, "");
    };
    let body = match collected {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Metrics::add(&state.metrics.webhooks_too_large, 1);
                tracing::warn!(limit, "webhook refused: body too large");
                return reply(StatusCode::PAYLOAD_TOO_LARGE, "");
            }
            return reply(StatusCode::BAD_REQUEST, "");
        }
    };
    let envelope = match WebhookEnvelope::parse(&body) {
        Ok(envelope) => envelope,
        Err(EnvelopeError::Malformed { line, column }) => {
            Metrics::add(&state.metrics.webhooks_malformed, 1);
            // Only the position: serde_json's message could quote the content.
            tracing::warn!(
                line,
                column,
                bytes = body.len(),
                "webhook refused: malformed JSON"
            );
            return reply(StatusCode::BAD_REQUEST, "");
        }
        Err(EnvelopeError::NoScope) => {
            Metrics::add(&state.metrics.webhooks_malformed, 1);
            tracing::warn!("webhook refused: no scope");
            return reply(StatusCode::BAD_REQUEST, "");
        }
    };
    if let Err(reason) = state.settings.store.check(&envelope) {
        Metrics::add(&state.metrics.webhooks_other_store, 1);
        tracing::warn!(
            ?reason,
            producer = %log_safe(&envelope.producer),
            store_id = %log_safe(&envelope.store_id),
            expected_store_hash = %state.settings.store.hash,
            scope = %log_safe(&envelope.scope),
            "webhook refused: it names another store (not stored)"
        );
        return reply(StatusCode::FORBIDDEN, "");
    }
    let entry = inbox_entry(&envelope, &body, state.clock.now_ms());
    if let InboxBody::Notification {
        invalid_id: Some(invalid),
        ..
    } = &entry.body
    {
        // Recorded once (stored, then set aside by enrich), never fetched or retried.
        Metrics::add(&state.metrics.webhooks_bad_id, 1);
        tracing::warn!(
            scope = %log_safe(&envelope.scope),
            kind = %invalid.kind,
            id = %log_safe(&invalid.excerpt).max_chars(80),
            "webhook names an id that is not valid for its kind: stored and set aside, not fetched"
        );
    }
    match state.writer.append(entry).await {
        Ok(Appended::Stored(seq)) => {
            Metrics::add(&state.metrics.webhooks_accepted, 1);
            tracing::info!(scope = %log_safe(&envelope.scope), seq, "webhook stored");
            reply(StatusCode::OK, "")
        }
        Ok(Appended::Duplicate(seq)) => {
            Metrics::add(&state.metrics.webhooks_duplicate, 1);
            tracing::info!(
                scope = %log_safe(&envelope.scope),
                seq,
                "webhook duplicate (same hash)"
            );
            reply(StatusCode::OK, "")
        }
        Err(error) => {
            // Not durable: BigCommerce must retry.
            tracing::error!(%error, "webhook not stored");
            reply(StatusCode::SERVICE_UNAVAILABLE, "")
        }
    }
}

/// Builds the inbox entry for a delivery. Deliveries without a `hash` are deduped by a hash of
/// their body instead.
pub fn inbox_entry(envelope: &WebhookEnvelope, body: &[u8], now_ms: i64) -> InboxEntry {
    let hash = if envelope.hash.trim().is_empty() {
        format!("body:{}", hex_digest(body))
    } else {
        envelope.hash.trim().to_owned()
    };
    InboxEntry {
        received_at_ms: now_ms,
        event_time_ms: if envelope.created_at > 0 {
            envelope.created_at.saturating_mul(1000)
        } else {
            now_ms
        },
        source: InboxSource::Webhook,
        hash: Some(hash),
        initial_sync: false,
        body: match fetch_target(envelope) {
            Ok(fetch) => InboxBody::Notification {
                scope: envelope.scope.clone(),
                fetch,
                invalid_id: None,
            },
            Err(invalid) => InboxBody::Notification {
                scope: envelope.scope.clone(),
                fetch: None,
                invalid_id: Some(invalid),
            },
        },
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What to fetch for a webhook, if BigReach follows its scope; an error when the id it names is
/// not valid for its kind (it is then recorded once and set aside, never fetched).
pub fn fetch_target(envelope: &WebhookEnvelope) -> Result<Option<FetchTarget>, InvalidId> {
    let Some(resource) = envelope.followed_resource() else {
        return Ok(None);
    };
    let kind = match resource.kind {
        WebhookKind::Order => ResourceKind::Order,
        WebhookKind::Customer => ResourceKind::Customer,
        WebhookKind::Product => ResourceKind::Product,
        WebhookKind::Cart => ResourceKind::Cart,
        // `followed_resource` names only the four kinds above.
        WebhookKind::Sku | WebhookKind::Other => return Ok(None),
    };
    FetchTarget::parse(kind, &resource.id).map(Some)
}
