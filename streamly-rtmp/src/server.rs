//! [`RtmpServer`]: the tokio glue — a listener, a connection cap, one task
//! per connection, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use streamly_core::net::{AddrCaps, Throttle};
use streamly_core::ports::StreamKeyValidator;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::RtmpConfig;
use crate::connection::{ConnContext, serve};
use crate::error::RtmpError;
use crate::hub::StreamHub;

/// An RTMP ingest server, bound and ready to [`run`](Self::run).
pub struct RtmpServer {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    ctx: Arc<ConnContext>,
}

impl std::fmt::Debug for RtmpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtmpServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl RtmpServer {
    /// Binds the listening socket (port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr)). Needs no runtime; `run` does.
    pub fn bind(
        addr: SocketAddr,
        config: RtmpConfig,
        validator: Arc<dyn StreamKeyValidator>,
    ) -> Result<Self, RtmpError> {
        let bind_err = |source| RtmpError::Bind { addr, source };
        let listener = listen(addr, config.listen_backlog).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let hub = StreamHub::new(config.subscriber_capacity, config.gop_cache_bytes);
        Ok(Self {
            listener,
            local_addr,
            ctx: Arc::new(ConnContext {
                session: config.session_config(),
                addr_caps: AddrCaps::new(config.max_connections_per_addr),
                junk: Throttle::new(JUNK_REPORT_PERIOD),
                config,
                validator,
                hub,
            }),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The hub of this server's live streams.
    pub fn hub(&self) -> StreamHub {
        self.ctx.hub.clone()
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully:
    /// stops accepting, closes every connection (publishers are ended:
    /// subscribers' receivers end, `Ended` is broadcast and the validator's
    /// `publish_ended` is called), and returns once all connection tasks
    /// have finished.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RtmpError> {
        let listener = TcpListener::from_std(self.listener)?;
        let semaphore = Arc::new(Semaphore::new(self.ctx.config.max_connections.max(1)));
        let mut tasks = JoinSet::new();
        let mut next_id = 0u64;
        let accept_errors = Throttle::new(ACCEPT_ERROR_REPORT_PERIOD);
        info!(
            addr = %self.local_addr,
            max_connections = self.ctx.config.max_connections,
            per_addr = self.ctx.addr_caps.per_addr(),
            "RTMP server listening"
        );
        loop {
            // The permit is taken before accepting, so at the cap new clients
            // wait in the kernel backlog instead of costing memory here.
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                p = Arc::clone(&semaphore).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break, // never closed
                },
            };
            let (socket, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(a) => a,
                    Err(e) => {
                        // E.g. out of file descriptors (EMFILE): back off
                        // instead of spinning, and say so once a second at most.
                        if let Some(failures) = accept_errors.hit(std::time::Instant::now()) {
                            warn!(error = %e, failures, "accept failed (backing off 100 ms per failure)");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Some(addr_slot) = self.ctx.addr_caps.try_acquire(peer.ip()) else {
                // Dropping the socket closes it; the permit goes back too.
                debug!(%peer, per_addr = self.ctx.addr_caps.per_addr(), "connection refused: too many from this address");
                self.ctx.note_junk();
                continue;
            };
            while let Some(done) = tasks.try_join_next() {
                log_join(done);
            }
            next_id += 1;
            let _ = socket.set_nodelay(true);
            tasks.spawn(serve(
                socket,
                peer,
                next_id,
                Arc::clone(&self.ctx),
                shutdown.child_token(),
                permit,
                addr_slot,
            ));
        }
        info!(connections = tasks.len(), "RTMP server shutting down");
        while let Some(done) = tasks.join_next().await {
            log_join(done);
        }
        info!("RTMP server stopped");
        Ok(())
    }
}

/// At most one info line per this period sums up junk connections.
const JUNK_REPORT_PERIOD: Duration = Duration::from_secs(10);
/// At most one warning per this period about failing `accept` calls.
const ACCEPT_ERROR_REPORT_PERIOD: Duration = Duration::from_secs(1);

/// A non-blocking listening socket on `addr` with an accept queue of
/// `backlog` (std's `TcpListener::bind` fixes it at 128).
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std does on Unix: a restarted server can bind while old
    // connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn log_join(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result {
        error!(error = %e, "connection task failed");
    }
}
