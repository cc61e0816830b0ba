//! A strict Low-Latency HLS media-playlist parser and checker, for tests.
//!
//! `m3u8-rs` does not parse the LL-HLS tags, so this module does: it turns a
//! media playlist into an [`LlPlaylist`], [`check`] lists every rule a single
//! playlist breaks, and [`LlHistory`] lists the rules broken across the
//! successive reloads of one live playlist.
//!
//! The spec is draft-pantos-hls-rfc8216bis ("HLS 2nd edition"); section
//! numbers below are its numbers (§4.4.x tags, §6.2.x server rules,
//! Appendix B.1 the Low-Latency Server Configuration Profile). Apple's HLS
//! authoring specification ("Low-Latency HLS requirements", item 14.x) is
//! cited where it is stricter. Rules that are ours, not the spec's, are
//! marked **house rule** in the code and say so in their violation text.
//! Every violation starts with a `[rule-key]` so tests can match it.
//!
//! The parser is strict because our own muxer is the only producer: an
//! unknown `#EXT` tag, an unknown attribute of an LL tag, a malformed
//! attribute list or number is a parse error, where a player would ignore it.
//!
//! Depends on std only, so other crates' tests can include it with
//! `#[path = "../streamly-hls/tests/common/ll_hls.rs"] mod ll_hls;`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};

/// One parsed LL-HLS media playlist. Header values absent from the text are
/// zero (`version`, `target_duration`, `part_target`) or `None`, so that
/// [`check`] can report them.
#[derive(Debug, Clone, PartialEq)]
pub struct LlPlaylist {
    /// `EXT-X-VERSION` (0: absent).
    pub version: u32,
    /// `EXT-X-TARGETDURATION` in seconds (0: absent).
    pub target_duration: u64,
    /// `EXT-X-PART-INF:PART-TARGET` in seconds (0.0: absent).
    pub part_target: f64,
    /// `EXT-X-MEDIA-SEQUENCE` (default 0).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (default 0).
    pub discontinuity_sequence: u64,
    /// `EXT-X-SERVER-CONTROL` (all unset when absent).
    pub server_control: ServerControl,
    /// The URI of the first `EXT-X-MAP`, as written.
    pub map_uri: Option<String>,
    /// The full segments listed, in order (after any skipped ones).
    pub segments: Vec<LlSegment>,
    /// Parts after the last full segment: the segment in progress.
    pub pending_parts: Vec<LlPart>,
    /// The `EXT-X-PRELOAD-HINT` (the `TYPE=PART` one if there are two).
    pub preload_hint: Option<PreloadHint>,
    /// `EXT-X-SKIP:SKIPPED-SEGMENTS` (0: no skip tag).
    pub skipped_segments: u64,
    /// `EXT-X-ENDLIST` seen.
    pub ended: bool,
    /// `EXT-X-INDEPENDENT-SEGMENTS` seen.
    pub independent_segments: bool,
    /// Whether an `EXT-X-SKIP` tag was present (even with 0 segments).
    skip_present: bool,
    /// Whether `EXT-X-SERVER-CONTROL` was present.
    server_control_present: bool,
}

/// `EXT-X-SERVER-CONTROL` (§4.4.3.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerControl {
    /// `CAN-BLOCK-RELOAD=YES`.
    pub can_block_reload: bool,
    /// `PART-HOLD-BACK` in seconds.
    pub part_hold_back: Option<f64>,
    /// `HOLD-BACK` in seconds.
    pub hold_back: Option<f64>,
    /// `CAN-SKIP-UNTIL` (the Skip Boundary) in seconds.
    pub can_skip_until: Option<f64>,
}

/// A full media segment (`EXTINF` + URI) and the parts listed for it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlSegment {
    /// Media sequence number: `media_sequence + skipped_segments + index`.
    pub msn: u64,
    /// `EXTINF` duration in seconds.
    pub duration: f64,
    /// The URI line, as written.
    pub uri: String,
    /// Its `EXT-X-PART`s (empty once removed from the playlist).
    pub parts: Vec<LlPart>,
    /// `EXT-X-PROGRAM-DATE-TIME`, as written.
    pub program_date_time: Option<String>,
    /// Preceded by `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
}

/// An `EXT-X-PART` (§4.4.4.9).
#[derive(Debug, Clone, PartialEq)]
pub struct LlPart {
    /// `DURATION` in seconds.
    pub duration: f64,
    /// `URI`, as written.
    pub uri: String,
    /// `INDEPENDENT=YES`.
    pub independent: bool,
    /// `GAP=YES`.
    pub gap: bool,
}

/// An `EXT-X-PRELOAD-HINT` (§4.4.5.3).
#[derive(Debug, Clone, PartialEq)]
pub struct PreloadHint {
    /// `PART` or `MAP`.
    pub kind: String,
    /// `URI`, as written.
    pub uri: String,
}

// ---------------------------------------------------------------- parsing

/// Tags we know but whose content no rule here needs; accepted as they are.
const PASSIVE_TAGS: &[&str] = &[
    "EXT-X-PLAYLIST-TYPE",
    "EXT-X-KEY",
    "EXT-X-BYTERANGE",
    "EXT-X-GAP",
    "EXT-X-BITRATE",
    "EXT-X-DATERANGE",
    "EXT-X-START",
    "EXT-X-DEFINE",
];

/// Segment tags seen since the last URI line, waiting for it.
#[derive(Default)]
struct Open {
    duration: Option<f64>,
    parts: Vec<LlPart>,
    program_date_time: Option<String>,
    discontinuity: bool,
}

