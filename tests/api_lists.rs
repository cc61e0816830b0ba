//! The list endpoints' pagination, the per-user stream limit and the OpenAPI
//! document's completeness, through the real router, over the in-memory
//! and the SQLite stores (issue 11).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use streamly::api::{self, ApiConfig, ApiState, Dependencies, NoViewers, PublicUrls, RateLimitConfig};
use streamly::core::adapters::{MemoryStreamStore, MemoryUserStore};
use streamly::core::auth::{JwtConfig, JwtKeys, PasswordHasher};
use streamly::core::domain::{CURSOR_PATTERN, StreamId};
use streamly::core::ports::{StreamStore, UserStore};
use streamly::core::services::{Accounts, Streams};
use tower::ServiceExt;

struct App {
    router: Router,
    store: Arc<dyn StreamStore>,
    /// Keeps the SQLite file alive.
    _dir: Option<tempfile::TempDir>,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

fn build(users: Arc<dyn UserStore>, store: Arc<dyn StreamStore>, max_streams: u32) -> Router {
    let hasher = PasswordHasher::with_costs(8, 1, 1).expect("cheap params");
    let jwt = JwtKeys::new(&JwtConfig {
        secret: b"test secret that is long enough to be used".to_vec(),
        issuer: "streamly".into(),
        ttl: Duration::from_secs(3600),
    })
    .expect("jwt");
    let accounts = Accounts::new(users.clone(), hasher, jwt);
    let streams = Streams::new(store.clone()).with_max_per_owner(max_streams);
    let urls = PublicUrls::new("http://streamly.test", "rtmp://streamly.test:1935/live");
    let deps = Dependencies {
        users: Some(users),
        streams: Some(store),
        chat: None,
        segments: None,
        ..Dependencies::default()
    };
    let state = ApiState::new(accounts, streams, Arc::new(NoViewers), urls.clone(), deps);
    let mut config = ApiConfig::new(urls);
    config.auth_rate_limit = RateLimitConfig {
        burst: 1000,
        per_second: 1000.0,
        ..RateLimitConfig::default()
    };
    api::router(state, &config)
}

fn memory(max_streams: u32) -> App {
    let store: Arc<dyn StreamStore> = Arc::new(MemoryStreamStore::new());
    App {
        router: build(Arc::new(MemoryUserStore::new()), store.clone(), max_streams),
        store,
        _dir: None,
    }
}

async fn sqlite(max_streams: u32) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let stores = streamly::core::adapters::sql::connect(&url)
        .await
        .expect("sqlite");
    App {
        router: build(stores.users, stores.streams.clone(), max_streams),
        store: stores.streams,
        _dir: Some(dir),
    }
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
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn register(&self, name: &str) -> String {
        let body =
            json!({"username": name, "email": format!("{name}@example.com"), "password": "correct horse"});
        let r = self
            .call(Method::POST, "/api/auth/register", None, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    async fn create(&self, token: &str, title: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/streams",
            Some(token),
            Some(json!({ "title": title })),
        )
        .await
    }

    /// Follows `X-Next-Cursor` from `first` to the last page; checks each
    /// page's size and its `Link`; returns the ids in order.
    async fn walk(&self, first: &str, token: Option<&str>, limit: usize) -> (Vec<String>, usize) {
        let mut uri = first.to_owned();
        let mut ids = Vec::new();
        let mut pages = 0;
        loop {
            let r = self.call(Method::GET, &uri, token, None).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
            pages += 1;
            let items = r.body.as_array().expect("a JSON array, as before pagination");
            assert!(items.len() <= limit, "{uri}: {} items", items.len());
            ids.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
            let Some(next) = r.headers.get("x-next-cursor") else {
                assert!(r.headers.get(header::LINK).is_none());
                break;
            };
            let next = next.to_str().unwrap();
            assert_eq!(items.len(), limit, "only a full page has a next one");
            let path = first.split('?').next().unwrap();
            let link = r.headers[header::LINK].to_str().unwrap();
            assert_eq!(
                link,
                format!("<{path}?limit={limit}&cursor={next}>; rel=\"next\"")
            );
            uri = format!("{path}?limit={limit}&cursor={next}");
        }
        (ids, pages)
    }
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{}", r.body);
}

async fn stream_limit(app: App) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = app.create(&alice, &format!("show {i}")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let r = app.create(&alice, "one too many").await;
    assert_error(&r, StatusCode::CONFLICT, "stream_limit");
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains('3'),
        "{}",
        r.body
    );
    // Per user; and deleting one makes room.
    assert_eq!(app.create(&bob, "bob's").await.status, StatusCode::CREATED);
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/streams/{}", ids[0]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.create(&alice, "again").await.status, StatusCode::CREATED);
    assert_error(
        &app.create(&alice, "full again").await,
        StatusCode::CONFLICT,
        "stream_limit",
    );
}

