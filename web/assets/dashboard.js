// Dashboard: create streams, see the key once, rotate, delete, live status.
import { api, el, session } from "/assets/app.js";

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
    el("td", { class: "actions" }, rotate, del),
  );
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

refresh();
setInterval(refresh, 10000);