impl LlPlaylist {
    /// Parses a media playlist strictly. Errors name the line number.
    ///
    /// URIs are kept as written (relative); see [`resolve_uri`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = LlPlaylist {
            version: 0,
            target_duration: 0,
            part_target: 0.0,
            media_sequence: 0,
            discontinuity_sequence: 0,
            server_control: ServerControl::default(),
            map_uri: None,
            segments: Vec::new(),
            pending_parts: Vec::new(),
            preload_hint: None,
            skipped_segments: 0,
            ended: false,
            independent_segments: false,
            skip_present: false,
            server_control_present: false,
        };
        // §4.1: UTF-8 without BOM.
        if text.starts_with('\u{feff}') {
            return Err("line 1: byte order mark (§4.1)".into());
        }
        let mut seen: HashSet<&'static str> = HashSet::new();
        let mut open = Open::default();
        let mut hint_seen: HashSet<String> = HashSet::new();
        let mut hint_line = None;
        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let err = |m: &str| format!("line {n}: {m}: {line:?}");
            // §4.1: no control characters except CR/LF.
            if line.chars().any(|c| c.is_control() && c != '\t') {
                return Err(err("control character (§4.1)"));
            }
            if n == 1 {
                if line != "#EXTM3U" {
                    return Err(err("first line must be #EXTM3U (§4.4.1.1)"));
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            if line.trim() != line {
                return Err(err("leading or trailing whitespace (§4.1)"));
            }
            if !line.starts_with('#') {
                // A segment URI line (§4.4.4.1: each needs its EXTINF).
                if hint_line.is_some() {
                    return Err(err("segment after EXT-X-PRELOAD-HINT"));
                }
                let Some(duration) = open.duration.take() else {
                    return Err(err("URI line without EXTINF (§4.4.4.1)"));
                };
                // This msn, and the next two, must fit in 64 bits (so that
                // `next_msn() + 1` does).
                let msn = p
                    .media_sequence
                    .checked_add(p.skipped_segments)
                    .and_then(|m| m.checked_add(p.segments.len() as u64))
                    .filter(|m| m.checked_add(2).is_some())
                    .ok_or_else(|| err("media sequence number overflows"))?;
                let o = std::mem::take(&mut open);
                p.segments.push(LlSegment {
                    msn,
                    duration,
                    uri: line.to_owned(),
                    parts: o.parts,
                    program_date_time: o.program_date_time,
                    discontinuity: o.discontinuity,
                });
                continue;
            }
            if !line.starts_with("#EXT") {
                continue; // a comment
            }
            let (tag, value) = match line[1..].split_once(':') {
                Some((t, v)) => (t, Some(v)),
                None => (&line[1..], None),
            };
            let no_value = || match value {
                None => Ok(()),
                Some(_) => Err(err("tag takes no value")),
            };
            let need = || value.ok_or_else(|| err("tag needs a value"));
            // Tags that appear at most once (§4.4.1.2, §4.4.3, §4.4.5.2).
            let once = [
                "EXTM3U",
                "EXT-X-VERSION",
                "EXT-X-TARGETDURATION",
                "EXT-X-MEDIA-SEQUENCE",
                "EXT-X-DISCONTINUITY-SEQUENCE",
                "EXT-X-PART-INF",
                "EXT-X-SERVER-CONTROL",
                "EXT-X-SKIP",
                "EXT-X-ENDLIST",
                "EXT-X-INDEPENDENT-SEGMENTS",
                "EXT-X-PLAYLIST-TYPE",
            ];
            if let Some(t) = once.iter().find(|t| **t == tag)
                && !seen.insert(*t)
            {
                return Err(err("tag appears more than once"));
            }
            let any_segment = !p.segments.is_empty() || open.duration.is_some() || !open.parts.is_empty();
            match tag {
                "EXTM3U" => return Err(err("#EXTM3U not on the first line")),
                "EXT-X-VERSION" => {
                    let v = decimal_integer(need()?).map_err(|e| err(&e))?;
                    p.version = u32::try_from(v).map_err(|_| err("version out of range"))?;
                    if p.version == 0 {
                        return Err(err("version 0"));
                    }
                }
                "EXT-X-TARGETDURATION" => {
                    p.target_duration = decimal_integer(need()?).map_err(|e| err(&e))?;
                    if p.target_duration == 0 {
                        return Err(err("target duration 0"));
                    }
                }
                "EXT-X-MEDIA-SEQUENCE" | "EXT-X-DISCONTINUITY-SEQUENCE" => {
                    // §4.4.3.2, §4.4.3.3: before the first Media Segment.
                    if any_segment {
                        return Err(err("must appear before the first segment (§4.4.3.2)"));
                    }
                    let v = decimal_integer(need()?).map_err(|e| err(&e))?;
                    if tag == "EXT-X-MEDIA-SEQUENCE" {
                        p.media_sequence = v;
                    } else {
                        p.discontinuity_sequence = v;
                    }
                }
                "EXT-X-INDEPENDENT-SEGMENTS" => {
                    no_value()?;
                    p.independent_segments = true;
                }
                "EXT-X-ENDLIST" => {
                    no_value()?;
                    p.ended = true;
                }
                "EXT-X-PART-INF" => {
                    let a = attributes(need()?, &["PART-TARGET"]).map_err(|e| err(&e))?;
                    p.part_target = a
                        .float("PART-TARGET")
                        .map_err(|e| err(&e))?
                        .ok_or_else(|| err("PART-TARGET is REQUIRED (§4.4.3.7)"))?;
                    if p.part_target <= 0.0 {
                        return Err(err("PART-TARGET must be positive"));
                    }
                }
                "EXT-X-SERVER-CONTROL" => {
                    let a = attributes(
                        need()?,
                        &[
                            "CAN-BLOCK-RELOAD",
                            "PART-HOLD-BACK",
                            "HOLD-BACK",
                            "CAN-SKIP-UNTIL",
                            "CAN-SKIP-DATERANGES",
                        ],
                    )
                    .map_err(|e| err(&e))?;
                    p.server_control_present = true;
                    p.server_control = ServerControl {
                        can_block_reload: a.yes("CAN-BLOCK-RELOAD").map_err(|e| err(&e))?,
                        part_hold_back: a.float("PART-HOLD-BACK").map_err(|e| err(&e))?,
                        hold_back: a.float("HOLD-BACK").map_err(|e| err(&e))?,
                        can_skip_until: a.float("CAN-SKIP-UNTIL").map_err(|e| err(&e))?,
                    };
                    // §4.4.3.8: CAN-SKIP-DATERANGES REQUIRES CAN-SKIP-UNTIL.
                    if a.yes("CAN-SKIP-DATERANGES").map_err(|e| err(&e))?
                        && p.server_control.can_skip_until.is_none()
                    {
                        return Err(err("CAN-SKIP-DATERANGES without CAN-SKIP-UNTIL (§4.4.3.8)"));
                    }
                }
                "EXT-X-MAP" => {
                    let a = attributes(need()?, &["URI", "BYTERANGE"]).map_err(|e| err(&e))?;
                    let uri = a
                        .quoted("URI")
                        .map_err(|e| err(&e))?
                        .ok_or_else(|| err("URI is REQUIRED (§4.4.4.5)"))?;
                    if let Some(r) = a.quoted("BYTERANGE").map_err(|e| err(&e))? {
                        byterange(&r).map_err(|e| err(&e))?;
                    }
                    // §4.4.4.9: a Parent Segment's MAP precedes its first part.
                    if !open.parts.is_empty() {
                        return Err(err("EXT-X-MAP after the segment's first EXT-X-PART (§4.4.4.9)"));
                    }
                    p.map_uri.get_or_insert(uri);
                }
                "EXT-X-PROGRAM-DATE-TIME" => {
                    let v = need()?;
                    pdt_millis(v).ok_or_else(|| err("not an ISO 8601 date-time with zone (§4.4.4.6)"))?;
                    if !open.parts.is_empty() {
                        return Err(err(
                            "EXT-X-PROGRAM-DATE-TIME after the segment's first EXT-X-PART (§4.4.4.9)",
                        ));
                    }
                    open.program_date_time = Some(v.to_owned());
                }
                "EXT-X-DISCONTINUITY" => {
                    no_value()?;
                    if !open.parts.is_empty() {
                        return Err(err(
                            "EXT-X-DISCONTINUITY after the segment's first EXT-X-PART (§4.4.4.9)",
                        ));
                    }
                    open.discontinuity = true;
                }
                "EXTINF" => {
                    if hint_line.is_some() {
                        return Err(err("segment after EXT-X-PRELOAD-HINT"));
                    }
                    if open.duration.is_some() {
                        return Err(err("two EXTINF for one segment"));
                    }
                    // §4.4.4.1: #EXTINF:<duration>,[<title>]
                    let (d, _title) = need()?
                        .split_once(',')
                        .ok_or_else(|| err("EXTINF needs a comma (§4.4.4.1)"))?;
                    open.duration = Some(decimal_float(d).map_err(|e| err(&e))?);
                }
                "EXT-X-PART" => {
                    if hint_line.is_some() {
                        return Err(err("EXT-X-PART after EXT-X-PRELOAD-HINT"));
                    }
                    if open.duration.is_some() {
                        return Err(err("EXT-X-PART between EXTINF and its URI"));
                    }
                    let a = attributes(need()?, &["DURATION", "URI", "INDEPENDENT", "BYTERANGE", "GAP"])
                        .map_err(|e| err(&e))?;
                    if let Some(r) = a.quoted("BYTERANGE").map_err(|e| err(&e))? {
                        byterange(&r).map_err(|e| err(&e))?;
                    }
                    open.parts.push(LlPart {
                        duration: a
                            .float("DURATION")
                            .map_err(|e| err(&e))?
                            .ok_or_else(|| err("DURATION is REQUIRED (§4.4.4.9)"))?,
                        uri: a
                            .quoted("URI")
                            .map_err(|e| err(&e))?
                            .ok_or_else(|| err("URI is REQUIRED (§4.4.4.9)"))?,
                        independent: a.yes("INDEPENDENT").map_err(|e| err(&e))?,
                        gap: a.yes("GAP").map_err(|e| err(&e))?,
                    });
                }
                "EXT-X-PRELOAD-HINT" => {
                    let a = attributes(need()?, &["TYPE", "URI", "BYTERANGE-START", "BYTERANGE-LENGTH"])
                        .map_err(|e| err(&e))?;
                    let kind = a
                        .enumerated("TYPE")
                        .ok_or_else(|| err("TYPE is REQUIRED (§4.4.5.3)"))?;
                    if kind != "PART" && kind != "MAP" {
                        return Err(err("TYPE must be PART or MAP (§4.4.5.3)"));
                    }
                    let uri = a
                        .quoted("URI")
                        .map_err(|e| err(&e))?
                        .ok_or_else(|| err("URI is REQUIRED (§4.4.5.3)"))?;
                    a.integer("BYTERANGE-START").map_err(|e| err(&e))?;
                    a.integer("BYTERANGE-LENGTH").map_err(|e| err(&e))?;
                    // §6.2.6: SHOULD NOT add more than one hint of a TYPE.
                    // House rule: strict, a parse error.
                    if !hint_seen.insert(kind.clone()) {
                        return Err(err(
                            "two EXT-X-PRELOAD-HINTs of one TYPE (§6.2.6 SHOULD NOT; house: error)",
                        ));
                    }
                    hint_line = Some(n);
                    let h = PreloadHint { kind, uri };
                    if p.preload_hint.as_ref().is_none_or(|old| old.kind != "PART") {
                        p.preload_hint = Some(h);
                    }
                }
                "EXT-X-SKIP" => {
                    // The tag replaces the skipped segments: before any listed.
                    if any_segment {
                        return Err(err("EXT-X-SKIP after the first listed segment (§4.4.5.2)"));
                    }
                    let a = attributes(need()?, &["SKIPPED-SEGMENTS", "RECENTLY-REMOVED-DATERANGES"])
                        .map_err(|e| err(&e))?;
                    p.skipped_segments = a
                        .integer("SKIPPED-SEGMENTS")
                        .map_err(|e| err(&e))?
                        .ok_or_else(|| err("SKIPPED-SEGMENTS is REQUIRED (§4.4.5.2)"))?;
                    a.quoted("RECENTLY-REMOVED-DATERANGES").map_err(|e| err(&e))?;
                    p.skip_present = true;
                }
                "EXT-X-RENDITION-REPORT" => {
                    let a = attributes(need()?, &["URI", "LAST-MSN", "LAST-PART"]).map_err(|e| err(&e))?;
                    a.quoted("URI").map_err(|e| err(&e))?;
                    a.integer("LAST-MSN").map_err(|e| err(&e))?;
                    a.integer("LAST-PART").map_err(|e| err(&e))?;
                }
                t if PASSIVE_TAGS.contains(&t) => {}
                _ => return Err(err("unknown tag")),
            }
        }
        if open.duration.is_some() {
            return Err("EXTINF without a URI line at the end".into());
        }
        // Keep `next_msn() + 1` in range, so no caller arithmetic overflows
        // (each segment URI line checked its own msn).
        if p.media_sequence
            .checked_add(p.skipped_segments)
            .and_then(|m| m.checked_add(2))
            .is_none()
        {
            return Err("media sequence number overflows".into());
        }
        p.pending_parts = open.parts;
        Ok(p)
    }

    /// The media sequence number and part index of the next part: the one
    /// a `TYPE=PART` preload hint names. If the in-progress segment ends
    /// first, the hinted part becomes part 0 of the following segment
    /// (§6.2.5.2 treats a part index past the last as that).
    pub fn next_msn_part(&self) -> (u64, u64) {
        (self.next_msn(), self.pending_parts.len() as u64)
    }

    /// The msn of the segment in progress.
    fn next_msn(&self) -> u64 {
        self.media_sequence + self.skipped_segments + self.segments.len() as u64
    }

    /// Every listed part with its msn and part index, oldest first, the
    /// in-progress segment's last.
    ///
    /// Part indices count from the first listed part of each segment: parts
    /// are removed a whole segment at a time (a house rule [`check`]
    /// enforces through the part-sum rule).
    pub fn all_parts(&self) -> impl Iterator<Item = (u64, u64, &LlPart)> {
        let next = self.next_msn();
        self.segments
            .iter()
            .flat_map(|s| s.parts.iter().enumerate().map(move |(i, p)| (s.msn, i as u64, p)))
            .chain(
                self.pending_parts
                    .iter()
                    .enumerate()
                    .map(move |(i, p)| (next, i as u64, p)),
            )
    }

    /// Total seconds after the end of segment `i`: later segments and the
    /// pending parts.
    fn distance_after(&self, i: usize) -> f64 {
        let later: f64 = self.segments[i + 1..].iter().map(|s| s.duration).sum();
        later + self.pending_parts.iter().map(|p| p.duration).sum::<f64>()
    }
}

