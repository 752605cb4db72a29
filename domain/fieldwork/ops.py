"""The op kinds of the phone's outbox, written once: each kind's payload as a typed model (pydantic v2), which
validates an op's `data`, names the domain function that applies it, and gives the OpenAPI document its payload
schemas (blueprints/field/openapi.py). The visit flow that says when a kind may happen is in flow.py.

A payload model is strict (a text is a JSON string, a flag a JSON boolean, an id a JSON integer) and ignores
fields it does not know (an older or newer phone may send more). A payload that does not fit is refused with
`bad_payload` (or the field's own code, e.g. `bad_time`) naming the field; the domain functions still check
what depends on the request (a checklist item of this visit, a signature with ink).
"""
from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from flask_babel import lazy_gettext as _l
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)
from pydantic import ValidationError as PayloadError
from pydantic_core import PydanticCustomError

from ..core import validation
from ..core.blobs import store_blob
from ..core.context import Context, require_assignee
from ..core.db import db
from ..core.enums import ClockName, ClockState, ContactMethod, RemoteOutcome, SignatureMissing, TicketStatus
from ..core.errors import DomainError
from ..devices import onsite as device_onsite
from ..documents import review
from ..fieldwork.models import Photo
from ..requests import assignment, progress_notes, remote_work, visits
from ..requests.models import Ticket
from . import followup, onsite, signing, unsigned
from .effects import OP_ID, OP_TIME, append, copy_fields, data, each, op_time_plus, set_to, upsert, value
from .flow import (
    LOCKED,
    NO_TESTS,
    NO_VISIT,
    NO_WORK,
    NOT_CONTACTED,
    NOT_ON_SITE,
    NOT_SIGNED,
    ON_SITE_ALREADY,
    RESOLVED_REMOTELY,
    UNANSWERED,
    VISIT_AGREED,
    Refusal,
    Step,
    Tally,
)
from .images import ProcessedImage


class OpRejected(DomainError):
    pass


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


# A text field: a JSON string; null or absent is empty.
Text = Annotated[StrictStr, BeforeValidator(_none_as_empty)]
Note = Annotated[Text, Field(default="")]  # cut to length by the domain, never refused for it
def _within_window(value: datetime) -> datetime:
    if not validation.time_in_range(value):
        raise ValueError("must be in the years 2000 to 2099")
    return value


# A time: ISO 8601 with an offset, within validation's window (year 1 or 9999 overflows once shifted to a zone).
Time = Annotated[AwareDatetime, AfterValidator(_within_window)]
# A contact method; null or absent is a phone call.
Method = Annotated[ContactMethod, BeforeValidator(lambda value: value or ContactMethod.PHONE)]


class Payload(BaseModel):
    # Types are strict field by field (StrictStr, StrictBool, StrictInt): enums, UUIDs and times come as text.
    model_config = ConfigDict(extra="ignore", frozen=True)
    # A field whose error has a code of its own (the phone matches on codes).
    error_codes: ClassVar[dict[str, str]] = {}


class ContactMade(Payload):
    """A call or message to the customer; only one that reached them is the first contact."""
    method: Method = ContactMethod.PHONE
    reached: StrictBool = True
    note: Note = ""


class RemoteGuided(Payload):
    """Remote guidance given (phone, screen sharing): the steps the customer was taken through."""
    method: Method = ContactMethod.PHONE
    steps: Text
    outcome: RemoteOutcome = Field(default=RemoteOutcome.IN_PROGRESS,
                                   description="resolved / needs_visit / in_progress (still going)")
    started_at: Time | None = Field(default=None, description="when guidance began; the op's time if absent")
    error_codes = {"started_at": "bad_time"}


class WorkDone(Payload):
    """The cause and the work done: printed on the order (remote.resolved, work.recorded)."""
    cause: Text
    work_done: Text


class VisitScheduled(Payload):
    scheduled_at: Time
    address: Text
    agreed_with: Note = ""
    error_codes = {"scheduled_at": "bad_time"}


class OnTheWay(Payload):
    """"On my way": the arrival announced to the customer (the op's time is when the technician set out)."""
    arriving_at: Time = Field(description="the arrival the customer is told (\"arriving about 14:30\"): not before "
                                          "the op's time, at most 24 hours after it")
    error_codes = {"arriving_at": "bad_time"}


class PrepConfirmed(Payload):
    items: list[StrictInt] = Field(description="ids of the checklist items confirmed")


class Empty(Payload):
    pass


