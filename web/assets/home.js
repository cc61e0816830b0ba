// Home: the live streams, refreshed every 10 seconds.
import { api, el } from "/assets/app.js";

const list = document.getElementById("streams");
const status = document.getElementById("status");

async function refresh() {
  try {
    const streams = await api("GET", "/api/streams");
    list.replaceChildren(...streams.map((s) => el("li", { class: "card" },
      el("span", { class: "badge live", text: "LIVE" }),
      el("a", { class: "title", href: `/watch/${encodeURIComponent(s.id)}`, text: s.title }),
      el("span", { class: "muted", text: `${s.owner.username} · ${s.viewers} watching` }),
    )));
    status.textContent = streams.length ? "" : "Nobody is live right now. This page refreshes by itself.";
  } catch (e) {
    status.textContent = `Could not load live streams: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 10000);
