//! The connection handler: one task per client, generic over any
//! `Stream + Sink` of [`Frame`]s, so it runs on a WebSocket or, in tests, on
//! a pair of channels.
//!
//! The task owns its transport and selects over: frames from the client,
//! the room's shared frames (a bounded broadcast window: falling further
//! behind than `outbound_queue` frames closes the connection with 1013),
//! the heartbeat, the idle timer, the hub's shutdown and, for a signed-in
//! client, the deletion of its account ([`ChatHub::disconnect_user`]).
//!
//! A WebSocket accepted by [`crate::router`] also has an
//! [`Outbox`](crate::outbox): the room writes its frames to the socket
//! itself, the broadcast only carries the frames this task must act on
//! (a moderator silencing its user), and the task wakes for the outbox only
//! when a write is left to flush or the client fell behind.

use std::collections::HashSet;
use std::fmt::Display;
use std::sync::Arc;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use streamly_core::domain::{ChatAuthor, ChatEvent, ChatMessage, ChatText, MessageId, RoomId};
use time::OffsetDateTime;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::frame::{Frame, close_code};
use crate::hub::{Admission, ChatHub, HubInner};
use crate::outbox::{Outbox, Trouble};
use crate::protocol::{ClientFrame, ErrorCode, Role, ServerFrame};
use crate::room::{OutKind, Outgoing};

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

/// Frames delivered in one batch before flushing.
const BATCH: usize = 64;

/// Whether the connection goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

pub(crate) struct Conn<'h, T> {
    pub(crate) hub: &'h Arc<HubInner>,
    pub(crate) transport: T,
    pub(crate) room: RoomId,
    pub(crate) author: Option<ChatAuthor>,
    pub(crate) role: Role,
    bad_frames: u32,
    /// Ids of the history sent on join, skipped if they arrive live too.
    seen: HashSet<MessageId>,
    /// Where the room writes its frames directly, for WebSocket
    /// connections upgraded by [`crate::router`].
    outbox: Option<Arc<Outbox>>,
    /// Cancelled when the signed-in user's account is deleted.
    account_gone: Option<CancellationToken>,
}

impl ChatHub {
    /// Runs one client connection to its end: validates the room and token,
    /// sends `welcome`, `history` and `presence`, then relays frames both
    /// ways until the client leaves, misbehaves, falls behind, idles out or
    /// the hub shuts down.
    pub async fn serve<T, E>(&self, admission: Admission, request: JoinRequest, transport: T)
    where
        T: Stream<Item = Result<Frame, E>> + Sink<Frame> + Unpin + Send,
        <T as Sink<Frame>>::Error: Display,
        E: Display,
    {
        self.serve_with(admission, request, transport, None).await;
    }

    /// [`ChatHub::serve`], with the room's frames written straight to
    /// `outbox` (the socket under `transport`) instead of through the
    /// connection's task.
    pub(crate) async fn serve_with<T, E>(
        &self,
        admission: Admission,
        request: JoinRequest,
        transport: T,
        outbox: Option<Arc<Outbox>>,
    ) where
        T: Stream<Item = Result<Frame, E>> + Sink<Frame> + Unpin + Send,
        <T as Sink<Frame>>::Error: Display,
        E: Display,
    {
        let _admission = admission;
        let mut conn = Conn {
            hub: &self.inner,
            transport,
            room: RoomId::from(streamly_core::domain::StreamId::new_random()),
            author: None,
            role: Role::Anonymous,
            bad_frames: 0,
            seen: HashSet::new(),
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
        let (membership, rx) = self.join(&conn.room, conn.outbox.as_ref());
        let ready = membership.room.wait_ready(self.inner.config.write_timeout).await;
        if conn.welcome(ready).await == Flow::Continue {
            if let Some(outbox) = &conn.outbox {
                // The history is out: the room frames held since the join
                // follow it, without the ones it already had.
                outbox.release(std::mem::take(&mut conn.seen));
            }
            conn.run(rx).await;
        }
        if let Some(outbox) = &conn.outbox {
            outbox.stop();
        }
        drop(membership);
        drop(session);
        tracing::debug!(room = %conn.room, "chat connection ended");
    }
}

impl<T, E> Conn<'_, T>
where
    T: Stream<Item = Result<Frame, E>> + Sink<Frame> + Unpin + Send,
    <T as Sink<Frame>>::Error: Display,
    E: Display,
{
    /// Sends one frame, within the write timeout.
    pub(crate) async fn send(&mut self, frame: Frame) -> Flow {
        let limit = self.hub.config.write_timeout;
        match tokio::time::timeout(limit, self.transport.send(frame)).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(e)) => {
                tracing::debug!(room = %self.room, error = %e, "chat client write failed");
                Flow::Stop
            }
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

    /// Sends a close frame; the connection ends.
    pub(crate) async fn close(&mut self, code: u16, reason: &str) -> Flow {
        // Nothing may follow a close frame: no more room frames either.
        if let Some(outbox) = &self.outbox {
            outbox.stop();
        }
        let _ = self.send(Frame::close(code, reason)).await;
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
        self.seen = messages.iter().map(|m| m.id).collect();
        let history = ServerFrame::History { messages: &messages }.to_json();
        if self.send(Frame::text(history)).await == Flow::Stop {
            return Flow::Stop;
        }
        let viewers = self.hub.rooms_viewers(&self.room);
        self.send_json(&ServerFrame::Presence { viewers }).await
    }

    async fn run(&mut self, mut rx: broadcast::Receiver<Outgoing>) {
        let config = self.hub.config.clone();
        // Pinned once: re-creating it in every select would register a
        // waiter on the hub-wide token (a shared lock) per delivered frame.
        let shutdown = self.hub.shutdown.clone().cancelled_owned();
        tokio::pin!(shutdown);
        let account_gone = cancelled(self.account_gone.clone());
        tokio::pin!(account_gone);
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
                    Some(Err(e)) => {
                        tracing::debug!(room = %self.room, error = %e, "chat client read failed");
                        Flow::Stop
                    }
                    None => Flow::Stop,
                },
                out = rx.recv() => match out {
                    Ok(out) => self.deliver(out, &mut rx).await,
                    Err(RecvError::Lagged(_)) => self.close(close_code::TRY_AGAIN_LATER, "client too slow").await,
                    Err(RecvError::Closed) => self.close(close_code::GOING_AWAY, "room closed").await,
                },
                () = outbox_needed(self.outbox.as_deref()) => self.on_outbox().await,
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
        let Some(outbox) = &self.outbox else {
            return Flow::Continue;
        };
        match outbox.trouble() {
            Trouble::None => Flow::Continue,
            Trouble::Pending => {
                let deadline = Instant::now() + self.hub.config.write_timeout;
                match tokio::time::timeout_at(deadline, self.transport.flush())
                    .await
                    .ok()
                {
                    Some(Ok(())) => Flow::Continue,
                    Some(Err(e)) => {
                        tracing::debug!(room = %self.room, error = %e, "chat client write failed");
                        Flow::Stop
                    }
                    None => {
                        tracing::info!(room = %self.room, "chat client write timed out; dropping it");
                        Flow::Stop
                    }
                }
            }
            Trouble::Slow => self.close(close_code::TRY_AGAIN_LATER, "client too slow").await,
            Trouble::Failed => Flow::Stop,
        }
    }

