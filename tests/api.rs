//! The REST API through the router, in process: every route, its errors and
//! its auth rules.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use streamly::api::{self, ApiConfig, ApiState, Dependencies, NoViewers, PublicUrls, RateLimitConfig};
use streamly::core::adapters::{MemoryChatBus, MemorySegmentSink, MemoryStreamStore, MemoryUserStore};
use streamly::core::auth::{JwtConfig, JwtKeys, PasswordHasher, StreamKey};
use streamly::core::domain::{NewUser, StreamId, User, UserId};
use streamly::core::ports::{
    PublishDecision, PublishRequest, StoreError, StreamKeyValidator, StreamStore, UserStore,
};
use streamly::core::services::{Accounts, HashingLimit, StoreKeyValidator, Streams};
use tower::ServiceExt;

struct App {
    router: Router,
    streams: Streams,
    /// What the API's delete hooks were called with.
    deleted: Arc<Deleted>,
}

#[derive(Default)]
struct Deleted {
    streams: std::sync::Mutex<Vec<StreamId>>,
    users: std::sync::Mutex<Vec<UserId>>,
}

fn jwt() -> JwtKeys {
    JwtKeys::new(&JwtConfig {
        secret: b"test secret that is long enough to be used".to_vec(),
        issuer: "streamly".into(),
        ttl: Duration::from_secs(3600),
    })
    .expect("valid jwt config")
}

fn app_with(users: Arc<dyn UserStore>, config_edit: impl FnOnce(&mut ApiConfig)) -> App {
    let hasher = PasswordHasher::with_costs(8, 1, 1).expect("cheap params");
    let accounts = Accounts::new(users.clone(), hasher, jwt());
    app_from(users, accounts, config_edit)
}

fn app_from(users: Arc<dyn UserStore>, accounts: Accounts, config_edit: impl FnOnce(&mut ApiConfig)) -> App {
    let store: Arc<dyn StreamStore> = Arc::new(MemoryStreamStore::new());
    let streams = Streams::new(store.clone());
    let urls = PublicUrls::new("http://streamly.test", "rtmp://streamly.test:1935/live");
    let deps = Dependencies {
        users: Some(users),
        streams: Some(store),
        chat: Some(Arc::new(MemoryChatBus::default())),
        segments: Some(Arc::new(MemorySegmentSink::new(1 << 20))),
        ..Dependencies::default()
    };
    let deleted = Arc::new(Deleted::default());
    let (on_stream, on_user) = (deleted.clone(), deleted.clone());
    let state = ApiState::new(accounts, streams.clone(), Arc::new(NoViewers), urls.clone(), deps)
        .on_delete(move |id| on_stream.streams.lock().unwrap().push(id.clone()))
        .on_user_delete(move |id| on_user.users.lock().unwrap().push(id));
    let mut config = ApiConfig::new(urls);
    config.auth_rate_limit = RateLimitConfig {
        burst: 1000,
        per_second: 1000.0,
        ..RateLimitConfig::default()
    };
    config.cors_origins = vec!["https://friend.example".into()];
    config_edit(&mut config);
    let router = api::harden(
        api::router(state, &config),
        &api::content_security_policy(None, &[]),
    );
    App {
        router,
        streams,
        deleted,
    }
}

fn app() -> App {
    app_with(Arc::new(MemoryUserStore::new()), |_| {})
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    text: String,
}

