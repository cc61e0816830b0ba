//! An RTMP server that checks keys over HTTP (`HttpKeyValidator`): against
//! the platform API's `/api/internal/*` on port 0, against the API down, and
//! against a third-party endpoint with nginx-rtmp `on_publish` semantics.
//! ffmpeg publishes for real.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use platform_support::{have, http, publish};
use serde_json::{Value, json};
use streamly::api::{ApiConfig, PublicUrls};
use streamly::core::adapters::http_keys::stream_id_for_key;
use streamly::core::adapters::{HttpKeyValidator, HttpValidatorConfig};
use streamly::core::auth::{PasswordHasher, SharedSecret, StreamKey};
use streamly::core::domain::StreamId;
use streamly::core::ports::{PublishDecision, PublishRequest, RejectReason, StreamKeyValidator};
use streamly::rtmp::{RtmpConfig, RtmpServer, StreamEvent, StreamHub};
use streamly::{Platform, PlatformConfig};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "the-internal-secret-of-this-test";
const LIMIT: Duration = Duration::from_secs(30);

fn secret() -> SharedSecret {
    SharedSecret::parse(SECRET).unwrap()
}

/// The platform (in-memory stores) serving HTTP on port 0.
struct Api {
    base: String,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), streamly::PlatformError>>,
}

impl Api {
    async fn start(internal_secret: Option<SharedSecret>) -> Api {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", http.local_addr().unwrap());
        let mut config = PlatformConfig::new(b"an http validator test secret, 32+ bytes".to_vec());
        config.rtmp_addr = "127.0.0.1:0".parse().unwrap();
        config.api = ApiConfig::new(PublicUrls::new(&base, "rtmp://127.0.0.1:0/live"));
        config.api.internal_secret = internal_secret;
        config.password_hasher = PasswordHasher::with_costs(8, 1, 1).unwrap();
        let platform = Platform::builder(config).build().await.unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(platform.serve(http, shutdown.clone()));
        Api { base, shutdown, task }
    }

