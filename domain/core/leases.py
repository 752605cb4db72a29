"""A job the worker builds (a FAQ manual, a ZIP export) is held under a lease while it runs: a worker still holding
it keeps it alone; one killed mid-build leaves the lease to pass, and the minute tick queues the job again. The
job's model has `state` (queued | running | done | failed), `created_at` and `lease_until`."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from .db import db


def held(job, now: datetime) -> bool:
    """Another worker is building it, and its lease has not passed."""
    return job.state == "running" and job.lease_until is not None and job.lease_until > now


def take(job, now: datetime, lease: timedelta) -> None:
    job.state, job.lease_until = "running", now + lease


def lost(model, now: datetime, queued_for: timedelta) -> list[int]:
    """Jobs queued longer than `queued_for` (their task was lost) or running past their lease (the worker was
    killed), oldest first."""
    return list(db.session.execute(select(model.id).where(or_(
        and_(model.state == "queued", model.created_at < now - queued_for),
        and_(model.state == "running", or_(model.lease_until.is_(None), model.lease_until < now))))
        .order_by(model.id)).scalars())
