//! The low-latency media playlist (RFC 8216bis, Apple's LL-HLS spec),
//! written by hand like the others in [`playlist`](crate::playlist).
//!
//! - `EXT-X-VERSION:9` (needed by `EXT-X-SKIP`; `EXT-X-PART` needs 6).
//! - `EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3×PART-TARGET,
//!   CAN-SKIP-UNTIL=6×TARGETDURATION` (§4.4.3.8; Apple asks for a hold back
//!   of at least three parts).
//! - `EXT-X-PART` on the segments within three target durations of the end
//!   (§4.4.4.9: older parts SHOULD be removed) and on the segment in
//!   progress; `INDEPENDENT=YES` on parts that start with a keyframe.
//! - `EXT-X-PRELOAD-HINT:TYPE=PART` naming the next part, always, until
//!   `EXT-X-ENDLIST` (§4.4.5.3).
//! - `EXT-X-PROGRAM-DATE-TIME` on every segment; `EXT-X-MAP` before the first
//!   and after each discontinuity (a new init segment).
//! - Delta updates (`_HLS_skip=YES`, §6.2.5.1): segments further than
//!   CAN-SKIP-UNTIL from the end are replaced by `EXT-X-SKIP`.
//! - The playlist persisted to the sink has none of the low-latency tags,
//!   and marks `EXT-X-GAP` the segments the sink never got.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::parts::Part;
use crate::window::{InitEntry, SegmentEntry, init_name, part_name, segment_name};

/// Parts are listed on the segments within this many target durations of
/// the playlist's end.
const PART_SPAN_TARGETS: u64 = 3;
/// `CAN-SKIP-UNTIL`, in target durations (the spec's minimum).
const SKIP_TARGETS: u64 = 6;

/// What the renderer needs of a window.
pub(crate) struct LlView<'a> {
    pub(crate) token: &'a str,
    pub(crate) target_duration: u64,
    pub(crate) part_target: Duration,
    pub(crate) segments: &'a VecDeque<Arc<SegmentEntry>>,
    pub(crate) pending: &'a [Arc<Part>],
    pub(crate) pending_init: Option<&'a InitEntry>,
    pub(crate) pending_discontinuity: bool,
    pub(crate) pending_start: Option<OffsetDateTime>,
    pub(crate) next_msn: u64,
    pub(crate) discontinuity_sequence: u64,
    pub(crate) ended: bool,
    /// Low-latency tags (parts, hints, server control); off for the plain
    /// playlist written to the sink.
    pub(crate) parts: bool,
    /// Segments marked `EXT-X-GAP` (not in the sink).
    pub(crate) gaps: &'a [u64],
}

impl LlView<'_> {
    fn skip_until(&self) -> Duration {
        Duration::from_secs(SKIP_TARGETS * self.target_duration)
    }

    /// How many leading segments a delta update skips: those that end
    /// further than CAN-SKIP-UNTIL from the end of the playlist.
    pub(crate) fn skipped_segments(&self) -> usize {
        let mut after: Duration = self.pending.iter().map(|p| p.duration).sum();
        let mut keep = 0;
        for s in self.segments.iter().rev() {
            if after >= self.skip_until() {
                break;
            }
            keep += 1;
            after += s.duration;
        }
        self.segments.len() - keep
    }

    /// Index of the first segment whose parts are listed.
    fn first_with_parts(&self) -> usize {
        first_with_parts(self.segments, self.pending, self.target_duration)
    }
}

/// Index of the first of `segments` whose parts a playlist lists: those
/// within [`PART_SPAN_TARGETS`] target durations of the end, counting the
/// `pending` parts.
pub(crate) fn first_with_parts(
    segments: &VecDeque<Arc<SegmentEntry>>,
    pending: &[Arc<Part>],
    target_duration: u64,
) -> usize {
    let span = Duration::from_secs(PART_SPAN_TARGETS * target_duration);
    let mut after: Duration = pending.iter().map(|p| p.duration).sum();
    let mut first = segments.len();
    for s in segments.iter().rev() {
        if after >= span {
            break;
        }
        first -= 1;
        after += s.duration;
    }
    first
}

/// The playlist text; `skip`: a delta update.
pub(crate) fn render_ll(v: &LlView<'_>, skip: bool) -> String {
    let mut s = String::with_capacity(512 + v.segments.len() * 120 + v.pending.len() * 80);
    let part_target = v.part_target.as_secs_f64();
    s.push_str("#EXTM3U\n#EXT-X-VERSION:9\n");
    let _ = writeln!(s, "#EXT-X-TARGETDURATION:{}", v.target_duration);
    if v.parts {
        let _ = writeln!(
            s,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3},CAN-SKIP-UNTIL={:.1}",
            3.0 * part_target,
            v.skip_until().as_secs_f64()
        );
        let _ = writeln!(s, "#EXT-X-PART-INF:PART-TARGET={part_target:.3}");
    }
    let first_msn = v.segments.front().map_or(v.next_msn, |s| s.msn);
    let _ = writeln!(s, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
    if v.discontinuity_sequence > 0 {
        let _ = writeln!(s, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", v.discontinuity_sequence);
    }
    let skipped = if skip { v.skipped_segments() } else { 0 };
    if skipped > 0 {
        let _ = writeln!(s, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
    }
    let first_parts = if v.parts { v.first_with_parts() } else { usize::MAX };
    let mut map: Option<u32> = None;
    for (i, seg) in v.segments.iter().enumerate().skip(skipped) {
        if seg.discontinuity && i > 0 {
            s.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map != Some(seg.init.generation) {
            let _ = writeln!(
                s,
                "#EXT-X-MAP:URI=\"{}\"",
                init_name(v.token, seg.init.generation)
            );
            map = Some(seg.init.generation);
        }
        write_date(&mut s, seg.program_date_time);
        if i >= first_parts {
            for (index, part) in seg.parts.iter().enumerate() {
                write_part(&mut s, v.token, seg.msn, index, part);
            }
        }
        if v.gaps.contains(&seg.msn) {
            s.push_str("#EXT-X-GAP\n");
        }
        let _ = writeln!(
            s,
            "#EXTINF:{:.3},\n{}",
            seg.duration.as_secs_f64(),
            segment_name(v.token, seg.msn)
        );
    }
    if v.parts && !v.ended {
        if let Some(init) = v.pending_init {
            if v.pending_discontinuity && !v.segments.is_empty() {
                s.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(init.generation) {
                let _ = writeln!(s, "#EXT-X-MAP:URI=\"{}\"", init_name(v.token, init.generation));
            }
        }
        if !v.pending.is_empty() {
            write_date(&mut s, v.pending_start);
        }
        for (index, part) in v.pending.iter().enumerate() {
            write_part(&mut s, v.token, v.next_msn, index, part);
        }
        let _ = writeln!(
            s,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
            part_name(v.token, v.next_msn, v.pending.len() as u64)
        );
    }
    if v.ended {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

fn write_part(s: &mut String, token: &str, msn: u64, index: usize, part: &Part) {
    let _ = write!(
        s,
        "#EXT-X-PART:DURATION={:.3},URI=\"{}\"",
        part.duration.as_secs_f64(),
        part_name(token, msn, index as u64)
    );
    if part.independent {
        s.push_str(",INDEPENDENT=YES");
    }
    s.push('\n');
}

fn write_date(s: &mut String, t: Option<OffsetDateTime>) {
    let Some(t) = t else { return };
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    if let Ok(text) = t.to_offset(time::UtcOffset::UTC).format(format) {
        let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{text}");
    }
}
