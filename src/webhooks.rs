//! Webhooks: `stream.live`, `stream.offline` and `recording.ready` POSTed,
//! signed, to the configured URLs.
//!
//! [`Webhooks`] owns a bounded queue and the delivery loop. The producer side,
//! [`WebhookQueue::push`], never waits: when the queue is full the **oldest**
//! delivery is dropped (counted in `streamly_webhook_dropped_total` and
//! logged), so a dead receiver costs memory up to the cap and never slows
//! ingest. Events come from the RTMP hub's event channel through the
//! platform's own subscription ([`Webhooks::listen_to`]); the ingest
//! sessions only ever `send` on that broadcast channel.
//!
//! Each event is one JSON body:
//!
//! ```json
//! {"type":"stream.live","id":"<event uuid>","created_at":"2026-12-01T18:00:00Z",
//!  "data":{"stream_id":"…","title":"…"}}
//! ```
//!
//! sent with `Streamly-Event-Id: <event uuid>` and
//! `Streamly-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! (recomputed, with a fresh `t`, on each attempt). A delivery succeeds on a
//! 2xx answer; anything else (an error status, a refused connection, no
//! answer within [`WebhookConfig::timeout`]) is retried after an exponential
//! backoff with jitter, up to [`WebhookConfig::max_attempts`] attempts.
//! Plain `http://` URLs only (no TLS client): put a TLS-terminating proxy in
//! between to reach `https://` receivers. See `docs/operations.md` for a
//! verification snippet.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use streamly_core::domain::{RecordingId, StreamId};
use streamly_core::services::Streams;
use streamly_rtmp::{StreamEvent, StreamHub};
use tokio::sync::Notify;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "streamly-signature";
/// The event id header (the body's `id`): the same on every attempt, so
/// receivers can drop duplicates.
pub const EVENT_ID_HEADER: &str = "streamly-event-id";

/// How long a `stream.live` event waits for the stream's title.
const TITLE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Where to send events, how to sign them and how hard to try.
#[derive(Clone)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// Receivers (`http://host[:port]/path`); each gets every event.
    pub urls: Vec<String>,
    /// The HMAC-SHA256 key of the signature header.
    pub secret: Vec<u8>,
    /// Deliveries waiting (one per event and URL) before the oldest is
    /// dropped (default 1024).
    pub queue_capacity: usize,
    /// Deliveries in flight at once, retries included (default 16).
    pub max_in_flight: usize,
    /// One attempt's limit, connection to response headers (default 5 s).
    pub timeout: Duration,
    /// Attempts per delivery, the first included (default 5).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each next one
    /// (default 2 s: 2, 4, 8, 16 s, each with up to half of it as jitter
    /// taken off — about half a minute of retries in all, plus timeouts).
    pub initial_backoff: Duration,
    /// The cap on one wait between attempts (default 30 s).
    pub max_backoff: Duration,
    /// At shutdown, how long queued and in-flight deliveries may still
    /// take before they are abandoned (default 3 s).
    pub flush_deadline: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("queue_capacity", &self.queue_capacity)
            .field("max_in_flight", &self.max_in_flight)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("flush_deadline", &self.flush_deadline)
            .finish()
    }
}

impl WebhookConfig {
    /// Defaults (see each field) for these receivers and this secret.
    pub fn new(urls: Vec<String>, secret: Vec<u8>) -> Self {
        Self {
            urls,
            secret,
            queue_capacity: 1024,
            max_in_flight: 16,
            timeout: Duration::from_secs(5),
            max_attempts: 5,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            flush_deadline: Duration::from_secs(3),
        }
    }
}

/// Why a [`WebhookConfig`] was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookConfigError {
    /// A URL does not parse, or is not `http://host…` (no TLS client).
    #[error("webhook URL {url:?}: expected http://host[:port]/path")]
    Url {
        /// The URL as configured.
        url: String,
    },
    /// The secret is empty: signatures would prove nothing.
    #[error("the webhook secret is empty")]
    EmptySecret,
}

