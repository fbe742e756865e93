// The /demo page: one project watched live, built on /static/tidings.js (no framework).
//
// Sockets: the project's stream socket (/ws/streams/{slug}/) carries everything the page
// shows about the project: its events, presence, typing and comments (the project socket
// watches the same stream but refuses typing and comments). The slug comes from
// GET /api/streams/?object_type=project&object_id=..., which the REST feed needs anyway.
// The notifications socket carries the bell.

import { NotificationWebSocket, StreamWebSocket } from "/static/tidings.js";

const TOKEN_KEY = "tidings.demo.token";
const PROJECT = new URLSearchParams(location.search).get("project") || "alpha";
const PAGE = location.pathname + location.search; // never the fragment: it may hold the token
const EVENT_FRAMES = ["project_updated", "task_created", "task_assigned", "task_updated", "comment_added", "event"];
const TYPING_TTL_MS = 6000; // a typist we stop hearing from stopped
const TYPING_IDLE_MS = 3000; // we stopped typing after this long without a key
const FEED_LIMIT = 50;

const $ = (selector, root = document) => root.querySelector(selector);
const app = { token: null, live: null, inbox: null, me: null, slug: null, run: 0, presentCount: 0 };
const feed = new Map(); // event id -> element
const presence = new Map(); // user id -> presence entry
const typists = new Map(); // user id -> {name, timer}
const notifications = new Map(); // item id -> item

// --- small helpers ---------------------------------------------------------------------

/** Builds an element; text children only (never HTML from the server). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") for (const [k, v] of Object.entries(value)) el.style.setProperty(k, v);
    else if (key === "icon") el.innerHTML = ICONS[value] ?? ""; // our constants only
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

const svg = (body) => `<svg viewBox="0 0 24 24" aria-hidden="true">${body}</svg>`;
const ICONS = {
  message: svg('<path d="M21 11.5a8.38 8.38 0 0 1-.9 3.8 8.5 8.5 0 0 1-7.6 4.7 8.38 8.38 0 0 1-3.8-.9L3 21l1.9-5.7a8.38 8.38 0 0 1-.9-3.8 8.5 8.5 0 0 1 4.7-7.6 8.38 8.38 0 0 1 3.8-.9h.5a8.48 8.48 0 0 1 8 8v.5z"/>'),
  plus: svg('<circle cx="12" cy="12" r="10"/><line x1="12" y1="8" x2="12" y2="16"/><line x1="8" y1="12" x2="16" y2="12"/>'),
  done: svg('<path d="M22 11.08V12a10 10 0 1 1-5.93-9.14"/><polyline points="22 4 12 14.01 9 11.01"/>'),
  play: svg('<circle cx="12" cy="12" r="10"/><polygon points="10 8 16 12 10 16 10 8"/>'),
  trend: svg('<polyline points="23 6 13.5 15.5 8.5 10.5 1 18"/><polyline points="17 6 23 6 23 12"/>'),
  alert: svg('<path d="M10.29 3.86 1.82 18a2 2 0 0 0 1.71 3h16.94a2 2 0 0 0 1.71-3L13.71 3.86a2 2 0 0 0-3.42 0z"/><line x1="12" y1="9" x2="12" y2="13"/><line x1="12" y1="17" x2="12.01" y2="17"/>'),
  pause: svg('<circle cx="12" cy="12" r="10"/><line x1="10" y1="15" x2="10" y2="9"/><line x1="14" y1="15" x2="14" y2="9"/>'),
  x: svg('<line x1="18" y1="6" x2="6" y2="18"/><line x1="6" y1="6" x2="18" y2="18"/>'),
  users: svg('<path d="M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2"/><circle cx="9" cy="7" r="4"/><path d="M23 21v-2a4 4 0 0 0-3-3.87"/><path d="M16 3.13a4 4 0 0 1 0 7.75"/>'),
  edit: svg('<path d="M12 20h9"/><path d="M16.5 3.5a2.121 2.121 0 0 1 3 3L7 19l-4 1 1-4L16.5 3.5z"/>'),
  flag: svg('<path d="M4 15s1-1 4-1 5 2 8 2 4-1 4-1V3s-1 1-4 1-5-2-8-2-4 1-4 1z"/><line x1="4" y1="22" x2="4" y2="15"/>'),
  zap: svg('<polygon points="13 2 3 14 12 14 11 22 21 10 12 10 13 2"/>'),
  bell: svg('<path d="M18 8A6 6 0 0 0 6 8c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.73 21a2 2 0 0 1-3.46 0"/>'),
};

/** [icon, tone] for an event type: the family decides (the server's emoji for others). */
function iconFor(type = "") {
  if (/(^|_)(comment|note)/.test(type)) return ["message", "blue"];
  if (/_(completed)$/.test(type)) return ["done", "green"];
  if (/_created$/.test(type)) return ["plus", "green"];
  if (/_started$/.test(type)) return ["play", "indigo"];
  if (/_progress_updated$/.test(type)) return ["trend", "indigo"];
  if (/_overdue$/.test(type)) return ["alert", "rose"];
  if (/_on_hold$/.test(type)) return ["pause", "amber"];
  if (/_(cancelled|deleted|archived|removed)$/.test(type)) return ["x", "slate"];
  if (/_(assigned|member_added)$/.test(type)) return ["users", "violet"];
  if (/_(updated|status_changed)$/.test(type)) return ["edit", "slate"];
  if (type.startsWith("milestone")) return ["flag", "indigo"];
  return [null, "slate"];
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
/** "just now", "5 minutes ago", "yesterday", then a date. */
function ago(iso) {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 45) return "just now";
  if (seconds < 3600) return relative.format(-Math.max(1, Math.round(seconds / 60)), "minute");
  if (seconds < 86400) return relative.format(-Math.round(seconds / 3600), "hour");
  if (seconds < 7 * 86400) return relative.format(-Math.round(seconds / 86400), "day");
  return new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric", year: "numeric" });
}