def _number(value: Any) -> float:
    """A JSON number (an integer too), finite and of a size a coordinate can have; text, true/false refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("float_type", "must be a number")
    if isinstance(value, int) and abs(value) > 10**9:  # a 400-digit integer is no coordinate (nor a float)
        raise PydanticCustomError("finite_number", "out of range")
    if not math.isfinite(value):
        raise PydanticCustomError("finite_number", "out of range")
    return float(value)



class Arrived(Payload):
    """Where the phone was when arrival was tapped, when the technician allowed the browser's geolocation (WGS-84;
    never required: without it arrival is recorded alone)."""
    lat: Annotated[float, Field(ge=-90, le=90), BeforeValidator(_number)] | None = Field(
        default=None, description="latitude, WGS-84")
    lng: Annotated[float, Field(ge=-180, le=180), BeforeValidator(_number)] | None = Field(
        default=None, description="longitude, WGS-84")
    accuracy: Annotated[float, Field(ge=0, le=100_000), BeforeValidator(_number)] | None = Field(
        default=None, description="the browser's accuracy radius, metres")
    error_codes = {"lat": "bad_location", "lng": "bad_location", "accuracy": "bad_location"}


class ProblemConfirmed(Payload):
    text: Text


class NoteAdded(Payload):
    note_id: uuid.UUID
    text: Text
    shown_to_customer: StrictBool = False


class PhotoAdded(Payload):
    note_id: uuid.UUID | None = None
    caption: Note = ""


class TestRecorded(Payload):
    item: Text
    passed: StrictBool
    note: Note = Field(default="", description="what was seen; for an item not applicable, the reason (required)")
    not_applicable: StrictBool = Field(default=False, description="the item does not apply to this device or "
                                                                  "visit (`passed` is then false)")


class CustomerConfirmed(Payload):
    note: Note = ""
    failures_acknowledged: StrictBool = Field(default=False, description="the customer knows that an item failed "
                                                                         "(required when one did)")


class PrecautionsTold(Payload):
    items: list[StrictStr]


class OrderSigned(Payload):
    """The signature's content is checked by signing.py (its own codes: signature_blank, ...)."""
    signer_name: Text
    rating: Any = Field(default=None, json_schema_extra={"type": "integer", "minimum": 1, "maximum": 5,
                                                         "description": "absent or null: the customer skipped it"})
    comment: Note = ""
    signature_png: Any = Field(json_schema_extra={"type": "string", "pattern": "^data:image/png;base64,"})
    strokes: Any = Field(json_schema_extra={"type": "array", "items": {"type": "array"},
                                            "description": "signature_pad's stroke points, kept as evidence"})
    # Optional: the customer gets the link to the signed order (a malformed address is kept out, not refused:
    # the signature stands).
    customer_email: Note = ""
    # Where the phone was when the customer signed, when the technician allowed the browser's geolocation (never
    # required): kept in the evidence record, checked as arrival's.
    lat: Annotated[float, Field(ge=-90, le=90), BeforeValidator(_number)] | None = Field(
        default=None, description="latitude, WGS-84, at signing")
    lng: Annotated[float, Field(ge=-180, le=180), BeforeValidator(_number)] | None = Field(
        default=None, description="longitude, WGS-84, at signing")
    accuracy: Annotated[float, Field(ge=0, le=100_000), BeforeValidator(_number)] | None = Field(
        default=None, description="the browser's accuracy radius, metres")
    # The customer's SMS code (SIGNING_SMS_CODE), asked for with network; empty offline: confirmed later.
    sms_code: Note = Field(default="", description="the six digits the customer received by SMS, if asked")
    error_codes = {"lat": "bad_location", "lng": "bad_location", "accuracy": "bad_location"}


class JobHandedBack(Payload):
    """The technician gives the job back to the supervisor, saying why."""
    reason: Note = Field(default="", description="why (required: ill, stuck, another urgent job ...)")


# A reason the supervisor reads: required (the flow refuses it blank), at most unsigned.REASON_MAX characters.
Reason = Annotated[Text, Field(default="", max_length=unsigned.REASON_MAX)]


class SignatureMissingPayload(Payload):
    """The customer is not there to sign, or refuses: which, why, and the photo taken with it (optional)."""
    situation: SignatureMissing = Field(description="absent (nobody there to sign) / refused (they will not)")
    reason: Reason = Field(description="why (required), for the supervisor who decides")
    photo_op_id: uuid.UUID | None = Field(default=None, description="the op_id of a photo.added op sent with it")


class AnotherVisit(Payload):
    """The visit ends without finishing the job: another visit is needed (parts to order ...)."""
    reason: Reason = Field(description="why (required): what the next visit needs")


# A code scanned from a label (its URL /d/<code>) or typed: an asset or a serial number.
ScannedCode = Annotated[Text, Field(min_length=1, max_length=device_onsite.CODE_MAX)]


class DeviceChecked(Payload):
    """The unit in front of the technician, checked against the request's device (issue 22 item 6)."""
    code: ScannedCode = Field(description="the label's URL, or the asset or serial number, as scanned or typed")
    matched: StrictBool | None = Field(default=None, description="the phone's reading: the code names the "
                                       "request's device (the server decides again from the register)")
    reason: Reason = Field(description="why another unit is there (required when it does not match)")


