//! Unit tests of the services against mocked ports (mockall).

use std::sync::Arc;
use std::time::Duration;

use mockall::predicate::eq;

use super::*;
use crate::auth::{JwtConfig, JwtKeys, PasswordHasher, StreamKey};
use crate::domain::{Email, Stream, StreamId, StreamTitle, User, UserId, Username};
use crate::ports::{
    ConflictField, MockStreamStore, MockUserStore, PublishDecision, PublishRequest, RejectReason, StoreError,
    StreamKeyValidator,
};

fn hasher() -> PasswordHasher {
    PasswordHasher::with_costs(256, 1, 1).expect("valid params")
}

fn jwt() -> JwtKeys {
    JwtKeys::new(&JwtConfig {
        secret: vec![1; 32],
        issuer: "test".into(),
        ttl: Duration::from_secs(60),
    })
    .expect("config")
}

fn user(hash: &str) -> User {
    User {
        id: UserId::new_random(),
        username: Username::parse("alice").expect("valid"),
        email: Email::parse("alice@example.com").expect("valid"),
        password_hash: hash.into(),
        created_at: crate::domain::now_utc(),
    }
}

fn accounts(store: MockUserStore) -> Accounts {
    Accounts::new(Arc::new(store), hasher(), jwt())
}

#[tokio::test]
async fn register_validates_before_touching_the_store() {
    // No expectations: any store call would panic the mock.
    let a = accounts(MockUserStore::new());
    for (u, e, p) in [
        ("x", "a@b.co", "password1"),
        ("alice", "nope", "password1"),
        ("alice", "a@b.co", "short"),
    ] {
        assert!(
            matches!(a.register(u, e, p).await, Err(AccountError::Invalid(_))),
            "{u} {e} {p}"
        );
    }
}

#[tokio::test]
async fn register_maps_store_conflict() {
    let mut store = MockUserStore::new();
    store
        .expect_create()
        .returning(|_| Err(StoreError::Conflict(ConflictField::Email)));
    let e = accounts(store)
        .register("alice", "alice@example.com", "password1")
        .await;
    assert!(
        matches!(e, Err(AccountError::Conflict(ConflictField::Email))),
        "{e:?}"
    );
}