function timeEl(iso) {
  return h("time", { datetime: iso, dataset: { ago: "" }, title: new Date(iso).toLocaleString() }, ago(iso));
}

function refreshTimes() {
  for (const el of document.querySelectorAll("time[data-ago]")) el.textContent = ago(el.dateTime);
}

function initials(name = "?") {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words.at(-1)[0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

function hue(id = "") {
  let n = 7;
  for (const c of id) n = (n * 31 + c.codePointAt(0)) % 360;
  return n;
}

function avatar(user, size = "") {
  const name = displayName(user);
  return h("span", { class: `avatar ${size}`, style: { "--hue": String(hue(user.id)) }, "aria-hidden": "true" }, initials(name));
}

function displayName(user) {
  if (!user) return "Someone";
  const full = user.name || [user.first_name, user.last_name].filter(Boolean).join(" ");
  return full || user.id || "Someone";
}

function firstName(user) {
  return displayName(user).split(" ")[0];
}

/** The claims of a JWT (not verified: only to show who is signed in, and its expiry). */
function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function storage(kind) {
  try {
    return kind === "session" ? window.sessionStorage : window.localStorage;
  } catch {
    return null; // storage disabled
  }
}

function toast(title, body = "", tone = "") {
  const box = $(".toasts");
  const el = h("div", { class: `toast ${tone}`, role: "status", dataset: { testid: "toast" } },
    h("span", { class: "toast-icon", icon: "bell" }),
    h("div", {}, h("strong", {}, title), body ? h("p", {}, body) : null));
  box.prepend(el);
  while (box.children.length > 3) box.lastElementChild.remove();
  setTimeout(() => {
    el.classList.add("leaving");
    setTimeout(() => el.remove(), 300);
  }, 5000);
}

// --- REST --------------------------------------------------------------------------------

class SignedOut extends Error {}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${app.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    signOut("The server refused this token (expired?). Sign in again.");
    throw new SignedOut();
  }
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}`);
  return response.json();
}

// --- sign-in -------------------------------------------------------------------------------

function tokenFromLocation() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (!token) return null;
  fragment.delete("token"); // out of the address bar (and of bookmarks and screenshots)
  const rest = fragment.toString();
  history.replaceState(null, "", PAGE + (rest ? `#${rest}` : ""));
  return token;
}

