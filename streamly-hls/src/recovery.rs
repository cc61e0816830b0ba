//! What an earlier process left in the sink, cleaned up at start (see
//! [`HlsPublisher::recover`](crate::HlsPublisher::recover)): a crash leaves
//! playlists without `EXT-X-ENDLIST` (players would wait on them forever)
//! and segments that no playlist names (the window moved on, their
//! deletion timers died with the process).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use streamly_core::domain::StreamId;
use streamly_core::ports::{SegmentPath, SegmentSink};

use crate::error::HlsError;

/// The folder recordings live under, left alone by recovery.
const RECORDINGS_FOLDER: &str = "recordings/";

/// Ends every unended media playlist and removes the files no playlist of
/// their directory names, except in the directories of `live` streams.
/// Returns how many files were removed.
pub(crate) async fn recover(sink: &dyn SegmentSink, live: &[StreamId]) -> Result<usize, HlsError> {
    let all = sink.list("").await.map_err(HlsError::Recovery)?;
    let mut by_dir: HashMap<&str, Vec<&SegmentPath>> = HashMap::new();
    for path in &all {
        let dir = path.as_str().rsplit_once('/').map_or("", |(dir, _)| dir);
        by_dir.entry(dir).or_default().push(path);
    }
    let mut removed = 0;
    for (dir, paths) in by_dir {
        // Recordings (`recordings/{id}`: never a stream's folder, which has
        // no `/`) are finalized by their owner, not swept here.
        if live.iter().any(|s| s.as_str() == dir) || dir.starts_with(RECORDINGS_FOLDER) {
            continue;
        }
        let mut named: HashSet<String> = HashSet::new();
        for path in paths.iter().filter(|p| p.as_str().ends_with(".m3u8")) {
            let Some(data) = sink.get(path).await.map_err(HlsError::Recovery)? else {
                continue;
            };
            let text = String::from_utf8_lossy(&data);
            named.extend(uris(&text).map(str::to_owned));
            if end_playlist(sink, path, &text).await? {
                tracing::info!(%path, "ended a playlist an earlier process left open");
            }
        }
        for path in paths {
            let file = path.as_str().rsplit_once('/').map_or(path.as_str(), |(_, f)| f);
            if file.ends_with(".m3u8") || named.contains(file) {
                continue;
            }
            sink.delete(path).await.map_err(HlsError::Recovery)?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(dir, removed, "removed files no playlist names");
        }
    }
    Ok(removed)
}

/// Appends `EXT-X-ENDLIST` to the media playlist `text` stored at `path`
/// unless it has one. Whether it wrote.
async fn end_playlist(sink: &dyn SegmentSink, path: &SegmentPath, text: &str) -> Result<bool, HlsError> {
    if !text.contains("#EXTINF:") || text.contains("#EXT-X-ENDLIST") {
        return Ok(false);
    }
    let mut ended = text.to_owned();
    if !ended.ends_with('\n') {
        ended.push('\n');
    }
    ended.push_str("#EXT-X-ENDLIST\n");
    sink.put(path, Bytes::from(ended))
        .await
        .map_err(HlsError::Recovery)?;
    Ok(true)
}

/// Ends the persisted media playlists of `stream` (a publish whose node
/// died: nothing else will). Returns how many it ended.
pub async fn end_persisted_playlists(sink: &dyn SegmentSink, stream: &StreamId) -> Result<usize, HlsError> {
    let prefix = format!("{}/", stream.as_str());
    let mut ended = 0;
    for path in sink.list(&prefix).await.map_err(HlsError::Recovery)? {
        if !path.as_str().ends_with(".m3u8") {
            continue;
        }
        let Some(data) = sink.get(&path).await.map_err(HlsError::Recovery)? else {
            continue;
        };
        if end_playlist(sink, &path, &String::from_utf8_lossy(&data)).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// The URIs a playlist names: its non-tag lines and `URI="…"` attributes.
fn uris(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() {
            None
        } else if line.starts_with('#') {
            let (_, rest) = line.split_once("URI=\"")?;
            rest.split_once('"').map(|(uri, _)| uri)
        } else {
            Some(line)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamly_core::adapters::MemorySegmentSink;

    fn p(s: &str) -> SegmentPath {
        SegmentPath::parse(s).unwrap_or_else(|_| unreachable!())
    }

    #[tokio::test]
    async fn unended_playlists_are_ended_and_orphans_removed() {
        let sink = MemorySegmentSink::default();
        let playlist =
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"t_init0.mp4\"\n#EXTINF:2.000,\nt_3.m4s\n";
        for (path, data) in [
            ("s/index.m3u8", playlist),
            ("s/t_init0.mp4", "init"),
            ("s/t_3.m4s", "kept"),
            ("s/t_1.m4s", "orphan"),
            (
                "s/master.m3u8",
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nindex.m3u8\n",
            ),
            ("other/t_9.ts", "orphan"),
            // Published by another node right now: left alone.
            ("live/index.m3u8", playlist),
            ("live/t_1.m4s", "not named yet"),
            // A recording: not a stream's folder, left alone.
            ("recordings/r/index.m3u8", playlist),
            ("recordings/r/t_1.m4s", "written after the playlist"),
        ] {
            sink.put(&p(path), Bytes::from(data))
                .await
                .unwrap_or_else(|_| unreachable!());
        }
        let live = [StreamId::parse("live").unwrap_or_else(|_| unreachable!())];
        assert_eq!(recover(&sink, &live).await.ok(), Some(2));
        let mut left: Vec<String> = sink
            .list("")
            .await
            .unwrap_or_default()
            .iter()
            .map(|p| p.to_string())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "live/index.m3u8",
                "live/t_1.m4s",
                "recordings/r/index.m3u8",
                "recordings/r/t_1.m4s",
                "s/index.m3u8",
                "s/master.m3u8",
                "s/t_3.m4s",
                "s/t_init0.mp4"
            ]
        );
        let ended = sink
            .get(&p("s/index.m3u8"))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(String::from_utf8_lossy(&ended).ends_with("t_3.m4s\n#EXT-X-ENDLIST\n"));
        let master = sink
            .get(&p("s/master.m3u8"))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(!String::from_utf8_lossy(&master).contains("ENDLIST"));
    }
}
