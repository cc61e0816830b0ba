//! One conformance suite for `UserStore`, `StreamStore`, `RecordingStore` and
//! `ProfileStore`, run against every
//! adapter: in-memory, SQLite and PostgreSQL (the last when
//! `STREAMLY_TEST_POSTGRES_URL` is set; each test gets its own schema, so the
//! tests run in parallel).

use std::sync::Arc;

use streamly_core::auth::StreamKey;
use streamly_core::domain::{Avatar, AvatarFormat, Bio, DisplayName, Profile};
use streamly_core::domain::{BroadcastKey, NodeId, SessionHash, ViewerSample};
use streamly_core::domain::{Category, StreamDescription, StreamDetails, Tags, search_words};
use streamly_core::domain::{
    Email, NewUser, PageRequest, Recording, RecordingEnd, RecordingId, RecordingStatus, Stream, StreamId,
    StreamTitle, User, UserId, Username,
};
use streamly_core::ports::{
    ConflictField, ProfileStore, RecordingStore, StoreError, StreamStore, UserStore, ViewerAnalyticsStore,
};
use time::{Duration, OffsetDateTime};

/// The stores of one backend.
struct Stores {
    users: Arc<dyn UserStore>,
    streams: Arc<dyn StreamStore>,
    recordings: Arc<dyn RecordingStore>,
    profiles: Arc<dyn ProfileStore>,
    viewer_analytics: Arc<dyn ViewerAnalyticsStore>,
}

fn new_user(name: &str, email: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).expect("valid username"),
        email: Email::parse(email).expect("valid email"),
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
    }
}

fn new_stream(owner: UserId, title: &str, created_at: OffsetDateTime) -> (Stream, StreamKey) {
    let key = StreamKey::generate().expect("rng");
    let stream = Stream {
        id: StreamId::new_random(),
        owner,
        title: StreamTitle::parse(title).expect("valid title"),
        key_hash: key.hash(),
        live_since: None,
        created_at,
        record: true,
        details: streamly_core::domain::StreamDetails::default(),
    };
    (stream, key)
}

async fn alice(s: &Stores) -> User {
    s.users
        .create(new_user("Alice", "alice@example.com"))
        .await
        .expect("create alice")
}

fn t0() -> OffsetDateTime {
    // Whole microseconds, as every store keeps them.
    OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("valid time")
}

async fn duplicate_username_any_case_and_email_conflict(s: Stores) {
    alice(&s).await;
    let e = s.users.create(new_user("aLiCe", "other@example.com")).await;
    assert!(
        matches!(e, Err(StoreError::Conflict(ConflictField::Username))),
        "{e:?}"
    );
    let e = s.users.create(new_user("bob", "ALICE@example.com")).await;
    assert!(
        matches!(e, Err(StoreError::Conflict(ConflictField::Email))),
        "{e:?}"
    );
    s.users
        .create(new_user("bob", "bob@example.com"))
        .await
        .expect("distinct user");
}

async fn user_lookups(s: Stores) {
    let a = alice(&s).await;
    assert_eq!(s.users.get(a.id).await.expect("by id"), a);
    for login in ["alice", "ALICE", "alice@example.com", " Alice@Example.com "] {
        assert_eq!(
            s.users.find_by_login(login).await.expect("lookup"),
            Some(a.clone()),
            "{login}"
        );
    }
    assert_eq!(s.users.find_by_login("nobody").await.expect("lookup"), None);
    assert!(matches!(
        s.users.get(UserId::new_random()).await,
        Err(StoreError::NotFound)
    ));

    s.users
        .set_password_hash(a.id, "$2b$04$newhash")
        .await
        .expect("set hash");
    assert_eq!(
        s.users.get(a.id).await.expect("by id").password_hash,
        "$2b$04$newhash"
    );
    assert!(matches!(
        s.users.set_password_hash(UserId::new_random(), "x").await,
        Err(StoreError::NotFound)
    ));
    s.users.ping().await.expect("ping");
}