impl App {
    async fn call(&self, method: Method, uri: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    async fn register(&self, name: &str) -> (String, Value) {
        let r = self
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"username": name, "email": format!("{name}@example.com"), "password": "correct horse"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (
            r.body["token"].as_str().unwrap().to_owned(),
            r.body["user"].clone(),
        )
    }

    async fn create_stream(&self, token: &str, title: &str) -> Value {
        let r = self
            .call(
                Method::POST,
                "/api/streams",
                Some(token),
                Some(json!({ "title": title })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    assert!(
        r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn register_login_me() {
    let app = app();
    let (token, user) = app.register("alice").await;
    assert_eq!(user["username"], "alice");
    assert!(user.get("password_hash").is_none());

    for login in ["alice", "ALICE", "alice@example.com"] {
        let r = app
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"login": login, "password": "correct horse"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{login}: {}", r.text);
        assert_eq!(r.body["user"]["id"], user["id"]);
    }
    let r = app.call(Method::GET, "/api/auth/me", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["email"], "alice@example.com");
}

#[tokio::test]
async fn register_errors() {
    let app = app();
    app.register("alice").await;
    let post = |body: Value| app.call(Method::POST, "/api/auth/register", None, Some(body));
    let r =
        post(json!({"username": "Alice", "email": "other@example.com", "password": "correct horse"})).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    let r = post(json!({"username": "bob", "email": "alice@example.com", "password": "correct horse"})).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    let r = post(json!({"username": "a!", "email": "b@example.com", "password": "correct horse"})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["error"]["field"], "username");
    let r = post(json!({"username": "bob", "email": "nope", "password": "correct horse"})).await;
    assert_eq!(r.body["error"]["field"], "email");
    let r = post(json!({"username": "bob", "email": "b@example.com", "password": "short"})).await;
    assert_eq!(r.body["error"]["field"], "password");
    let r = post(json!({"username": "bob"})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = post(json!({"username": 5, "email": "b@example.com", "password": "correct horse"})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Malformed JSON, wrong content type, oversized body.
    let raw = |body: &'static str, ct: Option<&str>| {
        let mut req = Request::post("/api/auth/register");
        if let Some(ct) = ct {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        req.body(Body::from(body)).expect("request")
    };
    let r = app.send(raw("{\"username\":", Some("application/json"))).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    let r = app.send(raw("{}", None)).await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let big = format!("{{\"username\":\"{}\"}}", "x".repeat(100 * 1024));
    let req = Request::post("/api/auth/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .expect("request");
    let r = app.send(req).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn login_and_token_errors() {
    let app = app();
    app.register("alice").await;
    for (login, password) in [("alice", "wrong password"), ("nobody", "correct horse")] {
        let r = app
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"login": login, "password": password})),
            )
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let r = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"login": "alice"})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let r = app.call(Method::GET, "/api/auth/me", None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app
        .call(Method::GET, "/api/auth/me", Some("not.a.jwt"), None)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let req = Request::get("/api/auth/me")
        .header(header::AUTHORIZATION, "Basic abc")
        .body(Body::empty())
        .expect("request");
    assert_error(&app.send(req).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    // A well-signed token for a user that does not exist.
    let ghost = jwt()
        .issue_at(
            UserId::new_random(),
            &streamly::core::domain::Username::parse("ghost").expect("valid"),
            time::OffsetDateTime::now_utc(),
        )
        .expect("issue");
    let r = app.call(Method::GET, "/api/auth/me", Some(&ghost), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    // An expired one.
    let (token, user) = app.register("bob").await;
    assert!(!token.is_empty());
    let expired = jwt()
        .issue_at(
            user["id"].as_str().unwrap().parse().expect("uuid"),
            &streamly::core::domain::Username::parse("bob").expect("valid"),
            time::OffsetDateTime::now_utc() - time::Duration::days(30),
        )
        .expect("issue");
    let r = app.call(Method::GET, "/api/auth/me", Some(&expired), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn streams_crud_and_ownership() {
    let app = app();
    let (alice, _) = app.register("alice").await;
    let (bob, _) = app.register("bob").await;

    let r = app
        .call(Method::POST, "/api/streams", None, Some(json!({"title": "x"})))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app
        .call(
            Method::POST,
            "/api/streams",
            Some(&alice),
            Some(json!({"title": "  "})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let created = app.create_stream(&alice, "Alice plays chess").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["stream_key"].as_str().unwrap().to_owned();
    assert_eq!(created["rtmp_url"], "rtmp://streamly.test:1935/live");
    assert_eq!(
        created["playback_url"],
        format!("http://streamly.test/hls/{id}/index.m3u8")
    );
    assert_eq!(created["title"], "Alice plays chess");
    assert_eq!(created["live"], false);
    assert!(
        !created["playback_url"].as_str().unwrap().contains(&key),
        "keyed by id, never by key"
    );

    // Public read; the key never appears again.
    let r = app
        .call(Method::GET, &format!("/api/streams/{id}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["owner"]["username"], "alice");
    assert!(!r.text.contains(&key));
    for missing in ["/api/streams/nope", "/api/streams/bad%20id", "/api/streams/..%2F"] {
        let r = app.call(Method::GET, missing, None, None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }

    // Mine.
    let r = app
        .call(Method::GET, "/api/streams/mine", Some(&alice), None)
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
    assert!(!r.text.contains(&key));
    let r = app.call(Method::GET, "/api/streams/mine", Some(&bob), None).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(0));
    let r = app.call(Method::GET, "/api/streams/mine", None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");

    // Rename: owner only; others see 404.
    let path = format!("/api/streams/{id}");
    let r = app
        .call(
            Method::PATCH,
            &path,
            Some(&bob),
            Some(json!({"title": "mine now"})),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = app
        .call(Method::PATCH, &path, None, Some(json!({"title": "mine now"})))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app
        .call(Method::PATCH, &path, Some(&alice), Some(json!({"title": ""})))
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = app
        .call(
            Method::PATCH,
            &path,
            Some(&alice),
            Some(json!({"title": "Endgames"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["title"], "Endgames");

    // Rotate: owner only; the old key stops working.
    let key_path = format!("/api/streams/{id}/key");
    let r = app.call(Method::POST, &key_path, Some(&bob), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = app.call(Method::POST, &key_path, None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app.call(Method::POST, &key_path, Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let new_key = r.body["stream_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    let validator = StoreKeyValidator::new(app.streams.clone(), ["live".to_owned()]);
    let ask = |k: &str| PublishRequest {
        app: "live".into(),
        key: StreamKey::parse(k).expect("key"),
    };
    assert!(matches!(
        validator.validate(&ask(&key)).await,
        Ok(PublishDecision::Reject(_))
    ));
    let granted = validator.validate(&ask(&new_key)).await.expect("validator works");
    assert_eq!(granted, PublishDecision::Grant(StreamId::parse(&id).expect("id")));

    // Delete: owner only.
    let r = app.call(Method::DELETE, &path, Some(&bob), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = app.call(Method::DELETE, &path, None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app.call(Method::DELETE, &path, Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.call(Method::GET, &path, None, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn live_list_is_newest_first() {
    let app = app();
    let (alice, _) = app.register("alice").await;
    let r = app.call(Method::GET, "/api/streams", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!([]));
    let a = app.create_stream(&alice, "first").await;
    let b = app.create_stream(&alice, "second").await;
    let _offline = app.create_stream(&alice, "offline").await;
    for s in [&a, &b] {
        let id = StreamId::parse(s["id"].as_str().unwrap()).expect("id");
        app.streams.go_live(&id).await.expect("live");
        tokio::time::sleep(Duration::from_millis(2)).await; // distinct start times
    }
    let r = app.call(Method::GET, "/api/streams", None, None).await;
    let titles: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["second", "first"]);
    assert_eq!(r.body[0]["live"], true);
    assert_eq!(r.body[0]["viewers"], 0);
    assert!(r.body[0]["live_since"].is_string());
    assert!(r.body[0].get("stream_key").is_none());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let app = app();
    for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
        let r = app.call(method, "/api/nope", None, None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    let r = app.call(Method::PUT, "/api/streams", None, None).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let r = app.call(Method::GET, "/api/auth/login", None, None).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn auth_routes_are_rate_limited_per_ip() {
    let app = app_with(Arc::new(MemoryUserStore::new()), |c| {
        c.auth_rate_limit = RateLimitConfig {
            burst: 2,
            per_second: 0.01,
            ..RateLimitConfig::default()
        };
    });
    let login = |peer: Option<[u8; 4]>| {
        let mut req = Request::post("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"login":"x","password":"y"}"#))
            .expect("request");
        if let Some(ip) = peer {
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
        }
        app.send(req)
    };
    let a = Some([192, 0, 2, 1]);
    let b = Some([192, 0, 2, 2]);
    assert_eq!(login(a).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login(a).await.status, StatusCode::UNAUTHORIZED);
    let r = login(a).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(r.headers.get(header::RETRY_AFTER).is_some());
    // Another address has its own bucket.
    assert_eq!(login(b).await.status, StatusCode::UNAUTHORIZED);
    // Without a known client address there is no shared bucket to exhaust.
    for _ in 0..4 {
        assert_eq!(login(None).await.status, StatusCode::UNAUTHORIZED);
    }
    // Other routes are not limited.
    let r = app.call(Method::GET, "/api/streams", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_origin_check_and_security_headers() {
    let app = app();
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/streams")
        .header(header::ORIGIN, "https://friend.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .body(Body::empty())
        .expect("request");
    let r = app.send(preflight).await;
    assert_eq!(
        r.headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .and_then(|v| v.to_str().ok()),
        Some("https://friend.example")
    );
    let foreign = Request::post("/api/auth/login")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"login":"a","password":"b"}"#))
        .expect("request");
    let r = app.send(foreign).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    let r = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(r.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert_eq!(r.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    assert!(r.headers.get(header::REFERRER_POLICY).is_some());
    let csp = r
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
}

#[tokio::test]
async fn health_reports_each_dependency() {
    let app = app();
    let r = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "ok");
    for dep in ["users", "streams", "chat_bus", "segments"] {
        assert_eq!(r.body["checks"][dep]["status"], "up", "{dep}");
    }

    let app = app_with(Arc::new(DownUsers), |_| {});
    let r = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["status"], "degraded");
    assert_eq!(r.body["checks"]["users"]["status"], "down");
    // The store's error text stays in the log.
    assert_eq!(r.body["checks"]["users"]["error"], "unavailable");
    assert!(!r.text.contains("connection refused"), "{}", r.text);
    assert_eq!(r.body["checks"]["streams"]["status"], "up");
    // A down store is a 503 on the API too, never a 500.
    let r = app
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": "alice", "email": "a@example.com", "password": "correct horse"})),
        )
        .await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = app();
    app.call(Method::GET, "/api/streams", None, None).await;
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "content type"
    );
    assert!(r.text.contains("streamly_http_requests_total"), "{}", r.text);
    assert!(
        r.text.contains("streamly_http_request_duration_seconds_bucket"),
        "{}",
        r.text
    );
    assert!(r.text.contains("streamly_live_streams"), "{}", r.text);
}

#[tokio::test]
async fn openapi_lists_every_route() {
    // The internal endpoints are routed only with a secret.
    let secret = streamly::core::auth::SharedSecret::parse("an-internal-secret-for-tests").expect("secret");
    let app = app_with(Arc::new(MemoryUserStore::new()), |c| {
        c.internal_secret = Some(secret)
    });
    let r = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = r.body["paths"].as_object().expect("paths");
    for (method, path) in api::ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing from OpenAPI"
        );
    }
    // And the other way round: every documented API operation is served.
    for (path, item) in paths {
        for method in ["get", "post", "patch", "delete", "put"] {
            // HLS, recordings' media and chat are served beside the API router.
            let beside = path.starts_with("/hls") || path.starts_with("/recordings/") || path == "/ws";
            if item.get(method).is_some() && !beside {
                assert!(
                    api::ROUTES.contains(&(method, path.as_str())),
                    "{method} {path} documented, not routed"
                );
            }
        }
    }
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());
    // Each listed route answers with something other than "no such route".
    for (method, path) in api::ROUTES {
        let uri = path.replace("{id}", "some-id");
        let m: Method = method.to_uppercase().parse().expect("method");
        let r = app.call(m, &uri, None, None).await;
        assert_ne!(r.body["error"]["message"], "no such API route", "{method} {path}");
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
}

/// A user store whose backend is down.
struct DownUsers;

fn down() -> StoreError {
    StoreError::unavailable(std::io::Error::other("connection refused"))
}

#[async_trait]
impl UserStore for DownUsers {
    async fn create(&self, _new: NewUser) -> Result<User, StoreError> {
        Err(down())
    }
    async fn get(&self, _id: UserId) -> Result<User, StoreError> {
        Err(down())
    }
    async fn find_by_login(&self, _login: &str) -> Result<Option<User>, StoreError> {
        Err(down())
    }
    async fn set_password_hash(&self, _id: UserId, _hash: &str) -> Result<(), StoreError> {
        Err(down())
    }
    async fn delete(&self, _id: UserId) -> Result<(), StoreError> {
        Err(down())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(down())
    }
}

#[tokio::test]
async fn web_ui_is_embedded_and_served_with_a_csp() {
    let mut config = streamly::PlatformConfig::new(b"a secret of at least thirty-two bytes".to_vec());
    config.rtmp_addr = "127.0.0.1:0".parse().expect("addr");
    config.ui = streamly::web::UiConfig::with_hls_js(Some("https://cdn.example/hls.min.js".into()));
    let platform = streamly::Platform::builder(config)
        .build()
        .await
        .expect("platform");
    let app = App {
        router: platform.router(),
        streams: platform.streams().clone(),
        deleted: Arc::default(),
    };
    for (path, needle) in [
        ("/", "Live now"),
        ("/watch/some-stream", "id=\"player\""),
        ("/signin", "Sign in"),
        ("/signup", "Create an account"),
        ("/dashboard", "Your streams"),
    ] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.text.contains(needle), "{path}");
        assert!(
            r.text.contains("<label") || path == "/" || path.starts_with("/watch"),
            "{path} has labels"
        );
        assert!(
            !r.text.contains("http://") && !r.text.contains("https://"),
            "{path} fetches nothing from elsewhere"
        );
        assert!(
            r.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self' https://cdn.example;"), "{csp}");
    }
    for asset in [
        "app.js",
        "home.js",
        "watch.js",
        "auth.js",
        "dashboard.js",
        "style.css",
    ] {
        let r = app
            .call(Method::GET, &format!("/assets/{asset}"), None, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{asset}");
        assert!(
            !r.text.contains("https://"),
            "{asset} fetches nothing from elsewhere"
        );
    }
    let r = app.call(Method::GET, "/ui-config.json", None, None).await;
    assert_eq!(r.body["hls_js_url"], "https://cdn.example/hls.min.js");
    let r = app.call(Method::GET, "/no/such/page", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::GET, "/assets/../Cargo.toml", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The HLS and chat routes are part of the same router.
    let r = app
        .call(Method::GET, "/hls/some-stream/index.m3u8", None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::GET, "/ws?room=some-stream", None, None).await;
    assert_ne!(r.status, StatusCode::NOT_FOUND, "chat route is mounted");
}

#[tokio::test]
async fn deleting_your_account_takes_its_streams_and_token() {
    let app = app();
    let r = app.call(Method::DELETE, "/api/auth/me", None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (token, user) = app.register("alice").await;
    let (bob, _) = app.register("bob").await;
    let first = app.create_stream(&token, "one").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.create_stream(&token, "two").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kept = app.create_stream(&bob, "bob's").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app.call(Method::DELETE, "/api/auth/me", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(r.text.is_empty(), "{}", r.text);
    // Each stream went through the stream-delete hook (publisher, HLS), then
    // the user through the account hook (chat).
    let mut streams: Vec<String> = app
        .deleted
        .streams
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    streams.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(streams, expected);
    let users: Vec<String> = app
        .deleted
        .users
        .lock()
        .unwrap()
        .iter()
        .map(|u| u.to_string())
        .collect();
    assert_eq!(users, vec![user["id"].as_str().unwrap().to_owned()]);
    for id in [&first, &second] {
        let r = app
            .call(Method::GET, &format!("/api/streams/{id}"), None, None)
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }

    // The token still verifies but names nobody: refused everywhere.
    let r = app.call(Method::GET, "/api/auth/me", Some(&token), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app.call(Method::DELETE, "/api/auth/me", Some(&token), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app
        .call(
            Method::POST,
            "/api/streams",
            Some(&token),
            Some(json!({"title": "back"})),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"login": "alice", "password": "correct horse"})),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(app.deleted.users.lock().unwrap().len(), 1);

    // Others are untouched; the name is free again.
    let r = app
        .call(Method::GET, &format!("/api/streams/{kept}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.call(Method::GET, "/api/auth/me", Some(&bob), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.register("alice").await;
}

/// A user store that cannot delete (its other calls work).
struct UndeletableUsers(MemoryUserStore);

#[async_trait]
impl UserStore for UndeletableUsers {
    async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        self.0.create(new).await
    }
    async fn get(&self, id: UserId) -> Result<User, StoreError> {
        self.0.get(id).await
    }
    async fn find_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        self.0.find_by_login(login).await
    }
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<(), StoreError> {
        self.0.set_password_hash(id, hash).await
    }
    async fn delete(&self, _id: UserId) -> Result<(), StoreError> {
        Err(down())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
}

#[tokio::test]
async fn an_account_the_store_cannot_delete_is_a_503_and_stays() {
    let app = app_with(Arc::new(UndeletableUsers(MemoryUserStore::new())), |_| {});
    let (token, _) = app.register("alice").await;
    let r = app.call(Method::DELETE, "/api/auth/me", Some(&token), None).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    // The account is still there (retrying is safe), and chat was not told.
    let r = app.call(Method::GET, "/api/auth/me", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(app.deleted.users.lock().unwrap().is_empty());
}

#[tokio::test]
async fn password_hashing_past_its_limit_is_a_503_with_retry_after() {
    let users: Arc<dyn UserStore> = Arc::new(MemoryUserStore::new());
    // A hash of tens of milliseconds, one at a time, no waiting.
    let hasher = PasswordHasher::with_costs(16 * 1024, 4, 1).expect("params");
    let accounts = Accounts::new(users.clone(), hasher, jwt()).with_hashing_limit(HashingLimit {
        max_concurrent: 1,
        max_wait: Duration::from_millis(1),
    });
    let app = app_from(users, accounts, |_| {});
    let login = |i: usize| {
        app.call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"login": format!("user{i}"), "password": "correct horse"})),
        )
    };
    let (a, b, c) = tokio::join!(login(1), login(2), login(3));
    let replies = [a, b, c];
    assert!(
        replies.iter().any(|r| r.status == StatusCode::UNAUTHORIZED),
        "one got its turn"
    );
    let busy: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "the others were refused");
    for r in busy {
        assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "busy");
        assert_eq!(r.headers[header::RETRY_AFTER], "1", "{:?}", r.headers);
        assert_eq!(
            r.headers[header::CONTENT_TYPE],
            "application/json",
            "{:?}",
            r.headers
        );
    }
}

#[tokio::test]
async fn unprocessable_bodies_name_the_field_not_a_rust_type() {
    let app = app();
    let (token, _) = app.register("alice").await;
    let app = &app;
    let post = |uri: &'static str, token: Option<String>, body: Value| async move {
        app.call(Method::POST, uri, token.as_deref(), Some(body)).await
    };
    let cases = [
        (
            json!(["alice", "a@example.com", "correct horse"]),
            None,
            "the body must be a JSON object",
        ),
        (json!("alice"), None, "the body must be a JSON object"),
        (json!(42), None, "the body must be a JSON object"),
        (
            json!({"username": 5, "email": "b@example.com", "password": "correct horse"}),
            Some("username"),
            "`username` must be a string, not integer `5`",
        ),
        (
            json!({"username": "bob", "email": {"x": 1}, "password": "correct horse"}),
            Some("email"),
            "`email` must be a string, not an object",
        ),
        (
            json!({"username": "bob", "email": "b@example.com"}),
            Some("password"),
            "`password` is required",
        ),
    ];
    for (body, field, message) in cases {
        let r = post("/api/auth/register", None, body.clone()).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let got = r.body["error"]["message"].as_str().unwrap();
        assert!(got.starts_with(message), "{body}: {got}");
        assert_eq!(r.body["error"]["field"].as_str(), field, "{body}: {}", r.text);
        for rust in [
            "struct",
            "Request",
            "enum",
            "String",
            "u32",
            "u64",
            "Failed to deserialize",
        ] {
            assert!(!r.text.contains(rust), "{body}: {}", r.text);
        }
    }
    // The same on a route with a token.
    let r = post("/api/streams", Some(token), json!({"title": ["x"]})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["error"]["field"], "title", "{}", r.text);
    assert!(
        !r.text.contains("struct") && !r.text.contains("Request"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn invisible_and_bidi_characters_and_blank_passwords_are_refused() {
    let app = app();
    let (token, _) = app.register("alice").await;
    for title in [
        "\u{200B}",
        "live\u{202E}4pm.exe",
        "\u{2066}hi\u{2069}",
        "\u{FEFF}x",
    ] {
        let r = app
            .call(
                Method::POST,
                "/api/streams",
                Some(&token),
                Some(json!({ "title": title })),
            )
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["error"]["field"], "title", "{title:?}: {}", r.text);
    }
    app.create_stream(&token, "coding 👩\u{200D}💻").await;
    for password in ["        ", "\0\0\0\0\0\0\0\0", &"x".repeat(1025)] {
        let r = app
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"username": "bob", "email": "bob@example.com", "password": password})),
            )
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["error"]["field"], "password", "{}", r.text);
    }
    let r = app
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": "bob\u{200B}", "email": "bob@example.com", "password": "correct horse"})),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "username", "{}", r.text);
}
