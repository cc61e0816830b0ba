//! The LL-HLS playlist checker (`common::ll_hls`): a valid playlist passes,
//! each rule is caught on a playlist that breaks exactly it, reload
//! histories are judged, and garbage never panics the parser.
#![allow(clippy::unwrap_used)]

mod common;

use common::ll_hls::*;
use proptest::prelude::*;

/// A live LL-HLS playlist shaped like the spec's example (draft-pantos-hls-
/// rfc8216bis §9 / Apple's "Enabling Low-Latency HLS"): 4 s segments of 1 s
/// parts, parts on the segments of the last 3 target durations, a segment in
/// progress, a part hint, program date-times and a rendition report.
const VALID: &str = r#"#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.0,CAN-SKIP-UNTIL=24.0
#EXT-X-PART-INF:PART-TARGET=1.0
#EXT-X-MEDIA-SEQUENCE:264
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:28.106Z
#EXTINF:4.00000,
seg264.mp4
#EXTINF:4.00000,
seg265.mp4
#EXTINF:4.00000,
seg266.mp4
#EXTINF:4.00000,
seg267.mp4
#EXTINF:4.00000,
seg268.mp4
#EXTINF:4.00000,
seg269.mp4
#EXT-X-PART:DURATION=1.00000,URI="part270.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=1.00000,URI="part270.1.mp4"
#EXT-X-PART:DURATION=1.00000,URI="part270.2.mp4"
#EXT-X-PART:DURATION=0.96000,URI="part270.3.mp4"
#EXTINF:3.96000,
seg270.mp4
#EXT-X-PART:DURATION=1.00000,URI="part271.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=1.00000,URI="part271.1.mp4"
#EXT-X-PART:DURATION=1.00000,URI="part271.2.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=1.00000,URI="part271.3.mp4"
#EXTINF:4.00000,
seg271.mp4
#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:14:00.066Z
#EXT-X-PART:DURATION=1.001,URI="part272.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.999,URI="part272.1.mp4"
#EXT-X-PART:DURATION=1.000,URI="part272.2.mp4"
#EXT-X-PART:DURATION=0.500,URI="part272.3.mp4"
#EXTINF:3.50000,
seg272.mp4
#EXT-X-PART:DURATION=1.00000,URI="part273.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=1.00000,URI="part273.1.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part273.2.mp4"

#EXT-X-RENDITION-REPORT:URI="../1M/index.m3u8",LAST-MSN=273,LAST-PART=1
"#;

/// `VALID` with `from` (which must occur) replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "fixture lacks {from:?}");
    VALID.replacen(from, to, 1)
}

fn violations(text: &str) -> Vec<String> {
    check(&LlPlaylist::parse(text).unwrap())
}

/// Asserts that the violations are non-empty and all of rule `key`.
fn only(v: &[String], key: &str) {
    let tag = format!("[{key}]");
    assert!(!v.is_empty(), "expected a [{key}] violation, got none");
    assert!(
        v.iter().all(|s| s.starts_with(&tag)),
        "expected only [{key}], got {v:#?}"
    );
}

#[test]
fn valid_playlist_passes() {
    let p = LlPlaylist::parse(VALID).unwrap();
    assert_eq!(check(&p), Vec::<String>::new());
    assert_eq!((p.version, p.target_duration, p.part_target), (6, 4, 1.0));
    assert_eq!(p.media_sequence, 264);
    assert_eq!(p.map_uri.as_deref(), Some("init.mp4"));
    assert_eq!(p.segments.len(), 9);
    assert_eq!(p.segments[8].msn, 272);
    assert_eq!(
        p.segments[8].program_date_time.as_deref(),
        Some("2019-02-14T02:14:00.066Z")
    );
    assert_eq!(p.pending_parts.len(), 2);
    assert_eq!(
        p.preload_hint,
        Some(PreloadHint {
            kind: "PART".into(),
            uri: "part273.2.mp4".into()
        })
    );
    assert_eq!(p.next_msn_part(), (273, 2));
    assert!(p.server_control.can_block_reload && !p.ended && p.independent_segments);
    let parts: Vec<(u64, u64, &str)> = p.all_parts().map(|(m, i, q)| (m, i, q.uri.as_str())).collect();
    assert_eq!(parts.len(), 14);
    assert_eq!(parts[0], (270, 0, "part270.0.mp4"));
    assert_eq!(parts[13], (273, 1, "part273.1.mp4"));
}

