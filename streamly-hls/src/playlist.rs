//! Media and multivariant playlists (RFC 8216), written by hand: they are a
//! few lines of text and this keeps the format, and its allocations, ours.
//!
//! [`LivePlaylist`] is a sliding window (§6.2.2): segments leave from the
//! front and come back from [`LivePlaylist::push`] so the caller can delete
//! them after a grace period; `EXT-X-MEDIA-SEQUENCE` and
//! `EXT-X-DISCONTINUITY-SEQUENCE` advance as they go (§4.3.3.2, §4.3.3.3).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// The default number of segments in a live playlist.
pub const DEFAULT_WINDOW: usize = 6;

/// One segment as listed in a playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistEntry {
    /// The segment's URI, relative to the playlist (`1a2b_42.ts`).
    pub uri: String,
    /// Its duration (`EXTINF`).
    pub duration: Duration,
    /// Preceded by `EXT-X-DISCONTINUITY` (a republish, a new program).
    pub discontinuity: bool,
    /// Wall-clock time of its first frame (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time: Option<OffsetDateTime>,
}

/// A media playlist: live with a sliding window, or keeping every segment.
#[derive(Debug, Clone)]
pub struct LivePlaylist {
    window: Option<usize>,
    vod: bool,
    entries: VecDeque<PlaylistEntry>,
    media_sequence: u64,
    discontinuity_sequence: u64,
    target_duration: u64,
    ended: bool,
    pending_discontinuity: bool,
}

impl LivePlaylist {
    /// A live playlist listing the last `window` segments (all of them if
    /// `window` is 0), for segments aimed at `target`.
    pub fn live(window: usize, target: Duration) -> Self {
        Self {
            window: (window > 0).then_some(window),
            vod: false,
            entries: VecDeque::new(),
            media_sequence: 0,
            discontinuity_sequence: 0,
            target_duration: ceil_secs(target).max(1),
            ended: false,
            pending_discontinuity: false,
        }
    }

    /// A video-on-demand playlist: every segment, `EXT-X-PLAYLIST-TYPE:VOD`.
    pub fn vod(target: Duration) -> Self {
        Self {
            vod: true,
            ..Self::live(0, target)
        }
    }

    /// Appends a segment. Returns the segments that left the window, oldest
    /// first. Reopens an ended playlist (a republish), with a discontinuity.
    pub fn push(&mut self, mut entry: PlaylistEntry) -> Vec<PlaylistEntry> {
        if self.ended {
            self.ended = false;
            self.pending_discontinuity = true;
        }
        if mem_take(&mut self.pending_discontinuity) && !self.entries.is_empty() {
            entry.discontinuity = true;
        }
        if self.vod {
            // Written once, at the end: it can cover the longest segment.
            self.target_duration = self.target_duration.max(round_secs(entry.duration));
        } else if round_secs(entry.duration) > self.target_duration {
            tracing::warn!(
                uri = %entry.uri,
                duration = ?entry.duration,
                target = self.target_duration,
                "segment longer than the target duration (a gap in the timestamps?)"
            );
        }
        self.entries.push_back(entry);
        let mut removed = Vec::new();
        while let Some(window) = self.window
            && self.entries.len() > window
        {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.media_sequence += 1;
            // The next segment's discontinuity tag is about to fall off with
            // it; count it (§4.3.3.3).
            if self.entries.front().is_some_and(|e| e.discontinuity) {
                self.discontinuity_sequence += 1;
            }
            removed.push(old);
        }
        removed
    }

    /// Marks the next segment as following a discontinuity.
    pub fn mark_discontinuity(&mut self) {
        self.pending_discontinuity = true;
    }

    /// Ends the playlist (`EXT-X-ENDLIST`): the publisher left.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Whether the playlist has ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The segments listed now.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &PlaylistEntry> {
        self.entries.iter()
    }

    /// The media sequence number of the first listed segment.
    pub fn media_sequence(&self) -> u64 {
        self.media_sequence
    }

    /// The media sequence number the next segment will get.
    pub fn next_sequence(&self) -> u64 {
        self.media_sequence + self.entries.len() as u64
    }

    /// `EXT-X-TARGETDURATION`: the configured target rounded up to whole
    /// seconds. A live playlist never changes it (RFC 8216 §6.2.1): the
    /// [`Segmenter`](crate::Segmenter) cuts so that no segment exceeds it.
    /// A VOD playlist raises it to cover its longest segment.
    pub fn target_duration(&self) -> u64 {
        self.target_duration
    }

    /// The playlist text.
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(160 + self.entries.len() * 96);
        s.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
        let _ = writeln!(s, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        let _ = writeln!(s, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence);
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(s, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", self.discontinuity_sequence);
        }
        if self.vod && self.ended {
            s.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
        }
        for (i, e) in self.entries.iter().enumerate() {
            if e.discontinuity && i > 0 {
                s.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if let Some(t) = e.program_date_time {
                let format = format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                );
                if let Ok(text) = t.to_offset(time::UtcOffset::UTC).format(format) {
                    let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{text}");
                }
            }
            let _ = writeln!(s, "#EXTINF:{:.3},\n{}", e.duration.as_secs_f64(), e.uri);
        }
        if self.ended {
            s.push_str("#EXT-X-ENDLIST\n");
        }
        s
    }
}

fn mem_take(flag: &mut bool) -> bool {
    std::mem::replace(flag, false)
}

/// Seconds rounded up.
fn ceil_secs(d: Duration) -> u64 {
    (d.as_millis() as u64).div_ceil(1000)
}

/// Seconds rounded to the nearest integer (§4.3.3.1).
fn round_secs(d: Duration) -> u64 {
    (d.as_millis() as u64 + 500) / 1000
}

/// One variant of a multivariant playlist (§4.3.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The media playlist's URI, relative (`index.m3u8`).
    pub uri: String,
    /// Peak segment bit rate, bits per second.
    pub bandwidth: u64,
    /// Average bit rate over the segments so far, bits per second.
    pub average_bandwidth: Option<u64>,
    /// Picture size.
    pub resolution: Option<(u32, u32)>,
    /// RFC 6381 codec strings (`avc1.64001f`, `mp4a.40.2`).
    pub codecs: Vec<String>,
}

/// A multivariant (master) playlist text listing `variants`.
pub fn render_master(variants: &[Variant]) -> String {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for v in variants {
        let _ = write!(s, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if let Some(avg) = v.average_bandwidth {
            let _ = write!(s, ",AVERAGE-BANDWIDTH={}", avg.max(1));
        }
        if let Some((w, h)) = v.resolution {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        if !v.codecs.is_empty() {
            let _ = write!(s, ",CODECS=\"{}\"", v.codecs.join(","));
        }
        let _ = writeln!(s, "\n{}", v.uri);
    }
    s
}

#[cfg(test)]
#[path = "playlist_tests.rs"]
mod tests;
