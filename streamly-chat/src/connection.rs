//! The connection handler: one task per client, on any byte stream that
//! carries a WebSocket after its opening handshake (a TCP socket under
//! [`crate::router`], a `tokio::io::duplex` in tests).
//!
//! The task owns the WebSocket (tungstenite over the connection's
//! [`Outbox`](crate::outbox)) and selects over: frames from the client, the
//! outbox (woken only when a room frame is left to flush, the client fell
//! behind, or a moderator silenced its user), the heartbeat, the idle timer,
//! the hub's shutdown and, for a signed-in client, the deletion of its
//! account ([`ChatHub::disconnect_user`]). Room frames never pass through
//! the task: the hub's fan-out writes them to the outbox.

use std::fmt::Display;
use std::sync::Arc;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use streamly_core::domain::{ChatAuthor, ChatEvent, ChatMessage, ChatText, MessageId, RoomId};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::frame::{Frame, close_code};
use crate::hub::{Admission, ChatHub, HubInner};
use crate::moderation::Restriction;
use crate::outbox::{DirectStream, HistoryFilter, Outbox, Trouble};
use crate::protocol::{ClientFrame, ErrorCode, Role, ServerFrame};
use crate::ws::{WsTransport, socket_config};

mod commands;

/// What a client asked for when it connected (the WebSocket query string
/// and `Authorization` header, already extracted).
#[derive(Clone, Default)]
pub struct JoinRequest {
    /// The `room` parameter, unvalidated.
    pub room: Option<String>,
    /// The bearer token, if any, unverified.
    pub token: Option<String>,
}

impl std::fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinRequest")
            .field("room", &self.room)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Whether the connection goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

pub(crate) struct Conn<'h, T, Io> {
    pub(crate) hub: &'h Arc<HubInner>,
    pub(crate) transport: T,
    pub(crate) room: RoomId,
    pub(crate) author: Option<ChatAuthor>,
    pub(crate) role: Role,
    bad_frames: u32,
    /// The messages of the history sent on join.
    history: Vec<MessageId>,
    /// The socket's write side, shared with the room's fan-out.
    outbox: Arc<Outbox<Io>>,
    /// Cancelled when the signed-in user's account is deleted.
    account_gone: Option<CancellationToken>,
}

