//! [`RtmpConfig`]: everything an integrator can tune, with safe defaults.

use std::time::Duration;

use crate::chunk::ChunkLimits;
use crate::session::SessionConfig;

/// RTMP server configuration. `RtmpConfig::default()` is production-ready.
#[derive(Debug, Clone)]
pub struct RtmpConfig {
    /// Application names publishers may connect to (default `["live"]`, as
    /// in `rtmp://host/live/<key>`). Others get `NetConnection.Connect.Rejected`.
    pub apps: Vec<String>,
    /// Most simultaneous connections (default 1000). Further clients wait in
    /// the kernel's accept queue until a slot frees up.
    pub max_connections: usize,
    /// Most simultaneous connections from one address (default 16; IPv6
    /// counted by /64, see [`addr_key`](streamly_core::net::addr_key)).
    /// Further connections from it are accepted and closed at once, so one
    /// client cannot fill `max_connections` and lock publishers out.
    pub max_connections_per_addr: usize,
    /// Length of the kernel's accept queue (default 1024; Linux caps it at
    /// `net.core.somaxconn`). Clients wait there while `max_connections`
    /// are busy; a short queue drops their SYNs instead (retried after 1 s,
    /// 3 s, …).
    pub listen_backlog: u32,
    /// Time allowed from accept to the end of the handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// A connection that sends nothing for this long is closed (default
    /// 30 s). Also bounds every write to the client.
    pub idle_timeout: Duration,
    /// Time allowed from the end of the handshake to a granted publish
    /// (default 30 s), and again after an unpublish. A client that connects
    /// but does not publish (even one that keeps pinging) is closed then, so
    /// it cannot hold a `max_connections` slot.
    pub publish_timeout: Duration,
    /// Time the [`StreamKeyValidator`](streamly_core::ports::StreamKeyValidator)
    /// gets to answer; a timeout rejects (default 5 s).
    pub validate_timeout: Duration,
    /// Largest RTMP message accepted (default 8 MiB: a keyframe of a
    /// high-bitrate 4K stream fits).
    pub max_message_len: u32,
    /// Largest command or data (AMF0/AMF3) message decoded (default 64 KiB;
    /// real ones are under 4 KiB). A longer command closes the connection, a
    /// longer data message (`onMetaData`) is dropped. Decoding is further
    /// capped at [`amf0::MAX_VALUES`](crate::amf0::MAX_VALUES) values per
    /// message, so a hostile message cannot turn into more than ~250 KiB of
    /// decoded values.
    pub max_amf_message_len: usize,
    /// Largest Set Chunk Size accepted from a client (default 1 MiB).
    pub max_chunk_size: u32,
    /// Most chunk streams per connection (default 64; encoders use < 10).
    pub max_chunk_streams: usize,
    /// Most bytes of partially received messages per connection, over all
    /// chunk streams (default 16 MiB); more closes the connection. A
    /// connection's own memory is then at most about: the 64 KiB read
    /// buffer, one unparsed chunk (`max_chunk_size` plus the last read),
    /// this, the messages completed by one read (at most this plus 64 KiB,
    /// handed to the hub before the next read) and one AMF decode
    /// (`max_amf_message_len`, at most
    /// [`amf0::MAX_VALUES`](crate::amf0::MAX_VALUES) values): about 34 MiB
    /// with the defaults, plus allocator slack. Media frames handed to the
    /// hub are bounded per stream instead: see `gop_cache_bytes` and
    /// `subscriber_capacity`.
    pub max_buffered_bytes: usize,
    /// Frames a subscriber's channel holds before it counts as slow and is
    /// dropped (default 1024, ~15 s of 25 fps video with 44.1 kHz AAC).
    /// A bound in frames, not bytes: queued frames share their payloads with
    /// the GOP cache and other subscribers, but a slow subscriber can keep up
    /// to this many frames' payloads alive (each ≤ `max_message_len`).
    pub subscriber_capacity: usize,
    /// Bytes of the GOP cache per live stream, replayed to new subscribers
    /// (default 16 MiB; 0 disables it). Counts every cached frame's payload
    /// (configuration records and metadata included) plus 64 bytes per frame;
    /// a GOP that outgrows it is dropped until the next keyframe.
    pub gop_cache_bytes: usize,
    /// Window Acknowledgement Size sent to clients (default 2.5 MB).
    pub window_ack_size: u32,
    /// Outbound chunk size (default 4096).
    pub out_chunk_size: u32,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        let limits = ChunkLimits::default();
        Self {
            apps: vec!["live".to_owned()],
            max_connections: 1000,
            max_connections_per_addr: 16,
            listen_backlog: 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            publish_timeout: Duration::from_secs(30),
            validate_timeout: Duration::from_secs(5),
            max_message_len: limits.max_message_len,
            max_amf_message_len: crate::session::DEFAULT_MAX_AMF_MESSAGE_LEN,
            max_chunk_size: limits.max_chunk_size,
            max_chunk_streams: limits.max_chunk_streams,
            max_buffered_bytes: limits.max_buffered_bytes,
            subscriber_capacity: 1024,
            gop_cache_bytes: 16 << 20,
            window_ack_size: 2_500_000,
            out_chunk_size: 4096,
        }
    }
}

impl RtmpConfig {
    /// The per-connection protocol settings.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            apps: self.apps.clone(),
            limits: ChunkLimits {
                max_chunk_size: self.max_chunk_size,
                max_message_len: self.max_message_len,
                max_chunk_streams: self.max_chunk_streams,
                max_buffered_bytes: self.max_buffered_bytes,
            },
            window_ack_size: self.window_ack_size,
            out_chunk_size: self.out_chunk_size,
            max_amf_message_len: self.max_amf_message_len,
            timeouts: crate::session::SessionTimeouts {
                handshake: self.handshake_timeout,
                publish: self.publish_timeout,
                idle: self.idle_timeout,
            },
        }
    }
}
