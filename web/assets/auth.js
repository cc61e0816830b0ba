// Sign in and sign up.
import { api, saveSession } from "/assets/app.js";

const form = document.getElementById("auth-form");
const error = document.getElementById("form-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  const data = Object.fromEntries(new FormData(form));
  const signup = form.dataset.mode === "signup";
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const auth = signup
      ? await api("POST", "/api/auth/register", { username: data.username, email: data.email, password: data.password })
      : await api("POST", "/api/auth/login", { login: data.login, password: data.password });
    saveSession(auth);
    location.href = safeNext(new URLSearchParams(location.search).get("next"));
  } catch (e) {
    error.textContent = e.message;
    const field = e.field && form.querySelector(`[name="${e.field}"]`);
    if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
  } finally {
    button.disabled = false;
  }
});

// Only a same-origin path: "/x" yes; "//evil", "/\evil", "javascript:…", absolute URLs no
// (browsers read a backslash as a slash, so "/\evil" is another host). The
// string itself is returned, not the normalised path ("/.//evil" normalises
// to "//evil", which would be another host).
function safeNext(next) {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.includes("\\")) return "/dashboard";
  try {
    const url = new URL(next, location.origin);
    if (url.origin !== location.origin) return "/dashboard";
    return next;
  } catch {
    return "/dashboard";
  }
}
