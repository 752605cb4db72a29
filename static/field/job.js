// A job: one stepper for the whole day. Its screens, their order and what says each is done come from the server's
// declaration (rules.js); whether a step may be done now, from the flow (flow.js), as the server will judge it.
import * as store from "./store.js";
import * as sync from "./sync.js";
import * as flow from "./flow.js";
import { act, factsOf } from "./acts.js";
import { refusalBox, screenOf } from "./lists.js";
import { addLeftoverPhotos } from "./photos.js";
import { deviceSection } from "./devices.js";
import { earlierVisitsNotice, followupSection, unsignedNotice, unsignedSection } from "./exceptions.js";
import { SCREENS } from "./rules.js";
import { STEP_BODIES, testItems } from "./steps.js";
import {
  announce, bigButton, clockLine, draftInput, field, foldable, h, isCurrent, main, openSteps, show, t, time,
} from "./ui.js";

// The steps of the day, by the path the job has taken: remote, on site, or not decided yet.
function pathOf(facts) {
  if (facts.remote_resolved) return ["contact", "guide", "resolve", "submit"];
  if (facts.visit_scheduled || facts.arrived || facts.signed || facts.visited_before) {
    return ["contact", "guide", "schedule", "prepare", "arrive", "problem", "work", "cause", "tests", "confirm",
      "precautions", "sign", "depart", "submit"];
  }
  return ["contact", "guide", "choose", "submit"];
}

// The stepper's screens: each with the op kind that does it and the fact that says it is done, as the server
// declares them (domain/fieldwork/ops.py); "choose" is the fork between remote and on site, an act of its own.
const STEPS = { ...SCREENS, choose: { kind: null, fact: null } };

// A step is done when the server's fact (or this phone's pending op) says so; the acceptance test once every item of
// the device's checklist has a result (the fact is set by the first one), or once the customer confirmed or signed.
function stepDone(job, facts, name) {
  const fact = STEPS[name].fact;
  if (!fact || !facts[fact]) return false;
  if (name !== "tests" || facts.customer_confirmed || facts.signed) return true;  // the customer has moved on
  const recorded = new Set((job.tests || []).map((x) => x.item));
  return testItems(job).every((item) => recorded.has(item));
}

// When each step was done, as the server recorded it.
function serverTime(job, name) {
  const visit = job.visit || {};
  const clock = (clockName) => (job.clocks || []).find((c) => c.name === clockName && c.done_at)?.done_at;
  return {
    contact: clock("first_contact"), resolve: clock("order_filed") || clock("remote_fix"),
    guide: (job.remote || []).map((r) => r.at).pop(), prepare: visit.prepared_at, arrive: visit.arrived_at,
    problem: visit.problem_confirmed_at, cause: visit.work_recorded_at, tests: visit.tests_recorded_at,
    confirm: visit.customer_confirmed_at, precautions: visit.precautions_told_at,
    sign: job.signed_at, depart: visit.departed_at, submit: job.submission?.submitted_at,
  }[name];
}

// When each step was done: the time of the op on this phone, else what the server recorded.
function doneAt(job, name) {
  const { kind, fact } = STEPS[name];
  return job.fact_times?.[fact] || job.done_at?.[kind] || serverTime(job, name) || null;
}

const openArticles = new Set();
const leftoversChecked = new Set();  // jobs whose photos kept by an earlier version were looked for
const lastCurrent = new Map(); // the step in focus, by job: focus moves only when it changes

// A job the phone does not hold: not fetched yet (the phone was offline since it was assigned), or, once the list
// came from the server, no longer the technician's to do: submitted from this phone, or finished, cancelled,
// handed over (an old alert's link). Its number as the title, what became of it, and the way back.
export async function missingJob(number) {
  const back = h("a", { class: "button wide", href: "#/" }, `← ${t("back_to_jobs")}`);
  if (!sync.state.jobsFetched) {
    return h("section", { class: "card", "data-key": "missing" }, h("h1", {}, number), h("p", {}, t("job_missing")),
      back);
  }
  const left = ((await store.getMeta("left_jobs")) || {})[number];
  return h("section", { class: "card", "data-key": "gone" }, h("h1", {}, number),
    h("p", { role: "status" }, left === "submitted" ? t("job_submitted_gone") : t("job_gone")), back,
    h("a", { class: "button wide secondary", href: `/dispatch/requests/${encodeURIComponent(number)}` }, t("job_page")));
}

