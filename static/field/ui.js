// What every screen of the phone app draws with: the page's words, elements built (never parsed from strings),
// times, the keyed redraw that never replaces the control being used, drafts that survive redraws and closing the
// app, form fields, the announcement line and the deadline line.
import * as store from "./store.js";
import * as sync from "./sync.js";

export const T = JSON.parse(document.getElementById("i18n").textContent);
export const main = document.getElementById("screen");
export const lang = T.lang === "en" ? "en" : "zh";

export function t(key, params = {}) {
  let text = T[key] || key;
  for (const [name, value] of Object.entries(params)) text = text.replace(`{${name}}`, value);
  return text;
}

function setAttribute(el, key, value) {
  if (value === false || value === null || value === undefined) return;
  if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
  else if (key === "class") el.className = value;
  else el.setAttribute(key, value === true ? "" : value);
}

// Elements are built, never parsed from strings: customer text can never become markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) setAttribute(el, key, value);
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const pad2 = (n) => String(n).padStart(2, "0");
export function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getMonth() + 1}-${d.getDate()} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}
export function date(iso) {
  const d = iso ? new Date(iso) : store.serverNow();
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

// 25,022 minutes reads as "17 天 9 小时", as on the web pages.
function duration(minutes) {
  const d = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), m = minutes % 60;
  if (d) return t("dur.d", { d, h: hours });
  if (hours) return t("dur.h", { h: hours, m });
  return t("dur.m", { m });
}

// A job's deadlines still running (of the named clocks only, when given), the most urgent first.
export function runningClocks(job, names = null) {
  const stopped = (c) => c.name === "submission" && job.submission?.submitted_at;  // submitted on this phone
  return (job.clocks || []).filter((c) => (!names || names.includes(c.name)) && !stopped(c) && c.due_at &&
    (c.state === "pending" || (c.state === "missed" && !c.done_at)))
    .sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
}

// The most urgent running deadline of a job (of the named clocks only, when given).
export function clockLine(job, names = null) {
  const c = runningClocks(job, names)[0];
  if (!c) return null;
  const minutes = Math.round((Date.parse(c.due_at) - store.serverNow().getTime()) / 60000);
  // The policy's "due soon" threshold: from the last jobs feed, else the one the page was served with.
  const soon = Number(sync.state.dueSoonMinutes ?? T.due_soon_minutes ?? 10);
  const text = t(minutes >= 0 ? "left" : "overdue", { t: duration(Math.abs(minutes)) });
  return h("p", { class: `deadline ${minutes < 0 ? "overdue" : minutes < soon ? "soon" : ""}` },
    `${t(`clock.${c.name}`)}: ${text}`);
}

// --- drawing: a redraw never replaces the control being touched or typed in --------------------------------

let touched = null;
document.addEventListener("pointerdown", (event) => { touched = event.target; }, true);
const untouch = () => setTimeout(() => { touched = null; }, 350);
document.addEventListener("pointerup", untouch, true);
document.addEventListener("pointercancel", untouch, true);

function busy(el) {
  const active = document.activeElement;
  const typing = active && active !== document.body && el.contains(active) &&
    (active.matches("input, textarea, select") || active.isContentEditable);
  return typing || (touched && el.contains(touched));
}

// The element to keep in place of a newly built one: the same markup, or one being used during a passive redraw.
function kept(node, old, passive) {
  const prev = node.dataset.key && old.get(node.dataset.key);
  if (!prev) return node;
  if (prev.built === node.built) return prev;
  return passive && busy(prev) ? prev : node;
}

// Keyed top-level parts: an unchanged part stays the same element; a part being used is kept until the next
// redraw when the redraw comes from the network (`passive`), not from the technician's own act.
export function show(nodes, { passive = false } = {}) {
  nodes = nodes.filter(Boolean);
  for (const node of nodes) node.built = node.outerHTML;
  const old = new Map([...main.children].filter((el) => el.dataset.key).map((el) => [el.dataset.key, el]));
  const next = nodes.map((node) => kept(node, old, passive));
  for (const child of [...main.children]) if (!next.includes(child)) child.remove();
  next.forEach((node, i) => { if (main.children[i] !== node) main.insertBefore(node, main.children[i] || null); });
  // For bench/bench_field.py: when the first screen was usable, in the page's own time (from navigation start).
  if (!performance.getEntriesByName("field:first-screen").length) performance.mark("field:first-screen");
  for (const el of main.querySelectorAll("[data-draft]")) {
    if (liveDrafts.has(el.dataset.draft) && document.activeElement !== el) el.value = liveDrafts.get(el.dataset.draft);
  }
}

// What is typed survives redraws (kept in memory at once) and closing the app (kept in IndexedDB).
export const liveDrafts = new Map();

