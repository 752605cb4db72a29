"""The op kinds of the phone's outbox, written once: each kind's payload as a typed model (pydantic v2), which
validates an op's `data`, names the domain function that applies it, and gives the OpenAPI document its payload
schemas (blueprints/field/openapi.py). The visit flow that says when a kind may happen is in flow.py.

A payload model is strict (a text is a JSON string, a flag a JSON boolean, an id a JSON integer) and ignores
fields it does not know (an older or newer phone may send more). A payload that does not fit is refused with
`bad_payload` (or the field's own code, e.g. `bad_time`) naming the field; the domain functions still check
what depends on the request (a checklist item of this visit, a signature with ink).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar

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

from ..core import validation
from ..core.blobs import store_blob
from ..core.context import Context, require_assignee
from ..core.db import db
from ..core.enums import ContactMethod, RemoteOutcome
from ..core.errors import DomainError
from ..documents import review
from ..fieldwork.models import Photo
from ..requests import progress_notes, remote_work, visits
from ..requests.models import Ticket
from . import onsite, signing
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


class PrepConfirmed(Payload):
    items: list[StrictInt] = Field(description="ids of the checklist items confirmed")


class Empty(Payload):
    pass


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


def _arrived(ticket: Ticket, ctx: Context, data: Empty, at: datetime, meta: dict) -> None:
    onsite.arrive(ticket, ctx, at)


def _problem_confirmed(ticket: Ticket, ctx: Context, data: ProblemConfirmed, at: datetime, meta: dict) -> None:
    onsite.confirm_problem(ticket, ctx, data.text, at)


def _note_added(ticket: Ticket, ctx: Context, data: NoteAdded, at: datetime, meta: dict) -> None:
    require_assignee(ctx, ticket)  # the phone writes on its own jobs only (advice is the web's)
    taken = meta["notes_taken"]  # read once for the batch, kept up to date as notes are added
    if data.note_id in taken:
        raise OpRejected("note_exists", _l("A note with this id already exists."))
    progress_notes.add_note(ticket, data.text, ctx, shown_to_customer=data.shown_to_customer, note_id=data.note_id,
                      written_at=at)
    taken.add(data.note_id)


def _photo_added(ticket: Ticket, ctx: Context, data: PhotoAdded, at: datetime, meta: dict) -> None:
    photo: ProcessedImage | None = meta.get("photo")
    if photo is None:
        raise OpRejected("use_photo_endpoint", _l("Photos are sent to /api/v1/sync/photo."))
    require_assignee(ctx, ticket)
    onsite.ensure_not_locked(ticket)
    full = store_blob(photo.data, photo.media_type)
    thumb = store_blob(photo.thumb, "image/jpeg")
    db.session.add(Photo(ticket=ticket, note_id=data.note_id if data.note_id in meta["notes_taken"] else None,
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
                       signed_at_client=at, op_id=meta["op_id"], customer_email=data.customer_email)
    meta["signed"] = True


def _departed(ticket: Ticket, ctx: Context, data: Empty, at: datetime, meta: dict) -> None:
    onsite.depart(ticket, ctx, at)


def _order_submitted(ticket: Ticket, ctx: Context, data: OrderSubmitted, at: datetime, meta: dict) -> None:
    review.save_internal_fields(ticket, ctx, fault_category_id=data.fault_category_id, root_cause=data.root_cause,
                                solution_summary=data.solution_summary, parts_used=data.parts_used)
    review.submit(ticket, ctx)


@dataclass(frozen=True)
class OpKind:
    name: str
    payload: type[Payload]
    handler: Handler
    summary: str
    # Sent as multipart to /api/v1/sync/photo, never in a JSON batch.
    multipart: bool = False
    # What its handler reads of the request besides the visits and the signature (every op's flow check reads
    # those): Ticket relationships ("visits.prep_items" goes through the visits), and "policy". The sync applier
    # loads them with the batch's tickets, before any op writes: read after a write, each would flush the writes
    # before it (one more round of the unit of work). A read left out costs that round, nothing else.
    reads: tuple[str, ...] = ()


_KINDS = (
    OpKind("contact.made", ContactMade, _contact, "a call or message to the customer",
           reads=("clocks", "policy")),
    OpKind("remote.guided", RemoteGuided, _remote_guided, "remote guidance given"),
    OpKind("remote.resolved", WorkDone, _remote_resolved, "solved remotely: the order is filed with it",
           reads=("clocks", "policy")),
    OpKind("visit.scheduled", VisitScheduled, _visit_scheduled, "a visit agreed (or moved)",
           reads=("clocks", "policy")),
    OpKind("prep.confirmed", PrepConfirmed, _prep_confirmed, "the preparation checklist confirmed",
           reads=("clocks", "visits.prep_items")),
    OpKind("visit.arrived", Empty, _arrived, "arrived at the customer's site"),
    OpKind("problem.confirmed", ProblemConfirmed, _problem_confirmed, "the problem confirmed on site"),
    OpKind("note.added", NoteAdded, _note_added, "a progress note"),
    OpKind("photo.added", PhotoAdded, _photo_added, "a photo", multipart=True),
    OpKind("work.recorded", WorkDone, _work_recorded, "the cause and the work done on site"),
    OpKind("test.recorded", TestRecorded, _test_recorded, "one acceptance-test item", reads=("tests",)),
    OpKind("customer.confirmed", CustomerConfirmed, _customer_confirmed, "the customer confirms it works",
           reads=("tests", "device_category")),
    OpKind("precautions.told", PrecautionsTold, _precautions_told, "precautions told to the customer",
           reads=("precautions",)),
    OpKind("order.signed", OrderSigned, _order_signed, "the customer's signature",
           reads=("clocks", "policy", "tests", "device_category")),
    OpKind("visit.departed", Empty, _departed, "left the site"),
    OpKind("order.submitted", OrderSubmitted, _order_submitted, "write-up and submission to the supervisor"),
)
REGISTRY: dict[str, OpKind] = {kind.name: kind for kind in _KINDS}
OP_KINDS = tuple(REGISTRY)


def _field_problem(error: dict) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return str(_l("is missing"))
    if kind.startswith(("string", "str_")):
        return str(_l("must be text"))
    if kind.startswith("bool"):
        return str(_l("must be true or false"))
    if kind.startswith(("int", "list")):
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


