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

// Calls the JSON API; throws ApiError with the server's code and message.
export async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  const s = session();
  if (s) headers["Authorization"] = `Bearer ${s.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: "http_" + res.status, message: res.statusText };
    if (res.status === 401 && s) signOut();
    if (res.status === 429) {
      const wait = res.headers.get("Retry-After");
      err.message = `Too many attempts. Try again in ${wait || "a few"} seconds.`;
    }
    throw new ApiError(res.status, err.code, err.message, err.field);
  }
  return data;
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

export async function uiConfig() {
  try { return await (await fetch("/ui-config.json")).json(); } catch { return {}; }
}

renderNav();
