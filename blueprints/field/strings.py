"""The offline app's words, translated on the server and handed to the page as JSON (cached with the shell)."""
from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from domain.alerts.mail import INVALID_EMAIL
from domain.core.enums import TicketStatus, Urgency
from domain.core.labels import STATUS_LABELS, URGENCY_LABELS, clock_labels
from domain.core.locales import is_english
from domain.fieldwork.ops import REGISTRY
from domain.fieldwork.signing import TOO_MANY_POINTS
from domain.sla.policy import current_policy

STRINGS = {
    "my_jobs": _l("My jobs"), "no_jobs": _l("No jobs assigned to you. New ones appear here after the next sync."),
    # The same words as the web pages' countdowns: "{t} left", with {t} in days, hours or minutes.
    "left": _l("%(time)s left", time="{t}"), "overdue": _l("%(time)s overdue", time="{t}"),
    "dur.d": _l("%(d)s d %(h)s h", d="{d}", h="{h}"), "dur.h": _l("%(h)s h %(m)s min", h="{h}", m="{m}"),
    "dur.m": _l("%(m)s min", m="{m}"),
    "online": _l("Online"), "offline": _l("Offline: everything is saved on this phone"),
    "pending": _l("{n} waiting to send"), "all_sent": _l("Everything sent"), "last_sync": _l("last sync {time}"),
    "syncing": _l("sending…"), "rejected_count": _l("{n} refused by the server"),
    "job_missing": _l("This job is not on this phone. Open it once while online."),
    "job_gone": _l("This job is no longer on your list: it was finished, cancelled or handed to someone else."),
    "job_page": _l("Open the request's page"),
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
    "not_applicable": _l("Not applicable"),
    "failures_ack": _l("Some functions of the device are not restored; the customer has been told and acknowledges "
                       "it"),
    "failed_items": _l("Not working: {items}"),
    "customer_confirmed": _l("The customer confirmed the device works normally"),
    "customer_says_ok": _l("The customer confirms it works normally"),
    "step.precautions": _l("Precautions for the customer"), "one_per_line": _l("One per line"),
    "told": _l("Told"), "told_customer": _l("I told the customer"), "step.sign": _l("Customer signature"),
    "to_sign": _l("Hand the phone to the customer"), "step.depart": _l("Leaving"), "signed": _l("Signed by customer"),
    "departed": _l("Left the site"), "depart": _l("I am leaving the site"),
    "no_leave_before_sign": _l("You may leave only after the customer has signed."),
    "sign_title": _l("Service order: please check and sign"), "precautions": _l("Please note"),
    "signer_name": _l("Your name"), "rating": _l("How satisfied are you? (1 to 5, optional)"),
    "comment": _l("Comment (optional)"),
    "signature": _l("Signature"), "sign_here": _l("Sign in the box"), "clear": _l("Clear"),
    "confirm_sign": _l("Confirm and sign"), "need_name": _l("Enter the name of the person signing."),
    "need_signature": _l("The signature is empty: please sign."),
    "code_label": _l("Code from the SMS sent to your mobile"), "code_send": _l("Send me the code by SMS"),
    "code_hint": _l("We send a 6-digit code to your mobile number: enter it to confirm your signature."),
    "code_offline": _l("No network: sign now, and confirm with the code later from your tracking link."),
    "code_sent": _l("The code is sent: it is valid for 10 minutes."),
    "code_failed": _l("The code could not be sent: try again in a minute."),
    "code_needed": _l("Enter the 6-digit code from the SMS."),
    "customer_email": _l("Your e-mail, for your copy of the signed order (optional)"), "email_invalid": INVALID_EMAIL,
    "too_many_points": TOO_MANY_POINTS,
    "rejected_title": _l("Refused by the server"), "dismiss": _l("Dismiss"),
    "kb": _l("Knowledge base"), "kb.symptoms": _l("Symptoms"), "kb.solution": _l("Solution"),
    "kb.precautions": _l("Precautions"),
}
# The guided stepper (issue 11): its steps, the customer's review, refusals with what to do next.
STRINGS.update({
    "step.contact": _l("First contact with the customer"),
    "step.guide": _l("Remote guidance"),
    "step.choose": _l("Solve remotely or visit"),
    "step.resolve": _l("Solved remotely"),
    "step.schedule": _l("Schedule the visit"),
    "step.prepare": _l("Preparation before the visit"),
    "step.work": _l("Progress notes and photos"),
    "step.cause": _l("Cause and work done"),
    "step.submit": _l("Write-up and submission to the supervisor"),
    "address": _l("Address"),
    "agreed_with": _l("Agreed with"),
    "another_photo": _l("Take another photo"),
    "arrived_done": _l("Arrived on site"),
    "cause": _l("Cause"),
    "checklist_after_sync": _l("The preparation checklist arrives with the next sync (it needs a network once)."),
    "choose": _l("Choose…"),
    "choose_intro": _l(
        "Solved on the phone or by remote guidance? Record it. Otherwise agree a visit with the customer."),
    "contact_done": _l("The customer was contacted."),
    "customer": _l("Customer"),
    "date": _l("Date"),
    "device": _l("Device"),
    "done": _l("done"),
    "fault_category": _l("Fault category"),
    "for_customer": _l("shown to the customer"),
    "guide_steps": _l("What you guided the customer through"),
    "guided_done": _l("Remote guidance logged."),
    "hand_back": _l("Hand the phone back to the technician"),
    "hand_back_please": _l("Thank you. Please hand the phone back to the technician."),
    "i_am_technician": _l("I am the technician: back to the job"),
    "more_precautions": _l("Other precautions"),
    "need_category": _l("Choose the fault category."),
    "need_cause_work": _l("Enter the cause and the work done."),
    "need_precaution": _l("Tick or write at least one precaution."),
    "need_summary": _l("Summarise the solution."),
    "need_time": _l("Choose the date and time of the visit."),
    "next.default": _l("Open the job, check this step and do it again; if it is refused again, call your "
                       "supervisor."),
    "next.not_confirmed": _l("Ask the customer to confirm the device works, then let them sign again."),
    "next.not_signed": _l("Have the customer sign first, then record leaving."),
    "next.not_prepared": _l("Confirm the preparation checklist first."),
    "next.already_done": _l("Nothing to do: this step was already recorded."),
    "next.not_tested": _l("Record the acceptance tests with the customer first."),
    "next.order_locked": _l(
        "The order is signed and can no longer change: tell your supervisor if something is wrong."),
    "next.not_assignee": _l("This job is no longer yours: ask your supervisor."),
    "next.batch_too_large": _l("Send it again in smaller parts, or ask your supervisor."),
    "next.bad_time": _l("Check the phone's date and time, then do the step again."),
    "none_refused": _l("Nothing was refused."),
    "note_internal": _l("Note (internal)"),
    "notes_for_you": _l("Notes for you"),
    "offline_pending": _l("Offline: {n} saved on this phone, sent when the network is back"),
    "open_job": _l("Open job {n}"),
    "optional": _l("optional"),
    "order_no": _l("Order number"),
    "parts_used": _l("Parts used"),
    "photo_close": _l("Close photo"),
    "photo_full_offline": _l("The full-size photo shows when the phone is online; this is its thumbnail."),
    "photo_open": _l("Open photo full size: {caption}"),
    "photo_waiting": _l("waiting to send"),
    "photos": _l("Photos"),
    "problem": _l("Problem"),
    "progress": _l("{done} of {total} steps done"),
    "refused_title": _l("{what}: refused by the server"),
    "reschedule": _l("Reschedule the visit"),
    "reschedule_hint": _l("After a reschedule the preparation checklist must be confirmed again."),
    "resolve_files": _l("The service order is filed with it."),
    "resolved_remotely": _l("Solved remotely: file the order"),
    "rest_sent": _l("Everything else sent"),
    "returned_next": _l("Correct the write-up below and submit it again."),
    "returned_short": _l("Returned by the supervisor"),
    "returned_title": _l("Returned by the supervisor"),
    "root_cause": _l("Root cause (internal)"),
    "save_change": _l("Save the change"),
    "save_contact": _l("Save the contact"),
    "save_guidance": _l("Log the guidance"),
    "schedule_visit": _l("Schedule the visit"),
    "sending": _l("Sending {n}…"),
    "sign_hint": _l("The customer checks the order and signs on this phone."),
    "signature_kept": _l(
        "The customer's signature is kept on this phone: when the step is open again it is filled in again."),
    "solution_summary": _l("Solution summary (for the knowledge base)"),
    "stars_n": _l("{n} stars"),
    "submit": _l("Submit to the supervisor"),
    "submitted_done": _l("Submitted to the supervisor."),
    "take_back": _l("Take back"),
    "take_photo": _l("Take a photo"),
    "technician": _l("Technician"),
    "test_note_n": _l("Note on test {n}"),
    "test_note_or_reason_n": _l("Note on test {n} (the reason, if it does not apply)"),
    "tests": _l("Acceptance tests"),
    "thanks": _l("Signed. Thank you!"),
    "undo": _l("Undo last stroke"),
    "visit_time": _l("Date and time of the visit"),
    "work_done": _l("Work done"),
    "writeup_internal": _l("For the team only: the customer never sees this."),
    # Issue 24: no dead ends.
    "loading_jobs": _l("Downloading your jobs…"),
    "offline_no_jobs": _l("Offline: your jobs download as soon as the phone has a network."),
    "today": _l("Today"),
    "upcoming": _l("Upcoming visits"),
    "back_to_jobs": _l("Back to my jobs"),
    "job_submitted_gone": _l("Submitted to the supervisor: the job has left your list. Thank you."),
    "photo_caption_next": _l("Caption of the next photo (optional)"),
    "map_amap": _l("Amap"),
    "map_baidu": _l("Baidu Maps"),
    "map_apple": _l("Apple Maps"),
    "copy_address": _l("Copy the address"),
    "address_copied": _l("Address copied."),
    "give_back": _l("Hand the job back"),
    "give_back_hint": _l("The job stays yours until your supervisor reassigns it; everything recorded is kept."),
    "give_back_reason": _l("Why (your supervisor reads it)"),
    "give_back_confirm": _l("Hand back to my supervisor"),
    "handed_back_title": _l("Handed back: waiting for your supervisor to reassign it"),
    "handed_back_short": _l("Handed back"),
    # The customer is not there or refuses to sign; another visit needed; where arrival was tapped.
    "unsigned": _l("The customer is not there, or refuses to sign"),
    "unsigned_hint": _l("You may not leave unsigned. If the customer is not there or refuses to sign, record it "
                        "here: your supervisor is alerted at once and decides (another visit, or closing without a "
                        "signature)."),
    "unsigned_which": _l("What happened"),
    "unsigned.absent": _l("The customer is not there"),
    "unsigned.refused": _l("The customer refuses to sign"),
    "unsigned_reason": _l("Why (your supervisor reads it)"),
    "unsigned_photo": _l("Take a photo (optional)"),
    "unsigned_photo_ready": _l("Photo ready: it goes with the record."),
    "unsigned_confirm": _l("Record it and alert my supervisor"),
    "unsigned_title.absent": _l("Recorded: the customer is not there to sign"),
    "unsigned_title.refused": _l("Recorded: the customer refuses to sign"),
    "unsigned_next": _l("Your supervisor decides what follows (another visit, or closing without a signature). "
                        "You may record your departure."),
    "unsigned_short": _l("Signature missing"),
    "followup": _l("Another visit is needed"),
    "followup_hint": _l("The fault needs another visit (parts to order …): this visit ends, everything recorded is "
                        "kept, and you schedule the next one with the customer."),
    "followup_reason": _l("What the next visit needs (your supervisor reads it)"),
    "followup_confirm": _l("End this visit: another one follows"),
    "earlier_title": _l("Another visit: schedule it with the customer"),
    "earlier_line": _l("The visit before ended {time}: {reason}"),
    "locating": _l("Recording your arrival (with where you are, if this phone allows it) …"),
    "on_my_way": _l("On my way, arriving about {time}"),
    "arriving_about": _l("Arriving about"),
    "on_the_way_hint": _l("The customer gets an SMS when this is sent (offline: as soon as there is a network)."),
    "on_the_way_done": _l("The customer is told you are on the way, arriving about {time}."),
    "need_arrival": _l("Choose the arrival time."),
})
for status in TicketStatus:
    STRINGS[f"status.{status.value}"] = STATUS_LABELS[status]
for urgency in Urgency:
    STRINGS[f"urgency.{urgency.value}"] = URGENCY_LABELS[urgency]
for kind, declared in REGISTRY.items():  # each kind's label, declared with the kind
    STRINGS[f"op.{kind}"] = declared.label


def strings_for_page() -> dict[str, str]:
    out = {key: str(value) for key, value in STRINGS.items()}
    # The clocks' names carry the thresholds in force (the page is fetched network-first: a change shows next time).
    out.update({f"clock.{name.value}": label for name, label in clock_labels(current_policy()).items()})
    out["lang"] = "en" if is_english(get_locale()) else "zh"
    out["due_soon_minutes"] = str(current_policy().due_soon_minutes)
    return out