/// The spec example's shape as Apple writes it (PART-TARGET 0.33334, parts
/// on the last two segments only, PART-HOLD-BACK 1.0, later independent
/// parts) breaks only our house rules, never a spec MUST.
#[test]
fn apple_shaped_example_breaks_only_house_rules() {
    let mut t = String::from(
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-VERSION:6\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=24.0\n\
         #EXT-X-PART-INF:PART-TARGET=0.33334\n#EXT-X-MEDIA-SEQUENCE:264\n\
         #EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:28.106Z\n#EXT-X-MAP:URI=\"init.mp4\"\n",
    );
    for msn in 264..273 {
        if msn >= 271 {
            for i in 0..12 {
                let ind = if i == 4 || i == 8 { ",INDEPENDENT=YES" } else { "" };
                t += &format!("#EXT-X-PART:DURATION=0.33334,URI=\"p{msn}.{i}.mp4\"{ind}\n");
            }
        }
        t += &format!("#EXTINF:4.00008,\nfs{msn}.mp4\n");
    }
    for i in 0..3 {
        let ind = if i == 0 { ",INDEPENDENT=YES" } else { "" };
        t += &format!("#EXT-X-PART:DURATION=0.33334,URI=\"p273.{i}.mp4\"{ind}\n");
    }
    t += "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p273.3.mp4\"\n";
    let v = violations(&t);
    assert!(v.iter().all(|s| s.contains("house rule")), "{v:#?}");
    for key in [
        "part-hold-back-too-small",
        "parts-missing-near-edge",
        "first-part-not-independent",
    ] {
        assert!(
            v.iter().any(|s| s.starts_with(&format!("[{key}]"))),
            "{key}: {v:#?}"
        );
    }
}

#[test]
fn version_missing_or_low() {
    only(&violations(&edit("#EXT-X-VERSION:6\n", "")), "version-missing");
    only(
        &violations(&edit("#EXT-X-VERSION:6", "#EXT-X-VERSION:5")),
        "version-too-low",
    );
}

#[test]
fn target_duration_missing() {
    let v = violations(&edit("#EXT-X-TARGETDURATION:4\n", ""));
    only(&v, "target-missing");
}

#[test]
fn extinf_over_target() {
    // 4.4 rounds to 4: fine; 4.6 rounds to 5.
    let t = edit("#EXTINF:4.00000,\nseg265.mp4", "#EXTINF:4.4,\nseg265.mp4");
    assert_eq!(violations(&t), Vec::<String>::new());
    only(
        &violations(&edit("#EXTINF:4.00000,\nseg265.mp4", "#EXTINF:4.6,\nseg265.mp4")),
        "extinf-over-target",
    );
}

#[test]
fn durations_positive() {
    only(
        &violations(&edit("#EXTINF:4.00000,\nseg265.mp4", "#EXTINF:0.0,\nseg265.mp4")),
        "duration-not-positive",
    );
}

#[test]
fn map_missing() {
    only(
        &violations(&edit("#EXT-X-MAP:URI=\"init.mp4\"\n", "")),
        "map-missing",
    );
}

#[test]
fn part_inf_missing() {
    let v = violations(&edit("#EXT-X-PART-INF:PART-TARGET=1.0\n", ""));
    only(&v, "part-inf-missing");
}

