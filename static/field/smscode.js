// The customer's SMS code (SIGNING_SMS_CODE): with network a code is sent to the request's mobile number, typed
// here, and the signature carries it (the server checks it before accepting the signature); offline the signature
// goes without it, marked "code not yet confirmed", and the customer confirms it later from their tracking link.
import { RULES } from "./rules.js";
import { post } from "./sync.js";
import { field, h, t } from "./ui.js";

const RESEND_MS = 60000;  // the server sends one code a minute

export function codeField(number) {
  if (!RULES.signature?.sms_code) return null;
  const input = h("input", { type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6,
    pattern: "[0-9]{6}", "data-key": "sms-code-input" });
  const hint = h("p", { class: "hint", "aria-live": "polite" }, navigator.onLine ? t("code_hint") : t("code_offline"));
  const send = h("button", { type: "button", class: "button secondary", id: "send-code" }, t("code_send"));
  send.addEventListener("click", () => sendCode(number, send, hint));
  // Sent first, then typed: the button and what it did above the field.
  const section = h("div", { class: "sms-code", "data-key": "sms-code" }, send, hint, field(t("code_label"), input));
  section.input = input;
  return section;
}

async function sendCode(number, button, hint) {
  if (!navigator.onLine) { hint.textContent = t("code_offline"); return; }
  button.disabled = true;
  let sent = false;
  try {
    const response = await post(`/api/v1/requests/${encodeURIComponent(number)}/signing-code`, { method: "POST" });
    const body = await response.json().catch(() => ({}));
    sent = response.ok;
    hint.textContent = sent ? t("code_sent") : (body.error?.message || t("code_failed"));
  } catch {
    hint.textContent = t("code_failed");
  }
  setTimeout(() => { button.disabled = false; }, sent ? RESEND_MS : 0);
}

// The code to send with the signature, or the problem: with network the code is needed; offline none is.
export function checkedCode(section) {
  if (!section) return {};
  const code = section.input.value.trim();
  if (/^[0-9]{6}$/.test(code)) return { code };
  if (code || navigator.onLine) return { problem: t("code_needed"), at: section.input };
  return {};
}
