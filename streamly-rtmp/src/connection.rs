//! One publisher connection: drives an [`IngestSession`] over a socket, asks
//! the validator, parses media tags and forwards frames to the hub.
//!
//! Logs go through a span with `conn` (connection id), `peer` and, once
//! granted, `stream` (the stream id). The stream key is never logged.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::media::{MediaError, MediaFrame, parse_audio_tag, parse_video_tag};
use streamly_core::net::{AddrCaps, AddrSlot, Throttle};
use streamly_core::ports::{PublishDecision, PublishRequest, StreamKeyValidator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, debug, info, warn};

use crate::RtmpConfig;
use crate::error::RtmpError;
use crate::hub::{Publisher, StreamHub};
use crate::session::{Expired, IngestSession, SessionConfig, SessionEvent};

/// Bytes reserved in the session's input buffer for reads, once a read
/// would otherwise find less than [`MIN_READ_SPACE`] free. Media messages
/// that fit in one chunk are slices of this buffer, so a block lives as long
/// as the last frame cut from it (in the hub's GOP cache, say): a connection
/// pins about the wire bytes since its oldest live frame, plus one block.
const READ_BUFFER: usize = 64 * 1024;
/// The free space below which a fresh block is reserved before a read.
const MIN_READ_SPACE: usize = 16 * 1024;
/// Before the handshake completes: C0+C1 and C2 (3,073 bytes) and a little.
/// Idle and junk connections hold this, not a whole block.
const HANDSHAKE_READ: usize = 4 * 1024;

/// What every connection task shares.
pub(crate) struct ConnContext {
    pub(crate) config: RtmpConfig,
    pub(crate) session: SessionConfig,
    pub(crate) validator: Arc<dyn StreamKeyValidator>,
    pub(crate) hub: StreamHub,
    /// Open connections per peer address (`max_connections_per_addr`).
    pub(crate) addr_caps: AddrCaps,
    /// Junk connections (failed handshakes, refused over a cap): each is
    /// logged at debug, a count at info at most once per period.
    pub(crate) junk: Throttle,
}

impl ConnContext {
    /// Counts one junk connection and, at most once per period, logs how
    /// many there were (outside any connection's span: it is about all).
    pub(crate) fn note_junk(&self) {
        if let Some(count) = self.junk.hit(std::time::Instant::now()) {
            info!(
                parent: None,
                junk = count,
                period_s = self.junk.period().as_secs(),
                "{count} junk RTMP connection(s) since the last report (failed handshakes, refused over a \
                 cap); one report per period at most, details at debug"
            );
        }
    }
}

/// Whether a track's codec is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    Ok,
    Unsupported,
}

/// Whether to keep the connection open.
enum Flow {
    Continue,
    Close,
}

struct Connection {
    ctx: Arc<ConnContext>,
    id: u64,
    socket: TcpStream,
    shutdown: CancellationToken,
    session: IngestSession,
    publisher: Option<Publisher>,
    video: Track,
    audio: Track,
    bad_frames: u64,
}

/// Serves one accepted connection until it ends or `shutdown` fires.
pub(crate) async fn serve(
    socket: TcpStream,
    peer: std::net::SocketAddr,
    id: u64,
    ctx: Arc<ConnContext>,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
    _addr_slot: AddrSlot,
) {
    let span = tracing::info_span!("rtmp", conn = id, %peer, stream = tracing::field::Empty);
    async move {
        debug!("accepted");
        let seed = id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        let mut conn = Connection {
            session: IngestSession::new(ctx.session.clone(), seed, Instant::now().into_std()),
            ctx,
            id,
            socket,
            shutdown,
            publisher: None,
            video: Track::Ok,
            audio: Track::Ok,
            bad_frames: 0,
        };
        let result = conn.run().await;
        conn.end_publish("connection closed").await;
        let _ = conn.socket.shutdown().await;
        // Sockets that never finish a handshake are port scanners, health
        // probes or floods: one line each at info would let them fill logs.
        let handshake_done = conn.session.handshake_done();
        match result {
            Ok(()) if handshake_done => info!("connection closed"),
            Err(e) if handshake_done => info!(error = %e, "connection closed on error"),
            Ok(()) => {
                debug!("closed before the handshake completed");
                conn.ctx.note_junk();
            }
            Err(e) => {
                debug!(error = %e, "handshake failed");
                conn.ctx.note_junk();
            }
        }
    }
    .instrument(span)
    .await
}

