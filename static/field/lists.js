// The jobs list (today's work first, by the deadline that applies, then the visits to come), and the refused ops
// of every job with what to do next.
import * as store from "./store.js";
import * as sync from "./sync.js";
import { factsOf } from "./acts.js";
import { OPS } from "./rules.js";
import { clockLine, date, h, isCurrent, renderStatus, rerender, runningClocks, show, t, T, time } from "./ui.js";

// The screen where an op kind's refusal shows (the stepper's screens, as the server declares them).
export const screenOf = (kind) => OPS[kind]?.screen;

function jobItem(job) {
  const facts = factsOf(job);
  const visitAt = job.visit?.scheduled_at && !job.visit.arrived_at ? job.visit.scheduled_at : null;
  return h("li", { class: `list-item request urgency-${job.urgency}` },
    h("a", { href: `#/job/${job.number}` },
      h("span", { class: "request-head" }, h("strong", {}, job.number),
        h("span", { class: `badge urgency-${job.urgency}` }, t(`urgency.${job.urgency}`)),
        h("span", { class: "badge status" }, t(`status.${job.status}`))),
      h("span", { class: "request-title" }, `${job.customer.name} · ${job.device.model}`),
      visitAt ? h("span", { class: "visit-line" }, t("visit_at", { time: time(visitAt) }), " · ",
        job.visit.address || job.customer.address || "") : null,
      h("span", { class: "request-problem" }, job.problem),
      facts.returned && !facts.submitted ? h("span", { class: "warn" }, t("returned_short")) : null,
      job.handed_back_at ? h("span", { class: "warn" }, t("handed_back_short")) : null,
      job.visit?.unsigned_at && !facts.signed ? h("span", { class: "warn" }, t("unsigned_short")) : null,
      clockLine(job)));
}

// Most urgent first: the deadline that still runs (an urgent request's first contact before a visit next week),
// then the visit time, then the number. A job with neither comes last.
function urgency(job) {
  const due = runningClocks(job)[0]?.due_at;
  return [due ? Date.parse(due) : Infinity, Date.parse(job.visit?.scheduled_at || "") || Infinity];
}

function byUrgency(a, b) {
  const [x, y] = [urgency(a), urgency(b)];
  return x[0] - y[0] || x[1] - y[1] || a.number.localeCompare(b.number);
}

// Later: a visit agreed for a later day with no deadline running before that day.
function isLater(job) {
  const visitDay = job.visit?.scheduled_at && !job.visit.arrived_at ? date(job.visit.scheduled_at) : null;
  const due = runningClocks(job)[0]?.due_at;
  return Boolean(visitDay) && visitDay > date() && (!due || date(due) > date());
}

function emptyList() {
  if (!sync.state.jobsFetched) {  // never "no jobs" before the server has said so
    return h("p", { class: "card muted", "data-key": "loading", role: "status" },
      sync.state.online ? t("loading_jobs") : t("offline_no_jobs"));
  }
  return h("p", { class: "card muted", "data-key": "empty" }, t("no_jobs"));
}

export async function jobsScreen(id, options) {
  const jobs = await store.allJobs();
  if (!isCurrent(id)) return;
  jobs.sort(byUrgency);
  const later = jobs.filter(isLater);
  const now = jobs.filter((job) => !later.includes(job));
  show([
    h("h1", { "data-key": "title" }, t("my_jobs")),
    jobs.length ? null : emptyList(),
    now.length ? h("section", { "data-key": "today" }, later.length ? h("h2", { class: "list-heading" }, t("today")) : null,
      h("ul", { class: "list requests" }, now.map(jobItem))) : null,
    later.length ? h("section", { "data-key": "later" }, h("h2", { class: "list-heading" }, t("upcoming")),
      h("ul", { class: "list requests" }, later.map(jobItem))) : null,
  ], options);
}

export function refusalBox(op) {
  const hint = T[`next.${op.code}`] || t("next.default");
  return h("div", { class: "refusal", role: "alert" },
    h("p", {}, h("strong", {}, t("refused_title", { what: t(`op.${op.kind}`) })), " ", time(op.at)),
    h("p", {}, op.message || op.code),
    h("p", { class: "hint" }, hint),
    screenOf(op.kind) === "sign" ? h("p", { class: "hint" }, t("signature_kept")) : null,
    h("button", { class: "button small secondary", type: "button", onclick: async () => {
      await store.acknowledgeRejected(op.op_id); await renderStatus(); rerender();
    } }, t("dismiss")));
}

export async function rejectedScreen(id) {
  const ops = (await store.rejectedOps()).filter((op) => !op.acknowledged);
  if (!isCurrent(id)) return;
  show([h("p", { class: "back", "data-key": "back" }, h("a", { href: "#/", class: "back-link" }, `← ${t("my_jobs")}`)),
    h("h1", { "data-key": "title" }, t("rejected_title")),
    ops.length ? h("ul", { class: "list", "data-key": "list" }, ops.map((op) => h("li", { class: "list-item rejected" },
      refusalBox(op), h("a", { class: "button wide", href: `#/job/${op.ticket}` }, t("open_job", { n: op.ticket })))))
      : h("p", { class: "card muted", "data-key": "none" }, t("none_refused"))]);
}