#[test]
fn part_too_long() {
    // A pending part: no segment sum to upset.
    let t = edit(
        "DURATION=1.00000,URI=\"part273.1.mp4\"",
        "DURATION=1.00200,URI=\"part273.1.mp4\"",
    );
    only(&violations(&t), "part-too-long");
    // 1.001 against 1.0 is 3-decimal rounding: allowed (part272.0 in VALID).
}

#[test]
fn jittery_part() {
    // A non-final, non-independent part under 85%: the spec's MUST.
    let v = violations(&edit(
        "DURATION=1.00000,URI=\"part273.1.mp4\"",
        "DURATION=0.80000,URI=\"part273.1.mp4\"",
    ));
    only(&v, "part-too-short");
    assert!(v[0].contains("§4.4.4.9 MUST"), "{v:?}");
    // An INDEPENDENT one: the spec exempts it, our house rule does not.
    let v = violations(&edit(
        "DURATION=1.00000,URI=\"part273.0.mp4\"",
        "DURATION=0.80000,URI=\"part273.0.mp4\"",
    ));
    only(&v, "part-too-short");
    assert!(v[0].contains("house rule"), "{v:?}");
    // A finished segment's part in the middle, its sum kept.
    let t = edit(
        "DURATION=1.00000,URI=\"part271.1.mp4\"",
        "DURATION=0.80000,URI=\"part271.1.mp4\"",
    );
    let t = t.replacen("#EXTINF:4.00000,\nseg271.mp4", "#EXTINF:3.80000,\nseg271.mp4", 1);
    only(&violations(&t), "part-too-short");
}

#[test]
fn missing_hint() {
    only(
        &violations(&edit("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part273.2.mp4\"\n", "")),
        "preload-hint-missing",
    );
    let map_only = edit("TYPE=PART,URI=\"part273.2.mp4\"", "TYPE=MAP,URI=\"init2.mp4\"");
    only(&violations(&map_only), "preload-hint-missing");
}

#[test]
fn hint_with_endlist() {
    let v = violations(&format!("{VALID}#EXT-X-ENDLIST\n"));
    only(&v, "preload-hint-after-endlist");
}

#[test]
fn server_control() {
    let v = violations(&edit("CAN-BLOCK-RELOAD=YES,", ""));
    only(&v, "can-block-reload");
    let v = violations(&edit(
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.0,CAN-SKIP-UNTIL=24.0\n",
        "",
    ));
    assert!(
        v.iter().any(|s| s.starts_with("[server-control-missing]")),
        "{v:?}"
    );
    only(
        &violations(&edit("PART-HOLD-BACK=3.0,", "")),
        "part-hold-back-missing",
    );
}

#[test]
fn part_hold_back_too_small() {
    let v = violations(&edit("PART-HOLD-BACK=3.0", "PART-HOLD-BACK=2.5"));
    only(&v, "part-hold-back-too-small");
    assert!(
        v[0].contains("house rule"),
        "between 2x and 3x is the house rule: {v:?}"
    );
    let v = violations(&edit("PART-HOLD-BACK=3.0", "PART-HOLD-BACK=1.5"));
    only(&v, "part-hold-back-too-small");
    assert!(v[0].contains("MUST"), "under 2x is the spec's MUST: {v:?}");
}

#[test]
fn hold_back_and_skip_boundary() {
    only(
        &violations(&edit("PART-HOLD-BACK=3.0,", "PART-HOLD-BACK=3.0,HOLD-BACK=11.0,")),
        "hold-back-too-small",
    );
    only(
        &violations(&edit("CAN-SKIP-UNTIL=24.0", "CAN-SKIP-UNTIL=20.0")),
        "can-skip-until-too-small",
    );
}

#[test]
fn part_sum_must_match_extinf() {
    only(
        &violations(&edit(
            "#EXTINF:3.96000,\nseg270.mp4",
            "#EXTINF:4.00000,\nseg270.mp4",
        )),
        "part-sum-mismatch",
    );
}

