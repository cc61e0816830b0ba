// A channel page (/c/{username}, issue 14): the profile, a follow button,
// the streams live now and the past broadcasts (each stream's recordings),
// which play on the page.
import { api, avatar, clock, el, freshThumbnail, session } from "/assets/app.js";

const username = decodeURIComponent(location.pathname.split("/")[2] || "");
const status = document.getElementById("channel-status");
const followButton = document.getElementById("follow");
const followError = document.getElementById("follow-error");
const player = document.getElementById("past-player");
let channel = null;

function counts() {
  const n = (k, one, many) => `${channel[k]} ${channel[k] === 1 ? one : many}`;
  document.getElementById("follower-count").textContent = n("followers", "follower", "followers");
  document.getElementById("following-count").textContent = `${channel.following} following`;
}

function renderProfile() {
  const name = channel.display_name || channel.username;
  document.title = `${name} · Streamly`;
  document.getElementById("channel-name").textContent = name;
  document.getElementById("channel-username").textContent = `@${channel.username}`;
  document.getElementById("avatar").replaceWith(Object.assign(avatar(channel, "large"), { id: "avatar" }));
  document.getElementById("bio").replaceChildren(
    ...channel.bio.split("\n").filter((l) => l.trim()).map((line) => el("p", { text: line })));
  counts();
  const me = session();
  const own = me && me.user && me.user.username.toLowerCase() === channel.username.toLowerCase();
  document.getElementById("edit-profile").hidden = !own;
  followButton.hidden = own;
  renderFollow();
  document.getElementById("profile").hidden = false;
}

function renderFollow() {
  const following = channel.followed_by_you === true;
  followButton.textContent = following ? "Following" : "Follow";
  followButton.className = following ? "secondary" : "";
  followButton.setAttribute("aria-pressed", String(following));
}

followButton.addEventListener("click", async () => {
  followError.textContent = "";
  if (!session()) { location.href = `/signin?next=${encodeURIComponent(location.pathname)}`; return; }
  const method = channel.followed_by_you ? "DELETE" : "PUT";
  try {
    const r = await api(method, `/api/users/${encodeURIComponent(channel.username)}/follow`);
    channel.followed_by_you = r.following;
    channel.followers = r.followers;
    renderFollow();
    counts();
  } catch (e) { followError.textContent = e.message; }
});

function renderLive() {
  const live = channel.streams.filter((s) => s.live);
  document.getElementById("live-streams").replaceChildren(...live.map((s) => el("li", { class: "card" },
    el("a", { class: "thumb", href: `/watch/${encodeURIComponent(s.id)}` },
      el("img", { src: freshThumbnail(s.thumbnail_url), alt: "", width: "320", height: "180" })),
    el("span", { class: "badge live", text: "LIVE" }),
    el("a", { class: "title", href: `/watch/${encodeURIComponent(s.id)}`, text: s.title }),
    el("span", { class: "muted", text: `${s.viewers} watching` }))));
  document.getElementById("live-section").hidden = live.length === 0;
}

// The newest 20 recordings of each stream, merged newest first.
async function renderPast() {
  const pastStatus = document.getElementById("past-status");
  document.getElementById("past-section").hidden = false;
  pastStatus.textContent = "Loading past broadcasts…";
  try {
    const pages = await Promise.all(channel.streams.map((s) =>
      api("GET", `/api/streams/${encodeURIComponent(s.id)}/recordings?limit=20`)
        .then((list) => list.map((r) => ({ ...r, title: s.title })))));
    const past = pages.flat().filter((r) => r.status === "ready")
      .sort((a, b) => b.started_at.localeCompare(a.started_at));
    document.getElementById("past-broadcasts").replaceChildren(...past.map(pastCard));
    pastStatus.textContent = past.length ? "" : "No past broadcasts yet.";
  } catch (e) { pastStatus.textContent = `Could not load the past broadcasts: ${e.message}`; }
}

function pastCard(r) {
  const play = el("button", { type: "button", class: "secondary", text: "Play" });
  play.addEventListener("click", () => {
    player.src = r.mp4_url;
    player.hidden = false;
    player.play().catch(() => {});
    player.scrollIntoView({ block: "nearest" });
  });
  return el("li", { class: "card", "data-recording": r.id },
    el("img", { class: "thumb", src: r.thumbnail_url, alt: "", loading: "lazy", width: "320", height: "180" }),
    el("span", { class: "title", text: r.title }),
    el("span", { class: "muted", text: `${new Date(r.started_at).toLocaleString()} · ${clock(r.duration_ms / 1000)}` }),
    play);
}

async function load() {
  try {
    channel = await api("GET", `/api/users/${encodeURIComponent(username)}`);
  } catch (e) {
    status.textContent = e.status === 404 ? "No such channel." : `Could not load the channel: ${e.message}`;
    return;
  }
  status.textContent = "";
  renderProfile();
  renderLive();
  await renderPast();
}

load();
