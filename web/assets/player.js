// Player settings shared by the watch page and the latency benchmark's page
// (examples/latency serves this file too, so both play the same way).

// hls.js in low-latency mode: on an LL-HLS playlist it uses blocking reload
// (`_HLS_msn`/`_HLS_part`), loads parts and preload hints, and holds back
// PART-HOLD-BACK from the live edge (3 parts, ~0.75 s, on Streamly's
// playlist). On a playlist without parts (ts.m3u8, other servers) it holds
// back 3 target durations, its default. Do not set `liveSyncDuration` or
// `liveSyncDurationCount`: when given, hls.js uses them instead of
// PART-HOLD-BACK, even in low-latency mode.
export const HLS_JS_CONFIG = {
  lowLatencyMode: true,
  // Behind the target latency (after a stall, or at start), play up to
  // 1.25× until back at it, instead of staying late for good.
  maxLiveSyncPlaybackRate: 1.25,
  // Keep 30 s behind the playhead in the buffer, not the whole session.
  backBufferLength: 30,
};

// Whether Media Source Extensions can play H.264 + AAC in fMP4 here (what
// hls.js needs).
export function mseWorks() {
  const ms = window.ManagedMediaSource || window.MediaSource;
  return !!ms && typeof ms.isTypeSupported === "function"
    && ms.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"');
}

// How far behind the broadcast the picture on screen is, in seconds, or
// null when not known. First choice: the viewer's clock minus the
// EXT-X-PROGRAM-DATE-TIME of the frame shown (the server's clock when it
// received the frame; right when both clocks are set, as they usually are).
// When that is not plausible (a clock far off), the distance to the
// playlist's live edge instead.
export function latencySeconds(video, hls) {
  let date = null;
  if (hls) {
    date = hls.playingDate;
  } else if (typeof video.getStartDate === "function") {
    const start = video.getStartDate().getTime();
    if (Number.isFinite(start)) date = new Date(start + video.currentTime * 1000);
  }
  if (date && Number.isFinite(date.getTime())) {
    const seconds = (Date.now() - date.getTime()) / 1000;
    if (seconds > -0.5 && seconds < 120) return Math.max(0, seconds);
  }
  if (hls && Number.isFinite(hls.latency) && hls.latency > 0) return hls.latency;
  const seekable = video.seekable;
  if (seekable && seekable.length) {
    const behind = seekable.end(seekable.length - 1) - video.currentTime;
    if (Number.isFinite(behind) && behind >= 0) return behind;
  }
  return null;
}