/// An event for the receivers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// `stream.live`: a publish was granted.
    StreamLive {
        /// The stream.
        stream_id: StreamId,
        /// Its title, when the store answered in time.
        title: Option<String>,
    },
    /// `stream.offline`: the publish ended.
    StreamOffline {
        /// The stream.
        stream_id: StreamId,
    },
    /// `recording.ready`: a broadcast's recording was finalized and plays
    /// (at the end of the publish, or at the next start after a crash).
    RecordingReady {
        /// The recording.
        recording_id: RecordingId,
        /// Its stream.
        stream_id: StreamId,
        /// How long it plays, in milliseconds.
        duration_ms: u64,
    },
}

impl WebhookEvent {
    /// The `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::StreamLive { .. } => "stream.live",
            Self::StreamOffline { .. } => "stream.offline",
            Self::RecordingReady { .. } => "recording.ready",
        }
    }

    /// The JSON body, with this id and creation time.
    fn body(&self, id: uuid::Uuid, created_at: time::OffsetDateTime) -> Bytes {
        let data = match self {
            Self::StreamLive { stream_id, title } => {
                let mut data = serde_json::json!({ "stream_id": stream_id.to_string() });
                if let Some(title) = title {
                    data["title"] = title.clone().into();
                }
                data
            }
            Self::StreamOffline { stream_id } => serde_json::json!({ "stream_id": stream_id.to_string() }),
            Self::RecordingReady {
                recording_id,
                stream_id,
                duration_ms,
            } => serde_json::json!({
                "recording_id": recording_id.to_string(),
                "stream_id": stream_id.to_string(),
                "duration_ms": duration_ms,
            }),
        };
        let created_at = created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let body = serde_json::json!({
            "type": self.kind(),
            "id": id.to_string(),
            "created_at": created_at,
            "data": data,
        });
        Bytes::from(body.to_string())
    }
}

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>.<body>")>`.
pub fn signature(secret: &[u8], unix_seconds: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_seconds},v1={hex}")
}

/// One event for one URL.
#[derive(Debug, Clone)]
struct Delivery {
    url: Uri,
    event_id: uuid::Uuid,
    kind: &'static str,
    body: Bytes,
}

/// The queue's state. The lock is only held to push or pop (never across
/// an `.await`).
#[derive(Debug)]
struct Queue {
    deliveries: Mutex<VecDeque<Delivery>>,
    capacity: usize,
    /// Wakes the delivery loop (one consumer: `notify_one` keeps a permit
    /// when it is not waiting).
    ready: Notify,
}

/// The producer side of [`Webhooks`]: cheap to clone, never waits.
#[derive(Debug, Clone)]
pub struct WebhookQueue {
    queue: Arc<Queue>,
    urls: Arc<[Uri]>,
}

