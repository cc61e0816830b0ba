//! How streams are packaged: [`HlsConfig`].

use std::time::Duration;

/// The default part target of the low-latency playlist.
pub const DEFAULT_PART_TARGET: Duration = Duration::from_millis(250);

/// How streams are packaged and kept.
#[derive(Debug, Clone)]
pub struct HlsConfig {
    /// MPEG-TS playlist (`ts.m3u8`): the target segment duration. Segments
    /// are cut at the first keyframe at or after it. Default 2 s.
    pub segment_duration: Duration,
    /// Low-latency fMP4 playlist (`index.m3u8`): segments are cut at the
    /// first keyframe at or after this, so with the usual 1–2 s GOP every
    /// keyframe starts a segment (the segment follows the GOP). Its
    /// `EXT-X-TARGETDURATION` is the first segment's duration rounded up,
    /// fixed for the stream's life. Default 1 s.
    pub ll_segment_duration: Duration,
    /// The part length aimed at (`EXT-X-PART-INF:PART-TARGET`). It is
    /// rounded down to a whole number of frames once the frame rate is
    /// known, so that every part but a segment's last lasts 0.85–1.0 ×
    /// PART-TARGET. Default 250 ms.
    pub part_target: Duration,
    /// Segments listed in each live playlist. Default 10 (20 s of 2 s
    /// GOPs: enough for `EXT-X-SKIP` delta updates to skip something).
    pub playlist_window: usize,
    /// Also package an MPEG-TS playlist for players without fMP4 support.
    /// Default on.
    pub ts: bool,
    /// How long a persisted segment that left the live window stays in the
    /// sink, for readers of the sink that fetched a playlist just before.
    /// Default 30 s.
    pub delete_grace: Duration,
    /// Persistence jobs (finished segments and playlists) waiting for the
    /// sink, at most. When a slow sink lets more pile up, the oldest pending
    /// segment is dropped rather than stalling ingest. Default 8.
    pub write_queue: usize,
    /// How long an ended stream's final window (with `EXT-X-ENDLIST`) stays
    /// served before it is dropped (and its persisted files deleted at the
    /// next [`HlsPublisher::sweep`](crate::HlsPublisher::sweep)). A
    /// republish replaces it at once. Default 10 min.
    pub ended_retention: Duration,
    /// Blocking playlist requests (`_HLS_msn`) waiting on one stream, at
    /// most; more get `503`. Default 10,000.
    pub max_blocking_requests: usize,
    /// With a sink ([`HlsPublisher::persist_to`](crate::HlsPublisher::persist_to)):
    /// the bytes of segments older than the LL-HLS part span (three target
    /// durations, plus one segment) leave memory once the sink confirms
    /// them, and those segments are served from the sink; TS segments the
    /// same, all but the newest four. A stream then holds about four
    /// segments of each packaging in memory instead of `playlist_window`.
    /// Without a sink every segment stays in memory. Default on.
    pub serve_old_segments_from_sink: bool,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            segment_duration: Duration::from_secs(2),
            ll_segment_duration: Duration::from_secs(1),
            part_target: DEFAULT_PART_TARGET,
            playlist_window: 10,
            ts: true,
            delete_grace: Duration::from_secs(30),
            write_queue: 8,
            ended_retention: Duration::from_secs(600),
            max_blocking_requests: 10_000,
            serve_old_segments_from_sink: true,
        }
    }
}