/** A usable token, or a reason it is not. */
function check(token) {
  const claims = token && claimsOf(token);
  if (!claims || !claims.sub) return { error: "That does not look like a Tidings token." };
  if (claims.exp && claims.exp * 1000 < Date.now()) return { error: "That token has expired." };
  return { claims };
}

function signIn(token, source) {
  token = token.trim().replace(/^Bearer\s+/i, "");
  const { claims, error } = check(token);
  if (error) return showSignIn(source === "stored" ? "" : error);
  // This tab keeps its own identity (sessionStorage), so two tabs can be two people;
  // localStorage remembers the last sign-in for new tabs.
  storage("session")?.setItem(TOKEN_KEY, token);
  storage("local")?.setItem(TOKEN_KEY, token);
  start(token, claims).catch(failed);
}

function failed(err) {
  if (!(err instanceof SignedOut)) toast("Something went wrong", String(err?.message || err), "error");
}

/** Forgets what the previous sign-in showed. */
function reset() {
  for (const map of [feed, presence, notifications]) map.clear();
  for (const user of [...typists.keys()]) stopTyping(user);
  for (const id of ["activity-feed", "presence-list", "people-list", "notification-list", "gantt"]) {
    $(`[data-testid=${id}]`).replaceChildren();
  }
  $("[data-testid=people]").hidden = true;
  $("[data-testid=presence-count]").textContent = "";
  $("[data-testid=project-meta]").textContent = "";
  renderBadge(0);
}

function signOut(message = "") {
  app.run += 1; // whatever the signed-out session still awaits, it stops there
  app.live?.close();
  app.inbox?.close();
  app.live = app.inbox = null;
  storage("session")?.removeItem(TOKEN_KEY);
  storage("local")?.removeItem(TOKEN_KEY);
  showSignIn(message);
}

function showSignIn(message = "") {
  $("[data-signed-in]").hidden = true;
  $("[data-testid=workspace]").hidden = true;
  $("[data-testid=sign-in]").hidden = false;
  const notice = $("[data-testid=sign-in-message]");
  notice.textContent = message;
  notice.hidden = !message;
}

function wireSignIn() {
  for (const button of document.querySelectorAll(".demo-users [data-user]")) {
    button.addEventListener("click", async () => {
      let response;
      try {
        response = await fetch(`/demo/token?user=${encodeURIComponent(button.dataset.user)}`);
      } catch {
        return showSignIn("The server cannot be reached.");
      }
      if (!response.ok) {
        $(".demo-users").replaceChildren(h("p", { class: "muted small" }, "Demo sign-in works in development only: paste a token."));
        return;
      }
      signIn((await response.json()).token, "demo");
    });
  }
  $("[data-testid=token-form]").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("[data-testid=token-input]").value, "form");
  });
  $("[data-testid=sign-out]").addEventListener("click", () => signOut());
}

// --- the workspace ---------------------------------------------------------------------------

async function start(token, claims) {
  app.live?.close();
  app.inbox?.close();
  const run = ++app.run;
  app.token = token;
  const me = { id: claims.sub, name: [claims.given_name, claims.family_name].filter(Boolean).join(" ") || claims.name || claims.sub };
  app.me = me;
  $("[data-testid=sign-in]").hidden = true;
  $("[data-signed-in]").hidden = false;
  $("[data-testid=workspace]").hidden = false;
  $(".me .avatar").replaceWith(avatar(me, "avatar-sm"));
  $(".me-name").textContent = displayName(me);
  $("[data-testid=project-id]").textContent = PROJECT;
  $("[data-testid=project-name]").textContent = `Project ${PROJECT}`;
  document.title = `Project ${PROJECT} · Tidings`;

  reset();
  startNotifications(token, run).catch(failed);
  loadGantt().catch(failed);
  const found = await api(`/api/streams/?object_type=project&object_id=${encodeURIComponent(PROJECT)}&page_size=1`);
  if (run !== app.run) return;
  const stream = found?.results?.[0];
  composerEnabled(Boolean(stream));
  if (!stream) {
    $("[data-testid=project-meta]").textContent = "Nothing has happened in this project yet.";
    showFeedEmpty();
    renderConnection();
    return;
  }
  app.slug = stream.slug;
  app.streamName = stream.name;
  const newest = await loadFeed();
  if (run === app.run) startLive(token, stream.slug, newest);
}

