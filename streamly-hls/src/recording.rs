//! Recordings: a publish's fMP4 segments kept in the [`SegmentSink`] under
//! a folder of their own (`recordings/{id}/` in the platform), with a VOD
//! playlist that grows as they land.
//!
//! Layout of a recording's folder:
//!
//! | file | what |
//! |---|---|
//! | `index.m3u8` | the playlist: `EXT-X-PLAYLIST-TYPE:EVENT` while recording, `VOD` + `EXT-X-ENDLIST` once finalized |
//! | `init{g}.mp4` | init segment `g` (`EXT-X-MAP`; a new one after a codec change) |
//! | `{n}.m4s` | fMP4 segment `n` (the live window's segment `n`, same bytes) |
//!
//! The playlist is rewritten after each segment, behind it in the same
//! write queue, so whatever it lists was written first: a crash leaves a
//! playable `EVENT` playlist, which [`finalize_recording`] turns into a
//! `VOD` one at the next start. The live window's cleanup and
//! [`HlsPublisher::recover`](crate::HlsPublisher::recover) never touch
//! this folder.
//!
//! [`VodPlaylist`] is sans-IO; the stream's task feeds it (see
//! [`RecordTo`]).

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use streamly_core::ports::{SegmentPath, SegmentSink};
use tokio::sync::watch;

use crate::error::HlsError;
use crate::write_queue::{Job, WriteQueue};

/// The playlist's file name in a recording's folder.
pub const RECORDING_PLAYLIST: &str = "index.m3u8";

/// How far a recording has got: what the stream's task reports after each
/// segment through [`RecordTo::progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingProgress {
    /// Segments listed (gaps included).
    pub segments: u64,
    /// Segments the sink never got (listed as `EXT-X-GAP`).
    pub gaps: u64,
    /// Sum of the listed segments' durations.
    pub duration: Duration,
    /// Bytes handed to the sink (init segments and segments).
    pub bytes: u64,
    /// The publish ended and the playlist got `EXT-X-ENDLIST`.
    pub ended: bool,
}

/// Record a publish: where, and who hears of its progress.
#[derive(Debug)]
pub struct RecordTo {
    prefix: String,
    /// Updated after every segment, and once at the end.
    pub progress: watch::Sender<RecordingProgress>,
}

impl RecordTo {
    /// Records under the sink folder `prefix` (like `recordings/{id}`:
    /// components of `[A-Za-z0-9_.-]`, see [`SegmentPath`]). Returns the
    /// target and the receiving end of its progress.
    pub fn new(prefix: &str) -> Result<(Self, watch::Receiver<RecordingProgress>), HlsError> {
        let prefix = prefix.trim_end_matches('/').to_owned();
        path_in(&prefix, RECORDING_PLAYLIST)?;
        let (tx, rx) = watch::channel(RecordingProgress::default());
        Ok((Self { prefix, progress: tx }, rx))
    }

    /// The folder.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

fn path_in(prefix: &str, file: &str) -> Result<SegmentPath, HlsError> {
    SegmentPath::parse(&format!("{prefix}/{file}")).map_err(|e| HlsError::BadPrefix(e.to_string()))
}

/// `init{g}.mp4`.
pub fn recording_init_name(generation: u32) -> String {
    format!("init{generation}.mp4")
}

/// `{n}.m4s`.
pub fn recording_segment_name(n: u64) -> String {
    format!("{n}.m4s")
}

/// One segment of a VOD playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VodEntry {
    /// Its file name in the folder.
    pub uri: String,
    /// `EXTINF`.
    pub duration: Duration,
    /// The init segment it needs (`EXT-X-MAP`).
    pub init: String,
    /// Never written (`EXT-X-GAP`).
    pub gap: bool,
}

/// A recording's playlist (see the module docs). Sans-IO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VodPlaylist {
    /// The segments, in order.
    pub entries: Vec<VodEntry>,
    /// Ends with `EXT-X-ENDLIST` (and is `VOD`, not `EVENT`).
    pub ended: bool,
}