/// An attribute list (§4.2), by name.
struct Attrs(HashMap<String, String>);

/// Parses `NAME=VALUE,...` strictly: names `[A-Z0-9-]+`, values a
/// quoted-string or an unquoted token, no duplicates (§4.2), and only the
/// `allowed` names (house rule: our LL tags carry no others).
fn attributes(s: &str, allowed: &[&str]) -> Result<Attrs, String> {
    let mut out = HashMap::new();
    let mut rest = s;
    loop {
        let eq = rest.find('=').ok_or("attribute without '='")?;
        let name = &rest[..eq];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("bad attribute name {name:?} (§4.2)"));
        }
        if !allowed.contains(&name) {
            return Err(format!("unknown attribute {name}"));
        }
        rest = &rest[eq + 1..];
        let (value, after) = if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').ok_or("unterminated quoted-string (§4.2)")?;
            (&rest[..end + 2], &q[end + 1..])
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let v = &rest[..end];
            if v.is_empty() || v.contains(['"', ' ', '\t', '=']) {
                return Err(format!("bad value for {name} (§4.2)"));
            }
            (v, &rest[end..])
        };
        if out.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(format!("duplicate attribute {name} (§4.2)"));
        }
        if after.is_empty() {
            return Ok(Attrs(out));
        }
        rest = after
            .strip_prefix(',')
            .ok_or_else(|| format!("junk after {name} (§4.2)"))?;
        if rest.is_empty() {
            return Err("trailing comma (§4.2)".into());
        }
    }
}

