//! A live stream's window: its recent segments and parts as [`Bytes`], and
//! the immutable [`Snapshot`] the HTTP side answers from. Sans-IO: the
//! stream's task feeds it and publishes each snapshot.
//!
//! Names (relative to `/hls/{stream_id}/`), where `{token}` is a per-publish
//! token (so no name is ever reused, and caches may keep them forever):
//!
//! | file | what |
//! |---|---|
//! | `index.m3u8` | the LL-HLS fMP4 media playlist |
//! | `master.m3u8` | the multivariant playlist, naming `index.m3u8` |
//! | `ts.m3u8` | the MPEG-TS media playlist, for old players |
//! | `{token}_init{g}.mp4` | init segment `g` (`EXT-X-MAP`) |
//! | `{token}_{msn}.m4s` | fMP4 segment `msn` (the concatenation of its parts) |
//! | `{token}_{msn}_{i}.m4s` | part `i` of segment `msn` |
//! | `{token}_{n}.ts` | MPEG-TS segment `n` |

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use time::OffsetDateTime;

use crate::ll_playlist::{LlView, first_with_parts, render_ll};
use crate::parts::Part;
use crate::playlist::{LivePlaylist, PlaylistEntry, Variant, render_master};

/// File name of the low-latency media playlist.
pub const MEDIA_PLAYLIST: &str = "index.m3u8";
/// File name of the multivariant playlist.
pub const MASTER_PLAYLIST: &str = "master.m3u8";
/// File name of the MPEG-TS media playlist.
pub const TS_PLAYLIST: &str = "ts.m3u8";

/// An init segment (`EXT-X-MAP`).
#[derive(Debug)]
pub struct InitEntry {
    /// Its number within the publish.
    pub generation: u32,
    /// The `ftyp` + `moov` bytes.
    pub data: Bytes,
}

/// A complete fMP4 segment of the window.
#[derive(Debug)]
pub struct SegmentEntry {
    /// Media sequence number.
    pub msn: u64,
    /// The init segment its parts need.
    pub init: Arc<InitEntry>,
    /// Its parts, in order; the segment is their concatenation.
    pub parts: Vec<Arc<Part>>,
    /// Sum of the parts' durations.
    pub duration: Duration,
    /// Total bytes.
    pub len: usize,
    /// Wall-clock time of its first frame.
    pub program_date_time: Option<OffsetDateTime>,
    /// Preceded by `EXT-X-DISCONTINUITY` (a new init segment).
    pub discontinuity: bool,
    contiguous: OnceLock<Bytes>,
    /// Its bytes are in memory (`parts`). Once the sink holds an older
    /// segment, the window keeps only this entry's description and the
    /// segment is served from the sink ([`LiveWindow::offload_stored`]).
    in_memory: bool,
}

impl SegmentEntry {
    /// The segment's bytes in one buffer: its parts, concatenated the first
    /// time a viewer asks for them, and shared from then on. Sent as one buffer, a
    /// response costs one `writev`; sent part by part, hyper writes each
    /// part with its own.
    /// `None` once the bytes are only in the sink ([`in_memory`](Self::in_memory)).
    pub fn bytes(&self) -> Option<&Bytes> {
        self.in_memory
            .then(|| self.contiguous.get_or_init(|| self.concatenate()))
    }

    /// The segment's bytes in one buffer, without keeping it: for a one-off
    /// reader (persistence), so the window does not hold every segment
    /// twice. Shares the cached buffer when a viewer already made it.
    /// `None` once the bytes are only in the sink.
    pub fn concatenated(&self) -> Option<Bytes> {
        self.in_memory.then(|| {
            self.contiguous
                .get()
                .cloned()
                .unwrap_or_else(|| self.concatenate())
        })
    }

    /// Whether the segment's bytes are in memory; `false` once the window
    /// dropped them because the sink holds them.
    pub fn in_memory(&self) -> bool {
        self.in_memory
    }