impl VodPlaylist {
    /// Appends a segment.
    pub fn push(&mut self, uri: String, duration: Duration, init: String) {
        self.entries.push(VodEntry {
            uri,
            duration,
            init,
            gap: false,
        });
    }

    /// Marks the segment named `uri` as never written; whether it was listed.
    pub fn mark_gap(&mut self, uri: &str) -> bool {
        match self.entries.iter_mut().find(|e| e.uri == uri) {
            Some(e) => {
                e.gap = true;
                true
            }
            None => false,
        }
    }

    /// Sum of the durations (gaps included: they take their time).
    pub fn duration(&self) -> Duration {
        self.entries.iter().map(|e| e.duration).sum()
    }

    /// The playlist text (RFC 8216bis): version 7 (`EXT-X-MAP` in a media
    /// playlist needs 6), `EXT-X-TARGETDURATION` the longest segment
    /// rounded up, `EXT-X-DISCONTINUITY` where the init segment changes.
    pub fn render(&self) -> String {
        let target = self
            .entries
            .iter()
            .map(|e| e.duration.as_secs() + u64::from(e.duration.subsec_nanos() > 0))
            .max()
            .unwrap_or(1)
            .max(1);
        let mut s = String::with_capacity(200 + self.entries.len() * 40);
        s.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
        let _ = writeln!(s, "#EXT-X-TARGETDURATION:{target}");
        s.push_str("#EXT-X-MEDIA-SEQUENCE:0\n");
        s.push_str(if self.ended {
            "#EXT-X-PLAYLIST-TYPE:VOD\n"
        } else {
            "#EXT-X-PLAYLIST-TYPE:EVENT\n"
        });
        s.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        let mut init: Option<&str> = None;
        for e in &self.entries {
            if init != Some(e.init.as_str()) {
                if init.is_some() {
                    s.push_str("#EXT-X-DISCONTINUITY\n");
                }
                let _ = writeln!(s, "#EXT-X-MAP:URI=\"{}\"", e.init);
                init = Some(&e.init);
            }
            if e.gap {
                s.push_str("#EXT-X-GAP\n");
            }
            let _ = writeln!(s, "#EXTINF:{:.3},\n{}", e.duration.as_secs_f64(), e.uri);
        }
        if self.ended {
            s.push_str("#EXT-X-ENDLIST\n");
        }
        s
    }

    /// Reads back a playlist [`render`](Self::render) wrote (tags it does
    /// not write are ignored). Entries without a preceding `EXT-X-MAP`
    /// are dropped.
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        let mut init: Option<String> = None;
        let mut duration: Option<Duration> = None;
        let mut gap = false;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
                init = rest
                    .split_once("URI=\"")
                    .and_then(|(_, r)| r.split_once('"'))
                    .map(|(uri, _)| uri.to_owned());
            } else if let Some(rest) = line.strip_prefix("#EXTINF:") {
                let secs = rest.split(',').next().unwrap_or("").trim();
                duration = secs
                    .parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
                    .map(Duration::from_secs_f64);
            } else if line == "#EXT-X-GAP" {
                gap = true;
            } else if line == "#EXT-X-ENDLIST" {
                out.ended = true;
            } else if !line.starts_with('#') {
                if let (Some(init), Some(duration)) = (&init, duration.take()) {
                    out.entries.push(VodEntry {
                        uri: line.to_owned(),
                        duration,
                        init: init.clone(),
                        gap,
                    });
                }
                gap = false;
            }
        }
        out
    }
}

