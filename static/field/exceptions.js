// The end of a visit that does not go as planned (issue 24): the customer is not there or refuses to sign (the
// policy: no leaving unsigned; recorded with the reason and, if wanted, a photo, and the supervisor decides), and a
// visit that needs another one (parts to order). Also where arrival was tapped: the browser's position when this
// phone allows it, never waited for beyond a few seconds.
import * as store from "./store.js";
import * as flow from "./flow.js";
import { act, factsOf } from "./acts.js";
import { downscale } from "./photos.js";
import { LIMITS } from "./rules.js";
import { announce, bigButton, draftInput, field, foldable, h, openSteps, select, t, time } from "./ui.js";

const REASON_MAX = Number(LIMITS.reason_max) || 1000;
const GEO_WAIT_MS = 4000;  // the longest arrival waits for a position, offline too
const photosChosen = new Map();  // by job: the photo taken for the record, until it is queued

// Where the phone is, if it allows it: asked once per device (a refusal is remembered and never asked again),
// an answer or nothing within GEO_WAIT_MS. Never an error: no position records arrival alone.
export async function whereIfAllowed() {
  if (!globalThis.navigator?.geolocation || await store.getMeta("geo_refused")) return {};
  return new Promise((resolve) => {
    let timer = 0;
    const finish = (where) => { clearTimeout(timer); resolve(where); };
    timer = setTimeout(() => finish({}), GEO_WAIT_MS);
    navigator.geolocation.getCurrentPosition((position) => {
      const { latitude: lat, longitude: lng, accuracy } = position.coords;
      if (!Number.isFinite(lat) || !Number.isFinite(lng)) { finish({}); return; }
      finish({ lat, lng, ...(Number.isFinite(accuracy) ? { accuracy: Math.min(Math.max(accuracy, 0), 100000) } : {}) });
    }, (error) => {
      if (error.code === 1) store.setMeta("geo_refused", true);  // PERMISSION_DENIED: not asked again
      finish({});
    }, { enableHighAccuracy: true, timeout: GEO_WAIT_MS - 500, maximumAge: 120000 });
  });
}

export async function arriveHere(job, button) {
  button.disabled = true;
  announce(t("locating"));
  const where = await whereIfAllowed();
  if (!(await act("visit.arrived", job, where))) button.disabled = false;
}

const reasonBox = (key) => draftInput(key, { rows: 2, maxlength: REASON_MAX }, "textarea");

function photoPicker(number) {
  const ready = h("p", { class: "hint", hidden: !photosChosen.has(number) }, t("unsigned_photo_ready"));
  const input = h("input", { type: "file", accept: "image/*", capture: "environment", class: "visually-hidden",
    onchange: () => {
      if (input.files.length) { photosChosen.set(number, input.files[0]); ready.hidden = false; }
      input.value = "";
    } });
  return [h("label", { class: "button wide secondary camera" }, input,
    h("span", { class: "camera-icon", "aria-hidden": "true" }), h("span", {}, t("unsigned_photo"))), ready];
}

// The record goes after its photo (the outbox sends in order); the photo only once the flow would accept the record.
async function recordMissing(job, situation, reason, draftKey) {
  const data = { situation, reason };
  const refusal = flow.check(await store.getFlow(), factsOf((await store.getJob(job.number)) || job),
    "signature.missing", data);
  if (refusal) { announce(refusal.message); return; }
  const file = photosChosen.get(job.number);
  if (file) {
    const photo = await store.addOp("photo.added", job.number,
      { caption: `${t(`unsigned.${situation}`)}: ${reason}`.slice(0, 500) }, await downscale(file));
    data.photo_op_id = photo.op_id;
    photosChosen.delete(job.number);
  }
  await act("signature.missing", job, data, null, [draftKey]);
}

// Offered once on site and until the customer signs; not twice on one visit.
export function unsignedSection(ctx) {
  const { job, facts, declaration, key } = ctx;
  if (flow.check(declaration, facts, "signature.missing")) return null;
  const which = select([["absent", t("unsigned.absent")], ["refused", t("unsigned.refused")]], "absent");
  const reason = reasonBox(key("unsigned"));
  return h("section", { class: "card step unsigned", "data-key": "unsigned", "data-step": "unsigned" },
    foldable(openSteps, key("unsigned"), {}, h("summary", {}, h("h2", {}, t("unsigned"))),
      h("div", { class: "step-body" }, h("p", { class: "hint" }, t("unsigned_hint")),
        field(t("unsigned_which"), which), field(t("unsigned_reason"), reason), photoPicker(job.number),
        bigButton(t("unsigned_confirm"), () => recordMissing(job, which.value, reason.value.trim(), key("unsigned")),
          "secondary"))));
}

export function followupSection(ctx) {
  const { job, facts, declaration, key } = ctx;
  if (flow.check(declaration, facts, "visit.followup_needed")) return null;
  const reason = reasonBox(key("followup"));
  return h("section", { class: "card step followup", "data-key": "followup", "data-step": "followup" },
    foldable(openSteps, key("followup"), {}, h("summary", {}, h("h2", {}, t("followup"))),
      h("div", { class: "step-body" }, h("p", { class: "hint" }, t("followup_hint")),
        field(t("followup_reason"), reason),
        bigButton(t("followup_confirm"), () => act("visit.followup_needed", job, { reason: reason.value.trim() },
          null, [key("followup")]), "secondary"))));
}

// What was recorded, at the top of the job, until the supervisor's decision reaches the phone.
export function unsignedNotice(job, facts) {
  const visit = job.visit || {};
  if (!visit.unsigned_at || facts.signed) return null;
  return h("section", { class: "card returned", role: "status", "data-key": "unsigned-notice" },
    h("h2", {}, t(`unsigned_title.${visit.unsigned_kind === "refused" ? "refused" : "absent"}`)),
    h("p", { class: "pre" }, visit.unsigned_reason || ""), h("p", {}, t("unsigned_next")));
}

// The job is back for another visit: why the last one ended, until the next one starts.
export function earlierVisitsNotice(job, facts) {
  const last = (job.earlier_visits || []).slice(-1)[0];
  if (!last || facts.arrived) return null;
  return h("section", { class: "card", role: "status", "data-key": "earlier-visits" },
    h("h2", {}, t("earlier_title")),
    h("p", { class: "pre" }, t("earlier_line", { time: time(last.ended_at), reason: last.reason || "" })));
}