function composerEnabled(enabled) {
  for (const el of $("[data-testid=comment-form]").elements) el.disabled = !enabled;
}

/** The stream's name, unless it is the default one; else the name a project event gave. */
function renderTitle(events) {
  const named = events.find((e) => e.event_type?.startsWith("project_") && typeof e.data?.name === "string");
  const automatic = !app.streamName || app.streamName === `project ${PROJECT}`;
  const title = automatic ? named?.data.name || `Project ${PROJECT}` : app.streamName;
  $("[data-testid=project-name]").textContent = title;
  document.title = `${title} · Tidings`;
}

function startLive(token, slug, lastEventId) {
  // Resuming after the newest event the REST page had: nothing falls between the two.
  const live = new StreamWebSocket(slug, { token, page: PAGE, lastEventId });
  app.live = live;
  live.on("state", (s) => {
    renderConnection();
    if (s.fatal && s.code === 4401) signOut("The server refused this token. Sign in again.");
    else if (s.fatal) toast("Not watching", "This project's stream is gone.", "error");
  });
  live.on("connection_established", (m) => {
    app.me = m.user;
    presence.clear();
    for (const entry of m.presence || []) presence.set(entry.user.id, entry);
    app.presentCount = m.present_count ?? presence.size;
    renderPresence();
  });
  live.on("user_joined", (m) => {
    if (!presence.has(m.user.id)) app.presentCount += 1;
    presence.set(m.user.id, m.presence);
    renderPresence();
  });
  live.on("presence_updated", (m) => {
    presence.set(m.user.id, m.presence);
    renderPresence();
  });
  live.on("user_left", (m) => {
    if (presence.delete(m.user.id) || app.presentCount > presence.size) app.presentCount -= 1;
    stopTyping(m.user.id);
    renderPresence();
  });
  live.on("user_typing", (m) => (m.is_typing ? startTyping(m.user) : stopTyping(m.user.id)));
  for (const type of EVENT_FRAMES) {
    live.on(type, (m) => {
      if (m.event.actor) stopTyping(m.event.actor.id); // they sent what they typed
      addEvent(m.event, true);
    });
  }
  live.on("resync_required", async () => {
    live.lastEventId = await loadFeed();
  });
  live.on("error", (m) => {
    if (m.code !== "unauthorized" && m.code !== "not_found") toast("Not sent", m.detail, "error");
  });
  live.connect();
}

// --- presence --------------------------------------------------------------------------------

function sortedPresence() {
  return [...presence.values()].sort((a, b) => {
    if (a.user.id === app.me?.id) return -1;
    if (b.user.id === app.me?.id) return 1;
    return String(a.session_start).localeCompare(String(b.session_start));
  });
}

function renderPresence() {
  const list = $("[data-testid=presence-list]");
  const entries = sortedPresence();
  renderPeople();
  const shown = entries.slice(0, 6);
  list.replaceChildren(...shown.map((entry, i) => {
    const item = presenceItem(entry);
    item.style.zIndex = String(shown.length - i); // each one's dot above the next avatar
    return item;
  }));
  const total = Math.max(app.presentCount, entries.length);
  if (total > shown.length) list.append(h("li", { class: "presence-more" }, `+${total - shown.length}`));
  const others = total - (presence.has(app.me?.id) ? 1 : 0);
  $("[data-testid=presence-count]").textContent = others > 0 ? `${total} here now` : "Only you";
}

