//! [`Outbox`]: direct delivery of room frames to a WebSocket's socket.
//!
//! A room frame goes to every client in the room. Waking each
//! connection's task to write it costs more than the write itself (a task
//! wake, a broadcast receive, a `select!` round, tungstenite's framing). So
//! for connections upgraded by [`crate::router`], the room's fan-out
//! writes the frame, framed once for all clients, straight to each socket.
//! The connection's task only wakes when something needs it:
//! - a socket did not take the whole frame (the rest waits in `pending`
//!   until the task flushes it);
//! - the client fell more than `outbound_queue` frames behind (the task
//!   closes it with 1013);
//! - a write failed.
//!
//! Everything else the connection writes (welcome, history, errors, pings,
//! pongs, close) goes through tungstenite over [`DirectStream`], which shares
//! the socket with the fan-out under one lock. Writes are never split:
//! [`DirectStream::poll_write`] takes the whole buffer (queuing what the
//! socket refuses), so the fan-out's frames and tungstenite's frames
//! interleave only at frame boundaries.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use streamly_core::domain::MessageId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The socket under an upgraded connection.
pub(crate) type UpgradedIo = TokioIo<Upgraded>;

/// Whether room frames are written, held back (while the connection sends
/// its history) or no longer accepted (the connection is closing).
enum Mode {
    /// Joining: room frames are kept, with their message ids, until the
    /// history is out; then those not in the history follow it.
    Holding(VecDeque<(Option<MessageId>, Bytes)>),
    Live,
    Stopped,
}

struct State<Io> {
    io: Io,
    /// Bytes taken but not yet written to the socket: the tail of one
    /// frame, then whole frames.
    pending: BytesMut,
    /// Room frames that went to `pending` since it was last empty.
    queued_frames: usize,
    mode: Mode,
    /// Ids of the history sent on join: a room frame for one of them may
    /// still be on its way through the fan-out after the release, and is
    /// skipped. Emptied at the first newer message (messages come in
    /// publish order, so no duplicate can follow it).
    seen: HashSet<MessageId>,
    slow: bool,
    failed: bool,
}

/// What the connection's task has to deal with after a wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trouble {
    /// Nothing (a stale wake-up).
    None,
    /// Bytes wait in the outbox: flush them.
    Pending,
    /// The client fell too far behind: close it with 1013.
    Slow,
    /// A write failed: the connection is gone.
    Failed,
}

/// The shared write side of one upgraded connection. See the module docs.
pub(crate) struct Outbox<Io = UpgradedIo> {
    state: Mutex<State<Io>>,
    wake: Notify,
    /// Room frames a client may fall behind by (`outbound_queue`).
    limit: usize,
}

impl<Io: AsyncWrite + Unpin> Outbox<Io> {
    /// An outbox over `io`, holding room frames until [`Outbox::release`].
    pub(crate) fn new(io: Io, limit: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                io,
                pending: BytesMut::new(),
                queued_frames: 0,
                mode: Mode::Holding(VecDeque::new()),
                seen: HashSet::new(),
                slow: false,
                failed: false,
            }),
            wake: Notify::new(),
            limit: limit.max(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<Io>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
                if let Some(id) = id
                    && !state.seen.is_empty()
                {
                    if state.seen.remove(&id) {
                        // Already sent in the history.
                        return;
                    }
                    // Newer than the history: no duplicate can follow.
                    state.seen = HashSet::new();
                }
                self.write_room_frame(&mut state, frame);
            }
        }
    }

    fn write_room_frame(&self, state: &mut State<Io>, frame: &[u8]) {
        if !state.pending.is_empty() {
            if state.queued_frames >= self.limit {
                self.fall_behind(state);
            } else {
                state.pending.extend_from_slice(frame);
                state.queued_frames += 1;
            }
            return;
        }
        // Polled without a waker: if the socket is full, the connection's
        // task polls it again with its own (see `Trouble::Pending`).
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut state.io).poll_write(&mut cx, frame) {
            Poll::Ready(Ok(n)) if n == frame.len() => {}
            Poll::Ready(Ok(n)) => {
                state.pending.extend_from_slice(&frame[n..]);
                state.queued_frames = 1;
                self.wake.notify_one();
            }
            Poll::Pending => {
                state.pending.extend_from_slice(frame);
                state.queued_frames = 1;
                self.wake.notify_one();
            }
            Poll::Ready(Err(_)) => {
                state.failed = true;
                state.mode = Mode::Stopped;
                self.wake.notify_one();
            }
        }
    }

    fn fall_behind(&self, state: &mut State<Io>) {
        state.slow = true;
        state.mode = Mode::Stopped;
        self.wake.notify_one();
    }

    /// Ends holding: the held room frames follow, except the messages in
    /// `seen` (already sent in the history), and later ones are written as
    /// they come.
    pub(crate) fn release(&self, mut seen: HashSet<MessageId>) {
        let mut state = self.lock();
        if !matches!(state.mode, Mode::Holding(_)) {
            // Stopped while joining (fell behind already): nothing to send.
            return;
        }
        let Mode::Holding(held) = std::mem::replace(&mut state.mode, Mode::Live) else {
            return;
        };
        for (id, frame) in held {
            if let Some(id) = id {
                if seen.remove(&id) {
                    continue;
                }
                // Newer than the history: no duplicate can follow.
                seen = HashSet::new();
            }
            if !matches!(state.mode, Mode::Live) {
                break;
            }
            self.write_room_frame(&mut state, &frame);
        }
        state.seen = seen;
    }

    /// No more room frames: the connection is closing.
    pub(crate) fn stop(&self) {
        self.lock().mode = Mode::Stopped;
    }

    /// Waits until the fan-out needs the connection's task.
    pub(crate) async fn needed(&self) {
        self.wake.notified().await;
    }

    /// What needs the connection's task now.
    pub(crate) fn trouble(&self) -> Trouble {
        let state = self.lock();
        if state.failed {
            Trouble::Failed
        } else if state.slow {
            Trouble::Slow
        } else if !state.pending.is_empty() {
            Trouble::Pending
        } else {
            Trouble::None
        }
    }
}