    /// Writes `first` and whatever else is already queued (up to a batch),
    /// then flushes once.
    async fn deliver(&mut self, first: Outgoing, rx: &mut broadcast::Receiver<Outgoing>) -> Flow {
        let mut next = Some(first);
        let mut fed = 0usize;
        let limit = self.hub.config.write_timeout;
        let deadline = Instant::now() + limit;
        while let Some(out) = next.take() {
            match self.outgoing_frame(out) {
                Ok(Some(frame)) => match tokio::time::timeout_at(deadline, self.transport.feed(frame))
                    .await
                    .ok()
                {
                    Some(Ok(())) => fed += 1,
                    _ => return Flow::Stop,
                },
                Ok(None) => {}
                Err(action) => {
                    if fed > 0 {
                        let _ = tokio::time::timeout_at(deadline, self.transport.flush()).await;
                    }
                    return self.silenced(action).await;
                }
            }
            if fed >= BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(out) => next = Some(out),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Lagged(_)) => {
                    return self.close(close_code::TRY_AGAIN_LATER, "client too slow").await;
                }
                Err(TryRecvError::Closed) => break,
            }
        }
        if fed == 0 {
            return Flow::Continue;
        }
        match tokio::time::timeout_at(deadline, self.transport.flush())
            .await
            .ok()
        {
            Some(Ok(())) => Flow::Continue,
            _ => Flow::Stop,
        }
    }

    /// The frame to write for a room frame, `None` to skip it, or the
    /// silencing that concerns this very client.
    fn outgoing_frame(&mut self, out: Outgoing) -> Result<Option<Frame>, Option<OffsetDateTime>> {
        match out.kind {
            OutKind::Message(id) => {
                if !self.seen.is_empty() {
                    if self.seen.remove(&id) {
                        return Ok(None);
                    }
                    // Live messages come in publish order: once one is newer
                    // than the history, no duplicate can follow.
                    self.seen = HashSet::new();
                }
                Ok(Some(Frame::Text(out.text)))
            }
            OutKind::Plain => Ok(Some(Frame::Text(out.text))),
            OutKind::Silenced { user, until } => {
                if self.author.as_ref().is_some_and(|a| a.id == user) {
                    Err(until)
                } else {
                    Ok(None)
                }
            }
        }
    }

    async fn silenced(&mut self, until: Option<OffsetDateTime>) -> Flow {
        match until {
            None => {
                self.refuse(ErrorCode::Banned, "you were banned from this room")
                    .await
            }
            Some(until) => {
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
            Ok(Some(crate::moderation::Restriction::Banned)) => return self.silenced(None).await,
            Ok(Some(crate::moderation::Restriction::TimedOut { until })) => {
                return self.silenced(Some(until)).await;
            }
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

/// Resolves when `outbox` needs its connection's task; never without one.
async fn outbox_needed(outbox: Option<&Outbox>) {
    match outbox {
        Some(outbox) => outbox.needed().await,
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