impl Attrs {
    fn quoted(&self, name: &str) -> Result<Option<String>, String> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) if v.len() >= 2 => Ok(Some(inner.to_owned())),
                _ => Err(format!("{name} must be a quoted-string")),
            },
        }
    }
    fn unquoted(&self, name: &str) -> Result<Option<&str>, String> {
        match self.0.get(name) {
            Some(v) if v.starts_with('"') => Err(format!("{name} must not be quoted")),
            v => Ok(v.map(String::as_str)),
        }
    }
    fn float(&self, name: &str) -> Result<Option<f64>, String> {
        self.unquoted(name)?
            .map(decimal_float)
            .transpose()
            .map_err(|e| format!("{name}: {e}"))
    }
    fn integer(&self, name: &str) -> Result<Option<u64>, String> {
        self.unquoted(name)?
            .map(decimal_integer)
            .transpose()
            .map_err(|e| format!("{name}: {e}"))
    }
    fn enumerated(&self, name: &str) -> Option<String> {
        self.unquoted(name).ok().flatten().map(str::to_owned)
    }
    /// An enumerated-string that is `YES` (or `NO`); absent is `NO`.
    fn yes(&self, name: &str) -> Result<bool, String> {
        match self.unquoted(name)? {
            None | Some("NO") => Ok(false),
            Some("YES") => Ok(true),
            Some(v) => Err(format!("{name} must be YES or NO, not {v:?}")),
        }
    }
}

