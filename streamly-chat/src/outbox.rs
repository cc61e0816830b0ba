//! [`Outbox`]: the write side of one chat connection, shared by the
//! connection's task and the hub's fan-out ([`crate::fanout`]).
//!
//! A room frame goes to every client in the room. Waking each
//! connection's task to write it costs more than the write itself (a task
//! wake, a channel receive, a `select!` round, tungstenite's framing). So
//! the fan-out writes the frame, framed once for all clients, straight to
//! each socket. Every connection has an outbox, whatever its transport
//! ([`crate::ChatHub::serve`] takes any byte stream: a TCP socket under
//! [`crate::router`], a `tokio::io::duplex` in tests). The connection's task
//! only wakes when something needs it ([`Trouble`]):
//! - a socket did not take the whole frame (the rest waits in `pending`
//!   until the task flushes it);
//! - the client fell more than `outbound_queue` room frames behind, or let
//!   more than [`OWN_QUEUE_BYTES`] of its own frames pile up (the task
//!   closes it with 1013);
//! - a moderator silenced the connection's user;
//! - a write failed.
//!
//! Everything else the connection writes (welcome, history, errors, pings,
//! pongs) goes through tungstenite over [`DirectStream`], which shares the
//! socket with the fan-out under one lock; its close frame is queued by
//! [`Outbox::close`].
//!
//! # Invariants
//!
//! Each is kept under the state lock, by the functions named.
//!
//! 1. **Frames are never split.** The socket sees whole frames from one
//!    writer at a time: `pending` holds at most the tail of one frame, then
//!    whole frames, and nothing is written to the socket while it is not
//!    empty except by draining it (`drain`). [`DirectStream::poll_write`]
//!    takes the whole buffer or none of it, so tungstenite's buffer starts at
//!    a frame boundary on every call.
//! 2. **No wake-up is lost, whoever polls the socket.** The socket's write
//!    side is always polled with one waker, the outbox's own
//!    (`WriteReady`), never with a caller's. A task that waits for the
//!    socket (in [`DirectStream`]'s `poll_write`, `poll_flush`,
//!    `poll_shutdown`, or [`Outbox::flush`]) registers itself there first;
//!    the fan-out, which never waits, does not register, and when the socket
//!    refuses it, it queues the frame and notifies the task
//!    ([`Outbox::needed`]). So the fan-out polling the socket can never
//!    replace the waker of a task waiting on it. (The read side is polled
//!    only by the connection's task, with its own waker.)
//! 3. **Everything queued is bounded.** Room frames: `outbound_queue`
//!    frames held while joining, or queued since `pending` was last empty.
//!    Own frames: a write that finds [`OWN_QUEUE_BYTES`] of own frames
//!    queued since `pending` was last empty is refused. Either closes the
//!    connection with 1013; the room never waits for a connection.
//! 4. **Nothing follows a close frame.** [`Outbox::close`] queues it last;
//!    from then on room frames are dropped and own writes refused.
//! 5. **History is filtered once.** Room frames are held from the join until
//!    [`Outbox::release`]; then the held ones and the live ones pass one
//!    [`HistoryFilter`] that drops the messages the `history` frame had.

use std::collections::{HashSet, VecDeque};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use streamly_core::domain::MessageId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::moderation::Restriction;

/// Bytes of a connection's own frames (pongs, errors, acks, history) that
/// may wait in its outbox, unwritten because the client does not read. The
/// write that finds this much queued is refused and the connection closed
/// with 1013 `client too slow`. One frame may be larger than this (a long
/// history): only what is already queued is counted.
pub(crate) const OWN_QUEUE_BYTES: usize = 64 * 1024;

/// What the fan-out needs of an outbox, whatever its byte stream: the
/// outbox holds its stream inline (no box per connection), the fan-out
/// holds `Arc<dyn RoomOutbox>`.
pub(crate) trait RoomOutbox: Send + Sync {
    /// [`Outbox::deliver`].
    fn deliver(&self, id: Option<MessageId>, frame: &Bytes);
    /// [`Outbox::silence`].
    fn silence(&self, restriction: Restriction);
}

impl<Io: AsyncWrite + Send + Unpin> RoomOutbox for Outbox<Io> {
    fn deliver(&self, id: Option<MessageId>, frame: &Bytes) {
        Outbox::deliver(self, id, frame);
    }

    fn silence(&self, restriction: Restriction) {
        Outbox::silence(self, restriction);
    }
}