/// The recording side of one run: feeds its [`VodPlaylist`] and queues
/// the writes on the recording's own [`WriteQueue`] (apart from the live
/// window's, so neither starves the other). Owned by the stream's task.
pub(crate) struct Recorder<'a> {
    to: RecordTo,
    playlist: VodPlaylist,
    progress: RecordingProgress,
    init: Option<String>,
    queue: &'a WriteQueue,
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(to: RecordTo, queue: &'a WriteQueue) -> Self {
        Self {
            to,
            playlist: VodPlaylist::default(),
            progress: RecordingProgress::default(),
            init: None,
            queue,
        }
    }

    /// A new init segment: the next segments need it.
    pub(crate) fn init(&mut self, generation: u32, data: Bytes) {
        let name = recording_init_name(generation);
        self.progress.bytes += data.len() as u64;
        // Queued as a playlist is: never dropped (its path is unique, so
        // it replaces nothing). Every segment after it needs it.
        self.push(Job::Playlist, &name, data);
        self.init = Some(name);
    }

    /// A finished segment (the live window's number `msn`).
    pub(crate) fn segment(&mut self, msn: u64, duration: Duration, data: Bytes) {
        let Some(init) = self.init.clone() else { return };
        let name = recording_segment_name(msn);
        self.progress.bytes += data.len() as u64;
        self.progress.segments += 1;
        self.progress.duration += duration;
        self.playlist.push(name.clone(), duration, init);
        self.push(Job::Segment, &name, data);
        self.write_playlist();
        self.report();
    }

    /// The publish ended: the playlist becomes `VOD` with `EXT-X-ENDLIST`.
    pub(crate) fn finish(&mut self) {
        self.playlist.ended = true;
        self.progress.ended = true;
        if !self.playlist.entries.is_empty() {
            self.write_playlist();
        }
        self.report();
    }

    fn report(&self) {
        self.to.progress.send_replace(self.progress);
    }

    fn write_playlist(&mut self) {
        let text = Bytes::from(self.playlist.render());
        self.push(Job::Playlist, RECORDING_PLAYLIST, text);
    }

    fn push(&mut self, job: fn(SegmentPath, Bytes) -> Job, file: &str, data: Bytes) {
        let Ok(path) = path_in(&self.to.prefix, file) else {
            return;
        };
        let Some(dropped) = self.queue.push(job(path, data)) else {
            return;
        };
        tracing::warn!(%dropped, "the segment sink fell behind; a recording lost a segment");
        let file = dropped.as_str().rsplit_once('/').map_or("", |(_, f)| f);
        if self.playlist.mark_gap(file) {
            self.progress.gaps += 1;
            self.write_playlist();
        }
    }
}

/// What [`finalize_recording`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalizedRecording {
    /// Segments listed (gaps included).
    pub segments: u64,
    /// Their total duration.
    pub duration: Duration,
    /// Files removed that the playlist did not name (written after its
    /// last rewrite).
    pub removed: usize,
}

/// Ends the recording in `prefix` a crashed process left in progress: its
/// playlist becomes `VOD` with `EXT-X-ENDLIST`, and files it does not name
/// are removed. `Ok(None)`: there is no playlist (nothing playable was
/// written).
pub async fn finalize_recording(
    sink: &dyn SegmentSink,
    prefix: &str,
) -> Result<Option<FinalizedRecording>, HlsError> {
    let playlist_path = path_in(prefix, RECORDING_PLAYLIST)?;
    let Some(text) = sink.get(&playlist_path).await.map_err(HlsError::Recording)? else {
        return Ok(None);
    };
    let mut playlist = VodPlaylist::parse(&String::from_utf8_lossy(&text));
    if !playlist.ended {
        playlist.ended = true;
        sink.put(&playlist_path, Bytes::from(playlist.render()))
            .await
            .map_err(HlsError::Recording)?;
    }
    let mut removed = 0;
    let folder = format!("{prefix}/");
    for path in sink.list(&folder).await.map_err(HlsError::Recording)? {
        let file = path.as_str().strip_prefix(&folder).unwrap_or(path.as_str());
        let named =
            file == RECORDING_PLAYLIST || playlist.entries.iter().any(|e| e.uri == file || e.init == file);
        if !named {
            sink.delete(&path).await.map_err(HlsError::Recording)?;
            removed += 1;
        }
    }
    Ok(Some(FinalizedRecording {
        segments: playlist.entries.len() as u64,
        duration: playlist.duration(),
        removed,
    }))
}