/// decimal-integer (§4.2): `[0-9]+`, fitting 64 bits.
fn decimal_integer(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("not a decimal-integer: {s:?}"));
    }
    s.parse()
        .map_err(|_| format!("decimal-integer out of range: {s:?}"))
}

/// decimal-floating-point (§4.2): `[0-9]+(\.[0-9]+)?`, no sign or exponent.
fn decimal_float(s: &str) -> Result<f64, String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || int.len() > 15 {
        return Err(format!("not a decimal-floating-point: {s:?}"));
    }
    s.parse()
        .map_err(|_| format!("not a decimal-floating-point: {s:?}"))
}

/// `<n>[@<o>]` (§4.4.4.2).
fn byterange(s: &str) -> Result<(), String> {
    let (n, o) = s.split_once('@').unwrap_or((s, "0"));
    decimal_integer(n)?;
    decimal_integer(o)?;
    Ok(())
}

/// Milliseconds since the Unix epoch of an ISO 8601 date-time with a time
/// zone, `YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm|±hhmm]` (§4.4.4.6); `None` when
/// garbled.
pub fn pdt_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        millis = frac.parse::<i64>().ok()? * 10_i64.pow(3 - frac.len() as u32);
    }
    let offset_min = match s.get(i..)? {
        "Z" => 0,
        z if z.len() == 6 || z.len() == 5 => {
            let sign = match z.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (zh, zm) = if z.len() == 6 {
                if z.as_bytes()[3] != b':' {
                    return None;
                }
                (num(i + 1..i + 3)?, num(i + 4..i + 6)?)
            } else {
                (num(i + 1..i + 3)?, num(i + 3..i + 5)?)
            };
            sign * (zh * 60 + zm)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + millis)
}

/// Resolves `uri` against the playlist URL `base` (RFC 3986 §5.2, enough
/// for playlists: absolute, network-path, absolute-path, query-only and
/// relative references; `?query`/`#fragment` of `base` are dropped).
pub fn resolve_uri(base_url: &str, uri: &str) -> String {
    let has_scheme = uri.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if has_scheme {
        return uri.to_owned();
    }
    let base = base_url.split('#').next().unwrap_or(base_url);
    let (base_path_part, _query) = base.split_once('?').unwrap_or((base, ""));
    let (scheme, rest) = match base_path_part.split_once("://") {
        Some((s, r)) => (format!("{s}:"), r),
        None => (String::new(), base_path_part),
    };
    let (authority, path) = if scheme.is_empty() {
        ("", rest)
    } else {
        match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        }
    };
    let prefix = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}//{authority}")
    };
    if let Some(net) = uri.strip_prefix("//") {
        return format!("{scheme}//{net}");
    }
    if uri.is_empty() {
        return base.to_owned();
    }
    if uri.starts_with('?') {
        return format!("{prefix}{path}{uri}");
    }
    let (uri_path, uri_tail) = match uri.find(['?', '#']) {
        Some(i) => (&uri[..i], &uri[i..]),
        None => (uri, ""),
    };
    let merged = if uri_path.starts_with('/') {
        uri_path.to_owned()
    } else {
        let dir = path.rfind('/').map_or("", |i| &path[..=i]);
        let dir = if dir.is_empty() && !authority.is_empty() {
            "/"
        } else {
            dir
        };
        format!("{dir}{uri_path}")
    };
    // Remove dot segments (RFC 3986 §5.2.4).
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = merged.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 || out.first().is_some_and(|s| !s.is_empty()) {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut path = out.join("/");
    if merged.starts_with('/') && !path.starts_with('/') {
        path.insert(0, '/');
    }
    format!("{prefix}{path}{uri_tail}")
}

// ---------------------------------------------------------------- checking

/// Allowance for durations written with 3 decimals.
const ROUNDING: f64 = 0.001;
/// Comparison slack for products of f64s.
const EPS: f64 = 1e-9;

