//! # streamly-hls
//!
//! Streamly's remux core: [`MediaFrame`](streamly_core::media::MediaFrame)s
//! (H.264 in AVCC form, raw AAC, as RTMP and FLV carry them) in, MPEG-TS
//! segments and live HLS playlists out, without re-encoding; and the HTTP
//! routes that serve them.
//!
//! ## Layout
//!
//! - [`ts`] — the sans-IO MPEG-TS muxer (ISO/IEC 13818-1): PAT/PMT, PES,
//!   PCR, continuity counters, Annex B H.264 with AUD and SPS/PPS before
//!   each IDR, ADTS AAC. Copies each payload byte once into the caller's
//!   buffer; no allocation per frame.
//! - [`fmp4`] — the sans-IO fragmented MP4 (CMAF) writer (ISO/IEC
//!   14496-12): an init segment with `avcC`/`esds` taken verbatim from the
//!   configs, and `moof` + `mdat` headers whose samples the caller sends
//!   as they are (AVCC, raw AAC), never copied.
//! - [`Segmenter`] — cuts at the first keyframe at or after the target
//!   duration (audio-only: on time), unwrapping 32-bit RTMP timestamps;
//!   segments are bounded (forced cuts before the target duration, rounded
//!   up, is exceeded or at [`MAX_SEGMENT_BYTES`]).
//! - [`LivePlaylist`], [`render_master`] — RFC 8216 playlists: sliding
//!   window, a target duration that never changes, discontinuities, end
//!   list.
//! - [`HlsPublisher`], [`run_packager`] — the tokio glue: a task per stream
//!   drains a bounded frames channel into a [`SegmentSink`] (segment first,
//!   then the playlist naming it) through a bounded write queue, so a slow
//!   sink never stalls ingest: it drops the oldest pending segment instead.
//! - [`router`] — `GET /hls/{stream_id}/{index.m3u8,master.m3u8,*.ts}`.
//!
//! ## Example
//!
//! Package a publish into an in-memory sink and read the playlist back:
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use streamly_core::adapters::MemorySegmentSink;
//! use streamly_core::domain::StreamId;
//! use streamly_core::media::FlvReader;
//! use streamly_core::ports::{SegmentPath, SegmentSink};
//! use streamly_hls::{HlsConfig, HlsPublisher};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink: Arc<dyn SegmentSink> = Arc::new(MemorySegmentSink::default());
//! let publisher = Arc::new(HlsPublisher::new(sink.clone(), HlsConfig::default()));
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
//! let stats = task.await??;
//! assert_eq!(stats.segments, 5); // 10 s of 2 s GOPs
//!
//! let playlist = sink.get(&SegmentPath::parse("demo/index.m3u8")?).await?.expect("written");
//! assert!(std::str::from_utf8(&playlist)?.ends_with("#EXT-X-ENDLIST\n"));
//!
//! // Serve it: nest `streamly_hls::router(sink)` into your axum app.
//! let _app: axum::Router = streamly_hls::router(sink);
//! # Ok(())
//! # }
//! ```

mod cleanup;
mod error;
pub mod fmp4;
mod http;
mod packager;
mod playlist;
mod segmenter;
mod timestamp;
pub mod ts;
mod write_queue;

pub use error::{HlsError, MuxError};
pub use http::{PLAYLIST_CACHE_CONTROL, SEGMENT_CACHE_CONTROL, router};
pub use packager::{HlsConfig, HlsPublisher, MASTER_PLAYLIST, MEDIA_PLAYLIST, PackagerStats, run_packager};
pub use playlist::{DEFAULT_WINDOW, LivePlaylist, PlaylistEntry, Variant, render_master};
pub use segmenter::{DEFAULT_SEGMENT_DURATION, MAX_SEGMENT_BYTES, Segment, Segmenter};
pub use streamly_core::ports::SegmentSink;
pub use timestamp::TimestampUnwrapper;
