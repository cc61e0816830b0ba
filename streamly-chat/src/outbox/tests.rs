#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use streamly_core::domain::MessageId;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::{DirectStream, HistoryFilter, OWN_QUEUE_BYTES, Outbox, Trouble, close_frame, text_frame};
use crate::moderation::Restriction;

/// An outbox over one end of an in-memory pipe of `capacity` bytes, and the
/// other end (the client).
fn pipe(capacity: usize, limit: usize) -> (Arc<Outbox<DuplexStream>>, DuplexStream) {
    let (server, client) = duplex(capacity);
    (Outbox::new(server, limit), client)
}

async fn read_exactly(client: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut buf))
        .await
        .expect("bytes arrive")
        .unwrap();
    buf
}

#[test]
fn text_frames_use_the_shortest_length_form() {
    assert_eq!(&text_frame("hi")[..], b"\x81\x02hi");
    let mid = "a".repeat(300);
    let f = text_frame(&mid);
    assert_eq!(&f[..4], &[0x81, 126, 0x01, 0x2c]);
    assert_eq!(f.len(), 304);
    let big = "a".repeat(70_000);
    let f = text_frame(&big);
    assert_eq!(&f[..2], &[0x81, 127]);
    assert_eq!(u64::from_be_bytes(f[2..10].try_into().unwrap()), 70_000);
}

#[test]
fn close_frames_cut_the_reason_at_a_character_boundary() {
    assert_eq!(&close_frame(1013, "slow")[..], b"\x88\x06\x03\xf5slow");
    let long = "é".repeat(100);
    let f = close_frame(1000, &long);
    assert_eq!(f[1] as usize, f.len() - 2);
    assert!(f.len() - 4 <= 123);
    assert!(std::str::from_utf8(&f[4..]).is_ok());
}

#[test]
fn the_history_filter_forgets_its_ids_at_the_first_newer_message() {
    let (a, b, c) = (
        MessageId::new_random(),
        MessageId::new_random(),
        MessageId::new_random(),
    );
    let mut filter = HistoryFilter::new([a, b]);
    assert!(filter.pass(None), "other frames always pass");
    assert!(!filter.pass(Some(a)));
    assert!(filter.pass(Some(c)));
    assert!(filter.pass(Some(b)), "b after a newer message is not a duplicate");
}

#[tokio::test]
async fn frames_held_while_joining_follow_the_history_without_duplicates() {
    let (outbox, mut client) = pipe(1 << 16, 8);
    let (a, b, c) = (
        MessageId::new_random(),
        MessageId::new_random(),
        MessageId::new_random(),
    );
    outbox.deliver(Some(a), &text_frame("a"));
    outbox.deliver(Some(b), &text_frame("b"));
    outbox.deliver(None, &text_frame("p"));
    // Nothing is written while holding: the history goes first.
    let mut own = DirectStream(outbox.clone());
    own.write_all(&text_frame("history")).await.unwrap();
    own.flush().await.unwrap();
    outbox.release(HistoryFilter::new([a]));
    outbox.deliver(Some(c), &text_frame("c"));
    let expected = [
        text_frame("history"),
        text_frame("b"),
        text_frame("p"),
        text_frame("c"),
    ]
    .concat();
    assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
    assert_eq!(outbox.trouble(), Trouble::None);
}

#[tokio::test]
async fn a_history_message_still_in_the_fan_out_after_release_is_skipped() {
    let (outbox, mut client) = pipe(1 << 16, 8);
    let (a, b, c) = (
        MessageId::new_random(),
        MessageId::new_random(),
        MessageId::new_random(),
    );
    // The history had a and b; their room frames reach the outbox only
    // after the release.
    outbox.release(HistoryFilter::new([a, b]));
    outbox.deliver(Some(b), &text_frame("b"));
    outbox.deliver(Some(c), &text_frame("c"));
    // Once a newer message passed, ids are no longer checked.
    outbox.deliver(Some(a), &text_frame("a-again"));
    let expected = [text_frame("c"), text_frame("a-again")].concat();
    assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
}

#[tokio::test]
async fn too_many_frames_while_joining_is_falling_behind() {
    let (outbox, _client) = pipe(1 << 16, 2);
    for _ in 0..3 {
        outbox.deliver(None, &text_frame("x"));
    }
    assert_eq!(outbox.trouble(), Trouble::Slow);
    // Release after falling behind sends nothing and stays stopped.
    outbox.release(HistoryFilter::default());
    outbox.deliver(None, &text_frame("y"));
    assert_eq!(outbox.trouble(), Trouble::Slow);
}