impl WebhookQueue {
    /// Queues `event` for every URL and returns its id. Never waits: when
    /// the queue is full the oldest deliveries make room (counted in
    /// `streamly_webhook_dropped_total`).
    pub fn push(&self, event: &WebhookEvent) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        let body = event.body(id, time::OffsetDateTime::now_utc());
        let mut dropped = Vec::new();
        {
            let mut deliveries = self.queue.deliveries.lock().unwrap_or_else(|e| e.into_inner());
            for url in self.urls.iter() {
                if deliveries.len() >= self.queue.capacity
                    && let Some(old) = deliveries.pop_front()
                {
                    dropped.push(old);
                }
                deliveries.push_back(Delivery {
                    url: url.clone(),
                    event_id: id,
                    kind: event.kind(),
                    body: body.clone(),
                });
            }
        }
        for old in &dropped {
            tracing::warn!(event_id = %old.event_id, event = old.kind, url = %old.url,
                "webhook queue full: dropped the oldest delivery");
        }
        if !dropped.is_empty() {
            metrics::counter!("streamly_webhook_dropped_total").increment(dropped.len() as u64);
        }
        self.queue.ready.notify_one();
        id
    }

    /// Deliveries waiting to be sent.
    pub fn len(&self) -> usize {
        self.queue
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether no delivery is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn pop_now(&self) -> Option<Delivery> {
        self.queue
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    async fn pop(&self) -> Delivery {
        loop {
            if let Some(delivery) = self.pop_now() {
                return delivery;
            }
            self.queue.ready.notified().await;
        }
    }
}

/// What feeds the queue from the RTMP hub.
#[derive(Debug)]
struct HubSource {
    events: broadcast::Receiver<StreamEvent>,
    streams: Streams,
}

/// The webhook sender: a bounded queue and the delivery loop. Run it with
/// [`Webhooks::run`]; push through [`Webhooks::queue`].
#[derive(Debug)]
pub struct Webhooks {
    config: WebhookConfig,
    queue: WebhookQueue,
    source: Option<HubSource>,
}

impl Webhooks {
    /// Checks the URLs and the secret.
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookConfigError> {
        if config.secret.is_empty() {
            return Err(WebhookConfigError::EmptySecret);
        }
        let urls = config
            .urls
            .iter()
            .map(|url| {
                url.parse::<Uri>()
                    .ok()
                    .filter(|u| u.scheme_str() == Some("http") && u.host().is_some())
                    .ok_or_else(|| WebhookConfigError::Url { url: url.clone() })
            })
            .collect::<Result<Arc<[Uri]>, _>>()?;
        let queue = WebhookQueue {
            queue: Arc::new(Queue {
                deliveries: Mutex::new(VecDeque::with_capacity(config.queue_capacity.min(1024))),
                capacity: config.queue_capacity.max(1),
                ready: Notify::new(),
            }),
            urls,
        };
        Ok(Self {
            config,
            queue,
            source: None,
        })
    }

    /// Sends `stream.live` / `stream.offline` for the hub's publishes,
    /// with titles from `streams`. Subscribes now: events between this call
    /// and [`run`](Self::run) are kept (up to the hub's event capacity).
    pub fn listen_to(mut self, hub: &StreamHub, streams: Streams) -> Self {
        self.source = Some(HubSource {
            events: hub.events(),
            streams,
        });
        self
    }

    /// The producer side.
    pub fn queue(&self) -> WebhookQueue {
        self.queue.clone()
    }

    /// Delivers until `shutdown` is cancelled, then for at most
    /// [`WebhookConfig::flush_deadline`] more: hub events already received
    /// are queued, queued and in-flight deliveries get that long to finish,
    /// and what is left is abandoned (logged). Cancel it after the RTMP
    /// server has stopped, so the `stream.offline` of publishers closed at
    /// shutdown are sent.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let policy = Arc::new(Policy::from(&self.config));
        let max_in_flight = self.config.max_in_flight.max(1);
        let mut in_flight = JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => log_join(done),
                delivery = self.queue.pop(), if in_flight.len() < max_in_flight => {
                    in_flight.spawn(deliver(client.clone(), Arc::clone(&policy), delivery));
                }
                event = next_hub_event(&mut self.source) => match event {
                    Ok(event) => self.on_hub_event(event).await,
                    Err(RecvError::Lagged(missed)) => {
                        metrics::counter!("streamly_webhook_dropped_total").increment(missed);
                        tracing::warn!(missed, "webhooks fell behind the RTMP hub's events: events lost");
                    }
                    Err(RecvError::Closed) => self.source = None,
                },
            }
        }
        // Events the hub sent before the end still go out.
        while let Some(source) = &mut self.source {
            match source.events.try_recv() {
                Ok(event) => self.on_hub_event(event).await,
                Err(TryRecvError::Lagged(missed)) => {
                    metrics::counter!("streamly_webhook_dropped_total").increment(missed);
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let flush = async {
            loop {
                while in_flight.len() < max_in_flight
                    && let Some(delivery) = self.queue.pop_now()
                {
                    in_flight.spawn(deliver(client.clone(), Arc::clone(&policy), delivery));
                }
                match in_flight.join_next().await {
                    Some(done) => log_join(done),
                    None => break,
                }
            }
        };
        if tokio::time::timeout(self.config.flush_deadline, flush)
            .await
            .is_err()
        {
            let abandoned = in_flight.len() + self.queue.len();
            in_flight.shutdown().await;
            metrics::counter!("streamly_webhook_deliveries_total", "outcome" => "abandoned")
                .increment(abandoned as u64);
            tracing::warn!(abandoned, "webhook deliveries abandoned at the shutdown deadline");
        }
        tracing::info!("webhooks stopped");
    }

    async fn on_hub_event(&self, event: StreamEvent) {
        let event = match event {
            StreamEvent::Started { stream_id, .. } => {
                let title = match &self.source {
                    Some(source) => {
                        match tokio::time::timeout(TITLE_LOOKUP_TIMEOUT, source.streams.get(&stream_id)).await
                        {
                            Ok(Ok(stream)) => Some(stream.title.to_string()),
                            _ => None,
                        }
                    }
                    None => None,
                };
                WebhookEvent::StreamLive { stream_id, title }
            }
            StreamEvent::Ended { stream_id } => WebhookEvent::StreamOffline { stream_id },
            _ => return,
        };
        self.queue.push(&event);
    }
}

async fn next_hub_event(source: &mut Option<HubSource>) -> Result<StreamEvent, RecvError> {
    match source {
        Some(source) => source.events.recv().await,
        None => std::future::pending().await,
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "webhook delivery task failed");
    }
}

