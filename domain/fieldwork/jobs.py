"""`GET /api/v1/me/jobs`: everything a technician's phone needs to work offline on their assigned requests."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ..core.db import db
from ..core.enums import ArticleStatus, ClockName, ReviewDecision, TicketStatus
from ..core.locales import DEFAULT_LOCALE, name_key
from ..core.models import User
from ..devices import onsite as device_onsite
from ..devices.models import DeviceSwap
from ..fieldwork.models import Visit
from ..knowledge.models import KbArticle
from ..requests.models import FaultCategory, Ticket
from ..requests.serialise import iso as _iso
from ..requests.serialise import request_summary
from ..sla.clocks import ticket_clocks
from . import flow

# Open work, and finished work until it is submitted to the supervisor (the 2-hour clock runs on the phone);
# a returned order comes back with the supervisor's comment.
ACTIVE = (TicketStatus.ASSIGNED, TicketStatus.CONTACTED, TicketStatus.VISIT_SCHEDULED, TicketStatus.ON_SITE,
          TicketStatus.SIGNED, TicketStatus.REMOTE_RESOLVED, TicketStatus.RETURNED)


def jobs_for(user: User, now: datetime, locale: str = DEFAULT_LOCALE) -> list[dict]:
    """The user's jobs; `locale` picks the names of the fault categories."""
    tickets = db.session.execute(
        select(Ticket).where(Ticket.assignee_id == user.id, Ticket.status.in_(ACTIVE))
        .options(selectinload(Ticket.customer), selectinload(Ticket.device_category),
                 selectinload(Ticket.visits).selectinload(Visit.prep_items), selectinload(Ticket.clocks),
                 selectinload(Ticket.notes), selectinload(Ticket.tests), selectinload(Ticket.precautions),
                 selectinload(Ticket.signature), selectinload(Ticket.remote_sessions),
                 selectinload(Ticket.reviews), selectinload(Ticket.assignee), selectinload(Ticket.photos),
                 selectinload(Ticket.device), selectinload(Ticket.device_checks), selectinload(Ticket.used_parts),
                 selectinload(Ticket.device_swaps).selectinload(DeviceSwap.in_device))
        .order_by(Ticket.next_due_at.is_(None), Ticket.next_due_at)
    ).scalars().all()
    category_ids = {t.device_category_id for t in tickets if t.device_category_id}
    articles = []
    if category_ids:
        articles = db.session.execute(
            select(KbArticle).where(KbArticle.status == ArticleStatus.PUBLISHED,
                                    or_(KbArticle.device_category_id.in_(category_ids),
                                        KbArticle.device_category_id.is_(None)))
            .order_by(KbArticle.updated_at.desc()).limit(200)
        ).scalars().all()
    faults: dict[int, list[dict]] = {}
    if category_ids:
        for fault in db.session.execute(select(FaultCategory).where(
                FaultCategory.active.is_(True), FaultCategory.device_category_id.in_(category_ids))
                .order_by(FaultCategory.code)).scalars():
            faults.setdefault(fault.device_category_id, []).append(
                {"id": fault.id, "code": fault.code, "name": getattr(fault, name_key(locale))})
    return [_job(t, now, [a for a in articles if a.device_category_id in (t.device_category_id, None)][:20],
                 faults.get(t.device_category_id, [])) for t in tickets]


def _job(ticket: Ticket, now: datetime, articles: list[KbArticle], faults: list[dict]) -> dict:
    category = ticket.device_category
    visit = ticket.current_visit
    clocks = ticket_clocks(ticket, now)
    submission = next((c for c in clocks if c.name == ClockName.SUBMISSION), None)
    returned = next((r for r in reversed(ticket.reviews) if r.decision == ReviewDecision.RETURNED), None)
    summary = request_summary(ticket, now, clocks)
    unit = ticket.device
    return {
        **summary,
        # The registered unit's label code and serial number: the phone checks a scanned code offline.
        "device": {**summary["device"], "label_code": unit.label_code if unit else None,
                   "unit_serial": unit.serial_number if unit else None},
        "device_acts": device_onsite.phone_view(ticket),
        "version": ticket.version,
        "technician": ticket.assignee.display_name if ticket.assignee else None,
        "handed_back_at": _iso(ticket.handed_back_at), "handback_reason": ticket.handback_reason,
        "visit": None if visit is None else {
            "scheduled_at": _iso(visit.scheduled_at), "address": visit.address, "agreed_with": visit.agreed_with,
            "prepared_at": _iso(visit.prep_confirmed_at), "arrived_at": _iso(visit.arrived_at),
            "on_the_way_at": _iso(visit.on_the_way_at), "expected_arrival_at": _iso(visit.expected_arrival_at),
            "problem_confirmed_at": _iso(visit.problem_confirmed_at), "confirmed_problem": visit.confirmed_problem,
            "work_recorded_at": _iso(visit.work_recorded_at),
            "tests_recorded_at": _iso(max((t.recorded_at for t in ticket.tests), default=None)),
            "customer_confirmed_at": _iso(visit.customer_confirmed_at),
            "failures_acknowledged": visit.failures_acknowledged,
            "precautions_told_at": _iso(visit.precautions_told_at), "departed_at": _iso(visit.departed_at),
            "checklist": [{"id": i.id, "kind": i.kind.value, "label": i.label, "checked": i.checked}
                          for i in visit.prep_items],
            "unsigned_at": _iso(visit.unsigned_at),
            "unsigned_kind": visit.unsigned_kind.value if visit.unsigned_kind else None,
            "unsigned_reason": visit.unsigned_reason, "decision": visit.decision.value if visit.decision else None,
        },
        "earlier_visits": [{"ended_at": _iso(v.ended_at), "reason": v.end_reason} for v in ticket.earlier_visits],
        "templates": {
            "acceptance_tests": category.acceptance_tests if category else [],
            "precautions": category.precaution_templates if category else [],
        },
        "notes": [{"note_id": str(n.id), "text": n.text, "at": _iso(n.written_at),
                   "shown_to_customer": n.shown_to_customer} for n in ticket.notes],
        "tests": [{"item": t.item, "passed": t.passed, "not_applicable": t.not_applicable, "note": t.note}
                  for t in ticket.tests],
        "precautions": [p.text for p in ticket.precautions],
        "cause": ticket.cause,
        "work_done": ticket.work_done,
        "signed": ticket.signature is not None,
        "signed_at": _iso(ticket.signature.signed_at_client) if ticket.signature else None,
        "remote": [{"method": r.method.value, "steps": r.steps, "outcome": r.outcome.value,
                    "at": _iso(r.started_at)} for r in ticket.remote_sessions],
        "photos": [{"id": str(p.id), "caption": p.caption, "at": _iso(p.taken_at), "width": p.width,
                    "height": p.height} for p in ticket.photos],
        # The internal write-up and submission (the 2-hour clock), and the supervisor's comment when returned.
        "submission": {
            "due_at": _iso(submission.due_at) if submission else None,
            "state": submission.state.value if submission else None,
            "submitted_at": _iso(ticket.submitted_at),
            "returned_comment": returned.comment if returned and ticket.status == TicketStatus.RETURNED else None,
            "fault_category_id": ticket.fault_category_id, "root_cause": ticket.root_cause,
            "solution_summary": ticket.solution_summary, "parts_used": ticket.parts_used,
        },
        "fault_categories": faults,
        "facts": flow.facts_of(ticket),
        "knowledge": [{"id": a.id, "title": a.title, "symptoms": a.symptoms, "solution": a.solution,
                       "precautions": a.precautions} for a in articles],
    }
