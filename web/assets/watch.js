// Watch page: the HLS player and the chat room beside it.
import { api, el, session, signOut, uiConfig } from "/assets/app.js";
import { HLS_JS_CONFIG, keepUp, latencySeconds, mseWorks } from "/assets/player.js";

const id = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const player = document.getElementById("player");
const playerMessage = document.getElementById("player-message");
const liveStatus = document.getElementById("live-status");
const latency = document.getElementById("latency");
const latencyValue = document.getElementById("latency-value");
const latencyAnnounce = document.getElementById("latency-announce");
const HLS_TYPE = "application/vnd.apple.mpegurl";
// This page's playback session, sent with every playlist request (hls.js
// keeps the query on its reloads) so the streamer's analytics count this
// player once: random, never stored.
const playbackSession = Array.from(crypto.getRandomValues(new Uint8Array(16)),
  (b) => b.toString(16).padStart(2, "0")).join("");
let attached = false;
// The hls.js instance playing now, if hls.js plays, and what stops its
// catch-up timer.
let hls = null;
let stopKeepUp = null;

function setPlayerMessage(text) {
  stopHls();
  player.replaceChildren(el("p", { class: "message", id: "player-message", text }));
}

function stopHls() {
  if (stopKeepUp) { stopKeepUp(); stopKeepUp = null; }
  if (hls) { hls.destroy(); hls = null; }
}

function setLiveStatus(text, className) {
  // Rewriting the same text would make screen readers repeat it every poll.
  if (liveStatus.textContent !== text) liveStatus.textContent = text;
  liveStatus.className = className;
}

// hls.js, loaded once from the operator's URL; null when there is none or
// it does not load.
async function loadHlsJs(config) {
  if (!config.hls_js_url) return null;
  if (!window.Hls) {
    await new Promise((resolve, reject) => {
      const s = el("script", { src: config.hls_js_url });
      s.onload = resolve; s.onerror = reject;
      document.head.append(s);
    }).catch(() => null);
  }
  return window.Hls && window.Hls.isSupported() ? window.Hls : null;
}

// hls.js with MSE wherever it works: it plays the LL-HLS playlist in
// low-latency mode, which Chromium's native HLS does not. Otherwise the
// browser's own HLS (Safari plays LL-HLS natively).
async function attach(config) {
  const src = `/hls/${encodeURIComponent(id)}/index.m3u8`;
  const playing = `${src}?session=${playbackSession}`;
  const video = el("video", { controls: "", autoplay: "", playsinline: "", "aria-label": "Live video" });
  video.muted = true; // browsers only autoplay muted video; the viewer can unmute
  stopHls();
  const Hls = mseWorks() ? await loadHlsJs(config) : null;
  if (Hls) {
    hls = new Hls(HLS_JS_CONFIG);
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || !hls) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
      else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else { stopHls(); liveStatus.textContent = "The video could not be played."; }
    });
    hls.loadSource(playing);
    hls.attachMedia(video);
    stopKeepUp = keepUp(video, hls);
    video.dataset.player = "hls.js";
  } else if (video.canPlayType(HLS_TYPE)) {
    video.src = playing;
    video.dataset.player = "native";
  } else {
    setPlayerMessage(config.hls_js_url
      ? "This browser cannot play HLS and the hls.js player could not be loaded."
      : "This browser has no built-in HLS playback. Use Safari, Edge or Chromium 142+, " +
        `or open ${location.origin}${src} in VLC or ffplay.`);
    return false;
  }
  video.addEventListener("error", () => { liveStatus.textContent = "The video could not be played."; });
  player.replaceChildren(video);
  video.play().catch(() => { /* autoplay refused: controls are there */ });
  return true;
}

// ---- latency, next to the live badge ----
// The visible figure changes every second and is not announced; screen
// readers hear it through a separate polite region, only when it moved by a
// whole second and at most once a minute.
let announced = { seconds: null, at: 0 };

function updateLatency() {
  const video = player.querySelector("video");
  const seconds = video && !video.paused && video.readyState >= 2 ? latencySeconds(video, hls) : null;
  if (seconds === null) {
    latency.hidden = true;
    return;
  }
  latency.hidden = false;
  latencyValue.textContent = `${seconds.toFixed(1)} s`;
  const rounded = Math.round(seconds);
  const now = Date.now();
  if (rounded !== announced.seconds && now - announced.at >= 60000) {
    latencyAnnounce.textContent = `About ${rounded} ${rounded === 1 ? "second" : "seconds"} behind live.`;
    announced = { seconds: rounded, at: now };
  }
}

// The description, category and tags (edited on the dashboard): rewritten
// only when they changed, so the polling does not disturb screen readers.
function showAbout(s) {
  const description = s.description || "";
  const tags = s.tags || [];
  const category = s.category || "";
  const about = document.getElementById("about");
  const key = JSON.stringify([description, category, tags]);
  if (about.dataset.key === key) return;
  about.dataset.key = key;
  document.getElementById("description").textContent = description;
  const cat = document.getElementById("category");
  cat.textContent = category ? `Category: ${category}` : "";
  cat.hidden = !category;
  document.getElementById("tags").replaceChildren(...tags.map((t) => el("li", { text: `#${t}` })));
  about.hidden = !description && !category && tags.length === 0;
}