/// Whether room frames are written, held back (while the connection sends
/// its history) or no longer accepted (the connection is closing).
enum Mode {
    /// Joining: room frames are kept, with their message ids, until the
    /// history is out; then those not in the history follow it.
    Holding(VecDeque<(Option<MessageId>, Bytes)>),
    Live,
    Stopped,
}

/// The one filter between the `history` frame sent on join and the room's
/// live messages: a message the history had may still be on its way through
/// the fan-out, and is skipped. Messages come in publish order, so once one
/// newer than the history passes no duplicate can follow: the ids are
/// forgotten then.
#[derive(Debug, Default)]
pub(crate) struct HistoryFilter {
    ids: HashSet<MessageId>,
}

impl HistoryFilter {
    /// A filter for a history of these messages.
    pub(crate) fn new(ids: impl IntoIterator<Item = MessageId>) -> Self {
        Self {
            ids: ids.into_iter().collect(),
        }
    }

    /// Whether a room frame (a message with `id`, or `None` for any other
    /// frame) is to be sent.
    fn pass(&mut self, id: Option<MessageId>) -> bool {
        let Some(id) = id else {
            return true;
        };
        if self.ids.is_empty() {
            return true;
        }
        if self.ids.remove(&id) {
            return false;
        }
        self.ids = HashSet::new();
        true
    }
}

struct State<Io> {
    io: Io,
    /// Bytes taken but not yet written to the socket: the tail of one
    /// frame, then whole frames.
    pending: BytesMut,
    /// Room frames that went to `pending` since it was last empty.
    queued_frames: usize,
    /// Bytes of own frames that went to `pending` since it was last empty.
    queued_own: usize,
    mode: Mode,
    history: HistoryFilter,
    /// The latest restriction announced for the connection's user, not yet
    /// acted on.
    silenced: Option<Restriction>,
    /// A close frame is queued: nothing else is written.
    closed: bool,
    slow: bool,
    own_full: bool,
    failed: bool,
}

/// What the connection's task has to deal with after a wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trouble {
    /// Nothing (a stale wake-up).
    None,
    /// Bytes wait in the outbox: flush them.
    Pending,
    /// The client fell too far behind the room: close it with 1013.
    Slow,
    /// The client let too many of its own frames pile up: close it with 1013.
    OwnQueueFull,
    /// A moderator restricted the connection's user.
    Silenced(Restriction),
    /// A write failed: the connection is gone.
    Failed,
}

/// Wakes the task waiting for the socket to take bytes, if one is
/// (invariant 2).
#[derive(Default)]
struct WriteReady(AtomicWaker);

impl Wake for WriteReady {
    fn wake(self: Arc<Self>) {
        self.0.wake();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake();
    }
}

/// The shared write side of one connection. See the module docs.
pub(crate) struct Outbox<Io> {
    state: Mutex<State<Io>>,
    wake: Notify,
    /// Room frames a client may fall behind by (`outbound_queue`).
    limit: usize,
    write_ready: Arc<WriteReady>,
    /// `write_ready` as a waker: the only one the socket's write side sees.
    socket_waker: Waker,
}

impl<Io: AsyncWrite + Unpin> Outbox<Io> {
    /// An outbox over `io`, holding room frames until [`Outbox::release`].
    pub(crate) fn new(io: Io, limit: usize) -> Arc<Self> {
        let write_ready = Arc::new(WriteReady::default());
        Arc::new(Self {
            state: Mutex::new(State {
                io,
                pending: BytesMut::new(),
                queued_frames: 0,
                queued_own: 0,
                mode: Mode::Holding(VecDeque::new()),
                history: HistoryFilter::default(),
                silenced: None,
                closed: false,
                slow: false,
                own_full: false,
                failed: false,
            }),
            wake: Notify::new(),
            limit: limit.max(1),
            socket_waker: Waker::from(Arc::clone(&write_ready)),
            write_ready,
        })
    }

    // A std mutex: held for one non-blocking socket poll and some copying,
    // never across an await.
    fn lock(&self) -> MutexGuard<'_, State<Io>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Polls the socket's write side with the outbox's waker (invariant 2).
    fn poll_socket(&self, io: &mut Io, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut cx = Context::from_waker(&self.socket_waker);
        Pin::new(io).poll_write(&mut cx, buf)
    }

