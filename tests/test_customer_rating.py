"""Satisfaction afterwards: once the service is over (signed on site, or solved remotely) the tracking page asks
for a rating 1..5 with a comment, accepted once; the weekly report keeps the two sources apart and counts the
services that got no rating."""
from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from domain.core.db import db
from domain.core.enums import TicketStatus
from domain.customer.models import FollowUpRating
from domain.reporting import reports
from domain.requests.models import Ticket

from .helpers import NOW, SHANGHAI, Builder, csrf_from, local, signed_client, technician
from .orderfactory import make_signed_order


def _tracking_path(app, boss_id: int, number: str) -> str:
    url = signed_client(app, boss_id).get(f"/api/v1/requests/{number}").get_json()["tracking_url"]
    return "/c/" + url.rsplit("/c/", 1)[1]


def _ratings(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(FollowUpRating)).scalar_one()


def test_the_rating_afterwards_is_asked_once_the_service_is_over_and_accepted_once(app, make_user):
    with app.app_context():
        made = make_signed_order(make_user, photos=0, internal_notes=("内部：客户难缠",))
    path = _tracking_path(app, made["ids"]["boss"], made["number"])
    client = app.test_client()
    page = client.get(path).get_data(as_text=True)
    assert 'id="rating-form"' in page and 'name="rating"' in page and 'name="comment"' in page
    assert "客户难缠" not in page and made["number"] in page
    refused = client.post(path + "/rating", data={"rating": "6", "comment": "好"})
    assert refused.status_code == 400 and 'id="rating-error"' in refused.get_data(as_text=True)
    for hostile in ({"rating": "²"}, {"rating": "99999999999999999999"}, {"rating": "5", "comment": "a\x00b"},
                    {"rating": "5", "comment": "长" * 1001}, {"rating": "Infinity"}):
        assert client.post(path + "/rating", data=hostile).status_code == 400
    assert _ratings(app) == 0
    done = client.post(path + "/rating", data={"rating": "4", "comment": "技术员很专业，准时到达"})
    assert done.status_code == 200 and 'id="rating-form"' not in done.get_data(as_text=True)
    again = client.post(path + "/rating", data={"rating": "1", "comment": "改主意了"})
    assert again.status_code == 409
    with app.app_context():
        row = db.session.execute(select(FollowUpRating)).scalar_one()
        assert (row.rating, row.comment) == (4, "技术员很专业，准时到达")
    assert "★★★★☆" in client.get(path).get_data(as_text=True)
    assert client.post(path[:-4] + "xxxx/rating", data={"rating": "5"}).status_code == 404


def test_no_rating_before_the_service_is_over(app, make_user):
    with app.app_context():
        made = make_signed_order(make_user, photos=0, sign=False)
    path = _tracking_path(app, made["ids"]["boss"], made["number"])
    client = app.test_client()
    assert 'id="rating-form"' not in client.get(path).get_data(as_text=True)
    assert client.post(path + "/rating", data={"rating": "5"}).status_code == 400
    assert _ratings(app) == 0