impl ChatHub {
    /// Runs one client connection to its end: validates the room and token,
    /// sends `welcome`, `history` and `presence`, then relays frames both
    /// ways until the client leaves, misbehaves, falls behind, idles out or
    /// the hub shuts down.
    ///
    /// `io` carries a WebSocket whose opening handshake is done (this is the
    /// server end): [`crate::router`] serves it on the upgraded HTTP
    /// connection, [`crate::testing::pair`] on a `tokio::io::duplex`.
    pub async fn serve<Io>(&self, admission: Admission, request: JoinRequest, io: Io)
    where
        Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let config = &self.inner.config;
        let outbox = Outbox::new(io, config.outbound_queue);
        let socket = WsTransport::server(DirectStream(Arc::clone(&outbox)), socket_config(config)).await;
        self.serve_on(admission, request, socket, outbox).await;
    }

    async fn serve_on<T, E, Io>(
        &self,
        admission: Admission,
        request: JoinRequest,
        transport: T,
        outbox: Arc<Outbox<Io>>,
    ) where
        T: Stream<Item = Result<Frame, E>> + Sink<Frame> + Unpin + Send,
        <T as Sink<Frame>>::Error: Display,
        E: Display,
        Io: AsyncWrite + Send + Unpin + 'static,
    {
        let _admission = admission;
        let mut conn = Conn {
            hub: &self.inner,
            transport,
            room: RoomId::from(streamly_core::domain::StreamId::new_random()),
            author: None,
            role: Role::Anonymous,
            bad_frames: 0,
            history: Vec::new(),
            outbox,
            account_gone: None,
        };
        let room = match request.room.as_deref().map(RoomId::parse) {
            Some(Ok(room)) => room,
            _ => {
                let _ = conn
                    .refuse(ErrorCode::InvalidRoom, "`room` must be 1-64 of [A-Za-z0-9_-]")
                    .await;
                return;
            }
        };
        conn.room = room;
        if self.inner.config.require_known_room {
            match self.inner.authority.owner(&conn.room).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    let _ = conn.refuse(ErrorCode::UnknownRoom, "no such room").await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(room = %conn.room, error = %e, "room authority unavailable on join");
                    if conn
                        .error(ErrorCode::Unavailable, "room authority unavailable", None)
                        .await
                        == Flow::Continue
                    {
                        conn.close(close_code::INTERNAL, "room authority unavailable")
                            .await;
                    }
                    return;
                }
            }
        }
        match self.authenticate(request.token.as_deref()) {
            Ok(author) => conn.author = author,
            Err(code) => {
                let message = match code {
                    ErrorCode::TokenExpired => "token has expired: log in again",
                    _ => "token is not valid",
                };
                let _ = conn.refuse(code, message).await;
                return;
            }
        }
        // Entered before the directory is asked, so that an account deleted
        // after the answer still has this connection closed.
        let session = conn.author.as_ref().map(|a| self.inner.sign_in(a.id));
        if let Some(author) = &conn.author {
            match self.inner.users.exists(author.id).await {
                Ok(true) => {}
                Ok(false) => {
                    let _ = conn.refuse(ErrorCode::AccountDeleted, "account deleted").await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(room = %conn.room, error = %e, "user directory unavailable on join");
                    if conn
                        .error(ErrorCode::Unavailable, "user directory unavailable", None)
                        .await
                        == Flow::Continue
                    {
                        conn.close(close_code::INTERNAL, "user directory unavailable")
                            .await;
                    }
                    return;
                }
            }
        }
        conn.account_gone = session.as_ref().map(|s| s.ended.clone());
        if let Some(author) = &conn.author {
            let now = OffsetDateTime::now_utc();
            match self
                .inner
                .moderation
                .restriction(&conn.room, author.id, now)
                .await
            {
                Ok(Some(crate::moderation::Restriction::Banned)) => {
                    let _ = conn
                        .refuse(ErrorCode::Banned, "you are banned from this room")
                        .await;
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(room = %conn.room, error = %e, "moderation store unavailable on join")
                }
            }
        }
        conn.role = match self.role(&conn.room, conn.author.as_ref()).await {
            Ok(role) => role,
            Err(e) => {
                tracing::warn!(room = %conn.room, error = %e, "room authority unavailable on join");
                if conn.author.is_some() {
                    Role::Viewer
                } else {
                    Role::Anonymous
                }
            }
        };
        let user = conn.author.as_ref().map(|a| a.id);
        let membership = self.join(&conn.room, Arc::clone(&conn.outbox) as _, user);
        let ready = membership.room.wait_ready(self.inner.config.write_timeout).await;
        if conn.welcome(ready).await == Flow::Continue {
            // The history is out: the room frames held since the join
            // follow it, without the ones it already had.
            let history = std::mem::take(&mut conn.history);
            conn.outbox.release(HistoryFilter::new(history));
            conn.run().await;
        }
        conn.outbox.stop();
        drop(membership);
        drop(session);
        tracing::debug!(room = %conn.room, "chat connection ended");
    }
}