    /// Writes `pending` out until it is empty or the socket is full. Called
    /// by a task that registered itself in `write_ready`.
    fn drain(&self, state: &mut State<Io>) -> Poll<io::Result<()>> {
        while !state.pending.is_empty() {
            let State { io, pending, .. } = state;
            match self.poll_socket(io, pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => pending.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        state.queued_frames = 0;
        state.queued_own = 0;
        // Nobody waits for the socket now: a later wake-up (after the
        // fan-out found it full) must not wake the task for nothing.
        drop(self.write_ready.0.take());
        Poll::Ready(Ok(()))
    }

    fn fail(&self, state: &mut State<Io>) {
        state.failed = true;
        state.mode = Mode::Stopped;
        self.wake.notify_one();
    }

    /// Delivers one room frame (already framed for the wire). Never waits:
    /// what the socket does not take now is queued for the connection's
    /// task to flush.
    pub(crate) fn deliver(&self, id: Option<MessageId>, frame: &Bytes) {
        let mut state = self.lock();
        match &mut state.mode {
            Mode::Stopped => {}
            Mode::Holding(held) => {
                if held.len() >= self.limit {
                    self.fall_behind(&mut state);
                } else {
                    held.push_back((id, frame.clone()));
                }
            }
            Mode::Live => {
                if state.history.pass(id) {
                    self.write_room_frame(&mut state, frame);
                }
            }
        }
    }

    fn write_room_frame(&self, state: &mut State<Io>, frame: &[u8]) {
        if !state.pending.is_empty() {
            // Invariant 1: queue behind what waits, whole.
            if state.queued_frames >= self.limit {
                self.fall_behind(state);
            } else {
                state.pending.extend_from_slice(frame);
                state.queued_frames += 1;
            }
            return;
        }
        let State { io, pending, .. } = &mut *state;
        match self.poll_socket(io, frame) {
            Poll::Ready(Ok(n)) if n == frame.len() => {}
            Poll::Ready(Ok(n)) => {
                pending.extend_from_slice(&frame[n..]);
                state.queued_frames = 1;
                self.wake.notify_one();
            }
            Poll::Pending => {
                pending.extend_from_slice(frame);
                state.queued_frames = 1;
                self.wake.notify_one();
            }
            Poll::Ready(Err(_)) => self.fail(state),
        }
    }

    fn fall_behind(&self, state: &mut State<Io>) {
        state.slow = true;
        state.mode = Mode::Stopped;
        self.wake.notify_one();
    }

    /// Ends holding: the held room frames follow, except the messages the
    /// history had (`history`), and later ones are written as they come.
    pub(crate) fn release(&self, history: HistoryFilter) {
        let mut state = self.lock();
        if !matches!(state.mode, Mode::Holding(_)) {
            // Stopped while joining (fell behind already): nothing to send.
            return;
        }
        let Mode::Holding(held) = std::mem::replace(&mut state.mode, Mode::Live) else {
            return;
        };
        state.history = history;
        for (id, frame) in held {
            if !matches!(state.mode, Mode::Live) {
                break;
            }
            if state.history.pass(id) {
                self.write_room_frame(&mut state, &frame);
            }
        }
    }

    /// A moderator restricted the connection's user: the task is told
    /// ([`Trouble::Silenced`]). A ban outweighs a timeout not yet acted on.
    pub(crate) fn silence(&self, restriction: Restriction) {
        let mut state = self.lock();
        if state.closed || matches!(state.mode, Mode::Stopped) {
            return;
        }
        state.silenced = match (state.silenced, restriction) {
            (Some(Restriction::Banned), _) => Some(Restriction::Banned),
            _ => Some(restriction),
        };
        self.wake.notify_one();
    }

    /// No more room frames: the connection is closing.
    pub(crate) fn stop(&self) {
        self.lock().mode = Mode::Stopped;
    }

    /// Queues a close frame (RFC 6455 §5.5.1) after everything already
    /// queued, past every bound, and stops: nothing is written after it.
    /// [`Outbox::flush`] sends it.
    pub(crate) fn close(&self, code: u16, reason: &str) {
        let mut state = self.lock();
        state.mode = Mode::Stopped;
        if state.closed || state.failed {
            return;
        }
        state.closed = true;
        state.pending.extend_from_slice(&close_frame(code, reason));
    }

    /// Writes out everything queued.
    pub(crate) async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.failed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            self.write_ready.0.register(cx.waker());
            let result = self.drain(&mut state);
            if let Poll::Ready(Err(_)) = &result {
                self.fail(&mut state);
            }
            result
        })
        .await
    }

    /// Waits until the fan-out needs the connection's task.
    pub(crate) async fn needed(&self) {
        self.wake.notified().await;
    }

    /// Whether an own write was refused for [`OWN_QUEUE_BYTES`].
    pub(crate) fn own_queue_full(&self) -> bool {
        self.lock().own_full
    }

    /// What needs the connection's task now. A restriction is reported
    /// once.
    pub(crate) fn trouble(&self) -> Trouble {
        let mut state = self.lock();
        if state.failed {
            Trouble::Failed
        } else if state.own_full {
            Trouble::OwnQueueFull
        } else if state.slow {
            Trouble::Slow
        } else if let Some(restriction) = state.silenced.take() {
            Trouble::Silenced(restriction)
        } else if !state.pending.is_empty() {
            Trouble::Pending
        } else {
            Trouble::None
        }
    }
}

