//! The sans-IO ingest session: bytes in, [`SessionEvent`]s and bytes out.
//!
//! One session serves one TCP connection of a publisher: handshake, chunk
//! stream, the `NetConnection`/`NetStream` commands a publisher sends
//! (`connect`, `releaseStream`, `FCPublish`, `createStream`, `publish`,
//! `FCUnpublish`, `deleteStream`), protocol control (set chunk size, window
//! acknowledgement size, acknowledgements, ping) and media messages. It owns
//! no socket and no clock: the caller feeds [`handle_input`] (or reads into
//! [`input_buffer`] and calls [`process_input`]), writes what
//! [`take_output`] returns, drains [`poll_event`], and answers a
//! [`SessionEvent::PublishRequested`] with [`accept_publish`] or
//! [`reject_publish`].
//!
//! [`handle_input`]: IngestSession::handle_input
//! [`input_buffer`]: IngestSession::input_buffer
//! [`process_input`]: IngestSession::process_input
//! [`take_output`]: IngestSession::take_output
//! [`poll_event`]: IngestSession::poll_event
//! [`accept_publish`]: IngestSession::accept_publish
//! [`reject_publish`]: IngestSession::reject_publish

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use streamly_core::auth::StreamKey;
use streamly_core::media::StreamMetadata;

use crate::amf0::{self, Amf0Value};
use crate::chunk::*;
use crate::commands;
use crate::error::SessionError;
use crate::handshake::Handshake;

/// Chunk stream ids of our outbound messages.
const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_STATUS: u32 = 5;
/// Most `createStream` calls one connection may make.
const MAX_NET_STREAMS: u32 = 8;

/// Default [`SessionConfig::max_amf_message_len`]: 64 KiB (real commands and
/// `onMetaData` are well under 4 KiB).
pub const DEFAULT_MAX_AMF_MESSAGE_LEN: usize = 64 * 1024;

/// What the session needs from the server configuration.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Application names accepted in `connect` (e.g. `["live"]`).
    pub apps: Vec<String>,
    /// Bounds on the inbound chunk stream.
    pub limits: ChunkLimits,
    /// Window Acknowledgement Size sent to the client, and the window used
    /// for our acknowledgements until the client sends its own.
    pub window_ack_size: u32,
    /// Outbound chunk size announced after `connect`.
    pub out_chunk_size: u32,
    /// Largest command or data (AMF) message decoded, in bytes. A longer
    /// command is a [`SessionError::CommandTooLarge`]; a longer data message
    /// is dropped.
    pub max_amf_message_len: usize,
    /// When a session gives up on its client (see
    /// [`IngestSession::poll_timeout`]).
    pub timeouts: SessionTimeouts,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            apps: vec!["live".to_owned()],
            limits: ChunkLimits::default(),
            window_ack_size: 2_500_000,
            out_chunk_size: 4096,
            max_amf_message_len: DEFAULT_MAX_AMF_MESSAGE_LEN,
            timeouts: SessionTimeouts::default(),
        }
    }
}

/// The session's timers: each is a deadline the session computes from the
/// times it is given; the host arms one timer at
/// [`IngestSession::poll_timeout`] and calls
/// [`IngestSession::handle_timeout`] when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    /// The handshake must finish this long after the session starts
    /// (default 10 s).
    pub handshake: Duration,
    /// A publish must be granted this long after the handshake, or after
    /// the previous publish ended (default 30 s).
    pub publish: Duration,
    /// Input must arrive at least this often (default 30 s).
    pub idle: Duration,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            publish: Duration::from_secs(30),
            idle: Duration::from_secs(30),
        }
    }
}

/// Which of the [`SessionTimeouts`] expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The handshake did not finish in time.
    Handshake,
    /// No publish was granted in time.
    Publish,
    /// No input arrived in time.
    Idle,
}

