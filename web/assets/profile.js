// The dashboard's "Your channel" panel (issue 14): display name, bio and
// avatar, and a link to the channel page.
import { api, avatar, session, upload } from "/assets/app.js";

const me = session();
const profileForm = document.getElementById("profile-form");
const avatarForm = document.getElementById("avatar-form");
const profileError = document.getElementById("profile-error");
const avatarError = document.getElementById("avatar-error");

function show(profile) {
  document.getElementById("profile-avatar").replaceWith(
    Object.assign(avatar(profile, "large"), { id: "profile-avatar" }));
  profileForm.display_name.value = profile.display_name;
  profileForm.bio.value = profile.bio;
}

async function load() {
  if (!me || !me.user) return;
  const link = document.getElementById("channel-link");
  link.href = `/c/${encodeURIComponent(me.user.username)}`;
  try { show(await api("GET", `/api/users/${encodeURIComponent(me.user.username)}`)); }
  catch (e) { profileError.textContent = `Could not load your profile: ${e.message}`; }
}

profileForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  profileError.textContent = "";
  const status = document.getElementById("profile-status");
  status.textContent = "";
  try {
    show(await api("PATCH", "/api/profile", {
      display_name: profileForm.display_name.value, bio: profileForm.bio.value }));
    status.textContent = "Profile saved.";
  } catch (e) { profileError.textContent = e.message; }
});

avatarForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  avatarError.textContent = "";
  const file = avatarForm.avatar.files[0];
  if (!file) { avatarError.textContent = "Choose a PNG or JPEG file first."; return; }
  try { show(await upload("PUT", "/api/profile/avatar", file)); avatarForm.reset(); }
  catch (e) { avatarError.textContent = e.message; }
});

document.getElementById("avatar-remove").addEventListener("click", async () => {
  avatarError.textContent = "";
  try { show(await api("DELETE", "/api/profile/avatar")); } catch (e) { avatarError.textContent = e.message; }
});

load();