/// Every rule a single playlist must follow; returns the violations (empty:
/// OK). Each starts with `[rule-key]` and names the spec section, or says
/// "house rule".
pub fn check(p: &LlPlaylist) -> Vec<String> {
    let mut v = Vec::new();
    let mut bad = |key: &str, msg: String| v.push(format!("[{key}] {msg}"));
    let td = p.target_duration as f64;
    let pt = p.part_target;
    let has_parts = p.all_parts().next().is_some();

    // §4.4.1.2; version 6 for EXT-X-MAP without I-FRAMES-ONLY (§4.4.4.5,
    // §8), 9 for EXT-X-SKIP (§8). The LL tags have no floor of their own;
    // 6 is what Apple's LL example uses.
    if p.version == 0 {
        bad(
            "version-missing",
            "no EXT-X-VERSION (§4.4.1.2; house rule: always write it)".into(),
        );
    } else {
        let need = if p.skip_present { 9 } else { 6 };
        if p.version < need {
            bad(
                "version-too-low",
                format!(
                    "EXT-X-VERSION {} < {need} (§8: 6 for EXT-X-MAP, 9 for EXT-X-SKIP)",
                    p.version
                ),
            );
        }
    }
    // §4.4.3.1: REQUIRED; each EXTINF rounded to nearest <= it (MUST).
    if p.target_duration == 0 {
        bad(
            "target-missing",
            "no EXT-X-TARGETDURATION (§4.4.3.1 REQUIRED)".into(),
        );
    }
    for s in &p.segments {
        if s.duration <= 0.0 {
            bad(
                "duration-not-positive",
                format!("segment {} EXTINF {} (house rule: positive)", s.msn, s.duration),
            );
        }
        if p.target_duration > 0 && s.duration.round() > td {
            bad(
                "extinf-over-target",
                format!(
                    "segment {} EXTINF {} rounds above TARGETDURATION {} (§4.4.3.1 MUST)",
                    s.msn, s.duration, p.target_duration
                ),
            );
        }
    }
    // §3.1.2 / §4.4.4.5: fMP4 segments need their Media Initialization
    // Section, given by EXT-X-MAP (MUST).
    if p.map_uri.is_none() {
        bad("map-missing", "no EXT-X-MAP (§4.4.4.5; fMP4 needs it)".into());
    }
    // §4.4.3.7: REQUIRED with parts; house rule: always (we are LL).
    if pt <= 0.0 {
        bad(
            "part-inf-missing",
            "no EXT-X-PART-INF:PART-TARGET (§4.4.3.7 REQUIRED with parts; house rule: always)".into(),
        );
    }
    // §4.4.3.8 / Appendix B.1 (server MUST support Blocking Playlist Reload).
    if !p.server_control_present {
        bad(
            "server-control-missing",
            "no EXT-X-SERVER-CONTROL (§4.4.3.8, Appendix B.1)".into(),
        );
    }
    if !p.server_control.can_block_reload {
        bad(
            "can-block-reload",
            "no CAN-BLOCK-RELOAD=YES (Appendix B.1: blocking reload is required)".into(),
        );
    }
    match p.server_control.part_hold_back {
        None if pt > 0.0 => bad(
            "part-hold-back-missing",
            "no PART-HOLD-BACK with EXT-X-PART-INF (§4.4.3.8 REQUIRED)".into(),
        ),
        Some(phb) if pt > 0.0 && phb + EPS < 2.0 * pt => bad(
            "part-hold-back-too-small",
            format!("PART-HOLD-BACK {phb} < 2 x PART-TARGET {pt} (§4.4.3.8 MUST)"),
        ),
        Some(phb) if pt > 0.0 && phb + EPS < 3.0 * pt => bad(
            "part-hold-back-too-small",
            format!(
                "PART-HOLD-BACK {phb} < 3 x PART-TARGET {pt} (house rule: §4.4.3.8 SHOULD, Apple authoring spec 14.3 MUST)"
            ),
        ),
        _ => {}
    }
    if let Some(hb) = p.server_control.hold_back
        && hb + EPS < 3.0 * td
    {
        bad(
            "hold-back-too-small",
            format!("HOLD-BACK {hb} < 3 x TARGETDURATION (§4.4.3.8 MUST)"),
        );
    }
    if let Some(cs) = p.server_control.can_skip_until
        && cs + EPS < 6.0 * td
    {
        bad(
            "can-skip-until-too-small",
            format!("CAN-SKIP-UNTIL {cs} < 6 x TARGETDURATION (§4.4.3.8 MUST)"),
        );
    }

    // Parts (§4.4.4.9).
    let n = p.segments.len();
    let groups = p
        .segments
        .iter()
        .map(|s| (s.msn, &s.parts[..], true))
        .chain(std::iter::once((p.next_msn(), &p.pending_parts[..], false)));
    for (msn, parts, finished) in groups {
        for (i, part) in parts.iter().enumerate() {
            if part.duration <= 0.0 {
                bad(
                    "duration-not-positive",
                    format!("part {msn}.{i} DURATION {} (house rule: positive)", part.duration),
                );
            }
            if pt > 0.0 && part.duration > pt + ROUNDING {
                bad(
                    "part-too-long",
                    format!(
                        "part {msn}.{i} lasts {} > PART-TARGET {pt} (§4.4.4.9 MUST)",
                        part.duration
                    ),
                );
            }
            // Only a finished segment's last part is known to be final; the
            // in-progress segment's parts are all non-final.
            let is_final = finished && i + 1 == parts.len();
            let next_gap = parts.get(i + 1).is_some_and(|q| q.gap);
            if pt > 0.0 && !is_final && !part.gap && !next_gap && part.duration + EPS < 0.85 * pt {
                let why = if part.independent {
                    "house rule: the spec exempts INDEPENDENT parts, iOS rejects the jitter"
                } else {
                    "§4.4.4.9 MUST"
                };
                bad(
                    "part-too-short",
                    format!(
                        "part {msn}.{i} lasts {} < 0.85 x PART-TARGET {pt} ({why})",
                        part.duration
                    ),
                );
            }
        }
        // House rule: our segments start at keyframes, so the first part
        // is independent (§4.4.4.9 SHOULD mark independent parts).
        if let Some(first) = parts.first()
            && !first.independent
            && !first.gap
        {
            bad(
                "first-part-not-independent",
                format!("part {msn}.0 lacks INDEPENDENT=YES (house rule; §4.4.4.9 SHOULD)"),
            );
        }
    }
    // §3.2 MUST: a Parent Segment and its parts hold the same samples, same
    // timing; ±1 ms per part for rounding (house tolerance). This also
    // enforces the house rule that parts go a whole segment at a time.
    for s in p.segments.iter().filter(|s| !s.parts.is_empty()) {
        let sum: f64 = s.parts.iter().map(|q| q.duration).sum();
        if (sum - s.duration).abs() > ROUNDING * s.parts.len() as f64 + EPS {
            bad(
                "part-sum-mismatch",
                format!(
                    "segment {} parts sum to {sum:.5} but EXTINF is {} (§3.2 MUST)",
                    s.msn, s.duration
                ),
            );
        }
    }
    // Part retention (§6.2.2). Parts MUST be removed in playlist order, so
    // the segments carrying parts are a suffix of the list.
    if let Some(first) = p.segments.iter().position(|s| !s.parts.is_empty())
        && let Some(gap) = p.segments[first..].iter().find(|s| s.parts.is_empty())
    {
        bad(
            "parts-not-suffix",
            format!(
                "segment {} has no parts but an older one has (§6.2.2 MUST: remove in order)",
                gap.msn
            ),
        );
    }
    if td > 0.0 && (has_parts || pt > 0.0) {
        for i in 0..n {
            let s = &p.segments[i];
            let after = p.distance_after(i);
            // House rule: parts stay on every segment ending within three
            // target durations of the playlist end (the spec only says they
            // SHOULD go after that), so a client at PART-HOLD-BACK has them.
            if !p.ended && after + EPS < 3.0 * td && s.parts.is_empty() {
                bad(
                    "parts-missing-near-edge",
                    format!(
                        "segment {} ends {after:.3}s from the end but lists no parts (house rule: keep parts for 3 x TARGETDURATION)",
                        s.msn
                    ),
                );
            }
            // §6.2.2 SHOULD remove after three target durations; we allow
            // one more target duration of slack (house threshold).
            if after > 4.0 * td + EPS && !s.parts.is_empty() {
                bad(
                    "parts-kept-too-long",
                    format!(
                        "segment {} ends {after:.3}s from the end but still lists parts (§6.2.2 SHOULD remove after 3 x TARGETDURATION; house slack 1 x)",
                        s.msn
                    ),
                );
            }
        }
    }

    // Preload hint (§4.4.5.3, §6.2.6).
    if p.ended {
        if p.preload_hint.is_some() {
            bad(
                "preload-hint-after-endlist",
                "EXT-X-PRELOAD-HINT with EXT-X-ENDLIST (§4.4.5.3 MUST NOT)".into(),
            );
        }
    } else if p.preload_hint.as_ref().is_none_or(|h| h.kind != "PART") {
        bad(
            "preload-hint-missing",
            "no EXT-X-PRELOAD-HINT:TYPE=PART in a live playlist (house rule; §6.2.6 makes hints optional)"
                .into(),
        );
    }

    // PDT: Appendix B.1 requires EXT-X-PROGRAM-DATE-TIME in LL playlists;
    // the first listed segment must carry one for it to map all. Increasing
    // PDTs: house rule.
    // A delta update skips the first segment's PDT with it (§4.4.5.2).
    if let Some(first) = p.segments.first().filter(|_| !p.skip_present)
        && first.program_date_time.is_none()
    {
        bad(
            "pdt-missing",
            format!(
                "first listed segment {} has no EXT-X-PROGRAM-DATE-TIME (Appendix B.1)",
                first.msn
            ),
        );
    }
    let mut last: Option<(u64, i64)> = None;
    for s in &p.segments {
        if let Some(t) = s.program_date_time.as_deref().and_then(pdt_millis) {
            if let Some((m, prev)) = last
                && t <= prev
            {
                bad(
                    "pdt-not-increasing",
                    format!("segment {} PDT is not after segment {m}'s (house rule)", s.msn),
                );
            }
            last = Some((s.msn, t));
        }
    }

    // Delta updates (§4.4.5.2, §6.2.5.1).
    if p.skip_present {
        if p.ended {
            bad(
                "skip-invalid",
                "EXT-X-SKIP with EXT-X-ENDLIST (§6.2.5.1: the server MUST ignore _HLS_skip then)".into(),
            );
        }
        match p.server_control.can_skip_until {
            None => bad(
                "skip-invalid",
                "EXT-X-SKIP without CAN-SKIP-UNTIL (§6.2.5.1)".into(),
            ),
            Some(cs) => {
                // Segments within the Skip Boundary of the last segment's
                // end are never skipped; one target duration of slack for
                // where a segment counts as "further".
                let listed: f64 = p.segments.iter().map(|s| s.duration).sum();
                if p.skipped_segments > 0 && listed + td + EPS < cs {
                    bad(
                        "skip-invalid",
                        format!(
                            "delta update lists {listed:.3}s, less than CAN-SKIP-UNTIL {cs} (§6.2.5.1: only segments beyond the Skip Boundary are skipped)"
                        ),
                    );
                }
            }
        }
    }
    // §4.4.3.2, §4.4.5.2: numbering continues through the skipped segments.
    for (i, s) in p.segments.iter().enumerate() {
        let want = p.media_sequence + p.skipped_segments + i as u64;
        if s.msn != want {
            bad(
                "msn-numbering",
                format!(
                    "segment {i} has msn {} but MEDIA-SEQUENCE + SKIPPED-SEGMENTS + {i} = {want} (§4.4.3.2, §4.4.5.2)",
                    s.msn
                ),
            );
        }
    }
    v
}

