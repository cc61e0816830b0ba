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
  // hls.js's own catch-up (a playback rate above 1 when behind its target)
  // only runs while more than 1 s is buffered ahead, so on a 0.75 s hold
  // back it never gets there and playback stays ~1.1 s behind the edge.
  // Off (rate 1); `keepUp` below does it instead.
  maxLiveSyncPlaybackRate: 1,
  // Keep 30 s behind the playhead in the buffer, not the whole session.
  backBufferLength: 30,
};

// Plays a little faster while the picture is behind hls.js's target
// latency (PART-HOLD-BACK, plus a second per stall hls.js saw) and enough
// is buffered ahead not to run dry: at start (hls.js starts at a keyframe,
// up to a GOP further back) and after a stall or a pause. Returns a
// function that stops it.
export function keepUp(video, hls) {
  let catchingUp = false;
  const timer = setInterval(() => {
    const latency = hls.latency, target = hls.targetLatency;
    if (video.paused || !Number.isFinite(latency) || !Number.isFinite(target)) return;
    const b = video.buffered;
    const ahead = b.length ? b.end(b.length - 1) - video.currentTime : 0;
    const behind = latency - target;
    // Start above 0.15 s behind, stop near the target (no flapping).
    catchingUp = ahead > 0.3 && (catchingUp ? behind > 0.03 : behind > 0.15);
    const rate = !catchingUp ? 1 : behind > 0.5 ? 1.25 : 1.1;
    if (video.playbackRate !== rate) video.playbackRate = rate;
  }, 250);
  return () => clearInterval(timer);
}

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