#[test]
fn missing_independent_on_first_part() {
    let v = violations(&edit(
        "URI=\"part271.0.mp4\",INDEPENDENT=YES",
        "URI=\"part271.0.mp4\"",
    ));
    only(&v, "first-part-not-independent");
    let v = violations(&edit(
        "URI=\"part273.0.mp4\",INDEPENDENT=YES",
        "URI=\"part273.0.mp4\"",
    ));
    only(&v, "first-part-not-independent");
}

/// Strips the `EXT-X-PART` lines of segment `msn` from `text`.
fn strip_parts(text: &str, msn: u64) -> String {
    let prefix = format!("part{msn}.");
    text.lines()
        .filter(|l| !(l.starts_with("#EXT-X-PART:") && l.contains(&prefix)))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn parts_near_the_live_edge() {
    // Segment 270 ends 9.5 s (< 3 x 4 s) from the end: it must keep parts.
    only(&violations(&strip_parts(VALID, 270)), "parts-missing-near-edge");
    // ... unless the playlist has ended.
    let ended = strip_parts(
        &edit("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part273.2.mp4\"\n", ""),
        270,
    ) + "#EXT-X-ENDLIST\n";
    assert_eq!(violations(&ended), Vec::<String>::new());
    // Removing 271's but not 270's breaks the removal order too.
    let v = violations(&strip_parts(VALID, 271));
    assert!(v.iter().any(|s| s.starts_with("[parts-not-suffix]")), "{v:?}");
}

#[test]
fn parts_kept_too_long() {
    let with = |msn: u64| {
        (0..4)
            .map(|i| {
                let ind = if i == 0 { ",INDEPENDENT=YES" } else { "" };
                format!("#EXT-X-PART:DURATION=1.00000,URI=\"part{msn}.{i}.mp4\"{ind}\n")
            })
            .collect::<String>()
    };
    // 269 ends 13.46 s from the end: within our slack of 4 target durations.
    let t = edit(
        "#EXTINF:4.00000,\nseg269.mp4",
        &format!("{}#EXTINF:4.00000,\nseg269.mp4", with(269)),
    );
    assert_eq!(violations(&t), Vec::<String>::new());
    // 268 ends 17.46 s from the end: its parts should be gone.
    let t = t.replacen(
        "#EXTINF:4.00000,\nseg268.mp4",
        &format!("{}#EXTINF:4.00000,\nseg268.mp4", with(268)),
        1,
    );
    only(&violations(&t), "parts-kept-too-long");
}

#[test]
fn program_date_time() {
    only(
        &violations(&edit("#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:28.106Z\n", "")),
        "pdt-missing",
    );
    let v = violations(&edit("2019-02-14T02:14:00.066Z", "2019-02-14T02:13:00.000+00:00"));
    only(&v, "pdt-not-increasing");
}

/// `VALID` as a delta update that skips the first `n` segments.
fn delta(n: u64, version: u32) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for l in VALID.lines() {
        if l == "#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:28.106Z" {
            out += &format!("#EXT-X-SKIP:SKIPPED-SEGMENTS={n}\n");
            skipping = true;
            continue;
        }
        if skipping {
            if let Some(msn) = l.strip_prefix("seg").and_then(|r| r.strip_suffix(".mp4")) {
                skipping = msn.parse::<u64>().unwrap() + 1 < 264 + n;
            }
            continue;
        }
        out += &format!("{l}\n");
    }
    out.replacen("#EXT-X-VERSION:6", &format!("#EXT-X-VERSION:{version}"), 1)
}