/// Timeouts and backoff, shared by the delivery tasks.
#[derive(Debug)]
struct Policy {
    secret: Vec<u8>,
    timeout: Duration,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl From<&WebhookConfig> for Policy {
    fn from(config: &WebhookConfig) -> Self {
        Self {
            secret: config.secret.clone(),
            timeout: config.timeout,
            max_attempts: config.max_attempts.max(1),
            initial_backoff: config.initial_backoff,
            max_backoff: config.max_backoff,
        }
    }
}

impl Policy {
    /// The wait after failed attempt `attempt` (1-based): the initial
    /// backoff doubled per attempt, capped, minus a random part of up to
    /// half of it (so receivers that failed together are not retried in
    /// lockstep).
    fn backoff(&self, attempt: u32, random: u64) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let half = exp / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(random % jitter_nanos)
        };
        exp - jitter
    }
}

/// Sends one delivery, retrying as the policy says.
async fn deliver(client: Client<HttpConnector, Full<Bytes>>, policy: Arc<Policy>, delivery: Delivery) {
    let event_id = delivery.event_id.to_string();
    for attempt in 1..=policy.max_attempts {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let request = hyper::Request::post(delivery.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "streamly-webhooks")
            .header(EVENT_ID_HEADER, &event_id)
            .header(SIGNATURE_HEADER, signature(&policy.secret, now, &delivery.body))
            .body(Full::new(delivery.body.clone()));
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, url = %delivery.url, "webhook request could not be built");
                return;
            }
        };
        let failure = match tokio::time::timeout(policy.timeout, client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => {
                metrics::counter!("streamly_webhook_deliveries_total", "outcome" => "delivered").increment(1);
                tracing::debug!(%event_id, event = delivery.kind, url = %delivery.url, attempt, "webhook delivered");
                return;
            }
            Ok(Ok(response)) => format!("status {}", response.status()),
            Ok(Err(e)) => format!("request failed: {e}"),
            Err(_) => format!("no answer within {:?}", policy.timeout),
        };
        if attempt == policy.max_attempts {
            metrics::counter!("streamly_webhook_deliveries_total", "outcome" => "failed").increment(1);
            tracing::warn!(%event_id, event = delivery.kind, url = %delivery.url, attempt, %failure,
                "webhook delivery failed: giving up");
            return;
        }
        metrics::counter!("streamly_webhook_retries_total").increment(1);
        let wait = policy.backoff(attempt, getrandom::u64().unwrap_or(0));
        tracing::info!(%event_id, event = delivery.kind, url = %delivery.url, attempt, %failure,
            retry_in = ?wait, "webhook delivery failed: retrying");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(capacity: usize) -> WebhookConfig {
        let mut config = WebhookConfig::new(vec!["http://127.0.0.1:9/hook".into()], b"secret".to_vec());
        config.queue_capacity = capacity;
        config
    }

    fn live(n: u32) -> WebhookEvent {
        WebhookEvent::StreamOffline {
            stream_id: StreamId::parse(&format!("stream{n}")).unwrap(),
        }
    }

    /// A full queue drops its oldest deliveries; the producer never waits
    /// (no delivery loop runs, and paused time never moves).
    #[tokio::test(start_paused = true)]
    async fn a_full_queue_never_blocks_the_producer() {
        let webhooks = Webhooks::new(config(4)).unwrap();
        let queue = webhooks.queue();
        let start = tokio::time::Instant::now();
        let ids: Vec<_> = (0..1000).map(|n| queue.push(&live(n))).collect();
        assert_eq!(tokio::time::Instant::now(), start);
        assert_eq!(queue.len(), 4);
        let kept: Vec<_> = std::iter::from_fn(|| queue.pop_now())
            .map(|d| d.event_id)
            .collect();
        assert_eq!(kept, ids[996..]);
    }

    /// HMAC-SHA256 from its definition (RFC 2104) over plain SHA-256: an
    /// oracle independent of the `hmac` crate.
    fn hmac_by_hand(key: &[u8], message: &[u8]) -> String {
        use sha2::Digest;
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new().chain_update(&ipad).chain_update(message).finalize();
        let outer = Sha256::new().chain_update(&opad).chain_update(inner).finalize();
        outer.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn signature_is_stripe_style_hmac_sha256() {
        // The oracle itself, on RFC 4231 test case 2.
        assert_eq!(
            hmac_by_hand(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let body = br#"{"type":"stream.live"}"#;
        let expected = format!(
            "t=1764612000,v1={}",
            hmac_by_hand(b"secret", &[b"1764612000.".as_slice(), body].concat())
        );
        assert_eq!(signature(b"secret", 1_764_612_000, body), expected);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below_half() {
        let policy = Policy::from(&config(1));
        assert_eq!(policy.backoff(1, 0), Duration::from_secs(2));
        assert_eq!(policy.backoff(2, 0), Duration::from_secs(4));
        assert_eq!(policy.backoff(10, 0), Duration::from_secs(30));
        for r in [1, 7, u64::MAX, 123_456_789_012] {
            let d = policy.backoff(3, r);
            assert!(d > Duration::from_secs(4) && d <= Duration::from_secs(8), "{d:?}");
        }
    }

    #[test]
    fn only_plain_http_urls_and_a_secret_are_accepted() {
        let bad = WebhookConfig::new(vec!["https://example.com/h".into()], b"s".to_vec());
        assert!(matches!(Webhooks::new(bad), Err(WebhookConfigError::Url { .. })));
        let bad = WebhookConfig::new(vec!["not a url".into()], b"s".to_vec());
        assert!(matches!(Webhooks::new(bad), Err(WebhookConfigError::Url { .. })));
        let empty = WebhookConfig::new(vec![], Vec::new());
        assert!(matches!(
            Webhooks::new(empty),
            Err(WebhookConfigError::EmptySecret)
        ));
    }

    #[test]
    fn the_body_has_type_id_time_and_data() {
        let id = uuid::Uuid::new_v4();
        let event = WebhookEvent::StreamLive {
            stream_id: StreamId::parse("abc").unwrap(),
            title: Some("Hello".into()),
        };
        let body: serde_json::Value =
            serde_json::from_slice(&event.body(id, time::macros::datetime!(2026-12-01 18:00 UTC))).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type": "stream.live", "id": id.to_string(),
                "created_at": "2026-12-01T18:00:00Z", "data": {"stream_id": "abc", "title": "Hello"}})
        );
        let ready = WebhookEvent::RecordingReady {
            recording_id: "6f1c5a4e-0c1b-4f5e-9d7a-2b8e1f3c4d5a".parse().unwrap(),
            stream_id: StreamId::parse("abc").unwrap(),
            duration_ms: 10_020,
        };
        let body: serde_json::Value =
            serde_json::from_slice(&ready.body(id, time::macros::datetime!(2026-12-01 18:00 UTC))).unwrap();
        assert_eq!(body["type"], "recording.ready");
        assert_eq!(
            body["data"],
            serde_json::json!({"recording_id": "6f1c5a4e-0c1b-4f5e-9d7a-2b8e1f3c4d5a", "stream_id": "abc", "duration_ms": 10_020})
        );
    }
}
