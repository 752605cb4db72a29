"""The shape of `GET /api/v1/me/jobs`, declared once as models: the OpenAPI document is generated from them (so
schemathesis checks every answer against them), and the op kinds' local effects (ops.py) may only write where a
job has a field (tests/test_structure.py). `jobs.py` builds the feed; these say what it holds."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..core.enums import ClockName, ClockState, ContactMethod, RemoteOutcome, TicketStatus, Urgency

Time = str | None  # ISO 8601 with an offset, or null


class Feed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobClock(Feed):
    name: ClockName
    due_at: Time
    done_at: Time
    state: ClockState


class JobCustomer(Feed):
    name: str
    contact: str | None
    phone: str | None
    address: str | None
    email: str | None


class JobDevice(Feed):
    model: str | None
    serial: str | None
    category: str | None = Field(description="the device category's code")
    asset_number: str | None = Field(default=None, description="the rented device's asset number, when registered")
    label_code: str | None = Field(default=None, description="the code its QR label carries (/d/<code>), when "
                                                            "registered: a scanned label is checked offline")
    unit_serial: str | None = Field(default=None, description="the register's serial number of the unit")


class JobDeviceCheck(Feed):
    code: str = Field(description="the code scanned or typed")
    matched: bool = Field(description="it names the request's device (else a reason was given)")
    at: Time


class JobDeviceSwap(Feed):
    spare: str = Field(description="the spare left with the customer (its asset number; the code as typed until "
                                   "the op has synced)")
    at: Time


class JobPartUsed(Feed):
    part: str = Field(description="a code of the parts catalog (rules.devices.parts)")
    count: int


class JobDeviceActs(Feed):
    check: JobDeviceCheck | None = Field(description="the last check of the unit on site")
    swap: JobDeviceSwap | None
    parts: list[JobPartUsed]


class JobChecklistItem(Feed):
    id: int
    kind: str
    label: str
    checked: bool


class JobVisit(Feed):
    scheduled_at: Time
    address: str | None
    agreed_with: str | None
    prepared_at: Time
    on_the_way_at: Time = Field(description="the technician set out (\"on my way\"): the tap's time")
    expected_arrival_at: Time = Field(description="the arrival the customer was told")
    arrived_at: Time
    problem_confirmed_at: Time
    confirmed_problem: str | None
    work_recorded_at: Time
    tests_recorded_at: Time
    customer_confirmed_at: Time
    failures_acknowledged: bool
    precautions_told_at: Time
    departed_at: Time
    checklist: list[JobChecklistItem]
    unsigned_at: Time = Field(default=None, description="the customer was absent or refused to sign (recorded then)")
    unsigned_kind: str | None = Field(default=None, description="absent / refused")
    unsigned_reason: str | None = None
    decision: str | None = Field(default=None, description="the supervisor's decision on it: revisit / close")


class JobEarlierVisit(Feed):
    ended_at: Time
    reason: str | None


class JobTemplates(Feed):
    acceptance_tests: list[Any] = Field(description="items: a text, or {\"zh\": …, \"en\": …}")
    precautions: list[Any]


class JobNote(Feed):
    note_id: str
    text: str
    at: Time
    shown_to_customer: bool


class JobTestResult(Feed):
    item: str
    passed: bool
    not_applicable: bool
    note: str | None


class JobRemoteSession(Feed):
    method: ContactMethod
    steps: str
    outcome: RemoteOutcome
    at: Time


class JobPhoto(Feed):
    id: str
    caption: str | None
    at: Time
    width: int | None
    height: int | None
    url: str = Field(description="full size (access-checked)")
    thumb_url: str
    # On the phone only, until the photo is sent: its op and that it waits (photo.added's local effect).
    op_id: str | None = None
    pending: bool | None = None


class JobSubmission(Feed):
    due_at: Time
    state: ClockState | None
    submitted_at: Time
    returned_comment: str | None
    fault_category_id: int | None
    root_cause: str | None
    solution_summary: str | None
    parts_used: str | None


class JobFaultCategory(Feed):
    id: int
    code: str
    name: str


class JobArticle(Feed):
    id: int
    title: str
    symptoms: str | None
    solution: str | None
    precautions: str | None


class Job(Feed):
    number: str
    status: TicketStatus
    urgency: Urgency
    channel: str
    customer: JobCustomer
    device: JobDevice
    device_acts: JobDeviceActs = Field(description="the device checked on site, the swap, the parts used")
    problem: str
    reported_at: Time
    created_at: Time
    clocks: list[JobClock]
    version: int
    technician: str | None
    handed_back_at: Time = Field(description="the technician handed the job back: it waits for reassignment")
    handback_reason: str | None
    visit: JobVisit | None
    earlier_visits: list[JobEarlierVisit] = Field(description="visits that ended for another to follow, their work "
                                                              "kept on the request")
    templates: JobTemplates
    notes: list[JobNote]
    tests: list[JobTestResult]
    precautions: list[str]
    cause: str | None
    work_done: str | None
    signed: bool
    signed_at: Time
    remote: list[JobRemoteSession]
    photos: list[JobPhoto]
    submission: JobSubmission
    fault_categories: list[JobFaultCategory]
    facts: dict[str, Any] = Field(description="the flow's facts (domain/fieldwork/flow.py), with its tallies")
    knowledge: list[JobArticle]


class FeedUser(Feed):
    username: str
    display_name: str | None


class JobsFeed(Feed):
    jobs: list[Job]
    flow: dict[str, Any] = Field(description="the visit flow's declaration (flow.flow_document)")
    server_time: str
    due_soon_minutes: int
    user: FeedUser


def field_at(model: type[BaseModel], path: str) -> bool:
    """Whether `path` ("visit.arrived_at", "notes") names a field of the model, through nested models."""
    for key in path.split("."):
        field = model.model_fields.get(key)
        if field is None:
            return False
        nested = [arg for arg in getattr(field.annotation, "__args__", ()) if isinstance(arg, type)] + \
            ([field.annotation] if isinstance(field.annotation, type) else [])
        model = next((t for t in nested if issubclass(t, BaseModel)), None)  # type: ignore[assignment]
        if model is None:
            return key == path.split(".")[-1]
    return True