// The way there: the address in the phone's map app (the web address opens the app where it is installed, the map
// page where not; Apple's on an iPhone), and copied as text, which always works.
function mapLinks(address) {
  const q = encodeURIComponent(address);
  const apple = /iPhone|iPad|Macintosh/.test(navigator.userAgent);
  const links = [
    ["map_amap", `https://uri.amap.com/search?keyword=${q}&src=fieldservice&callnative=1`],
    ["map_baidu", `https://api.map.baidu.com/geocoder?address=${q}&output=html&src=fieldservice`],
  ];
  if (apple) links.unshift(["map_apple", `https://maps.apple.com/?q=${q}`]);
  return h("div", { class: "map-links" },
    links.map(([label, href]) => h("a", { class: "button small secondary", href, target: "_blank", rel: "noopener" },
      t(label))),
    h("button", { type: "button", class: "button small secondary", onclick: async () => {
      try { await navigator.clipboard.writeText(address); announce(t("address_copied")); } catch { announce(address); }
    } }, t("copy_address")));
}

function jobHead(job) {
  const visit = job.visit || {};
  const address = visit.address || job.customer.address || "";
  return h("section", { class: "card job-head", "data-key": "head" },
    h("p", { class: "request-title" }, job.customer.name),
    h("p", {}, `${job.customer.contact || ""} `, job.customer.phone ?
      h("a", { class: "phone-link", href: `tel:${job.customer.phone}` }, `☎ ${job.customer.phone}`) : null),
    h("p", {}, address),
    address ? mapLinks(address) : null,
    h("p", {}, `${job.device.model}${job.device.serial ? " · " + job.device.serial : ""}`),
    h("p", { class: "pre" }, job.problem),
    clockLine(job));
}

// Handed back: the job stays on the phone until the supervisor reassigns it, saying so at the top.
function handedBackNotice(job) {
  if (!job.handed_back_at) return null;
  return h("section", { class: "card returned", role: "status", "data-key": "handed-back" },
    h("h2", {}, t("handed_back_title")), h("p", { class: "pre" }, job.handback_reason || ""),
    h("p", {}, t("give_back_hint")));
}

// Giving the job back (ill, stuck, another urgent job): a deliberate act, folded at the end of the job, with the
// reason the supervisor reads. Not offered once the service is over (the order is submitted instead).
function giveBackSection(ctx) {
  const { job, facts, declaration, key } = ctx;
  const refusal = flow.check(declaration, facts, "job.handed_back");
  if (refusal) return null;
  const reason = draftInput(key("give-back"), { rows: 2 }, "textarea");
  return h("section", { class: "card step give-back", "data-key": "give-back", "data-step": "give_back" },
    foldable(openSteps, key("give_back"), {}, h("summary", {}, h("h2", {}, t("give_back"))),
      h("div", { class: "step-body" }, h("p", { class: "hint" }, t("give_back_hint")),
        field(t("give_back_reason"), reason),
        bigButton(t("give_back_confirm"), () => act("job.handed_back", job, { reason: reason.value.trim() }, null,
          [key("give-back")]), "secondary"))));
}

function returnedNotice(job, facts) {
  if (!facts.returned || facts.submitted) return null;
  return h("section", { class: "card returned", role: "alert", "data-key": "returned" },
    h("h2", {}, t("returned_title")), h("p", { class: "pre" }, job.submission?.returned_comment || ""),
    h("p", {}, t("returned_next")));
}

function progressBar(number, done, total) {
  return h("div", { class: "progress", "data-key": "progress" },
    h("label", { for: `progress-${number}` }, t("progress", { done, total })),
    h("progress", { id: `progress-${number}`, max: total, value: done }));
}

// The next step is in focus when it changes (after an act), never while the technician is elsewhere in it.
function focusCurrent(number, current, options) {
  const previous = lastCurrent.get(number);
  lastCurrent.set(number, current);
  const section = current && main.querySelector(`[data-step="${current}"]`);
  if (!section) return;
  if (previous === undefined) {  // just opened: the step to do is at least in view
    if (section.getBoundingClientRect().top > window.innerHeight - 120) {
      section.scrollIntoView({ block: "end", behavior: "instant" });
    }
    return;
  }
  const heading = section.querySelector("h2");
  if (previous === current || options.passive || !heading) return;
  heading.focus({ preventScroll: true });
  // At the top of what shows, below the sticky bar and status line (under them, its title was hidden).
  const status = document.getElementById("sync-status");
  section.style.scrollMarginTop = `${Math.max(0, status ? status.getBoundingClientRect().bottom : 0) + 8}px`;
  section.scrollIntoView({ block: "start", behavior: "instant" });
}

