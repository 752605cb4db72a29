// Customer mode: the phone handed to the customer, with no technician chrome. They read the order, may rate the
// service and leave an address for their copy, and sign; handing the phone back takes two deliberate taps.
import * as store from "./store.js";
import * as flow from "./flow.js";
import { factsOf, queued } from "./acts.js";
import { whereIfAllowed } from "./exceptions.js";
import { missingJob } from "./job.js";
import { RULES } from "./rules.js";
import { checkedCode, codeField } from "./smscode.js";
import {
  announce, date, draftInput, field, forgetDrafts, h, isCurrent, main, setTeardown, show, t,
} from "./ui.js";

// The signature pad is needed on the customer's screen only: loaded after the first screen is drawn, so the app
// opens without parsing it (and it is in memory well before the customer's screen is asked for). A load that
// failed (offline before the service worker kept it) is forgotten: the customer's screen asks again.
let signatureModule = null;
export const loadSignature = () => (signatureModule ||= import("./signature.js").catch((error) => {
  signatureModule = null;
  throw error;
}));

// While the customer holds the phone, the app stays on their screen: a Back gesture or an old link brings them back
// to it (app.js); only the two-tap hand-back lets the technician's screens show again.
let heldRoute = null;
export const customerHold = () => heldRoute;

export function customerMode(on) {
  document.body.classList.toggle("customer-mode", on);
  // The technician's chrome, out of the customer's reach (the push prompt too: it would ask for the phone's alerts).
  for (const el of document.querySelectorAll("#app-topbar, #sync-status, #login-needed, #update-ready, .push-enable")) {
    el.inert = on;
  }
}

// Back to the technician: a deliberate act (two taps), so a customer never lands in the technician's screens.
function handBack(number, afterSigning) {
  const confirm = h("a", { class: "button wide", href: `#/job/${number}`, hidden: true,
    onclick: () => { heldRoute = null; } }, t("i_am_technician"));
  const ask = h("button", { type: "button", class: `button wide ${afterSigning ? "" : "secondary"}`, onclick: () => {
    ask.hidden = true; confirm.hidden = false; confirm.focus();
  } }, t("hand_back"));
  return h("div", { class: "handback-actions" }, ask, confirm);
}

const row = (label, value) => (value ? [h("dt", {}, label), h("dd", { class: "pre" }, value)] : []);

function testLine(x) {
  const mark = x.not_applicable ? `— ${t("not_applicable")}:` : x.passed ? "✓" : "✗";
  return h("li", {}, `${mark} ${x.item}${x.note ? ` (${x.note})` : ""}`);
}

// What the customer signs: the order as it will print, their notes, the tests and the precautions.
function orderSummary(job, me) {
  const technician = job.technician?.name || job.technician || me?.display_name || me?.username || "";
  const customerNotes = (job.notes || []).filter((n) => n.shown_to_customer);
  const tests = job.tests || [];
  return h("section", { class: "card summary", "data-key": "summary" },
    h("dl", { class: "summary-list big" },
      row(t("order_no"), job.order_number || job.number), row(t("date"), date()), row(t("technician"), technician),
      row(t("customer"), job.customer.name), row(t("device"),
        `${job.device.model}${job.device.serial ? " · " + job.device.serial : ""}`),
      row(t("problem"), job.visit?.confirmed_problem || job.problem), row(t("cause"), job.cause),
      row(t("work_done"), job.work_done)),
    customerNotes.length ? [h("h2", {}, t("notes_for_you")),
      h("ul", { class: "big" }, customerNotes.map((n) => h("li", {}, n.text)))] : null,
    tests.length ? [h("h2", {}, t("tests")), h("ul", { class: "big tests-summary" }, tests.map(testLine)),
      job.visit?.failures_acknowledged ? h("p", { class: "big bad" }, t("failures_ack")) : null] : null,
    (job.precautions || []).length ? [h("h2", {}, t("precautions")),
      h("ul", { class: "big" }, job.precautions.map((p) => h("li", {}, p)))] : null);
}

function starRating(initial, onRate) {
  let rating = initial;
  const stars = h("div", { class: "stars", role: "group", "aria-labelledby": "rating-label" },
    [1, 2, 3, 4, 5].map((n) => h("button", { type: "button", class: "star", "data-rating": n,
      "aria-label": t("stars_n", { n }), "aria-pressed": String(n <= rating), onclick: () => {
        rating = n;
        onRate(n);
        for (const b of stars.children) b.setAttribute("aria-pressed", String(Number(b.dataset.rating) <= n));
      } }, "★")));
  return { element: stars, value: () => rating };
}

// The phone checks what the server will (signing.py's pad rules): the name, the address, ink, the stroke count.
// Answers the signature to send, or the problem and the field to correct.
function checkedSignature(form, pad) {
  const rules = RULES.signature;
  const address = form.email.value.trim();
  if (!form.name.value.trim()) return { problem: t("need_name"), at: form.name };
  if (address && (address.length > rules.email_max || !new RegExp(rules.email_pattern, "u").test(address))) {
    return { problem: t("email_invalid"), at: form.email };
  }
  const png = pad.isEmpty() ? null : pad.png(rules);
  if (!png) return { problem: t("need_signature") };
  const strokes = pad.strokes();
  if (strokes.reduce((sum, stroke) => sum + stroke.length, 0) > rules.max_stroke_points) {
    return { problem: t("too_many_points") };
  }
  const { problem, at, code } = checkedCode(form.code);
  if (problem) return { problem, at };
  return { png, strokes, address, code };
}

