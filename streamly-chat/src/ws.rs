//! The WebSocket front door: `GET /ws?room=…[&token=…]` on axum.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use futures_util::{Sink, Stream};
use serde::Deserialize;

use crate::connection::JoinRequest;
use crate::frame::Frame;
use crate::hub::{AdmitError, ChatHub};

/// Largest message tungstenite buffers before giving up on a client; the
/// protocol's own cap (`max_frame_bytes`, 4 KiB) is checked by the handler
/// so that it can close with 1009.
const TRANSPORT_MAX_MESSAGE: usize = 64 * 1024;
/// tungstenite preallocates its read buffer (128 KiB by default) and
/// zero-fills up to this much of it before every read: chat frames are
/// small (a larger one just takes a few reads), and an idle connection
/// should cost a few KiB.
const READ_BUFFER: usize = 1024;
/// Outgoing frames are gathered up to this size between flushes.
const WRITE_BUFFER: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
struct WsQuery {
    room: Option<String>,
    token: Option<String>,
}

/// An axum router with `GET /ws?room=<room>[&token=<jwt>]` (the token may
/// also come as `Authorization: Bearer <jwt>`). Nest or merge it into your
/// own router.
pub fn router(hub: ChatHub) -> Router {
    Router::new().route("/ws", get(ws_handler)).with_state(hub)
}

async fn ws_handler(
    State(hub): State<ChatHub>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let admission = match hub.admit() {
        Ok(a) => a,
        Err(AdmitError::TooManyConnections) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "too many chat connections").into_response();
        }
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "chat server shutting down").into_response(),
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned);
    let request = JoinRequest {
        room: query.room,
        token: query.token.or(bearer),
    };
    // Never below the protocol cap, so that the handler sees every frame it
    // must refuse; larger ones arrive as `Frame::TooLarge`.
    let transport_max = TRANSPORT_MAX_MESSAGE.max(hub.config().max_frame_bytes.saturating_add(1));
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(transport_max)
        .max_frame_size(transport_max)
        .on_upgrade(move |socket| async move {
            hub.serve(admission, request, WsTransport(socket)).await;
        })
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Adapts an axum [`WebSocket`] to a `Stream + Sink` of [`Frame`]s.
#[derive(Debug)]
pub struct WsTransport(pub WebSocket);

fn from_message(m: Message) -> Frame {
    match m {
        Message::Text(t) => Frame::Text(t),
        Message::Binary(b) => Frame::Binary(b),
        Message::Ping(b) => Frame::Ping(b),
        Message::Pong(b) => Frame::Pong(b),
        Message::Close(c) => Frame::Close(c.map(|c| (c.code, c.reason.as_str().to_owned()))),
    }
}

/// The size of a message tungstenite refused as over its limit, if that
/// is what `e` is (the handler then closes with 1009 instead of dropping).
fn too_long(e: &axum::Error) -> Option<usize> {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
    let inner = std::error::Error::source(e)?.downcast_ref::<WsError>()?;
    match inner {
        WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => Some(*size),
        _ => None,
    }
}

fn to_message(f: Frame) -> Message {
    match f {
        Frame::Text(t) => Message::Text(t),
        Frame::Binary(b) => Message::Binary(b),
        Frame::Ping(b) => Message::Ping(b),
        Frame::Pong(b) => Message::Pong(b),
        // Never written: only ever read.
        Frame::TooLarge(_) => Message::Close(None),
        Frame::Close(c) => Message::Close(c.map(|(code, reason)| CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}

impl Stream for WsTransport {
    type Item = Result<Frame, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|m| {
            m.map(|r| match r {
                Ok(m) => Ok(from_message(m)),
                Err(e) => too_long(&e).map(Frame::TooLarge).ok_or(e),
            })
        })
    }
}

impl Sink<Frame> for WsTransport {
    type Error = axum::Error;

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

/// Serves `router(hub)` (plus `GET /health`) on `listener` until `shutdown`
/// completes, then closes every chat connection with 1001 and waits for
/// them. This is the standalone chat server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: ChatHub,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/health", get(health))
        .with_state(hub.clone())
        .merge(router(hub.clone()));
    let stop = hub.clone();
    let result = axum::serve(listener.tap_io(disable_nagle), app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.shutdown().await;
        })
        .await;
    hub.shutdown().await;
    result
}

/// Chat frames are small and latency-bound: with Nagle's algorithm on, a
/// frame written while the previous one waits for a (delayed) ACK would
/// wait up to 40 ms. Used on every socket [`serve`] accepts; integrators
/// serving [`router`] themselves should do the same.
pub fn disable_nagle(socket: &mut tokio::net::TcpStream) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

async fn health(State(hub): State<ChatHub>) -> Result<&'static str, (StatusCode, String)> {
    hub.health()
        .await
        .map(|()| "ok")
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
