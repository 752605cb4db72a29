"""Ticket numbers: FS-YYYY-NNNNNN, per year in the company's time zone, unique under concurrency."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

from domain.core.db import db
from domain.core.enums import Channel, Urgency
from domain.requests.intake import Intake, open_ticket
from domain.requests.models import Customer, Ticket
from domain.requests.numbering import allocate_ticket_number

from .helpers import SHANGHAI


def _intake(customer):
    return Intake(customer=customer, contact_phone="13800000000", device_model_text="ATEM Mini",
                  problem="无信号", urgency=Urgency.URGENT, channel=Channel.PHONE,
                  reported_at=datetime.now(UTC))


def test_numbers_count_up_per_year(app):
    with app.app_context():
        at = datetime(2026, 6, 1, tzinfo=UTC)
        assert [allocate_ticket_number(at, SHANGHAI) for _ in range(3)] == [
            "FS-2026-000001", "FS-2026-000002", "FS-2026-000003"]
        assert allocate_ticket_number(datetime(2027, 6, 1, tzinfo=UTC), SHANGHAI) == "FS-2027-000001"


def test_the_year_is_the_companys_local_year(app):
    with app.app_context():
        # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai.
        assert allocate_ticket_number(datetime(2026, 12, 31, 17, 0, tzinfo=UTC), SHANGHAI) == "FS-2027-000001"


def test_concurrent_creation_gives_unique_numbers(app):
    with app.app_context():
        customer = Customer(name="并发测试客户")
        db.session.add(customer)
        db.session.commit()
        customer_id = customer.id
    per_thread, threads = 10, 6
    errors = []
    barrier = threading.Barrier(threads)

    def work():
        try:
            with app.app_context():
                barrier.wait()
                for _ in range(per_thread):
                    customer = db.session.get(Customer, customer_id)
                    open_ticket(_intake(customer), actor=None, tz=SHANGHAI)
                    db.session.commit()
                db.session.remove()
        except Exception as error:  # collected and asserted below
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    with app.app_context():
        numbers = db.session.execute(db.select(Ticket.number)).scalars().all()
    year = datetime.now(SHANGHAI).year
    assert sorted(numbers) == [f"FS-{year}-{i:06d}" for i in range(1, per_thread * threads + 1)]


def test_times_are_stored_and_read_back_as_utc(app):
    with app.app_context():
        customer = Customer(name="时区客户")
        db.session.add(customer)
        reported = datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI)
        intake = _intake(customer)
        intake.reported_at = reported
        ticket = open_ticket(intake, actor=None, tz=SHANGHAI)
        db.session.commit()
        ticket_id = ticket.id
        db.session.expire_all()
        stored = db.session.get(Ticket, ticket_id).reported_at
        assert stored == reported and stored.tzinfo is not None and stored.utcoffset().total_seconds() == 0
        assert stored.hour == 1
