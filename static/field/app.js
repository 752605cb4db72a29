// The technician's offline app: my jobs, and each visit screen by screen. Every act becomes an op in the
// outbox (IndexedDB) and shows at once; sync.js sends the outbox whenever there is a network.
import * as store from "./store.js";
import * as sync from "./sync.js";
import { mountSignature } from "./signature.js";

const T = JSON.parse(document.getElementById("i18n").textContent);
const main = document.getElementById("screen");
let teardown = null;

function t(key, params = {}) {
  let text = T[key] || key;
  for (const [name, value] of Object.entries(params)) text = text.replace(`{${name}}`, value);
  return text;
}

// Elements are built, never parsed from strings: customer text can never become markup.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getMonth() + 1}-${d.getDate()} ${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function clockLine(job) {
  const running = (job.clocks || []).filter((c) => c.state === "pending" || (c.state === "missed" && !c.done_at));
  if (!running.length) return null;
  running.sort((a, b) => a.due_at.localeCompare(b.due_at));
  const c = running[0];
  const minutes = Math.round((Date.parse(c.due_at) - Date.now()) / 60000);
  const text = minutes >= 0 ? t("left", { n: minutes }) : t("overdue", { n: -minutes });
  return h("p", { class: `deadline ${minutes < 0 ? "overdue" : minutes < (sync.state.dueSoonMinutes ?? 0) ? "soon" : ""}` },
    `${t(`clock.${c.name}`)}: ${text}`);
}

// --- status bar -------------------------------------------------------------------------------------------

async function renderStatus() {
  const bar = document.getElementById("sync-status");
  const pending = (await store.pendingOps()).length;
  const rejected = (await store.rejectedOps()).length;
  const s = sync.state;
  bar.replaceChildren(...[
    h("span", { class: `dot ${s.online ? "online" : "offline"}` }),
    h("span", { "data-testid": "pending" }, s.online ? t("online") : t("offline")),
    h("span", {}, pending ? t("pending", { n: pending }) : t("all_sent")),
    s.lastSync ? h("span", { class: "muted" }, t("last_sync", { time: time(s.lastSync) })) : null,
    s.syncing ? h("span", { class: "muted" }, t("syncing")) : null,
    rejected ? h("a", { href: "#/rejected", class: "warn" }, t("rejected_count", { n: rejected })) : null,
  ].filter(Boolean));
  const login = document.getElementById("login-needed");
  login.hidden = !s.needsLogin;
}

// --- screens ------------------------------------------------------------------------------------------------

async function jobsScreen(id) {
  const jobs = await store.allJobs();
  if (!isCurrent(id)) return;
  jobs.sort((a, b) => (a.clocks?.find((c) => !c.done_at)?.due_at || "z").localeCompare(
    b.clocks?.find((c) => !c.done_at)?.due_at || "z"));
  main.replaceChildren(
    h("h1", {}, t("my_jobs")),
    jobs.length ? h("ul", { class: "list requests" }, jobs.map((job) =>
      h("li", { class: `list-item request urgency-${job.urgency}` },
        h("a", { href: `#/job/${job.number}` },
          h("span", { class: "request-head" }, h("strong", {}, job.number),
            h("span", { class: `badge urgency-${job.urgency}` }, t(`urgency.${job.urgency}`)),
            h("span", { class: "badge status" }, t(`status.${job.status}`))),
          h("span", { class: "request-title" }, `${job.customer.name} · ${job.device.model}`),
          h("span", { class: "request-problem" }, job.problem),
          clockLine(job))))) : h("p", { class: "card muted" }, t("no_jobs")),
  );
}

// Whatever was typed while a screen was being built goes into the new fields (the build is asynchronous).
function show(...nodes) {
  main.replaceChildren(...nodes.filter(Boolean));
  for (const el of main.querySelectorAll("[data-draft]")) {
    if (liveDrafts.has(el.dataset.draft)) el.value = liveDrafts.get(el.dataset.draft);
  }
}

function section(title, ...children) {
  return h("section", { class: "card step" }, h("h2", {}, title), ...children);
}

