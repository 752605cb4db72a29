// The device on site (issue 22 item 6): the unit in front of the technician checked against the request's (its QR
// label, its asset or serial number: scanned with the camera, by the browser's BarcodeDetector or the vendored
// ZXing one where it has none, typed always), a swap (the faulty unit out, a spare in, by its code) and the spare
// parts used from the catalog the server declares (rules.devices). Offline like every act: this phone checks what
// it can know (the code's form, whether it names the request's unit); only the server knows the register's stock
// and says so if it refuses.
import * as flow from "./flow.js";
import { act } from "./acts.js";
import { RULES } from "./rules.js";
import { announce, bigButton, draftInput, field, foldable, h, lang, openSteps, rerender, t } from "./ui.js";

const DEVICES = RULES.devices || {};
const CODE_MAX = Number(DEVICES.code_max) || 200;
const COUNT_MAX = Number(DEVICES.count_max) || 99;
const mismatches = new Map();  // by job: the code just checked that is not the request's unit

const norm = (text) => String(text || "").trim().toLowerCase();

// The label code of a scanned label URL (…/d/<code>), else null: the server reads it the same way.
export function labelCodeOf(code) {
  const at = code.lastIndexOf("/d/");
  if (at < 0) return null;
  return code.slice(at + 3).split("?")[0].split("#")[0].replace(/\/+$/, "") || null;
}

// Whether a code names the request's registered unit (its label, asset number or serial number).
export function namesUnit(device, code) {
  if (!device?.asset_number) return false;
  const label = labelCodeOf(code.trim());
  if (label !== null) return label === device.label_code;
  const wanted = norm(code);
  return [device.asset_number, device.unit_serial].some((known) => known && norm(known) === wanted);
}

// A code this phone refuses before queueing: empty, too long, a NUL or a lone surrogate.
export function codeProblem(code) {
  if (!code.trim()) return t("device_code_missing");
  const malformed = typeof code.isWellFormed === "function" && !code.isWellFormed();  // a lone surrogate
  if (code.length > CODE_MAX || code.includes("\u0000") || malformed) return t("device_code_bad");
  return null;
}

// --- the camera: the browser's BarcodeDetector (Chromium on Android), else the vendored ZXing one ------------
// The codes we read: our QR labels (a URL …/d/<code>) and the makers' serial-number barcodes.
const FORMATS = ["qr_code", "code_128", "code_39", "code_93", "data_matrix"];
// The polyfill (ZXing-C++ as WebAssembly, static/vendor/README.md): loaded only when "scan" is tapped on a
// browser with no BarcodeDetector of its own, never in the app shell. The service worker keeps it for offline
// use once the app has asked for it (keepScanner, and SCANNER_FILES in blueprints/field/routes.py).
const POLYFILL = new URL("../vendor/barcode-detector-3.2.2/ponyfill.js", import.meta.url);
const WASM = new URL("../vendor/barcode-detector-3.2.2/zxing_reader.wasm", import.meta.url);
const hasNative = () => "BarcodeDetector" in globalThis;
const needsPolyfill = () => !hasNative() && typeof WebAssembly === "object";
const canScan = () => !!navigator.mediaDevices?.getUserMedia && (hasNative() || needsPolyfill());
let detecting = null;  // the detector, made once per page

async function nativeDetector() {
  const supported = await globalThis.BarcodeDetector.getSupportedFormats?.().catch(() => null);
  const formats = supported ? FORMATS.filter((format) => supported.includes(format)) : FORMATS;
  return formats.length ? new globalThis.BarcodeDetector({ formats }) : null;
}

async function polyfillDetector() {
  const { BarcodeDetector, prepareZXingModule } = await import(POLYFILL.href);
  // The .wasm from this site (the library would fetch it from a CDN), loaded now: a failure is seen here.
  await prepareZXingModule({ overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? WASM.href
    : prefix + path) }, fireImmediately: true });
  return new BarcodeDetector({ formats: FORMATS });
}

function detector() {
  detecting ||= (async () => (hasNative() && await nativeDetector().catch(() => null)) || polyfillDetector())();
  detecting.catch(() => { detecting = null; });  // tried again at the next tap
  return detecting;
}

// Asks the service worker to keep the polyfill for offline scanning (a browser that has no BarcodeDetector and
// can film): once the app is open, so that a technician in a basement with no network can still scan.
export function keepScanner(worker) {
  if (worker && needsPolyfill() && navigator.mediaDevices?.getUserMedia) worker.postMessage("keep-scanner");
}

async function scanInto(input, box) {
  let stream = null;
  const video = h("video", { class: "scan-video", playsinline: true, muted: true });
  const stop = () => { stream?.getTracks().forEach((track) => track.stop()); box.replaceChildren(); };
  const reader = detector();
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch {
    announce(t("scan_no_camera"));
    return;
  }
  box.replaceChildren(video, h("button", { type: "button", class: "button small secondary", onclick: stop },
    t("scan_stop")));
  video.srcObject = stream;
  let found = null;
  try {
    const [codes] = await Promise.all([reader, video.play()]);
    const started = Date.now();
    while (stream.active && Date.now() - started < 60000) {
      const seen = await codes.detect(video).catch(() => []);
      if (seen.length) { found = seen[0].rawValue; break; }
      await new Promise((resolve) => { setTimeout(resolve, 250); });
    }
  } catch {
    announce(t("scan_unavailable"));  // the reader could not be loaded (offline before it was kept)
  }
  stop();
  if (found !== null) {
    input.value = found.slice(0, CODE_MAX);
    input.dispatchEvent(new Event("input"));
  }
}

