/**
 * Tidings' browser client for the live layer (docs/websocket.md): an ES module with no
 * dependencies and no build step.
 *
 *     import { StreamWebSocket, NotificationWebSocket } from "/static/tidings.js";
 *     const live = new StreamWebSocket("project-alpha", { token });
 *     live.on("comment_added", (m) => show(m.event));
 *     live.connect();
 *
 * `WebSocketClient` does the protocol's plumbing: the token as a subprotocol, reconnection
 * with exponential backoff and full jitter, a heartbeat, resuming with the last event id
 * (dropping frames it already had) and a send queue while disconnected. The other classes
 * wrap the server's routes.
 *
 * @module tidings
 */

export const PROTOCOL = "tidings.v1";
/** Close codes after which reconnecting cannot help (bad token, no such object). */
export const FATAL_CLOSE_CODES = Object.freeze([4401, 4404]);
const CLIENT_DROP_CODE = 4000; // ours: we gave up on this socket (heartbeat, reconnect())
const TYPING_EVERY_MS = 2000; // the server relays "still typing" at most this often
const ACTIVITY_EVERY_MS = 30000;

/**
 * @typedef {object} ClientOptions
 * @property {string | (() => string | null) | null} [token] The bearer JWT (or a function
 *   returning the current one), sent as the subprotocol `bearer.<token>`, never in the URL.
 * @property {string | null} [lastEventId] Resume after this event (or notification) id.
 * @property {string | null} [page] The current page, for presence (`current_page`).
 * @property {string} [baseUrl] Where the server is, e.g. `wss://tidings.example.com`;
 *   defaults to this page's origin (`ws:` for `http:`, `wss:` for `https:`).
 * @property {typeof WebSocket} [WebSocketImpl] The WebSocket class (tests pass a fake).
 * @property {boolean} [reconnect=true] Reconnect after a close other than 4401/4404.
 * @property {number} [minDelay=500] First backoff cap in ms (then doubling).
 * @property {number} [maxDelay=30000] Largest backoff cap in ms.
 * @property {() => number} [random=Math.random] Jitter source in [0, 1).
 * @property {number} [heartbeatInterval=25000] How often to send our own `ping`, in ms.
 * @property {number} [heartbeatTimeout=10000] Reconnect if nothing arrives this long after
 *   a ping, in ms.
 * @property {number} [maxQueue=100] Frames kept while disconnected (oldest dropped).
 * @property {number} [seenLimit=1000] How many recent ids are remembered to drop repeats.
 */

const DEFAULTS = {
  token: null,
  lastEventId: null,
  page: null,
  baseUrl: undefined,
  WebSocketImpl: undefined,
  reconnect: true,
  minDelay: 500,
  maxDelay: 30000,
  random: Math.random,
  heartbeatInterval: 25000,
  heartbeatTimeout: 10000,
  maxQueue: 100,
  seenLimit: 1000,
};

/**
 * The ws:// or wss:// URL for a path (or an http(s)/ws(s) URL).
 * @param {string} pathOrUrl e.g. `/ws/notifications/`
 * @param {string} [baseUrl] defaults to this page's origin
 * @returns {URL}
 */
