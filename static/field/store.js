// The phone's local storage (IndexedDB through idb): jobs downloaded while online, the outbox of ops not yet
// accepted by the server, rejected ops with their reasons, photos waiting to upload, drafts, and small facts.
import { openDB } from "../vendor/idb-8.0.4/index.js";
import * as flow from "./flow.js";
import { applyEffects } from "./effects.js";
import { OPS, RULES } from "./rules.js";

const dbPromise = openDB("fieldservice", 1, {
  upgrade(db) {
    db.createObjectStore("jobs", { keyPath: "number" });
    const outbox = db.createObjectStore("outbox", { keyPath: "op_id" });
    outbox.createIndex("seq", "seq");
    db.createObjectStore("rejected", { keyPath: "op_id" });
    db.createObjectStore("photos", { keyPath: "op_id" });
    db.createObjectStore("drafts");
    db.createObjectStore("meta");
  },
});

export async function getMeta(key, fallback = null) {
  const value = await (await dbPromise).get("meta", key);
  return value === undefined ? fallback : value;
}
export async function setMeta(key, value) {
  return (await dbPromise).put("meta", value, key);
}

export async function deviceId() {
  let id = await getMeta("device_id");
  if (!id) {
    id = crypto.randomUUID();
    await setMeta("device_id", id);
  }
  return id;
}

export async function allJobs() {
  return (await dbPromise).getAll("jobs");
}
export async function getJob(number) {
  return (await dbPromise).get("jobs", number);
}
export async function saveJob(job) {
  return (await dbPromise).put("jobs", job);
}
export async function replaceJobs(jobs, declaration = null) {
  // Jobs from the server replace the local copies, but ops still in the outbox are re-applied on top,
  // so what the technician recorded offline keeps showing until the server has it.
  // Answers whether anything changed (the screen is redrawn only then).
  const db = await dbPromise;
  if (declaration) { await setMeta("flow", declaration); currentFlow = declaration; }
  const pending = await db.getAllFromIndex("outbox", "seq");
  const tx = db.transaction(["jobs", "rejected", "meta"], "readwrite");
  const held = await tx.objectStore("jobs").getAll();
  const before = JSON.stringify(held);
  // The jobs that leave the list, with the state they left in: the screen of one says what became of it.
  const numbers = new Set(jobs.map((job) => job.number));
  const gone = held.filter((job) => !numbers.has(job.number));
  if (gone.length) {
    const left = { ...((await tx.objectStore("meta").get("left_jobs")) || {}) };
    for (const job of gone) left[job.number] = job.status;
    await tx.objectStore("meta").put(Object.fromEntries(Object.entries(left).slice(-50)), "left_jobs");
  }
  await tx.objectStore("jobs").clear();
  for (const fetched of jobs) {
    let job = { ...fetched, facts: fetched.facts || {} };
    for (const op of pending.filter((o) => o.ticket === job.number)) job = applyLocally(job, op);
    await tx.objectStore("jobs").put(job);
  }
  // A refused op stays on the phone until its step is done again (the server now has that fact).
  for (const op of await tx.objectStore("rejected").getAll()) {
    const job = jobs.find((j) => j.number === op.ticket);
    if (!job && op.acknowledged) await tx.objectStore("rejected").delete(op.op_id);  // the job is closed
  }
  const after = JSON.stringify(await tx.objectStore("jobs").getAll());
  await tx.done;
  return before !== after;
}

let currentFlow = null;
export async function getFlow() {
  if (!currentFlow) currentFlow = await getMeta("flow");
  return currentFlow;
}

// An op changes the local copy of its job at once, so the screen shows it before any network: its facts move as
// the flow declares (the same rules the server applies), its fields as its kind's declared effects say (the feed
// shows the same after the sync), and its time is kept for the step's tick.
export function applyLocally(job, op) {
  const facts = flow.apply(currentFlow, job.facts || {}, op.kind, op.data || {});
  const next = applyEffects(job, op, OPS[op.kind]?.effects, facts, RULES);
  next.facts = facts;
  next.done_at = { ...(job.done_at || {}), [op.kind]: op.at };
  return next;
}

// The server's clock minus the phone's (negative on a phone that runs fast), estimated at every exchange (sync.js):
// an op carries the corrected time in `at` (the phone's clock plus this offset, applied once, here) and the phone's
// own clock in `device_at`.
let clockOffsetMs = 0;
export function setClockOffset(ms) { clockOffsetMs = ms; return setMeta("clock_offset", ms); }
export function clockOffset() { return clockOffsetMs; }
export function serverNow() { return new Date(Date.now() + clockOffsetMs); }
export async function loadClockOffset() { clockOffsetMs = Number(await getMeta("clock_offset", 0)) || 0; }

