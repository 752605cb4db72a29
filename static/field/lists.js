// The jobs list, and the refused ops of every job with what to do next.
import * as store from "./store.js";
import { factsOf } from "./acts.js";
import { OPS } from "./rules.js";
import { clockLine, h, isCurrent, renderStatus, rerender, show, t, T, time } from "./ui.js";

// The screen where an op kind's refusal shows (the stepper's screens, as the server declares them).
export const screenOf = (kind) => OPS[kind]?.screen;

function jobItem(job) {
  const facts = factsOf(job);
  return h("li", { class: `list-item request urgency-${job.urgency}` },
    h("a", { href: `#/job/${job.number}` },
      h("span", { class: "request-head" }, h("strong", {}, job.number),
        h("span", { class: `badge urgency-${job.urgency}` }, t(`urgency.${job.urgency}`)),
        h("span", { class: "badge status" }, t(`status.${job.status}`))),
      h("span", { class: "request-title" }, `${job.customer.name} · ${job.device.model}`),
      h("span", { class: "request-problem" }, job.problem),
      facts.returned && !facts.submitted ? h("span", { class: "warn" }, t("returned_short")) : null,
      clockLine(job)));
}

export async function jobsScreen(id, options) {
  const jobs = await store.allJobs();
  if (!isCurrent(id)) return;
  const due = (job) => (job.clocks || []).filter((c) => !c.done_at).map((c) => c.due_at).sort()[0] || "z";
  jobs.sort((a, b) => due(a).localeCompare(due(b)));
  show([
    h("h1", { "data-key": "title" }, t("my_jobs")),
    jobs.length ? h("ul", { class: "list requests", "data-key": "jobs" }, jobs.map(jobItem))
      : h("p", { class: "card muted", "data-key": "empty" }, t("no_jobs")),
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
      refusalBox(op), h("a", { class: "button small", href: `#/job/${op.ticket}` }, t("open_job", { n: op.ticket })))))
      : h("p", { class: "card muted", "data-key": "none" }, t("none_refused"))]);
}