// Whether the current <video> has played to its end (or failed).
function playerDone() {
  const video = player.querySelector("video");
  return !video || video.ended || video.error !== null;
}

async function loadStream(config) {
  try {
    const s = await api("GET", `/api/streams/${encodeURIComponent(id)}`);
    document.title = `${s.title} · Streamly`;
    document.getElementById("title").textContent = s.title;
    document.getElementById("owner").replaceChildren("by ",
      el("a", { href: `/c/${encodeURIComponent(s.owner.username)}`, text: s.owner.username }));
    showAbout(s);
    if (s.live) {
      setLiveStatus("● Live", "on");
      if (!attached || playerDone()) attached = await attach(config);
    } else {
      setLiveStatus("Offline. The player starts when the stream goes live.", "muted");
      // Let the player finish what it has buffered, then say so; the next
      // publish gets a fresh player.
      if (!attached || playerDone()) {
        attached = false;
        setPlayerMessage("This stream is offline.");
      }
    }
    return true;
  } catch (e) {
    if (e.status === 404) {
      document.getElementById("title").textContent = "Stream not found";
      setPlayerMessage("There is no stream here.");
      return false;
    }
    liveStatus.textContent = `Could not load the stream: ${e.message}`;
    return true;
  }
}

// ---- chat ----
const messages = document.getElementById("messages");
const chatStatus = document.getElementById("chat-status");
const form = document.getElementById("chat-form");
const input = document.getElementById("chat-input");
let socket = null;
let backoff = 1000;
// The text of the last send until the server echoes it: put back in the box
// when the server refuses it (error frame) or the socket closes first.
let pending = "";
// A token error signs the viewer out; the reconnect is then anonymous and
// the "sign in again" note stays visible.
let keepStatus = false;

function restorePending() {
  if (pending && !input.value) input.value = pending;
  pending = "";
}

function addMessage(m) {
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  messages.append(el("li", { "data-id": m.id }, el("span", { class: "who", text: m.author.username }), m.text));
  while (messages.children.length > 300) messages.firstElementChild.remove();
  if (atBottom) messages.scrollTop = messages.scrollHeight;
}

function connect() {
  const s = session();
  const proto = location.protocol === "https:" ? "wss" : "ws";
  let url = `${proto}://${location.host}/ws?room=${encodeURIComponent(id)}`;
  if (s) url += `&token=${encodeURIComponent(s.token)}`;
  socket = new WebSocket(url);
  socket.addEventListener("open", () => {
    backoff = 1000;
    if (!keepStatus) chatStatus.textContent = "";
    keepStatus = false;
  });
  socket.addEventListener("message", (event) => {
    let f; try { f = JSON.parse(event.data); } catch { return; }
    switch (f.type) {
      case "welcome": {
        const canWrite = f.role && f.role !== "anonymous";
        form.hidden = !canWrite;
        document.getElementById("chat-signin").hidden = canWrite;
        break;
      }
      case "history": messages.replaceChildren(); (f.messages || []).forEach(addMessage); break;
      case "message":
        if (pending && f.text === pending && f.author?.id === s?.user?.id) pending = "";
        addMessage(f);
        break;
      case "deleted": messages.querySelector(`[data-id="${CSS.escape(f.id)}"]`)?.remove(); break;
      case "presence": document.getElementById("viewers").textContent = `${f.viewers} watching`; break;
      case "error": {
        let text = f.message || f.code;
        if (f.retry_after_ms) text += ` (try again in ${Math.ceil(f.retry_after_ms / 1000)} s)`;
        chatStatus.textContent = text;
        restorePending();
        if (f.code === "token_expired" || f.code === "invalid_token") {
          // The server closes the socket (1008); the reconnect is anonymous.
          signOut();
          keepStatus = true;
          chatStatus.textContent += " Sign in again to chat.";
        }
        break;
      }
      default: break;
    }
  });
  socket.addEventListener("close", (event) => {
    restorePending();
    // 1008 (banned, bad room, repeated bad frames) and 1009 (frame too big):
    // reconnecting would be refused the same way. Stop and keep the reason
    // on screen — except after a token error, where the viewer was signed
    // out and an anonymous reconnect can read chat again.
    if ((event.code === 1008 || event.code === 1009) && !keepStatus) {
      const reason = chatStatus.textContent || event.reason
        || (event.code === 1009 ? "Message too large." : "The chat server refused the connection.");
      chatStatus.textContent = `${reason} Chat disconnected; reload the page to try again.`;
      form.hidden = true;
      return;
    }
    if (!keepStatus) chatStatus.textContent = "Chat disconnected; reconnecting…";
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 30000);
  });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: "send", text }));
  pending = text;
  input.value = "";
  chatStatus.textContent = "";
});

(async () => {
  if (!id) { setPlayerMessage("No stream given."); return; }
  const config = await uiConfig();
  if (await loadStream(config)) {
    connect();
    setInterval(() => loadStream(config), 5000);
    setInterval(updateLatency, 1000);
  }
})();