// What is typed survives re-renders (kept in memory at once) and closing the app (kept in IndexedDB).
const liveDrafts = new Map();

const draftFields = new Set();
// A photo chosen but not yet added, by job: a redraw builds a new file input, which gets it back.
const chosenPhotos = new Map();

function draftInput(key, attrs, tag = "input") {
  const el = h(tag, attrs);
  el.dataset.draft = key;
  draftFields.add(el);
  if (liveDrafts.has(key)) el.value = liveDrafts.get(key);
  else store.getDraft(key).then((value) => { if (value !== undefined && !el.value) el.value = value; });
  el.addEventListener("input", () => { liveDrafts.set(key, el.value); store.setDraft(key, el.value); });
  return el;
}

async function act(kind, job, data, photo = null, draftKeys = []) {
  await store.addOp(kind, job.number, data, photo);
  for (const key of draftKeys) { liveDrafts.delete(key); await store.clearDraft(key); }
  await renderStatus();
  sync.flush().then(() => { sync.requestBackgroundSync(); });
  route();
}

// The knowledge base's answers for this device type came with the jobs, so they are there with no network.
const openArticles = new Set();

function knowledgeSection(job) {
  const articles = job.knowledge || [];
  if (!articles.length) return null;
  const part = (label, text) => (text ? [h("h3", {}, label), h("p", { class: "pre" }, text)] : []);
  return h("section", { class: "card knowledge" }, h("h2", {}, t("kb")),
    h("ul", { class: "articles" }, articles.map((a) => {
      const key = `${job.number}:${a.id}`;
      return h("li", {}, h("details", { open: openArticles.has(key), ontoggle: (event) => {
        if (event.target.open) openArticles.add(key); else openArticles.delete(key);
      } }, h("summary", {}, a.title), part(t("kb.symptoms"), a.symptoms), part(t("kb.solution"), a.solution),
      part(t("kb.precautions"), a.precautions)));
    })));
}

function field(label, input) {
  return h("div", { class: "field" }, h("label", {}, label, input));
}