    /// This segment's description without its bytes.
    fn description(&self) -> Self {
        Self {
            msn: self.msn,
            init: Arc::clone(&self.init),
            parts: Vec::new(),
            duration: self.duration,
            len: self.len,
            program_date_time: self.program_date_time,
            discontinuity: self.discontinuity,
            contiguous: OnceLock::new(),
            in_memory: false,
        }
    }

    fn concatenate(&self) -> Bytes {
        let mut data = BytesMut::with_capacity(self.len);
        for part in &self.parts {
            data.extend_from_slice(&part.data);
        }
        data.freeze()
    }
}

/// One TS segment of the window.
#[derive(Debug, Clone)]
pub struct TsEntry {
    /// Its file name.
    pub uri: String,
    /// Its bytes; `None` once the window dropped them because the sink
    /// holds them ([`LiveWindow::offload_stored`]).
    pub data: Option<Bytes>,
}

/// TS segments kept in memory once the sink holds older ones: a TS player
/// starts three target durations from the end, and one more.
const TS_SEGMENTS_IN_MEMORY: usize = 4;

/// What a stream serves at one moment. Immutable: the stream's task
/// publishes a new one per change, readers keep the one they got.
#[derive(Debug)]
pub struct Snapshot {
    /// The publish's token, part of every media file name.
    pub token: Arc<str>,
    /// Increases with every snapshot of the publish (for `ETag`s).
    pub version: u64,
    /// `EXT-X-TARGETDURATION`.
    pub target_duration: u64,
    /// Complete segments, oldest first, contiguous numbers.
    pub segments: Vec<Arc<SegmentEntry>>,
    /// Parts of the segment in progress (number [`next_msn`](Self::next_msn)).
    pub pending: Vec<Arc<Part>>,
    /// The number the segment in progress gets.
    pub next_msn: u64,
    /// Init segments named by the listed segments and the one in progress.
    pub inits: Vec<Arc<InitEntry>>,
    /// The publisher left: playlists carry `EXT-X-ENDLIST`.
    pub ended: bool,
    /// What the LL-HLS playlists are rendered from, the first time a
    /// reader asks ([`Snapshot::playlist`]): a snapshot is made for every
    /// part of every stream, most of them never read.
    ll: LazyLlPlaylists,
    /// The TS playlist (`None` before the first TS segment).
    pub ts_playlist: Option<Bytes>,
    /// The TS segments it names.
    pub ts_segments: Vec<TsEntry>,
    /// The multivariant playlist.
    pub master: Option<Bytes>,
}

/// The window's state an LL-HLS playlist needs beyond what a [`Snapshot`]
/// lists, and the two renderings, made on first use.
#[derive(Debug)]
struct LazyLlPlaylists {
    part_target: Duration,
    segments: VecDeque<Arc<SegmentEntry>>,
    pending_init: Option<Arc<InitEntry>>,
    pending_discontinuity: bool,
    pending_start: Option<OffsetDateTime>,
    discontinuity_sequence: u64,
    whole: OnceLock<Option<Bytes>>,
    skip: OnceLock<Option<Bytes>>,
}

impl Snapshot {
    /// Whether there is anything to list: a segment or a part.
    fn has_media(&self) -> bool {
        !self.segments.is_empty() || !self.pending.is_empty()
    }

