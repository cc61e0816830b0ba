//! Editing a stream's details and finding streams (issue 15), through the
//! real router over SQLite and Postgres (the latter when
//! `STREAMLY_TEST_POSTGRES_URL` is set; in its own schema).
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use streamly::api::{self, ApiConfig, ApiState, Dependencies, NoViewers, PublicUrls, RateLimitConfig};
use streamly::core::auth::{JwtConfig, JwtKeys, PasswordHasher};
use streamly::core::domain::StreamId;
use streamly::core::ports::{StreamStore, UserStore};
use streamly::core::services::{Accounts, Streams};
use tower::ServiceExt;

struct App {
    router: Router,
    store: Arc<dyn StreamStore>,
    _dir: Option<tempfile::TempDir>,
}

fn build(users: Arc<dyn UserStore>, store: Arc<dyn StreamStore>) -> Router {
    let hasher = PasswordHasher::with_costs(8, 1, 1).expect("cheap params");
    let jwt = JwtKeys::new(&JwtConfig {
        secret: b"test secret that is long enough to be used".to_vec(),
        issuer: "streamly".into(),
        ttl: Duration::from_secs(3600),
    })
    .expect("jwt");
    let accounts = Accounts::new(users.clone(), hasher, jwt);
    let streams = Streams::new(store.clone());
    let urls = PublicUrls::new("http://streamly.test", "rtmp://streamly.test:1935/live");
    let deps = Dependencies {
        users: Some(users),
        streams: Some(store),
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

async fn sqlite() -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let stores = streamly::core::adapters::sql::connect(&url)
        .await
        .expect("sqlite");
    App {
        router: build(stores.users, stores.streams.clone()),
        store: stores.streams,
        _dir: Some(dir),
    }
}

async fn postgres() -> Option<App> {
    let (with_schema, _schema) = platform_support::postgres_schema("discovery")?;
    let store = Arc::new(
        streamly::core::adapters::sql::PostgresStore::connect(&with_schema)
            .await
            .expect("postgres"),
    );
    Some(App {
        router: build(store.clone(), store.clone()),
        store,
        _dir: None,
    })
}

struct Reply {
    status: StatusCode,
    body: Value,
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
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
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

    async fn create(&self, token: &str, title: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/streams",
                Some(token),
                Some(json!({ "title": title })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    async fn ids(&self, uri: &str) -> Vec<String> {
        let r = self.call(Method::GET, uri, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn assert_422(r: &Reply, field: &str) {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "validation_failed", "{}", r.body);
    assert_eq!(r.body["error"]["field"], field, "{}", r.body);
}

async fn edit_search_and_filter(app: App) {
    let alice = app.register("alice").await;
    let bob = app.register("bob_plays").await;
    let chess = app.create(&alice, "Blitz chess").await;
    let run = app.create(&bob, "Mario 64").await;
    let idle = app.create(&bob, "Chess puzzles").await;

    // PATCH: title, description, category, tags together.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/streams/{run}"),
            Some(&bob),
            Some(json!({
                "title": "Mario 64 any%",
                "description": "Star runs.\nCome say hi 👩\u{200D}💻",
                "category": "gaming",
                "tags": ["speedrun", "n64"],
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["title"], "Mario 64 any%");
    assert_eq!(r.body["description"], "Star runs.\nCome say hi 👩\u{200D}💻");
    assert_eq!(r.body["category"], "gaming");
    assert_eq!(r.body["tags"], json!(["speedrun", "n64"]));
    let got = app
        .call(Method::GET, &format!("/api/streams/{run}"), None, None)
        .await;
    assert_eq!(got.body["tags"], json!(["speedrun", "n64"]));
    // A repeated tag is kept once.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/streams/{idle}"),
            Some(&bob),
            Some(json!({ "tags": ["chess", "puzzle", "chess"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["tags"], json!(["chess", "puzzle"]));
    // Only the fields sent change; `null` clears the category.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/streams/{run}"),
            Some(&bob),
            Some(json!({ "category": null })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["category"], Value::Null);
    assert_eq!(r.body["tags"], json!(["speedrun", "n64"]));
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/streams/{run}"),
            Some(&bob),
            Some(json!({ "category": "gaming" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Someone else's stream: 404.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/streams/{run}"),
            Some(&alice),
            Some(json!({ "description": "mine now" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Garbage: 422 JSON naming the field, and nothing changes.
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    for (body, field) in [
        (json!({ "description": "hi \u{202E}olleh" }), "description"),
        (json!({ "description": "\u{200B}" }), "description"),
        (json!({ "description": "x".repeat(2001) }), "description"),
        (json!({ "title": "ok", "tags": eleven }), "tags"),
        (json!({ "tags": ["Speedrun"] }), "tags"),
        (json!({ "tags": ["x".repeat(25)] }), "tags"),
        (json!({ "category": "cooking" }), "category"),
        (json!({ "title": "new", "category": "nope" }), "category"),
        (json!({ "title": "a\u{2066}b", "description": "fine" }), "title"),
    ] {
        let r = app
            .call(
                Method::PATCH,
                &format!("/api/streams/{run}"),
                Some(&bob),
                Some(body.clone()),
            )
            .await;
        assert_422(&r, field);
    }
    let got = app
        .call(Method::GET, &format!("/api/streams/{run}"), None, None)
        .await;
    assert_eq!(
        got.body["title"], "Mario 64 any%",
        "a refused PATCH changes nothing"
    );
    assert_eq!(got.body["description"], "Star runs.\nCome say hi 👩\u{200D}💻");
    assert_eq!(got.body["tags"], json!(["speedrun", "n64"]));

    // Search: title words (prefixes, any case), tags, the streamer.
    let mut both = app.ids("/api/search?q=CHES").await;
    both.sort();
    let mut want = vec![chess.clone(), idle.clone()];
    want.sort();
    assert_eq!(both, want);
    assert_eq!(app.ids("/api/search?q=speedrun").await, vec![run.clone()]);
    assert_eq!(app.ids("/api/search?q=mario%20n6").await, vec![run.clone()]);
    let mut bobs = app.ids("/api/search?q=BOB_plays").await;
    bobs.sort();
    let mut want = vec![run.clone(), idle.clone()];
    want.sort();
    assert_eq!(bobs, want);
    assert!(
        app.ids("/api/search?q=bob%40example.com").await.is_empty(),
        "never by email"
    );
    assert!(app.ids("/api/search?q=zebra").await.is_empty());
    assert!(
        app.ids("/api/search?q=%22%2A%29").await.is_empty(),
        "operators are not syntax"
    );
    assert_eq!(app.ids("/api/search?q=chess&limit=1").await.len(), 1);
    // Live first.
    app.store
        .set_live(
            &StreamId::parse(&idle).unwrap(),
            Some(streamly::core::domain::now_utc()),
        )
        .await
        .unwrap();
    assert_eq!(app.ids("/api/search?q=chess").await[0], idle);
    for bad in [
        "/api/search",
        "/api/search?q=",
        &format!("/api/search?q={}", "a".repeat(101)),
        "/api/search?q=a&limit=51",
        "/api/search?q=a&limit=0",
    ] {
        let r = app.call(Method::GET, bad, None, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        assert!(r.body["error"]["code"].is_string(), "{bad}: {}", r.body);
    }

    // The live list by category and order.
    app.store
        .set_live(
            &StreamId::parse(&run).unwrap(),
            Some(streamly::core::domain::now_utc()),
        )
        .await
        .unwrap();
    assert_eq!(app.ids("/api/streams?category=gaming").await, vec![run.clone()]);
    assert!(app.ids("/api/streams?category=music").await.is_empty());
    assert_eq!(app.ids("/api/streams?sort=viewers").await.len(), 2);
    assert_eq!(
        app.ids("/api/streams?sort=recent").await,
        vec![run.clone(), idle.clone()]
    );
    for bad in ["/api/streams?category=cooking", "/api/streams?sort=loudest"] {
        let r = app.call(Method::GET, bad, None, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
}

#[tokio::test]
async fn edit_search_and_filter_sqlite() {
    edit_search_and_filter(sqlite().await).await;
}

#[tokio::test]
async fn edit_search_and_filter_postgres() {
    if let Some(app) = postgres().await {
        edit_search_and_filter(app).await;
    }
}

/// The schema's patterns say what the validators do.
#[tokio::test]
async fn openapi_patterns_match_the_validators() {
    let app = sqlite().await;
    let doc = app.call(Method::GET, "/api/openapi.json", None, None).await.body;
    let schemas = &doc["components"]["schemas"];
    let update = &schemas["StreamUpdateRequest"]["properties"];
    let re = |p: &Value| regex::Regex::new(p.as_str().unwrap()).expect("a valid pattern");
    let description = re(&update["description"]["pattern"]);
    assert_eq!(update["description"]["maxLength"], 2000);
    use streamly::core::domain::{Category, StreamDescription, TAG_PATTERN, Tag};
    for t in [
        "",
        "plain",
        "two\nlines",
        "a\rb",
        "tab\t",
        "x\u{202E}y",
        "\u{200B}",
        "\u{FEFF}",
        "soft\u{AD}",
        "wörld 😀",
        "\u{85}",
        "\u{7}",
    ] {
        assert_eq!(
            description.is_match(t),
            StreamDescription::parse(t).is_ok(),
            "{t:?}"
        );
    }
    let tag = &schemas["TagSlug"];
    assert_eq!(tag["pattern"], TAG_PATTERN);
    let tag_re = re(&tag["pattern"]);
    for t in [
        "",
        "a",
        "-a",
        "A",
        "a-b",
        "é",
        "a_b",
        &"a".repeat(24),
        &"a".repeat(25),
    ] {
        assert_eq!(tag_re.is_match(t), Tag::parse(t).is_ok(), "{t:?}");
    }
    let category_re = re(&update["category"]["pattern"]);
    for c in Category::ALL {
        assert!(category_re.is_match(c.as_str()));
    }
    for c in ["", "Gaming", "cooking", "gaming "] {
        assert!(!category_re.is_match(c) && Category::parse(c).is_err(), "{c:?}");
    }
    assert_eq!(update["tags"]["maxItems"], 10);
    let params = doc["paths"]["/api/streams"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let param = |n: &str| params.iter().find(|p| p["name"] == n).unwrap()["schema"].clone();
    assert_eq!(param("category")["pattern"], update["category"]["pattern"]);
    assert_eq!(param("sort")["pattern"], "^(recent|viewers)$");
    let search = doc["paths"]["/api/search"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let q = search.iter().find(|p| p["name"] == "q").unwrap();
    assert_eq!(q["required"], true);
    assert_eq!(q["schema"]["maxLength"], 100);
}
