use super::*;

fn entry(n: u64, secs: f64) -> PlaylistEntry {
    PlaylistEntry {
        uri: format!("{n}.ts"),
        duration: Duration::from_secs_f64(secs),
        discontinuity: false,
        program_date_time: None,
    }
}

#[test]
fn sliding_window_advances_media_sequence() {
    let mut p = LivePlaylist::live(3, Duration::from_secs(2));
    for n in 0..3 {
        assert!(p.push(entry(n, 2.0)).is_empty());
    }
    let removed = p.push(entry(3, 2.0));
    assert_eq!(
        removed.iter().map(|e| e.uri.as_str()).collect::<Vec<_>>(),
        ["0.ts"]
    );
    assert_eq!(p.media_sequence(), 1);
    assert_eq!(p.next_sequence(), 4);
    let text = p.render();
    assert!(
        text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n")
    );
    assert!(text.contains("#EXTINF:2.000,\n1.ts\n"));
    assert!(!text.contains("0.ts"));
    assert!(!text.contains("ENDLIST"));
}

#[test]
fn live_target_duration_never_changes() {
    // RFC 8216 §6.2.1: the configured target, rounded up, for good.
    let mut p = LivePlaylist::live(6, Duration::from_millis(2100));
    assert_eq!(p.target_duration(), 3);
    p.push(entry(0, 2.0));
    p.push(entry(1, 4.6));
    assert_eq!(p.target_duration(), 3);
    assert!(p.render().contains("#EXT-X-TARGETDURATION:3\n"));
}

#[test]
fn vod_target_duration_covers_the_longest_segment() {
    let mut p = LivePlaylist::vod(Duration::from_secs(2));
    p.push(entry(0, 2.0));
    p.push(entry(1, 4.6));
    p.end();
    assert_eq!(p.target_duration(), 5);
    assert!(p.render().contains("#EXT-X-TARGETDURATION:5\n"));
}

#[test]
fn republish_adds_discontinuity_and_endlist_goes() {
    let mut p = LivePlaylist::live(3, Duration::from_secs(2));
    p.push(entry(0, 2.0));
    p.push(entry(1, 2.0));
    p.end();
    assert!(p.render().ends_with("1.ts\n#EXT-X-ENDLIST\n"));
    p.push(entry(2, 2.0));
    let text = p.render();
    assert!(!text.contains("ENDLIST"));
    assert!(text.contains("1.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n2.ts\n"));
    // The discontinuity reaches the front, then leaves: the sequence counts it.
    p.push(entry(3, 2.0));
    assert!(!p.render().contains("DISCONTINUITY-SEQUENCE"));
    p.push(entry(4, 2.0));
    let text = p.render();
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));
}

#[test]
fn parses_with_m3u8_rs() {
    let mut p = LivePlaylist::live(4, Duration::from_secs(2));
    let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
    for n in 0..6 {
        let mut e = entry(n, 2.002);
        e.program_date_time = Some(t0 + Duration::from_secs(2 * n));
        e.discontinuity = n == 4;
        p.push(e);
    }
    p.end();
    let text = p.render();
    let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("valid playlist");
    assert_eq!(parsed.media_sequence, 2);
    assert_eq!(parsed.target_duration, 2);
    assert!(parsed.end_list);
    assert_eq!(parsed.segments.len(), 4);
    assert!(parsed.segments[2].discontinuity);
    assert!(parsed.segments[0].program_date_time.is_some());
    assert!(
        text.contains("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24.000Z\n"),
        "{text}"
    );
}

#[test]
fn vod_keeps_everything() {
    let mut p = LivePlaylist::vod(Duration::from_secs(2));
    for n in 0..20 {
        assert!(p.push(entry(n, 2.0)).is_empty());
    }
    p.end();
    let text = p.render();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
    assert_eq!(text.matches("#EXTINF").count(), 20);
}

#[test]
fn master_lists_codecs_and_resolution() {
    let text = render_master(&[Variant {
        uri: "index.m3u8".into(),
        bandwidth: 1_200_000,
        average_bandwidth: Some(900_000),
        resolution: Some((1280, 720)),
        codecs: vec!["avc1.64001f".into(), "mp4a.40.2".into()],
    }]);
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=1200000,AVERAGE-BANDWIDTH=900000,\
         RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\nindex.m3u8\n"
    );
    let parsed = m3u8_rs::parse_master_playlist_res(text.as_bytes()).expect("valid master");
    assert_eq!(parsed.variants[0].bandwidth, 1_200_000);
}