class DeviceSwapped(Payload):
    """The request's device taken away, a spare from stock left in its place."""
    spare: ScannedCode = Field(description="the spare's label URL, asset or serial number: it must be in stock")


class PartCount(Payload):
    part: Literal[device_onsite.PART_CODES] = Field(description="a code of the parts catalog (rules.parts)")
    count: Annotated[StrictInt, Field(ge=1, le=device_onsite.COUNT_MAX)]


class PartsUsed(Payload):
    """The spare parts used on the request, with counts: the list replaces the one sent before."""
    items: list[PartCount] = Field(max_length=device_onsite.PARTS_MAX)


class OrderSubmitted(Payload):
    """The internal write-up (documents/review.py), then submission to the supervisor."""
    fault_category_id: StrictInt | None = None
    root_cause: Note = ""
    solution_summary: Note = ""
    parts_used: Note = ""


# --- handlers: what each kind does (the domain functions check who acts and what the request allows) ---------

Handler = Callable[[Ticket, Context, Any, datetime, dict], None]


def _contact(ticket: Ticket, ctx: Context, data: ContactMade, at: datetime, meta: dict) -> None:
    remote_work.record_contact(ticket, ctx, method=data.method, reached=data.reached, note=data.note, at=at)


def _remote_guided(ticket: Ticket, ctx: Context, data: RemoteGuided, at: datetime, meta: dict) -> None:
    remote_work.record_remote_session(ticket, ctx, method=data.method, steps=data.steps, outcome=data.outcome,
                                   started_at=data.started_at or at,
                                   ended_at=None if data.outcome == RemoteOutcome.IN_PROGRESS else at)


def _remote_resolved(ticket: Ticket, ctx: Context, data: WorkDone, at: datetime, meta: dict) -> None:
    remote_work.resolve_remotely(ticket, ctx, cause=data.cause, work_done=data.work_done, resolved_at=at)


def _visit_scheduled(ticket: Ticket, ctx: Context, data: VisitScheduled, at: datetime, meta: dict) -> None:
    visits.schedule_visit(ticket, ctx, scheduled_at=data.scheduled_at, address=data.address,
                            agreed_with=data.agreed_with)


def _prep_confirmed(ticket: Ticket, ctx: Context, data: PrepConfirmed, at: datetime, meta: dict) -> None:
    visits.confirm_preparation(ticket, ctx, checked_item_ids=set(data.items), at=at)


def _on_the_way(ticket: Ticket, ctx: Context, data: OnTheWay, at: datetime, meta: dict) -> None:
    onsite.set_out(ticket, ctx, arriving_at=data.arriving_at, at=at, event=str(meta["op_id"]))


def _location(data: Arrived | OrderSigned) -> tuple[float, float, float | None] | None:
    """The phone's location sent with an op (arrival, signing): both coordinates or neither."""
    if (data.lat is None) != (data.lng is None):
        raise OpRejected("bad_location", _l("A location needs both its latitude and its longitude."))
    return None if data.lat is None else (float(data.lat), float(data.lng),
                                          None if data.accuracy is None else float(data.accuracy))


def _arrived(ticket: Ticket, ctx: Context, data: Arrived, at: datetime, meta: dict) -> None:
    onsite.arrive(ticket, ctx, at, _location(data))


def _problem_confirmed(ticket: Ticket, ctx: Context, data: ProblemConfirmed, at: datetime, meta: dict) -> None:
    onsite.confirm_problem(ticket, ctx, data.text, at)


def _note_added(ticket: Ticket, ctx: Context, data: NoteAdded, at: datetime, meta: dict) -> None:
    require_assignee(ctx, ticket)  # the phone writes on its own jobs only (advice is the web's)
    taken = meta["notes_taken"]  # read once for the batch, kept up to date as notes are added
    if data.note_id in taken:
        raise OpRejected("note_exists", _l("A note with this id already exists."))
    progress_notes.add_note(ticket, data.text, ctx, shown_to_customer=data.shown_to_customer, note_id=data.note_id,
                            written_at=at, as_object=False)
    taken.add(data.note_id)


def _photo_added(ticket: Ticket, ctx: Context, data: PhotoAdded, at: datetime, meta: dict) -> None:
    photo: ProcessedImage | None = meta.get("photo")
    if photo is None:
        raise OpRejected("use_photo_endpoint", _l("Photos are sent to /api/v1/sync/photo."))
    require_assignee(ctx, ticket)
    onsite.ensure_not_locked(ticket)
    full = store_blob(photo.data, photo.media_type)
    thumb = store_blob(photo.thumb, "image/jpeg")
    # The photo's id is its op's: an act sent with it (signature.missing) names it before it may have arrived.
    note_id = data.note_id if data.note_id in meta["notes_taken"] else None
    db.session.add(Photo(id=meta["op_id"], ticket=ticket, note_id=note_id,
                         blob_sha256=full.sha256, thumb_sha256=thumb.sha256, width=photo.width,
                         height=photo.height, caption=data.caption[:500] or None, taken_at=at,
                         uploaded_by_id=ctx.actor.id))