async function jobScreen(number, id) {
  const job = await store.getJob(number);
  if (!isCurrent(id)) return;
  if (!job) { main.replaceChildren(h("p", { class: "card" }, t("job_missing"))); return; }
  const key = (name) => `${number}:${name}`;
  const visit = job.visit || {};
  const parts = [
    h("p", {}, h("a", { href: "#/" }, `← ${t("my_jobs")}`)),
    h("h1", {}, job.number),
    h("section", { class: "card" },
      h("p", { class: "request-title" }, job.customer.name),
      h("p", {}, `${job.customer.contact || ""} `, h("a", { href: `tel:${job.customer.phone}` }, job.customer.phone)),
      h("p", {}, visit.address || job.customer.address || ""),
      h("p", {}, `${job.device.model}${job.device.serial ? " · " + job.device.serial : ""}`),
      h("p", { class: "pre" }, job.problem),
      clockLine(job)),
    knowledgeSection(job),
  ];
  const s = job.status;
  if (s === "assigned" || s === "contacted") {
    const method = h("select", {}, ["phone", "message", "screen_share", "other"].map((m) =>
      h("option", { value: m }, t(`method.${m}`))));
    const note = draftInput(key("contact"), { type: "text" });
    parts.push(section(t("step.contact"), field(t("how"), method), field(t("note"), note),
      h("button", { class: "button wide", onclick: () => act("contact.made", job,
        { method: method.value, reached: true, note: note.value }, null, [key("contact")]) }, t("save"))));
  }
  if (s === "visit_scheduled") {
    const boxes = (visit.checklist || []).map((item) => h("li", {}, h("label", {},
      h("input", { type: "checkbox", value: item.id, checked: item.checked, "data-item": item.id }),
      h("span", { class: "badge" }, t(`prep.${item.kind}`)), ` ${item.label}`)));
    const due = (job.clocks || []).find((c) => c.name === "preparation");
    parts.push(section(t("step.prepare"),
      h("p", {}, t("visit_at", { time: time(visit.scheduled_at) })),
      due ? clockLine({ clocks: [due] }) : null,
      h("ul", { class: "checklist" }, boxes),
      h("button", { class: "button wide", onclick: () => {
        const items = [...main.querySelectorAll("input[data-item]:checked")].map((b) => Number(b.value));
        if (items.length < (visit.checklist || []).length) { alert(t("tick_all")); return; }
        act("prep.confirmed", job, { items });
      } }, t("prepared"))));
    parts.push(section(t("step.arrive"), h("button", { class: "button wide",
      onclick: () => act("visit.arrived", job, {}) }, t("arrived"))));
  }
  if (s === "on_site") {
    const problem = draftInput(key("problem"), { rows: 3 }, "textarea");
    if (!problem.value && visit.problem_confirmed) problem.value = visit.problem_confirmed;
    parts.push(section(t("step.problem"), visit.problem_confirmed ? h("p", { class: "done" }, `✓ ${visit.problem_confirmed}`) : null,
      field(t("problem_with_customer"), problem),
      h("button", { class: "button wide secondary", onclick: () => problem.value.trim() &&
        act("problem.confirmed", job, { text: problem.value.trim() }, null, [key("problem")]) }, t("save"))));

    const noteText = draftInput(key("note"), { rows: 2 }, "textarea");
    const shown = h("input", { type: "checkbox", checked: true });
    const photoInput = h("input", { type: "file", accept: "image/*", capture: "environment", onchange: () => {
      if (photoInput.files[0]) chosenPhotos.set(number, photoInput.files[0]); else chosenPhotos.delete(number);
    } });
    if (chosenPhotos.has(number)) {  // chosen before a redraw (a sync brought new data): still chosen
      const chosen = new DataTransfer();
      chosen.items.add(chosenPhotos.get(number));
      photoInput.files = chosen.files;
    }
    parts.push(section(t("step.notes"),
      h("ul", { class: "timeline" }, (job.notes || []).map((n) => h("li", {}, h("time", {}, time(n.at)), ` ${n.text}`))),
      (job.photos || []).length ? h("p", { class: "muted" }, t("photos_count", { n: job.photos.length })) : null,
      field(t("note"), noteText),
      h("label", { class: "check-inline" }, shown, t("show_customer")),
      h("button", { class: "button wide secondary", onclick: () => noteText.value.trim() &&
        act("note.added", job, { note_id: crypto.randomUUID(), text: noteText.value.trim(),
          shown_to_customer: shown.checked }, null, [key("note")]) }, t("add_note")),
      field(t("photo"), photoInput),
      h("button", { class: "button wide secondary", onclick: async () => {
        const file = photoInput.files[0] || chosenPhotos.get(number);
        if (!file) return;
        chosenPhotos.delete(number);
        photoInput.value = "";  // a second tap while it is being downscaled adds nothing
        const blob = await downscale(file);
        act("photo.added", job, { caption: noteText.value.trim() }, blob);
      } }, t("add_photo"))));

    const templates = (job.templates?.acceptance_tests || []).map((x) => x[T.lang === "en" ? "en" : "zh"]);
    const items = [...new Set([...templates, ...(job.tests || []).map((x) => x.item)])];
    parts.push(section(t("step.tests"), h("ul", { class: "tests" }, items.map((item) => {
      const done = (job.tests || []).find((x) => x.item === item);
      const note = h("input", { type: "text", placeholder: t("note"), value: done?.note || "" });
      return h("li", {}, h("p", {}, item, done ? h("span", { class: `badge ${done.passed ? "ok" : "bad"}` },
        done.passed ? t("passed") : t("failed")) : null),
        h("div", { class: "pass-fail" },
          h("button", { class: "button small", "data-test": item,
            onclick: () => act("test.recorded", job, { item, passed: true, note: note.value }) }, t("passed")),
          h("button", { class: "button small danger",
            onclick: () => act("test.recorded", job, { item, passed: false, note: note.value }) }, t("failed")),
          note));
    }))));

    const confirmNote = draftInput(key("confirm"), { type: "text" });
    parts.push(section(t("step.confirm"),
      visit.customer_confirmed_at ? h("p", { class: "done" }, `✓ ${t("customer_confirmed")}`) : null,
      field(t("note"), confirmNote),
      h("button", { class: "button wide secondary", onclick: () => act("customer.confirmed", job,
        { note: confirmNote.value }, null, [key("confirm")]) }, t("customer_says_ok"))));

    const defaults = (job.templates?.precautions || []).map((x) => x[T.lang === "en" ? "en" : "zh"]);
    const precautions = draftInput(key("precautions"), { rows: 4 }, "textarea");
    if (!precautions.value) precautions.value = (job.precautions?.length ? job.precautions : defaults).join("\n");
    parts.push(section(t("step.precautions"),
      (job.precautions || []).length ? h("p", { class: "done" }, `✓ ${t("told")}`) : null,
      field(t("one_per_line"), precautions),
      h("button", { class: "button wide secondary", onclick: () => act("precautions.told", job,
        { items: precautions.value.split("\n").map((x) => x.trim()).filter(Boolean) }, null,
        [key("precautions")]) }, t("told_customer"))));

    parts.push(section(t("step.sign"), h("a", { class: "button wide", href: `#/job/${number}/sign` }, t("to_sign"))));
  }
  if (s === "signed" || job.signed) {
    parts.push(section(t("step.depart"), h("p", { class: "done" }, `✓ ${t("signed")}`),
      visit.departed_at ? h("p", { class: "done" }, `✓ ${t("departed")}`) :
        h("button", { class: "button wide", onclick: () => act("visit.departed", job, {}) }, t("depart"))));
  } else if (s === "on_site") {
    parts.push(h("p", { class: "muted" }, t("no_leave_before_sign")));
  }
  show(...parts);
}

