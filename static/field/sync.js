// Flushing the outbox to POST /api/v1/sync, whenever a network is there. One tab at a time (Web Locks), so a
// second tab never sends the same ops concurrently (and if it did, the server's op_id check would answer duplicate);
// a tab that finds the lock taken flushes again once it is free, so its own newest ops are not left waiting.
import * as store from "./store.js";
import { LIMITS, OPS } from "./rules.js";

// Ops per request: few round trips and one commit per batch on the server (which takes up to its SYNC_MAX_OPS),
// yet a short request on a weak network. Also capped in bytes, well under the server's SYNC_MAX_KB; a batch the
// server still finds too large (413) is sent again in halves.
const BATCH = Math.min(50, LIMITS.max_ops || 50);
const BATCH_BYTES = Math.min(512 * 1024, Math.floor((LIMITS.max_bytes || 2 * 1024 * 1024) / 4));
const encoder = new TextEncoder();
let listeners = [];
export const state = { online: navigator.onLine, syncing: false, needsLogin: false, lastSync: null, error: null,
  jobsVersion: 0, dueSoonMinutes: null };

export function onChange(fn) { listeners.push(fn); }
function changed() { for (const fn of listeners) fn(state); }

async function csrfToken(force = false) {
  let token = force ? null : await store.getMeta("csrf");
  if (!token) {
    const response = await fetch("/api/v1/session", { credentials: "same-origin" });
    if (response.status === 401) throw new AuthNeeded();
    if (!response.ok) throw new Error(`session ${response.status}`);
    const session = await response.json();
    token = session.csrf_token;
    await store.setMeta("csrf", token);
    await store.setMeta("user", { username: session.username, display_name: session.display_name });
  }
  return token;
}

class AuthNeeded extends Error {}

// The phone's clock may be minutes off: every answer's server_time (or its Date header) gives the offset,
// taken at the middle of the round trip.
async function noteServerTime(response, sentAt, body = null) {
  const receivedAt = response.receivedAt || Date.now();
  const stamp = (body && body.server_time) || response.headers.get("Date");
  const server = stamp ? Date.parse(stamp) : NaN;
  if (Number.isNaN(server)) return;
  // A Date header has whole seconds only: used when no server_time came with the answer.
  await store.setClockOffset(Math.round(server - (sentAt + receivedAt) / 2));
  state.clockOffset = store.clockOffset();
}

async function timedFetch(url, init) {
  const sentAt = Date.now();
  const response = await fetch(url, init);
  response.sentAt = sentAt;
  response.receivedAt = Date.now();
  return response;
}

export async function post(url, init, retryCsrf = true) {
  const token = await csrfToken();
  const response = await timedFetch(url, { ...init, credentials: "same-origin",
    headers: { ...(init.headers || {}), "X-CSRFToken": token } });
  if ((response.status === 401 || response.status === 400) && retryCsrf) {
    // 401 csrf_failed: the session is valid but the stored token belongs to an ended one: fetch it again once.
    const body = await response.clone().json().catch(() => ({}));
    if (body.error && body.error.code === "csrf_failed") {
      await store.setMeta("csrf", null);
      return post(url, init, false);
    }
  }
  if (response.status === 401) throw new AuthNeeded();
  return response;
}

async function handleResults(ops, results) {
  const settled = [];
  for (const result of results) {
    const op = ops.find((o) => o.op_id === result.op_id);
    if (!op) continue;
    if (result.status === "applied" || result.status === "duplicate") {
      // A duplicate that had been rejected the first time is still a rejection the technician must see.
      if (result.status === "duplicate" && result.code) await store.reject(op, result.code, result.message);
      else settled.push(op.op_id);
    } else {
      await store.reject(op, result.code, result.message);
    }
  }
  await store.settle(settled);
}

// One op the server will never take, whatever the batch (larger than its limit): retrying it forever would hide
// it and hold up the ops behind it. It moves to the rejected list, kept on the phone with the server's reason.
async function refuseTooLarge(op, response) {
  const error = (await response.json().catch(() => ({}))).error || {};
  await store.reject(op, error.code || "too_large", error.message || `HTTP ${response.status}`);
}

function textBatch(ops, maxOps) {
  const batch = [];
  let bytes = 0;
  for (const { seq, ...op } of ops) {
    if (OPS[op.kind]?.multipart || batch.length >= maxOps) break;  // text ops up to the next photo, in order
    const size = encoder.encode(JSON.stringify(op)).length;
    if (batch.length && bytes + size > BATCH_BYTES) break;
    batch.push(op);
    bytes += size;
  }
  return batch;
}

// The feed early.js asked for while the page's modules were still coming: used by the first flush when the phone
// had nothing to send first (else the feed may predate what was just sent), and only once.
let earlyJobs = globalThis.fieldEarlyJobs || null;

