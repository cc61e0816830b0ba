//! The origin-lease directory (memory and the real Redis server, one suite)
//! and the reaper that marks offline the streams whose origin died.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::sync::Arc;
use std::time::Duration;

use platform_support::{skip_or_fail_in_ci, unique};
use streamly::core::adapters::MemoryStreamStore;
use streamly::core::domain::{StreamId, UserId};
use streamly::core::ports::StreamStore;
use streamly::core::services::Streams;
use streamly::origin::reaper::LeaseReaper;
use streamly::origin::{MemoryOriginDirectory, OriginDirectory, OriginLease, RedisOriginDirectory};
use time::OffsetDateTime;

fn lease(node: &str) -> OriginLease {
    OriginLease {
        node_id: node.into(),
        url: format!("http://{node}:8000"),
    }
}

async fn claims_lookups_and_releases(directory: Arc<dyn OriginDirectory>) {
    let stream = StreamId::new_random();
    assert_eq!(directory.lookup(&stream).await.unwrap(), None);
    directory
        .claim(&stream, &lease("a"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(directory.lookup(&stream).await.unwrap(), Some(lease("a")));
    // A newer publish on node b takes over; a's late release leaves b's lease.
    directory
        .claim(&stream, &lease("b"), Duration::from_secs(30))
        .await
        .unwrap();
    directory.release(&stream, "a").await.unwrap();
    assert_eq!(directory.lookup(&stream).await.unwrap(), Some(lease("b")));
    directory.release(&stream, "b").await.unwrap();
    assert_eq!(directory.lookup(&stream).await.unwrap(), None);
    directory.ping().await.unwrap();
}

async fn leases_expire(directory: Arc<dyn OriginDirectory>) {
    let stream = StreamId::new_random();
    directory
        .claim(&stream, &lease("a"), Duration::from_millis(300))
        .await
        .unwrap();
    assert!(directory.lookup(&stream).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(directory.lookup(&stream).await.unwrap(), None, "expired");
}

async fn redis() -> Option<Arc<dyn OriginDirectory>> {
    let Ok(url) = std::env::var("STREAMLY_TEST_REDIS_URL") else {
        skip_or_fail_in_ci("STREAMLY_TEST_REDIS_URL is unset");
        return None;
    };
    let prefix = format!("streamly-test:origin:{}", unique());
    Some(Arc::new(
        RedisOriginDirectory::connect_with_prefix(&url, &prefix)
            .await
            .unwrap(),
    ))
}

#[tokio::test]
async fn memory_directory() {
    claims_lookups_and_releases(Arc::new(MemoryOriginDirectory::new())).await;
    leases_expire(Arc::new(MemoryOriginDirectory::new())).await;
}

#[tokio::test]
async fn redis_directory() {
    let Some(directory) = redis().await else { return };
    claims_lookups_and_releases(directory.clone()).await;
    leases_expire(directory).await;
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    // Nothing listens on port 1.
    let e = RedisOriginDirectory::connect("redis://127.0.0.1:1").await.err();
    assert!(e.is_some_and(|e| e.to_string().contains("Redis")));
}

#[tokio::test]
async fn the_reaper_ends_only_settled_streams_without_a_lease() {
    let store: Arc<dyn StreamStore> = Arc::new(MemoryStreamStore::new());
    let streams = Streams::new(store.clone());
    let owner = UserId::new_random();
    let ttl = Duration::from_secs(5);
    let long_ago = OffsetDateTime::now_utc() - Duration::from_secs(60);
    let orphan = streams.create(owner, "orphan").await.unwrap().stream.id;
    let held = streams.create(owner, "held").await.unwrap().stream.id;
    let fresh = streams.create(owner, "fresh").await.unwrap().stream.id;
    let offline = streams.create(owner, "offline").await.unwrap().stream.id;
    store.set_live(&orphan, Some(long_ago)).await.unwrap();
    store.set_live(&held, Some(long_ago)).await.unwrap();
    // Just went live: its lease may not be claimed yet.
    store
        .set_live(&fresh, Some(OffsetDateTime::now_utc()))
        .await
        .unwrap();
    let directory = Arc::new(MemoryOriginDirectory::new());
    directory.claim(&held, &lease("a"), ttl).await.unwrap();

    let reaper = LeaseReaper::new(directory, store.clone(), ttl);
    assert_eq!(reaper.reap().await, Ok(1));
    let live: Vec<StreamId> = store
        .list_live()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(!live.contains(&orphan), "the orphan is offline");
    assert!(live.contains(&held) && live.contains(&fresh), "{live:?}");
    assert!(!live.contains(&offline));
    assert_eq!(reaper.reap().await, Ok(0), "nothing more to do");
}