impl Connection {
    async fn run(&mut self) -> Result<(), RtmpError> {
        let shutdown = self.shutdown.clone();
        // One timer, at the session's deadline (handshake, publish, idle).
        // Input only moves the idle deadline later, so the timer is re-armed
        // when it fires, not on every read; it is moved earlier only when
        // the session's next deadline comes before the armed one.
        let mut armed = self.session.poll_timeout();
        let timer = tokio::time::sleep_until(to_tokio(armed));
        tokio::pin!(timer);
        loop {
            // A fresh token never fires: nothing to kick before a grant.
            let kicked = self.publisher.as_ref().map(Publisher::kicked).unwrap_or_default();
            // Read straight into the session's input: no copy on the way in.
            let (space, block) = if self.session.handshake_done() {
                (MIN_READ_SPACE, READ_BUFFER)
            } else {
                (1, HANDSHAKE_READ)
            };
            let input = self.session.input_buffer();
            if input.capacity() - input.len() < space {
                input.reserve(block);
            }
            let n = tokio::select! {
                () = shutdown.cancelled() => {
                    info!("server shutting down");
                    return Ok(());
                }
                () = kicked.cancelled() => {
                    info!("publisher disconnected by the hub");
                    return Ok(());
                }
                () = &mut timer => {
                    if let Some(expired) = self.session.handle_timeout(Instant::now().into_std()) {
                        return Err(match expired {
                            Expired::Handshake => RtmpError::HandshakeTimeout,
                            Expired::Publish => RtmpError::PublishTimeout,
                            Expired::Idle => RtmpError::IdleTimeout,
                        });
                    }
                    armed = self.session.poll_timeout();
                    timer.as_mut().reset(to_tokio(armed));
                    continue;
                }
                r = self.socket.read_buf(self.session.input_buffer()) => r?,
            };
            if n == 0 {
                return Ok(());
            }
            let result = self.session.process_input(Instant::now().into_std());
            // Flush first: on error the output may hold a status for the client.
            self.flush().await?;
            result?;
            if let Flow::Close = self.drain_events().await? {
                return Ok(());
            }
            let next = self.session.poll_timeout();
            let earlier = match (next, armed) {
                (Some(next), Some(armed)) => next < armed,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if earlier {
                armed = next;
                timer.as_mut().reset(to_tokio(armed));
            }
        }
    }

    async fn flush(&mut self) -> Result<(), RtmpError> {
        let out = self.session.take_output();
        if out.is_empty() {
            return Ok(());
        }
        // A client that stops reading must not hold up shutdown.
        tokio::select! {
            () = self.shutdown.cancelled() => Ok(()),
            r = timeout(self.ctx.config.idle_timeout, self.socket.write_all(&out)) => {
                r.map_err(|_| RtmpError::IdleTimeout)??;
                Ok(())
            }
        }
    }

    async fn drain_events(&mut self) -> Result<Flow, RtmpError> {
        while let Some(event) = self.session.poll_event() {
            match event {
                SessionEvent::Connected { app } => info!(app, "connected"),
                SessionEvent::PublishRequested { app, key } => {
                    let flow = self.on_publish(PublishRequest { app, key }).await;
                    self.flush().await?;
                    if let Flow::Close = flow {
                        return Ok(Flow::Close);
                    }
                }
                SessionEvent::Video { timestamp, body } => self.on_video(timestamp, &body),
                SessionEvent::Audio { timestamp, body } => self.on_audio(timestamp, &body),
                SessionEvent::Metadata(meta) => {
                    if let Some(p) = &self.publisher {
                        p.forward(MediaFrame::Metadata(Arc::new(meta)));
                    }
                }
                SessionEvent::PublishFinished => {
                    // The session starts a new publish timeout.
                    self.end_publish("publisher unpublished").await;
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn on_publish(&mut self, request: PublishRequest) -> Flow {
        let ctx = Arc::clone(&self.ctx);
        let app = request.app.clone();
        let decision = timeout(ctx.config.validate_timeout, ctx.validator.validate(&request)).await;
        let (code, why) = match decision {
            Ok(Ok(PublishDecision::Grant(stream_id))) => match ctx.hub.register(&stream_id, self.id, &app) {
                Ok(publisher) => {
                    Span::current().record("stream", tracing::field::display(&stream_id));
                    info!(app, "publish granted");
                    self.publisher = Some(publisher);
                    self.session.accept_publish();
                    return Flow::Continue;
                }
                Err(_) => {
                    warn!(app, stream = %stream_id, "publish rejected: stream already has a publisher");
                    ("NetStream.Publish.BadName", "stream already has a publisher")
                }
            },
            Ok(Ok(PublishDecision::Reject(reason))) => {
                info!(app, %reason, "publish rejected");
                ("NetStream.Publish.BadName", "publish rejected")
            }
            Ok(Err(e)) => {
                warn!(app, error = %e, "validator failed: publish rejected");
                ("NetStream.Publish.Failed", "publish could not be validated")
            }
            Err(_) => {
                warn!(app, timeout = ?ctx.config.validate_timeout, "validator timed out: publish rejected");
                ("NetStream.Publish.Failed", "publish could not be validated")
            }
        };
        self.session.reject_publish(code, why);
        Flow::Close
    }

    fn on_video(&mut self, timestamp: u32, body: &Bytes) {
        if self.video == Track::Unsupported {
            return;
        }
        // Enhanced RTMP (FourCC codecs: HEVC, AV1, VP9) sets the top bit.
        if body.first().is_some_and(|b| b & 0x80 != 0) {
            warn!("enhanced-RTMP video (HEVC/AV1/VP9) is not supported: video track ignored");
            self.video = Track::Unsupported;
            return;
        }
        let parsed = parse_video_tag(timestamp, body);
        self.forward("video", parsed);
    }

    fn on_audio(&mut self, timestamp: u32, body: &Bytes) {
        if self.audio == Track::Unsupported {
            return;
        }
        let parsed = parse_audio_tag(timestamp, body);
        self.forward("audio", parsed);
    }

    fn forward(&mut self, kind: &'static str, parsed: Result<Option<MediaFrame>, MediaError>) {
        match parsed {
            Ok(Some(frame)) => {
                if let Some(p) = &self.publisher {
                    p.forward(frame);
                }
            }
            Ok(None) => {}
            Err(e @ MediaError::UnsupportedCodec { .. }) => {
                warn!(error = %e, "{kind} track ignored: only H.264 video and AAC audio are carried");
                match kind {
                    "video" => self.video = Track::Unsupported,
                    _ => self.audio = Track::Unsupported,
                }
            }
            Err(e) => {
                self.bad_frames += 1;
                if let Some(p) = &self.publisher {
                    p.dropped_frame();
                }
                // First and then every 100th: a broken encoder must not flood logs.
                if self.bad_frames % 100 == 1 {
                    warn!(error = %e, bad_frames = self.bad_frames, "malformed {kind} tag dropped");
                }
            }
        }
    }

    /// Ends the publish, if any: subscribers end, `Ended` is broadcast and
    /// the validator hears about it.
    async fn end_publish(&mut self, why: &str) {
        let Some(mut publisher) = self.publisher.take() else {
            return;
        };
        publisher.close();
        info!(reason = why, "publish ended");
        let stream_id = publisher.stream_id().clone();
        let validator = Arc::clone(&self.ctx.validator);
        let limit: Duration = self.ctx.config.validate_timeout;
        match timeout(limit, validator.publish_ended(&stream_id)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "validator.publish_ended failed"),
            Err(_) => warn!("validator.publish_ended timed out"),
        }
        // Dropping the publisher broadcasts `Ended`, after the validator knows.
        drop(publisher);
    }
}

/// The tokio instant of a session deadline; without one, far away.
fn to_tokio(deadline: Option<std::time::Instant>) -> Instant {
    deadline.map_or_else(
        || Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600),
        Instant::from_std,
    )
}