def test_the_rating_form_keeps_its_values_when_the_form_expired(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        made = make_signed_order(make_user, photos=0)
    with app.app_context():
        from domain.core.site import current
        from domain.customer.tracking import tracking_path

        ticket = db.session.execute(select(Ticket).where(Ticket.number == made["number"])).scalar_one()
        path = tracking_path(ticket, current())
    client = app.test_client()
    expired = client.post(path + "/rating", data={"rating": "5", "comment": "很好"})
    assert expired.status_code == 400 and "很好" in expired.get_data(as_text=True)
    token = csrf_from(client.get(path).get_data(as_text=True))
    assert client.post(path + "/rating", data={"rating": "5", "csrf_token": token}).status_code == 200
    assert _ratings(app) == 1


def test_a_revoked_tracking_link_no_longer_opens_and_the_new_one_does(app, make_user):
    with app.app_context():
        made = make_signed_order(make_user, photos=0)
    old = _tracking_path(app, made["ids"]["boss"], made["number"])
    desk = signed_client(app, made["ids"]["desk"])
    assert made["number"] in desk.get(f"/dispatch/requests/{made['number']}").get_data(as_text=True)
    assert desk.post(f"/dispatch/requests/{made['number']}/tracking/revoke").status_code == 302
    client = app.test_client()
    gone = client.get(old)
    assert gone.status_code == 404 and made["number"] not in gone.get_data(as_text=True)
    assert client.post(old + "/rating", data={"rating": "5"}).status_code == 404
    new = _tracking_path(app, made["ids"]["boss"], made["number"])
    assert new != old and client.get(new).status_code == 200


@pytest.fixture
def rated_week(app):
    with app.app_context():
        li = technician("li", "李明")
        b = Builder()
        on_site = b.ticket(li, local(17, 9), status=TicketStatus.SIGNED)
        b.sign(on_site, 5, local(17, 11))
        skipped = b.ticket(li, local(18, 9), status=TicketStatus.SIGNED)
        b.sign(skipped, None, local(18, 11))
        remote = b.ticket(li, local(19, 9), status=TicketStatus.REMOTE_RESOLVED, remote_resolved=local(19, 9, 40))
        silent = b.ticket(None, local(20, 9), status=TicketStatus.REMOTE_RESOLVED, remote_resolved=local(20, 10))
        b.ticket(None, local(21, 9), status=TicketStatus.REMOTE_RESOLVED, remote_resolved=local(21, 10))  # never rated
        db.session.flush()
        db.session.add_all([
            FollowUpRating(ticket_id=skipped.id, rating=2, comment="等太久", rated_at=local(19, 8)),
            FollowUpRating(ticket_id=remote.id, rating=4, rated_at=local(21, 20)),
            # Rated afterwards in the next week: counted there, not here.
            FollowUpRating(ticket_id=silent.id, rating=5, rated_at=local(23, 0, 30)),
        ])
        db.session.commit()
    return "2026-W47"


def test_the_weekly_report_keeps_the_two_sources_apart_and_counts_the_unrated(app, rated_week):
    with app.app_context():
        data = reports.weekly_report(rated_week, NOW, SHANGHAI).as_dict()
    sat = data["satisfaction"]
    on_site = sat["sources"]["on_site"]
    assert (on_site["numerator"], on_site["denominator"], on_site["mean"]) == (1, 1, 5.0)
    follow = sat["sources"]["follow_up"]
    assert (follow["numerator"], follow["denominator"], follow["mean"]) == (1, 2, 3.0)
    assert (sat["numerator"], sat["denominator"], sat["mean"]) == (2, 3, 3.67)
    assert sat["unrated"] == 1  # the remote fix never rated (the other one was rated the week after: it counts there)
    li = data["by_technician"]["li"]["satisfaction"]
    assert (li["denominator"], li["unrated"]) == (3, 0)


def test_the_weekly_api_and_page_show_the_sources(app, rated_week, make_user):
    from domain.core.enums import Role

    make_user(Role.SUPERVISOR, "boss")
    client = signed_client(app, "boss")
    data = client.get(f"/api/v1/reports/weekly?week={rated_week}").get_json()
    assert set(data["satisfaction"]["sources"]) == {"on_site", "follow_up"}
    table = list(csv.reader(io.StringIO(client.get(f"/reports/weekly.csv?week={rated_week}").data
                                        .decode("utf-8-sig"))))
    team = {r[1]: r for r in table[1:] if r[4] == ""}
    assert (team["satisfaction.on_site"][6], team["satisfaction.on_site"][7]) == ("1", "1")
    assert (team["satisfaction.follow_up"][6], team["satisfaction.follow_up"][7]) == ("1", "2")
    assert team["satisfaction.unrated"][6] == "1"
    page = client.get(f"/reports/weekly?week={rated_week}").get_data(as_text=True)
    assert 'id="rating-sources"' in page
    sources = page.split('id="rating-sources"', 1)[1].split("</p>", 1)[0]
    assert re.search(r"5\.0", sources) and re.search(r"3\.0", sources)