async function signScreen(number, id) {
  const job = await store.getJob(number);
  if (!job) { main.replaceChildren(h("p", { class: "card" }, t("job_missing"))); return; }
  const key = (name) => `${number}:sign:${name}`;
  const name = draftInput(key("name"), { type: "text", autocomplete: "off" });
  if (!name.value && job.customer.contact) name.value = job.customer.contact;
  const comment = draftInput(key("comment"), { rows: 2 }, "textarea");
  let rating = Number(await store.getDraft(key("rating"))) || 0;
  const strokes = await store.getDraft(key("strokes"));
  if (!isCurrent(id)) return;
  const stars = h("div", { class: "stars", role: "radiogroup", "aria-label": t("rating") },
    [1, 2, 3, 4, 5].map((n) => h("button", { type: "button", class: "star", "data-rating": n,
      "aria-pressed": String(n <= rating), onclick: () => {
        rating = n;
        store.setDraft(key("rating"), n);
        for (const b of stars.children) b.setAttribute("aria-pressed", String(Number(b.dataset.rating) <= n));
      } }, "★")));
  const canvas = h("canvas", { class: "signature-pad", "aria-label": t("signature") });
  const tests = (job.tests || []).map((x) => h("li", {}, `${x.passed ? "✓" : "✗"} ${x.item}`));
  show(
    h("p", {}, h("a", { href: `#/job/${number}` }, `← ${number}`)),
    h("h1", {}, t("sign_title")),
    h("section", { class: "card summary" },
      h("p", { class: "big" }, job.device.model),
      h("p", { class: "big" }, job.visit?.problem_confirmed || job.problem),
      h("ul", {}, (job.notes || []).filter((n) => n.shown_to_customer).map((n) => h("li", { class: "big" }, n.text))),
      tests.length ? h("ul", { class: "big" }, tests) : null,
      (job.precautions || []).length ? h("div", {}, h("p", {}, t("precautions")),
        h("ul", {}, job.precautions.map((p) => h("li", {}, p)))) : null),
    field(t("signer_name"), name),
    h("p", {}, t("rating")), stars,
    field(t("comment"), comment),
    h("p", {}, t("sign_here")), canvas,
    h("div", { class: "sign-actions" },
      h("button", { class: "button secondary", onclick: () => { pad.clear(); store.clearDraft(key("strokes")); } },
        t("clear")),
      h("button", { class: "button", id: "confirm-sign", onclick: async () => {
        if (!name.value.trim()) { alert(t("need_name")); return; }
        if (!rating) { alert(t("need_rating")); return; }
        if (pad.isEmpty()) { alert(t("need_signature")); return; }
        await act("order.signed", job, { signer_name: name.value.trim(), rating, comment: comment.value.trim(),
          signature_png: pad.png(), strokes: pad.strokes() }, null,
        [key("name"), key("comment"), key("rating"), key("strokes")]);
        location.hash = `#/job/${number}`;
      } }, t("confirm_sign"))),
  );
  const pad = mountSignature(canvas, (p) => store.setDraft(key("strokes"), p.toData()));
  pad.load(strokes);
  teardown = () => pad.destroy();
}