    /// Registers a user and creates a stream: its id and key.
    async fn stream(&self) -> (String, String) {
        let r = http(
            "POST",
            &format!("{}/api/auth/register", self.base),
            None,
            Some(json!({"username": "ingest", "email": "ingest@example.com", "password": "correct horse"})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let token = r.body["token"].as_str().unwrap().to_owned();
        let r = http(
            "POST",
            &format!("{}/api/streams", self.base),
            Some(&token),
            Some(json!({"title": "over http"})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let key = r.body["stream_key"].as_str().unwrap().to_owned();
        (id, key)
    }

    async fn live(&self, id: &str) -> Value {
        http("GET", &format!("{}/api/streams/{id}", self.base), None, None)
            .await
            .body["live"]
            .clone()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A standalone RTMP server (an "ingest node") using `validator`.
struct Ingest {
    addr: SocketAddr,
    hub: StreamHub,
    events: broadcast::Receiver<StreamEvent>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), streamly::rtmp::RtmpError>>,
}

impl Ingest {
    fn start(validator: Arc<dyn StreamKeyValidator>) -> Ingest {
        let rtmp =
            RtmpServer::bind("127.0.0.1:0".parse().unwrap(), RtmpConfig::default(), validator).unwrap();
        let addr = rtmp.local_addr();
        let hub = rtmp.hub();
        let events = hub.events();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(rtmp.run(shutdown.clone()));
        Ingest {
            addr,
            hub,
            events,
            shutdown,
            task,
        }
    }

    fn url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.addr)
    }

    async fn started(&mut self) -> StreamId {
        loop {
            match tokio::time::timeout(LIMIT, self.events.recv())
                .await
                .unwrap()
                .unwrap()
            {
                StreamEvent::Started { stream_id, .. } => return stream_id,
                _ => continue,
            }
        }
    }

    async fn ended(&mut self) -> StreamId {
        loop {
            match tokio::time::timeout(LIMIT, self.events.recv())
                .await
                .unwrap()
                .unwrap()
            {
                StreamEvent::Ended { stream_id } => return stream_id,
                _ => continue,
            }
        }
    }

    /// ffmpeg publishes with `key` and is refused: it exits with an error
    /// and nothing was published.
    async fn refused(&mut self, key: &str) {
        let mut ffmpeg = publish(&self.url(key), false);
        let status = tokio::time::timeout(LIMIT, ffmpeg.wait())
            .await
            .expect("ffmpeg gives up")
            .unwrap();
        assert!(!status.success(), "a refused publish must fail");
        assert!(self.hub.live_streams().is_empty());
        assert!(
            matches!(self.events.try_recv(), Err(broadcast::error::TryRecvError::Empty)),
            "no stream started"
        );
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn ask(key: &str) -> PublishRequest {
    PublishRequest {
        app: "live".into(),
        key: StreamKey::parse(key).unwrap(),
    }
}

#[tokio::test]
async fn ingest_validates_keys_with_the_platform_api() {
    if !have("ffmpeg") {
        eprintln!("skipped: ffmpeg is not installed");
        return;
    }
    let api = Api::start(Some(secret())).await;
    let (id, key) = api.stream().await;
    let validator = HttpKeyValidator::new(HttpValidatorConfig::streamly(&api.base, secret())).unwrap();
    let mut ingest = Ingest::start(Arc::new(validator));

    // The right key: granted under the stream's id, which goes live.
    let mut ffmpeg = publish(&ingest.url(&key), true);
    assert_eq!(ingest.started().await.as_str(), id);
    assert_eq!(api.live(&id).await, true);
    // The publisher leaves: publish_ended over HTTP takes the stream offline.
    ffmpeg.kill().await.unwrap();
    assert_eq!(ingest.ended().await.as_str(), id);
    assert_eq!(api.live(&id).await, false, "publish_ended has returned by Ended");

    // A wrong key: refused, nothing published.
    ingest.refused("not-the-key").await;
    assert_eq!(api.live(&id).await, false);

    ingest.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn the_internal_endpoints_need_the_secret() {
    let api = Api::start(Some(secret())).await;
    let (id, key) = api.stream().await;
    let url = format!("{}/api/internal/publish", api.base);
    let body = json!({"app": "live", "key": key});
    for token in [None, Some("a-wrong-secret-of-the-same-kind"), Some("")] {
        let r = http("POST", &url, token, Some(body.clone())).await;
        assert_eq!(r.status, 401, "{token:?}: {}", r.text);
    }
    assert_eq!(api.live(&id).await, false, "nothing granted without the secret");
    let r = http("POST", &url, Some(SECRET), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stream_id"], id.as_str());
    let r = http(
        "POST",
        &url,
        Some(SECRET),
        Some(json!({"app": "live", "key": "wrong"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "unknown_key");
    let r = http(
        "POST",
        &url,
        Some(SECRET),
        Some(json!({"app": "other", "key": "wrong"})),
    )
    .await;
    assert_eq!(r.body["error"]["code"], "unknown_app", "{}", r.text);
    let r = http(
        "POST",
        &format!("{}/api/internal/publish_ended", api.base),
        Some(SECRET),
        Some(json!({"app": "live", "stream_id": id})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(api.live(&id).await, false);

    // A validator with the wrong secret: an error (refused), not a verdict.
    let wrong = SharedSecret::parse("a-wrong-secret-of-the-same-kind").unwrap();
    let validator = HttpKeyValidator::new(HttpValidatorConfig::streamly(&api.base, wrong)).unwrap();
    let err = validator.validate(&ask(&key)).await.unwrap_err().to_string();
    assert!(err.contains("credentials"), "{err}");
    assert!(!err.contains(&key), "{err}");
    api.stop().await;

    // Without a secret configured the endpoints are not served.
    let api = Api::start(None).await;
    let r = http(
        "POST",
        &url_of(&api, "publish"),
        Some(SECRET),
        Some(json!({"app": "live", "key": "k"})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    api.stop().await;
}

fn url_of(api: &Api, endpoint: &str) -> String {
    format!("{}/api/internal/{endpoint}", api.base)
}

#[tokio::test]
async fn with_the_api_down_a_publish_is_refused() {
    if !have("ffmpeg") {
        eprintln!("skipped: ffmpeg is not installed");
        return;
    }
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let validator = HttpKeyValidator::new(HttpValidatorConfig::streamly(&base, secret())).unwrap();
    let err = validator
        .validate(&ask("some-key"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unreachable") && err.contains(&base[7..]), "{err}");
    assert!(!err.contains("some-key"), "{err}");

    let mut ingest = Ingest::start(Arc::new(validator));
    ingest.refused("some-key").await;
    ingest.stop().await;
}

/// A third-party `on_publish` endpoint: key `good` → 204, `named` → 200
/// with a stream id, anything else → 403.
async fn on_publish_endpoint() -> (String, CancellationToken) {
    async fn on_publish(Json(body): Json<Value>) -> axum::response::Response {
        use axum::response::IntoResponse;
        match body["key"].as_str() {
            Some("good") => StatusCode::NO_CONTENT.into_response(),
            Some("named") => Json(json!({"stream_id": "named-stream"})).into_response(),
            _ => StatusCode::FORBIDDEN.into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/on_publish", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let app = axum::Router::new().route("/on_publish", post(on_publish));
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    (url, shutdown)
}

#[tokio::test]
async fn a_third_party_on_publish_endpoint_grants_with_2xx() {
    let (url, shutdown) = on_publish_endpoint().await;
    let validator = Arc::new(HttpKeyValidator::new(HttpValidatorConfig::new(&url)).unwrap());
    let good = StreamKey::parse("good").unwrap();
    assert_eq!(
        validator.validate(&ask("good")).await.unwrap(),
        PublishDecision::Grant(stream_id_for_key(&good))
    );
    assert_eq!(
        validator.validate(&ask("named")).await.unwrap(),
        PublishDecision::Grant(StreamId::parse("named-stream").unwrap())
    );
    assert_eq!(
        validator.validate(&ask("bad")).await.unwrap(),
        PublishDecision::Reject(RejectReason::UnknownKey)
    );
    // No end URL configured: nothing to tell.
    validator.publish_ended(&stream_id_for_key(&good)).await.unwrap();

    if have("ffmpeg") {
        let mut ingest = Ingest::start(validator);
        let mut ffmpeg = publish(&ingest.url("good"), true);
        assert_eq!(ingest.started().await, stream_id_for_key(&good));
        ffmpeg.kill().await.unwrap();
        ingest.ended().await;
        ingest.refused("bad").await;
        ingest.stop().await;
    } else {
        eprintln!("ffmpeg part skipped: ffmpeg is not installed");
    }
    shutdown.cancel();
}
