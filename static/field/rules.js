// The server's declarations as the shell page carries them (domain/fieldwork/phone.py): each op kind's label,
// screen and local effects, the stepper's screens, the enums the forms offer, the sync limits, the signature's
// checks. Cached with this code, so the two always match, offline too.
export const RULES = JSON.parse(globalThis.document?.getElementById("rules")?.textContent || "{}");
export const OPS = RULES.ops || {};
export const SCREENS = RULES.screens || {};
export const ENUMS = RULES.enums || {};
export const LIMITS = RULES.limits || {};