    fn ll_view(&self) -> LlView<'_> {
        LlView {
            token: &self.token,
            target_duration: self.target_duration,
            part_target: self.ll.part_target,
            segments: &self.ll.segments,
            pending: &self.pending,
            pending_init: self.ll.pending_init.as_deref(),
            pending_discontinuity: self.ll.pending_discontinuity,
            pending_start: self.ll.pending_start,
            next_msn: self.next_msn,
            discontinuity_sequence: self.ll.discontinuity_sequence,
            ended: self.ended,
            parts: true,
            gaps: &[],
        }
    }

    /// The LL-HLS playlist text, whole (`None` before the first part).
    /// Rendered once, by the first reader.
    pub fn playlist(&self) -> Option<Bytes> {
        self.ll
            .whole
            .get_or_init(|| {
                self.has_media()
                    .then(|| Bytes::from(render_ll(&self.ll_view(), false)))
            })
            .clone()
    }

    /// The same with `EXT-X-SKIP` (a delta update), when it skips
    /// something. Rendered once, by the first reader.
    pub fn playlist_skip(&self) -> Option<Bytes> {
        self.ll
            .skip
            .get_or_init(|| {
                let view = self.ll_view();
                (self.has_media() && view.skipped_segments() > 0).then(|| Bytes::from(render_ll(&view, true)))
            })
            .clone()
    }

    /// Segment `msn` if listed.
    pub fn segment(&self, msn: u64) -> Option<&Arc<SegmentEntry>> {
        let first = self.segments.first()?.msn;
        self.segments.get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    /// Part `index` of segment `msn`, complete or in progress.
    pub fn part(&self, msn: u64, index: u64) -> Option<&Arc<Part>> {
        let index = usize::try_from(index).ok()?;
        if msn == self.next_msn {
            return self.pending.get(index);
        }
        self.segment(msn)?.parts.get(index)
    }

    /// Init segment `generation`.
    pub fn init(&self, generation: u32) -> Option<&Arc<InitEntry>> {
        self.inits.iter().find(|i| i.generation == generation)
    }

    /// The TS segment named `uri`.
    pub fn ts_segment(&self, uri: &str) -> Option<&TsEntry> {
        self.ts_segments.iter().find(|t| t.uri == uri)
    }

    /// Whether a playlist request blocking on `msn`/`part` (RFC 8216bis
    /// §6.2.5.2) can be answered: the playlist has that part (or, without a
    /// part, that whole segment), or something after it, or has ended.
    pub fn has(&self, msn: u64, part: Option<u64>) -> bool {
        if self.ended {
            return true;
        }
        let Some(part) = part else {
            return msn < self.next_msn;
        };
        if msn == self.next_msn {
            return part < self.pending.len() as u64;
        }
        match self.segment(msn) {
            Some(s) => part < s.parts.len() as u64 || msn + 1 < self.next_msn || !self.pending.is_empty(),
            None => msn < self.next_msn,
        }
    }

    /// The part the `EXT-X-PRELOAD-HINT` names: the next one.
    pub fn hinted_part(&self) -> (u64, u64) {
        (self.next_msn, self.pending.len() as u64)
    }
}

/// What left the window, for the persistence layer to delete.
#[derive(Debug, Default)]
pub struct Evicted {
    /// File names that are no longer listed.
    pub files: Vec<String>,
}

/// The mutable window a stream's task owns.
#[derive(Debug)]
pub struct LiveWindow {
    token: Arc<str>,
    window: usize,
    target_duration: u64,
    part_target: Duration,
    version: u64,
    segments: VecDeque<Arc<SegmentEntry>>,
    discontinuity_sequence: u64,
    pending: Vec<Arc<Part>>,
    pending_start: Option<OffsetDateTime>,
    pending_discontinuity: bool,
    next_msn: u64,
    init: Option<Arc<InitEntry>>,
    ts: LivePlaylist,
    ts_segments: VecDeque<TsEntry>,
    /// The TS playlist's text, rendered when it changes (a TS segment or
    /// the end), not for every snapshot.
    ts_text: Option<Bytes>,
    codecs: Vec<String>,
    resolution: Option<(u32, u32)>,
    peak_bandwidth: u64,
    master: Option<Bytes>,
    ended: bool,
    /// Segments the sink never got (dropped by the write queue): the
    /// persisted playlist marks them `EXT-X-GAP`.
    unpersisted: Vec<u64>,
    /// Drop the bytes of old segments the sink holds ([`Self::offload_stored`]).
    offload: bool,
    /// Segments the sink confirmed, whose bytes are still in memory.
    stored: Vec<u64>,
    /// The same for TS segments, by name.
    ts_stored: Vec<String>,
}