/// Deletes every file of the recording in `prefix`; returns how many.
pub async fn delete_recording(sink: &dyn SegmentSink, prefix: &str) -> Result<usize, HlsError> {
    // Validated like the other entry points: no listing outside a folder.
    path_in(prefix, RECORDING_PLAYLIST)?;
    let folder = format!("{}/", prefix.trim_end_matches('/'));
    let files = sink.list(&folder).await.map_err(HlsError::Recording)?;
    for path in &files {
        sink.delete(path).await.map_err(HlsError::Recording)?;
    }
    Ok(files.len())
}

/// The recording in `prefix` as one fragmented MP4: what to concatenate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mp4Parts {
    /// The first init segment (`ftyp` + `moov`).
    pub init: SegmentPath,
    /// The segments written with it, in order (gaps left out).
    pub fragments: Vec<SegmentPath>,
    /// Their total duration (gaps included: the timeline keeps them).
    pub duration: Duration,
}

/// The recording in `prefix` as one fragmented MP4: its first init
/// segment, then every segment written with it. Segments after a codec
/// change (a new init segment) cannot follow in the same file and are left
/// out; the playlist has them. `Ok(None)`: no playlist, or no segment.
pub async fn recording_mp4_parts(sink: &dyn SegmentSink, prefix: &str) -> Result<Option<Mp4Parts>, HlsError> {
    let playlist_path = path_in(prefix, RECORDING_PLAYLIST)?;
    let Some(text) = sink.get(&playlist_path).await.map_err(HlsError::Recording)? else {
        return Ok(None);
    };
    let playlist = VodPlaylist::parse(&String::from_utf8_lossy(&text));
    let Some(first) = playlist.entries.first() else {
        return Ok(None);
    };
    let init = first.init.clone();
    let mut fragments = Vec::new();
    let mut duration = Duration::ZERO;
    for e in playlist.entries.iter().take_while(|e| e.init == init) {
        duration += e.duration;
        if !e.gap {
            fragments.push(path_in(prefix, &e.uri)?);
        }
    }
    Ok(Some(Mp4Parts {
        init: path_in(prefix, &init)?,
        fragments,
        duration,
    }))
}