async function submitSignature(job, form, pad, done, draftKeys) {
  const { problem, at, png, strokes, address, code } = checkedSignature(form, pad);
  if (problem) { announce(problem); at?.focus(); return; }
  // The rating is the customer's to give or skip (absent: skipped).
  const rating = form.rating.value();
  const data = { signer_name: form.name.value.trim(), ...(rating ? { rating } : {}), comment: form.comment.value.trim(),
    signature_png: png, strokes, ...(address ? { customer_email: address } : {}), ...(code ? { sms_code: code } : {}) };
  // Where the phone is as the customer signs, for the evidence record: only when the technician allowed it (a few
  // seconds at most; the button waits with it, so a second tap cannot queue the signature twice).
  const button = document.getElementById("confirm-sign");
  if (button?.disabled) return;
  if (button) button.disabled = true;
  Object.assign(data, await whereIfAllowed());
  announce();
  await store.addOp("order.signed", job.number, data);
  await forgetDrafts(draftKeys);
  await queued();  // as after every act: the status line counts the signature before it is sent
  pad.destroy();
  done.hidden = false;
  main.replaceChildren(done);
  done.querySelector("h2").focus();
}

// The form's fields, filled from the drafts, else from a signature the server refused, else from the request.
function signFields(job, key, drafts, previous) {
  return {
    name: draftInput(key("name"), { type: "text", autocomplete: "off" }, "input",
      drafts.name ?? previous.signer_name ?? job.customer.contact ?? ""),
    comment: draftInput(key("comment"), { rows: 2 }, "textarea", drafts.comment ?? previous.comment ?? ""),
    // No autocomplete: the phone is the technician's, its saved addresses are not the customer's.
    email: draftInput(key("email"), { type: "email", inputmode: "email", autocomplete: "off",
      maxlength: RULES.signature.email_max }, "input", previous.customer_email ?? job.customer.email ?? ""),
    rating: starRating(Number(drafts.rating ?? previous.rating) || 0, (n) => store.setDraft(key("rating"), n)),
    code: codeField(job.number),  // the customer's SMS code, where the company asks for one
  };
}

function refusedSigning(number, refusal) {  // opened by its address while the step is not open
  customerMode(false);
  show([h("section", { class: "card", "data-key": "refused" }, h("h1", {}, t("step.sign")), h("p", {}, refusal.message),
    h("a", { class: "button wide", href: `#/job/${number}` }, `← ${number}`))]);
}

export async function signScreen(number, id) {
  const key = (name) => `${number}:sign:${name}`;
  const draftKeys = ["name", "comment", "email", "rating", "strokes"].map(key);
  const [job, declaration, refused, me, nameDraft, commentDraft, ratingDraft, strokesDraft, { mountSignature }] =
    await Promise.all([store.getJob(number), store.getFlow(), store.rejectedOps(), store.getMeta("user"),
      store.getDraft(key("name")), store.getDraft(key("comment")), store.getDraft(key("rating")),
      store.getDraft(key("strokes")), loadSignature()]);
  if (!isCurrent(id)) return;
  if (!job) { const gone = await missingJob(number); if (isCurrent(id)) show([gone]); return; }
  const refusal = flow.check(declaration, factsOf(job), "order.signed");
  if (refusal) { refusedSigning(number, refusal); return; }
  // A signature the server refused stays recoverable: it fills the form until the step is done again.
  const earlier = refused.filter((op) => op.ticket === number && op.kind === "order.signed" && !op.redone).pop();
  const previous = earlier ? earlier.data : {};
  customerMode(true);
  heldRoute = `#/job/${encodeURIComponent(number)}/sign`;
  const form = signFields(job, key, { name: nameDraft, comment: commentDraft, rating: ratingDraft }, previous);
  const canvas = h("canvas", { class: "signature-pad", role: "img", "aria-label": t("signature") });
  const done = h("section", { class: "card handback", "data-key": "thanks", hidden: true },
    h("h2", { class: "customer-title" }, t("thanks")), h("p", { class: "big" }, t("hand_back_please")),
    handBack(number, true));
  let pad = null;
  show([
    h("h1", { "data-key": "title", class: "customer-title" }, t("sign_title")),
    orderSummary(job, me),
    h("section", { class: "card sign-form", "data-key": "form" },
      field(t("signer_name"), form.name),
      h("p", { id: "rating-label", class: "label" }, t("rating")), form.rating.element,
      field(t("comment"), form.comment),
      field(t("customer_email"), form.email),
      form.code,
      h("p", { class: "label" }, t("sign_here")), canvas,
      h("div", { class: "sign-tools" },
        h("button", { type: "button", class: "button secondary", onclick: () => pad.undo() }, t("undo")),
        h("button", { type: "button", class: "button secondary", onclick: () => pad.clear() }, t("clear"))),
      h("button", { type: "button", class: "button wide", id: "confirm-sign",
        onclick: () => submitSignature(job, form, pad, done, draftKeys) }, t("confirm_sign"))),
    h("section", { class: "handback-bar", "data-key": "handback" }, handBack(number, false)),
    done,
  ]);
  done.querySelector("h2").tabIndex = -1;
  pad = mountSignature(canvas, (p) => store.setDraft(key("strokes"), p.toData()));
  if (strokesDraft) pad.load(strokesDraft);
  else if (earlier && previous.strokes) pad.loadStrokes(previous.strokes);
  setTeardown(() => { pad.destroy(); customerMode(false); });
}