def _work_recorded(ticket: Ticket, ctx: Context, data: WorkDone, at: datetime, meta: dict) -> None:
    onsite.record_work(ticket, ctx, cause=data.cause, work_done=data.work_done, at=at)


def _test_recorded(ticket: Ticket, ctx: Context, data: TestRecorded, at: datetime, meta: dict) -> None:
    onsite.record_test(ticket, ctx, item=data.item, passed=data.passed, note=data.note, at=at,
                       not_applicable=data.not_applicable)


def _customer_confirmed(ticket: Ticket, ctx: Context, data: CustomerConfirmed, at: datetime, meta: dict) -> None:
    onsite.confirm_customer(ticket, ctx, data.note, at, failures_acknowledged=data.failures_acknowledged)


def _precautions_told(ticket: Ticket, ctx: Context, data: PrecautionsTold, at: datetime, meta: dict) -> None:
    onsite.tell_precautions(ticket, ctx, list(data.items), at)


def _order_signed(ticket: Ticket, ctx: Context, data: OrderSigned, at: datetime, meta: dict) -> None:
    signing.sign_order(ticket, ctx, signer_name=data.signer_name, rating=data.rating, comment=data.comment,
                       signature_png=data.signature_png, strokes=data.strokes, device_id=meta["device_id"],
                       signed_at_client=at, op_id=meta["op_id"], customer_email=data.customer_email,
                       user_agent=meta.get("user_agent"), location=_location(data), sms_code=data.sms_code)
    meta["signed"] = True


def _departed(ticket: Ticket, ctx: Context, data: Empty, at: datetime, meta: dict) -> None:
    onsite.depart(ticket, ctx, at)


def _handed_back(ticket: Ticket, ctx: Context, data: JobHandedBack, at: datetime, meta: dict) -> None:
    assignment.hand_back(ticket, ctx, reason=data.reason, at=at)


def _signature_missing(ticket: Ticket, ctx: Context, data: SignatureMissingPayload, at: datetime,
                       meta: dict) -> None:
    unsigned.record_missing_signature(ticket, ctx, situation=data.situation, reason=data.reason,
                                      photo_id=data.photo_op_id, at=at)


def _another_visit(ticket: Ticket, ctx: Context, data: AnotherVisit, at: datetime, meta: dict) -> None:
    followup.another_visit(ticket, ctx, reason=data.reason, at=at)


def _device_checked(ticket: Ticket, ctx: Context, data: DeviceChecked, at: datetime, meta: dict) -> None:
    device_onsite.check_device(ticket, ctx, code=data.code, reason=data.reason, at=at)


def _device_swapped(ticket: Ticket, ctx: Context, data: DeviceSwapped, at: datetime, meta: dict) -> None:
    device_onsite.swap_device(ticket, ctx, spare_code=data.spare, at=at)


def _parts_used(ticket: Ticket, ctx: Context, data: PartsUsed, at: datetime, meta: dict) -> None:
    device_onsite.record_parts(ticket, ctx, counts={item.part: item.count for item in data.items}, at=at)


def _order_submitted(ticket: Ticket, ctx: Context, data: OrderSubmitted, at: datetime, meta: dict) -> None:
    review.save_internal_fields(ticket, ctx, fault_category_id=data.fault_category_id, root_cause=data.root_cause,
                                solution_summary=data.solution_summary, parts_used=data.parts_used)
    review.submit(ticket, ctx)


@dataclass(frozen=True)
class OpKind:
    """One op kind, whole: its payload, what it does on the server (`handler`), when the flow allows it (`step`),
    what it does at once to the phone's copy of the job (`effects`), and how the phone names it."""
    name: str
    payload: type[Payload]
    handler: Handler
    summary: str
    label: Any  # a lazy string: the phone's name for the act (refusals, the outbox)
    step: Step
    effects: tuple[dict, ...] = ()
    # The stepper's screen the act belongs to (static/field/app.js draws it), and the fact that says it is done.
    screen: str | None = None
    done_fact: str | None = None
    optional: bool = False  # a screen the day may skip
    # The payload field that tells one act of this kind from another (the test's item): the phone clears a refusal
    # when the same act is done again, not when another one is.
    act_key: str | None = None
    # Sent as multipart to /api/v1/sync/photo, never in a JSON batch.
    multipart: bool = False
    # What its handler reads of the request besides the visits and the signature (every op's flow check reads
    # those): Ticket relationships ("visits.prep_items" goes through the visits), and "policy". The sync applier
    # loads them with the batch's tickets, before any op writes: read after a write, each would flush the writes
    # before it (one more round of the unit of work). A read left out costs that round, nothing else.
    reads: tuple[str, ...] = ()

    def for_phone(self) -> dict:
        return {"label": str(self.label), "screen": self.screen, "done_fact": self.done_fact,
                "optional": self.optional, "multipart": self.multipart, "act_key": self.act_key,
                "effects": list(self.effects)}


