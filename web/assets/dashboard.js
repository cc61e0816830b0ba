// Dashboard: create streams, see the key once, rotate, delete, live status.
import { api, el, failure, session } from "/assets/app.js";
import { lineChart } from "/assets/chart.js";

if (!session()) location.href = "/signin?next=/dashboard";

const body = document.getElementById("streams-body");
const table = document.getElementById("streams-table");
const listStatus = document.getElementById("list-status");
const keyPanel = document.getElementById("key-panel");

function showKey(title, rtmpUrl, key) {
  document.getElementById("key-title").textContent = title;
  document.getElementById("rtmp-url").textContent = rtmpUrl;
  document.getElementById("stream-key").textContent = key;
  document.getElementById("ffmpeg-cmd").textContent =
    `ffmpeg -re -i input.mp4 -c:v libx264 -g 50 -c:a aac -f flv ${rtmpUrl}/${key}`;
  document.getElementById("copy-status").textContent = "";
  keyPanel.hidden = false;
  keyPanel.focus();
}

document.getElementById("copy-key").addEventListener("click", async () => {
  const key = document.getElementById("stream-key").textContent;
  const status = document.getElementById("copy-status");
  try {
    await navigator.clipboard.writeText(key);
    status.textContent = "Key copied to the clipboard.";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(document.getElementById("stream-key"));
    getSelection().removeAllRanges(); getSelection().addRange(range);
    status.textContent = "Select and copy the key (the clipboard is not available here).";
  }
});

async function refresh() {
  try {
    const streams = await api("GET", "/api/streams/mine");
    body.replaceChildren(...streams.map(row));
    table.hidden = streams.length === 0;
    // Keep showing the watched stream while it is live, else the first live one.
    const live = streams.filter((s) => s.live);
    const watched = live.find((s) => s.id === health.id) || live[0];
    if (watched) watchHealth(watched); else stopHealth();
    // Viewers of the watched live stream, unless the streamer chose another.
    if (watched && !analytics.id) showAnalytics(watched, false);
    listStatus.textContent = streams.length ? "" : "No streams yet: create one above.";
  } catch (e) {
    if (e.status === 401) { location.href = "/signin?next=/dashboard"; return; }
    listStatus.textContent = `Could not load your streams: ${e.message}`;
  }
}

function row(s) {
  const rotate = el("button", { type: "button", class: "secondary", text: "Rotate key" });
  rotate.addEventListener("click", async () => {
    if (!confirm(`Rotate the key of “${s.title}”? The current key stops working at once.`)) return;
    try {
      const r = await api("POST", `/api/streams/${encodeURIComponent(s.id)}/key`);
      showKey(s.title, r.rtmp_url, r.stream_key);
    } catch (e) { listStatus.textContent = e.message; }
  });
  const del = el("button", { type: "button", class: "danger", text: "Delete" });
  del.addEventListener("click", async () => {
    if (!confirm(`Delete “${s.title}”?`)) return;
    try { await api("DELETE", `/api/streams/${encodeURIComponent(s.id)}`); refresh(); }
    catch (e) { listStatus.textContent = e.message; }
  });
  return el("tr", {},
    el("td", {}, el("a", { href: `/watch/${encodeURIComponent(s.id)}`, text: s.title })),
    el("td", {}, el("span", { class: s.live ? "badge live" : "badge", text: s.live ? "LIVE" : "offline" })),
    el("td", { text: String(s.viewers) }),
    el("td", { class: "actions" }, ...(s.live ? [healthButton(s)] : []), editButton(s), recordButton(s), recordingsButton(s), analyticsButton(s),
      rotate, del),
  );
}

// Editing (issue 15): title, description, category and tags in one form.
const editPanel = document.getElementById("edit-panel");
const editForm = document.getElementById("edit-form");
const editError = document.getElementById("edit-error");
let editing = null;

function editButton(s) {
  const b = el("button", { type: "button", class: "secondary", text: "Edit" });
  b.addEventListener("click", () => {
    editing = s.id;
    document.getElementById("edit-name").textContent = s.title;
    editForm.title.value = s.title;
    editForm.description.value = s.description || "";
    editForm.category.value = s.category || "";
    editForm.tags.value = (s.tags || []).join(" ");
    editError.textContent = "";
    editPanel.hidden = false;
    editPanel.focus();
  });
  return b;
}

editForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!editing) return;
  const tags = editForm.tags.value.split(/[\s,]+/).filter((t) => t);
  try {
    await api("PATCH", `/api/streams/${encodeURIComponent(editing)}`, {
      title: editForm.title.value,
      description: editForm.description.value,
      category: editForm.category.value || null,
      tags,
    });
    editPanel.hidden = true;
    editing = null;
    refresh();
  } catch (e) { editError.textContent = e.message; }
});
document.getElementById("edit-cancel").addEventListener("click", () => { editPanel.hidden = true; editing = null; });

// Recordings (issue 14): the `record` setting per stream, and a panel
// listing a stream's recordings (play, download, delete), a page at a time.
function recordButton(s) {
  const b = el("button", { type: "button", class: "secondary", "aria-pressed": String(s.record),
    text: s.record ? "Recording on" : "Recording off" });
  b.addEventListener("click", async () => {
    try { await api("PATCH", `/api/streams/${encodeURIComponent(s.id)}`, { record: !s.record }); refresh(); }
    catch (e) { listStatus.textContent = e.message; }
  });
  return b;
}

function recordingsButton(s) {
  const b = el("button", { type: "button", class: "secondary", text: "Recordings" });
  b.addEventListener("click", () => showRecordings(s));
  return b;
}

const recPanel = document.getElementById("recordings-panel");
const recBody = document.getElementById("recordings-body");
const recStatus = document.getElementById("recordings-status");
const recMore = document.getElementById("recordings-more");
const recPlayer = document.getElementById("recording-player");
const recState = { stream: null, cursor: null };

async function showRecordings(s) {
  recState.stream = s;
  recState.cursor = null;
  document.getElementById("recordings-title").textContent = s.title;
  recBody.replaceChildren();
  recPlayer.hidden = true;
  recPlayer.removeAttribute("src");
  recPanel.hidden = false;
  recPanel.focus();
  await moreRecordings();
}

recMore.addEventListener("click", moreRecordings);

async function moreRecordings() {
  const s = recState.stream;
  recStatus.textContent = "Loading…";
  try {
    const q = recState.cursor ? `?limit=20&cursor=${encodeURIComponent(recState.cursor)}` : "?limit=20";
    const res = await fetch(`/api/streams/${encodeURIComponent(s.id)}/recordings${q}`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const page = await res.json();
    recBody.append(...page.map(recordingRow));
    recState.cursor = res.headers.get("x-next-cursor");
    recMore.hidden = !recState.cursor;
    document.getElementById("recordings-table").hidden = recBody.children.length === 0;
    recStatus.textContent = recBody.children.length ? "" : "No recordings yet.";
  } catch (e) { recStatus.textContent = `Could not load the recordings: ${e.message}`; }
}

const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

function recordingRow(r) {
  const play = el("button", { type: "button", class: "secondary", text: "Play" });
  play.addEventListener("click", () => { recPlayer.src = r.mp4_url; recPlayer.hidden = false; recPlayer.play(); });
  const download = el("a", { href: r.mp4_url, download: `recording-${r.id}.mp4`, text: "Download" });
  const viewers = el("button", { type: "button", class: "secondary", text: "Viewers" });
  viewers.addEventListener("click", () => showAnalytics(recState.stream, true, r));
  const del = el("button", { type: "button", class: "danger", text: "Delete" });
  const tr = el("tr", { "data-id": r.id },
    el("td", { text: new Date(r.started_at).toLocaleString() }),
    el("td", { text: uptime(r.duration_ms / 1000) }),
    el("td", { text: mb(r.size_bytes) }),
    el("td", { text: r.status }),
    el("td", { class: "actions" }, play, download, viewers, del),
  );
  del.addEventListener("click", async () => {
    if (!confirm("Delete this recording? Its files are removed.")) return;
    try { await api("DELETE", `/api/recordings/${encodeURIComponent(r.id)}`); tr.remove(); }
    catch (e) { recStatus.textContent = e.message; }
  });
  return tr;
}

document.getElementById("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("create-error");
  error.textContent = "";
  try {
    const created = await api("POST", "/api/streams", { title: form.title.value });
    form.reset();
    showKey(created.title, created.rtmp_url, created.stream_key);
    refresh();
  } catch (e) {
    error.textContent = e.message;
  }
});