impl LiveWindow {
    /// An empty window of `window` segments; TS segments aimed at `ts_target`.
    pub fn new(token: String, window: usize, target_duration: u64, ts_target: Duration) -> Self {
        Self {
            token: token.into(),
            window: window.max(1),
            target_duration: target_duration.max(1),
            part_target: Duration::from_millis(250),
            version: 0,
            segments: VecDeque::new(),
            discontinuity_sequence: 0,
            pending: Vec::new(),
            pending_start: None,
            pending_discontinuity: false,
            next_msn: 0,
            init: None,
            ts: LivePlaylist::live(window.max(1), ts_target),
            ts_segments: VecDeque::new(),
            ts_text: None,
            codecs: Vec::new(),
            resolution: None,
            peak_bandwidth: 0,
            master: None,
            ended: false,
            unpersisted: Vec::new(),
            offload: false,
            stored: Vec::new(),
            ts_stored: Vec::new(),
        }
    }

    /// Keeps in memory only the segments a player at the live edge reads:
    /// those whose parts the LL-HLS playlist lists (three target durations
    /// from the end) and one more. Older ones, once the sink confirmed them
    /// ([`mark_stored`](Self::mark_stored)), keep their place in the
    /// playlists but not their bytes: they are served from the sink. A
    /// segment the sink never got stays in memory until it leaves the
    /// window. TS segments: all but the newest four, once stored
    /// ([`mark_stored_ts`](Self::mark_stored_ts)). Off by default (a window
    /// without a sink keeps everything).
    pub fn offload_stored(&mut self, on: bool) {
        self.offload = on;
        self.offload_old();
        self.offload_old_ts();
    }

    /// The sink holds the TS segment `uri`: its bytes may leave memory
    /// ([`offload_stored`](Self::offload_stored)).
    pub fn mark_stored_ts(&mut self, uri: &str) {
        if !self.offload {
            return;
        }
        if self.ts_segments.iter().any(|t| t.uri == uri && t.data.is_some()) {
            self.ts_stored.push(uri.to_owned());
        }
        self.offload_old_ts();
    }

    fn offload_old_ts(&mut self) {
        if !self.offload || self.ts_stored.is_empty() {
            return;
        }
        let old = self.ts_segments.len().saturating_sub(TS_SEGMENTS_IN_MEMORY);
        for entry in self.ts_segments.iter_mut().take(old) {
            if let Some(i) = self.ts_stored.iter().position(|uri| *uri == entry.uri) {
                self.ts_stored.swap_remove(i);
                entry.data = None;
            }
        }
    }

    /// The sink holds segment `msn`: its bytes may leave memory
    /// ([`offload_stored`](Self::offload_stored)).
    pub fn mark_stored(&mut self, msn: u64) {
        if !self.offload {
            return;
        }
        if self.segments.iter().any(|s| s.msn == msn && s.in_memory) {
            self.stored.push(msn);
        }
        self.offload_old();
    }

    fn offload_old(&mut self) {
        if !self.offload || self.stored.is_empty() {
            return;
        }
        // The segments whose parts are listed, and one more, stay.
        let old = first_with_parts(&self.segments, &self.pending, self.target_duration).saturating_sub(1);
        for entry in self.segments.iter_mut().take(old) {
            if let Some(i) = self.stored.iter().position(|&msn| msn == entry.msn) {
                self.stored.swap_remove(i);
                *entry = Arc::new(entry.description());
            }
        }
    }

    /// Segment `msn` never reached the sink: the persisted playlist lists
    /// it as a gap (`EXT-X-GAP`, RFC 8216bis §4.4.4.7).
    pub fn mark_unpersisted(&mut self, msn: u64) {
        self.unpersisted.push(msn);
    }

    /// The publish's token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Sets `PART-TARGET` (known once the first part is cut).
    pub fn set_part_target(&mut self, part_target: Duration) {
        self.part_target = part_target;
    }

    /// Sets what the multivariant playlist announces.
    pub fn set_codecs(&mut self, codecs: Vec<String>, resolution: Option<(u32, u32)>) {
        self.codecs = codecs;
        self.resolution = resolution;
    }

