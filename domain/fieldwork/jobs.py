"""`GET /api/v1/me/jobs`: everything a technician's phone needs to work offline on their assigned requests."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ..core.db import db
from ..core.enums import ArticleStatus, TicketStatus
from ..core.models import KbArticle, Ticket, User, Visit
from ..sla.clocks import ticket_clocks

# Open work, plus signed orders whose technician has not left the site yet (departure is still to record).
ACTIVE = (TicketStatus.ASSIGNED, TicketStatus.CONTACTED, TicketStatus.VISIT_SCHEDULED, TicketStatus.ON_SITE,
          TicketStatus.SIGNED)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def jobs_for(user: User, now: datetime) -> list[dict]:
    tickets = db.session.execute(
        select(Ticket).where(Ticket.assignee_id == user.id, Ticket.status.in_(ACTIVE))
        .options(selectinload(Ticket.customer), selectinload(Ticket.device_category),
                 selectinload(Ticket.visits).selectinload(Visit.prep_items), selectinload(Ticket.clocks),
                 selectinload(Ticket.notes), selectinload(Ticket.tests), selectinload(Ticket.precautions),
                 selectinload(Ticket.signature))
        .order_by(Ticket.next_due_at.is_(None), Ticket.next_due_at)
    ).scalars().all()
    tickets = [t for t in tickets if t.status != TicketStatus.SIGNED or
               (t.current_visit is not None and t.current_visit.departed_at is None)]
    category_ids = {t.device_category_id for t in tickets if t.device_category_id}
    articles = []
    if category_ids:
        articles = db.session.execute(
            select(KbArticle).where(KbArticle.status == ArticleStatus.PUBLISHED,
                                    or_(KbArticle.device_category_id.in_(category_ids),
                                        KbArticle.device_category_id.is_(None)))
            .order_by(KbArticle.updated_at.desc()).limit(200)
        ).scalars().all()
    return [_job(t, now, [a for a in articles if a.device_category_id in (t.device_category_id, None)][:20])
            for t in tickets]


def _job(ticket: Ticket, now: datetime, articles: list[KbArticle]) -> dict:
    category = ticket.device_category
    visit = ticket.current_visit
    return {
        "number": ticket.number,
        "status": ticket.status.value,
        "urgency": ticket.urgency.value,
        "version": ticket.version,
        "customer": {"name": ticket.customer.name, "contact": ticket.contact_name, "phone": ticket.contact_phone,
                     "address": ticket.address},
        "device": {"model": ticket.device_model_text, "serial": ticket.serial_number,
                   "category": category.code if category else None},
        "problem": ticket.problem,
        "reported_at": _iso(ticket.reported_at),
        "created_at": _iso(ticket.created_at),
        "clocks": [c.as_dict() for c in ticket_clocks(ticket, now)],
        "visit": None if visit is None else {
            "scheduled_at": _iso(visit.scheduled_at), "address": visit.address, "agreed_with": visit.agreed_with,
            "prepared_at": _iso(visit.prep_confirmed_at), "arrived_at": _iso(visit.arrived_at),
            "departed_at": _iso(visit.departed_at),
            "checklist": [{"id": i.id, "kind": i.kind.value, "label": i.label, "checked": i.checked}
                          for i in visit.prep_items],
        },
        "templates": {
            "acceptance_tests": category.acceptance_tests if category else [],
            "precautions": category.precaution_templates if category else [],
        },
        "notes": [{"note_id": str(n.id), "text": n.text, "at": _iso(n.written_at),
                   "shown_to_customer": n.shown_to_customer} for n in ticket.notes],
        "tests": [{"item": t.item, "passed": t.passed, "note": t.note} for t in ticket.tests],
        "precautions": [p.text for p in ticket.precautions],
        "cause": ticket.cause,
        "work_done": ticket.work_done,
        "signed": ticket.signature is not None,
        "knowledge": [{"id": a.id, "title": a.title, "symptoms": a.symptoms, "solution": a.solution,
                       "precautions": a.precautions} for a in articles],
    }