function presenceItem(entry) {
  const you = entry.user.id === app.me?.id;
  const name = displayName(entry.user) + (you ? " (you)" : "");
  const status = entry.is_active ? "Active" : `Idle since ${ago(entry.last_seen)}`;
  const tip = [name, entry.current_page ? `On ${entry.current_page}` : null, status].filter(Boolean);
  return h("li", {
    class: "presence-item", tabindex: "0", dataset: { testid: "presence-item", userId: entry.user.id, active: String(entry.is_active) },
    "aria-label": tip.join(", "),
  },
  avatar(entry.user),
  h("span", { class: `presence-status ${entry.is_active ? "online" : "idle"}`, "aria-hidden": "true" }),
  h("span", { class: "tooltip", role: "tooltip" }, h("strong", {}, name), ...tip.slice(1).map((t) => h("span", {}, t))));
}

// --- typing and the comment box -------------------------------------------------------------

function startTyping(user) {
  clearTimeout(typists.get(user.id)?.timer);
  typists.set(user.id, { name: firstName(user), timer: setTimeout(() => stopTyping(user.id), TYPING_TTL_MS) });
  renderTyping();
}

function stopTyping(userId) {
  if (!typists.has(userId)) return;
  clearTimeout(typists.get(userId).timer);
  typists.delete(userId);
  renderTyping();
}

function renderTyping() {
  const names = [...typists.values()].map((t) => t.name);
  const indicator = $("[data-testid=typing-indicator]");
  indicator.hidden = names.length === 0;
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = `${names.length} people are typing…`;
  $(".typing-text", indicator).textContent = text;
}

function wireComposer() {
  const form = $("[data-testid=comment-form]");
  const input = $("[data-testid=comment-input]");
  const live = {
    typing: (on) => app.live?.typing(on),
    activity: () => app.live?.activity(),
    comment: (content) => app.live?.comment(content),
  };
  let idle = null;
  const resize = () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  };
  input.oninput = () => {
    resize();
    clearTimeout(idle);
    if (!input.value.trim()) return live.typing(false);
    live.typing(true);
    idle = setTimeout(() => live.typing(false), TYPING_IDLE_MS);
  };
  input.onblur = () => live.typing(false);
  input.onkeydown = (e) => {
    live.activity();
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  };
  form.onsubmit = (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    clearTimeout(idle);
    if (!live.comment(content)) toast("Offline", "Your comment goes out when the connection is back.");
    input.value = "";
    resize();
  };
}

// --- the activity feed ------------------------------------------------------------------------

/** Loads the newest events over REST; the newest id (what the socket resumes after). */
async function loadFeed() {
  const page = await api(`/api/streams/${encodeURIComponent(app.slug)}/events/?page_size=20`);
  const events = page?.results || [];
  feed.clear();
  $("[data-testid=activity-feed]").replaceChildren();
  for (const event of events.slice().reverse()) addEvent(event, false);
  app.eventCount = page?.count ?? events.length;
  renderMeta();
  renderTitle(events);
  showFeedEmpty();
  return events[0]?.id || null;
}

function renderMeta() {
  const n = app.eventCount;
  $("[data-testid=project-meta]").textContent = `${n} event${n === 1 ? "" : "s"} · stream ${app.slug}`;
}

function showFeedEmpty(message = "No activity yet.") {
  const empty = $("[data-testid=feed-empty]");
  empty.textContent = message;
  empty.hidden = feed.size > 0;
}

function addEvent(event, isLive) {
  if (feed.has(event.id)) return;
  const list = $("[data-testid=activity-feed]");
  const el = feedItem(event, isLive);
  feed.set(event.id, el);
  // newest first, by when it happened (an event recorded late lands in its place)
  const later = [...list.children].find((li) => li.dataset.occurredAt < event.occurred_at);
  list.insertBefore(el, later || null);
  while (list.children.length > FEED_LIMIT) {
    feed.delete(list.lastElementChild.dataset.eventId);
    list.lastElementChild.remove();
  }
  showFeedEmpty();
  if (isLive) {
    app.eventCount += 1;
    renderMeta();
  }
  if (isLive && event.event_type.startsWith("milestone")) loadGanttSoon();
}