let seq = Date.now();
export async function addOp(kind, ticket, data, photo = null) {
  await getFlow();
  const device = new Date();
  const op = { op_id: crypto.randomUUID(), kind, ticket, at: localIso(new Date(device.getTime() + clockOffsetMs)),
    device_at: localIso(device), data, seq: seq++ };
  const db = await dbPromise;
  const tx = db.transaction(["outbox", "jobs", "photos", "rejected"], "readwrite");
  await tx.objectStore("outbox").put(op);
  if (photo) await tx.objectStore("photos").put({ op_id: op.op_id, blob: photo });
  const job = await tx.objectStore("jobs").get(ticket);
  if (job) await tx.objectStore("jobs").put(applyLocally(job, op));
  // The step is being done again: a refusal of the same step is cleared once the server has the new op.
  const key = OPS[kind]?.act_key;  // one act of its kind among several (a test's item)
  for (const old of await tx.objectStore("rejected").getAll()) {
    if (old.ticket === ticket && old.kind === kind && !old.redone && (!key || old.data[key] === data[key])) {
      await tx.objectStore("rejected").put({ ...old, redone: op.op_id });
    }
  }
  await tx.done;
  return op;
}

// A photo in the outbox not sent yet can still be captioned or taken back.
export async function updatePendingPhoto(opId, caption) {
  const db = await dbPromise;
  const tx = db.transaction(["outbox", "jobs"], "readwrite");
  const op = await tx.objectStore("outbox").get(opId);
  if (!op) { await tx.done; return false; }
  op.data = { ...op.data, caption };
  await tx.objectStore("outbox").put(op);
  const job = await tx.objectStore("jobs").get(op.ticket);
  if (job) {
    job.photos = (job.photos || []).map((p) => (p.op_id === opId ? { ...p, caption } : p));
    await tx.objectStore("jobs").put(job);
  }
  await tx.done;
  return true;
}
export async function deletePendingPhoto(opId) {
  const db = await dbPromise;
  const tx = db.transaction(["outbox", "jobs", "photos"], "readwrite");
  const op = await tx.objectStore("outbox").get(opId);
  if (!op) { await tx.done; return false; }
  await tx.objectStore("outbox").delete(opId);
  await tx.objectStore("photos").delete(opId);
  const job = await tx.objectStore("jobs").get(op.ticket);
  if (job) {
    job.photos = (job.photos || []).filter((p) => p.op_id !== opId);
    await tx.objectStore("jobs").put(job);
  }
  await tx.done;
  return true;
}

export async function pendingOps() {
  return (await dbPromise).getAllFromIndex("outbox", "seq");
}
export async function getPhoto(opId) {
  return (await dbPromise).get("photos", opId);
}
export async function settle(opIds) {
  const db = await dbPromise;
  const tx = db.transaction(["outbox", "photos", "rejected"], "readwrite");
  for (const id of opIds) {
    await tx.objectStore("outbox").delete(id);
    await tx.objectStore("photos").delete(id);
  }
  // The step redone and accepted: the earlier refusal has nothing left to recover.
  for (const old of await tx.objectStore("rejected").getAll()) {
    if (old.redone && opIds.includes(old.redone)) await tx.objectStore("rejected").delete(old.op_id);
  }
  await tx.done;
}
export async function reject(op, code, message) {
  const db = await dbPromise;
  const tx = db.transaction(["outbox", "rejected", "photos"], "readwrite");
  await tx.objectStore("rejected").put({ ...op, code, message, rejected_at: new Date().toISOString() });
  await tx.objectStore("outbox").delete(op.op_id);
  await tx.objectStore("photos").delete(op.op_id);
  await tx.done;
}
export async function rejectedOps() {
  return (await dbPromise).getAll("rejected");
}
// Acknowledging hides the warning; what was recorded stays on the phone until the step is done again.
export async function acknowledgeRejected(opId) {
  const db = await dbPromise;
  const op = await db.get("rejected", opId);
  if (op) await db.put("rejected", { ...op, acknowledged: true });
}

export async function getDraft(key) {
  return (await dbPromise).get("drafts", key);
}
export async function setDraft(key, value) {
  return (await dbPromise).put("drafts", value, key);
}
export async function clearDraft(key) {
  return (await dbPromise).delete("drafts", key);
}

// ISO 8601 with the phone's offset (the server refuses times without one).
export function localIso(date) {
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:` +
    `${pad(date.getMinutes())}:${pad(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, "0")}` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}
