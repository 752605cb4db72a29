// The technician's offline app: my jobs, and each job as a guided stepper for the whole day. Every act becomes an
// op in the outbox (IndexedDB) and shows at once; sync.js sends the outbox whenever there is a network. The server's
// flow declaration (flow.js) decides which step may be done now: a step the server would refuse is not offered.
import * as store from "./store.js";
import * as sync from "./sync.js";
import * as flow from "./flow.js";
import { ENUMS, OPS, RULES, SCREENS } from "./rules.js";

// The signature pad is needed on the customer's screen only: loaded after the first screen is drawn, so the app
// opens without parsing it (and it is in memory well before the customer's screen is asked for).
let signatureModule = null;
const loadSignature = () => (signatureModule ||= import("./signature.js"));

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
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const pad2 = (n) => String(n).padStart(2, "0");
function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getMonth() + 1}-${d.getDate()} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}
function date(iso) {
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

function clockLine(job, names = null) {
  const stopped = (c) => c.name === "submission" && job.submission?.submitted_at;  // submitted on this phone
  const running = (job.clocks || []).filter((c) => (!names || names.includes(c.name)) && !stopped(c) &&
    (c.state === "pending" || (c.state === "missed" && !c.done_at)));
  if (!running.length) return null;
  running.sort((a, b) => a.due_at.localeCompare(b.due_at));
  const c = running[0];
  const minutes = Math.round((Date.parse(c.due_at) - store.serverNow().getTime()) / 60000);
  // The policy's "due soon" threshold: from the last jobs feed, else the one the page was served with.
  const soon = Number(sync.state.dueSoonMinutes ?? T.due_soon_minutes ?? 10);
  const text = t(minutes >= 0 ? "left" : "overdue", { t: duration(Math.abs(minutes)) });
  return h("p", { class: `deadline ${minutes < 0 ? "overdue" : minutes < soon ? "soon" : ""}` },
    `${t(`clock.${c.name}`)}: ${text}`);
}

// --- status bar: one statement about the outbox, never two that contradict each other ------------------------

async function renderStatus() {
  const bar = document.getElementById("sync-status");
  const pending = (await store.pendingOps()).length;
  const refused = (await store.rejectedOps()).filter((op) => !op.acknowledged).length;
  const s = sync.state;
  let text;
  if (s.needsLogin) text = t("pending", { n: pending });  // the banner asks to sign in again
  else if (!s.online) text = pending ? t("offline_pending", { n: pending }) : t("offline");
  else if (pending) text = s.syncing ? t("sending", { n: pending }) : t("pending", { n: pending });
  else if (refused) text = t("rest_sent");
  else text = t("all_sent");
  bar.replaceChildren(...[
    h("span", { class: `dot ${s.online ? "online" : "offline"}`, "aria-hidden": "true" }),
    h("span", { "data-testid": "pending" }, text),
    s.lastSync ? h("span", { class: "muted" }, t("last_sync", { time: time(s.lastSync) })) : null,
    refused ? h("a", { href: "#/rejected", class: "warn" }, t("rejected_count", { n: refused })) : null,
  ].filter(Boolean));
  document.getElementById("login-needed").hidden = !s.needsLogin;
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

// Keyed top-level parts: an unchanged part stays the same element; a part being used is kept until the next
// redraw when the redraw comes from the network (`passive`), not from the technician's own act.
function show(nodes, { passive = false } = {}) {
  nodes = nodes.filter(Boolean);
  for (const node of nodes) node.built = node.outerHTML;
  const old = new Map([...main.children].filter((el) => el.dataset.key).map((el) => [el.dataset.key, el]));
  const next = nodes.map((node) => {
    const prev = node.dataset.key && old.get(node.dataset.key);
    if (!prev) return node;
    if (prev.built === node.built) return prev;
    if (passive && busy(prev)) return prev;
    return node;
  });
  for (const child of [...main.children]) if (!next.includes(child)) child.remove();
  next.forEach((node, i) => { if (main.children[i] !== node) main.insertBefore(node, main.children[i] || null); });
  // For bench/bench_field.py: when the first screen was usable, in the page's own time (from navigation start).
  if (!performance.getEntriesByName("field:first-screen").length) performance.mark("field:first-screen");
  for (const el of main.querySelectorAll("[data-draft]")) {
    if (liveDrafts.has(el.dataset.draft) && document.activeElement !== el) el.value = liveDrafts.get(el.dataset.draft);
  }
}

// What is typed survives redraws (kept in memory at once) and closing the app (kept in IndexedDB).
const liveDrafts = new Map();

function draftInput(key, attrs, tag = "input", initial = "") {
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

async function forgetDrafts(keys) {
  for (const key of keys) { liveDrafts.delete(key); await store.clearDraft(key); }
}

// Every act: refused here already if the server would refuse it (the reason is shown instead of the button).
async function act(kind, stale, data, photo = null, draftKeys = []) {
  const job = (await store.getJob(stale.number)) || stale;  // an unchanged part kept from an earlier drawing
  const refusal = flow.check(await store.getFlow(), factsOf(job), kind, data);  // the rules on the payload too
  if (refusal) { announce(refusal.message); return false; }
  announce();
  await store.addOp(kind, job.number, data, photo);
  await forgetDrafts(draftKeys);
  await renderStatus();
  sync.flush().then(() => { sync.requestBackgroundSync(); });
  await route();
  return true;
}

// A notice about what was just tried: it goes once the act is done, the screen changes, or after a while, so it
// never lingers over the next screen (it is read out at once: role="alert").
let announceTimer = 0;
function announce(message = "") {
  const live = document.getElementById("announce");
  if (!live) return;
  live.textContent = "";
  live.textContent = message;
  clearTimeout(announceTimer);
  if (message) announceTimer = setTimeout(() => { live.textContent = ""; }, 8000);
}

// Ids follow the order of drawing, so an unchanged part draws the same markup (and is kept, see show()).
let fieldSeq = 0;
function field(label, input, hint = null) {
  const id = input.id || (input.dataset.draft ? `f-${input.dataset.draft.replace(/[^\w-]/g, "_")}` : `f-${++fieldSeq}`);
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), hint ? h("p", { class: "hint" }, hint) : null,
    input);
}

function checkRow(input, ...label) {
  return h("label", { class: "check-row" }, input, h("span", {}, ...label));
}

function select(options, value, attrs = {}) {
  return h("select", attrs, options.map(([v, label]) => h("option", { value: v, selected: String(v) === String(value) },
    label)));
}

// --- the jobs list ----------------------------------------------------------------------------------------

async function jobsScreen(id, options) {
  const jobs = await store.allJobs();
  if (!isCurrent(id)) return;
  const due = (job) => (job.clocks || []).filter((c) => !c.done_at).map((c) => c.due_at).sort()[0] || "z";
  jobs.sort((a, b) => due(a).localeCompare(due(b)));
  show([
    h("h1", { "data-key": "title" }, t("my_jobs")),
    jobs.length ? h("ul", { class: "list requests", "data-key": "jobs" }, jobs.map((job) =>
      h("li", { class: `list-item request urgency-${job.urgency}` },
        h("a", { href: `#/job/${job.number}` },
          h("span", { class: "request-head" }, h("strong", {}, job.number),
            h("span", { class: `badge urgency-${job.urgency}` }, t(`urgency.${job.urgency}`)),
            h("span", { class: "badge status" }, t(`status.${job.status}`))),
          h("span", { class: "request-title" }, `${job.customer.name} · ${job.device.model}`),
          h("span", { class: "request-problem" }, job.problem),
          factsOf(job).returned && !factsOf(job).submitted ? h("span", { class: "warn" }, t("returned_short")) : null,
          clockLine(job))))) : h("p", { class: "card muted", "data-key": "empty" }, t("no_jobs")),
  ], options);
}

// --- the job: one stepper for the whole day ---------------------------------------------------------------

// What the server knows about the job (its facts) with this phone's pending ops applied on top (store.js).
function factsOf(job) {
  return job.facts || {};
}

// The steps of the day, by the path the job has taken: remote, on site, or not decided yet.
function pathOf(facts) {
  if (facts.remote_resolved) return ["contact", "guide", "resolve", "submit"];
  if (facts.visit_scheduled || facts.arrived || facts.signed) {
    return ["contact", "guide", "schedule", "prepare", "arrive", "problem", "work", "cause", "tests", "confirm",
      "precautions", "sign", "depart", "submit"];
  }
  return ["contact", "guide", "choose", "submit"];
}

// The stepper's screens: each with the op kind that does it and the fact that says it is done, as the server
// declares them (domain/fieldwork/ops.py); "choose" is the fork between remote and on site, an act of its own.
const STEPS = { ...SCREENS, choose: { kind: null, fact: null } };
// The screen where an op kind's refusal shows.
const screenOf = (kind) => OPS[kind]?.screen;

// A step is done when the server's fact (or this phone's pending op) says so; the acceptance test once every item of
// the device's checklist has a result (the fact is set by the first one), or once the customer confirmed or signed.
function stepDone(job, facts, name) {
  const fact = STEPS[name].fact;
  if (!fact || !facts[fact]) return false;
  if (name !== "tests" || facts.customer_confirmed || facts.signed) return true;  // the customer has moved on
  const recorded = new Set((job.tests || []).map((x) => x.item));
  return testItems(job).every((item) => recorded.has(item));
}

// The device's checklist in the user's language; an item already recorded under its other language's name keeps
// that name (the phone's language may have changed since).
function testItems(job) {
  const lang = T.lang === "en" ? "en" : "zh";
  const recorded = (job.tests || []).map((x) => x.item);
  const templates = (job.templates?.acceptance_tests || []).map((x) => (typeof x === "string" ? x :
    recorded.find((item) => Object.values(x).includes(item)) || x[lang]));
  return [...new Set([...templates, ...recorded])];
}

// When each step was done: the time of the op on this phone, else what the server recorded.
function doneAt(job, name) {
  const kind = STEPS[name].kind;
  const visit = job.visit || {};
  const clock = (name) => (job.clocks || []).find((c) => c.name === name && c.done_at)?.done_at;
  const server = {
    contact: clock("first_contact"), resolve: clock("order_filed") || clock("remote_fix"),
    guide: (job.remote || []).map((r) => r.at).pop(), prepare: visit.prepared_at, arrive: visit.arrived_at,
    problem: visit.problem_confirmed_at, cause: visit.work_recorded_at, tests: visit.tests_recorded_at,
    confirm: visit.customer_confirmed_at, precautions: visit.precautions_told_at,
    sign: job.signed_at, depart: visit.departed_at, submit: job.submission?.submitted_at,
  }[name];
  return (job.fact_times && job.fact_times[STEPS[name].fact]) || (job.done_at && job.done_at[kind]) || server || null;
}

const openSteps = new Set();   // done steps the technician opened to review, by job
const openArticles = new Set();
const lastCurrent = new Map(); // the step in focus, by job: focus moves only when it changes
const stagedPhotos = new Map(); // photos chosen, downscaled, not yet added: {id, blob, caption}, by job
const photoUrls = new Map();    // their object URLs, made once (the markup stays the same between drawings)

// A job the phone does not hold: not fetched yet (the phone was offline since it was assigned), or, once the list
// came from the server, no longer the technician's to do (finished, cancelled, handed over; an old alert's link):
// its request page still shows it.
function missingJob(number) {
  if (!sync.state.jobsFetched) return h("p", { class: "card", "data-key": "missing" }, t("job_missing"));
  return h("section", { class: "card", "data-key": "gone" }, h("p", {}, t("job_gone")),
    h("a", { class: "button wide", href: `/dispatch/requests/${encodeURIComponent(number)}` }, t("job_page")));
}

async function jobScreen(number, id, options) {
  const [job, declaration, refused, staged] = await Promise.all([store.getJob(number), store.getFlow(),
    store.rejectedOps(), stagedPhotos.has(number) ? null : store.getDraft(`${number}:photos`)]);
  if (!isCurrent(id)) return;
  if (!job) { show([missingJob(number)]); return; }
  if (!stagedPhotos.has(number)) stagedPhotos.set(number, staged || []);
  const facts = factsOf(job);
  const path = pathOf(facts);
  const refusals = refused.filter((op) => op.ticket === number);
  const ctx = { job, facts, declaration, refusals, key: (name) => `${number}:${name}` };

  const isDone = (name) => stepDone(job, facts, name);
  const doneSteps = path.filter(isDone);
  const current = path.find((name) => !STEPS[name].optional && !isDone(name));
  const countable = path.filter((name) => (STEPS[name].fact || name === "choose") && !STEPS[name].optional);
  const progress = countable.filter(isDone).length;

  const visit = job.visit || {};
  const parts = [
    h("p", { class: "back", "data-key": "back" }, h("a", { href: "#/", class: "back-link" }, `← ${t("my_jobs")}`)),
    h("h1", { "data-key": "title" }, job.number),
    h("section", { class: "card job-head", "data-key": "head" },
      h("p", { class: "request-title" }, job.customer.name),
      h("p", {}, `${job.customer.contact || ""} `, job.customer.phone ?
        h("a", { class: "phone-link", href: `tel:${job.customer.phone}` }, `☎ ${job.customer.phone}`) : null),
      h("p", {}, visit.address || job.customer.address || ""),
      h("p", {}, `${job.device.model}${job.device.serial ? " · " + job.device.serial : ""}`),
      h("p", { class: "pre" }, job.problem),
      clockLine(job)),
    facts.returned && !facts.submitted ? h("section", { class: "card returned", role: "alert", "data-key": "returned" },
      h("h2", {}, t("returned_title")), h("p", { class: "pre" }, job.submission?.returned_comment || ""),
      h("p", {}, t("returned_next"))) : null,
    h("div", { class: "progress", "data-key": "progress" },
      h("label", { for: `progress-${number}` }, t("progress", { done: progress, total: countable.length })),
      h("progress", { id: `progress-${number}`, max: countable.length, value: progress })),
    strayRefusals(ctx, path),
    ...path.map((name, index) => stepItem(ctx, name, index, { done: doneSteps.includes(name), current: name === current })),
    knowledgeSection(job),
  ];
  show(parts, options);
  // The next step is in focus when it changes (after an act), never while the technician is elsewhere in it.
  const previous = lastCurrent.get(number);
  lastCurrent.set(number, current);
  if (previous === undefined && current) {  // just opened: the step to do is at least in view
    const section = main.querySelector(`[data-step="${current}"]`);
    if (section && section.getBoundingClientRect().top > window.innerHeight - 120) {
      section.scrollIntoView({ block: "end", behavior: "instant" });
    }
  }
  if (previous !== undefined && previous !== current && current && !options.passive) {
    const section = main.querySelector(`[data-step="${current}"]`);
    const heading = section && section.querySelector("h2");
    if (heading) {
      heading.focus({ preventScroll: true });
      // At the top of what shows, below the sticky bar and status line (under them, its title was hidden).
      const status = document.getElementById("sync-status");
      section.style.scrollMarginTop = `${Math.max(0, status ? status.getBoundingClientRect().bottom : 0) + 8}px`;
      section.scrollIntoView({ block: "start", behavior: "instant" });
    }
  }
}

// Refusals of ops whose step is not on the job's path (they would be shown nowhere else).
function strayRefusals(ctx, path) {
  const stray = ctx.refusals.filter((op) => !op.acknowledged && !path.includes(screenOf(op.kind)));
  return stray.length ? h("div", { "data-key": "stray" }, stray.map(refusalBox)) : null;
}

function refusalBox(op) {
  const hint = T[`next.${op.code}`] || t("next.default");
  return h("div", { class: "refusal", role: "alert" },
    h("p", {}, h("strong", {}, t("refused_title", { what: t(`op.${op.kind}`) })), " ", time(op.at)),
    h("p", {}, op.message || op.code),
    h("p", { class: "hint" }, hint),
    op.kind === "order.signed" ? h("p", { class: "hint" }, t("signature_kept")) : null,
    h("button", { class: "button small secondary", type: "button", onclick: async () => {
      await store.acknowledgeRejected(op.op_id); await renderStatus(); route();
    } }, t("dismiss")));
}

function stepItem(ctx, name, index, { done, current }) {
  const { job, facts, declaration, refusals } = ctx;
  const def = STEPS[name];
  const title = t(`step.${name}`);
  const refusal = def.kind ? flow.check(declaration, facts, def.kind) : null;
  const mine = refusals.filter((op) => !op.acknowledged && screenOf(op.kind) === name);
  const at = done ? doneAt(job, name) : null;
  const key = `${job.number}:${name}`;
  const heading = h("h2", { tabindex: "-1" },
    h("span", { class: "step-no", "aria-hidden": "true" }, done ? "✓" : String(index + 1)),
    h("span", {}, title), def.optional ? h("span", { class: "badge" }, t("optional")) : null,
    at ? h("time", { class: "step-time", datetime: at }, time(at)) : null,
    // When the visit is (the act of agreeing it has no time of its own in the feed).
    done && !at && name === "schedule" && job.visit?.scheduled_at ? h("time", { class: "step-time",
      datetime: job.visit.scheduled_at }, t("visit_at", { time: time(job.visit.scheduled_at) })) : null);
  const body = () => STEP_BODIES[name](ctx, refusal);
  let content;
  let state;
  if (done) {
    state = "done";
    content = h("details", { open: openSteps.has(key) || mine.length > 0, ontoggle: (event) => {
      if (event.target.open) openSteps.add(key); else openSteps.delete(key);
    } }, h("summary", {}, heading, h("span", { class: "visually-hidden" }, t("done"))),
    h("div", { class: "step-body" }, body()));
  } else if (current || (def.optional && !refusal && name === "work" && facts.arrived && !facts.signed)) {
    state = current ? "current" : "open";
    content = [heading, h("div", { class: "step-body" }, body())];
  } else if (!refusal && def.kind) {
    // Allowed now though not next (the server would take it): folded, one tap away.
    state = "open";
    content = h("details", { open: openSteps.has(key), ontoggle: (event) => {
      if (event.target.open) openSteps.add(key); else openSteps.delete(key);
    } }, h("summary", {}, heading), h("div", { class: "step-body" }, body()));
  } else {
    state = "todo";
    content = [heading, refusal ? h("p", { class: "muted why" }, refusal.message) : null];
  }
  return h("section", { class: `card step ${state}`, "data-step": name, "data-key": `step-${name}`,
    "aria-current": current ? "step" : null }, mine.map(refusalBox), content);
}

// A step's button, or why the server would refuse it now.
function offer(refusal, button) {
  return refusal ? h("p", { class: "why" }, refusal.message) : button;
}

function bigButton(label, onclick, extra = "") {
  return h("button", { type: "button", class: `button wide ${extra}`, onclick }, label);
}

const METHODS = ENUMS.contact_methods || ["phone"];

const STEP_BODIES = {
  contact(ctx, refusal) {
    const { job, key } = ctx;
    if (ctx.facts.contact_made) return h("p", { class: "done" }, t("contact_done"));
    const method = select(METHODS.map((m) => [m, t(`method.${m}`)]), "phone");
    const note = draftInput(key("contact"), { type: "text" });
    return [field(t("how"), method), field(t("note_internal"), note), offer(refusal, bigButton(t("save_contact"),
      () => act("contact.made", job, { method: method.value, reached: true, note: note.value.trim() }, null,
        [key("contact")])))];
  },

  guide(ctx, refusal) {
    const { job, key } = ctx;
    const given = (job.remote || []).slice(-1)[0] || {};
    const method = select(METHODS.map((m) => [m, t(`method.${m}`)]), given.method || "phone");
    const steps = draftInput(key("guide"), { rows: 3 }, "textarea", given.steps || "");
    return [ctx.facts.remote_guided ? h("p", { class: "done" }, t("guided_done")) : null,
      field(t("how"), method), field(t("guide_steps"), steps),
      offer(refusal, bigButton(t("save_guidance"), () => steps.value.trim() && act("remote.guided", job,
        { method: method.value, steps: steps.value.trim() }, null, [key("guide")]), "secondary"))];
  },

  choose(ctx) {
    return [h("p", {}, t("choose_intro")),
      h("div", { class: "either-or" },
        h("section", { class: "card inset" }, h("h3", {}, t("step.resolve")), STEP_BODIES.resolve(ctx,
          flow.check(ctx.declaration, ctx.facts, "remote.resolved"))),
        h("section", { class: "card inset" }, h("h3", {}, t("step.schedule")), STEP_BODIES.schedule(ctx,
          flow.check(ctx.declaration, ctx.facts, "visit.scheduled"))))];
  },

  resolve(ctx, refusal) {
    const { job, key } = ctx;
    if (ctx.facts.remote_resolved) return summaryList([[t("cause"), job.cause], [t("work_done"), job.work_done]]);
    const cause = draftInput(key("r-cause"), { rows: 2 }, "textarea");
    const work = draftInput(key("r-work"), { rows: 3 }, "textarea");
    return [field(t("cause"), cause), field(t("work_done"), work), h("p", { class: "hint" }, t("resolve_files")),
      offer(refusal, bigButton(t("resolved_remotely"), () => {
        if (!cause.value.trim() || !work.value.trim()) { announce(t("need_cause_work")); return; }
        act("remote.resolved", job, { cause: cause.value.trim(), work_done: work.value.trim() }, null,
          [key("r-cause"), key("r-work")]);
      }))];
  },

  schedule(ctx, refusal) {
    const { job, key, facts } = ctx;
    const visit = job.visit || {};
    const review = facts.visit_scheduled ? summaryList([[t("visit_time"), time(visit.scheduled_at)],
      [t("address"), visit.address], [t("agreed_with"), visit.agreed_with]]) : null;
    if (facts.visit_scheduled && refusal) return review;  // no reschedule once on site
    const when = draftInput(key("when"), { type: "datetime-local", required: true });
    const address = draftInput(key("address"), { type: "text" }, "input", visit.address || job.customer.address || "");
    const agreed = draftInput(key("agreed"), { type: "text" }, "input", visit.agreed_with || job.customer.contact || "");
    const form = [field(t("visit_time"), when), field(t("address"), address), field(t("agreed_with"), agreed),
      offer(refusal, bigButton(facts.visit_scheduled ? t("reschedule") : t("schedule_visit"), () => {
        if (!when.value || Number.isNaN(Date.parse(when.value))) { announce(t("need_time")); return; }
        act("visit.scheduled", job, { scheduled_at: store.localIso(new Date(when.value)),
          address: address.value.trim(), agreed_with: agreed.value.trim() }, null,
        [key("when"), key("address"), key("agreed")]);
      }, facts.visit_scheduled ? "secondary" : ""))];
    return facts.visit_scheduled ? [review, h("h3", {}, t("reschedule")), h("p", { class: "hint" },
      t("reschedule_hint")), form] : form;
  },

  prepare(ctx, refusal) {
    const { job, facts } = ctx;
    const visit = job.visit || {};
    const items = visit.checklist || [];
    const list = h("ul", { class: "checklist" }, items.map((item) => h("li", {}, checkRow(
      // Ticked afresh each time: after a reschedule the whole checklist is confirmed again.
      h("input", { type: "checkbox", value: item.id, checked: facts.prep_confirmed,
        disabled: facts.prep_confirmed, "data-item": item.id }),
      h("span", { class: "badge" }, t(`prep.${item.kind}`)), ` ${item.label}`))));
    if (facts.prep_confirmed) return [h("p", {}, t("visit_at", { time: time(visit.scheduled_at) })), list];
    if (!items.length) return h("p", { class: "hint" }, t("checklist_after_sync"));
    return [h("p", {}, t("visit_at", { time: time(visit.scheduled_at) })), clockLine(job, ["preparation"]), list,
      offer(refusal, bigButton(t("prepared"), () => {
        const ticked = [...list.querySelectorAll("input[data-item]:checked")].map((b) => Number(b.value));
        if (ticked.length < items.length) { announce(t("tick_all")); return; }
        act("prep.confirmed", job, { items: ticked });
      }))];
  },

  arrive(ctx, refusal) {
    if (ctx.facts.arrived) return h("p", { class: "done" }, t("arrived_done"));
    return offer(refusal, bigButton(t("arrived"), () => act("visit.arrived", ctx.job, {})));
  },

  problem(ctx, refusal) {
    const { job, key } = ctx;
    const confirmed = job.visit?.confirmed_problem;
    const text = draftInput(key("problem"), { rows: 3 }, "textarea", confirmed || "");
    return [confirmed ? h("p", { class: "done" }, `✓ ${confirmed}`) : null,
      field(t("problem_with_customer"), text),
      offer(refusal, bigButton(confirmed ? t("save_change") : t("save"), () => text.value.trim() &&
        act("problem.confirmed", job, { text: text.value.trim() }, null, [key("problem")]), confirmed ? "secondary" : ""))];
  },

  work(ctx, refusal) {
    const { job, key } = ctx;
    const number = job.number;
    const noteText = draftInput(key("note"), { rows: 2 }, "textarea");
    const shown = h("input", { type: "checkbox" });  // internal unless the technician chooses to show it
    const photos = job.photos || [];
    const staged = stagedPhotos.get(number) || [];
    const camera = h("input", { type: "file", accept: "image/*", capture: "environment", class: "visually-hidden",
      onchange: async () => {
        const files = [...camera.files];
        camera.value = "";
        for (const file of files) {
          const blob = await downscale(file);
          staged.push({ id: crypto.randomUUID(), blob, caption: "" });
        }
        stagedPhotos.set(number, staged);
        await store.setDraft(`${number}:photos`, staged);
        route();
      } });
    const saveStaged = () => store.setDraft(`${number}:photos`, staged);
    return [
      h("ul", { class: "timeline" }, (job.notes || []).map((n) => h("li", {}, h("time", {}, time(n.at)), ` ${n.text}`,
        n.shown_to_customer ? h("span", { class: "badge" }, t("for_customer")) : null))),
      field(t("note"), noteText),
      checkRow(shown, t("show_customer")),
      offer(refusal, bigButton(t("add_note"), () => noteText.value.trim() && act("note.added", job,
        { note_id: crypto.randomUUID(), text: noteText.value.trim(), shown_to_customer: shown.checked }, null,
        [key("note")]), "secondary")),
      h("h3", {}, t("photos")),
      photos.length ? h("p", { class: "muted" }, t("photos_count", { n: photos.length })) : null,
      h("ul", { class: "thumbs" }, photos.filter((p) => p.pending || p.thumb_url).map((p) => h("li", {},
        p.thumb_url ? h("button", { type: "button", class: "thumb-open", onclick: () => showPhoto(p),
          "aria-label": t("photo_open", { caption: p.caption || t("photo") }) },
        h("img", { src: p.thumb_url, alt: p.caption || t("photo"), width: 96, height: 96 })) :
          h("span", { class: "thumb-waiting" }, t("photo_waiting")),
        h("span", {}, p.caption || ""),
        p.pending ? h("button", { type: "button", class: "button small secondary", onclick: async () => {
          await store.deletePendingPhoto(p.op_id); await renderStatus(); route();
        } }, t("take_back")) : null))),
      staged.length ? h("ul", { class: "thumbs staged" }, staged.map((p, i) => {
        if (!photoUrls.has(p.id)) photoUrls.set(p.id, URL.createObjectURL(p.blob));
        const url = photoUrls.get(p.id);
        const caption = h("input", { type: "text", value: p.caption || "", oninput: () => {
          p.caption = caption.value; saveStaged();
        } });
        return h("li", {}, h("img", { src: url, alt: t("photo_n", { n: i + 1 }), width: 96, height: 96 }),
        field(t("caption_n", { n: i + 1 }), caption),
        h("button", { type: "button", class: "button small danger", onclick: async () => {
          staged.splice(i, 1); URL.revokeObjectURL(url); photoUrls.delete(p.id); await saveStaged(); route();
        } }, t("delete_photo_n", { n: i + 1 })));
      })) : null,
      h("label", { class: "button wide camera" }, camera, h("span", { class: "camera-icon", "aria-hidden": "true" }),
        h("span", {}, staged.length ? t("another_photo") : t("take_photo"))),
      staged.length ? offer(refusal && flow.check(ctx.declaration, ctx.facts, "photo.added"), bigButton(
        t("add_photos", { n: staged.length }), async () => {
          const taken = staged.splice(0, staged.length);
          await saveStaged();
          for (const p of taken) { URL.revokeObjectURL(photoUrls.get(p.id)); photoUrls.delete(p.id); }
          for (const p of taken) await store.addOp("photo.added", number, { caption: (p.caption || "").trim() }, p.blob);
          await renderStatus();
          sync.flush().then(() => { sync.requestBackgroundSync(); });
          route();
        })) : null,
    ];
  },

  cause(ctx, refusal) {
    const { job, key } = ctx;
    const cause = draftInput(key("cause"), { rows: 2 }, "textarea", job.cause || "");
    const work = draftInput(key("work-done"), { rows: 3 }, "textarea", job.work_done || "");
    return [field(t("cause"), cause), field(t("work_done"), work),
      offer(refusal, bigButton(ctx.facts.work_recorded ? t("save_change") : t("save"), () => {
        if (!cause.value.trim() || !work.value.trim()) { announce(t("need_cause_work")); return; }
        act("work.recorded", job, { cause: cause.value.trim(), work_done: work.value.trim() }, null,
          [key("cause"), key("work-done")]);
      }, ctx.facts.work_recorded ? "secondary" : ""))];
  },

  tests(ctx, refusal) {
    const { job, key } = ctx;
    const items = testItems(job);
    const badge = (done) => (done.not_applicable ? h("span", { class: "badge" }, `— ${t("not_applicable")}`)
      : h("span", { class: `badge ${done.passed ? "ok" : "bad"}` }, done.passed ? `✓ ${t("passed")}` : `✗ ${t("failed")}`));
    return [h("ul", { class: "tests" }, items.map((item, i) => {
      const done = (job.tests || []).find((x) => x.item === item);
      const note = draftInput(key(`test:${item}`), { type: "text" }, "input", done?.note || "");
      // Not applicable: the note is its reason (the declared flow refuses it without one, here as on the server).
      const record = (passed, notApplicable = false) => act("test.recorded", job, {
        item, passed, note: note.value.trim(), ...(notApplicable ? { not_applicable: true } : {}) }, null,
      [key(`test:${item}`)]);
      const state = done ? (done.not_applicable ? "na" : done.passed ? "ok" : "bad") : null;
      const choice = (name, cls, label, onclick) => h("button", { type: "button",
        class: `button ${cls} ${state === name ? "chosen" : "secondary"}`, "aria-pressed": String(state === name),
        ...(name === "ok" ? { "data-test": item } : {}), "data-choice": name, onclick }, label);
      return h("li", { "data-item": item }, h("p", { class: "test-item" }, item, done ? badge(done) : null),
        offer(refusal, h("div", { class: "pass-fail", role: "group", "aria-label": item },
          choice("ok", "choice-ok", t("passed"), () => record(true)),
          choice("bad", "choice-bad", t("failed"), () => record(false)),
          choice("na", "choice-na", t("not_applicable"), () => record(false, true)))),
        field(t("test_note_or_reason_n", { n: i + 1 }), note));
    }))];
  },

  confirm(ctx, refusal) {
    const { job, key } = ctx;
    if (ctx.facts.customer_confirmed) {
      return h("p", { class: "done" }, job.visit?.failures_acknowledged ? t("failures_ack") : t("customer_confirmed"));
    }
    const note = draftInput(key("confirm"), { type: "text" });
    // An item failed: the customer confirms only knowingly (the flow refuses it otherwise, on both sides).
    const failed = (job.tests || []).filter((x) => !x.passed && !x.not_applicable).map((x) => x.item);
    const ack = h("input", { type: "checkbox", id: "failures-ack", name: "failures_acknowledged" });
    return [
      failed.length ? h("div", { class: "ack" }, h("p", { class: "bad" }, t("failed_items", { items: failed.join("、") })),
        h("label", { class: "check-row", for: "failures-ack" }, ack, t("failures_ack"))) : null,
      field(t("note"), note), offer(refusal, bigButton(t("customer_says_ok"), () => act("customer.confirmed",
        job, { note: note.value.trim(), ...(failed.length ? { failures_acknowledged: ack.checked } : {}) }, null,
        [key("confirm")])))];
  },

  precautions(ctx, refusal) {
    const { job, key } = ctx;
    const lang = T.lang === "en" ? "en" : "zh";
    const templates = (job.templates?.precautions || []).map((x) => (typeof x === "string" ? x : x[lang]));
    const told = job.precautions || [];
    const boxes = templates.map((text) => h("input", { type: "checkbox", value: text,
      checked: told.length ? told.includes(text) : true }));
    const extra = draftInput(key("precautions"), { rows: 3 }, "textarea",
      told.filter((x) => !templates.includes(x)).join("\n"));
    return [told.length ? h("p", { class: "done" }, t("told")) : null,
      h("ul", { class: "checklist" }, boxes.map((box, i) => h("li", {}, checkRow(box, templates[i])))),
      field(t("more_precautions"), extra, t("one_per_line")),
      offer(refusal, bigButton(t("told_customer"), () => {
        const items = [...boxes.filter((b) => b.checked).map((b) => b.value),
          ...extra.value.split("\n").map((x) => x.trim()).filter(Boolean)];
        if (!items.length) { announce(t("need_precaution")); return; }
        act("precautions.told", job, { items }, null, [key("precautions")]);
      }, told.length ? "secondary" : ""))];
  },

  sign(ctx, refusal) {
    if (ctx.facts.signed) return h("p", { class: "done" }, t("signed"));
    return [h("p", { class: "hint" }, t("sign_hint")),
      offer(refusal, h("a", { class: "button wide", href: `#/job/${ctx.job.number}/sign` }, t("to_sign")))];
  },

  depart(ctx, refusal) {
    if (ctx.facts.departed) return h("p", { class: "done" }, t("departed"));
    return offer(refusal, bigButton(t("depart"), () => act("visit.departed", ctx.job, {})));
  },

  submit(ctx, refusal) {
    const { job, key, facts } = ctx;
    if (facts.submitted) return h("p", { class: "done" }, t("submitted_done"));
    const w = job.submission || {};
    const categories = job.fault_categories || [];
    const category = select([["", t("choose")], ...categories.map((c) => [c.id, c.name])],
      liveDrafts.get(key("w-cat")) || w.fault_category_id || "");
    category.addEventListener("change", () => { liveDrafts.set(key("w-cat"), category.value); store.setDraft(key("w-cat"), category.value); });
    const rootCause = draftInput(key("w-root"), { rows: 2 }, "textarea", w.root_cause || job.cause || "");
    const summary = draftInput(key("w-summary"), { rows: 3 }, "textarea", w.solution_summary || job.work_done || "");
    const parts = draftInput(key("w-parts"), { type: "text" }, "input", w.parts_used || "");
    return [clockLine(job, ["submission"]), h("p", { class: "hint" }, t("writeup_internal")),
      field(t("fault_category"), category), field(t("root_cause"), rootCause),
      field(t("solution_summary"), summary), field(t("parts_used"), parts),
      offer(refusal, bigButton(t("submit"), () => {
        if (categories.length && !category.value) { announce(t("need_category")); return; }
        if (!summary.value.trim()) { announce(t("need_summary")); return; }
        act("order.submitted", job, { fault_category_id: category.value ? Number(category.value) : null,
          root_cause: rootCause.value.trim(), solution_summary: summary.value.trim(), parts_used: parts.value.trim() },
        null, [key("w-cat"), key("w-root"), key("w-summary"), key("w-parts")]);
      }))];
  },
};

function summaryList(rows) {
  return h("dl", { class: "summary-list" }, rows.filter(([, v]) => v).map(([k, v]) => [h("dt", {}, k),
    h("dd", { class: "pre" }, v)]));
}

// The knowledge base's answers for this device type came with the jobs, so they are there with no network.
function knowledgeSection(job) {
  const articles = job.knowledge || [];
  if (!articles.length) return null;
  const part = (label, text) => (text ? [h("h3", {}, label), h("p", { class: "pre" }, text)] : []);
  return h("section", { class: "card knowledge", "data-key": "kb" }, h("h2", {}, t("kb")),
    h("ul", { class: "articles" }, articles.map((a) => {
      const key = `${job.number}:${a.id}`;
      return h("li", {}, h("details", { open: openArticles.has(key), ontoggle: (event) => {
        if (event.target.open) openArticles.add(key); else openArticles.delete(key);
      } }, h("summary", {}, a.title), part(t("kb.symptoms"), a.symptoms), part(t("kb.solution"), a.solution),
      part(t("kb.precautions"), a.precautions)));
    })));
}

// --- customer mode: the phone handed to the customer, no technician chrome ---------------------------------

function customerMode(on) {
  document.body.classList.toggle("customer-mode", on);
  // The technician's chrome, out of the customer's reach (the push prompt too: it would ask for the phone's alerts).
  for (const el of document.querySelectorAll("#app-topbar, #sync-status, #login-needed, #update-ready, .push-enable")) {
    el.inert = on;
  }
}

async function signScreen(number, id) {
  const key = (name) => `${number}:sign:${name}`;
  const [job, declaration, refused, me, nameDraft, commentDraft, ratingDraft, strokesDraft, { mountSignature }] =
    await Promise.all([store.getJob(number), store.getFlow(), store.rejectedOps(), store.getMeta("user"),
      store.getDraft(key("name")), store.getDraft(key("comment")), store.getDraft(key("rating")),
      store.getDraft(key("strokes")), loadSignature()]);
  if (!isCurrent(id)) return;
  if (!job) { show([missingJob(number)]); return; }
  const refusal = flow.check(declaration, factsOf(job), "order.signed");
  if (refusal) {  // opened by its address while the step is not open: the reason, and back to the job
    customerMode(false);
    show([h("section", { class: "card", "data-key": "refused" }, h("h1", {}, t("step.sign")), h("p", {}, refusal.message),
      h("a", { class: "button wide", href: `#/job/${number}` }, `← ${number}`))]);
    return;
  }
  // A signature the server refused stays recoverable: it fills the form until the step is done again.
  const earlier = refused.filter((op) => op.ticket === number && op.kind === "order.signed" && !op.redone).pop();
  const previous = earlier ? earlier.data : {};
  customerMode(true);
  const name = draftInput(key("name"), { type: "text", autocomplete: "off" }, "input",
    nameDraft ?? previous.signer_name ?? job.customer.contact ?? "");
  const comment = draftInput(key("comment"), { rows: 2 }, "textarea", commentDraft ?? previous.comment ?? "");
  // No autocomplete: the phone is the technician's, its saved addresses are not the customer's.
  const email = draftInput(key("email"), { type: "email", inputmode: "email", autocomplete: "off",
    maxlength: RULES.signature.email_max }, "input", previous.customer_email ?? job.customer.email ?? "");
  let rating = Number(ratingDraft ?? previous.rating) || 0;
  const stars = h("div", { class: "stars", role: "group", "aria-labelledby": "rating-label" },
    [1, 2, 3, 4, 5].map((n) => h("button", { type: "button", class: "star", "data-rating": n,
      "aria-label": t("stars_n", { n }), "aria-pressed": String(n <= rating), onclick: () => {
        rating = n;
        store.setDraft(key("rating"), n);
        for (const b of stars.children) b.setAttribute("aria-pressed", String(Number(b.dataset.rating) <= n));
      } }, "★")));
  const canvas = h("canvas", { class: "signature-pad", role: "img", "aria-label": t("signature") });
  const lang = T.lang === "en" ? "en" : "zh";
  const technician = job.technician?.name || job.technician || me?.display_name || me?.username || "";
  const customerNotes = (job.notes || []).filter((n) => n.shown_to_customer);
  const row = (label, value) => (value ? [h("dt", {}, label), h("dd", { class: "pre" }, value)] : []);
  const done = h("section", { class: "card handback", "data-key": "thanks", hidden: true },
    h("h2", { class: "customer-title" }, t("thanks")), h("p", { class: "big" }, t("hand_back_please")),
    handBack(number, true));
  show([
    h("h1", { "data-key": "title", class: "customer-title" }, t("sign_title")),
    h("section", { class: "card summary", "data-key": "summary" },
      h("dl", { class: "summary-list big" },
        row(t("order_no"), job.order_number || job.number), row(t("date"), date()), row(t("technician"), technician),
        row(t("customer"), job.customer.name), row(t("device"),
          `${job.device.model}${job.device.serial ? " · " + job.device.serial : ""}`),
        row(t("problem"), job.visit?.confirmed_problem || job.problem), row(t("cause"), job.cause),
        row(t("work_done"), job.work_done)),
      customerNotes.length ? [h("h2", {}, t("notes_for_you")),
        h("ul", { class: "big" }, customerNotes.map((n) => h("li", {}, n.text)))] : null,
      (job.tests || []).length ? [h("h2", {}, t("tests")), h("ul", { class: "big tests-summary" },
        job.tests.map((x) => h("li", {}, `${x.not_applicable ? `— ${t("not_applicable")}:` : x.passed ? "✓" : "✗"} ${
          x.item}${x.note ? ` (${x.note})` : ""}`))),
      job.visit?.failures_acknowledged ? h("p", { class: "big bad" }, t("failures_ack")) : null] : null,
      (job.precautions || []).length ? [h("h2", {}, t("precautions")),
        h("ul", { class: "big" }, job.precautions.map((p) => h("li", {}, p)))] : null),
    h("section", { class: "card sign-form", "data-key": "form" },
      field(t("signer_name"), name),
      h("p", { id: "rating-label", class: "label" }, t("rating")), stars,
      field(t("comment"), comment),
      field(t("customer_email"), email),
      h("p", { class: "label" }, t("sign_here")), canvas,
      h("div", { class: "sign-tools" },
        h("button", { type: "button", class: "button secondary", onclick: () => pad.undo() }, t("undo")),
        h("button", { type: "button", class: "button secondary", onclick: () => pad.clear() }, t("clear"))),
      h("button", { type: "button", class: "button wide", id: "confirm-sign", onclick: async () => {
        if (!name.value.trim()) { announce(t("need_name")); name.focus(); return; }
        const address = email.value.trim();
        const rules = RULES.signature;
        if (address && (address.length > rules.email_max || !new RegExp(rules.email_pattern, "u").test(address))) {
          announce(t("email_invalid")); email.focus(); return;
        }
        const png = pad.isEmpty() ? null : pad.png(rules);
        if (!png) { announce(t("need_signature")); return; }
        const strokes = pad.strokes();
        if (strokes.reduce((sum, stroke) => sum + stroke.length, 0) > rules.max_stroke_points) {
          announce(t("too_many_points")); return;
        }
        // The rating is the customer's to give or skip (absent: skipped).
        const data = { signer_name: name.value.trim(), ...(rating ? { rating } : {}), comment: comment.value.trim(),
          signature_png: png, strokes };
        if (address) data.customer_email = address;
        announce();
        await store.addOp("order.signed", job.number, data);
        await forgetDrafts([key("name"), key("comment"), key("email"), key("rating"), key("strokes")]);
        await renderStatus();  // as after every act: the status line counts the signature before it is sent
        sync.flush().then(() => { sync.requestBackgroundSync(); });
        pad.destroy();
        done.hidden = false;
        main.replaceChildren(done);
        done.querySelector("h2").focus();
      } }, t("confirm_sign"))),
    h("section", { class: "handback-bar", "data-key": "handback" }, handBack(number, false)),
    done,
  ]);
  done.querySelector("h2").tabIndex = -1;
  const pad = mountSignature(canvas, (p) => store.setDraft(key("strokes"), p.toData()));
  if (strokesDraft) pad.load(strokesDraft);
  else if (earlier && previous.strokes) pad.loadStrokes(previous.strokes);
  teardown = () => { pad.destroy(); customerMode(false); };
}

// Back to the technician: a deliberate act (two taps), so a customer never lands in the technician's screens.
// A photo sent earlier, full size over the page. Offline the full size is not on the phone (only thumbnails
// are kept): its thumbnail is shown instead, saying so.
function showPhoto(photo) {
  const note = h("p", { class: "muted", hidden: true }, t("photo_full_offline"));
  const image = h("img", { src: photo.url, alt: photo.caption || t("photo"), onerror: () => {
    if (image.src.endsWith(photo.thumb_url)) return;
    image.src = photo.thumb_url;
    note.hidden = false;
  } });
  const view = h("dialog", { class: "photo-view", onclose: () => view.remove() },
    image, photo.caption ? h("p", {}, photo.caption) : null, note,
    h("button", { type: "button", class: "button wide secondary", onclick: () => view.close() }, t("photo_close")));
  document.body.append(view);
  view.showModal();
}

function handBack(number, afterSigning) {
  const confirm = h("a", { class: "button wide", href: `#/job/${number}`, hidden: true }, t("i_am_technician"));
  const ask = h("button", { type: "button", class: `button wide ${afterSigning ? "" : "secondary"}`, onclick: () => {
    ask.hidden = true; confirm.hidden = false; confirm.focus();
  } }, t("hand_back"));
  return h("div", { class: "handback-actions" }, ask, confirm);
}

// --- refused ops, all jobs ------------------------------------------------------------------------------

async function rejectedScreen(id) {
  const ops = (await store.rejectedOps()).filter((op) => !op.acknowledged);
  if (!isCurrent(id)) return;
  show([h("p", { class: "back", "data-key": "back" }, h("a", { href: "#/", class: "back-link" }, `← ${t("my_jobs")}`)),
    h("h1", { "data-key": "title" }, t("rejected_title")),
    ops.length ? h("ul", { class: "list", "data-key": "list" }, ops.map((op) => h("li", { class: "list-item rejected" },
      refusalBox(op), h("a", { class: "button small", href: `#/job/${op.ticket}` }, t("open_job", { n: op.ticket })))))
      : h("p", { class: "card muted", "data-key": "none" }, t("none_refused"))]);
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
let shownHash = null;
function isCurrent(id) { return id === currentRender; }

async function route(options = {}) {
  const id = ++currentRender;
  fieldSeq = 0;
  const hash = location.hash || "#/";
  const sameScreen = hash === shownHash;
  if (!sameScreen || !options.passive) { if (teardown) { teardown(); teardown = null; } }
  if (!sameScreen) { main.replaceChildren(); announce(); }
  shownHash = hash;
  let match;
  if ((match = hash.match(/^#\/job\/([^/]+)\/sign$/))) {
    if (sameScreen && options.passive) return;  // never redraw under the customer's pen
    await signScreen(decodeURIComponent(match[1]), id);
    return;
  }
  customerMode(false);
  if ((match = hash.match(/^#\/job\/([^/]+)$/))) await jobScreen(decodeURIComponent(match[1]), id, options);
  else if (hash === "#/rejected") await rejectedScreen(id);
  else await jobsScreen(id, options);
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
  sync.onChange(() => { renderStatus(); if (!sync.state.syncing) refreshOnNewData(); });
  window.addEventListener("hashchange", () => route());
  await Promise.all([route(), renderStatus(), store.loadClockOffset()]);
  watchForUpdates();
  setTimeout(loadSignature, 0);
  await sync.start();  // when it has fetched the jobs, onChange refreshes the list or the job shown
}

let shownJobsVersion = null;

function refreshOnNewData() {
  // Redraw only when new data came from the server (or the list came, unchanged, while a job missing from it is
  // shown: it is then known to be gone); a part being touched or typed in is kept (show()).
  const missing = sync.state.jobsFetched && main.querySelector('[data-key="missing"]');
  if (sync.state.jobsVersion === shownJobsVersion && !missing) return;
  shownJobsVersion = sync.state.jobsVersion;
  route({ passive: true });
}

startApp();
