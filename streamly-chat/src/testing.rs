//! An in-memory WebSocket for driving [`ChatHub::serve`](crate::ChatHub::serve)
//! without a network (tests, simulations): the handler runs exactly as under
//! [`crate::router`], outbox and fan-out included, on a `tokio::io::duplex`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::frame::Frame;
use crate::ws::{from_message, to_message, too_long};

/// The client end of an in-memory WebSocket: a `Stream + Sink` of
/// [`Frame`]s (masked as a client's, RFC 6455 §5.3).
#[derive(Debug)]
pub struct ChannelTransport(WebSocketStream<ClientIo>);

/// The client's end of the pipe. Its writes after the server end is gone
/// are dropped, as a TCP socket takes them until the peer's reset arrives:
/// the client answers the pings it reads (tungstenite does so as it reads),
/// and must still see what the server sent before closing.
#[derive(Debug)]
struct ClientIo(DuplexStream);

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.0).poll_write(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => Poll::Ready(Ok(buf.len())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A connected pair: the client end, and the server end to hand to
/// [`ChatHub::serve`](crate::ChatHub::serve). Each direction buffers at most
/// `capacity` bytes, so a client that stops reading fills the server's
/// socket as a real one would.
pub async fn pair(capacity: usize) -> (ChannelTransport, DuplexStream) {
    let (client, server) = tokio::io::duplex(capacity.max(1));
    let client = WebSocketStream::from_raw_socket(ClientIo(client), Role::Client, None).await;
    (ChannelTransport(client), server)
}

impl Stream for ChannelTransport {
    type Item = Result<Frame, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|m| {
            m.map(|r| match r {
                Ok(m) => Ok(from_message(m)),
                Err(e) => too_long(&e).map(Frame::TooLarge).ok_or(e),
            })
        })
    }
}

impl Sink<Frame> for ChannelTransport {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Frame) -> Result<(), Self::Error> {
        Pin::new(&mut self.0).start_send(to_message(item))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}