function feedItem(event, isLive) {
  const [icon, tone] = iconFor(event.event_type);
  const isComment = event.event_type === "comment" || event.event_type === "note";
  const text = isComment && typeof event.data?.text === "string" ? event.data.text : null;
  const actor = event.actor ? displayName({ ...event.actor, id: event.actor.id }) : "Tidings";
  return h("li", {
    class: `feed-item${isLive ? " is-new" : ""}`,
    dataset: { testid: "feed-item", eventId: event.id, occurredAt: event.occurred_at, type: event.event_type },
  },
  h("span", { class: `feed-icon tone-${tone}`, icon: icon || undefined }, icon ? null : event.icon || "•"),
  h("div", { class: "feed-body" },
    text
      ? [h("p", { class: "feed-title" }, h("strong", {}, actor), " commented"), h("p", { class: "feed-quote" }, text)]
      : h("p", { class: "feed-title" }, event.summary || event.event_type_display),
    h("p", { class: "feed-meta" },
      text ? null : [h("span", {}, actor), h("span", { class: "dot" }, "·")],
      timeEl(event.occurred_at), h("span", { class: "dot" }, "·"),
      h("span", { class: "feed-type" }, event.event_type_display || event.event_type))));
}

// --- notifications -----------------------------------------------------------------------------

async function startNotifications(token, run) {
  const page = await api("/api/events/activity-feed/?page_size=10");
  if (run !== app.run) return;
  const items = page?.results || [];
  for (const item of items.slice().reverse()) addNotification(item);
  const inbox = new NotificationWebSocket({ token, lastEventId: items[0]?.id || null });
  app.inbox = inbox;
  inbox.on("state", (s) => {
    renderConnection();
    if (s.fatal) signOut("The server refused this token. Sign in again.");
  });
  inbox.on("unread_count", (m) => renderBadge(m.count));
  inbox.on("new_notification", (m) => {
    addNotification(m.notification);
    if ($("[data-testid=notification-popup]").hidden) toast(m.notification.title, m.notification.description);
  });
  inbox.on("notification_read", (m) => {
    for (const item of notifications.values()) {
      const hit = m.all || m.ids?.includes(item.id) || (m.stream_id && m.stream_id === item.stream_id);
      if (hit) markItemRead(item);
    }
  });
  inbox.on("resync_required", async () => {
    const fresh = await api("/api/events/activity-feed/?page_size=10");
    notifications.clear();
    $("[data-testid=notification-list]").replaceChildren();
    for (const item of (fresh?.results || []).slice().reverse()) addNotification(item);
    inbox.lastEventId = fresh?.results?.[0]?.id || null;
  });
  inbox.connect();
}

function renderBadge(count) {
  const badge = $("[data-testid=unread-badge]");
  badge.dataset.count = String(count);
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.hidden = count === 0;
  $("[data-testid=notification-bell]").setAttribute("aria-label", count ? `Notifications, ${count} unread` : "Notifications");
}

function addNotification(item) {
  if (notifications.has(item.id)) return;
  notifications.set(item.id, item);
  const [icon, tone] = iconFor(item.activity_type);
  const el = h("li", {
    class: `notification${item.is_read ? "" : " unread"}`, dataset: { testid: "notification-item", id: item.id },
  },
  h("button", { type: "button", class: "notification-button", onclick: () => !item.is_read && app.inbox?.markRead({ ids: [item.id] }) },
    h("span", { class: `feed-icon tone-${tone}`, icon: icon || "bell" }),
    h("span", { class: "notification-body" },
      h("strong", {}, item.title || item.activity_type_display),
      item.description && item.description !== item.title ? h("span", { class: "notification-text" }, item.description) : null,
      h("span", { class: "feed-meta" }, timeEl(item.created_at), h("span", { class: "dot" }, "·"), item.activity_type_display)),
    h("span", { class: "unread-dot", "aria-label": item.is_read ? null : "unread" })));
  const list = $("[data-testid=notification-list]");
  list.prepend(el);
  while (list.children.length > 30) {
    notifications.delete(list.lastElementChild.dataset.id);
    list.lastElementChild.remove();
  }
  $(".notification-empty").hidden = notifications.size > 0;
}

function markItemRead(item) {
  item.is_read = true;
  document.querySelector(`[data-testid=notification-item][data-id="${CSS.escape(item.id)}"]`)?.classList.remove("unread");
}