// Stream health of one live stream, pushed every second while the panel
// shows it (GET /api/streams/{id}/health/events: server-sent events, read
// with fetch because EventSource cannot send the token); the inbound
// bitrate of the last 5 minutes as a chart.
const health = { id: null, abort: null };
const BITRATE_POINTS = 150;
const bitrate = [];
const bitrateChart = lineChart(document.getElementById("bitrate-chart"),
  { title: "Inbound bitrate (video + audio, 1 s)", unit: "kbit/s" });
const healthPanel = document.getElementById("health-panel");
const healthStatus = document.getElementById("health-status");

function healthButton(s) {
  const b = el("button", { type: "button", class: "secondary", text: "Health" });
  b.addEventListener("click", () => { watchHealth(s); healthPanel.scrollIntoView(); });
  return b;
}

function watchHealth(s) {
  if (health.id === s.id) return;
  if (health.abort) health.abort.abort();
  health.id = s.id;
  health.abort = new AbortController();
  document.getElementById("health-title").textContent = s.title;
  document.getElementById("health-warnings").replaceChildren();
  document.getElementById("health-figures").replaceChildren();
  bitrate.length = 0;
  bitrateChart.update(bitrate);
  healthStatus.textContent = "Loading…";
  healthPanel.hidden = false;
  followHealth(s.id, health.abort.signal);
}

function stopHealth() {
  if (health.abort) health.abort.abort();
  health.abort = null;
  health.id = null;
  healthPanel.hidden = true;
}

// Follows the events until the stream stops or another one is watched;
// a dropped connection is retried after 2 s.
async function followHealth(id, signal) {
  while (!signal.aborted) {
    try {
      if (await readHealthEvents(id, signal) === "not_live") break;
    } catch (e) {
      if (signal.aborted) return;
      if (e.code === "not_live") break;
      healthStatus.textContent = e.message;
      await new Promise((done) => setTimeout(done, 2000));
    }
  }
  if (!signal.aborted && id === health.id) { stopHealth(); refresh(); }
}

// One response of server-sent events: renders each `health` event;
// "not_live" when the stream stopped, "ended" when the server closed it.
async function readHealthEvents(id, signal) {
  const s = session();
  const res = await fetch(`/api/streams/${encodeURIComponent(id)}/health/events`, {
    headers: { "Accept": "text/event-stream", "Authorization": `Bearer ${s ? s.token : ""}` }, signal });
  if (!res.ok) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return "ended";
    buffered += value;
    let end;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (event === "not_live") return "not_live";
      if (event === "health" && id === health.id) renderHealth(JSON.parse(data));
    }
  }
}

const codecName = (c) => ({ h264: "H.264", aac: "AAC" })[c] || c;
const num = (x, unit, digits = 0) => (x == null ? "—" : `${x.toFixed(digits)} ${unit}`);

function uptime(s) {
  const t = Math.floor(s);
  const hms = [Math.floor(t / 3600), Math.floor(t / 60) % 60, t % 60];
  return hms.map((n, i) => (i ? String(n).padStart(2, "0") : String(n))).join(":");
}

