// Shared helpers: API calls, the session (token in localStorage), the header.
const TOKEN_KEY = "streamly.token";
const USER_KEY = "streamly.user";

export function session() {
  const token = localStorage.getItem(TOKEN_KEY);
  let user = null;
  try { user = JSON.parse(localStorage.getItem(USER_KEY) || "null"); } catch { user = null; }
  return token ? { token, user } : null;
}

export function saveSession(auth) {
  localStorage.setItem(TOKEN_KEY, auth.token);
  localStorage.setItem(USER_KEY, JSON.stringify(auth.user));
}

export function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status; this.code = code; this.field = field;
  }
}

// Sends one request to the API; throws ApiError with the server's code and
// message. A 401 ends the session.
async function send(method, path, headers, body) {
  const s = session();
  if (s) headers["Authorization"] = `Bearer ${s.token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body });
  } catch (e) {
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
  }
  if (res.status === 204) return null;
  if (!res.ok) {
    if (res.status === 401 && s) signOut();
    throw await failure(res);
  }
  try { return await res.json(); } catch { return null; }
}

// The ApiError of a response that is not ok: the server's JSON error, or
// its status line.
export async function failure(res) {
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  const err = data && data.error ? data.error : { code: "http_" + res.status, message: res.statusText };
  if (res.status === 429) {
    const wait = res.headers.get("Retry-After");
    err.message = `Too many attempts. Try again in ${wait || "a few"} seconds.`;
  }
  return new ApiError(res.status, err.code, err.message, err.field);
}

// Calls the JSON API.
export function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body === undefined) return send(method, path, headers, undefined);
  headers["Content-Type"] = "application/json";
  return send(method, path, headers, JSON.stringify(body));
}

// Sends a file as the raw body (an avatar).
export function upload(method, path, file) {
  return send(method, path, { "Accept": "application/json", "Content-Type": file.type || "application/octet-stream" }, file);
}

// Seconds as h:mm:ss.
export function clock(seconds) {
  const t = Math.floor(seconds);
  const hms = [Math.floor(t / 3600), Math.floor(t / 60) % 60, t % 60];
  return hms.map((n, i) => (i ? String(n).padStart(2, "0") : String(n))).join(":");
}

// Fills the header navigation according to the session.
export function renderNav() {
  const nav = document.getElementById("nav");
  if (!nav) return;
  const s = session();
  nav.replaceChildren();
  const link = (href, text) => { const a = document.createElement("a"); a.href = href; a.textContent = text; nav.append(a); return a; };
  link("/", "Live");
  if (s) {
    link("/dashboard", "Dashboard");
    const who = document.createElement("span"); who.className = "muted"; who.textContent = s.user ? s.user.username : "";
    nav.append(who);
    const out = document.createElement("button"); out.className = "secondary"; out.type = "button"; out.textContent = "Sign out";
    out.addEventListener("click", () => { signOut(); location.href = "/"; });
    nav.append(out);
  } else {
    link("/signin", "Sign in");
    link("/signup", "Sign up");
  }
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// The avatar, or the name's first letter on a coloured disc.
export function avatar(profile, size) {
  const span = el("span", { class: `avatar${size ? " " + size : ""}`, "aria-hidden": "true" });
  if (profile.avatar_url) span.append(el("img", { src: profile.avatar_url, alt: "" }));
  else span.textContent = (profile.display_name || profile.username).slice(0, 1).toUpperCase();
  return span;
}

// A live thumbnail's URL, changed every 15 s (its cache lifetime): the
// browser keeps an image by URL for as long as the page lives, so the same
// URL would show the first thumbnail (or the placeholder) forever.
export function freshThumbnail(url) {
  return `${url}${url.includes("?") ? "&" : "?"}t=${Math.floor(Date.now() / 15000)}`;
}

export async function uiConfig() {
  try { return await (await fetch("/ui-config.json")).json(); } catch { return {}; }
}

renderNav();