/// Something the host must act on.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// `connect` to an accepted application succeeded.
    Connected {
        /// The (normalised) application name.
        app: String,
    },
    /// The client asked to publish. Answer with
    /// [`IngestSession::accept_publish`] or [`IngestSession::reject_publish`].
    PublishRequested {
        /// The application name.
        app: String,
        /// The publishing name with any `?query` stripped: the stream key.
        key: StreamKey,
    },
    /// A video message (an FLV video tag body).
    Video {
        /// Timestamp, milliseconds.
        timestamp: u32,
        /// The tag body.
        body: Bytes,
    },
    /// An audio message (an FLV audio tag body).
    Audio {
        /// Timestamp, milliseconds.
        timestamp: u32,
        /// The tag body.
        body: Bytes,
    },
    /// `@setDataFrame`/`onMetaData`.
    Metadata(StreamMetadata),
    /// The client ended the publish (`FCUnpublish`, `deleteStream` or
    /// `closeStream`).
    PublishFinished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publish {
    Idle,
    Pending { msid: u32 },
    Publishing { msid: u32 },
    Finished,
}

/// One publisher connection's protocol state.
#[derive(Debug)]
pub struct IngestSession {
    config: SessionConfig,
    handshake: Handshake,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: Vec<u8>,
    events: VecDeque<SessionEvent>,
    app: Option<String>,
    publish: Publish,
    next_msid: u32,
    closed: bool,
    received: u64,
    /// Length of the input buffer when it was last processed: what the
    /// caller appended since is new.
    input_seen: usize,
    /// When the handshake must be done.
    handshake_deadline: Instant,
    /// When input last arrived (or the session started).
    last_input: Instant,
    /// When a publish must be granted by (after the handshake, while none
    /// is granted).
    publish_deadline: Option<Instant>,
    acked: u64,
    peer_window: u32,
    dropped_messages: u64,
}

impl IngestSession {
    /// A session waiting for the client's C0+C1, started at `now`. `seed`
    /// varies the handshake filler bytes.
    pub fn new(config: SessionConfig, seed: u64, now: Instant) -> Self {
        Self {
            handshake_deadline: now + config.timeouts.handshake,
            last_input: now,
            publish_deadline: None,
            decoder: ChunkDecoder::new(config.limits),
            peer_window: config.window_ack_size,
            config,
            handshake: Handshake::new(seed),
            encoder: ChunkEncoder::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            app: None,
            publish: Publish::Idle,
            next_msid: 1,
            closed: false,
            received: 0,
            input_seen: 0,
            acked: 0,
            dropped_messages: 0,
        }
    }

    /// Whether the handshake has completed.
    pub fn handshake_done(&self) -> bool {
        self.handshake.is_done()
    }