#[tokio::test]
async fn stream_limit_memory() {
    stream_limit(memory(3)).await;
}

#[tokio::test]
async fn stream_limit_sqlite() {
    stream_limit(sqlite(3).await).await;
}

#[tokio::test]
async fn the_default_limit_is_20() {
    let app = memory(streamly::core::services::DEFAULT_MAX_STREAMS_PER_USER);
    let alice = app.register("alice").await;
    for i in 0..20 {
        assert_eq!(
            app.create(&alice, &format!("s{i}")).await.status,
            StatusCode::CREATED
        );
    }
    assert_error(
        &app.create(&alice, "s20").await,
        StatusCode::CONFLICT,
        "stream_limit",
    );
    assert_eq!(
        streamly::PlatformConfig::new(vec![0; 32]).max_streams_per_user,
        20
    );
}

async fn my_streams_in_pages(app: App) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut created = Vec::new();
    for i in 0..7 {
        let r = app.create(&alice, &format!("show {i}")).await;
        created.push(r.body["id"].as_str().unwrap().to_owned());
    }
    app.create(&bob, "not alice's").await;
    // Without a limit: one page (the default is 50), no next.
    let r = app
        .call(Method::GET, "/api/streams/mine", Some(&alice), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_array().unwrap().len(), 7);
    assert!(r.headers.get("x-next-cursor").is_none());
    let all: Vec<String> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    // Newest first: the reverse of creation (ties broken by id).
    let mut expected = created.clone();
    expected.reverse();
    assert_eq!(
        all.iter().collect::<BTreeSet<_>>(),
        expected.iter().collect::<BTreeSet<_>>()
    );
    for limit in [1, 3, 7] {
        let (ids, pages) = app
            .walk(&format!("/api/streams/mine?limit={limit}"), Some(&alice), limit)
            .await;
        assert_eq!(ids, all, "limit {limit}: every stream once, in the same order");
        assert_eq!(pages, 7usize.div_ceil(limit));
    }
    // A stream created between two pages does not shift the next page.
    let r = app
        .call(Method::GET, "/api/streams/mine?limit=3", Some(&alice), None)
        .await;
    let cursor = r.headers["x-next-cursor"].to_str().unwrap().to_owned();
    app.create(&alice, "newest").await;
    let r = app
        .call(
            Method::GET,
            &format!("/api/streams/mine?limit=3&cursor={cursor}"),
            Some(&alice),
            None,
        )
        .await;
    let page2: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(page2, all[3..6].iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn my_streams_in_pages_memory() {
    my_streams_in_pages(memory(20)).await;
}

#[tokio::test]
async fn my_streams_in_pages_sqlite() {
    my_streams_in_pages(sqlite(20).await).await;
}

async fn live_streams_in_pages(app: App) {
    let alice = app.register("alice").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let r = app.create(&alice, &format!("show {i}")).await;
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    // Five go live, one second apart; two at the same instant (tie on time).
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    for (i, id) in ids.iter().take(5).enumerate() {
        let at = t0 + time::Duration::seconds(i.min(3) as i64);
        app.store
            .set_live(&StreamId::parse(id).unwrap(), Some(at))
            .await
            .unwrap();
    }
    let (live, pages) = app.walk("/api/streams?limit=2", None, 2).await;
    assert_eq!(pages, 3);
    let mut tied = [ids[3].clone(), ids[4].clone()];
    tied.sort();
    let expected = [
        tied[0].clone(),
        tied[1].clone(),
        ids[2].clone(),
        ids[1].clone(),
        ids[0].clone(),
    ];
    assert_eq!(
        live, expected,
        "most recently live first, ties by id, the offline one absent"
    );
}

#[tokio::test]
async fn live_streams_in_pages_memory() {
    live_streams_in_pages(memory(20)).await;
}

#[tokio::test]
async fn live_streams_in_pages_sqlite() {
    live_streams_in_pages(sqlite(20).await).await;
}

#[tokio::test]
async fn bad_limits_and_cursors_are_400_json() {
    let app = memory(20);
    let alice = app.register("alice").await;
    for path in ["/api/streams", "/api/streams/mine"] {
        for query in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=ten",
            "cursor=",
            "cursor=abc",
            "cursor=12.bad%2Fid",
            "cursor=99999999999999999999999.x",
            "limit=5&cursor=not-a-cursor",
        ] {
            let r = app
                .call(Method::GET, &format!("{path}?{query}"), Some(&alice), None)
                .await;
            assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
        }
        let r = app
            .call(Method::GET, &format!("{path}?limit=100"), Some(&alice), None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        // A well-formed cursor past everything: an empty last page.
        let r = app
            .call(Method::GET, &format!("{path}?cursor=0.zzz"), Some(&alice), None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, json!([]));
    }
}

/// Every operation documents the statuses its layers and extractors can
/// answer, checked against a table written from the router (not from the
/// document).
#[tokio::test]
async fn openapi_documents_every_status_and_the_text_rules() {
    let app = memory(20);
    let r = app.call(Method::GET, "/api/openapi.json", None, None).await;
    let doc = r.body;
    let body = ["400", "413", "415", "422"];
    let signed_in = ["401", "503"];
    let write = ["403"];
    let expected: &[(&str, &str, &[&[&str]])] = &[
        (
            "post",
            "/api/auth/register",
            &[&body, &write, &["201", "409", "429", "503"]],
        ),
        (
            "post",
            "/api/auth/login",
            &[&body, &write, &["200", "401", "429", "503"]],
        ),
        ("get", "/api/auth/me", &[&signed_in, &["200"]]),
        ("delete", "/api/auth/me", &[&signed_in, &write, &["204"]]),
        (
            "post",
            "/api/streams",
            &[&body, &signed_in, &write, &["201", "409"]],
        ),
        ("get", "/api/streams", &[&["200", "400", "503"]]),
        ("get", "/api/streams/mine", &[&signed_in, &["200", "400"]]),
        ("get", "/api/search", &[&["200", "400", "503"]]),
        ("get", "/api/streams/{id}", &[&["200", "404", "503"]]),
        (
            "patch",
            "/api/streams/{id}",
            &[&body, &signed_in, &write, &["200", "404"]],
        ),
        (
            "delete",
            "/api/streams/{id}",
            &[&signed_in, &write, &["204", "404"]],
        ),
        (
            "post",
            "/api/streams/{id}/key",
            &[&signed_in, &write, &["200", "404"]],
        ),
        (
            "get",
            "/api/streams/{id}/health",
            &[&signed_in, &["200", "404", "409"]],
        ),
        (
            "get",
            "/api/streams/{id}/health/events",
            &[&signed_in, &["200", "404", "409"]],
        ),
        (
            "get",
            "/api/streams/{id}/analytics",
            &[&signed_in, &["200", "400", "404", "503"]],
        ),
        (
            "get",
            "/api/streams/{id}/recordings",
            &[&["200", "400", "404", "503"]],
        ),
        ("get", "/api/recordings/{id}", &[&["200", "404", "503"]]),
        (
            "delete",
            "/api/recordings/{id}",
            &[&signed_in, &write, &["204", "404"]],
        ),
        ("get", "/api/users/{username}", &[&["200", "401", "404", "503"]]),
        (
            "get",
            "/api/users/{username}/avatar",
            &[&["200", "304", "404", "503"]],
        ),
        ("patch", "/api/profile", &[&body, &signed_in, &write, &["200"]]),
        (
            "put",
            "/api/profile/avatar",
            &[&body, &signed_in, &write, &["200"]],
        ),
        ("delete", "/api/profile/avatar", &[&signed_in, &write, &["200"]]),
        (
            "put",
            "/api/users/{username}/follow",
            &[&signed_in, &write, &["200", "404", "409"]],
        ),
        (
            "delete",
            "/api/users/{username}/follow",
            &[&signed_in, &write, &["200", "404"]],
        ),
        ("get", "/api/following", &[&signed_in, &["200"]]),
        ("get", "/health", &[&["200", "503"]]),
        ("get", "/metrics", &[&["200"]]),
        ("get", "/api/openapi.json", &[&["200"]]),
        (
            "post",
            "/api/internal/publish",
            &[&body, &["200", "401", "403", "404", "503"]],
        ),
        (
            "post",
            "/api/internal/publish_ended",
            &[&body, &write, &["204", "401", "404", "503"]],
        ),
    ];
    assert_eq!(expected.len(), api::ROUTES.len());
    for (method, path, groups) in expected {
        let responses = doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} undocumented"));
        let documented: BTreeSet<&str> = responses.keys().map(String::as_str).collect();
        let mut want: BTreeSet<&str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
        want.insert("408");
        assert_eq!(documented, want, "{method} {path}");
        for (status, response) in responses {
            if status.starts_with('4') && status != "408" || status == "503" && path.starts_with("/api") {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
    let retry = &doc["paths"]["/api/auth/login"]["post"]["responses"]["429"]["headers"]["Retry-After"];
    assert!(retry.is_object(), "{retry}");

    // Length, pattern and charset rules are schema constraints.
    let schemas = &doc["components"]["schemas"];
    let register = &schemas["RegisterRequest"]["properties"];
    assert_eq!(register["username"]["pattern"], "^[A-Za-z0-9_]{3,32}$");
    assert_eq!(register["password"]["minLength"], 8);
    assert_eq!(register["password"]["maxLength"], 1024);
    assert!(register["password"]["pattern"].is_string());
    assert_eq!(register["email"]["maxLength"], 254);
    assert!(register["email"]["pattern"].is_string());
    let title = &schemas["StreamTitleRequest"]["properties"]["title"];
    assert_eq!(title["minLength"], 1);
    assert_eq!(title["maxLength"], 140);
    // The patterns say what the validators do (BMP characters; a joiner's
    // placement is the one rule only the description states).
    let pattern = |p: &Value| regex::Regex::new(p.as_str().unwrap()).expect("a valid pattern");
    let (title_re, password_re, email_re) = (
        pattern(&title["pattern"]),
        pattern(&register["password"]["pattern"]),
        pattern(&register["email"]["pattern"]),
    );
    let texts = [
        "My show",
        " padded ",
        "x",
        "  ",
        "",
        "\t",
        "a\u{7}b",
        "\u{200B}",
        "a\u{200B}b",
        "abc\u{202E}fdp",
        "\u{2066}x\u{2069}",
        "\u{FEFF}hi",
        "soft\u{AD}hyphen",
        "wörld 😀",
        "\u{85}",
        "a\u{3000}b",
        "\u{3000}",
        "\u{A0}x\u{A0}",
        "line\nbreak",
        "correct horse",
        "        ",
        "\u{200B}\u{200B}\u{200B}\u{200B}x",
        "\0\0\0\0\0\0\0\0",
        "a@example.com",
        " a@example.com ",
        "a@b",
        "a@b.",
        "a@.b",
        "@b.c",
        "a b@c.d",
        "a@b@c.d",
        "é@ü.de",
        "a@b.c\u{7}",
        "\u{2003}a@b.cd",
    ];
    use streamly::core::domain::{Email, Password, StreamTitle};
    for t in texts {
        assert_eq!(title_re.is_match(t), StreamTitle::parse(t).is_ok(), "title {t:?}");
        let long_enough = t.chars().count() >= 8;
        assert_eq!(
            password_re.is_match(t) && long_enough,
            Password::parse(t).is_ok(),
            "password {t:?}"
        );
        assert_eq!(email_re.is_match(t), Email::parse(t).is_ok(), "email {t:?}");
    }
    for (method, path) in [("get", "/api/streams"), ("get", "/api/streams/mine")] {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let param = |name: &str| params.iter().find(|p| p["name"] == name).unwrap()["schema"].clone();
        let limit = param("limit");
        assert_eq!(
            (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
            (Some(1), Some(100))
        );
        assert_eq!(
            param("cursor")["pattern"],
            CURSOR_PATTERN,
            "{path}: the parser's own pattern"
        );
        let headers = &doc["paths"][path][method]["responses"]["200"]["headers"];
        assert!(
            headers["X-Next-Cursor"].is_object() && headers["Link"].is_object(),
            "{path}"
        );
    }
}
