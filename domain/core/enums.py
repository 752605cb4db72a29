"""The closed vocabularies of the domain. Values are stored as strings."""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    TECHNICIAN = "technician"
    EXPERT = "expert"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Urgency(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


class Channel(StrEnum):
    PHONE = "phone"
    WEB = "web"
    # The customer's own report from the QR label on the device (/d/<code>); WEB is the website's report page.
    QR = "qr"
    OTHER = "other"


class DeviceState(StrEnum):
    """A rented device's place in the register."""
    IN_STOCK = "in_stock"
    RENTED = "rented"
    IN_REPAIR = "in_repair"
    RETIRED = "retired"


class TicketStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    CONTACTED = "contacted"
    REMOTE_RESOLVED = "remote_resolved"
    VISIT_SCHEDULED = "visit_scheduled"
    ON_SITE = "on_site"
    SIGNED = "signed"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    # Closed by a supervisor after a visit the customer did not sign (absent, or refused): the work was done, the
    # customer never confirmed it. A status of its own, not CANCELLED (nothing was called off: the visit happened,
    # its work is on record) and not APPROVED (no signed order was reviewed): every list, badge, filter and count
    # that reads the status names it for what it is, with no marker to remember beside it (issue 24).
    CLOSED_UNSIGNED = "closed_unsigned"


class Resolution(StrEnum):
    REMOTE = "remote"
    ON_SITE = "on_site"


class ContactMethod(StrEnum):
    PHONE = "phone"
    MESSAGE = "message"
    SCREEN_SHARE = "screen_share"
    OTHER = "other"


class RemoteOutcome(StrEnum):
    RESOLVED = "resolved"
    NEEDS_VISIT = "needs_visit"
    IN_PROGRESS = "in_progress"


class PrepKind(StrEnum):
    ADDRESS = "address"
    DEVICE_STATE = "device_state"
    TOOL = "tool"
    SPARE = "spare"


class SignatureMissing(StrEnum):
    """Why the customer's signature could not be had at the end of a visit."""
    ABSENT = "absent"    # nobody there to sign (the customer or their contact person)
    REFUSED = "refused"  # the customer is there and refuses to sign


class UnsignedDecision(StrEnum):
    """The supervisor's decision on a visit that ended without the customer's signature."""
    REVISIT = "revisit"  # back to scheduling: another visit, the work done so far kept
    CLOSE = "close"      # the request is closed without a signature, with the supervisor's reason


class RenderState(StrEnum):
    PENDING = "pending"
    RENDERED = "rendered"
    FAILED = "failed"


class SealState(StrEnum):
    """The company seal on a rendered order: waiting for the worker, sealed, or failing (retried, admin alerted)."""
    WAITING = "waiting"
    SEALED = "sealed"
    FAILING = "failing"


class ReviewDecision(StrEnum):
    APPROVED = "approved"
    RETURNED = "returned"


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class AnalysisTrigger(StrEnum):
    FIRST_SEEN = "first_seen"
    COMPLEX = "complex"


class OpStatus(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"


class ClockName(StrEnum):
    """The policy's deadlines, in the order the process meets them."""

    INTAKE = "intake"
    FIRST_CONTACT = "first_contact"
    REMOTE_FIX = "remote_fix"
    ORDER_FILED = "order_filed"
    PREPARATION = "preparation"
    SUBMISSION = "submission"
    CASE_ANALYSIS = "case_analysis"


class ClockState(StrEnum):
    PENDING = "pending"
    MET = "met"
    MISSED = "missed"
    NOT_APPLICABLE = "not_applicable"