/// `init` (an init segment this crate wrote: `ftyp` + `moov` with a
/// version-0 `mvhd` and an `mvex`) announcing `duration`: `mvhd`'s
/// duration is set, as are each track's `tkhd` and `mdhd` durations, and
/// an `mehd` (ISO/IEC 14496-12 §8.8.2, the whole movie's fragment
/// duration) is put first in `mvex`, so a player knows the length of a
/// fragmented file before reading it all. `None` when the
/// boxes are not where this crate puts them.
pub fn init_with_duration(init: &[u8], duration: Duration) -> Option<Bytes> {
    fn size_at(b: &[u8], at: usize) -> Option<usize> {
        let s = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        (s >= 8 && at + s <= b.len()).then_some(s)
    }
    fn find(b: &[u8], from: usize, to: usize, kind: &[u8; 4]) -> Option<usize> {
        let mut at = from;
        while at + 8 <= to {
            let size = size_at(b, at)?;
            if b.get(at + 4..at + 8)? == kind {
                return Some(at);
            }
            at += size;
        }
        None
    }
    let moov = find(init, 0, init.len(), b"moov")?;
    let moov_end = moov + size_at(init, moov)?;
    let mvhd = find(init, moov + 8, moov_end, b"mvhd")?;
    let mvex = find(init, moov + 8, moov_end, b"mvex")?;
    if init.get(mvhd + 8) != Some(&0) {
        return None; // not version 0
    }
    let timescale = u64::from(u32::from_be_bytes(
        init.get(mvhd + 20..mvhd + 24)?.try_into().ok()?,
    ));
    let ticks = u32::try_from(duration.as_millis() as u64 * timescale / 1000).ok()?;
    let mut out = Vec::with_capacity(init.len() + 16);
    out.extend_from_slice(&init[..mvex + 8]);
    // mehd, version 0: size, type, version + flags, fragment_duration.
    out.extend_from_slice(&16u32.to_be_bytes());
    out.extend_from_slice(b"mehd");
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&ticks.to_be_bytes());
    out.extend_from_slice(&init[mvex + 8..]);
    let grow = |out: &mut Vec<u8>, at: usize| -> Option<()> {
        let size = u32::from_be_bytes(out.get(at..at + 4)?.try_into().ok()?);
        out.get_mut(at..at + 4)?
            .copy_from_slice(&(size + 16).to_be_bytes());
        Some(())
    };
    grow(&mut out, moov)?;
    grow(&mut out, mvex)?;
    out.get_mut(mvhd + 24..mvhd + 28)?
        .copy_from_slice(&ticks.to_be_bytes());
    // Each track's `tkhd` (movie timescale) and `mdhd` (its own): what a
    // reader that cannot seek (a pipe, an HTTP body without a length)
    // takes the length from. Both before `mvex`, so unmoved.
    let mut at = moov + 8;
    while let Some(trak) = find(&out, at, mvex, b"trak") {
        let trak_end = trak + size_at(&out, trak)?;
        if let Some(tkhd) = find(&out, trak + 8, trak_end, b"tkhd")
            && out.get(tkhd + 8) == Some(&0)
        {
            out.get_mut(tkhd + 28..tkhd + 32)?
                .copy_from_slice(&ticks.to_be_bytes());
        }
        if let Some(mdia) = find(&out, trak + 8, trak_end, b"mdia") {
            let mdia_end = mdia + size_at(&out, mdia)?;
            if let Some(mdhd) = find(&out, mdia + 8, mdia_end, b"mdhd")
                && out.get(mdhd + 8) == Some(&0)
            {
                let scale = u64::from(u32::from_be_bytes(
                    out.get(mdhd + 20..mdhd + 24)?.try_into().ok()?,
                ));
                let track = u32::try_from(duration.as_millis() as u64 * scale / 1000).unwrap_or(u32::MAX);
                out.get_mut(mdhd + 24..mdhd + 28)?
                    .copy_from_slice(&track.to_be_bytes());
            }
        }
        at = trak_end;
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamly_core::adapters::MemorySegmentSink;

    fn sample() -> VodPlaylist {
        let mut p = VodPlaylist::default();
        p.push("0.m4s".into(), Duration::from_millis(2_000), "init0.mp4".into());
        p.push("1.m4s".into(), Duration::from_millis(2_480), "init0.mp4".into());
        p.push("2.m4s".into(), Duration::from_millis(1_000), "init1.mp4".into());
        assert!(p.mark_gap("1.m4s"));
        assert!(!p.mark_gap("9.m4s"));
        p
    }

    #[test]
    fn renders_event_then_vod_and_parses_back() {
        let mut p = sample();
        let text = p.render();
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init0.mp4\"\n\
             #EXTINF:2.000,\n0.m4s\n#EXT-X-GAP\n#EXTINF:2.480,\n1.m4s\n#EXT-X-DISCONTINUITY\n\
             #EXT-X-MAP:URI=\"init1.mp4\"\n#EXTINF:1.000,\n2.m4s\n"
        );
        assert_eq!(VodPlaylist::parse(&text), p);
        p.ended = true;
        let text = p.render();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(text.ends_with("2.m4s\n#EXT-X-ENDLIST\n"));
        assert_eq!(VodPlaylist::parse(&text), p);
        assert_eq!(p.duration(), Duration::from_millis(5_480));
    }

    #[test]
    fn an_init_segment_learns_its_duration() {
        use crate::fmp4::init_segment;
        let init = init_segment(None, None);
        let patched = init_with_duration(&init, Duration::from_millis(10_010)).unwrap_or_default();
        assert_eq!(patched.len(), init.len() + 16);
        let at = patched.windows(4).position(|w| w == b"mehd").unwrap_or(0);
        assert_eq!(&patched[at + 8..at + 12], &10_010u32.to_be_bytes());
        let mvhd = patched.windows(4).position(|w| w == b"mvhd").unwrap_or(0);
        assert_eq!(&patched[mvhd + 20..mvhd + 24], &10_010u32.to_be_bytes());
        // Every box size still adds up: moov ends where the file ends.
        let moov = patched.windows(4).position(|w| w == b"moov").unwrap_or(0) - 4;
        let size = u32::from_be_bytes([
            patched[moov],
            patched[moov + 1],
            patched[moov + 2],
            patched[moov + 3],
        ]);
        assert_eq!(moov + size as usize, patched.len());
        assert_eq!(init_with_duration(b"junk", Duration::ZERO), None);
    }

    #[test]
    fn parsing_junk_never_panics() {
        for junk in [
            "",
            "#EXTINF:nan,\nx",
            "#EXT-X-MAP:URI=\"a\nb",
            "#EXTINF:-1,\nx",
            "x\ny",
        ] {
            let p = VodPlaylist::parse(junk);
            assert!(p.entries.is_empty(), "{junk:?}");
        }
    }

    async fn put(sink: &MemorySegmentSink, path: &str, data: &str) {
        let path = SegmentPath::parse(path).unwrap_or_else(|_| unreachable!());
        sink.put(&path, Bytes::from(data.to_owned()))
            .await
            .unwrap_or_else(|_| unreachable!());
    }

    #[tokio::test]
    async fn a_crashed_recording_is_ended_and_tidied() {
        let sink = MemorySegmentSink::default();
        let mut p = sample();
        p.entries.truncate(2);
        put(&sink, "recordings/r/index.m3u8", &p.render()).await;
        for f in ["init0.mp4", "0.m4s", "2.m4s"] {
            put(&sink, &format!("recordings/r/{f}"), f).await;
        }
        put(&sink, "recordings/other/0.m4s", "other").await;
        let done = finalize_recording(&sink, "recordings/r").await.ok().flatten();
        assert_eq!(
            done,
            Some(FinalizedRecording {
                segments: 2,
                duration: Duration::from_millis(4_480),
                removed: 1
            })
        );
        let path = SegmentPath::parse("recordings/r/index.m3u8").unwrap_or_else(|_| unreachable!());
        let text = sink.get(&path).await.ok().flatten().unwrap_or_default();
        let ended = VodPlaylist::parse(&String::from_utf8_lossy(&text));
        assert!(ended.ended);
        let parts = recording_mp4_parts(&sink, "recordings/r").await.ok().flatten();
        let parts = parts.unwrap_or_else(|| unreachable!());
        assert_eq!(parts.init.as_str(), "recordings/r/init0.mp4");
        // The gap is left out of the MP4, not out of its timeline.
        let fragments: Vec<&str> = parts.fragments.iter().map(SegmentPath::as_str).collect();
        assert_eq!(fragments, ["recordings/r/0.m4s"]);
        assert_eq!(parts.duration, Duration::from_millis(4_480));
        assert_eq!(
            finalize_recording(&sink, "recordings/none").await.ok(),
            Some(None)
        );
        assert_eq!(delete_recording(&sink, "recordings/r").await.ok(), Some(3));
        assert_eq!(sink.list("recordings/").await.map(|l| l.len()).ok(), Some(1));
        assert!(delete_recording(&sink, "../x").await.is_err());
    }
}