// ---------------------------------------------------------------- history

/// Rules across the successive reloads of one live playlist (§6.2.1: the
/// server only appends, removes from the front and drops old parts; it never
/// changes what it listed). Run [`check`] on each playlist too; this does
/// not.
#[derive(Debug, Default)]
pub struct LlHistory {
    /// How many playlists were observed.
    count: usize,
    last_media_sequence: Option<u64>,
    last_discontinuity_sequence: Option<u64>,
    /// The newest part's (msn, index) last time.
    last_newest: Option<(u64, u64)>,
    /// Every segment ever listed: msn -> (uri, duration).
    segments: BTreeMap<u64, (String, f64)>,
    /// Every part ever listed: (msn, index) -> part.
    parts: BTreeMap<(u64, u64), LlPart>,
    /// Part hints not yet listed as parts: uri -> (observation, msn, part).
    hints: BTreeMap<String, (usize, u64, u64)>,
    /// The hint URI of the last playlist without ENDLIST.
    last_live_hint: Option<String>,
    ended: bool,
}

impl LlHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next reload; returns what it breaks against the earlier
    /// ones. Each violation starts with `[rule-key]`.
    pub fn observe(&mut self, p: &LlPlaylist) -> Vec<String> {
        let mut v = Vec::new();
        let mut bad = |key: &str, msg: String| v.push(format!("[{key}] {msg}"));
        self.count += 1;
        let obs = self.count;
        if self.ended {
            bad(
                "after-endlist",
                "a playlist after one with EXT-X-ENDLIST (§6.2.1: nothing follows ENDLIST)".into(),
            );
        }
        // §6.2.2: the Media Sequence Number only grows.
        if let Some(ms) = self.last_media_sequence
            && p.media_sequence < ms
        {
            bad(
                "media-sequence-decreased",
                format!(
                    "MEDIA-SEQUENCE went {ms} -> {} (§6.2.1, §6.2.2)",
                    p.media_sequence
                ),
            );
        }
        if let Some(ds) = self.last_discontinuity_sequence
            && p.discontinuity_sequence < ds
        {
            bad(
                "discontinuity-sequence-decreased",
                format!(
                    "DISCONTINUITY-SEQUENCE went {ds} -> {} (§6.2.2)",
                    p.discontinuity_sequence
                ),
            );
        }
        // A delta update: the client must already hold the skipped segments
        // (§6.3.7), so every skipped msn was listed before.
        if p.skipped_segments > 0 {
            let (from, to) = (
                p.media_sequence,
                p.media_sequence.saturating_add(p.skipped_segments),
            );
            let seen = self.segments.range(from..to).count() as u64;
            if seen < p.skipped_segments {
                bad(
                    "skip-unmergeable",
                    format!(
                        "delta update skips segments {from}..{to}, of which only {seen} were listed before (§6.3.7)"
                    ),
                );
            }
        }
        // §6.2.1: a listed segment never changes.
        for s in &p.segments {
            match self.segments.get(&s.msn) {
                Some((uri, d)) if *uri != s.uri || (*d - s.duration).abs() > EPS => bad(
                    "segment-changed",
                    format!(
                        "segment {} was {uri} ({d}) and is now {} ({}) (§6.2.1)",
                        s.msn, s.uri, s.duration
                    ),
                ),
                Some(_) => {}
                None => {
                    self.segments.insert(s.msn, (s.uri.clone(), s.duration));
                }
            }
        }
        // §6.2.1: a listed part never changes; and never vanishes while its
        // segment still lists parts (§6.2.2: parts go in order, and a whole
        // segment at a time, house rule).
        let listed: HashSet<(u64, u64)> = p.all_parts().map(|(m, i, _)| (m, i)).collect();
        for (msn, i, part) in p.all_parts() {
            match self.parts.get(&(msn, i)) {
                Some(old)
                    if old.uri != part.uri
                        || (old.duration - part.duration).abs() > EPS
                        || old.independent != part.independent =>
                {
                    bad(
                        "part-changed",
                        format!(
                            "part {msn}.{i} was {} ({}, independent {}) and is now {} ({}, independent {}) (§6.2.1)",
                            old.uri, old.duration, old.independent, part.uri, part.duration, part.independent
                        ),
                    )
                }
                Some(_) => {}
                None => {
                    self.parts.insert((msn, i), part.clone());
                }
            }
        }
        let with_parts: HashSet<u64> = listed.iter().map(|(m, _)| *m).collect();
        for (&(msn, i), old) in &self.parts {
            if with_parts.contains(&msn) && !listed.contains(&(msn, i)) {
                bad(
                    "part-vanished",
                    format!(
                        "part {msn}.{i} ({}) is gone while segment {msn} still lists parts (§6.2.1)",
                        old.uri
                    ),
                );
            }
        }
        // The newest part never moves back.
        let newest = p.all_parts().last().map(|(m, i, _)| (m, i));
        if let (Some(old), Some(new)) = (self.last_newest, newest)
            && new < old
        {
            bad(
                "newest-part-regressed",
                format!("newest part went {}.{} -> {}.{}", old.0, old.1, new.0, new.1),
            );
        }
        // §4.4.5.3: a hinted URI MUST be the URI later added; it lands at
        // the hinted position, or at part 0 of the next segment if the
        // segment closed first (§6.2.5.2).
        let by_uri: HashMap<&str, (u64, u64)> =
            p.all_parts().map(|(m, i, q)| (q.uri.as_str(), (m, i))).collect();
        self.hints
            .retain(|uri, (_, hm, hp)| match by_uri.get(uri.as_str()) {
                None => true,
                Some(&(m, i)) => {
                    if (m, i) != (*hm, *hp) && (m, i) != (hm.saturating_add(1), 0) {
                        bad(
                            "hint-misplaced",
                            format!("hinted {uri} for {hm}.{hp} turned up as part {m}.{i}"),
                        );
                    }
                    false
                }
            });
        if let Some(h) = p.preload_hint.as_ref().filter(|h| h.kind == "PART") {
            let (m, i) = p.next_msn_part();
            if !by_uri.contains_key(h.uri.as_str()) {
                self.hints.entry(h.uri.clone()).or_insert((obs, m, i));
            } else {
                bad(
                    "hint-already-listed",
                    format!("hint {} names a part already listed", h.uri),
                );
            }
        }
        if p.ended {
            self.ended = true;
        } else {
            self.last_live_hint = p
                .preload_hint
                .as_ref()
                .filter(|h| h.kind == "PART")
                .map(|h| h.uri.clone());
        }
        self.last_media_sequence = Some(p.media_sequence);
        self.last_discontinuity_sequence = Some(p.discontinuity_sequence);
        if newest.is_some() {
            self.last_newest = newest;
        }
        v
    }

    /// What is still wrong at the end of the publish: part hints that never
    /// turned up as parts. Exempt is the hint of the last live playlist
    /// (before ENDLIST the stream may stop at a part boundary, and without
    /// ENDLIST it simply has not resolved yet).
    pub fn finish(&self) -> Vec<String> {
        self.hints
            .iter()
            .filter(|(uri, _)| self.last_live_hint.as_ref() != Some(*uri))
            .map(|(uri, (obs, m, i))| format!("[hint-unresolved] hint {uri} (playlist {obs}, for part {m}.{i}) never turned up as a part (§4.4.5.3 MUST match a later EXT-X-PART)"))
            .collect()
    }
}
