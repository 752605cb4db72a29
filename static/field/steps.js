// What each step of the stepper shows and does: one body per screen the server declares (domain/fieldwork/ops.py:
// each op kind's `screen`), with the act it queues. The "progress notes and photos" step is in photos.js.
import * as store from "./store.js";
import * as flow from "./flow.js";
import { act } from "./acts.js";
import { workStep } from "./photos.js";
import { arriveHere } from "./exceptions.js";
import { ENUMS, LIMITS } from "./rules.js";
import {
  announce, bigButton, checkRow, clockLine, draftInput, field, h, lang, liveDrafts, offer, openSteps, select,
  summaryList, t, time,
} from "./ui.js";

const METHODS = ENUMS.contact_methods || ["phone"];

// The server's window for a visit time (domain/requests/visits.py), judged on the server's clock as it will be.
function visitTimeProblem(when) {
  const rule = LIMITS.visit_time;
  if (!rule) return null;
  const minutes = (when.getTime() - store.serverNow().getTime()) / 60000;
  if (minutes < -rule.past_minutes) return rule.in_past;
  return minutes > rule.ahead_minutes ? rule.too_far : null;
}

// "On my way": one tap when leaving for the visit. The arrival proposed is the agreed time while it is ahead, else
// now + the server's minutes; the technician may change it. The customer is told when the op syncs.
const hhmm = (d) => `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;

function proposedArrival(job) {
  const now = store.serverNow();
  const agreed = job.visit?.scheduled_at ? new Date(job.visit.scheduled_at) : null;
  if (agreed && agreed > now) return agreed;
  return new Date(now.getTime() + (LIMITS.on_the_way?.default_minutes || 30) * 60000);
}

// The chosen "HH:MM" as a time after now (the next day when it is already past), or a problem to announce.
function arrivalFrom(value) {
  const rule = LIMITS.on_the_way || { before_minutes: 2, ahead_minutes: 1440 };
  const now = store.serverNow();
  const [hours, minutes] = (value || "").split(":").map(Number);
  if (!value || Number.isNaN(hours) || Number.isNaN(minutes)) return { problem: t("need_arrival") };
  const when = new Date(now);
  when.setHours(hours, minutes, 0, 0);
  if (when.getTime() < now.getTime() - rule.before_minutes * 60000) when.setDate(when.getDate() + 1);
  if ((when.getTime() - now.getTime()) / 60000 > rule.ahead_minutes) return { problem: rule.too_far };
  return { when };
}

function onTheWay(ctx) {
  const { job, facts, declaration, key } = ctx;
  const visit = job.visit || {};
  if (facts.on_the_way) {
    return h("p", { class: "done", "data-key": "on-the-way" },
      t("on_the_way_done", { time: hhmm(new Date(visit.expected_arrival_at)) }));
  }
  if (flow.check(declaration, facts, "visit.on_the_way")) return null;
  const input = draftInput(key("arrival"), { type: "time", required: true }, "input", hhmm(proposedArrival(job)));
  const button = bigButton(t("on_my_way", { time: input.value }), () => {
    const { when, problem } = arrivalFrom(input.value);
    if (problem) { announce(problem); input.focus(); return; }
    act("visit.on_the_way", job, { arriving_at: store.localIso(when) }, null, [key("arrival")]);
  }, "secondary");
  input.addEventListener("input", () => { button.textContent = t("on_my_way", { time: input.value }); });
  return h("div", { class: "on-the-way", "data-key": "on-the-way" }, field(t("arriving_about"), input,
    t("on_the_way_hint")), button);
}

// The device's checklist in the user's language; an item already recorded under its other language's name keeps
// that name (the phone's language may have changed since).
export function testItems(job) {
  const recorded = (job.tests || []).map((x) => x.item);
  const templates = (job.templates?.acceptance_tests || []).map((x) => (typeof x === "string" ? x :
    recorded.find((item) => Object.values(x).includes(item)) || x[lang]));
  return [...new Set([...templates, ...recorded])];
}

const resultBadge = (done) => (done.not_applicable ? h("span", { class: "badge" }, `— ${t("not_applicable")}`)
  : h("span", { class: `badge ${done.passed ? "ok" : "bad"}` }, done.passed ? `✓ ${t("passed")}` : `✗ ${t("failed")}`));

// One item of the acceptance test: its note (for an item not applicable, the reason) first, then the result. A note
// written or changed after the result is saved with it when the field is left.
function testRow(ctx, refusal, item, i) {
  const { job, key } = ctx;
  const done = (job.tests || []).find((x) => x.item === item);
  const note = draftInput(key(`test:${item}`), { type: "text" }, "input", done?.note || "");
  // Not applicable: the note is its reason (the declared flow refuses it without one, here as on the server).
  const record = (passed, notApplicable = false) => {
    // Open until the technician folds it: a note may still be written when the last result completes the step.
    openSteps.add(key("tests"));
    return act("test.recorded", job, { item, passed, note: note.value.trim(),
      ...(notApplicable ? { not_applicable: true } : {}) }, null, [key(`test:${item}`)]);
  };
  const state = done ? (done.not_applicable ? "na" : done.passed ? "ok" : "bad") : null;
  note.addEventListener("change", () => {
    if (done && !refusal && note.value.trim() !== (done.note || "")) record(done.passed, done.not_applicable);
  });
  const choice = (name, cls, label, onclick) => h("button", { type: "button",
    class: `button ${cls} ${state === name ? "chosen" : "secondary"}`, "aria-pressed": String(state === name),
    ...(name === "ok" ? { "data-test": item } : {}), "data-choice": name, onclick }, label);
  return h("li", { "data-item": item }, h("p", { class: "test-item" }, item, done ? resultBadge(done) : null),
    field(t("test_note_or_reason_n", { n: i + 1 }), note),
    offer(refusal, h("div", { class: "pass-fail", role: "group", "aria-label": item },
      choice("ok", "choice-ok", t("passed"), () => record(true)),
      choice("bad", "choice-bad", t("failed"), () => record(false)),
      choice("na", "choice-na", t("not_applicable"), () => record(false, true)))));
}

export const STEP_BODIES = {
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
        const problem = visitTimeProblem(new Date(when.value));
        if (problem) { announce(problem); when.focus(); return; }
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
    const button = bigButton(t("arrived"), () => arriveHere(ctx.job, button));
    return [onTheWay(ctx), offer(refusal, button)];
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

  work: workStep,

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
    const { job } = ctx;
    return [h("ul", { class: "tests" }, testItems(job).map((item, i) => testRow(ctx, refusal, item, i)))];
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