async fn user_deletion(s: Stores) {
    let a = alice(&s).await;
    let bob = s
        .users
        .create(new_user("bob", "bob@example.com"))
        .await
        .expect("create bob");
    let (stream, _) = new_stream(a.id, "show", t0());
    s.streams.create(stream.clone()).await.expect("create");
    // The caller's order: the streams first, then the user.
    s.streams.delete(&stream.id).await.expect("delete stream");
    s.users.delete(a.id).await.expect("delete user");
    assert!(matches!(s.users.get(a.id).await, Err(StoreError::NotFound)));
    assert_eq!(s.users.find_by_login("alice").await.expect("lookup"), None);
    assert_eq!(
        s.users.find_by_login("alice@example.com").await.expect("lookup"),
        None
    );
    assert!(matches!(s.users.delete(a.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.users.set_password_hash(a.id, "x").await,
        Err(StoreError::NotFound)
    ));
    // Others are untouched, and the name and email are free again.
    assert_eq!(s.users.get(bob.id).await.expect("bob stays"), bob);
    let again = s
        .users
        .create(new_user("ALICE", "alice@example.com"))
        .await
        .expect("name and email reusable");
    assert_ne!(again.id, a.id);
}

async fn stream_lookups_and_owner_listing(s: Stores) {
    let a = alice(&s).await;
    let (older, older_key) = new_stream(a.id, "first", t0());
    let (newer, _) = new_stream(a.id, "second", t0() + Duration::seconds(1));
    s.streams.create(older.clone()).await.expect("create");
    s.streams.create(newer.clone()).await.expect("create");
    assert_eq!(s.streams.get(&older.id).await.expect("get"), older);
    assert_eq!(
        s.streams
            .find_by_key_hash(&older_key.hash())
            .await
            .expect("by key"),
        Some(older.clone())
    );
    let unknown = StreamKey::generate().expect("rng").hash();
    assert_eq!(s.streams.find_by_key_hash(&unknown).await.expect("by key"), None);
    assert_eq!(
        s.streams.list_by_owner(a.id).await.expect("list"),
        vec![newer.clone(), older.clone()]
    );
    assert!(
        s.streams
            .list_by_owner(UserId::new_random())
            .await
            .expect("list")
            .is_empty()
    );

    let e = s.streams.create(older.clone()).await;
    assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");

    let title = StreamTitle::parse("renamed").expect("title");
    assert_eq!(
        s.streams
            .set_title(&older.id, &title)
            .await
            .expect("rename")
            .title,
        title
    );
    assert!(older.record, "recording is on by default");
    let off = s.streams.set_record(&older.id, false).await.expect("record off");
    assert!(!off.record);
    assert!(!s.streams.get(&older.id).await.expect("get").record);
    assert!(matches!(
        s.streams.set_record(&StreamId::new_random(), true).await,
        Err(StoreError::NotFound)
    ));
    s.streams.delete(&older.id).await.expect("delete");
    assert!(matches!(
        s.streams.get(&older.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.streams.delete(&older.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.streams.set_title(&older.id, &title).await,
        Err(StoreError::NotFound)
    ));
    s.streams.ping().await.expect("ping");
}

async fn rotate_invalidates_old_key(s: Stores) {
    let a = alice(&s).await;
    let (stream, old_key) = new_stream(a.id, "show", t0());
    s.streams.create(stream.clone()).await.expect("create");
    let new_key = StreamKey::generate().expect("rng");
    s.streams
        .set_key_hash(&stream.id, &new_key.hash())
        .await
        .expect("rotate");
    assert_eq!(
        s.streams.find_by_key_hash(&old_key.hash()).await.expect("old"),
        None
    );
    let found = s.streams.find_by_key_hash(&new_key.hash()).await.expect("new");
    assert_eq!(found.map(|f| f.id), Some(stream.id.clone()));
    let missing = StreamId::new_random();
    assert!(matches!(
        s.streams.set_key_hash(&missing, &new_key.hash()).await,
        Err(StoreError::NotFound)
    ));
}

async fn live_list(s: Stores) {
    let a = alice(&s).await;
    let (first, _) = new_stream(a.id, "one", t0());
    let (second, _) = new_stream(a.id, "two", t0());
    let (idle, _) = new_stream(a.id, "idle", t0());
    for st in [&first, &second, &idle] {
        s.streams.create(st.clone()).await.expect("create");
    }
    assert!(s.streams.list_live().await.expect("live").is_empty());
    s.streams
        .set_live(&first.id, Some(t0() + Duration::seconds(10)))
        .await
        .expect("live");
    // Whole second vs fractional second: the order must still be by time.
    s.streams
        .set_live(&second.id, Some(t0() + Duration::milliseconds(10_500)))
        .await
        .expect("live");
    let live: Vec<StreamId> = s
        .streams
        .list_live()
        .await
        .expect("live")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![second.id.clone(), first.id.clone()]);
    assert_eq!(
        s.streams.get(&first.id).await.expect("get").live_since,
        Some(t0() + Duration::seconds(10))
    );
    s.streams.set_live(&second.id, None).await.expect("offline");
    let live: Vec<StreamId> = s
        .streams
        .list_live()
        .await
        .expect("live")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![first.id.clone()]);
    assert!(matches!(
        s.streams.set_live(&StreamId::new_random(), None).await,
        Err(StoreError::NotFound)
    ));
}

async fn per_owner_limit(s: Stores) {
    let a = alice(&s).await;
    let b = s
        .users
        .create(new_user("bob", "bob@example.com"))
        .await
        .expect("create bob");
    assert_eq!(s.streams.count_by_owner(a.id).await.expect("count"), 0);
    for i in 0..3 {
        let (st, _) = new_stream(a.id, "mine", t0() + Duration::seconds(i));
        s.streams
            .create_within_limit(st, 3)
            .await
            .expect("under the limit");
    }
    assert_eq!(s.streams.count_by_owner(a.id).await.expect("count"), 3);
    let (extra, _) = new_stream(a.id, "extra", t0());
    let e = s.streams.create_within_limit(extra.clone(), 3).await;
    assert!(matches!(e, Err(StoreError::LimitReached { limit: 3 })), "{e:?}");
    assert!(matches!(
        s.streams.get(&extra.id).await,
        Err(StoreError::NotFound)
    ));
    // The limit is per owner, and a raised limit makes room.
    let (bobs, _) = new_stream(b.id, "bob's", t0());
    s.streams
        .create_within_limit(bobs, 3)
        .await
        .expect("another owner");
    s.streams
        .create_within_limit(extra, 4)
        .await
        .expect("raised limit");
    assert_eq!(s.streams.count_by_owner(a.id).await.expect("count"), 4);
    assert_eq!(s.streams.count_by_owner(b.id).await.expect("count"), 1);
    // The uniqueness rules of `create` still hold.
    let (dup, _) = new_stream(b.id, "dup", t0());
    s.streams
        .create_within_limit(dup.clone(), 9)
        .await
        .expect("create");
    let e = s.streams.create_within_limit(dup, 9).await;
    assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
}

/// Concurrent creations for one owner never overshoot the limit.
async fn per_owner_limit_is_atomic(s: Stores) {
    let a = alice(&s).await;
    let attempts = (0..12).map(|i| {
        let streams = s.streams.clone();
        let (st, _) = new_stream(a.id, "race", t0() + Duration::seconds(i));
        tokio::spawn(async move { streams.create_within_limit(st, 5).await })
    });
    let mut created = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.expect("task") {
            Ok(()) => created += 1,
            Err(StoreError::LimitReached { limit: 5 }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(created, 5);
    assert_eq!(s.streams.count_by_owner(a.id).await.expect("count"), 5);
}

async fn recording_lifecycle(s: Stores) {
    let stream = StreamId::new_random();
    let owner = UserId::new_random();
    let r = Recording::start(stream.clone(), owner, t0());
    s.recordings.create(r.clone()).await.expect("create");
    assert_eq!(s.recordings.get(&r.id).await.expect("get"), r);
    assert!(matches!(
        s.recordings.create(r.clone()).await,
        Err(StoreError::Conflict(ConflictField::RecordingId))
    ));
    assert_eq!(
        s.recordings.list_in_progress().await.expect("in progress"),
        vec![r.clone()]
    );

    s.recordings
        .update_progress(&r.id, 4_000, 123_456)
        .await
        .expect("progress");
    let got = s.recordings.get(&r.id).await.expect("get");
    assert_eq!(
        (got.duration_ms, got.size_bytes, got.status),
        (4_000, 123_456, RecordingStatus::Recording)
    );
    // Not finalized: never expired.
    assert!(
        s.recordings
            .list_expired(t0() + Duration::days(999), 10)
            .await
            .expect("expired")
            .is_empty()
    );

    let end = RecordingEnd {
        ended_at: t0() + Duration::seconds(10),
        duration_ms: 10_010,
        size_bytes: 2_000_000,
        status: RecordingStatus::Ready,
    };
    let done = s.recordings.finalize(&r.id, end).await.expect("finalize");
    assert_eq!(done.ended_at, Some(end.ended_at));
    assert_eq!(
        (done.duration_ms, done.size_bytes, done.status),
        (10_010, 2_000_000, RecordingStatus::Ready)
    );
    assert_eq!(s.recordings.get(&r.id).await.expect("get"), done);
    assert!(
        s.recordings
            .list_in_progress()
            .await
            .expect("in progress")
            .is_empty()
    );

    assert!(
        s.recordings
            .list_expired(end.ended_at, 10)
            .await
            .expect("expired")
            .is_empty()
    );
    assert_eq!(
        s.recordings
            .list_expired(end.ended_at + Duration::seconds(1), 10)
            .await
            .expect("expired"),
        vec![done.clone()]
    );

    let unknown = RecordingId::new_random();
    assert!(matches!(
        s.recordings.get(&unknown).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.recordings.update_progress(&unknown, 1, 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.recordings.finalize(&unknown, end).await,
        Err(StoreError::NotFound)
    ));
    s.recordings.delete(&r.id).await.expect("delete");
    assert!(matches!(s.recordings.get(&r.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.recordings.delete(&r.id).await,
        Err(StoreError::NotFound)
    ));
    s.recordings.ping().await.expect("ping");
}

async fn recordings_page_newest_first_with_ties_by_id(s: Stores) {
    let stream = StreamId::new_random();
    let owner = UserId::new_random();
    // Seven recordings, three of them started at the same instant.
    let mut all = Vec::new();
    for secs in [0, 5, 5, 5, 9, 12, 20] {
        let r = Recording::start(stream.clone(), owner, t0() + Duration::seconds(secs));
        s.recordings.create(r.clone()).await.expect("create");
        all.push(r);
    }
    // Another stream's recording is never listed.
    s.recordings
        .create(Recording::start(StreamId::new_random(), owner, t0()))
        .await
        .expect("create");
    all.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| a.id.cmp(&b.id)));
    let mut req = PageRequest::first(3);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = s.recordings.list_by_stream(&stream, &req).await.expect("page");
        assert!(page.items.len() <= 3);
        pages += 1;
        seen.extend(page.items);
        match page.next {
            Some(c) => req = req.after(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, all);
    let exact = s
        .recordings
        .list_by_stream(&stream, &PageRequest::first(7))
        .await
        .expect("page");
    assert_eq!((exact.items.len(), exact.next), (7, None));
    let none = s
        .recordings
        .list_by_stream(&StreamId::new_random(), &PageRequest::first(5))
        .await
        .expect("page");
    assert!(none.items.is_empty() && none.next.is_none());
}

async fn expired_recordings_oldest_first_up_to_the_limit(s: Stores) {
    let stream = StreamId::new_random();
    let owner = UserId::new_random();
    let mut ended = Vec::new();
    for i in 0..4 {
        let r = Recording::start(stream.clone(), owner, t0());
        s.recordings.create(r.clone()).await.expect("create");
        let end = RecordingEnd {
            ended_at: t0() + Duration::hours(i),
            duration_ms: 1,
            size_bytes: 1,
            status: if i == 2 {
                RecordingStatus::Failed
            } else {
                RecordingStatus::Ready
            },
        };
        ended.push(s.recordings.finalize(&r.id, end).await.expect("finalize"));
    }
    let expired = s
        .recordings
        .list_expired(t0() + Duration::minutes(150), 2)
        .await
        .expect("expired");
    assert_eq!(expired, ended[..2].to_vec());
    let expired = s
        .recordings
        .list_expired(t0() + Duration::minutes(150), 10)
        .await
        .expect("expired");
    assert_eq!(expired, ended[..3].to_vec());
}

async fn users_named(s: &Stores, names: &[&str]) -> Vec<User> {
    let mut users = Vec::new();
    for name in names {
        let email = format!("{name}@example.com");
        users.push(s.users.create(new_user(name, &email)).await.expect("create user"));
    }
    users
}

fn avatar(format: AvatarFormat, bytes: &'static [u8], at: OffsetDateTime) -> Avatar {
    Avatar {
        format,
        bytes: bytes.into(),
        updated_at: at,
    }
}

async fn profiles_round_trip(s: Stores) {
    let a = alice(&s).await;
    assert_eq!(
        s.profiles.profile(a.id).await.expect("default"),
        Profile::empty(a.id)
    );
    assert_eq!(s.profiles.avatar(a.id).await.expect("no avatar"), None);

    let name = DisplayName::parse("Alice A.").expect("valid");
    let bio = Bio::parse("Speedruns.\nSundays.").expect("valid");
    let p = s
        .profiles
        .set_profile(a.id, &name, &bio)
        .await
        .expect("set profile");
    assert_eq!(
        (p.display_name.as_str(), p.bio.as_str()),
        ("Alice A.", "Speedruns.\nSundays.")
    );
    assert_eq!(p.avatar_updated_at, None);

    let png = avatar(AvatarFormat::Png, b"\x89PNG fake", t0());
    let p = s.profiles.set_avatar(a.id, Some(&png)).await.expect("set avatar");
    assert_eq!(p.avatar_updated_at, Some(t0()));
    assert_eq!(p.display_name, name, "the avatar leaves the name alone");
    assert_eq!(s.profiles.avatar(a.id).await.expect("read"), Some(png));

    let jpeg = avatar(AvatarFormat::Jpeg, b"\xFF\xD8 fake", t0() + Duration::seconds(1));
    s.profiles
        .set_avatar(a.id, Some(&jpeg))
        .await
        .expect("replace avatar");
    let p = s
        .profiles
        .set_profile(a.id, &DisplayName::default(), &Bio::default())
        .await
        .expect("clear");
    assert_eq!(
        p.avatar_updated_at,
        Some(jpeg.updated_at),
        "the profile leaves the avatar alone"
    );
    assert_eq!(s.profiles.avatar(a.id).await.expect("read"), Some(jpeg));

    let p = s.profiles.set_avatar(a.id, None).await.expect("remove avatar");
    assert_eq!(p, Profile::empty(a.id));
    assert_eq!(s.profiles.avatar(a.id).await.expect("read"), None);
}

async fn follows_and_counts(s: Stores) {
    let [a, b, c] = <[User; 3]>::try_from(users_named(&s, &["ann", "ben", "cat"]).await).expect("three");
    assert!(s.profiles.follow(b.id, a.id, 10).await.expect("follow"));
    assert!(
        !s.profiles.follow(b.id, a.id, 10).await.expect("again"),
        "a repeat is not new"
    );
    // Distinct times, so "most recent first" has one answer.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    assert!(s.profiles.follow(b.id, c.id, 10).await.expect("follow"));
    assert!(s.profiles.follow(c.id, a.id, 10).await.expect("follow"));

    assert!(s.profiles.is_following(b.id, a.id).await.expect("is"));
    assert!(
        !s.profiles
            .is_following(a.id, b.id)
            .await
            .expect("not the other way")
    );
    let following: Vec<UserId> = s
        .profiles
        .following(b.id, 10)
        .await
        .expect("list")
        .iter()
        .map(|f| f.user)
        .collect();
    assert_eq!(following, vec![c.id, a.id], "most recently followed first");
    assert_eq!(
        s.profiles.following(b.id, 1).await.expect("list").len(),
        1,
        "up to the limit"
    );
    let counts = s.profiles.counts(a.id).await.expect("counts");
    assert_eq!((counts.followers, counts.following), (2, 0));
    let counts = s.profiles.counts(b.id).await.expect("counts");
    assert_eq!((counts.followers, counts.following), (0, 2));

    assert!(s.profiles.unfollow(b.id, a.id).await.expect("unfollow"));
    assert!(!s.profiles.unfollow(b.id, a.id).await.expect("again"));
    assert_eq!(s.profiles.counts(a.id).await.expect("counts").followers, 1);
    assert!(matches!(
        s.profiles.follow(b.id, a.id, 1).await,
        Err(StoreError::LimitReached { limit: 1 })
    ));
}

async fn follow_limit_is_atomic(s: Stores) {
    let mut names: Vec<String> = (0..12).map(|i| format!("user{i}")).collect();
    names.push("fan".into());
    let users = users_named(&s, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let fan = users.last().expect("fan").id;
    let attempts = users[..12].iter().map(|u| {
        let profiles = s.profiles.clone();
        let followed = u.id;
        tokio::spawn(async move { profiles.follow(fan, followed, 5).await })
    });
    let mut followed = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.expect("task") {
            Ok(true) => followed += 1,
            Err(StoreError::LimitReached { limit: 5 }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(followed, 5);
    assert_eq!(s.profiles.counts(fan).await.expect("counts").following, 5);
}

async fn forgetting_a_user(s: Stores) {
    let [a, b] = <[User; 2]>::try_from(users_named(&s, &["ann", "ben"]).await).expect("two");
    s.profiles.follow(a.id, b.id, 10).await.expect("follow");
    s.profiles.follow(b.id, a.id, 10).await.expect("follow");
    let name = DisplayName::parse("Ben").expect("valid");
    s.profiles
        .set_profile(b.id, &name, &Bio::default())
        .await
        .expect("profile");
    s.profiles
        .set_avatar(b.id, Some(&avatar(AvatarFormat::Png, b"png", t0())))
        .await
        .expect("avatar");
    // The account goes, then what the profile store knows of it.
    s.users.delete(b.id).await.expect("delete ben");
    s.profiles.forget(b.id).await.expect("forget ben");
    assert_eq!(
        s.profiles.profile(b.id).await.expect("profile"),
        Profile::empty(b.id)
    );
    assert_eq!(s.profiles.avatar(b.id).await.expect("avatar"), None);
    let counts = s.profiles.counts(a.id).await.expect("counts");
    assert_eq!((counts.followers, counts.following), (0, 0));
    assert!(s.profiles.following(a.id, 10).await.expect("list").is_empty());
}

fn sample(node: &str, at: OffsetDateTime, playback: u32, chat: u32) -> ViewerSample {
    ViewerSample {
        node: NodeId::parse(node).expect("valid node"),
        at,
        period_ms: 10_000,
        playback,
        chat,
    }
}

fn sessions(stream: &StreamId, ids: &[&str]) -> Vec<SessionHash> {
    ids.iter()
        .map(|id| SessionHash::of(stream, id).expect("valid session id"))
        .collect()
}

async fn viewer_samples_are_summed_across_nodes(s: Stores) {
    let stream = StreamId::new_random();
    let b = BroadcastKey::new(stream.clone(), t0());
    let at = |i: i64| t0() + Duration::seconds(10 * i);
    // Unknown broadcast: nothing, no error.
    let empty = s.viewer_analytics.get(&b).await.expect("get");
    assert!(empty.points.is_empty() && empty.unique_sessions == 0);
    assert_eq!(s.viewer_analytics.latest(&stream).await.expect("latest"), None);
    // Two nodes, written out of order; node a rewrites period 1.
    for (node, i, playback, chat) in [
        ("a", 1, 9, 9),
        ("b", 0, 2, 0),
        ("a", 0, 3, 1),
        ("a", 1, 4, 2),
        ("b", 1, 5, 1),
        ("a", 2, 1, 0),
    ] {
        assert!(
            s.viewer_analytics
                .record_sample(&b, &sample(node, at(i), playback, chat))
                .await
                .expect("record")
        );
    }
    // Another broadcast of the stream, and another stream: kept apart.
    let older = BroadcastKey::new(stream.clone(), t0() - Duration::hours(5));
    s.viewer_analytics
        .record_sample(&older, &sample("a", older.started_at, 7, 7))
        .await
        .expect("record");
    let other = BroadcastKey::new(StreamId::new_random(), t0() + Duration::hours(1));
    s.viewer_analytics
        .record_sample(&other, &sample("a", other.started_at, 8, 8))
        .await
        .expect("record");

    let got = s.viewer_analytics.get(&b).await.expect("get");
    assert_eq!(got.broadcast, b);
    let figures: Vec<(OffsetDateTime, u32, u64, u64)> = got
        .points
        .iter()
        .map(|p| (p.at, p.period_ms, p.playback, p.chat))
        .collect();
    assert_eq!(
        figures,
        vec![
            (at(0), 10_000, 5, 1),
            (at(1), 10_000, 9, 3),
            (at(2), 10_000, 1, 0)
        ]
    );
    assert_eq!(got.peak(), 9);
    assert!((got.watch_time_s() - 150.0).abs() < 1e-9);
    assert_eq!(s.viewer_analytics.latest(&stream).await.expect("latest"), Some(b));
}

async fn viewer_sessions_are_inserted_or_ignored(s: Stores) {
    let stream = StreamId::new_random();
    let b = BroadcastKey::new(stream.clone(), t0());
    let next = BroadcastKey::new(stream.clone(), t0() + Duration::hours(2));
    let va = &s.viewer_analytics;
    assert_eq!(va.add_sessions(&b, &[]).await.expect("none"), 0);
    assert_eq!(
        va.add_sessions(&b, &sessions(&stream, &["session-1", "session-2", "session-3"]))
            .await
            .expect("add"),
        3
    );
    // Another node adds some of the same.
    assert_eq!(
        va.add_sessions(&b, &sessions(&stream, &["session-3", "session-2", "session-4"]))
            .await
            .expect("add"),
        1
    );
    assert_eq!(
        va.add_sessions(&next, &sessions(&stream, &["session-1"]))
            .await
            .expect("add"),
        1
    );
    assert_eq!(va.get(&b).await.expect("get").unique_sessions, 4);
    assert_eq!(va.get(&next).await.expect("get").unique_sessions, 1);
}

async fn viewer_analytics_deletion_and_retention(s: Stores) {
    let stream = StreamId::new_random();
    let va = &s.viewer_analytics;
    // Three broadcasts, each sampled for a minute, an hour apart.
    let keys: Vec<BroadcastKey> = (0..3)
        .map(|i| BroadcastKey::new(stream.clone(), t0() + Duration::hours(i)))
        .collect();
    for k in &keys {
        for m in 0..6 {
            va.record_sample(k, &sample("a", k.started_at + Duration::seconds(10 * m), 1, 0))
                .await
                .expect("record");
        }
        va.add_sessions(k, &sessions(&stream, &["session-1"]))
            .await
            .expect("add");
    }
    // Sessions only (its samples were refused): swept with the rest.
    let orphan = BroadcastKey::new(stream.clone(), t0() - Duration::hours(1));
    va.add_sessions(&orphan, &sessions(&stream, &["session-9"]))
        .await
        .expect("add");

    va.delete(&keys[1]).await.expect("delete");
    let gone = va.get(&keys[1]).await.expect("get");
    assert!(gone.points.is_empty() && gone.unique_sessions == 0);
    va.delete(&keys[1]).await.expect("deleting nothing is fine");

    // Before the last sample of broadcast 0: nothing expires.
    assert_eq!(
        va.delete_expired(keys[0].started_at + Duration::seconds(50), 10)
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(va.get(&keys[0]).await.expect("get").points.len(), 6);
    // After every sample of 0 and 2, up to one broadcast: the oldest.
    let later = keys[2].started_at + Duration::minutes(5);
    assert_eq!(va.delete_expired(later, 1).await.expect("sweep"), 1);
    assert!(va.get(&keys[0]).await.expect("get").points.is_empty());
    assert_eq!(va.get(&orphan).await.expect("get").unique_sessions, 0);
    assert_eq!(va.get(&keys[2]).await.expect("get").points.len(), 6);
    assert_eq!(va.delete_expired(later, 10).await.expect("sweep"), 1);
    assert_eq!(va.latest(&stream).await.expect("latest"), None);
}

mod backends {
    use super::*;

    pub fn memory() -> Stores {
        use streamly_core::adapters::{
            MemoryProfileStore, MemoryRecordingStore, MemoryStreamStore, MemoryUserStore,
        };
        Stores {
            users: Arc::new(MemoryUserStore::new()),
            streams: Arc::new(MemoryStreamStore::new()),
            recordings: Arc::new(MemoryRecordingStore::new()),
            profiles: Arc::new(MemoryProfileStore::new()),
            viewer_analytics: Arc::new(streamly_core::adapters::MemoryViewerAnalyticsStore::new()),
        }
    }

    pub async fn sqlite(dir: &tempfile::TempDir) -> Stores {
        let url = format!("sqlite://{}", dir.path().join("streamly.db").display());
        let stores = streamly_core::adapters::sql::connect(&url)
            .await
            .expect("open sqlite");
        Stores {
            users: stores.users,
            streams: stores.streams,
            recordings: stores.recordings,
            profiles: stores.profiles,
            viewer_analytics: stores.viewer_analytics,
        }
    }

    /// A store in a fresh schema of the test database, or `None` (with the
    /// reason printed) when no test server is configured.
    #[cfg(feature = "postgres")]
    pub async fn postgres(test: &str) -> Option<(Stores, String)> {
        use sqlx::postgres::PgConnectOptions;
        use std::str::FromStr;
        let Ok(url) = std::env::var("STREAMLY_TEST_POSTGRES_URL") else {
            // Under CI every oracle must run: a missing one fails the test.
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: a test cannot skip"
            );
            eprintln!("skipping Postgres case of {test}: STREAMLY_TEST_POSTGRES_URL is not set");
            return None;
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&url)
            .await
            .expect("connect to STREAMLY_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let options = PgConnectOptions::from_str(&url)
            .expect("valid url")
            .options([("search_path", schema.as_str())]);
        let store = Arc::new(
            streamly_core::adapters::sql::PostgresStore::connect_with(options)
                .await
                .expect("open postgres store"),
        );
        eprintln!("running Postgres case of {test} in schema {schema}");
        Some((
            Stores {
                users: store.clone(),
                streams: store.clone(),
                recordings: store.clone(),
                profiles: store.clone(),
                viewer_analytics: store,
            },
            schema,
        ))
    }

    /// Drops a test's schema once its check has passed.
    #[cfg(feature = "postgres")]
    pub async fn drop_postgres_schema(schema: &str) {
        let url = std::env::var("STREAMLY_TEST_POSTGRES_URL").expect("set when the schema was made");
        let admin = sqlx::PgPool::connect(&url)
            .await
            .expect("connect to STREAMLY_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await
            .expect("drop schema");
        admin.close().await;
    }
}

fn details(description: &str, category: Option<Category>, tags: &[&str]) -> StreamDetails {
    StreamDetails {
        description: StreamDescription::parse(description).expect("valid description"),
        category,
        tags: Tags::parse(tags).expect("valid tags"),
    }
}

async fn stream_details_round_trip(s: Stores) {
    let a = alice(&s).await;
    let (st, key) = new_stream(a.id, "speedrun night", t0());
    s.streams.create(st.clone()).await.expect("create");
    // A new stream has none.
    assert_eq!(
        s.streams.get(&st.id).await.expect("get").details,
        StreamDetails::default()
    );
    let d = details(
        "Any% attempts.\nWörld record pace 👩\u{200D}💻",
        Some(Category::Gaming),
        &["speedrun", "n64", "any-percent"],
    );
    let updated = s.streams.set_details(&st.id, &d).await.expect("set details");
    assert_eq!(updated.details, d);
    assert_eq!(updated.title, st.title, "the title is untouched");
    assert_eq!(s.streams.get(&st.id).await.expect("get").details, d);
    let by_key = s.streams.find_by_key_hash(&key.hash()).await.expect("by key");
    assert_eq!(by_key.expect("found").details, d);
    let mine = s.streams.list_by_owner(a.id).await.expect("mine");
    assert_eq!(mine[0].details, d);
    // Cleared again.
    let cleared = s
        .streams
        .set_details(&st.id, &StreamDetails::default())
        .await
        .expect("clear");
    assert_eq!(cleared.details, StreamDetails::default());
    assert!(matches!(
        s.streams.set_details(&StreamId::new_random(), &d).await,
        Err(StoreError::NotFound)
    ));
    // Created with details: kept.
    let (mut other, _) = new_stream(a.id, "tunes", t0());
    other.details = details("", Some(Category::Music), &["lofi"]);
    s.streams
        .create_within_limit(other.clone(), 20)
        .await
        .expect("create");
    assert_eq!(s.streams.get(&other.id).await.expect("get"), other);
}

async fn live_list_by_category(s: Stores) {
    let a = alice(&s).await;
    let mut made = Vec::new();
    for (i, (title, category)) in [
        ("chess", Some(Category::Gaming)),
        ("go", Some(Category::Gaming)),
        ("piano", Some(Category::Music)),
        ("nothing", None),
        ("idle game", Some(Category::Gaming)),
    ]
    .into_iter()
    .enumerate()
    {
        let (mut st, _) = new_stream(a.id, title, t0());
        st.details.category = category;
        s.streams.create(st.clone()).await.expect("create");
        if title != "idle game" {
            let since = t0() + Duration::milliseconds(1_000 + 500 * i as i64);
            s.streams.set_live(&st.id, Some(since)).await.expect("live");
        }
        made.push(st.id);
    }
    let ids = |v: Vec<Stream>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let gaming = ids(s.streams.list_live_in(Category::Gaming).await.expect("gaming"));
    assert_eq!(
        gaming,
        vec![made[1].clone(), made[0].clone()],
        "live ones, newest first"
    );
    let music = ids(s.streams.list_live_in(Category::Music).await.expect("music"));
    assert_eq!(music, vec![made[2].clone()]);
    assert!(
        s.streams
            .list_live_in(Category::Art)
            .await
            .expect("art")
            .is_empty()
    );
    // Moved to another category by an edit.
    s.streams
        .set_details(&made[0], &details("", Some(Category::Education), &[]))
        .await
        .expect("edit");
    let gaming = ids(s.streams.list_live_in(Category::Gaming).await.expect("gaming"));
    assert_eq!(gaming, vec![made[1].clone()]);
    let edu = ids(s.streams.list_live_in(Category::Education).await.expect("edu"));
    assert_eq!(edu, vec![made[0].clone()]);
}

async fn search_titles_and_tags(s: Stores) {
    let a = alice(&s).await;
    let words = |q: &str| search_words(q);
    let (chess, _) = new_stream(a.id, "Blitz Chess with viewers", t0());
    let (mut run, _) = new_stream(a.id, "Mario 64", t0() + Duration::seconds(1));
    run.details.tags = Tags::parse(&["speedrun", "any-percent"]).expect("tags");
    let (chess2, _) = new_stream(a.id, "chess openings", t0() + Duration::seconds(2));
    let (music, _) = new_stream(a.id, "Lo-fi beats", t0() + Duration::seconds(3));
    for st in [&chess, &run, &chess2, &music] {
        s.streams.create(st.clone()).await.expect("create");
    }
    let ids = |v: Vec<Stream>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    // Offline only: newest first; any case; prefixes.
    let found = ids(s.streams.search(&words("CHESS"), 50).await.expect("search"));
    assert_eq!(found, vec![chess2.id.clone(), chess.id.clone()]);
    let found = ids(s.streams.search(&words("che"), 50).await.expect("search"));
    assert_eq!(found, vec![chess2.id.clone(), chess.id.clone()]);
    // Live first.
    s.streams
        .set_live(&chess.id, Some(t0() + Duration::seconds(10)))
        .await
        .expect("live");
    let found = ids(s.streams.search(&words("chess"), 50).await.expect("search"));
    assert_eq!(found, vec![chess.id.clone(), chess2.id.clone()]);
    // Every word must match (title and tags together).
    let found = ids(s
        .streams
        .search(&words("blitz viewers"), 50)
        .await
        .expect("search"));
    assert_eq!(found, vec![chess.id.clone()]);
    assert!(
        s.streams
            .search(&words("blitz piano"), 50)
            .await
            .expect("search")
            .is_empty()
    );
    let found = ids(s
        .streams
        .search(&words("mario speedrun"), 50)
        .await
        .expect("search"));
    assert_eq!(found, vec![run.id.clone()]);
    let found = ids(s.streams.search(&words("percent"), 50).await.expect("search"));
    assert_eq!(found, vec![run.id.clone()], "a tag's parts match");
    let found = ids(s.streams.search(&words("lo-fi"), 50).await.expect("search"));
    assert_eq!(found, vec![music.id.clone()]);
    // The limit, and nothing for no words or no match.
    assert_eq!(
        s.streams.search(&words("chess"), 1).await.expect("search").len(),
        1
    );
    assert!(s.streams.search(&[], 50).await.expect("search").is_empty());
    assert!(
        s.streams
            .search(&words("zebra"), 50)
            .await
            .expect("search")
            .is_empty()
    );
    // Quotes and operators in the query are only separators.
    let found = ids(s
        .streams
        .search(&words("\"chess\" OR* (NEAR"), 50)
        .await
        .expect("search"));
    assert!(found.is_empty(), "OR and NEAR are words here: {found:?}");
    let found = ids(s
        .streams
        .search(&words("\"chess\":* &|!"), 50)
        .await
        .expect("search"));
    assert_eq!(found.len(), 2);
    // Edits and deletions are followed.
    s.streams
        .set_title(&chess2.id, &StreamTitle::parse("endgames").expect("title"))
        .await
        .expect("rename");
    let found = ids(s.streams.search(&words("chess"), 50).await.expect("search"));
    assert_eq!(found, vec![chess.id.clone()]);
    s.streams
        .set_details(&music.id, &details("", None, &["chess"]))
        .await
        .expect("tag");
    let found = ids(s.streams.search(&words("chess"), 50).await.expect("search"));
    assert_eq!(found, vec![chess.id.clone(), music.id.clone()]);
    s.streams.delete(&chess.id).await.expect("delete");
    let found = ids(s.streams.search(&words("chess"), 50).await.expect("search"));
    assert_eq!(found, vec![music.id.clone()]);
}

/// Declares one test per backend for each check.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(super::backends::memory()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    super::$check(super::backends::sqlite(&dir).await).await;
                }
            )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    if let Some((stores, schema)) = super::backends::postgres(stringify!($check)).await {
                        super::$check(stores).await;
                        super::backends::drop_postgres_schema(&schema).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    duplicate_username_any_case_and_email_conflict,
    user_lookups,
    user_deletion,
    stream_lookups_and_owner_listing,
    rotate_invalidates_old_key,
    live_list,
    per_owner_limit,
    per_owner_limit_is_atomic,
    recording_lifecycle,
    recordings_page_newest_first_with_ties_by_id,
    expired_recordings_oldest_first_up_to_the_limit,
    stream_details_round_trip,
    live_list_by_category,
    search_titles_and_tags,
    profiles_round_trip,
    follows_and_counts,
    follow_limit_is_atomic,
    forgetting_a_user,
    viewer_samples_are_summed_across_nodes,
    viewer_sessions_are_inserted_or_ignored,
    viewer_analytics_deletion_and_retention,
);

#[tokio::test]
async fn sqlite_data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (user, stream, key) = {
        let s = backends::sqlite(&dir).await;
        let user = alice(&s).await;
        let (stream, key) = new_stream(user.id, "persisted", t0());
        s.streams.create(stream.clone()).await.expect("create");
        s.streams.set_live(&stream.id, Some(t0())).await.expect("live");
        (user, stream, key)
    };
    let s = backends::sqlite(&dir).await;
    assert_eq!(s.users.find_by_login("alice").await.expect("lookup"), Some(user));
    let found = s
        .streams
        .find_by_key_hash(&key.hash())
        .await
        .expect("lookup")
        .expect("still there");
    assert_eq!(found.id, stream.id);
    assert_eq!(found.live_since, Some(t0()));
}

#[tokio::test]
async fn unknown_database_scheme_is_a_clear_error() {
    let e = streamly_core::adapters::sql::connect("mysql://x")
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("mysql"), "{e}");
}