#[test]
fn skip_consistency() {
    let p = LlPlaylist::parse(&delta(3, 9)).unwrap();
    assert_eq!(check(&p), Vec::<String>::new());
    assert_eq!(
        (p.skipped_segments, p.segments[0].msn, p.segments.len()),
        (3, 267, 6)
    );
    // EXT-X-SKIP needs version 9 (§8).
    only(&violations(&delta(3, 6)), "version-too-low");
    // No Skip Boundary advertised.
    only(
        &violations(&delta(3, 9).replacen(",CAN-SKIP-UNTIL=24.0", "", 1)),
        "skip-invalid",
    );
    // Skipped into the Skip Boundary: only 3 segments (11.46 s) left.
    only(&violations(&delta(6, 9)), "skip-invalid");
    // A first listed segment numbered off MEDIA-SEQUENCE + SKIPPED-SEGMENTS.
    let mut p = LlPlaylist::parse(&delta(3, 9)).unwrap();
    p.segments[0].msn = 266;
    only(&check(&p), "msn-numbering");
    // EXT-X-SKIP after a listed segment is not a delta update at all.
    let late = edit(
        "#EXTINF:4.00000,\nseg265.mp4\n",
        "#EXTINF:4.00000,\nseg265.mp4\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n",
    );
    assert!(LlPlaylist::parse(&late).is_err());
}

#[test]
fn malformed_input_is_a_parse_error() {
    let bad = [
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION=1.00000,,URI=\"part273.1.mp4\"",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "duration=1.00000,URI=\"part273.1.mp4\"",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION=1.00000,URI=part273.1.mp4",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION=1.00000,URI=\"part273.1.mp4\",",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION=1.00000,URI=\"part273.1.mp4",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION=1.00000,DURATION=1.0,URI=\"part273.1.mp4\"",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION=1.00000,URI=\"part273.1.mp4\",FOO=1",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION=1e0,URI=\"part273.1.mp4\"",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION=-1.0,URI=\"part273.1.mp4\"",
        ),
        (
            "DURATION=1.00000,URI=\"part273.1.mp4\"",
            "DURATION= 1.0,URI=\"part273.1.mp4\"",
        ),
        ("DURATION=1.00000,URI=\"part273.1.mp4\"", "URI=\"part273.1.mp4\""),
        ("URI=\"part273.1.mp4\"", "URI=\"part273.1.mp4\",INDEPENDENT=MAYBE"),
        (
            "#EXT-X-PART:DURATION=1.00000,URI=\"part273.1.mp4\"",
            "#EXT-X-PARTS:DURATION=1.00000,URI=\"part273.1.mp4\"",
        ),
        ("#EXT-X-PART-INF:PART-TARGET=1.0", "#EXT-X-PART-INF:PART-TARGET=0"),
        (
            "#EXT-X-PART-INF:PART-TARGET=1.0",
            "#EXT-X-PART-INF:PARTTARGET=1.0",
        ),
        ("CAN-BLOCK-RELOAD=YES", "CAN-BLOCK-RELOAD=Y"),
        ("TYPE=PART", "TYPE=SEGMENT"),
        ("TYPE=PART,", ""),
        ("#EXTM3U\n", ""),
        ("#EXTINF:4.00000,\nseg265.mp4", "#EXTINF:4.00000\nseg265.mp4"),
        ("#EXTINF:4.00000,\nseg265.mp4", "seg265.mp4"),
        ("2019-02-14T02:13:28.106Z", "2019-02-14 02:13:28"),
        ("#EXT-X-TARGETDURATION:4", "#EXT-X-TARGETDURATION:4.0"),
        ("#EXT-X-VERSION:6", "#EXT-X-VERSION:6\n#EXT-X-VERSION:6"),
        // PDT after the segment's first part (§4.4.4.9).
        (
            "#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:14:00.066Z\n#EXT-X-PART:DURATION=1.001,URI=\"part272.0.mp4\",INDEPENDENT=YES\n",
            "#EXT-X-PART:DURATION=1.001,URI=\"part272.0.mp4\",INDEPENDENT=YES\n#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:14:00.066Z\n",
        ),
        // A part after the hint.
        (
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part273.2.mp4\"\n",
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part273.2.mp4\"\n#EXT-X-PART:DURATION=1.0,URI=\"x.mp4\"\n",
        ),
        ("seg272.mp4\n", "seg272.mp4 \n"),
        (
            "#EXT-X-MEDIA-SEQUENCE:264",
            "#EXT-X-MEDIA-SEQUENCE:18446744073709551615",
        ),
    ];
    for (from, to) in bad {
        let t = edit(from, to);
        assert!(LlPlaylist::parse(&t).is_err(), "parsed: {to:?}");
    }
}