export async function jobScreen(number, id, options) {
  if (!leftoversChecked.has(number)) { leftoversChecked.add(number); await addLeftoverPhotos(number); }
  const [job, declaration, refused] = await Promise.all([store.getJob(number), store.getFlow(), store.rejectedOps()]);
  if (!isCurrent(id)) return;
  if (!job) { const gone = await missingJob(number); if (isCurrent(id)) show([gone]); return; }
  const facts = factsOf(job);
  const path = pathOf(facts);
  const refusals = refused.filter((op) => op.ticket === number);
  const ctx = { job, facts, declaration, refusals, key: (name) => `${number}:${name}` };
  const isDone = (name) => stepDone(job, facts, name);
  const current = path.find((name) => !STEPS[name].optional && !isDone(name));
  const countable = path.filter((name) => (STEPS[name].fact || name === "choose") && !STEPS[name].optional);
  show([
    h("p", { class: "back", "data-key": "back" }, h("a", { href: "#/", class: "back-link" }, `← ${t("my_jobs")}`)),
    h("h1", { "data-key": "title" }, job.number),
    jobHead(job),
    handedBackNotice(job),
    unsignedNotice(job, facts),
    earlierVisitsNotice(job, facts),
    returnedNotice(job, facts),
    progressBar(number, countable.filter(isDone).length, countable.length),
    strayRefusals(ctx, path),
    ...path.map((name, index) => stepItem(ctx, name, index, { done: isDone(name), current: name === current })),
    deviceSection(ctx),
    unsignedSection(ctx),
    followupSection(ctx),
    giveBackSection(ctx),
    knowledgeSection(job),
  ], options);
  focusCurrent(number, current, options);
}

// Refusals of ops whose step is not on the job's path (they would be shown nowhere else).
function strayRefusals(ctx, path) {
  const stray = ctx.refusals.filter((op) => !op.acknowledged && !path.includes(screenOf(op.kind)));
  return stray.length ? h("div", { "data-key": "stray" }, stray.map(refusalBox)) : null;
}

function stepHeading(job, name, index, done) {
  const at = done ? doneAt(job, name) : null;
  const scheduled = done && !at && name === "schedule" ? job.visit?.scheduled_at : null;
  return h("h2", { tabindex: "-1" },
    h("span", { class: "step-no", "aria-hidden": "true" }, done ? "✓" : String(index + 1)),
    h("span", {}, t(`step.${name}`)), STEPS[name].optional ? h("span", { class: "badge" }, t("optional")) : null,
    at ? h("time", { class: "step-time", datetime: at }, time(at)) : null,
    // When the visit is (the act of agreeing it has no time of its own in the feed).
    scheduled ? h("time", { class: "step-time", datetime: scheduled }, t("visit_at", { time: time(scheduled) })) : null);
}

// How a step shows: done (folded, opens to review), the one to do now, allowed though not next (folded, one tap
// away), or not yet (its title and why).
function stepState(ctx, name, refusal, { done, current }) {
  if (done) return "done";
  const notesOpen = name === "work" && ctx.facts.arrived && !ctx.facts.signed;  // notes while on site
  if (current || (STEPS[name].optional && !refusal && notesOpen)) return current ? "current" : "open";
  return !refusal && STEPS[name].kind ? "folded" : "todo";
}

function stepItem(ctx, name, index, where) {
  const { job, facts, declaration, refusals } = ctx;
  const kind = STEPS[name].kind;
  const refusal = kind ? flow.check(declaration, facts, kind) : null;
  const mine = refusals.filter((op) => !op.acknowledged && screenOf(op.kind) === name);
  const key = `${job.number}:${name}`;
  const heading = stepHeading(job, name, index, where.done);
  const body = () => h("div", { class: "step-body" }, STEP_BODIES[name](ctx, refusal));
  const state = stepState(ctx, name, refusal, where);
  const content = {
    done: () => foldable(openSteps, key, { open: mine.length > 0 },
      h("summary", {}, heading, h("span", { class: "visually-hidden" }, t("done"))), body()),
    current: () => [heading, body()],
    open: () => [heading, body()],
    folded: () => foldable(openSteps, key, {}, h("summary", {}, heading), body()),
    todo: () => [heading, refusal ? h("p", { class: "muted why" }, refusal.message) : null],
  }[state]();
  return h("section", { class: `card step ${state === "folded" ? "open" : state}`, "data-step": name,
    "data-key": `step-${name}`, "aria-current": where.current ? "step" : null }, mine.map(refusalBox), content);
}

// The knowledge base's answers for this device type came with the jobs, so they are there with no network.
function knowledgeSection(job) {
  const articles = job.knowledge || [];
  if (!articles.length) return null;
  const part = (label, text) => (text ? [h("h3", {}, label), h("p", { class: "pre" }, text)] : []);
  return h("section", { class: "card knowledge", "data-key": "kb" }, h("h2", {}, t("kb")),
    h("ul", { class: "articles" }, articles.map((a) => h("li", {},
      foldable(openArticles, `${job.number}:${a.id}`, {}, h("summary", {}, a.title), part(t("kb.symptoms"), a.symptoms),
        part(t("kb.solution"), a.solution), part(t("kb.precautions"), a.precautions))))));
}