impl<T, E, Io> Conn<'_, T, Io>
where
    T: Stream<Item = Result<Frame, E>> + Sink<Frame> + Unpin + Send,
    <T as Sink<Frame>>::Error: Display,
    E: Display,
    Io: AsyncWrite + Send + Unpin + 'static,
{
    /// Sends one frame, within the write timeout.
    pub(crate) async fn send(&mut self, frame: Frame) -> Flow {
        let limit = self.hub.config.write_timeout;
        match tokio::time::timeout(limit, self.transport.send(frame)).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(e)) => self.transport_failed("write", e).await,
            Err(_) => {
                tracing::info!(room = %self.room, "chat client write timed out; dropping it");
                Flow::Stop
            }
        }
    }

    async fn send_json(&mut self, frame: &ServerFrame<'_>) -> Flow {
        self.send(Frame::text(frame.to_json())).await
    }

    /// Sends an `error` frame.
    pub(crate) async fn error(
        &mut self,
        code: ErrorCode,
        message: &str,
        retry_after_ms: Option<u64>,
    ) -> Flow {
        self.send_json(&ServerFrame::Error {
            code,
            message,
            retry_after_ms,
        })
        .await
    }

    /// Sends a close frame, after everything already queued; the
    /// connection ends. Queued by the outbox itself (nothing may follow it,
    /// room frames included) so that it goes out even when the own-frame
    /// queue is full.
    pub(crate) async fn close(&mut self, code: u16, reason: &str) -> Flow {
        self.outbox.close(code, reason);
        let limit = self.hub.config.write_timeout;
        if let Ok(Err(e)) = tokio::time::timeout(limit, self.outbox.flush()).await {
            tracing::debug!(room = %self.room, error = %e, "chat client close failed");
        }
        Flow::Stop
    }

    /// The transport failed (`what`: read or write): when the client let its
    /// own frames pile up past the outbox's bound, it is closed as too slow.
    async fn transport_failed(&mut self, what: &str, e: impl Display) -> Flow {
        // Rendered first: the error need not be `Send`.
        let e = e.to_string();
        if self.outbox.own_queue_full() {
            tracing::info!(room = %self.room, "chat client does not read its own frames; closing it");
            return self.close(close_code::TRY_AGAIN_LATER, "client too slow").await;
        }
        tracing::debug!(room = %self.room, error = %e, "chat client {what} failed");
        Flow::Stop
    }

    /// An `error` frame, then close with 1008.
    pub(crate) async fn refuse(&mut self, code: ErrorCode, message: &str) -> Flow {
        if self.error(code, message, None).await == Flow::Continue {
            self.close(close_code::POLICY, message).await;
        }
        Flow::Stop
    }

    async fn welcome(&mut self, bus_ready: bool) -> Flow {
        let welcome = ServerFrame::Welcome {
            room: &self.room,
            user: self.author.as_ref(),
            role: self.role,
        }
        .to_json();
        if self.send(Frame::text(welcome)).await == Flow::Stop {
            return Flow::Stop;
        }
        if !bus_ready {
            let flow = self
                .error(
                    ErrorCode::Unavailable,
                    "chat bus unavailable: live messages may be delayed",
                    None,
                )
                .await;
            if flow == Flow::Stop {
                return flow;
            }
        }
        let limit = self.hub.config.history_on_join;
        let messages: Vec<ChatMessage> = match self.hub.bus.history(&self.room, limit).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, "chat history unavailable");
                if self
                    .error(ErrorCode::Unavailable, "history unavailable", None)
                    .await
                    == Flow::Stop
                {
                    return Flow::Stop;
                }
                Vec::new()
            }
        };
        self.history = messages.iter().map(|m| m.id).collect();
        let history = ServerFrame::History { messages: &messages }.to_json();
        if self.send(Frame::text(history)).await == Flow::Stop {
            return Flow::Stop;
        }
        let viewers = self.hub.rooms_viewers(&self.room);
        self.send_json(&ServerFrame::Presence { viewers }).await
    }

    async fn run(&mut self) {
        let config = self.hub.config.clone();
        // Pinned once: re-creating it in every select would register a
        // waiter on the hub-wide token (a shared lock) per delivered frame.
        let shutdown = self.hub.shutdown.clone().cancelled_owned();
        tokio::pin!(shutdown);
        let account_gone = cancelled(self.account_gone.clone());
        tokio::pin!(account_gone);
        let outbox = Arc::clone(&self.outbox);
        // One timer for both the heartbeat and the idle timeout, so that a
        // wake-up for a room frame polls one timer, not two, and a client
        // frame only moves a deadline instead of re-arming a timer.
        let mut next_ping = Instant::now() + config.heartbeat_interval;
        let mut idle_at = Instant::now() + config.idle_timeout;
        let clock = tokio::time::sleep_until(next_ping.min(idle_at));
        tokio::pin!(clock);
        loop {
            let flow = tokio::select! {
                () = &mut shutdown => {
                    let _ = self.error(ErrorCode::ShuttingDown, "server shutting down", None).await;
                    self.close(close_code::GOING_AWAY, "server shutting down").await
                }
                () = &mut account_gone => {
                    tracing::info!(room = %self.room, "account deleted: closing its chat connection");
                    let _ = self.error(ErrorCode::AccountDeleted, "your account was deleted", None).await;
                    self.close(close_code::POLICY, "account deleted").await
                }
                frame = self.transport.next() => match frame {
                    Some(Ok(frame)) => {
                        idle_at = Instant::now() + config.idle_timeout;
                        self.on_frame(frame).await
                    }
                    Some(Err(e)) => self.transport_failed("read", e).await,
                    None => Flow::Stop,
                },
                () = outbox.needed() => self.on_outbox().await,
                () = &mut clock => {
                    let now = Instant::now();
                    let flow = if now >= idle_at {
                        self.close(close_code::NORMAL, "idle timeout").await
                    } else if now >= next_ping {
                        next_ping = now + config.heartbeat_interval;
                        self.send(Frame::Ping(bytes::Bytes::new())).await
                    } else {
                        // The idle deadline moved on since the timer was set.
                        Flow::Continue
                    };
                    clock.as_mut().reset(next_ping.min(idle_at));
                    flow
                }
            };
            if flow == Flow::Stop {
                return;
            }
        }
    }

    /// Acts on what the room's fan-out left for this connection.
    async fn on_outbox(&mut self) -> Flow {
        loop {
            match self.outbox.trouble() {
                Trouble::None => return Flow::Continue,
                Trouble::Pending => {
                    let deadline = Instant::now() + self.hub.config.write_timeout;
                    match tokio::time::timeout_at(deadline, self.transport.flush())
                        .await
                        .ok()
                    {
                        Some(Ok(())) => {}
                        Some(Err(e)) => return self.transport_failed("write", e).await,
                        None => {
                            tracing::info!(room = %self.room, "chat client write timed out; dropping it");
                            return Flow::Stop;
                        }
                    }
                }
                Trouble::Slow => {
                    return self.close(close_code::TRY_AGAIN_LATER, "client too slow").await;
                }
                Trouble::OwnQueueFull => {
                    tracing::info!(room = %self.room, "chat client does not read its own frames; closing it");
                    return self.close(close_code::TRY_AGAIN_LATER, "client too slow").await;
                }
                Trouble::Silenced(restriction) => {
                    if self.silenced(restriction).await == Flow::Stop {
                        return Flow::Stop;
                    }
                }
                Trouble::Failed => return Flow::Stop,
            }
        }
    }

    async fn silenced(&mut self, restriction: Restriction) -> Flow {
        match restriction {
            Restriction::Banned => {
                self.refuse(ErrorCode::Banned, "you were banned from this room")
                    .await
            }
            Restriction::TimedOut { until } => {
                let ms = retry_after_ms(until);
                self.error(ErrorCode::TimedOut, "a moderator timed you out", Some(ms))
                    .await
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> Flow {
        let max = self.hub.config.max_frame_bytes;
        if frame.len() > max || matches!(frame, Frame::TooLarge(_)) {
            return self.close(close_code::TOO_BIG, "frame too large").await;
        }
        match frame {
            Frame::Text(text) => match serde_json::from_str::<ClientFrame>(text.as_str()) {
                Ok(frame) => {
                    self.bad_frames = 0;
                    self.on_client_frame(frame).await
                }
                Err(e) => self.bad_frame(&format!("bad frame: {e}")).await,
            },
            Frame::Binary(_) => self.bad_frame("binary frames are not supported").await,
            Frame::Ping(_) | Frame::Pong(_) => Flow::Continue,
            Frame::Close(_) => Flow::Stop,
            Frame::TooLarge(_) => self.close(close_code::TOO_BIG, "frame too large").await,
        }
    }

    async fn bad_frame(&mut self, message: &str) -> Flow {
        self.bad_frames += 1;
        if self.bad_frames >= self.hub.config.max_bad_frames {
            return self.refuse(ErrorCode::BadRequest, "too many bad frames").await;
        }
        self.error(ErrorCode::BadRequest, message, None).await
    }

    async fn on_client_frame(&mut self, frame: ClientFrame) -> Flow {
        match frame {
            ClientFrame::Send { text } => self.on_send(&text).await,
            ClientFrame::Ping => self.send_json(&ServerFrame::Pong).await,
            other => self.on_command(other).await,
        }
    }

    async fn on_send(&mut self, text: &str) -> Flow {
        let Some(author) = self.author.clone() else {
            return self
                .error(ErrorCode::Unauthorized, "sign in to send messages", None)
                .await;
        };
        let text = match ChatText::parse(text) {
            Ok(text) => text,
            Err(e) => return self.error(ErrorCode::InvalidText, &e.to_string(), None).await,
        };
        if let Err(wait) = self.hub.limiter.check(author.id, std::time::Instant::now()) {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            return self
                .error(ErrorCode::RateLimited, "too many messages", Some(ms))
                .await;
        }
        let now = OffsetDateTime::now_utc();
        match self.hub.moderation.restriction(&self.room, author.id, now).await {
            Ok(None) => {}
            Ok(Some(restriction)) => return self.silenced(restriction).await,
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, "moderation store unavailable");
                return self
                    .error(
                        ErrorCode::Unavailable,
                        "moderation store unavailable; not sent",
                        None,
                    )
                    .await;
            }
        }
        let message = ChatMessage {
            id: MessageId::new_random(),
            room: self.room.clone(),
            author,
            text,
            sent_at: now,
        };
        match self
            .hub
            .bus
            .publish(&self.room, ChatEvent::Message(message))
            .await
        {
            Ok(()) => Flow::Continue,
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, "chat publish failed");
                self.error(
                    ErrorCode::Unavailable,
                    "chat bus unavailable; message not sent",
                    None,
                )
                .await
            }
        }
    }
}

/// Resolves when `token` is cancelled; never without one.
async fn cancelled(token: Option<CancellationToken>) {
    match token {
        Some(token) => token.cancelled_owned().await,
        None => std::future::pending().await,
    }
}

/// Milliseconds from now until `until` (at least 1).
pub(crate) fn retry_after_ms(until: OffsetDateTime) -> u64 {
    let ms = (until - OffsetDateTime::now_utc()).whole_milliseconds();
    u64::try_from(ms).unwrap_or(0).max(1)
}

impl HubInner {
    pub(crate) fn rooms_viewers(self: &Arc<Self>, room: &RoomId) -> usize {
        ChatHub {
            inner: Arc::clone(self),
        }
        .viewers(room)
    }
}