function renderHealth(h) {
  const v = h.video, a = h.audio;
  const rows = [
    ["Video", v ? [codecName(v.codec), v.profile, v.level].filter(Boolean).join(" ") : "none"],
    ["Resolution", v && v.width ? `${v.width}×${v.height}` : "—"],
    ["Frame rate", num(v && v.fps, "fps", 1)],
    ["Video bitrate", v ? `${num(v.bitrate_kbps, "kbit/s")} (10 s), ${num(v.bitrate_1s_kbps, "kbit/s")} (1 s)` : "—"],
    ["Keyframe interval", num(v && v.keyframe_interval_s, "s", 1)],
    ["Audio", a ? [[codecName(a.codec), a.profile].filter(Boolean).join(" "), a.sample_rate && `${a.sample_rate} Hz`,
      a.channels && `${a.channels} ch`].filter(Boolean).join(" · ") : "none"],
    ["Audio bitrate", a ? `${num(a.bitrate_kbps, "kbit/s")} (10 s), ${num(a.bitrate_1s_kbps, "kbit/s")} (1 s)` : "—"],
    ["Uptime", uptime(h.uptime_s)],
    ["Encoder", h.encoder || "—"],
    ["Dropped frames", String(h.dropped_frames)],
    ["Timestamp jumps", String(h.timestamp_jumps)],
  ];
  document.getElementById("health-figures").replaceChildren(
    ...rows.flatMap(([k, val]) => [el("dt", { text: k }), el("dd", { text: val })]));
  document.getElementById("health-warnings").replaceChildren(
    ...h.warnings.map((w) => el("li", { "data-code": w.code, text: w.message })));
  healthStatus.textContent = h.warnings.length ? "" : "No problems detected.";
  const kbps = [v && v.bitrate_1s_kbps, a && a.bitrate_1s_kbps].filter((x) => x != null);
  if (kbps.length) {
    bitrate.push({ t: new Date(), v: kbps.reduce((x, y) => x + y, 0) });
    if (bitrate.length > BITRATE_POINTS) bitrate.shift();
    bitrateChart.update(bitrate);
  }
}

// Viewer analytics (GET /api/streams/{id}/analytics): the live broadcast's
// (else the last one's) viewers per sampling period, peak, average,
// unique viewers and watch time; polled every 5 s while shown.
const analytics = { id: null, recording: null, timer: null };
const analyticsPanel = document.getElementById("analytics-panel");
const analyticsStatus = document.getElementById("analytics-status");
const viewersChart = lineChart(document.getElementById("viewers-chart"), { title: "Concurrent viewers", unit: "viewers" });

function analyticsButton(s) {
  const b = el("button", { type: "button", class: "secondary", text: "Analytics" });
  b.addEventListener("click", () => showAnalytics(s, true));
  return b;
}

// `recording`: that recording's broadcast instead of the live or last one.
function showAnalytics(s, focus, recording = null) {
  const rid = recording ? recording.id : null;
  if (analytics.id !== s.id || analytics.recording !== rid) {
    clearInterval(analytics.timer);
    analytics.id = s.id;
    analytics.recording = rid;
    document.getElementById("analytics-title").textContent = recording
      ? `${s.title}, recording of ${new Date(recording.started_at).toLocaleString()}` : s.title;
    document.getElementById("analytics-figures").replaceChildren();
    viewersChart.update([]);
    analyticsStatus.textContent = "Loading…";
    pollAnalytics();
    analytics.timer = setInterval(pollAnalytics, 5000);
  }
  analyticsPanel.hidden = false;
  if (focus) analyticsPanel.focus();
}

// Viewer-seconds, in the largest unit that reads well.
function watchTime(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const h = seconds / 3600;
  return h >= 1 ? `${h.toFixed(1)} h` : `${Math.round(seconds / 60)} min`;
}

async function pollAnalytics() {
  const { id, recording } = analytics;
  const current = () => id === analytics.id && recording === analytics.recording;
  try {
    const q = recording ? `?recording=${encodeURIComponent(recording)}` : "";
    const a = await api("GET", `/api/streams/${encodeURIComponent(id)}/analytics${q}`);
    if (!current()) return;
    if (!a.broadcast_started_at) {
      analyticsStatus.textContent = "No broadcast with viewer figures yet.";
      return;
    }
    const started = new Date(a.broadcast_started_at).toLocaleString();
    analyticsStatus.textContent = a.live ? `Live broadcast, started ${started}.` : `Last broadcast, started ${started}.`;
    const rows = [
      ["Viewers now", a.live && a.points.length ? String(a.points[a.points.length - 1].viewers) : "—"],
      ["Peak", String(a.peak_viewers)],
      ["Average", a.average_viewers.toFixed(1)],
      ["Unique viewers", String(a.unique_viewers)],
      ["Watch time", watchTime(a.watch_time_s)],
    ];
    document.getElementById("analytics-figures").replaceChildren(
      ...rows.flatMap(([k, val]) => [el("dt", { text: k }), el("dd", { text: val })]));
    viewersChart.update(a.points.map((p) => ({ t: new Date(p.at), v: p.viewers })));
  } catch (e) {
    if (current()) analyticsStatus.textContent = `Could not load the viewer figures: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 10000);