async function flushOnce() {
  const deviceId = await store.deviceId();
  let ops = await store.pendingOps();
  const early = ops.length ? null : earlyJobs;
  earlyJobs = null;
  let maxOps = BATCH;
  while (ops.length) {
    const op = ops[0];
    if (OPS[op.kind]?.multipart) {
      const photo = await store.getPhoto(op.op_id);
      const form = new FormData();
      for (const key of ["op_id", "ticket", "at", "device_at"]) if (op[key]) form.append(key, op[key]);
      form.append("device_id", deviceId);
      if (op.data.caption) form.append("caption", op.data.caption);
      if (op.data.note_id) form.append("note_id", op.data.note_id);
      form.append("file", photo ? photo.blob : new Blob([]), "photo.jpg");
      const response = await post("/api/v1/sync/photo", { method: "POST", body: form });
      if (response.status === 413) { await refuseTooLarge(op, response); ops = await store.pendingOps(); continue; }
      if (!response.ok) throw new Error(`photo ${response.status}`);
      const answer = await response.json();
      await noteServerTime(response, response.sentAt, answer);
      await handleResults([op], answer.results);
    } else {
      const batch = textBatch(ops, maxOps);
      const body = JSON.stringify({ device_id: deviceId, ops: batch });
      const response = await post("/api/v1/sync", { method: "POST", body,
        headers: { "Content-Type": "application/json" } });
      if (response.status === 413 && batch.length > 1) { maxOps = Math.ceil(batch.length / 2); continue; }
      if (response.status === 413) { await refuseTooLarge(batch[0], response); ops = await store.pendingOps(); continue; }
      if (!response.ok) throw new Error(`sync ${response.status}`);
      const answer = await response.json();
      await noteServerTime(response, response.sentAt, answer);
      await handleResults(batch, answer.results);
    }
    ops = await store.pendingOps();
  }
  const jobs = (early && await early) || await timedFetch("/api/v1/me/jobs", { credentials: "same-origin" });
  if (jobs.status === 401) throw new AuthNeeded();
  if (jobs.ok) {
    const feed = await jobs.json();
    state.jobsFetched = true;  // the list is the server's as of now (a job missing from it is not the phone's to do)
    await noteServerTime(jobs, jobs.sentAt, feed);
    const dueSoon = feed.due_soon_minutes ?? feed.policy?.due_soon_minutes;
    if (Number.isFinite(dueSoon) && dueSoon !== state.dueSoonMinutes) {
      state.dueSoonMinutes = dueSoon;
      await store.setMeta("due_soon_minutes", dueSoon);
    }
    if (await store.replaceJobs(feed.jobs, feed.flow || null)) state.jobsVersion = (state.jobsVersion || 0) + 1;
    if (feed.user) await store.setMeta("user", { ...(await store.getMeta("user", {})), ...feed.user });
  }
}

let retry = null;

// navigator.onLine is only a hint (it says "online" behind a dead Wi-Fi or a basement router): a failed
// request marks the app offline, and it tries again every few seconds until a request gets through.
function retrySoon() {
  if (!retry) retry = setTimeout(() => { retry = null; flush(); }, 5000);
}

export async function flush() {
  if (!navigator.onLine) { state.online = false; changed(); retrySoon(); return; }
  const run = async () => {
    state.syncing = true; state.error = null; changed();
    try {
      await flushOnce();
      state.online = true;
      state.needsLogin = false;
      state.lastSync = store.serverNow().toISOString();  // on the server's clock, as every time the steps show
      await store.setMeta("last_sync", state.lastSync);
    } catch (error) {
      if (error instanceof AuthNeeded) { state.online = true; state.needsLogin = true; await store.setMeta("csrf", null); }
      else if (error instanceof TypeError) { state.online = false; retrySoon(); }  // fetch failed: no network
      else { state.error = String(error.message || error); retrySoon(); }
    } finally {
      state.syncing = false; changed();
    }
  };
  if (navigator.locks) return navigator.locks.request("outbox-flush", { ifAvailable: true }, (lock) => {
    if (lock) return run();
    earlyJobs = null;  // another tab is sending this phone's acts: they may postdate the early feed
    // Another tab is sending. It may have read the outbox before this tab's newest op: send once more after it.
    if (!waitingForLock) {
      waitingForLock = true;
      navigator.locks.request("outbox-flush", () => { waitingForLock = false; return run(); });
    }
    return null;
  });
  return run();
}

let waitingForLock = false;

export async function start() {
  state.lastSync = await store.getMeta("last_sync");
  await store.loadClockOffset();
  state.dueSoonMinutes = await store.getMeta("due_soon_minutes");  // the policy's, from the last jobs feed
  window.addEventListener("online", () => { state.online = true; flush(); });
  window.addEventListener("offline", () => { state.online = false; changed(); });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") flush(); });
  setInterval(flush, 30000);
  if (navigator.serviceWorker) {
    navigator.serviceWorker.addEventListener("message", (event) => { if (event.data === "flush") flush(); });
  }
  changed();
  return flush();
}

// Ask the browser to flush later even if the page is closed (Background Sync, where the browser has it).
export async function requestBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker.ready;
    if (registration.sync) await registration.sync.register("outbox");
  } catch (error) { /* not supported: the page flushes on load, online and every 30 s */ }
}