/// A close frame with `code` and `reason` (cut to the 123 bytes a control
/// frame leaves for it, at a character boundary), unmasked.
fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    let mut frame = BytesMut::with_capacity(4 + reason.len());
    frame.extend_from_slice(&[0x88, (2 + reason.len()) as u8]);
    frame.extend_from_slice(&code.to_be_bytes());
    frame.extend_from_slice(reason);
    frame.freeze()
}

/// The connection's own view of the socket, for tungstenite: reads pass
/// through, writes share the outbox with the room's fan-out.
pub(crate) struct DirectStream<Io>(pub(crate) Arc<Outbox<Io>>);

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncRead for DirectStream<Io> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut state = self.0.lock();
        Pin::new(&mut state.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for DirectStream<Io> {
    /// Takes all of `buf` or none of it (invariant 1): what the socket does
    /// not take now waits in the outbox (flushed by `poll_flush`), unless
    /// [`OWN_QUEUE_BYTES`] of own frames wait already; then the write fails
    /// and the outbox reports [`Trouble::OwnQueueFull`].
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let outbox = &self.0;
        let mut state = outbox.lock();
        if state.failed || state.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if state.own_full {
            return Poll::Ready(Err(io::Error::other("own-frame queue full")));
        }
        outbox.write_ready.0.register(cx.waker());
        if !state.pending.is_empty()
            && let Poll::Ready(Err(e)) = outbox.drain(&mut state)
        {
            outbox.fail(&mut state);
            return Poll::Ready(Err(e));
        }
        if !state.pending.is_empty() {
            if state.queued_own >= OWN_QUEUE_BYTES {
                state.own_full = true;
                state.mode = Mode::Stopped;
                outbox.wake.notify_one();
                return Poll::Ready(Err(io::Error::other("own-frame queue full")));
            }
            state.pending.extend_from_slice(buf);
            state.queued_own += buf.len();
            return Poll::Ready(Ok(buf.len()));
        }
        let State { io, pending, .. } = &mut *state;
        match outbox.poll_socket(io, buf) {
            Poll::Ready(Ok(n)) => {
                pending.extend_from_slice(&buf[n..]);
                state.queued_own += buf.len() - n;
                Poll::Ready(Ok(buf.len()))
            }
            Poll::Pending => {
                pending.extend_from_slice(buf);
                state.queued_own += buf.len();
                Poll::Ready(Ok(buf.len()))
            }
            Poll::Ready(Err(e)) => {
                outbox.fail(&mut state);
                Poll::Ready(Err(e))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outbox = &self.0;
        let mut state = outbox.lock();
        outbox.write_ready.0.register(cx.waker());
        match outbox.drain(&mut state) {
            Poll::Ready(Ok(())) => {
                let mut socket_cx = Context::from_waker(&outbox.socket_waker);
                Pin::new(&mut state.io).poll_flush(&mut socket_cx)
            }
            Poll::Ready(Err(e)) => {
                outbox.fail(&mut state);
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outbox = &self.0;
        let mut state = outbox.lock();
        outbox.write_ready.0.register(cx.waker());
        match outbox.drain(&mut state) {
            Poll::Ready(Ok(())) => {
                let mut socket_cx = Context::from_waker(&outbox.socket_waker);
                Pin::new(&mut state.io).poll_shutdown(&mut socket_cx)
            }
            other => other,
        }
    }
}

/// `text` as one unmasked WebSocket text frame (RFC 6455 §5.2), the way a
/// server sends it.
pub(crate) fn text_frame(text: &str) -> Bytes {
    let len = text.len();
    let mut frame = BytesMut::with_capacity(len + 10);
    frame.extend_from_slice(&[0x81]);
    if len < 126 {
        frame.extend_from_slice(&[len as u8]);
    } else if let Ok(short) = u16::try_from(len) {
        frame.extend_from_slice(&[126]);
        frame.extend_from_slice(&short.to_be_bytes());
    } else {
        frame.extend_from_slice(&[127]);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(text.as_bytes());
    frame.freeze()
}

#[cfg(test)]
mod tests;