export function socketUrl(pathOrUrl, baseUrl) {
  let url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl)) {
    url = new URL(pathOrUrl);
  } else {
    const loc = globalThis.location;
    if (!baseUrl && !loc) throw new TypeError("no location: pass options.baseUrl");
    url = new URL(pathOrUrl, baseUrl || `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  return url;
}

/**
 * One logical connection to a Tidings socket, kept alive across network trouble.
 *
 * Events for {@link WebSocketClient#on}: every server frame by its `type`, `"*"` for every
 * frame, and the pseudo-events `"open"` (the socket opened), `"close"` (`{code, reason,
 * wasClean, willReconnect}`) and `"state"` (`{state, previous, ...}` with `state` one of
 * `idle`, `connecting`, `open`, `reconnecting` (with `delay` and `attempt`) and `closed`
 * (with `fatal: true` after 4401/4404, when it gives up)).
 */
export class WebSocketClient {
  /**
   * @param {string} url a path such as `/ws/streams/project-42/`, or a full URL
   * @param {ClientOptions} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    this.options = { ...DEFAULTS, ...options };
    /** The token (or a function returning it), read at every (re)connect. */
    this.token = this.options.token;
    /** The current page, sent as `page` at every (re)connect. */
    this.page = this.options.page;
    /** The last `connection_established` frame, or null. */
    this.established = null;
    this._lastEventId = this.options.lastEventId || null;
    this._WebSocket = this.options.WebSocketImpl || globalThis.WebSocket;
    this._listeners = new Map();
    this._queue = [];
    this._seen = new Set(); // insertion-ordered: the oldest goes first
    this._ws = null;
    this._state = "idle";
    this._attempt = 0;
    this._wanted = false;
    this._reconnectTimer = null;
    this._pingTimer = null;
    this._deadline = null;
    this._onOnline = () => {
      if (this._state === "reconnecting") this.connect();
    };
  }

  /** `idle`, `connecting`, `open`, `reconnecting` or `closed`. */
  get state() {
    return this._state;
  }

  /** The id of the last event (or notification) received: what a reconnect resumes from.
   * Set it after refetching over REST (e.g. on `resync_required`). */
  get lastEventId() {
    return this._lastEventId;
  }

  set lastEventId(id) {
    this._lastEventId = id || null;
  }

  /**
   * Listens to frames of `type` (or `"*"`, `"open"`, `"close"`, `"state"`).
   * @param {string} type
   * @param {(payload: any, client: WebSocketClient) => void} callback
   * @returns {() => void} a function that removes the listener
   */
  on(type, callback) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(callback);
    return () => this.off(type, callback);
  }

  /** Removes a listener added with {@link WebSocketClient#on}. */
  off(type, callback) {
    this._listeners.get(type)?.delete(callback);
  }

  /** Opens the socket (and keeps it open until {@link WebSocketClient#close}). */
  connect() {
    this._wanted = true;
    if (this._ws) return this;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    globalThis.addEventListener?.("online", this._onOnline);
    let ws;
    try {
      ws = new this._WebSocket(this._buildUrl(), this._protocols());
    } catch (error) {
      // e.g. a token with characters a subprotocol cannot carry: retrying cannot help
      this._wanted = false;
      this._setState("closed", { code: 4401, reason: String(error?.message || error), fatal: true });
      return this;
    }
    this._ws = ws;
    this._setState("connecting");
    ws.onopen = () => ws === this._ws && this._opened();
    ws.onmessage = (message) => ws === this._ws && this._received(message.data);
    ws.onclose = (e) => ws === this._ws && this._closed(e.code, e.reason, e.wasClean);
    ws.onerror = () => {}; // the close that follows says what happened
    return this;
  }

  /** Closes for good (no reconnection). */
  close(code = 1000, reason = "client closed") {
    this._wanted = false;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    globalThis.removeEventListener?.("online", this._onOnline);
    if (this._ws) this._drop(code, reason, false);
    this._setState("closed", { code, reason });
  }

  /** Drops the current socket and connects again at once (the backoff is kept). */
  reconnect() {
    if (this._ws) this._drop(CLIENT_DROP_CODE, "reconnect", true);
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    return this.connect();
  }

  /**
   * Sends a frame now, or queues it until the socket opens.
   * @param {object} frame e.g. `{type: "comment", content: "Hi"}`
   * @returns {boolean} true when sent now, false when queued
   */
  send(frame) {
    if (this._sendNow(frame)) return true;
    this._queue.push(frame);
    if (this._queue.length > this.options.maxQueue) this._queue.shift();
    return false;
  }

  /** Starts our own `ping` every `heartbeatInterval` ms (done on every open). */
  startHeartbeat() {
    this.stopHeartbeat();
    this._pingTimer = setInterval(() => {
      if (!this._sendNow({ type: "ping", ts: Date.now() })) return;
      if (this._deadline === null) {
        this._deadline = setTimeout(() => this._heartbeatMissed(), this.options.heartbeatTimeout);
      }
    }, this.options.heartbeatInterval);
  }

  /** Stops the heartbeat (done on every close). */
  stopHeartbeat() {
    clearInterval(this._pingTimer);
    clearTimeout(this._deadline);
    this._pingTimer = null;
    this._deadline = null;
  }

  // --- internals -------------------------------------------------------------------

  _buildUrl() {
    const url = socketUrl(this.url, this.options.baseUrl);
    if (this._lastEventId) url.searchParams.set("last_event_id", this._lastEventId);
    if (this.page) url.searchParams.set("page", String(this.page).slice(0, 500));
    return url.toString();
  }

  _protocols() {
    const token = typeof this.token === "function" ? this.token() : this.token;
    return token ? [PROTOCOL, `bearer.${token}`] : [PROTOCOL];
  }

  _sendNow(frame) {
    if (!this._ws || this._state !== "open") return false;
    this._ws.send(JSON.stringify(frame));
    return true;
  }

  _opened() {
    this._setState("open");
    this._emit("open", { url: this.url });
    const queued = this._queue.splice(0);
    for (const frame of queued) this._sendNow(frame);
    this.startHeartbeat();
  }

  _received(data) {
    clearTimeout(this._deadline); // any frame shows the server is there
    this._deadline = null;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // not ours
    }
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "ping") this._sendNow({ type: "pong" });
    if (frame.type === "connection_established") {
      this._attempt = 0; // a successful open: the backoff starts over
      this.established = frame;
    }
    const id = frame.id ?? frame.notification?.id;
    if (id) {
      if (this._seen.has(id)) return; // a replay of what we already had
      this._seen.add(id);
      if (this._seen.size > this.options.seenLimit) this._seen.delete(this._seen.values().next().value);
      this._lastEventId = id;
    }
    this._emit(frame.type, frame);
    this._emit("*", frame);
  }

  _closed(code, reason, wasClean) {
    this._ws = null;
    this.stopHeartbeat();
    const fatal = FATAL_CLOSE_CODES.includes(code);
    const willReconnect = this._wanted && !fatal && this.options.reconnect;
    this._emit("close", { code, reason, wasClean, willReconnect });
    if (willReconnect) {
      this._scheduleReconnect();
    } else {
      this._wanted = false;
      this._setState("closed", { code, reason, fatal });
    }
  }

  /** Detaches and closes the current socket without waiting for its close handshake. */
  _drop(code, reason, willReconnect) {
    const ws = this._ws;
    this._ws = null;
    this.stopHeartbeat();
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
    this._emit("close", { code, reason, wasClean: false, willReconnect });
  }

  _heartbeatMissed() {
    this._deadline = null;
    if (!this._ws) return;
    this._drop(CLIENT_DROP_CODE, "heartbeat timeout", true);
    this._scheduleReconnect();
  }

  /** Full jitter: a delay drawn uniformly from [0, min(maxDelay, minDelay * 2^attempt)). */
  _nextDelay() {
    const cap = Math.min(this.options.maxDelay, this.options.minDelay * 2 ** this._attempt);
    return Math.floor(this.options.random() * cap);
  }

  _scheduleReconnect() {
    const delay = this._nextDelay();
    this._attempt += 1;
    this._setState("reconnecting", { delay, attempt: this._attempt });
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (this._wanted) this.connect();
    }, delay);
  }

  _setState(state, detail = {}) {
    const previous = this._state;
    this._state = state;
    this._emit("state", { state, previous, ...detail });
  }

  _emit(type, payload) {
    for (const callback of [...(this._listeners.get(type) || [])]) {
      try {
        callback(payload, this);
      } catch (error) {
        (globalThis.reportError || console.error)(error); // one bad listener breaks nothing
      }
    }
  }
}

/** A socket watching one stream: events, presence; base of the object routes. */
class WatchingWebSocket extends WebSocketClient {
  /**
   * Tells the others which page this user is on (`presence_updated`); kept for reconnects.
   * @param {string} page
   */
  setPage(page) {
    this.page = page;
    return this._sendNow({ type: "presence", current_page: String(page).slice(0, 500) });
  }

  /** The user did something: keeps their `last_seen` (`is_active`) fresh. At most every 30 s. */
  activity() {
    const now = Date.now();
    if (this._activityAt && now - this._activityAt < ACTIVITY_EVERY_MS) return false;
    const sent = this._sendNow({ type: "activity" });
    if (sent) this._activityAt = now;
    return sent;
  }
}

/** Typing and comments: what task and stream sockets take (a project socket refuses them). */
class ConversationWebSocket extends WatchingWebSocket {
  constructor(url, options) {
    super(url, options);
    this._typing = false;
    this._typingAt = 0;
    this.on("open", () => {
      this._typing = false; // a new connection: nobody sees us typing
    });
  }

  /**
   * Says whether the user is typing; call it on every keystroke: "still typing" goes out
   * at most every 2 s, a stop once. Never queued (stale when the socket comes back).
   * @param {boolean} [isTyping=true]
   * @returns {boolean} whether a frame went out
   */
  typing(isTyping = true) {
    const now = Date.now();
    if (isTyping ? this._typing && now - this._typingAt < TYPING_EVERY_MS : !this._typing) {
      return false;
    }
    if (!this._sendNow({ type: "typing", is_typing: Boolean(isTyping) })) return false;
    this._typing = Boolean(isTyping);
    this._typingAt = now;
    return true;
  }

  /**
   * Posts a comment (recorded as a `comment` event, broadcast as `comment_added` to every
   * watcher, the sender included). Queued while disconnected.
   * @param {string} content 1-10,000 characters
   * @param {{parentId?: string}} [options]
   */
  comment(content, { parentId } = {}) {
    this.typing(false);
    const frame = { type: "comment", content };
    if (parentId) frame.parent_id = parentId;
    return this.send(frame);
  }
}

/** `/ws/projects/{projectId}/`: the project's stream (events, presence; no typing). */
export class ProjectWebSocket extends WatchingWebSocket {
  /** @param {string} projectId @param {ClientOptions} [options] */
  constructor(projectId, options) {
    super(`/ws/projects/${encodeURIComponent(projectId)}/`, options);
    this.projectId = projectId;
  }
}

/** `/ws/tasks/{taskId}/`: a task's stream, with typing and comments. */
export class TaskWebSocket extends ConversationWebSocket {
  /** @param {string} taskId @param {ClientOptions} [options] */
  constructor(taskId, options) {
    super(`/ws/tasks/${encodeURIComponent(taskId)}/`, options);
    this.taskId = taskId;
  }
}

/** `/ws/streams/{slug}/`: any stream by slug, with typing and comments. */
export class StreamWebSocket extends ConversationWebSocket {
  /** @param {string} slug @param {ClientOptions} [options] */
  constructor(slug, options) {
    super(`/ws/streams/${encodeURIComponent(slug)}/`, options);
    this.slug = slug;
  }
}

/** `/ws/notifications/`: the user's own feed (`new_notification`, `unread_count`, ...). */
export class NotificationWebSocket extends WebSocketClient {
  /** @param {ClientOptions} [options] */
  constructor(options) {
    super("/ws/notifications/", options);
    /** The latest `unread_count.count` (null before the first). */
    this.unreadCount = null;
    this.on("unread_count", (frame) => {
      this.unreadCount = frame.count;
    });
  }

  /**
   * Marks items read: `{ids: [...]}` (feed item ids) or `{all: true}`. The server answers
   * `notification_read` and `unread_count`. Queued while disconnected.
   * @param {{ids?: string[], all?: boolean}} which
   */
  markRead({ ids, all } = {}) {
    if (all) return this.send({ type: "mark_read", all: true });
    if (!ids || !ids.length) throw new TypeError("markRead takes {ids: [...]} or {all: true}");
    return this.send({ type: "mark_read", ids: [...ids] });
  }
}
