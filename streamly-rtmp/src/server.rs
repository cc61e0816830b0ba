//! [`RtmpServer`]: the tokio glue — a listener, a connection cap, one task
//! per connection, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use streamly_core::ports::StreamKeyValidator;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

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
        let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let hub = StreamHub::new(config.subscriber_capacity, config.gop_cache_bytes);
        Ok(Self {
            listener,
            local_addr,
            ctx: Arc::new(ConnContext {
                session: config.session_config(),
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
        info!(addr = %self.local_addr, "RTMP server listening");
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
                        // E.g. out of file descriptors: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
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

fn log_join(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result {
        error!(error = %e, "connection task failed");
    }
}
