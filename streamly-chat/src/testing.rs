//! An in-memory transport for driving [`ChatHub::serve`](crate::ChatHub::serve)
//! without a network (tests, simulations).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use crate::frame::Frame;

/// The other end of a [`ChannelTransport`] is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("peer transport closed")]
pub struct TransportClosed;

/// One end of an in-memory, bounded, frame-oriented duplex channel.
#[derive(Debug)]
pub struct ChannelTransport {
    tx: PollSender<Frame>,
    rx: mpsc::Receiver<Frame>,
}

/// Two connected ends; each direction buffers at most `capacity` frames.
pub fn pair(capacity: usize) -> (ChannelTransport, ChannelTransport) {
    let (a_tx, b_rx) = mpsc::channel(capacity.max(1));
    let (b_tx, a_rx) = mpsc::channel(capacity.max(1));
    (
        ChannelTransport {
            tx: PollSender::new(a_tx),
            rx: a_rx,
        },
        ChannelTransport {
            tx: PollSender::new(b_tx),
            rx: b_rx,
        },
    )
}

impl Stream for ChannelTransport {
    type Item = Result<Frame, TransportClosed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|f| f.map(Ok))
    }
}

impl Sink<Frame> for ChannelTransport {
    type Error = TransportClosed;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tx.poll_reserve(cx).map_err(|_| TransportClosed)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Frame) -> Result<(), Self::Error> {
        self.tx.send_item(item).map_err(|_| TransportClosed)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tx.close();
        Poll::Ready(Ok(()))
    }
}