function codeInput(key, label) {
  const input = draftInput(key, { type: "text", maxlength: CODE_MAX, autocomplete: "off", spellcheck: "false",
    autocapitalize: "characters", "data-code": key });
  const box = h("div", { class: "scan-box" });
  const scan = canScan()
    ? h("button", { type: "button", class: "button small secondary", onclick: () => scanInto(input, box) },
      t("scan"))
    : h("p", { class: "hint" }, t("scan_type_only"));
  return { input, node: [field(label, input), scan, box] };
}

// --- the acts ---------------------------------------------------------------------------------------------

async function check(job, input, key) {
  const code = input.value;
  const problem = codeProblem(code);
  if (problem) { announce(problem); return; }
  if (namesUnit(job.device, code)) {
    mismatches.delete(job.number);
    await act("device.checked", job, { code: code.trim(), matched: true }, null, [key]);
    announce(t("device_matches"));
    return;
  }
  mismatches.set(job.number, code.trim());
  rerender();
}

async function keepMismatch(job, reason, keys) {
  const code = mismatches.get(job.number);
  mismatches.delete(job.number);  // drawn again by the act: kept only if it is refused
  if (!(await act("device.checked", job, { code, matched: false, reason: reason.value.trim() }, null, keys))) {
    mismatches.set(job.number, code);
  }
}

async function swap(job, input, key) {
  const code = input.value;
  const problem = codeProblem(code);
  if (problem) { announce(problem); return; }
  if (namesUnit(job.device, code)) { announce(t("swap_same_unit")); return; }
  await act("device.swapped", job, { spare: code.trim() }, null, [key]);
}

async function saveParts(job, inputs, draftKeys) {
  const items = [];
  for (const [part, input] of inputs) {
    const count = input.value === "" ? 0 : Number(input.value);
    if (!Number.isInteger(count) || count < 0 || count > COUNT_MAX) {
      announce(t("parts_count_bad", { max: COUNT_MAX }));
      input.focus();
      return;
    }
    if (count) items.push({ part, count });
  }
  await act("parts.used", job, { items }, null, draftKeys);
}

// --- the section --------------------------------------------------------------------------------------------

function unitLines(device) {
  if (!device?.asset_number) return h("p", { class: "hint" }, t("device_unregistered"));
  return h("p", { class: "unit" }, h("strong", {}, device.asset_number), " · ", device.model || "",
    device.unit_serial ? ` · ${t("serial")} ${device.unit_serial}` : "");
}

// What is recorded (the feed's, with this phone's pending acts applied on top).
function recorded(acts) {
  const lines = [];
  if (acts.check) lines.push(t(acts.check.matched ? "device_checked_ok" : "device_checked_other",
    { code: acts.check.code }));
  if (acts.swap) lines.push(t("swap_done", { spare: acts.swap.spare }));
  return lines.length ? h("ul", { class: "done-lines", "data-recorded": "" }, lines.map((line) => h("li", {}, line)))
    : null;
}

function swapBlock(job, key) {
  if (!job.device?.asset_number || job.device_acts?.swap) return null;
  const spare = codeInput(key("device_spare"), t("swap_spare"));
  return [h("h3", {}, t("swap_title")), h("p", { class: "hint" }, t("swap_hint")), spare.node,
    bigButton(t("swap_record"), () => swap(job, spare.input, key("device_spare")), "secondary")];
}

function mismatchBlock(job, key) {
  const code = mismatches.get(job.number);
  if (!code) return null;
  const reason = draftInput(key("device_reason"), { rows: 2, maxlength: 1000 }, "textarea");
  return h("div", { class: "refusal", role: "alert", "data-mismatch": "" },
    h("p", {}, h("strong", {}, t("device_mismatch", { code }))),
    field(t("device_reason"), reason),
    bigButton(t("device_keep"), () => keepMismatch(job, reason, [key("device_reason"), key("device_code")]),
      "secondary"));
}

// The counts typed are drafts until saved: a sync or another act drawing the step again keeps them.
function partsBlock(job, key) {
  const counts = new Map((job.device_acts?.parts || []).map((item) => [item.part, item.count]));
  const draftKeys = (DEVICES.parts || []).map((part) => key(`part:${part.code}`));
  const inputs = (DEVICES.parts || []).map((part, i) => [part.code, draftInput(draftKeys[i], {
    type: "number", min: 0, max: COUNT_MAX, step: 1, inputmode: "numeric", class: "count",
    "data-part": part.code }, "input", String(counts.get(part.code) ?? ""))]);
  return h("div", { class: "parts" }, h("h3", {}, t("parts_used")),
    h("ul", { class: "parts-list" }, inputs.map(([code, input], i) => h("li", {},
      h("label", { for: `part-${code}` }, lang === "en" ? DEVICES.parts[i].en : DEVICES.parts[i].zh),
      Object.assign(input, { id: `part-${code}` })))),
    bigButton(t("parts_save"), () => saveParts(job, inputs, draftKeys), "secondary"));
}

// On site and until the customer signs.
export function deviceSection(ctx) {
  const { job, facts, declaration, key } = ctx;
  if (flow.check(declaration, facts, "parts.used")) return null;
  const checked = codeInput(key("device_code"), t("device_code"));
  return h("section", { class: "card step device", "data-key": "device", "data-step": "device" },
    foldable(openSteps, key("device"), {}, h("summary", {}, h("h2", {}, t("device_step"))),
      h("div", { class: "step-body" }, unitLines(job.device), recorded(job.device_acts || {}),
        checked.node, bigButton(t("device_check"), () => check(job, checked.input, key("device_code"))),
        mismatchBlock(job, key), swapBlock(job, key), partsBlock(job, key))));
}