    /// A new init segment: the next segment starts after a discontinuity
    /// (unless it is the first). Returns its file name.
    pub fn push_init(&mut self, data: Bytes) -> String {
        let generation = self.init.as_ref().map_or(0, |i| i.generation + 1);
        self.pending_discontinuity = self.init.is_some() || !self.segments.is_empty();
        self.init = Some(Arc::new(InitEntry { generation, data }));
        init_name(&self.token, generation)
    }

    /// The current init segment.
    pub fn current_init(&self) -> Option<&Arc<InitEntry>> {
        self.init.as_ref()
    }

    /// A finished part, its first frame at `start` (wall clock). Returns
    /// the segment it completed, if any, and what left the window.
    pub fn push_part(
        &mut self,
        part: Part,
        start: Option<OffsetDateTime>,
    ) -> (Option<Arc<SegmentEntry>>, Evicted) {
        let mut evicted = Evicted::default();
        if self.pending.is_empty() {
            self.pending_start = start;
        }
        let ends = part.ends_segment;
        self.pending.push(Arc::new(part));
        if !ends {
            return (None, evicted);
        }
        let Some(init) = self.init.clone() else {
            self.pending.clear();
            return (None, evicted);
        };
        let parts = std::mem::take(&mut self.pending);
        let duration = parts.iter().map(|p| p.duration).sum::<Duration>();
        let len = parts.iter().map(|p| p.data.len()).sum::<usize>();
        let secs = duration.as_secs_f64();
        if secs >= 0.5 {
            self.peak_bandwidth = self.peak_bandwidth.max((len as f64 * 8.0 / secs).ceil() as u64);
        }
        let segment = Arc::new(SegmentEntry {
            msn: self.next_msn,
            init,
            parts,
            duration,
            len,
            program_date_time: self.pending_start.take(),
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
            contiguous: OnceLock::new(),
            in_memory: true,
        });
        self.next_msn += 1;
        self.segments.push_back(Arc::clone(&segment));
        while self.segments.len() > self.window {
            let Some(old) = self.segments.pop_front() else {
                break;
            };
            self.unpersisted.retain(|&msn| msn > old.msn);
            self.stored.retain(|&msn| msn > old.msn);
            if self.segments.front().is_some_and(|s| s.discontinuity) {
                self.discontinuity_sequence += 1;
            }
            evicted.files.push(segment_name(&self.token, old.msn));
            let still_used = self.segments.iter().any(|s| Arc::ptr_eq(&s.init, &old.init))
                || self.init.as_ref().is_some_and(|i| Arc::ptr_eq(i, &old.init));
            if !still_used {
                evicted.files.push(init_name(&self.token, old.init.generation));
            }
        }
        self.offload_old();
        (Some(segment), evicted)
    }

    /// A finished TS segment. Returns its file name and what left the window.
    pub fn push_ts(
        &mut self,
        data: Bytes,
        duration: Duration,
        discontinuity: bool,
        program_date_time: Option<OffsetDateTime>,
    ) -> (String, Evicted) {
        let uri = format!("{}_{}.ts", self.token, self.ts.next_sequence());
        if discontinuity {
            self.ts.mark_discontinuity();
        }
        let removed = self.ts.push(PlaylistEntry {
            uri: uri.clone(),
            duration,
            discontinuity: false,
            program_date_time,
        });
        self.ts_segments.push_back(TsEntry {
            uri: uri.clone(),
            data: Some(data),
        });
        let mut evicted = Evicted::default();
        for old in removed {
            self.ts_segments.retain(|t| t.uri != old.uri);
            self.ts_stored.retain(|t| *t != old.uri);
            evicted.files.push(old.uri);
        }
        self.offload_old_ts();
        self.render_ts();
        (uri, evicted)
    }

    /// The publisher left: every playlist gets `EXT-X-ENDLIST`.
    pub fn end(&mut self) {
        self.ended = true;
        self.ts.end();
        self.render_ts();
    }

    fn render_ts(&mut self) {
        self.ts_text = (self.ts.entries().len() > 0).then(|| Bytes::from(self.ts.render()));
    }

