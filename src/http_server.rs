//! [`serve`]: every HTTP listener Streamly starts (the platform, the chat
//! server, `rtmp_to_hls`) goes through this one accept loop, which owns what
//! a stranger on the port must not be able to exhaust:
//!
//! - **a total cap** ([`HttpLimits::max_connections`]): a permit is taken
//!   before `accept`, so at the cap new clients wait in the kernel's accept
//!   queue instead of costing a file descriptor here;
//! - **a per-address cap** ([`HttpLimits::max_connections_per_addr`], IPv6
//!   by /64): a connection over it is accepted and closed at once, so one
//!   client cannot fill the total;
//! - **a header-read timeout** (hyper's `header_read_timeout`): a request
//!   head must arrive whole within it. hyper runs the same timer while a
//!   kept-alive connection waits for its next request, so it is also the
//!   idle keep-alive timeout;
//! - **a request timeout and a body cap** (tower-http layers) on every route,
//!   whatever its own extractors allow;
//! - **a shutdown deadline**: on `shutdown`, accepting stops, every connection
//!   is asked to close after its in-flight request, and whatever is still
//!   open after [`HttpLimits::shutdown_timeout`] is dropped.
//!
//! Both caps stay held for the whole life of the socket, also after a
//! WebSocket upgrade (the slot travels with the socket). HTTP/1.1 only.
//! Handlers see the peer as `ConnectInfo<SocketAddr>`, as with axum's
//! `into_make_service_with_connect_info::<SocketAddr>()`.
//!
//! ```no_run
//! use streamly::http_server::{HttpLimits, serve};
//!
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! let router = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let limits = HttpLimits::default().within_fd_budget(1000);
//! serve(listener, router, limits, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use streamly_core::net::{AddrCaps, AddrSlot, Throttle};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{debug, info, warn};

/// The body cap's own 413 (a `Content-Length` over it, refused before any
/// route runs) as the JSON error body every API error has; every other
/// response passes unchanged.
fn json_when_body_refused<B>(response: axum::http::Response<B>) -> axum::http::Response<axum::body::Body>
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return axum::response::IntoResponse::into_response(crate::api::ApiError::PayloadTooLarge);
    }
    response.map(axum::body::Body::new)
}

/// What one HTTP listener allows. `HttpLimits::default()` suits a public
/// port; [`within_fd_budget`](Self::within_fd_budget) fits the total cap to
/// the file descriptors this listener may use.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpLimits {
    /// Time for a request head to arrive whole, counted from when the
    /// connection is ready for one: right after accept, and after each
    /// response on a kept-alive connection (so also the idle keep-alive
    /// timeout). Default 10 s.
    pub header_read_timeout: Duration,
    /// Keep connections open between requests (default true).
    pub keep_alive: bool,
    /// Time for a handler to produce its response head, reading the request
    /// body included (default 30 s; then 408). LL-HLS blocking reloads wait
    /// far less. Does not apply to a WebSocket once upgraded.
    pub request_timeout: Duration,
    /// Largest request head (request line and headers) in bytes (default
    /// 16 KiB; larger: 431). hyper's floor is 8 KiB.
    pub max_header_bytes: usize,
    /// Largest request body in bytes on any route (default 1 MiB; larger:
    /// 413). Routes may cap lower (the API: `ApiConfig::body_limit`).
    pub max_body_bytes: usize,
    /// Most connections open at once, WebSockets included (default 16,384;
    /// [`within_fd_budget`](Self::within_fd_budget) lowers it to what the
    /// descriptor limit allows).
    pub max_connections: usize,
    /// Most connections from one address (IPv6: one /64), default 256: a
    /// household or office behind one NAT with many tabs fits; a single
    /// client cannot take the whole listener.
    pub max_connections_per_addr: usize,
    /// After `shutdown`, how long in-flight requests get before every
    /// connection is dropped (default 10 s).
    pub shutdown_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            keep_alive: true,
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            max_connections: 16_384,
            max_connections_per_addr: 256,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl HttpLimits {
    /// These limits with `max_connections` lowered to `fds` when it is
    /// higher (see [`FdBudget`](crate::fd_budget::FdBudget)), and the
    /// per-address cap kept below the total.
    #[must_use]
    pub fn within_fd_budget(mut self, fds: usize) -> Self {
        self.max_connections = self.max_connections.min(fds).max(1);
        self.max_connections_per_addr = self.max_connections_per_addr.min(self.max_connections);
        self
    }
}

