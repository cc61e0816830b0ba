// Home: the channels you follow, live ones first (issue 14), and the live
// streams (by category, by viewers or recency), refreshed every 10 seconds,
// or the results of a search (issue 15).
import { api, avatar, el, freshThumbnail, session } from "/assets/app.js";

const list = document.getElementById("streams");
const status = document.getElementById("status");
const form = document.getElementById("discover");

function query() {
  const q = form.q.value.trim();
  if (q) return { url: `/api/search?q=${encodeURIComponent(q)}`, what: "matching streams" };
  const p = new URLSearchParams({ limit: "100", sort: form.sort.value });
  if (form.category.value) p.set("category", form.category.value);
  return { url: `/api/streams?${p}`, what: "live streams" };
}

// A live stream's thumbnail (refreshed by its node about every 30 s),
// linking to the watch page; nothing when offline.
function thumbnail(s) {
  if (!s.thumbnail_url) return [];
  return [el("a", { class: "thumb", href: `/watch/${encodeURIComponent(s.id)}` },
    el("img", { src: freshThumbnail(s.thumbnail_url), alt: "", loading: "lazy", width: "320", height: "180" }))];
}

const channelLink = (name, text) => el("a", { href: `/c/${encodeURIComponent(name)}`, text: text || name });

// A followed channel: its live stream's thumbnail when live.
function followedCard(f) {
  const s = f.live_streams[0];
  const name = f.channel.display_name || f.channel.username;
  return el("li", { class: "card followed", "data-channel": f.channel.username },
    ...(s ? thumbnail(s) : []),
    el("span", { class: "who" }, avatar(f.channel, "small"), channelLink(f.channel.username, name)),
    el("span", { class: f.live ? "badge live" : "badge", text: f.live ? "LIVE" : "offline" }),
    ...(s ? [el("a", { class: "title", href: `/watch/${encodeURIComponent(s.id)}`, text: s.title })] : []));
}

async function refreshFollowing() {
  if (!session()) return;
  const section = document.getElementById("following-section");
  const followStatus = document.getElementById("following-status");
  try {
    const followed = await api("GET", "/api/following");
    document.getElementById("following").replaceChildren(...followed.map(followedCard));
    followStatus.textContent = followed.length ? "" : "You follow nobody yet: follow channels from their pages.";
    section.hidden = false;
  } catch (e) {
    followStatus.textContent = `Could not load the channels you follow: ${e.message}`;
    section.hidden = false;
  }
}

async function refresh() {
  refreshFollowing();
  const { url, what } = query();
  try {
    const streams = await api("GET", url);
    list.replaceChildren(...streams.map((s) => el("li", { class: "card" },
      ...thumbnail(s),
      el("span", { class: s.live ? "badge live" : "badge", text: s.live ? "LIVE" : "offline" }),
      el("a", { class: "title", href: `/watch/${encodeURIComponent(s.id)}`, text: s.title }),
      el("span", { class: "muted" }, channelLink(s.owner.username),
        [s.category, `${s.viewers} watching`].filter((x) => x).map((x) => ` · ${x}`).join("")),
    )));
    status.textContent = streams.length ? ""
      : what === "live streams" ? "Nobody is live right now. This page refreshes by itself."
      : "No stream matches.";
  } catch (e) {
    status.textContent = `Could not load ${what}: ${e.message}`;
  }
}

form.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
form.category.addEventListener("change", () => { form.q.value = ""; refresh(); });
form.sort.addEventListener("change", () => { form.q.value = ""; refresh(); });

refresh();
setInterval(refresh, 10000);