    /// The next deadline: the handshake's until it is done, then the
    /// earlier of the publish deadline (while no publish is granted) and
    /// the idle deadline. `None` once the session is closed. The host arms
    /// one timer there; it may arm it late (a deadline only moves later as
    /// input arrives, so re-arming when it fires is enough) but must
    /// re-arm when this returns an earlier time than the one armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        if !self.handshake.is_done() {
            return Some(self.handshake_deadline);
        }
        let idle = self.last_input + self.config.timeouts.idle;
        Some(self.publish_deadline.map_or(idle, |p| p.min(idle)))
    }

    /// The host's timer fired at `now`: which deadline expired, if any.
    /// After an expiry the session is closed; close the connection.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Expired> {
        let expired = if self.closed {
            None
        } else if !self.handshake.is_done() {
            (now >= self.handshake_deadline).then_some(Expired::Handshake)
        } else if self.publish_deadline.is_some_and(|p| now >= p) {
            Some(Expired::Publish)
        } else {
            (now >= self.last_input + self.config.timeouts.idle).then_some(Expired::Idle)
        };
        if expired.is_some() {
            self.closed = true;
        }
        expired
    }

    /// Whether a publish has been accepted and not finished.
    pub fn is_publishing(&self) -> bool {
        matches!(self.publish, Publish::Publishing { .. })
    }

    /// The application name from `connect`.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// Messages ignored because they came outside a publish (media before
    /// `publish`, on another message stream, …).
    pub fn dropped_messages(&self) -> u64 {
        self.dropped_messages
    }

    /// Bytes held by the chunk decoder.
    pub fn buffered_bytes(&self) -> usize {
        self.decoder.buffered_bytes()
    }

    /// Takes the bytes to send to the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The next event, in the order the client's messages arrived.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Processes received bytes (a copy into [`input_buffer`]; a socket
    /// reader should read into that buffer and call [`process_input`]).
    /// After an error the session is closed: flush
    /// [`take_output`](Self::take_output) (it may hold an error status) and
    /// close the connection.
    ///
    /// [`input_buffer`]: Self::input_buffer
    /// [`process_input`]: Self::process_input
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        self.decoder.push(bytes);
        self.process_input(now)
    }

    /// The buffer received bytes go into, for a reader to fill in place
    /// (`reserve`, then `read_buf`) before calling
    /// [`process_input`](Self::process_input): the bytes are then parsed
    /// where they landed, and a media message that fits in one chunk is
    /// handed out as a slice of this buffer, without a copy.
    ///
    /// The contract: only append. Bytes already in the buffer are unparsed
    /// input (at most one incomplete chunk after `process_input`) and must
    /// not be changed or removed. How much to reserve is the reader's
    /// choice; the buffer holds at most one chunk (`max_chunk_size`) plus
    /// what the reader appended since the last `process_input`.
    pub fn input_buffer(&mut self) -> &mut BytesMut {
        self.decoder.input_buffer()
    }

    /// Processes the bytes appended to [`input_buffer`](Self::input_buffer)
    /// since the last call (they arrived at `now`), with the same results
    /// and error rules as [`handle_input`](Self::handle_input).
    pub fn process_input(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        self.last_input = now;
        let was_done = self.handshake.is_done();
        let result = self.process();
        if !was_done && self.handshake.is_done() && !self.is_publishing() {
            self.publish_deadline = Some(now + self.config.timeouts.publish);
        }

        self.input_seen = self.decoder.input_buffer().len();
        if result.is_err() {
            self.closed = true;
        }
        result
    }

    fn process(&mut self) -> Result<(), SessionError> {
        let len = self.decoder.input_buffer().len();
        self.received += len.saturating_sub(self.input_seen) as u64;
        if !self.handshake.is_done()
            && !self
                .handshake
                .consume(self.decoder.input_buffer(), &mut self.out)?
        {
            return Ok(());
        }
        while !self.closed {
            let Some(msg) = self.decoder.next_message()? else {
                break;
            };
            self.handle_message(msg)?;
        }
        if self.received - self.acked >= u64::from(self.peer_window) {
            self.acked = self.received;
            // The sequence number is the byte count, wrapping at 32 bits.
            self.send(
                CSID_CONTROL,
                TYPE_ACK,
                0,
                (self.received as u32).to_be_bytes().to_vec(),
            );
        }
        Ok(())
    }

    /// Grants the pending publish: sends StreamBegin and
    /// `NetStream.Publish.Start`. Does nothing if no publish is pending.
    pub fn accept_publish(&mut self) {
        let Publish::Pending { msid } = self.publish else {
            return;
        };
        self.publish = Publish::Publishing { msid };
        self.publish_deadline = None;
        let mut begin = vec![0, 0];
        begin.extend_from_slice(&msid.to_be_bytes());
        self.send(CSID_CONTROL, TYPE_USER_CONTROL, 0, begin);
        let status = commands::on_status("status", "NetStream.Publish.Start", "Publishing.");
        self.send(CSID_STATUS, TYPE_COMMAND_AMF0, msid, status);
    }

    /// Refuses the pending publish with an error `onStatus` (`code`, e.g.
    /// `NetStream.Publish.BadName`) and closes the session: flush
    /// [`take_output`](Self::take_output), then close the connection.
    pub fn reject_publish(&mut self, code: &str, description: &str) {
        let msid = match self.publish {
            Publish::Pending { msid } | Publish::Publishing { msid } => msid,
            _ => 1,
        };
        self.publish = Publish::Finished;
        self.closed = true;
        self.events.clear();
        let status = commands::on_status("error", code, description);
        self.send(CSID_STATUS, TYPE_COMMAND_AMF0, msid, status);
    }

    fn send(&mut self, csid: u32, type_id: u8, stream_id: u32, payload: Vec<u8>) {
        let msg = RtmpMessage {
            csid,
            timestamp: 0,
            type_id,
            stream_id,
            payload: Bytes::from(payload),
        };
        if let Err(e) = self.encoder.encode(&msg, &mut self.out) {
            // Only our own constants reach here; a failure is a bug, logged.
            tracing::error!(error = %e, "cannot encode outbound message");
        }
    }

    fn handle_message(&mut self, msg: RtmpMessage) -> Result<(), SessionError> {
        match msg.type_id {
            TYPE_VIDEO | TYPE_AUDIO => {
                let active = match self.publish {
                    Publish::Pending { msid } | Publish::Publishing { msid } => msid == msg.stream_id,
                    _ => false,
                };
                if !active {
                    self.dropped_messages += 1;
                    return Ok(());
                }
                let (timestamp, body) = (msg.timestamp, msg.payload);
                self.events.push_back(if msg.type_id == TYPE_VIDEO {
                    SessionEvent::Video { timestamp, body }
                } else {
                    SessionEvent::Audio { timestamp, body }
                });
            }
            TYPE_DATA_AMF0 | TYPE_DATA_AMF3 if msg.payload.len() > self.config.max_amf_message_len => {
                self.dropped_messages += 1;
                tracing::debug!(len = msg.payload.len(), "oversized data message dropped");
            }
            TYPE_COMMAND_AMF0 | TYPE_COMMAND_AMF3 if msg.payload.len() > self.config.max_amf_message_len => {
                return Err(SessionError::CommandTooLarge {
                    len: msg.payload.len(),
                    max: self.config.max_amf_message_len,
                });
            }
            TYPE_DATA_AMF0 | TYPE_DATA_AMF3 => {
                let payload = amf3_prefix(msg.type_id, &msg.payload);
                match amf0::decode_all(payload) {
                    Ok(values) => {
                        if let Some(meta) = commands::parse_metadata(&values) {
                            self.events.push_back(SessionEvent::Metadata(meta));
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "undecodable data message ignored"),
                }
            }
            TYPE_COMMAND_AMF0 | TYPE_COMMAND_AMF3 => {
                let values = amf0::decode_all(amf3_prefix(msg.type_id, &msg.payload))?;
                self.handle_command(msg.stream_id, &values)?;
            }
            TYPE_WINDOW_ACK_SIZE => {
                if let Some(b) = msg.payload.get(..4) {
                    let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    if size > 0 {
                        self.peer_window = size;
                    }
                }
            }
            TYPE_USER_CONTROL => {
                // Ping request (event 6) → ping response (event 7).
                if let Some(b) = msg.payload.get(..6)
                    && b[..2] == [0, 6]
                {
                    let mut pong = vec![0, 7];
                    pong.extend_from_slice(&b[2..6]);
                    self.send(CSID_CONTROL, TYPE_USER_CONTROL, 0, pong);
                }
            }
            // Set chunk size and abort act inside the decoder; the peer's
            // acknowledgements and bandwidth hints need no answer.
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, msid: u32, values: &[Amf0Value]) -> Result<(), SessionError> {
        let Some(name) = values.first().and_then(Amf0Value::as_str) else {
            return Err(SessionError::Protocol("command without a name"));
        };
        let txn = values.get(1).and_then(Amf0Value::as_number).unwrap_or(0.0);
        match name {
            "connect" => self.on_connect(txn, values.get(2)),
            "createStream" => {
                self.require_connected()?;
                if self.next_msid > MAX_NET_STREAMS {
                    return Err(SessionError::Protocol("too many createStream calls"));
                }
                let id = self.next_msid;
                self.next_msid += 1;
                self.send(
                    CSID_COMMAND,
                    TYPE_COMMAND_AMF0,
                    0,
                    commands::simple_result(txn, Amf0Value::Number(f64::from(id))),
                );
                Ok(())
            }
            "releaseStream" | "FCPublish" => {
                self.require_connected()?;
                if txn != 0.0 {
                    self.send(
                        CSID_COMMAND,
                        TYPE_COMMAND_AMF0,
                        0,
                        commands::simple_result(txn, Amf0Value::Undefined),
                    );
                }
                Ok(())
            }
            "publish" => self.on_publish(msid, values.get(3).and_then(Amf0Value::as_str)),
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if matches!(self.publish, Publish::Pending { .. } | Publish::Publishing { .. }) {
                    self.publish = Publish::Finished;
                    // A new publish timeout starts for the next publish
                    // (this input arrived at `last_input`).
                    self.publish_deadline = Some(self.last_input + self.config.timeouts.publish);
                    self.events.push_back(SessionEvent::PublishFinished);
                }
                Ok(())
            }
            other => {
                tracing::debug!(command = other, "command ignored");
                Ok(())
            }
        }
    }

    fn require_connected(&self) -> Result<(), SessionError> {
        match self.app {
            Some(_) => Ok(()),
            None => Err(SessionError::Protocol("command before connect")),
        }
    }

    fn on_connect(&mut self, txn: f64, object: Option<&Amf0Value>) -> Result<(), SessionError> {
        if self.app.is_some() {
            return Err(SessionError::Protocol("second connect"));
        }
        let raw = object
            .and_then(|o| o.get("app"))
            .and_then(Amf0Value::as_str)
            .unwrap_or("");
        let app = commands::normalize_app(raw).to_owned();
        if !self.config.apps.contains(&app) {
            self.send(
                CSID_COMMAND,
                TYPE_COMMAND_AMF0,
                0,
                commands::connect_rejected(txn, "unknown application"),
            );
            return Err(SessionError::UnknownApp { app });
        }
        self.send(
            CSID_CONTROL,
            TYPE_WINDOW_ACK_SIZE,
            0,
            self.config.window_ack_size.to_be_bytes().to_vec(),
        );
        let mut bandwidth = self.config.window_ack_size.to_be_bytes().to_vec();
        bandwidth.push(2); // dynamic
        self.send(CSID_CONTROL, TYPE_SET_PEER_BANDWIDTH, 0, bandwidth);
        let size = self.config.out_chunk_size.clamp(128, 0x7fff_ffff);
        self.send(CSID_CONTROL, TYPE_SET_CHUNK_SIZE, 0, size.to_be_bytes().to_vec());
        self.encoder.set_chunk_size(size);
        self.send(CSID_COMMAND, TYPE_COMMAND_AMF0, 0, commands::connect_result(txn));
        self.app = Some(app.clone());
        self.events.push_back(SessionEvent::Connected { app });
        Ok(())
    }

    fn on_publish(&mut self, msid: u32, name: Option<&str>) -> Result<(), SessionError> {
        let Some(app) = self.app.clone() else {
            return Err(SessionError::Protocol("publish before connect"));
        };
        if self.publish != Publish::Idle {
            return Err(SessionError::Protocol("second publish on one connection"));
        }
        self.publish = Publish::Pending { msid };
        let key = name
            .and_then(|n| n.split('?').next())
            .and_then(|n| StreamKey::parse(n).ok());
        match key {
            Some(key) => {
                self.events.push_back(SessionEvent::PublishRequested { app, key });
                Ok(())
            }
            None => {
                self.reject_publish("NetStream.Publish.BadName", "invalid stream key");
                Err(SessionError::Protocol("invalid publishing name"))
            }
        }
    }
}

/// AMF3 data/command messages carry a format byte (0) before AMF0 values.
fn amf3_prefix(type_id: u8, payload: &[u8]) -> &[u8] {
    match (type_id, payload.first()) {
        (TYPE_DATA_AMF3 | TYPE_COMMAND_AMF3, Some(0)) => &payload[1..],
        _ => payload,
    }
}