/// At most one info line per this period sums up refused connections.
const REFUSED_REPORT_PERIOD: Duration = Duration::from_secs(10);
/// At most one warning per this period about failing `accept` calls.
const ACCEPT_ERROR_REPORT_PERIOD: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` within `limits` until `shutdown`
/// completes, then stops accepting, lets in-flight requests finish for up
/// to `limits.shutdown_timeout` and drops every connection still open.
/// Returns once all of them are gone (upgraded WebSockets excepted: their
/// owner closes them, e.g. `ChatHub::shutdown`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let total = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_addr = AddrCaps::new(limits.max_connections_per_addr);
    let refused = Throttle::new(REFUSED_REPORT_PERIOD);
    let accept_errors = Throttle::new(ACCEPT_ERROR_REPORT_PERIOD);
    let app = tower::ServiceBuilder::new()
        .map_response(json_when_body_refused)
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .service(router);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(limits.keep_alive)
        .max_buf_size(limits.max_header_bytes.max(8192));
    // Cancelled on shutdown: each connection then closes after its
    // in-flight request (hyper's graceful shutdown).
    let draining = CancellationToken::new();
    let mut connections = JoinSet::new();
    info!(
        addr = %local,
        max_connections = limits.max_connections,
        per_addr = per_addr.per_addr(),
        "HTTP server listening"
    );
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = Arc::clone(&total).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
        };
        let (socket, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors (EMFILE): back off
                    // instead of spinning, and say so once a second at most.
                    if let Some(failures) = accept_errors.hit(Instant::now()) {
                        warn!(addr = %local, error = %e, failures, "HTTP accept failed (backing off 100 ms per failure)");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let Some(slot) = per_addr.try_acquire(peer.ip()) else {
            // Dropping the socket closes it; the permit goes back too.
            debug!(%peer, per_addr = per_addr.per_addr(), "HTTP connection refused: too many from this address");
            if let Some(count) = refused.hit(Instant::now()) {
                info!(
                    addr = %local,
                    refused = count,
                    period_s = REFUSED_REPORT_PERIOD.as_secs(),
                    "{count} HTTP connection(s) refused over the per-address cap since the last report"
                );
            }
            continue;
        };
        // Responses are small and latency-bound (chat frames, LL-HLS parts).
        if let Err(e) = socket.set_nodelay(true) {
            debug!(error = %e, "could not set TCP_NODELAY");
        }
        let io = TokioIo::new(Admitted {
            socket,
            _slot: slot,
            _permit: permit,
        });
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = http.serve_connection(io, service).with_upgrades();
        let draining = draining.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            let result = tokio::select! {
                r = connection.as_mut() => r,
                () = draining.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                // Timeouts, resets, malformed heads: the client's doing.
                debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    draining.cancel();
    info!(addr = %local, open = connections.len(), "HTTP server shutting down");
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            addr = %local,
            open = connections.len(),
            deadline = ?limits.shutdown_timeout,
            "HTTP connections still open at the shutdown deadline: dropping them"
        );
        connections.shutdown().await;
    }
    info!(addr = %local, "HTTP server stopped");
    Ok(())
}

/// An accepted socket with its places under both caps: they are given
/// back when the socket is dropped, which after a WebSocket upgrade is when
/// the WebSocket ends, not when the HTTP exchange does.
struct Admitted {
    socket: TcpStream,
    _slot: AddrSlot,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Admitted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}