#[test]
fn resolves_relative_uris() {
    let base = "https://cdn.example/live/abc/index.m3u8?token=x&_HLS_msn=5";
    assert_eq!(
        resolve_uri(base, "part1.mp4"),
        "https://cdn.example/live/abc/part1.mp4"
    );
    assert_eq!(
        resolve_uri(base, "../x/p.mp4?v=1"),
        "https://cdn.example/live/x/p.mp4?v=1"
    );
    assert_eq!(resolve_uri(base, "./p.mp4"), "https://cdn.example/live/abc/p.mp4");
    assert_eq!(resolve_uri(base, "/root.mp4"), "https://cdn.example/root.mp4");
    assert_eq!(
        resolve_uri(base, "//other.example/a.mp4"),
        "https://other.example/a.mp4"
    );
    assert_eq!(resolve_uri(base, "http://h/a.mp4"), "http://h/a.mp4");
    assert_eq!(
        resolve_uri(base, "?_HLS_msn=6"),
        "https://cdn.example/live/abc/index.m3u8?_HLS_msn=6"
    );
    assert_eq!(
        resolve_uri("http://h:8080/index.m3u8", "a.mp4"),
        "http://h:8080/a.mp4"
    );
    assert_eq!(resolve_uri("http://h", "a.mp4"), "http://h/a.mp4");
    assert_eq!(
        resolve_uri("http://h/a/b/c.m3u8", "../../../x.mp4"),
        "http://h/x.mp4"
    );
}

// ---------------------------------------------------------------- history

/// A live playlist of our muxer's shape: segments `first..=last` of four 1 s
/// parts (the last three listed with parts), `pending` parts of segment
/// `last + 1`, and a hint for the next part, or ENDLIST.
fn live(first: u64, last: u64, pending: u64, ended: bool) -> String {
    let secs = 28 + 4 * (first - 264);
    let mut t = format!(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.0,CAN-SKIP-UNTIL=24.0\n\
         #EXT-X-PART-INF:PART-TARGET=1.0\n#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-MAP:URI=\"init.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:{:02}:{:02}.000Z\n",
        13 + secs / 60,
        secs % 60
    );
    let parts = |t: &mut String, msn: u64, n: u64| {
        for i in 0..n {
            let ind = if i == 0 { ",INDEPENDENT=YES" } else { "" };
            *t += &format!("#EXT-X-PART:DURATION=1.00000,URI=\"part{msn}.{i}.mp4\"{ind}\n");
        }
    };
    for msn in first..=last {
        if msn + 3 > last {
            parts(&mut t, msn, 4);
        }
        t += &format!("#EXTINF:4.00000,\nseg{msn}.mp4\n");
    }
    parts(&mut t, last + 1, pending);
    if ended {
        t += "#EXT-X-ENDLIST\n";
    } else {
        t += &format!(
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part{}.{pending}.mp4\"\n",
            last + 1
        );
    }
    t
}

fn parse_checked(text: &str) -> LlPlaylist {
    let p = LlPlaylist::parse(text).unwrap();
    assert_eq!(check(&p), Vec::<String>::new(), "{text}");
    p
}

#[test]
fn three_good_reloads() {
    let mut h = LlHistory::new();
    // A part lands; then segment 273 closes and the window slides.
    for (first, last, pending) in [(264, 272, 2), (264, 272, 3), (265, 273, 1)] {
        assert_eq!(
            h.observe(&parse_checked(&live(first, last, pending, false))),
            Vec::<String>::new()
        );
    }
    assert_eq!(h.finish(), Vec::<String>::new());
}