function wirePopup() {
  const bell = $("[data-testid=notification-bell]");
  const popup = $("[data-testid=notification-popup]");
  const toggle = (open) => {
    popup.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (open) {
      refreshTimes();
      $(".toasts").replaceChildren(); // the list says it all now
    }
  };
  bell.addEventListener("click", (e) => {
    e.stopPropagation();
    toggle(popup.hidden);
  });
  document.addEventListener("click", (e) => {
    if (!popup.hidden && !popup.contains(e.target)) toggle(false);
  });
  document.addEventListener("keydown", (e) => e.key === "Escape" && toggle(false));
  $("[data-testid=mark-all-read]").addEventListener("click", () => app.inbox?.markRead({ all: true }));
}

// --- connection state ---------------------------------------------------------------------------

function renderConnection() {
  const sockets = [app.live, app.inbox].filter(Boolean);
  const states = sockets.map((s) => s.state);
  let state = "connecting";
  let label = "Connecting…";
  if (states.length && states.every((s) => s === "open")) [state, label] = ["open", "Live"];
  else if (states.includes("closed")) [state, label] = ["closed", "Offline"];
  else if (states.includes("reconnecting")) [state, label] = ["reconnecting", "Reconnecting…"];
  const el = $("[data-testid=connection-state]");
  el.dataset.state = state;
  $(".connection-label", el).textContent = label;
  el.title = sockets.map((s) => `${s.url}: ${s.state}`).join("\n");
}

// --- the Gantt ----------------------------------------------------------------------------------

const DAY = 86400000;
const day = (iso) => Date.parse(`${iso}T00:00:00Z`) / DAY;
const shortDate = (d) => new Date(d * DAY).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
let ganttTimer = null;

function loadGanttSoon() {
  clearTimeout(ganttTimer);
  ganttTimer = setTimeout(loadGantt, 400);
}

async function loadGantt() {
  const gantt = await api(`/api/milestones/gantt/?project_id=${encodeURIComponent(PROJECT)}`);
  renderGantt(gantt?.rows || [], gantt?.projected_end);
}

