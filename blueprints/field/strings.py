"""The offline app's words, translated on the server and handed to the page as JSON (cached with the shell)."""
from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from domain.core.enums import TicketStatus, Urgency
from domain.core.labels import STATUS_LABELS, URGENCY_LABELS, clock_labels
from domain.core.locales import is_english
from domain.sla.policy import current_policy

STRINGS = {
    "my_jobs": _l("My jobs"), "no_jobs": _l("No jobs assigned to you. New ones appear here after the next sync."),
    "left": _l("{n} min left"), "overdue": _l("{n} min overdue"),
    "online": _l("Online"), "offline": _l("Offline: everything is saved on this phone"),
    "pending": _l("{n} waiting to send"), "all_sent": _l("Everything sent"), "last_sync": _l("last sync {time}"),
    "syncing": _l("sending…"), "rejected_count": _l("{n} refused by the server"),
    "job_missing": _l("This job is not on this phone. Open it once while online."),
    "step.contact": _l("Log the contact with the customer"), "how": _l("How"), "note": _l("Note"),
    "save": _l("Save"),
    "method.phone": _l("Phone call"), "method.message": _l("Message (WeChat, SMS)"),
    "method.screen_share": _l("Screen sharing"), "method.other": _l("Other"),
    "step.prepare": _l("Preparation, 1 hour before"), "visit_at": _l("Visit at {time}"),
    "prep.address": _l("Address"), "prep.device_state": _l("Device state"), "prep.tool": _l("Tool"),
    "prep.spare": _l("Spare part"),
    "tick_all": _l("Tick every item first: address, device state, each tool and spare."),
    "prepared": _l("Everything confirmed and packed"), "step.arrive": _l("Arrival"),
    "arrived": _l("I have arrived on site"), "step.problem": _l("Problem confirmed with the customer"),
    "problem_with_customer": _l("The problem as the customer and you see it"),
    "step.notes": _l("Progress notes and photos"), "show_customer": _l("Show to the customer"),
    "add_note": _l("Add note"), "photo": _l("Photo"), "add_photo": _l("Add photo"),
    "photos_count": _l("{n} photos"), "step.tests": _l("Acceptance test with the customer"),
    "passed": _l("Passed"), "failed": _l("Failed"), "step.confirm": _l("The customer confirms it works"),
    "customer_confirmed": _l("The customer confirmed the device works normally"),
    "customer_says_ok": _l("The customer confirms it works normally"),
    "step.precautions": _l("Precautions for the customer"), "one_per_line": _l("One per line"),
    "told": _l("Told"), "told_customer": _l("I told the customer"), "step.sign": _l("Customer signature"),
    "to_sign": _l("Hand the phone to the customer"), "step.depart": _l("Leaving"), "signed": _l("Signed by customer"),
    "departed": _l("Left the site"), "depart": _l("I am leaving the site"),
    "no_leave_before_sign": _l("You may leave only after the customer has signed."),
    "sign_title": _l("Service order: please check and sign"), "precautions": _l("Please note"),
    "signer_name": _l("Your name"), "rating": _l("How satisfied are you? (1 to 5)"),
    "comment": _l("Comment (optional)"),
    "signature": _l("Signature"), "sign_here": _l("Sign in the box"), "clear": _l("Clear"),
    "confirm_sign": _l("Confirm and sign"), "need_name": _l("Enter the name of the person signing."),
    "need_rating": _l("Choose a satisfaction rating."), "need_signature": _l("The signature is empty: please sign."),
    "rejected_title": _l("Refused by the server"), "dismiss": _l("Dismiss"),
    "kb": _l("Knowledge base"), "kb.symptoms": _l("Symptoms"), "kb.solution": _l("Solution"),
    "kb.precautions": _l("Precautions"),
}
for status in TicketStatus:
    STRINGS[f"status.{status.value}"] = STATUS_LABELS[status]
for urgency in Urgency:
    STRINGS[f"urgency.{urgency.value}"] = URGENCY_LABELS[urgency]
OP_LABELS = {
    "contact.made": _l("Contact"), "remote.resolved": _l("Solved remotely"), "visit.scheduled": _l("Visit scheduled"),
    "prep.confirmed": _l("Preparation"), "visit.arrived": _l("Arrival"), "problem.confirmed": _l("Problem confirmed"),
    "note.added": _l("Note"), "photo.added": _l("Photo"), "test.recorded": _l("Acceptance test"),
    "customer.confirmed": _l("Customer's confirmation"), "precautions.told": _l("Precautions"),
    "order.signed": _l("Signature"), "visit.departed": _l("Leaving"),
}
for kind, label in OP_LABELS.items():
    STRINGS[f"op.{kind}"] = label


def strings_for_page() -> dict[str, str]:
    out = {key: str(value) for key, value in STRINGS.items()}
    # The clocks' names carry the thresholds in force (the page is fetched network-first: a change shows next time).
    out.update({f"clock.{name.value}": label for name, label in clock_labels(current_policy()).items()})
    out["lang"] = "en" if is_english(get_locale()) else "zh"
    return out
