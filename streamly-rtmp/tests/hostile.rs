//! Hostile traffic on the RTMP port: a flood of idle sockets from one
//! address, the per-address cap. The publisher always comes from another
//! loopback address (Linux routes all of 127/8 to `lo`).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use streamly_core::domain::StreamId;
use streamly_rtmp::handshake::PACKET_LEN;
use streamly_rtmp::{RtmpConfig, StreamEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::broadcast;
use tokio::time::{Instant, timeout};

/// Raises this process's soft RLIMIT_NOFILE to at least `need` (as far as
/// the hard limit allows): the flood and the server share the process.
fn raise_fd_limit(need: u64) {
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
    if soft < need {
        rlimit::Resource::NOFILE.set(need.min(hard), hard).unwrap();
    }
    let (soft, _) = rlimit::Resource::NOFILE.get().unwrap();
    assert!(
        soft >= need,
        "need {need} file descriptors, the hard limit allows {hard}"
    );
}

/// Connects to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// Handshakes from `from`, publishes with the test key and waits for the
/// hub's `Started`.
async fn publish_from(
    from: [u8; 4],
    srv: &TestServer,
    events: &mut broadcast::Receiver<StreamEvent>,
) -> (TcpStream, StreamId) {
    let mut sock = connect_from(from, srv.addr).await.unwrap();
    sock.write_all(&c0c1()).await.unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 2 * PACKET_LEN];
    sock.read_exact(&mut s0s1s2).await.unwrap();
    sock.write_all(&c2()).await.unwrap();
    sock.write_all(&Publisher::new().publish_commands("live", KEY))
        .await
        .unwrap();
    loop {
        if let StreamEvent::Started { stream_id, .. } = events.recv().await.unwrap() {
            return (sock, stream_id);
        }
    }
}

/// Issue 11: ~1,200 idle connections from one client locked publishers out
/// (global cap 1,000, no per-address cap, backlog 128).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_from_one_address_do_not_lock_out_a_publisher_from_another() {
    const FLOOD: usize = 1500;
    // The flood's client ends and the server's ends, plus slack.
    raise_fd_limit(2 * FLOOD as u64 + 512);
    // Production defaults: a 10 s handshake timeout, 1,000 connections.
    let srv = start(RtmpConfig::default());
    let mut connects = tokio::task::JoinSet::new();
    for _ in 0..FLOOD {
        let addr = srv.addr;
        // A connect the kernel does not answer (full accept queue) gives up.
        connects
            .spawn(async move { timeout(Duration::from_secs(3), connect_from([127, 0, 0, 1], addr)).await });
    }
    let mut idle = Vec::with_capacity(FLOOD);
    while let Some(done) = connects.join_next().await {
        if let Ok(Ok(sock)) = done.unwrap() {
            idle.push(sock);
        }
    }
    let mut events = srv.hub.events();
    let started = Instant::now();
    let published = timeout(
        Duration::from_secs(5),
        publish_from([127, 0, 0, 2], &srv, &mut events),
    )
    .await;
    let (_publisher, _id) = published.unwrap_or_else(|_| {
        panic!(
            "no publish from 127.0.0.2 within 5 s while {} idle sockets from 127.0.0.1 were open",
            idle.len()
        )
    });
    assert!(started.elapsed() < Duration::from_secs(5));
    // The flood was turned away, not queued: most of it sees the server close.
    let mut closed = 0;
    for sock in &mut idle {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = timeout(Duration::from_millis(1), sock.read(&mut byte)).await {
            closed += 1;
        }
    }
    assert!(
        closed >= FLOOD - 16 - 100,
        "{closed} of {} flood sockets closed by the server",
        idle.len()
    );
    drop(idle);
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_cap_refuses_the_extra_connection_until_one_closes() {
    let srv = start(RtmpConfig {
        max_connections_per_addr: 2,
        ..short_config()
    });
    let first = connect_from([127, 0, 0, 1], srv.addr).await.unwrap();
    let _second = connect_from([127, 0, 0, 1], srv.addr).await.unwrap();
    let mut third = connect_from([127, 0, 0, 1], srv.addr).await.unwrap();
    let mut buf = Vec::new();
    let n = timeout(Duration::from_secs(2), third.read_to_end(&mut buf))
        .await
        .expect("the third connection is closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without a handshake");
    // Another address is not affected.
    let mut events = srv.hub.events();
    let (_publisher, _) = timeout(
        Duration::from_secs(5),
        publish_from([127, 0, 0, 3], &srv, &mut events),
    )
    .await
    .unwrap();
    // A slot frees when a connection closes: a fourth one is served.
    drop(first);
    let fourth = async {
        loop {
            let mut sock = connect_from([127, 0, 0, 1], srv.addr).await.unwrap();
            sock.write_all(&c0c1()).await.unwrap();
            let mut s0 = [0u8; 1];
            match timeout(Duration::from_millis(500), sock.read_exact(&mut s0)).await {
                Ok(Ok(_)) => return s0[0],
                // The server may not have seen `first` close yet.
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    };
    assert_eq!(timeout(Duration::from_secs(5), fourth).await.unwrap(), 3);
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}