#[tokio::test]
async fn a_full_socket_queues_whole_frames_until_the_task_flushes() {
    let frame = text_frame(&"z".repeat(100));
    let (outbox, mut client) = pipe(150, 16);
    outbox.release(HistoryFilter::default());
    // The pipe takes 150 bytes: the second frame is split, the third
    // waits whole.
    outbox.deliver(None, &frame);
    outbox.deliver(None, &frame);
    outbox.deliver(None, &frame);
    assert_eq!(outbox.trouble(), Trouble::Pending);
    // The connection's own frame queues behind them, never inside one.
    let own_frame = text_frame("own");
    let mut own = DirectStream(outbox.clone());
    own.write_all(&own_frame).await.unwrap();
    let expected = [frame.clone(), frame.clone(), frame.clone(), own_frame].concat();
    let reader = tokio::spawn(async move { read_exactly(&mut client, expected.len()).await == expected });
    tokio::time::timeout(Duration::from_secs(5), own.flush())
        .await
        .expect("the flush finishes once the client reads")
        .unwrap();
    assert!(reader.await.unwrap(), "bytes arrive whole and in order");
    assert_eq!(outbox.trouble(), Trouble::None);
}

#[tokio::test]
async fn a_task_waiting_to_flush_is_woken_even_when_the_fan_out_polled_last() {
    // Invariant 2: the fan-out writes to the socket while the task waits in
    // a flush of its own bytes; the task still wakes when the client reads.
    let (outbox, mut client) = pipe(64, 16);
    outbox.release(HistoryFilter::default());
    let big = text_frame(&"o".repeat(200));
    let mut own = DirectStream(outbox.clone());
    own.write_all(&big).await.unwrap();
    let flushing = tokio::spawn(async move { own.flush().await });
    tokio::task::yield_now().await;
    let room = text_frame("room");
    outbox.deliver(None, &room);
    let expected = [big, room].concat();
    assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
    tokio::time::timeout(Duration::from_secs(5), flushing)
        .await
        .expect("the waiting flush is woken")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_falls_behind_after_the_limit() {
    let (outbox, _client) = pipe(64, 4);
    outbox.release(HistoryFilter::default());
    let frame = text_frame(&"q".repeat(100));
    // The first frame is written in part; it and three more wait.
    for _ in 0..4 {
        outbox.deliver(None, &frame);
    }
    assert_eq!(outbox.trouble(), Trouble::Pending);
    outbox.deliver(None, &frame);
    assert_eq!(outbox.trouble(), Trouble::Slow);
}

#[tokio::test]
async fn own_frames_past_the_bound_are_refused_and_reported() {
    let (outbox, _client) = pipe(64, 4);
    outbox.release(HistoryFilter::default());
    let pong = text_frame(&"p".repeat(100));
    let mut own = DirectStream(outbox.clone());
    // Written without flushing (as tungstenite answers pings while reading).
    let mut written = 0;
    let refused = loop {
        match own.write(&pong).await {
            Ok(n) => {
                assert_eq!(n, pong.len(), "whole or nothing");
                written += n;
            }
            Err(e) => break e,
        }
        assert!(written <= OWN_QUEUE_BYTES + 64 + pong.len(), "bounded");
    };
    assert_eq!(refused.kind(), std::io::ErrorKind::Other);
    assert!(written >= OWN_QUEUE_BYTES);
    assert!(outbox.own_queue_full());
    assert_eq!(outbox.trouble(), Trouble::OwnQueueFull);
    // The close frame still goes out, last.
    outbox.close(1013, "client too slow");
    assert!(own.write(&pong).await.is_err(), "nothing after the close");
}

#[tokio::test]
async fn a_ban_outweighs_a_pending_timeout_and_is_reported_once() {
    let (outbox, _client) = pipe(1 << 16, 4);
    outbox.release(HistoryFilter::default());
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    outbox.silence(Restriction::Banned);
    outbox.silence(Restriction::TimedOut { until });
    assert_eq!(outbox.trouble(), Trouble::Silenced(Restriction::Banned));
    assert_eq!(outbox.trouble(), Trouble::None);
    outbox.silence(Restriction::TimedOut { until });
    assert_eq!(
        outbox.trouble(),
        Trouble::Silenced(Restriction::TimedOut { until })
    );
}

#[tokio::test]
async fn nothing_is_written_after_the_close_frame() {
    let (outbox, mut client) = pipe(1 << 16, 8);
    outbox.release(HistoryFilter::default());
    outbox.deliver(None, &text_frame("before"));
    let mut own = DirectStream(outbox.clone());
    own.write_all(b"own").await.unwrap();
    outbox.close(1000, "bye");
    outbox.deliver(None, &text_frame("after"));
    assert!(own.write(b"late").await.is_err());
    outbox.flush().await.unwrap();
    drop(own);
    drop(outbox);
    let mut all = Vec::new();
    client.read_to_end(&mut all).await.unwrap();
    assert_eq!(
        all,
        [&text_frame("before")[..], b"own", &close_frame(1000, "bye")].concat()
    );
}
