//! [`ReadGate`]: polls a transport's read side only when it has asked to
//! be polled.
//!
//! A connection task wakes for every room frame it delivers, and its
//! `select!` then polls every branch again, including the transport's
//! `next()`. On a WebSocket that goes through tungstenite's read path (which
//! zero-fills its read buffer), hyper's upgraded IO and tokio's readiness
//! check before finding nothing to read. With 10,000 clients in a room that
//! is 10,000 wasted reads per message. The gate gives the inner stream a
//! waker of its own and answers `Pending` at once until that waker fires.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use futures_util::{Sink, Stream};

/// The waker handed to the inner stream: remembers that it fired and
/// passes the wake on to the task.
#[derive(Default)]
struct Signal {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A `Stream + Sink` whose `poll_next` reaches the inner stream only after
/// the inner stream woke the task (or on the first poll). The sink side is
/// passed through untouched.
pub(crate) struct ReadGate<T> {
    inner: T,
    signal: Arc<Signal>,
    waker: Waker,
    /// The inner stream returned `Pending` and has not woken us since.
    parked: bool,
}

impl<T> ReadGate<T> {
    pub(crate) fn new(inner: T) -> Self {
        let signal = Arc::new(Signal::default());
        Self {
            inner,
            waker: Waker::from(Arc::clone(&signal)),
            signal,
            parked: false,
        }
    }
}

impl<T: Stream + Unpin> Stream for ReadGate<T> {
    type Item = T::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        let this = &mut *self;
        this.signal.task.register(cx.waker());
        if this.parked && !this.signal.fired.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.signal.fired.store(false, Ordering::Release);
        let mut inner_cx = Context::from_waker(&this.waker);
        let poll = Pin::new(&mut this.inner).poll_next(&mut inner_cx);
        this.parked = poll.is_pending();
        poll
    }
}

impl<T: Sink<I> + Unpin, I> Sink<I> for ReadGate<T> {
    type Error = T::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: I) -> Result<(), Self::Error> {
        Pin::new(&mut self.inner).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::atomic::AtomicUsize;

    /// A stream that counts its polls and yields the items sent to it.
    struct Counted {
        rx: tokio::sync::mpsc::UnboundedReceiver<u32>,
        polls: Arc<AtomicUsize>,
    }

    impl Stream for Counted {
        type Item = u32;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.rx.poll_recv(cx)
        }
    }

    #[tokio::test]
    async fn inner_stream_is_polled_only_after_it_woke_the_task() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let polls = Arc::new(AtomicUsize::new(0));
        let mut gate = ReadGate::new(Counted {
            rx,
            polls: Arc::clone(&polls),
        });
        let mut cx = Context::from_waker(Waker::noop());
        assert!(gate.poll_next_unpin(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // Woken by something else (a room frame): the inner stream is not
        // polled again.
        for _ in 0..100 {
            assert!(gate.poll_next_unpin(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // The inner stream's own wake lets the next poll through.
        tx.send(7).unwrap();
        assert_eq!(gate.next().await, Some(7));
        assert_eq!(polls.load(Ordering::Relaxed), 2);
        // Ready items keep flowing without waiting for a wake.
        tx.send(8).unwrap();
        tx.send(9).unwrap();
        assert_eq!(gate.next().await, Some(8));
        assert_eq!(gate.next().await, Some(9));
        drop(tx);
        assert_eq!(gate.next().await, None);
    }

    #[tokio::test]
    async fn the_task_is_woken_through_the_gate() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut gate = ReadGate::new(Counted {
            rx,
            polls: Arc::new(AtomicUsize::new(0)),
        });
        let reader = tokio::spawn(async move { gate.next().await });
        tokio::task::yield_now().await;
        tx.send(42).unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("the gate passed the wake on")
            .unwrap();
        assert_eq!(got, Some(42));
    }
}
