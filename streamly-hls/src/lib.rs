//! # streamly-hls
//!
//! Streamly's remux core: [`MediaFrame`](streamly_core::media::MediaFrame)s
//! (H.264 in AVCC form, raw AAC, as RTMP and FLV carry them) in, MPEG-TS
//! segments and live HLS playlists out, without re-encoding; and the HTTP
//! routes that serve them.
//!
//! ## Layout
//!
//! Sans-IO cores (no tokio, no clock, no files):
//!
//! - [`fmp4`] — the fragmented MP4 (CMAF) writer: init segments and
//!   `moof` + `mdat` headers; frame payloads are chained, never copied.
//! - [`PartSegmenter`] — frames to LL-HLS parts and segments (fMP4): parts
//!   of a whole number of frames within 0.85–1.0 × `PART-TARGET`, segments
//!   cut at keyframes (they follow the GOP).
//! - [`ts`] and [`Segmenter`] — the MPEG-TS muxer (ISO/IEC 13818-1) and its
//!   segmenter, for the TS playlist old players use.
//! - [`LivePlaylist`], [`render_master`] — RFC 8216 playlists; the LL-HLS
//!   playlist (RFC 8216bis) is rendered by the window.
//! - [`LiveWindow`], [`Snapshot`] — a live stream's recent segments and
//!   parts as `Bytes`, and the immutable snapshot HTTP answers from.
//!
//! The tokio glue:
//!
//! - [`HlsPublisher`] — one task per publish ([`HlsPublisher::run`]) owns
//!   its segmenters, window and timers and publishes a [`Snapshot`] per
//!   change through a `watch` channel; persistence to a [`SegmentSink`]
//!   (optional: recordings, other nodes) goes behind a drop-oldest queue,
//!   never on the frame path. With a sink, the window's old segments leave
//!   memory once stored and are served from it
//!   ([`HlsConfig::serve_old_segments_from_sink`]).
//! - [`router`] — `GET /hls/{stream_id}/…` from the snapshots: LL-HLS with
//!   blocking reload, preload hints and delta updates, `ETag`, `Range`.
//!
//! ## Example
//!
//! Package a publish and read the low-latency playlist through the router:
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use streamly_core::domain::StreamId;
//! use streamly_core::media::FlvReader;
//! use streamly_hls::{HlsConfig, HlsPublisher};
//! use tower::ServiceExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let publisher = Arc::new(HlsPublisher::new(HlsConfig::default()));
//!
//! // Ingest (here: an FLV file) feeds a bounded channel; the packager drains it.
//! let (tx, rx) = tokio::sync::mpsc::channel(256);
//! let task = publisher.spawn(StreamId::parse("demo")?, rx);
//! let flv = Bytes::from(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/av.flv"))?);
//! for tag in FlvReader::new(flv)? {
//!     if let Some(frame) = tag?.to_frame()? {
//!         tx.send(frame).await?;
//!     }
//! }
//! drop(tx); // the publisher left
//! let stats = task.await?;
//! assert_eq!(stats.segments, 5); // 10 s of 2 s GOPs
//!
//! // Serve it: nest `streamly_hls::router(publisher)` into your axum app.
//! let app: axum::Router = streamly_hls::router(publisher);
//! let request = axum::http::Request::get("/hls/demo/index.m3u8").body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! let body = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
//! let playlist = std::str::from_utf8(&body)?;
//! assert!(playlist.contains("#EXT-X-PART-INF:PART-TARGET="));
//! assert!(playlist.ends_with("#EXT-X-ENDLIST\n"));
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
pub mod fmp4;
mod http;
mod ll_playlist;
mod parts;
mod playlist;
mod publisher;
pub mod recording;
mod recovery;
mod segmenter;
mod stream;
mod timestamp;
pub mod ts;
pub mod window;
mod write_queue;

pub use config::{DEFAULT_PART_TARGET, HlsConfig};
pub use error::{HlsError, MuxError};
pub use http::{PLAYLIST_CACHE_CONTROL, SEGMENT_CACHE_CONTROL, router};
pub use parts::{Part, PartEvent, PartSegmenter};
pub use playlist::{DEFAULT_WINDOW, LivePlaylist, PlaylistEntry, Variant, render_master};
pub use publisher::{HlsPublisher, PackagerStats, StreamWindow};
pub use recording::{RecordTo, RecordingProgress, VodPlaylist};
pub use recovery::end_persisted_playlists;
pub use segmenter::{DEFAULT_SEGMENT_DURATION, MAX_SEGMENT_BYTES, Segment, Segmenter};
pub use streamly_core::ports::SegmentSink;
pub use timestamp::TimestampUnwrapper;
pub use window::{LiveWindow, MASTER_PLAYLIST, MEDIA_PLAYLIST, Snapshot, TS_PLAYLIST};