/// Writes `pending` out until it is empty or the socket is full.
fn drain<Io: AsyncWrite + Unpin>(state: &mut State<Io>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    while !state.pending.is_empty() {
        let State { io, pending, .. } = state;
        match Pin::new(io).poll_write(cx, pending) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => pending.advance(n),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    state.queued_frames = 0;
    Poll::Ready(Ok(()))
}

/// The connection's own view of the socket, for tungstenite: reads pass
/// through, writes share the outbox with the room's fan-out.
pub(crate) struct DirectStream<Io = UpgradedIo>(pub(crate) Arc<Outbox<Io>>);

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncRead for DirectStream<Io> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut state = self.0.lock();
        Pin::new(&mut state.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for DirectStream<Io> {
    /// Takes all of `buf`, always: what the socket does not take now waits
    /// in the outbox (flushed by `poll_flush`), so a frame is never split
    /// by a room frame.
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut state = self.0.lock();
        if state.failed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if !state.pending.is_empty() {
            if let Poll::Ready(Err(e)) = drain(&mut state, cx) {
                state.failed = true;
                return Poll::Ready(Err(e));
            }
            if !state.pending.is_empty() {
                state.pending.extend_from_slice(buf);
                return Poll::Ready(Ok(buf.len()));
            }
        }
        match Pin::new(&mut state.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                state.pending.extend_from_slice(&buf[n..]);
                Poll::Ready(Ok(buf.len()))
            }
            Poll::Pending => {
                state.pending.extend_from_slice(buf);
                Poll::Ready(Ok(buf.len()))
            }
            Poll::Ready(Err(e)) => {
                state.failed = true;
                Poll::Ready(Err(e))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.0.lock();
        match drain(&mut state, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut state.io).poll_flush(cx),
            Poll::Ready(Err(e)) => {
                state.failed = true;
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.0.lock();
        match drain(&mut state, cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut state.io).poll_shutdown(cx),
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
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use streamly_core::domain::MessageId;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::{DirectStream, Outbox, Trouble, text_frame};

    /// An outbox over one end of an in-memory pipe of `capacity` bytes,
    /// and the other end (the client).
    fn pipe(capacity: usize, limit: usize) -> (std::sync::Arc<Outbox<DuplexStream>>, DuplexStream) {
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
        outbox.release(HashSet::from([a]));
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
        outbox.release(HashSet::from([a, b]));
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
        outbox.release(HashSet::new());
        outbox.deliver(None, &text_frame("y"));
        assert_eq!(outbox.trouble(), Trouble::Slow);
    }

    #[tokio::test]
    async fn a_full_socket_queues_whole_frames_until_the_task_flushes() {
        let frame = text_frame(&"z".repeat(100));
        let (outbox, mut client) = pipe(150, 16);
        outbox.release(HashSet::new());
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
    async fn a_client_that_stops_reading_falls_behind_after_the_limit() {
        let (outbox, _client) = pipe(64, 4);
        outbox.release(HashSet::new());
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
    async fn nothing_is_written_after_stop() {
        let (outbox, mut client) = pipe(1 << 16, 8);
        outbox.release(HashSet::new());
        outbox.deliver(None, &text_frame("before"));
        outbox.stop();
        outbox.deliver(None, &text_frame("after"));
        let mut own = DirectStream(outbox.clone());
        own.write_all(b"close").await.unwrap();
        own.flush().await.unwrap();
        drop(own);
        drop(outbox);
        let mut all = Vec::new();
        client.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, [&text_frame("before")[..], b"close"].concat());
    }
}