#[tokio::test]
async fn register_stores_an_argon2_hash_and_issues_a_token() {
    let mut store = MockUserStore::new();
    store.expect_create().returning(|new| {
        assert!(new.password_hash.starts_with("$argon2id$"));
        let mut u = user(&new.password_hash);
        u.username = new.username;
        Ok(u)
    });
    let a = accounts(store);
    let session = a
        .register("alice", "alice@example.com", "password1")
        .await
        .expect("registered");
    assert_eq!(
        a.verify_token(&session.token).expect("valid token").sub,
        session.user.id
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let stored = hasher().hash("right-password").expect("hash");
    let known = user(&stored);
    let mut store = MockUserStore::new();
    store
        .expect_find_by_login()
        .with(eq("alice".to_owned()))
        .returning(move |_| Ok(Some(known.clone())));
    store.expect_find_by_login().returning(|_| Ok(None));
    let a = accounts(store);
    let wrong = a.login("alice", "wrong-password").await.expect_err("refused");
    let unknown = a.login("mallory", "wrong-password").await.expect_err("refused");
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert!(matches!(wrong, AccountError::InvalidCredentials));
    assert!(a.login("alice", "right-password").await.is_ok());
}

#[tokio::test]
async fn bcrypt_login_upgrades_the_hash() {
    let legacy = user(&bcrypt::hash("legacy-password", 4).expect("bcrypt"));
    let id = legacy.id;
    let mut store = MockUserStore::new();
    store
        .expect_find_by_login()
        .returning(move |_| Ok(Some(legacy.clone())));
    store
        .expect_set_password_hash()
        .withf(move |uid, hash| *uid == id && hash.starts_with("$argon2id$"))
        .times(1)
        .returning(|_, _| Ok(()));
    accounts(store)
        .login("alice", "legacy-password")
        .await
        .expect("login");
}

/// A hash that takes tens of milliseconds even with optimised argon2.
fn slow_hasher() -> PasswordHasher {
    PasswordHasher::with_costs(16 * 1024, 4, 1).expect("valid params")
}

fn unknown_logins() -> MockUserStore {
    let mut store = MockUserStore::new();
    store.expect_find_by_login().returning(|_| Ok(None));
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_past_the_limit_waits_then_is_busy() {
    let a =
        Accounts::new(Arc::new(unknown_logins()), slow_hasher(), jwt()).with_hashing_limit(HashingLimit {
            max_concurrent: 1,
            max_wait: Duration::from_millis(1),
        });
    let (first, second) = tokio::join!(a.login("x", "password-1"), a.login("y", "password-2"));
    assert!(
        matches!(first, Err(AccountError::InvalidCredentials)),
        "{first:?}"
    );
    match second {
        Err(AccountError::Busy { retry_after }) => assert_eq!(retry_after, Duration::from_secs(1)),
        other => panic!("expected Busy, got {other:?}"),
    }

    // With time to wait, the same requests take turns and all get through.
    let patient = a.clone().with_hashing_limit(HashingLimit {
        max_concurrent: 1,
        max_wait: Duration::from_secs(30),
    });
    let logins: Vec<_> = (0..4)
        .map(|i| {
            let patient = patient.clone();
            tokio::spawn(async move { patient.login(&format!("u{i}"), "password-1").await })
        })
        .collect();
    for login in logins {
        let result = login.await.expect("task");
        assert!(
            matches!(result, Err(AccountError::InvalidCredentials)),
            "{result:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_login_keeps_its_slot_until_its_hash_ends() {
    let a =
        Accounts::new(Arc::new(unknown_logins()), slow_hasher(), jwt()).with_hashing_limit(HashingLimit {
            max_concurrent: 1,
            max_wait: Duration::from_millis(1),
        });
    let cancelled = tokio::spawn({
        let a = a.clone();
        async move { a.login("x", "password-1").await }
    });
    // Let it take the slot and start hashing, then hang up.
    tokio::time::sleep(Duration::from_millis(5)).await;
    cancelled.abort();
    let second = a.login("y", "password-2").await;
    assert!(matches!(second, Err(AccountError::Busy { .. })), "{second:?}");
}

#[tokio::test]
async fn an_overlong_login_password_is_refused_unhashed() {
    // No expectations: the store is not even asked.
    let a = accounts(MockUserStore::new());
    let long = "x".repeat(crate::domain::PASSWORD_MAX_LEN + 1);
    assert!(matches!(
        a.login("alice", &long).await,
        Err(AccountError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn token_of_deleted_user_is_unauthenticated() {
    let mut store = MockUserStore::new();
    store.expect_get().returning(|_| Err(StoreError::NotFound));
    let a = accounts(store);
    let token = a.jwt().issue(&user("x")).expect("token");
    assert!(matches!(
        a.authenticate(&token).await,
        Err(AccountError::Unauthenticated(_))
    ));
    assert!(matches!(
        a.authenticate("garbage").await,
        Err(AccountError::Unauthenticated(_))
    ));
}

fn stream(owner: UserId, key: &StreamKey) -> Stream {
    Stream {
        id: StreamId::new_random(),
        owner,
        title: StreamTitle::parse("show").expect("title"),
        key_hash: key.hash(),
        live_since: None,
        created_at: crate::domain::now_utc(),
        record: true,
        details: crate::domain::StreamDetails::default(),
    }
}

#[tokio::test]
async fn create_stores_only_the_hash_of_the_returned_key() {
    let mut store = MockStreamStore::new();
    store
        .expect_create_within_limit()
        .withf(|_, limit| *limit == crate::services::DEFAULT_MAX_STREAMS_PER_USER)
        .times(1)
        .returning(|_, _| Ok(()));
    let created = Streams::new(Arc::new(store))
        .create(UserId::new_random(), " My show ")
        .await
        .expect("ok");
    assert_eq!(created.stream.key_hash, created.key.hash());
    assert_eq!(created.stream.title.as_str(), "My show");
    assert!(!created.stream.is_live());
}

#[tokio::test]
async fn a_full_owner_gets_limit_reached() {
    let mut store = MockStreamStore::new();
    store
        .expect_create_within_limit()
        .withf(|_, limit| *limit == 3)
        .returning(|_, limit| Err(crate::ports::StoreError::LimitReached { limit }));
    let e = Streams::new(Arc::new(store))
        .with_max_per_owner(3)
        .create(UserId::new_random(), "one too many")
        .await;
    assert!(matches!(e, Err(StreamError::LimitReached { limit: 3 })), "{e:?}");
}

#[tokio::test]
async fn other_owners_streams_are_not_found() {
    let owner = UserId::new_random();
    let key = StreamKey::generate().expect("rng");
    let s = stream(owner, &key);
    let id = s.id.clone();
    let mut store = MockStreamStore::new();
    store.expect_get().returning(move |_| Ok(s.clone()));
    // No set_key_hash / delete / set_title expectations: they must not be called.
    let streams = Streams::new(Arc::new(store));
    let intruder = UserId::new_random();
    assert!(matches!(
        streams.rotate_key(intruder, &id).await,
        Err(StreamError::NotFound)
    ));
    assert!(matches!(
        streams.delete(intruder, &id).await,
        Err(StreamError::NotFound)
    ));
    assert!(matches!(
        streams.set_title(intruder, &id, "x").await,
        Err(StreamError::NotFound)
    ));
}

#[tokio::test]
async fn rotate_stores_the_new_hash() {
    let owner = UserId::new_random();
    let old = StreamKey::generate().expect("rng");
    let s = stream(owner, &old);
    let id = s.id.clone();
    let mut store = MockStreamStore::new();
    store.expect_get().returning(move |_| Ok(s.clone()));
    store
        .expect_set_key_hash()
        .withf(move |_, h| *h != old.hash())
        .times(1)
        .returning(|_, _| Ok(()));
    Streams::new(Arc::new(store))
        .rotate_key(owner, &id)
        .await
        .expect("rotated");
}

fn request(app: &str, key: &StreamKey) -> PublishRequest {
    PublishRequest {
        app: app.into(),
        key: key.clone(),
    }
}

#[tokio::test]
async fn validator_checks_app_then_key_and_marks_live() {
    let key = StreamKey::generate().expect("rng");
    let s = stream(UserId::new_random(), &key);
    let id = s.id.clone();
    let mut store = MockStreamStore::new();
    let found = s.clone();
    store
        .expect_find_by_key_hash()
        .returning(move |h| Ok((*h == found.key_hash).then(|| found.clone())));
    store
        .expect_set_live()
        .withf(|_, since| since.is_some())
        .times(1)
        .returning(|_, _| Ok(()));
    store
        .expect_set_live()
        .withf(|_, since| since.is_none())
        .times(1)
        .returning(|_, _| Ok(()));
    let v = StoreKeyValidator::new(Streams::new(Arc::new(store)), ["live".to_owned()]);
    assert_eq!(
        v.validate(&request("other", &key)).await.expect("answer"),
        PublishDecision::Reject(RejectReason::UnknownApp)
    );
    let wrong = StreamKey::generate().expect("rng");
    assert_eq!(
        v.validate(&request("live", &wrong)).await.expect("answer"),
        PublishDecision::Reject(RejectReason::UnknownKey)
    );
    assert_eq!(
        v.validate(&request("live", &key)).await.expect("answer"),
        PublishDecision::Grant(id.clone())
    );
    v.publish_ended(&id).await.expect("offline");
}

#[tokio::test]
async fn validator_store_failure_is_an_error() {
    let mut store = MockStreamStore::new();
    store
        .expect_find_by_key_hash()
        .returning(|_| Err(StoreError::unavailable(std::io::Error::other("db down"))));
    let v = StoreKeyValidator::new(Streams::new(Arc::new(store)), ["live".to_owned()]);
    let key = StreamKey::generate().expect("rng");
    assert!(v.validate(&request("live", &key)).await.is_err());
}

#[tokio::test]
async fn validator_keeps_the_start_time_of_a_stream_already_live() {
    let key = StreamKey::generate().expect("rng");
    let mut live = stream(UserId::new_random(), &key);
    live.live_since = Some(crate::domain::now_utc());
    let id = live.id.clone();
    let mut store = MockStreamStore::new();
    store
        .expect_find_by_key_hash()
        .returning(move |_| Ok(Some(live.clone())));
    // No set_live expectation: the start time must not be overwritten.
    let v = StoreKeyValidator::new(Streams::new(Arc::new(store)), ["live".to_owned()]);
    assert_eq!(
        v.validate(&request("live", &key)).await.expect("answer"),
        PublishDecision::Grant(id)
    );
}