#[test]
fn hinted_part_may_open_the_next_segment() {
    // The hint names "the next part" (273.4); the segment closes first and
    // the part turns up as 274.0 (§6.2.5.2), under the hinted URI.
    let mut h = LlHistory::new();
    let a = live(264, 272, 4, false).replace("part273.4.mp4", "next.mp4");
    let b = live(265, 273, 1, false).replace("part274.0.mp4", "next.mp4");
    assert!(h.observe(&parse_checked(&a)).is_empty());
    assert!(h.observe(&parse_checked(&b)).is_empty());
    assert_eq!(h.finish(), Vec::<String>::new());
    // Anywhere else is a misplaced hint.
    let mut h = LlHistory::new();
    let b = live(265, 273, 2, false).replace("part274.1.mp4", "next.mp4");
    assert!(h.observe(&parse_checked(&a)).is_empty());
    only(&h.observe(&parse_checked(&b)), "hint-misplaced");
}

#[test]
fn ended_stream_may_leave_its_last_hint_unresolved() {
    let mut h = LlHistory::new();
    for text in [
        live(264, 272, 2, false),
        live(264, 272, 3, false),
        live(264, 273, 0, true),
    ] {
        assert_eq!(h.observe(&parse_checked(&text)), Vec::<String>::new());
    }
    // The last live hint was part273.3 and 273 ended with 4 parts: it
    // resolved. Now end at a part boundary with a hint left over.
    assert_eq!(h.finish(), Vec::<String>::new());
    let mut h = LlHistory::new();
    h.observe(&parse_checked(&live(264, 272, 2, false)));
    assert_eq!(
        h.observe(&parse_checked(&live(264, 272, 2, true))),
        Vec::<String>::new()
    );
    assert_eq!(h.finish(), Vec::<String>::new());
}

#[test]
fn part_changes_uri() {
    let mut h = LlHistory::new();
    assert!(h.observe(&parse_checked(&live(264, 272, 2, false))).is_empty());
    let changed = live(264, 272, 3, false).replace("part273.1.mp4", "part273.1b.mp4");
    let v = h.observe(&parse_checked(&changed));
    only(&v, "part-changed");
}

#[test]
fn segment_changes() {
    let mut h = LlHistory::new();
    assert!(h.observe(&parse_checked(&live(264, 272, 2, false))).is_empty());
    let v = h.observe(&parse_checked(
        &live(264, 272, 3, false).replace("seg266.mp4", "seg266b.mp4"),
    ));
    only(&v, "segment-changed");
}

#[test]
fn hint_never_resolves() {
    let mut h = LlHistory::new();
    assert!(h.observe(&parse_checked(&live(264, 272, 2, false))).is_empty());
    // Part 273.2 turns up under another URI than hinted.
    let other = live(264, 272, 3, false).replace("part273.2.mp4", "other273.2.mp4");
    assert!(h.observe(&parse_checked(&other)).is_empty());
    let v = h.finish();
    only(&v, "hint-unresolved");
    assert!(v[0].contains("part273.2.mp4"), "{v:?}");
}

#[test]
fn sequence_and_newest_part_never_go_back() {
    let mut h = LlHistory::new();
    assert!(h.observe(&parse_checked(&live(265, 273, 2, false))).is_empty());
    let v = h.observe(&parse_checked(&live(264, 273, 2, false)));
    only(&v, "media-sequence-decreased");
    let mut h = LlHistory::new();
    assert!(h.observe(&parse_checked(&live(264, 272, 3, false))).is_empty());
    let v = h.observe(&parse_checked(&live(264, 272, 2, false)));
    assert!(
        v.iter().any(|s| s.starts_with("[newest-part-regressed]")),
        "{v:?}"
    );
}