function renderGantt(rows, projectedEnd) {
  const box = $("[data-testid=gantt]");
  $("[data-testid=gantt-empty]").hidden = rows.length > 0;
  box.hidden = rows.length === 0;
  if (!rows.length) {
    $("[data-testid=gantt-summary]").textContent = "";
    return box.replaceChildren();
  }
  const span = (r) => [r.start || r.planned_start, r.end || r.planned_end];
  const days = rows.flatMap((r) => [...span(r), r.planned_start, r.planned_end]).filter(Boolean).map(day);
  const today = Math.floor(Date.now() / DAY);
  const from = Math.min(...days, today) - 2;
  const to = Math.max(Math.max(...days, today) + 3, from + 14);
  const at = (d) => `${(((d - from) / (to - from)) * 100).toFixed(3)}%`;
  const length = (days) => `${((days / (to - from)) * 100).toFixed(3)}%`;
  const names = new Map(rows.map((r) => [r.id, r.name]));

  // One layer under the rows: tick lines and today's line, continuous from top to bottom.
  const step = to - from > 120 ? 28 : to - from > 45 ? 14 : 7;
  const ticks = [];
  const margin = (to - from) * 0.05; // a label at the very edge would stick out
  for (let d = Math.ceil((from - 4) / step) * step + 4; d < to - margin; d += step) { // Mondays
    if (d > from + margin) ticks.push(d);
  }
  const grid = h("div", { class: "gantt-grid", "aria-hidden": "true" },
    ...ticks.map((d) => h("span", { class: "gantt-line", style: { left: at(d) } })),
    h("span", { class: "gantt-today", style: { left: at(today) }, title: "Today" }));
  const scale = h("div", { class: "gantt-track gantt-scale", style: { "--r": "1", "--rt": "1" }, "aria-hidden": "true" },
    ...ticks.map((d) => h("span", { class: "gantt-tick", style: { left: at(d) } }, shortDate(d))));

  const cells = rows.flatMap((row, i) => {
    const rowVars = { "--r": String(i + 2), "--rl": String(2 * i + 2), "--rt": String(2 * i + 3) };
    const [start, end] = span(row);
    const after = row.depends_on.map((id) => names.get(id)).filter(Boolean);
    const status = row.status.replace("_", " ");
    const sub = [
      row.critical ? h("span", { class: "critical-text" }, "Critical") : null,
      row.at_risk ? h("span", { class: "risk-text" }, "At risk") : null,
      h("span", {}, row.status === "completed" ? "Done" : `${row.progress}%`),
      after.length ? h("span", { class: "gantt-after" }, `after ${after.join(", ")}`) : null,
    ].filter(Boolean);
    const label = h("div", { class: "gantt-label", style: rowVars },
      h("span", { class: `status-dot status-${row.status}`, title: status }),
      h("span", { class: "gantt-text" },
        h("span", { class: "gantt-name", title: row.name }, row.name),
        h("span", { class: "gantt-sub" }, ...sub.flatMap((el, n) => (n ? [h("span", { class: "dot" }, "·"), el] : [el])))));
    const track = h("div", { class: "gantt-track", style: rowVars });
    if (row.planned_start && row.planned_end) {
      const planned = day(row.planned_end) - day(row.planned_start) + 1;
      track.append(h("span", { class: "gantt-planned", style: { left: at(day(row.planned_start)), width: length(planned) } }));
    }
    if (start && end) {
      const tip = [`${row.name}: ${status}, ${row.progress}%`, `${shortDate(day(start))} – ${shortDate(day(end))}`];
      if (after.length) tip.push(`After ${after.join(", ")}`);
      if (row.critical) tip.push("On the critical path");
      track.append(h("span", {
        class: `gantt-bar status-${row.status}${row.critical ? " critical" : ""}`,
        style: { left: at(day(start)), width: length(day(end) - day(start) + 1) },
        title: tip.join("\n"),
        dataset: { testid: "gantt-bar", critical: String(row.critical), status: row.status },
      }, h("span", { class: "gantt-progress", style: { width: `${row.progress}%` } })));
    } else {
      track.append(h("span", { class: "gantt-unscheduled" }, "Not scheduled"));
    }
    return [label, track];
  });
  box.style.setProperty("--rows", String(rows.length + 1));
  box.style.setProperty("--rows-m", String(2 * rows.length + 1));
  box.replaceChildren(grid, scale, ...cells);
  const done = rows.filter((r) => r.status === "completed").length;
  const finish = projectedEnd ? ` · projected end ${shortDate(day(projectedEnd))}` : "";
  $("[data-testid=gantt-summary]").textContent = `${done} of ${rows.length} done${finish}`;
}

// --- who is here (the list) ----------------------------------------------------------------------

function renderPeople() {
  const entries = sortedPresence();
  $("[data-testid=people-list]").replaceChildren(...entries.map((entry) => {
    const you = entry.user.id === app.me?.id;
    const where = entry.current_page ? `On ${entry.current_page}` : "Here";
    return h("li", { class: "person", dataset: { testid: "person", userId: entry.user.id } },
      h("span", { class: "person-avatar" }, avatar(entry.user),
        h("span", { class: `presence-status ${entry.is_active ? "online" : "idle"}`, "aria-hidden": "true" })),
      h("span", { class: "person-text" },
        h("strong", {}, displayName(entry.user), you ? h("span", { class: "muted" }, " (you)") : null),
        h("span", { class: "muted small" }, where, " · ", entry.is_active ? "active" : "idle",
          entry.session_start ? [" · since ", h("time", { datetime: entry.session_start }, clock(entry.session_start))] : null)));
  }));
  $("[data-testid=people]").hidden = entries.length === 0;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
}

// --- boot ---------------------------------------------------------------------------------------

wireSignIn();
wirePopup();
wireComposer();
document.addEventListener("pointerdown", () => app.live?.activity(), { passive: true });
setInterval(refreshTimes, 30000);
const initial = tokenFromLocation();
const stored = storage("session")?.getItem(TOKEN_KEY) || storage("local")?.getItem(TOKEN_KEY);
if (initial) signIn(initial, "fragment");
else if (stored) signIn(stored, "stored");
else showSignIn();
window.tidingsDemo = app; // for the console