def _once(what) -> Refusal:
    return Refusal("already_done", what)


# The end of the service starts the 2-hour submission (signing.py, remote_work.py): the phone shows its countdown at
# once, offline too.
SUBMISSION_STARTS = upsert("clocks", "name", {"name": value(ClockName.SUBMISSION),
                                              "due_at": op_time_plus("submission_minutes"), "done_at": value(None),
                                              "state": value(ClockState.PENDING)})

# A test item that failed (neither passed nor set aside as not applicable).
FAILED_ITEM = {"passed": [False], "not_applicable": [False, None]}

_KINDS = (
    # Logging a call; only a call that reached the customer counts as the first contact.
    OpKind("contact.made", ContactMade, _contact, "a call or message to the customer", _l("First contact"),
           Step(refused_if=("arrived", "remote_resolved"), sets_if={"contact_made": {"reached": [True, None]}},
                refusals={"arrived": ON_SITE_ALREADY, "remote_resolved": RESOLVED_REMOTELY}),
           effects=(set_to("status", value(TicketStatus.CONTACTED), when={"data": {"reached": [True, None]},
                                                                          "job": {"status": ["assigned"]}}),),
           screen="contact", done_fact="contact_made", reads=("clocks", "policy", "contacts")),
    OpKind("remote.guided", RemoteGuided, _remote_guided, "remote guidance given", _l("Remote guidance"),
           Step(requires=("contact_made",), refused_if=("visit_scheduled", "remote_resolved"), sets=("remote_guided",),
                refusals={"contact_made": NOT_CONTACTED, "visit_scheduled": VISIT_AGREED,
                          "remote_resolved": RESOLVED_REMOTELY}),
           effects=(append("remote", {"method": data("method", ContactMethod.PHONE), "steps": data("steps"),
                                      "outcome": data("outcome", RemoteOutcome.IN_PROGRESS), "at": OP_TIME}),),
           screen="guide", done_fact="remote_guided", optional=True),
    OpKind("remote.resolved", WorkDone, _remote_resolved, "solved remotely: the order is filed with it",
           _l("Solved remotely"),
           Step(requires=("contact_made",), refused_if=("visit_scheduled", "remote_resolved"),
                sets=("remote_resolved", "work_recorded", "service_ended"),
                refusals={"contact_made": NOT_CONTACTED, "visit_scheduled": VISIT_AGREED,
                          "remote_resolved": RESOLVED_REMOTELY}),
           effects=(set_to("status", value(TicketStatus.REMOTE_RESOLVED)), *copy_fields("", "cause", "work_done"),
                    SUBMISSION_STARTS),
           screen="resolve", done_fact="remote_resolved", reads=("clocks", "policy")),
    # Scheduling again moves the visit: its preparation must be confirmed again.
    OpKind("visit.scheduled", VisitScheduled, _visit_scheduled, "a visit agreed (or moved)", _l("Visit scheduled"),
           Step(requires=("contact_made",), refused_if=("arrived", "remote_resolved"), sets=("visit_scheduled",),
                clears=("prep_confirmed", "on_the_way"),
                refusals={"contact_made": NOT_CONTACTED, "arrived": ON_SITE_ALREADY,
                          "remote_resolved": RESOLVED_REMOTELY}),
           effects=(set_to("status", value(TicketStatus.VISIT_SCHEDULED)),
                    *copy_fields("visit.", "scheduled_at", "address", "agreed_with", defaults={"agreed_with": ""}),
                    set_to("visit.prepared_at", value(None)), set_to("visit.arrived_at", value(None)),
                    set_to("visit.on_the_way_at", value(None)), set_to("visit.expected_arrival_at", value(None)),
                    each("visit.checklist", "checked", value(False))),
           screen="schedule", done_fact="visit_scheduled", reads=("clocks", "policy")),
    OpKind("prep.confirmed", PrepConfirmed, _prep_confirmed, "the preparation checklist confirmed", _l("Preparation"),
           Step(requires=("visit_scheduled",), refused_if=("arrived", "prep_confirmed"), sets=("prep_confirmed",),
                refusals={"visit_scheduled": NO_VISIT, "arrived": ON_SITE_ALREADY,
                          "prep_confirmed": _once(_l("The preparation is already confirmed; after a new visit time "
                                                     "it is confirmed again."))}),
           effects=(each("visit.checklist", "checked", value(True), where_in=data("items", [])),
                    set_to("visit.prepared_at", OP_TIME)),
           screen="prepare", done_fact="prep_confirmed", reads=("clocks", "visits.prep_items")),
    # Setting out for the visit: the customer is told (SMS, e-mail) when the op syncs, with the tap's time. Once per
    # agreed time (a new time clears it: the customer may be told again).
    OpKind("visit.on_the_way", OnTheWay, _on_the_way, "on the way to the customer, with the arrival time",
           _l("On my way"),
           Step(requires=("visit_scheduled",), refused_if=("arrived", "on_the_way"), sets=("on_the_way",),
                refusals={"visit_scheduled": NO_VISIT, "arrived": ON_SITE_ALREADY,
                          "on_the_way": _once(_l("The customer was already told you are on the way; after a new "
                                                 "visit time you can tell them again."))}),
           effects=(set_to("visit.on_the_way_at", OP_TIME), set_to("visit.expected_arrival_at", data("arriving_at"))),
           reads=("customer", "assignee")),
    OpKind("visit.arrived", Arrived, _arrived, "arrived at the customer's site (where, when allowed)", _l("Arrival"),
           Step(requires=("visit_scheduled",), refused_if=("arrived",), sets=("arrived",),
                refusals={"visit_scheduled": NO_VISIT, "arrived": _once(_l("Your arrival is already recorded."))}),
           effects=(set_to("status", value(TicketStatus.ON_SITE)), set_to("visit.arrived_at", OP_TIME)),
           screen="arrive", done_fact="arrived"),
    OpKind("problem.confirmed", ProblemConfirmed, _problem_confirmed, "the problem confirmed on site",
           _l("Problem confirmed"),
           Step(requires=("arrived",), refused_if=("signed",), sets=("problem_confirmed",),
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED}),
           effects=(set_to("visit.confirmed_problem", data("text")), set_to("visit.problem_confirmed_at", OP_TIME)),
           screen="problem", done_fact="problem_confirmed"),
    OpKind("note.added", NoteAdded, _note_added, "a progress note", _l("Note"),
           Step(refused_if=("signed",), refusals={"signed": LOCKED}),
           effects=(upsert("notes", "note_id", {"note_id": data("note_id"), "text": data("text"), "at": OP_TIME,
                                                "shown_to_customer": data("shown_to_customer", False)}),),
           screen="work", optional=True),
    OpKind("photo.added", PhotoAdded, _photo_added, "a photo", _l("Photo"),
           Step(refused_if=("signed",), refusals={"signed": LOCKED}),
           effects=(append("photos", {"op_id": OP_ID, "caption": data("caption", ""), "pending": value(True)}),),
           screen="work", multipart=True),
    OpKind("work.recorded", WorkDone, _work_recorded, "the cause and the work done on site", _l("Cause and work done"),
           Step(requires=("arrived",), refused_if=("signed",), sets=("work_recorded",),
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED}),
           effects=(*copy_fields("", "cause", "work_done"), set_to("visit.work_recorded_at", OP_TIME)),
           screen="cause", done_fact="work_recorded"),
    # A failed item voids a confirmation the customer gave before it; the tests passed when every item's last
    # result is a pass (or "not applicable", which needs its reason); they are answered when every item of the
    # device's checklist has a result.
    OpKind("test.recorded", TestRecorded, _test_recorded, "one acceptance-test item", _l("Acceptance test"),
           Step(requires=("arrived",), refused_if=("signed",), sets=("tests_recorded",),
                clears_if={"customer_confirmed": FAILED_ITEM},
                tallies={"tests_passed": Tally(key="item", value="passed", or_value="not_applicable",
                                               complete="tests_answered")},
                refused_when={"reason_missing": {"data": {"not_applicable": [True], "note": ["", None]}}},
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED,
                          "reason_missing": Refusal("reason_required", _l("Say why this item does not apply."))}),
           effects=(upsert("tests", "item", {"item": data("item"), "passed": data("passed", False),
                                             "not_applicable": data("not_applicable", False),
                                             "note": data("note", "")}),
                    set_to("visit.tests_recorded_at", OP_TIME),
                    set_to("visit.customer_confirmed_at", value(None), when={"data": FAILED_ITEM}),
                    set_to("visit.failures_acknowledged", value(False), when={"data": FAILED_ITEM})),
           screen="tests", done_fact="tests_recorded", act_key="item", reads=("tests",)),
    # The customer confirms only a finished test; with a failed item, only knowingly (printed on the order).
    OpKind("customer.confirmed", CustomerConfirmed, _customer_confirmed, "the customer confirms it works",
           _l("Customer's confirmation"),
           Step(requires=("arrived", "tests_recorded", "tests_answered"), refused_if=("signed",),
                sets=("customer_confirmed",),
                refused_when={"failures_unacknowledged": {"facts": {"tests_passed": [False]},
                                                          "data": {"failures_acknowledged": [False, None]}}},
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED, "tests_recorded": NO_TESTS,
                          "tests_answered": UNANSWERED,
                          "failures_unacknowledged": Refusal("failures_unacknowledged", _l(
                              "An item of the acceptance test failed: the customer confirms only after "
                              "acknowledging that some functions are not restored."))}),
           effects=(set_to("visit.customer_confirmed_at", OP_TIME),
                    set_to("visit.failures_acknowledged", value(False)),
                    set_to("visit.failures_acknowledged", value(True),
                           when={"facts": {"tests_passed": [False]}, "data": {"failures_acknowledged": [True]}})),
           screen="confirm", done_fact="customer_confirmed", reads=("tests", "device_category")),
    OpKind("precautions.told", PrecautionsTold, _precautions_told, "precautions told to the customer",
           _l("Precautions"),
           Step(requires=("arrived",), refused_if=("signed",), sets=("precautions_told",),
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED}),
           effects=(set_to("precautions", data("items", [])), set_to("visit.precautions_told_at", OP_TIME)),
           screen="precautions", done_fact="precautions_told", reads=("precautions",)),
    # The order the customer signs prints the cause and the work done: they are written first.
    OpKind("order.signed", OrderSigned, _order_signed, "the customer's signature", _l("Signature"),
           Step(requires=("arrived", "work_recorded", "tests_recorded", "tests_answered", "customer_confirmed"),
                refused_if=("signed",), sets=("signed", "service_ended", "may_leave"),
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED, "work_recorded": NO_WORK,
                          "tests_recorded": NO_TESTS, "tests_answered": UNANSWERED,
                          "customer_confirmed": Refusal("not_confirmed", _l("The customer has not confirmed that "
                                                                            "the device works normally yet."))}),
           effects=(set_to("status", value(TicketStatus.SIGNED)), set_to("signed", value(True)),
                    set_to("signed_at", OP_TIME), SUBMISSION_STARTS),
           screen="sign", done_fact="signed", reads=("clocks", "policy", "tests", "device_category", "customer")),
    # Leaving: once the customer signed, or once it is recorded why they could not (signature.missing).
    OpKind("visit.departed", Empty, _departed, "left the site", _l("Leaving"),
           Step(requires=("may_leave",), refused_if=("departed",), sets=("departed",),
                refusals={"may_leave": NOT_SIGNED, "departed": _once(_l("Your departure is already recorded."))}),
           effects=(set_to("visit.departed_at", OP_TIME),),
           screen="depart", done_fact="departed"),
    # Submission: after the customer signed or the remote fix; again only after the supervisor returned it.
    OpKind("order.submitted", OrderSubmitted, _order_submitted, "write-up and submission to the supervisor",
           _l("Submission"),
           Step(requires=("service_ended",), refused_if=("submitted",), sets=("submitted",), clears=("returned",),
                refusals={"service_ended": Refusal("not_ended", _l("Finish the service first: the customer signs "
                                                                   "the order, or the request is solved remotely.")),
                          "submitted": _once(_l("The order is already submitted to the supervisor."))}),
           effects=(set_to("status", value(TicketStatus.SUBMITTED)), set_to("submission.submitted_at", OP_TIME),
                    set_to("submission.returned_comment", value(None)),
                    *copy_fields("submission.", "fault_category_id", "root_cause", "solution_summary", "parts_used",
                                 defaults={"root_cause": "", "solution_summary": "", "parts_used": ""})),
           screen="submit", done_fact="submitted"),
    # The customer is not there, or refuses to sign (the policy: no leaving unsigned): recorded with the reason, the
    # supervisors alerted at once; it lets the technician leave, and a supervisor decides what follows.
    OpKind("signature.missing", SignatureMissingPayload, _signature_missing,
           "the customer is absent or refuses to sign: the supervisor decides", _l("Signature missing"),
           Step(requires=("arrived",), refused_if=("signed", "unsigned"), sets=("unsigned", "may_leave"),
                refused_when={"reason_missing": {"data": {"reason": ["", None]}}},
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED,
                          "unsigned": _once(_l("It is already recorded: your supervisor decides what follows.")),
                          "reason_missing": Refusal("reason_required", _l("Say why the customer cannot sign."))}),
           effects=(set_to("visit.unsigned_at", OP_TIME), set_to("visit.unsigned_kind", data("situation")),
                    set_to("visit.unsigned_reason", data("reason"))),
           screen="unsigned", optional=True),
    # The job needs another visit (parts to order): this one ends, its work kept; the request goes back to scheduling.
    OpKind("visit.followup_needed", AnotherVisit, _another_visit,
           "another visit needed: this one ends, its work kept, the next is scheduled", _l("Another visit needed"),
           Step(requires=("arrived",), refused_if=("signed",), sets=("visited_before",),
                clears=("visit_scheduled", "prep_confirmed", "on_the_way", "arrived", "problem_confirmed",
                        "customer_confirmed", "precautions_told", "departed", "unsigned", "may_leave"),
                refused_when={"reason_missing": {"data": {"reason": ["", None]}}},
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED,
                          "reason_missing": Refusal("reason_required", _l("Say why another visit is needed."))}),
           effects=(set_to("status", value(TicketStatus.CONTACTED)), set_to("visit", value(None)),
                    append("earlier_visits", {"ended_at": OP_TIME, "reason": data("reason")})),
           screen="followup", optional=True),
    # The device on site (issue 22 item 6). A code that is not the request's device is recorded with the reason
    # (the phone reads its own match offline; the server reads it again from the register).
    OpKind("device.checked", DeviceChecked, _device_checked, "the device on site checked against the request's",
           _l("Device checked"),
           Step(requires=("arrived",), refused_if=("signed",),
                refused_when={"reason_missing": {"data": {"matched": [False, None], "reason": ["", None]}}},
                refusals={"arrived": NOT_ON_SITE, "signed": LOCKED,
                          "reason_missing": Refusal("reason_required", device_onsite.REASON_REQUIRED)}),
           effects=(set_to("device_acts.check.code", data("code")),
                    set_to("device_acts.check.matched", data("matched", False)),
                    set_to("device_acts.check.at", OP_TIME)),
           optional=True),
    # Only the server knows the stock: a spare unknown, not in stock, or the faulty unit itself is refused there.
    OpKind("device.swapped", DeviceSwapped, _device_swapped, "a faulty unit swapped for a spare from stock",
           _l("Device swapped"),
           Step(requires=("arrived",), refused_if=("signed",), refusals={"arrived": NOT_ON_SITE, "signed": LOCKED}),
           effects=(set_to("device_acts.swap.spare", data("spare")), set_to("device_acts.swap.at", OP_TIME)),
           optional=True),
    OpKind("parts.used", PartsUsed, _parts_used, "the spare parts used, with counts", _l("Parts used"),
           Step(requires=("arrived",), refused_if=("signed",), refusals={"arrived": NOT_ON_SITE, "signed": LOCKED}),
           effects=(set_to("device_acts.parts", data("items", [])),),
           optional=True),
    # Until the service ends: ill, stuck, another urgent job. The job stays the technician's (and its work is kept)
    # until the supervisor, alerted at once, reassigns it.
    OpKind("job.handed_back", JobHandedBack, _handed_back, "the job handed back to the supervisor",
           _l("Job handed back"),
           Step(refused_if=("service_ended", "handed_back"),
                refused_when={"reason_missing": {"data": {"reason": ["", None]}}},
                sets=("handed_back",),
                refusals={"service_ended": Refusal("service_ended", _l(
                              "The service is over: submit the order instead of handing the job back.")),
                          "handed_back": _once(_l("The job is already handed back: the supervisor reassigns it.")),
                          "reason_missing": Refusal("reason_required", _l("Say why you hand the job back."))}),
           effects=(set_to("handed_back_at", OP_TIME), set_to("handback_reason", data("reason", ""))),
           screen="give_back", optional=True),
)
REGISTRY: dict[str, OpKind] = {kind.name: kind for kind in _KINDS}
OP_KINDS = tuple(REGISTRY)


