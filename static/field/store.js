// The phone's local storage (IndexedDB through idb): jobs downloaded while online, the outbox of ops not yet
// accepted by the server, rejected ops with their reasons, photos waiting to upload, drafts, and small facts.
import { openDB } from "../vendor/idb-8.0.4/index.js";

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
export async function replaceJobs(jobs) {
  // Jobs from the server replace the local copies, but ops still in the outbox are re-applied on top,
  // so what the technician recorded offline keeps showing until the server has it.
  // Answers whether anything changed (the screen is redrawn only then).
  const db = await dbPromise;
  const pending = await db.getAllFromIndex("outbox", "seq");
  const tx = db.transaction("jobs", "readwrite");
  const before = JSON.stringify(await tx.store.getAll());
  await tx.store.clear();
  for (const job of jobs) {
    for (const op of pending.filter((o) => o.ticket === job.number)) applyLocally(job, op);
    await tx.store.put(job);
  }
  const after = JSON.stringify(await tx.store.getAll());
  await tx.done;
  return before !== after;
}

// An op changes the local copy of its job at once, so the screen shows it before any network.
export function applyLocally(job, op) {
  const d = op.data;
  job.visit = job.visit || {};
  switch (op.kind) {
    case "contact.made": if (d.reached && job.status === "assigned") job.status = "contacted"; break;
    case "visit.arrived": job.status = "on_site"; job.visit.arrived_at = op.at; break;
    case "problem.confirmed": job.visit.problem_confirmed = d.text; break;
    case "note.added": job.notes = [...(job.notes || []).filter((n) => n.note_id !== d.note_id),
      { note_id: d.note_id, text: d.text, at: op.at, shown_to_customer: d.shown_to_customer }]; break;
    case "test.recorded": job.tests = [...(job.tests || []).filter((t) => t.item !== d.item),
      { item: d.item, passed: d.passed, note: d.note }]; break;
    case "customer.confirmed": job.visit.customer_confirmed_at = op.at; break;
    case "precautions.told": job.precautions = d.items; break;
    case "prep.confirmed": for (const item of job.visit.checklist || []) if (d.items.includes(item.id)) item.checked = true;
      job.visit.prepared_at = op.at; break;
    case "order.signed": job.status = "signed"; job.signed = true; break;
    case "visit.departed": job.visit.departed_at = op.at; break;
    case "photo.added": job.photos = [...(job.photos || []), { op_id: op.op_id, caption: d.caption }]; break;
    default: break;
  }
  return job;
}

let seq = Date.now();
export async function addOp(kind, ticket, data, photo = null) {
  const op = { op_id: crypto.randomUUID(), kind, ticket, at: localIso(new Date()), data, seq: seq++ };
  const db = await dbPromise;
  const tx = db.transaction(["outbox", "jobs", "photos"], "readwrite");
  await tx.objectStore("outbox").put(op);
  if (photo) await tx.objectStore("photos").put({ op_id: op.op_id, blob: photo });
  const job = await tx.objectStore("jobs").get(ticket);
  if (job) await tx.objectStore("jobs").put(applyLocally(job, op));
  await tx.done;
  return op;
}

export async function pendingOps() {
  return (await dbPromise).getAllFromIndex("outbox", "seq");
}
export async function getPhoto(opId) {
  return (await dbPromise).get("photos", opId);
}
export async function settle(opIds) {
  const db = await dbPromise;
  const tx = db.transaction(["outbox", "photos"], "readwrite");
  for (const id of opIds) {
    await tx.objectStore("outbox").delete(id);
    await tx.objectStore("photos").delete(id);
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
export async function dismissRejected(opId) {
  return (await dbPromise).delete("rejected", opId);
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
