//! Hostile traffic on the platform's HTTP port (issue 11, defect 2): a
//! half-sent request head must not hold shutdown, idle connections from one
//! address must not take the port, a slow body must not hold a handler, and
//! handlers still see the peer address. "Another address" is another
//! loopback address (Linux routes all of 127/8 to `lo`).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use streamly::api::RateLimitConfig;
use streamly::http_server::HttpLimits;
use streamly::{Platform, PlatformConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), streamly::PlatformError>>,
}

/// The platform on in-memory stores and 127.0.0.1 ports, served with
/// `limits` (`None`: exactly what `Platform::serve` does).
async fn start(limits: Option<HttpLimits>) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("streamly=debug")
        .try_init();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = http.local_addr().unwrap();
    let mut config = PlatformConfig::new(b"a hostile-traffic test secret, 32+ bytes".to_vec());
    config.rtmp_addr = "127.0.0.1:0".parse().unwrap();
    config.api.auth_rate_limit = RateLimitConfig {
        burst: 3,
        per_second: 0.01,
        ..RateLimitConfig::default()
    };
    config.password_hasher = streamly::core::auth::PasswordHasher::with_costs(8, 1, 1).unwrap();
    let platform = Platform::builder(config).build().await.unwrap();
    let shutdown = CancellationToken::new();
    let task = match limits {
        Some(limits) => tokio::spawn(platform.serve_with_limits(http, limits, shutdown.clone())),
        None => tokio::spawn(platform.serve(http, shutdown.clone())),
    };
    Running { addr, shutdown, task }
}

async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// One request from `from` with `Connection: close`: the status code and
/// the whole response.
async fn request_from(from: [u8; 4], to: SocketAddr, head: &str, body: &str) -> (u16, String) {
    let mut sock = connect_from(from, to).await;
    let request = format!(
        "{head}\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut response))
        .await
        .expect("a response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// Whether the server closed `sock` within `limit` (EOF or reset),
/// reading past whatever it still sends.
async fn closed_within(sock: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(limit, sock.read_to_end(&mut sink))
        .await
        .is_ok()
}

/// Issue 11: "one client that sends half a request head keeps the process
/// from exiting on SIGTERM, for as long as it likes". `Platform::serve` with
/// its defaults: the header-read timeout and the shutdown deadline are both
/// 10 s, so it must be done well before 15 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_request_head_does_not_hold_shutdown_past_the_deadline() {
    let srv = start(None).await;
    let mut half = connect_from([127, 0, 0, 1], srv.addr).await;
    half.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .await
        .unwrap();
    // Let the server read it before asking it to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    srv.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(15), srv.task).await;
    let stopped =
        stopped.unwrap_or_else(|_| panic!("still serving 15 s after shutdown with a half-sent head"));
    stopped.unwrap().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(15));
    drop(half);
}

/// The deadline, not the header timer, ends it: with a 60 s header timeout
/// and a 1 s deadline, shutdown takes about 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_deadline_drops_connections_that_do_not_finish() {
    let mut limits = HttpLimits::default();
    limits.header_read_timeout = Duration::from_secs(60);
    limits.shutdown_timeout = Duration::from_secs(1);
    let srv = start(Some(limits)).await;
    let mut half = connect_from([127, 0, 0, 1], srv.addr).await;
    half.write_all(b"GET /health HTTP/1.1\r\nHost: te").await.unwrap();
    // An idle keep-alive connection closes at once on shutdown.
    let mut idle = connect_from([127, 0, 0, 1], srv.addr).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    srv.shutdown.cancel();
    assert!(
        closed_within(&mut idle, Duration::from_millis(500)).await,
        "idle connection closed at once"
    );
    tokio::time::timeout(Duration::from_secs(5), srv.task)
        .await
        .expect("stopped by the deadline")
        .unwrap()
        .unwrap();
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "waited for the in-flight head: {took:?}"
    );
    assert!(
        closed_within(&mut half, Duration::from_millis(500)).await,
        "half-sent head dropped"
    );
}

/// Issue 11: 1,100 silent connections took the port (`/health` timed out).
/// Beyond the per-address cap (256 by default) connections from one
/// address are closed at once, and another address is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_per_address_cap_are_refused_while_health_answers_another_address() {
    const IDLE: usize = 300;
    streamly::fd_budget::raise_nofile_limit();
    let srv = start(None).await;
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(connect_from([127, 0, 0, 1], srv.addr).await);
    }
    let mut refused = 0;
    for sock in &mut idle {
        if closed_within(sock, Duration::from_millis(20)).await {
            refused += 1;
        }
    }
    assert_eq!(
        refused,
        IDLE - 256,
        "connections over the per-address cap are closed at once"
    );
    let (status, body) = request_from([127, 0, 0, 2], srv.addr, "GET /health HTTP/1.1", "").await;
    assert_eq!(status, 200, "{body}");
    // Admitted ones are served as usual.
    let (status, _) = request_from([127, 0, 0, 3], srv.addr, "GET /api/streams HTTP/1.1", "").await;
    assert_eq!(status, 200);
    drop(idle);
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

/// A body that trickles in does not hold its handler past the request
/// timeout (408).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_gets_408_after_the_request_timeout() {
    let mut limits = HttpLimits::default();
    limits.request_timeout = Duration::from_secs(1);
    let srv = start(Some(limits)).await;
    let mut sock = connect_from([127, 0, 0, 1], srv.addr).await;
    sock.write_all(
        b"POST /api/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
    )
    .await
    .unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
        .await
        .expect("answered before the body is complete")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}

/// The auth rate limit keys on `ConnectInfo<SocketAddr>`: the server must
/// still provide it. Three tries per address here: the fourth from
/// 127.0.0.1 is refused, 127.0.0.2 is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rate_limit_sees_each_peer_address() {
    let srv = start(None).await;
    let login = r#"{"username":"nobody","password":"not the password"}"#;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _) =
            request_from([127, 0, 0, 1], srv.addr, "POST /api/auth/login HTTP/1.1", login).await;
        statuses.push(status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses[..3].iter().all(|s| *s != 429), "{statuses:?}");
    let (other, _) = request_from([127, 0, 0, 2], srv.addr, "POST /api/auth/login HTTP/1.1", login).await;
    assert_ne!(other, 429);
    srv.shutdown.cancel();
    srv.task.await.unwrap().unwrap();
}