    /// Every file the window names now (what to delete when it goes).
    pub fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .segments
            .iter()
            .map(|s| segment_name(&self.token, s.msn))
            .collect();
        files.extend(self.inits().iter().map(|i| init_name(&self.token, i.generation)));
        files.extend(self.ts_segments.iter().map(|t| t.uri.clone()));
        files.extend([MEDIA_PLAYLIST, MASTER_PLAYLIST, TS_PLAYLIST].map(String::from));
        files
    }

    fn inits(&self) -> Vec<Arc<InitEntry>> {
        let mut inits: Vec<Arc<InitEntry>> = Vec::new();
        for init in self.segments.iter().map(|s| &s.init).chain(self.init.as_ref()) {
            if !inits.iter().any(|i| Arc::ptr_eq(i, init)) {
                inits.push(Arc::clone(init));
            }
        }
        inits
    }

    /// The view of the sink's playlist: no parts, unpersisted segments as
    /// gaps (a [`Snapshot`] makes the viewers' one).
    fn plain_view(&self) -> LlView<'_> {
        LlView {
            token: &self.token,
            target_duration: self.target_duration,
            part_target: self.part_target,
            segments: &self.segments,
            pending: &[],
            pending_init: self.init.as_deref(),
            pending_discontinuity: self.pending_discontinuity,
            pending_start: self.pending_start,
            next_msn: self.next_msn,
            discontinuity_sequence: self.discontinuity_sequence,
            ended: self.ended,
            parts: false,
            gaps: &self.unpersisted,
        }
    }

    /// The playlist for the sink: fMP4 segments only, no parts or
    /// blocking-reload tags (readers of the sink cannot block on it).
    pub fn plain_playlist(&self) -> Option<Bytes> {
        (!self.segments.is_empty()).then(|| Bytes::from(render_ll(&self.plain_view(), false)))
    }

    /// The TS playlist text, once it lists a segment (or ended).
    pub fn ts_playlist(&self) -> Option<Bytes> {
        self.ts_text.clone()
    }

    /// The multivariant playlist, re-rendered when what it says changed.
    /// Returns it when it changed.
    pub fn update_master(&mut self) -> Option<Bytes> {
        if self.segments.is_empty() && self.pending.is_empty() {
            return None;
        }
        let text = render_master(&[Variant {
            uri: MEDIA_PLAYLIST.into(),
            bandwidth: self.peak_bandwidth,
            average_bandwidth: None,
            resolution: self.resolution,
            codecs: self.codecs.clone(),
        }]);
        if self.master.as_deref() == Some(text.as_bytes()) {
            return None;
        }
        let text = Bytes::from(text);
        self.master = Some(text.clone());
        Some(text)
    }

    /// The snapshot of now.
    pub fn snapshot(&mut self) -> Snapshot {
        self.version += 1;
        Snapshot {
            token: Arc::clone(&self.token),
            version: self.version,
            target_duration: self.target_duration,
            segments: self.segments.iter().cloned().collect(),
            pending: self.pending.clone(),
            next_msn: self.next_msn,
            inits: self.inits(),
            ended: self.ended,
            ll: LazyLlPlaylists {
                part_target: self.part_target,
                segments: self.segments.clone(),
                pending_init: self.init.clone(),
                pending_discontinuity: self.pending_discontinuity,
                pending_start: self.pending_start,
                discontinuity_sequence: self.discontinuity_sequence,
                whole: OnceLock::new(),
                skip: OnceLock::new(),
            },
            ts_playlist: self.ts_playlist(),
            ts_segments: self.ts_segments.iter().cloned().collect(),
            master: self.master.clone(),
        }
    }
}

/// `{token}_init{g}.mp4`.
pub fn init_name(token: &str, generation: u32) -> String {
    format!("{token}_init{generation}.mp4")
}

/// `{token}_{msn}.m4s`.
pub fn segment_name(token: &str, msn: u64) -> String {
    format!("{token}_{msn}.m4s")
}

/// `{token}_{msn}_{index}.m4s`.
pub fn part_name(token: &str, msn: u64, index: u64) -> String {
    format!("{token}_{msn}_{index}.m4s")
}
