//! The WebSocket front door: `GET /ws?room=…[&token=…]` on axum.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::ws::Utf8Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::{Sink, Stream};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::config::ChatConfig;
use crate::connection::JoinRequest;
use crate::frame::Frame;
use crate::hub::{AdmitError, ChatHub};
use crate::outbox::DirectStream;

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

async fn ws_handler(State(hub): State<ChatHub>, Query(query): Query<WsQuery>, mut req: Request) -> Response {
    let accept = match check_upgrade(req.headers()) {
        Ok(accept) => accept,
        Err(refusal) => return *refusal,
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
        return (StatusCode::UPGRADE_REQUIRED, "connection cannot be upgraded").into_response();
    };
    let admission = match hub.admit() {
        Ok(a) => a,
        Err(AdmitError::TooManyConnections) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "too many chat connections").into_response();
        }
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "chat server shutting down").into_response(),
    };
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned);
    let request = JoinRequest {
        room: query.room,
        token: query.token.or(bearer),
    };
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "chat WebSocket upgrade failed");
                return;
            }
        };
        hub.serve(admission, request, TokioIo::new(upgraded)).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(axum::body::Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Checks a WebSocket opening handshake (RFC 6455 §4.2.1) and returns the
/// `Sec-WebSocket-Accept` value, or the response refusing it.
fn check_upgrade(headers: &HeaderMap) -> Result<String, Box<Response>> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let refuse = |message: &'static str| Box::new((StatusCode::BAD_REQUEST, message).into_response());
    if !has_token(header::CONNECTION, "upgrade") {
        return Err(refuse("`Connection` header did not include `upgrade`"));
    }
    if !has_token(header::UPGRADE, "websocket") {
        return Err(refuse("`Upgrade` header did not include `websocket`"));
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(refuse("`Sec-WebSocket-Version` header did not include `13`"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| refuse("`Sec-WebSocket-Key` header missing"))?;
    Ok(derive_accept_key(key.as_bytes()))
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The WebSocket settings of every served connection.
pub(crate) fn socket_config(config: &ChatConfig) -> WebSocketConfig {
    // Never below the protocol cap, so that the handler sees every frame it
    // must refuse; larger ones arrive as `Frame::TooLarge`.
    let transport_max = TRANSPORT_MAX_MESSAGE.max(config.max_frame_bytes.saturating_add(1));
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(transport_max))
        .max_frame_size(Some(transport_max))
}

/// A WebSocket served by [`ChatHub::serve`], as a `Stream + Sink` of
/// [`Frame`]s, on the byte stream `Io` ([`router`]'s upgraded HTTP
/// connection by default).
pub struct WsTransport<Io = TokioIo<hyper::upgrade::Upgraded>>(WebSocketStream<DirectStream<Io>>);

impl<Io: AsyncRead + AsyncWrite + Unpin> WsTransport<Io> {
    /// The server end of a WebSocket on `stream`.
    pub(crate) async fn server(stream: DirectStream<Io>, config: WebSocketConfig) -> Self {
        Self(WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await)
    }
}

impl<Io> std::fmt::Debug for WsTransport<Io> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsTransport").finish_non_exhaustive()
    }
}

pub(crate) fn from_message(m: Message) -> Frame {
    match m {
        // tungstenite checked the UTF-8 already; axum's type checks again.
        Message::Text(t) => match Utf8Bytes::try_from(Bytes::from(t)) {
            Ok(t) => Frame::Text(t),
            Err(_) => Frame::Binary(Bytes::new()),
        },
        Message::Binary(b) => Frame::Binary(b),
        Message::Ping(b) => Frame::Ping(b),
        Message::Pong(b) => Frame::Pong(b),
        Message::Close(c) => Frame::Close(c.map(|c| (u16::from(c.code), c.reason.as_str().to_owned()))),
        // Raw frames only exist on the write side.
        Message::Frame(_) => Frame::Binary(Bytes::new()),
    }
}

/// The size of a message tungstenite refused as over its limit, if that
/// is what `e` is (the handler then closes with 1009 instead of dropping).
pub(crate) fn too_long(e: &WsError) -> Option<usize> {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => Some(*size),
        _ => None,
    }
}

pub(crate) fn to_message(f: Frame) -> Message {
    match f {
        Frame::Text(t) => Message::Text(t.as_str().into()),
        Frame::Binary(b) => Message::Binary(b),
        Frame::Ping(b) => Message::Ping(b),
        Frame::Pong(b) => Message::Pong(b),
        // Never written: only ever read.
        Frame::TooLarge(_) => Message::Close(None),
        Frame::Close(c) => Message::Close(c.map(|(code, reason)| CloseFrame {
            code: code.into(),
            reason: reason.into(),
        })),
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Stream for WsTransport<Io> {
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

impl<Io: AsyncRead + AsyncWrite + Unpin> Sink<Frame> for WsTransport<Io> {
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

/// Chat frames are small and latency-bound: with Nagle's algorithm on, a
/// frame written while the previous one waits for a (delayed) ACK would
/// wait up to 40 ms. Integrators serving [`router`] should set it on every
/// socket they accept (the facade's hardened `http_server` does).
pub fn disable_nagle(socket: &mut tokio::net::TcpStream) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
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