def _field_problem(error: dict) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return str(_l("is missing"))
    if kind in ("string_too_long", "too_long"):
        return str(_l("is too long (at most %(n)s characters)", n=(error.get("ctx") or {}).get("max_length", "")))
    if kind.startswith(("string", "str_")):
        return str(_l("must be text"))
    if kind in ("greater_than_equal", "less_than_equal", "finite_number", "value_error"):
        return str(_l("is out of range"))
    if kind.startswith(("float", "int")):
        return str(_l("must be a number"))
    if kind.startswith("bool"):
        return str(_l("must be true or false"))
    if kind.startswith("list"):
        return str(_l("has the wrong type"))
    if kind.startswith(("datetime", "timezone")):
        return str(_l("must be an ISO 8601 time with an offset"))
    if kind in ("enum", "literal_error"):
        return str(_l("has an unknown value"))
    if kind.startswith("uuid"):
        return str(_l("must be a UUID"))
    return str(_l("is not valid"))


def parse_payload(kind: OpKind, data: Any) -> Payload:
    """The op's data as its kind's model, or OpRejected naming the first field that does not fit."""
    try:
        return kind.payload.model_validate(data)
    except PayloadError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or "data"
        code = kind.payload.error_codes.get(str(first.get("loc", ("",))[0]), "bad_payload")
        raise OpRejected(code, _l("The field %(field)s %(problem)s.", field=field,
                                  problem=_field_problem(first))) from None


def payload_schemas(ref_template: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """JSON Schema of each kind's payload, and the shared definitions they refer to (enums)."""
    schemas, definitions = {}, {}
    for kind in _KINDS:
        schema = kind.payload.model_json_schema(ref_template=ref_template)
        definitions.update(schema.pop("$defs", {}))
        schema.setdefault("description", kind.summary)
        schemas[kind.name] = schema
    return schemas, definitions