async function rejectedScreen(id) {
  const ops = await store.rejectedOps();
  if (!isCurrent(id)) return;
  main.replaceChildren(h("p", {}, h("a", { href: "#/" }, `← ${t("my_jobs")}`)), h("h1", {}, t("rejected_title")),
    h("ul", { class: "list" }, ops.map((op) => h("li", { class: "list-item rejected" },
      h("p", {}, h("strong", {}, `${op.ticket} · ${t(`op.${op.kind}`)}`), " ", time(op.at)),
      h("p", { class: "warn" }, `${op.code}: ${op.message || ""}`),
      h("button", { class: "button small secondary", onclick: async () => {
        await store.dismissRejected(op.op_id); route(); renderStatus();
      } }, t("dismiss"))))));
}

// Photos are downscaled on the phone before they are stored (at most 1600 px, JPEG).
async function downscale(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

// Screens render asynchronously (IndexedDB); only the latest route may draw, so a slow earlier render never
// replaces the screen the technician has moved on to.
let currentRender = 0;
function isCurrent(id) { return id === currentRender; }

async function route() {
  const id = ++currentRender;
  if (teardown) { teardown(); teardown = null; }
  const hash = location.hash || "#/";
  let match;
  if ((match = hash.match(/^#\/job\/([^/]+)\/sign$/))) await signScreen(decodeURIComponent(match[1]), id);
  else if ((match = hash.match(/^#\/job\/([^/]+)$/))) await jobScreen(decodeURIComponent(match[1]), id);
  else if (hash === "#/rejected") await rejectedScreen(id);
  else await jobsScreen(id);
}

// --- service worker: offline shell and "update available" -----------------------------------------------

let updating = false;

function watchForUpdates() {
  if (!navigator.serviceWorker) return;
  // Scope /field/: only the offline app is controlled; the other pages never see a cached stylesheet.
  navigator.serviceWorker.register("/sw.js", { scope: "/field/" }).then((registration) => {
    const offer = (worker) => {
      const banner = document.getElementById("update-ready");
      banner.hidden = false;
      banner.querySelector("button").onclick = () => { updating = true; worker.postMessage("skip-waiting"); };
    };
    if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
    registration.addEventListener("updatefound", () => {
      const worker = registration.installing;
      worker.addEventListener("statechange", () => {
        if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
      });
    });
    setInterval(() => registration.update().catch(() => {}), 60 * 60 * 1000);
  });
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // Only when the technician asked for the new version (the first install also changes the controller).
    // Drafts live in IndexedDB, so reloading loses nothing that was typed.
    if (updating) { updating = false; location.reload(); }
  });
}

async function startApp() {
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  sync.onChange(() => { renderStatus(); if (!sync.state.syncing) refreshIfListing(); });
  window.addEventListener("hashchange", route);
  watchForUpdates();
  await route();
  await renderStatus();
  await sync.start();  // when it has fetched the jobs, onChange refreshes the list or the job shown
}

let shownJobsVersion = null;

function refreshIfListing() {
  // Redraw only when new data came from the server, never while the technician is typing.
  if (sync.state.jobsVersion === shownJobsVersion) return;
  shownJobsVersion = sync.state.jobsVersion;
  const hash = location.hash || "#/";
  if (hash === "#/" || /^#\/job\/[^/]+$/.test(hash)) {
    if (!main.contains(document.activeElement) || document.activeElement === document.body) route();
  }
}

startApp();