export function draftInput(key, attrs, tag = "input", initial = "") {
  const el = h(tag, attrs);
  el.dataset.draft = key;
  if (liveDrafts.has(key)) el.value = liveDrafts.get(key);
  else {
    el.value = initial || "";
    store.getDraft(key).then((value) => {
      if (value !== undefined && document.activeElement !== el && !liveDrafts.has(key)) {
        el.value = value;
        liveDrafts.set(key, value);
      }
    });
  }
  el.addEventListener("input", () => { liveDrafts.set(key, el.value); store.setDraft(key, el.value); });
  return el;
}

export async function forgetDrafts(keys) {
  for (const key of keys) { liveDrafts.delete(key); await store.clearDraft(key); }
}

// A notice about what was just tried: it goes once the act is done, the screen changes, or after a while, so it
// never lingers over the next screen (it is read out at once: role="alert").
let announceTimer = 0;
export function announce(message = "") {
  const live = document.getElementById("announce");
  if (!live) return;
  live.textContent = "";
  live.textContent = message;
  clearTimeout(announceTimer);
  if (message) announceTimer = setTimeout(() => { live.textContent = ""; }, 8000);
}

// Ids follow the order of drawing, so an unchanged part draws the same markup (and is kept, see show()).
let fieldSeq = 0;
export function resetFieldIds() { fieldSeq = 0; }
export function field(label, input, hint = null) {
  const id = input.id || (input.dataset.draft ? `f-${input.dataset.draft.replace(/[^\w-]/g, "_")}` : `f-${++fieldSeq}`);
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), hint ? h("p", { class: "hint" }, hint) : null,
    input);
}

export function checkRow(input, ...label) {
  return h("label", { class: "check-row" }, input, h("span", {}, ...label));
}

export function select(options, value, attrs = {}) {
  return h("select", attrs, options.map(([v, label]) => h("option", { value: v, selected: String(v) === String(value) },
    label)));
}

// A step's button, or why the server would refuse it now.
export function offer(refusal, button) {
  return refusal ? h("p", { class: "why" }, refusal.message) : button;
}

export function bigButton(label, onclick, extra = "") {
  return h("button", { type: "button", class: `button wide ${extra}`, onclick }, label);
}

export function summaryList(rows) {
  return h("dl", { class: "summary-list" }, rows.filter(([, v]) => v).map(([k, v]) => [h("dt", {}, k),
    h("dd", { class: "pre" }, v)]));
}

// The done steps the technician opened to review (or keeps open), by job and step: they stay open across redraws.
export const openSteps = new Set();

// A folded part that remembers, across redraws, whether the technician opened it.
export function foldable(openSet, key, { open = false } = {}, ...children) {
  return h("details", { open: openSet.has(key) || open, ontoggle: (event) => {
    if (event.target.open) openSet.add(key); else openSet.delete(key);
  } }, ...children);
}

// --- the screen's life: only the latest route may draw; the router redraws after every act --------------------

// Screens render asynchronously (IndexedDB); only the latest route may draw, so a slow earlier render never
// replaces the screen the technician has moved on to.
let currentRender = 0;
export function beginRender() { resetFieldIds(); return ++currentRender; }
export function isCurrent(id) { return id === currentRender; }

let teardown = null;  // what the screen shown must undo when it goes (the signature pad, customer mode)
export function setTeardown(fn) { teardown = fn; }
export function runTeardown() { if (teardown) { teardown(); teardown = null; } }

let router = async () => {};
export function setRouter(fn) { router = fn; }
export function rerender(options = {}) { return router(options); }

// --- status bar: one statement about the outbox, never two that contradict each other ------------------------

function statusText(pending, refused) {
  const s = sync.state;
  if (s.needsLogin) return t("pending", { n: pending });  // the banner asks to sign in again
  if (!s.online) return pending ? t("offline_pending", { n: pending }) : t("offline");
  if (pending) return s.syncing ? t("sending", { n: pending }) : t("pending", { n: pending });
  if (!s.jobsFetched && !s.lastSync) return t("loading_jobs");  // first open: nothing is "sent" yet
  return refused ? t("rest_sent") : t("all_sent");
}

export async function renderStatus() {
  const bar = document.getElementById("sync-status");
  const pending = (await store.pendingOps()).length;
  const refused = (await store.rejectedOps()).filter((op) => !op.acknowledged).length;
  const s = sync.state;
  bar.replaceChildren(...[
    h("span", { class: `dot ${s.online ? "online" : "offline"}`, "aria-hidden": "true" }),
    h("span", { "data-testid": "pending" }, statusText(pending, refused)),
    s.lastSync ? h("span", { class: "muted" }, t("last_sync", { time: time(s.lastSync) })) : null,
    refused ? h("a", { href: "#/rejected", class: "warn" }, t("rejected_count", { n: refused })) : null,
  ].filter(Boolean));
  document.getElementById("login-needed").hidden = !s.needsLogin;
}