#[test]
fn delta_updates_merge() {
    let full = live(264, 272, 2, false);
    let mut h = LlHistory::new();
    assert!(h.observe(&parse_checked(&full)).is_empty());
    // The next reload as a delta update skipping 264..=266.
    let delta = skip_first(&live(264, 272, 3, false), 3);
    assert!(h.observe(&parse_checked(&delta)).is_empty());
    // A delta whose listed segments disagree with what was seen.
    let v = h.observe(&parse_checked(
        &skip_first(&live(264, 272, 3, false), 3).replace("seg268.mp4", "x.mp4"),
    ));
    only(&v, "segment-changed");
    // A delta first: the skipped segments were never seen.
    let v = LlHistory::new().observe(&parse_checked(&delta));
    only(&v, "skip-unmergeable");
}

/// `text` (from [`live`]) with its first `n` segments replaced by EXT-X-SKIP.
fn skip_first(text: &str, n: usize) -> String {
    let mut out = String::new();
    let mut left = n;
    for l in text.lines() {
        if l.starts_with("#EXT-X-PROGRAM-DATE-TIME") && left == n {
            out += &format!("#EXT-X-SKIP:SKIPPED-SEGMENTS={n}\n");
            continue;
        }
        if left > 0 && out.contains("#EXT-X-SKIP") {
            if !l.starts_with('#') {
                left -= 1;
            }
            continue;
        }
        out += &format!("{l}\n");
    }
    out.replacen("#EXT-X-VERSION:6", "#EXT-X-VERSION:9", 1)
}

// ---------------------------------------------------------------- garbage

/// Parse, and when it parses, check and observe: none may panic.
fn exercise(text: &str) {
    if let Ok(p) = LlPlaylist::parse(text) {
        let _ = check(&p);
        let _ = p.next_msn_part();
        let _ = p.all_parts().count();
        let mut h = LlHistory::new();
        let _ = h.observe(&p);
        let _ = h.observe(&p);
        let _ = h.finish();
    }
}

/// Lines our parser has branches for, mixed with junk.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "#EXT(M3U|-X-ENDLIST|-X-DISCONTINUITY|-X-INDEPENDENT-SEGMENTS)",
        "#EXT-X-(VERSION|TARGETDURATION|MEDIA-SEQUENCE|DISCONTINUITY-SEQUENCE):[0-9]{0,22}",
        "#EXTINF:[0-9.]{0,8},?",
        "#EXT-X-PART:(DURATION=[0-9.e-]{0,6}|URI=\"[a-z0-9.]{0,6}\"?|INDEPENDENT=YES|GAP=YES|,){0,5}",
        "#EXT-X-(PART-INF|SERVER-CONTROL|PRELOAD-HINT|SKIP|MAP|RENDITION-REPORT):[A-Z=\",.0-9-]{0,30}",
        "#EXT-X-SKIP:SKIPPED-SEGMENTS=[0-9]{1,21}",
        "#EXT-X-PROGRAM-DATE-TIME:[0-9T:.Z+-]{0,30}",
        "[a-z0-9./]{1,12}",
        ".{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_text_never_panics(s in ".{0,400}") {
        exercise(&s);
        exercise(&format!("#EXTM3U\n{s}"));
    }

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn random_lines_never_panic(lines in proptest::collection::vec(line(), 0..40)) {
        exercise(&format!("#EXTM3U\n{}", lines.join("\n")));
    }

    #[test]
    fn mutated_valid_playlist_never_panics(at in 0usize..60, junk in line(), mode in 0u8..3) {
        let mut lines: Vec<String> = VALID.lines().map(str::to_owned).collect();
        let i = at % lines.len();
        match mode {
            0 => lines[i] = junk,
            1 => lines.insert(i, junk),
            _ => { lines.remove(i); }
        }
        exercise(&lines.join("\n"));
    }
}
