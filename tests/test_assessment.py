"""The monthly assessment of each technician on a hand-built November 2026 whose answers are known: every figure of
two technicians and the team's median, month boundaries in Asia/Shanghai, the intake clock no longer credited to
technicians in the weekly report, who may open it, the CSV, the PDF, the JSON and hostile months."""
from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from domain.core import accounts
from domain.core.blobs import store_blob
from domain.core.db import db
from domain.core.enums import AnalysisTrigger, Channel, ClockName, ReviewDecision, Role, TicketStatus, Urgency
from domain.core.errors import DomainError
from domain.core.models import User
from domain.customer.models import FollowUpRating
from domain.documents.models import CaseAnalysis, Review
from domain.fieldwork.models import Signature
from domain.reporting import assessment as assessing
from domain.reporting import reports
from domain.requests.models import Customer, Ticket
from domain.sla.models import TicketClock
from domain.sla.rules import CLOCK_RULES

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=SH)  # November 2026 is the last complete month
ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return at(11, day, hour, minute)


class Month:
    """Requests written straight into the tables with exactly the clocks, signatures, ratings, reviews and case
    analyses each case needs."""

    def __init__(self):
        self.customer = Customer(name="测试客户直播间", phone="13800000000")
        db.session.add(self.customer)
        self.blob = store_blob(b"\x89PNG fake signature", "image/png").sha256
        self.boss = accounts.create_user(f"boss-{uuid.uuid4().hex[:4]}", "long-enough-pw", Role.SUPERVISOR,
                                         display_name="主管", via="cli")

    def ticket(self, assignee: User | None, created: datetime, *, status=TicketStatus.ASSIGNED,
               remote: datetime | None = None) -> Ticket:
        ticket = Ticket(number=f"FS-A-{uuid.uuid4().hex[:8]}", status=status, urgency=Urgency.NORMAL,
                        channel=Channel.PHONE, customer=self.customer, contact_phone="13800000000",
                        device_model_text="ATEM Mini Pro", problem="无信号", reported_at=created - timedelta(minutes=5),
                        created_at=created, assignee=assignee, remote_resolved_at=remote,
                        cancelled_at=created + timedelta(hours=1) if status == TicketStatus.CANCELLED else None)
        db.session.add(ticket)
        return ticket

    def clock(self, ticket: Ticket, name: ClockName, due: datetime, done: datetime | None = None, *,
              not_applicable: bool = False) -> None:
        ticket.clocks.append(TicketClock(name=name, started_at=due - timedelta(minutes=30), due_at=due, done_at=done,
                                         not_applicable=not_applicable))

    def sign(self, ticket: Ticket, rating: int | None, when: datetime) -> None:
        db.session.flush()
        db.session.add(Signature(ticket=ticket, signer_name="客户", rating=rating, png_sha256=self.blob,
                                 signed_at_client=when, signed_at=when, device_id="phone",
                                 technician_id=ticket.assignee_id or self.boss.id))

    def rate_afterwards(self, ticket: Ticket, rating: int, when: datetime) -> None:
        db.session.add(FollowUpRating(ticket=ticket, rating=rating, rated_at=when))

    def review(self, ticket: Ticket, decision: ReviewDecision, when: datetime) -> None:
        db.session.add(Review(ticket=ticket, reviewer=self.boss, decision=decision, created_at=when,
                              comment="请补充" if decision == ReviewDecision.RETURNED else None))

    def analysis(self, ticket: Ticket, trigger: AnalysisTrigger, opened: datetime, done: datetime | None) -> None:
        db.session.add(CaseAnalysis(ticket=ticket, trigger=trigger, opened_at=opened, due_at=opened + timedelta(days=3),
                                    completed_at=done))
        self.clock(ticket, ClockName.CASE_ANALYSIS, opened + timedelta(days=3), done)


def technician(username: str, name: str, *, active: bool = True) -> User:
    user = accounts.create_user(username, "long-enough-pw", Role.TECHNICIAN, display_name=name, via="cli")
    user.active = active
    return user


@pytest.fixture
def november(app):
    with app.app_context():
        build_november()
    return "2026-11"


def build_november() -> None:
    """November 2026 in Shanghai: li and wang with known figures, zhao active with nothing, an inactive technician
    with nothing (not listed), an unassigned request (nobody's), and requests just outside the month."""
    li, wang = technician("li", "李明"), technician("wang", "王芳")
    technician("zhao", "赵强")
    technician("gone", "离职", active=False)
    m = Month()
    # L1 li: solved remotely; every deadline of its path met; approved at once; a first-seen fault type;
    # rated 5 afterwards.
    l1 = m.ticket(li, nov(2, 9), status=TicketStatus.APPROVED, remote=nov(2, 9, 30))
    m.clock(l1, ClockName.INTAKE, nov(2, 9), nov(2, 8, 58))                 # customer service's, met
    m.clock(l1, ClockName.FIRST_CONTACT, nov(2, 10), nov(2, 9, 5))
    m.clock(l1, ClockName.REMOTE_FIX, nov(2, 9, 35), nov(2, 9, 30))
    m.clock(l1, ClockName.ORDER_FILED, nov(2, 9, 40), nov(2, 9, 38))
    m.clock(l1, ClockName.SUBMISSION, nov(2, 11, 30), nov(2, 10))
    m.review(l1, ReviewDecision.APPROVED, nov(3, 10))
    m.analysis(l1, AnalysisTrigger.FIRST_SEEN, nov(3, 10), nov(4, 16))      # the supervisors' clock
    m.rate_afterwards(l1, 5, nov(4, 12))
    # L2 li: on site; contact late, preparation in time, submitted late; returned once, then approved.
    l2 = m.ticket(li, nov(10, 10), status=TicketStatus.APPROVED)
    m.clock(l2, ClockName.INTAKE, nov(10, 10), nov(10, 10, 20))              # missed by customer service
    m.clock(l2, ClockName.FIRST_CONTACT, nov(10, 11), nov(10, 11, 15))
    m.clock(l2, ClockName.PREPARATION, nov(11, 13), nov(11, 12))
    m.clock(l2, ClockName.SUBMISSION, nov(11, 17), nov(11, 18))
    m.sign(l2, 4, nov(11, 15))
    m.review(l2, ReviewDecision.RETURNED, nov(12, 9))
    m.review(l2, ReviewDecision.APPROVED, nov(13, 9))
    # L3 li: cancelled: not handled, its clock not applicable.
    l3 = m.ticket(li, nov(20, 9), status=TicketStatus.CANCELLED)
    m.clock(l3, ClockName.FIRST_CONTACT, nov(20, 10), not_applicable=True)
    # L4 li: never contacted: missed once due.
    l4 = m.ticket(li, nov(28, 10))
    m.clock(l4, ClockName.FIRST_CONTACT, nov(28, 11))
    # L5 li: entered 31 October 23:50 (October's), contacted and signed in November with 2 stars.
    l5 = m.ticket(li, at(10, 31, 23, 50), status=TicketStatus.SIGNED)
    m.clock(l5, ClockName.FIRST_CONTACT, nov(1, 0, 50), nov(1, 0, 10))
    m.sign(l5, 2, nov(1, 0, 30))
    # W1 wang: solved remotely, the order filled late; returned twice, then approved; a complex case; rated 3
    # afterwards.
    w1 = m.ticket(wang, nov(5, 14), status=TicketStatus.APPROVED, remote=nov(5, 14, 20))
    m.clock(w1, ClockName.FIRST_CONTACT, nov(5, 15), nov(5, 14, 10))
    m.clock(w1, ClockName.REMOTE_FIX, nov(5, 14, 40), nov(5, 14, 20))
    m.clock(w1, ClockName.ORDER_FILED, nov(5, 14, 30), nov(5, 14, 50))
    m.review(w1, ReviewDecision.RETURNED, nov(6, 9))
    m.review(w1, ReviewDecision.RETURNED, nov(7, 9))
    m.review(w1, ReviewDecision.APPROVED, nov(8, 9))
    m.analysis(w1, AnalysisTrigger.COMPLEX, nov(8, 9), None)
    m.rate_afterwards(w1, 3, nov(9, 9))
    # W2 wang: on site, preparation late, signed without a rating, not reviewed yet.
    w2 = m.ticket(wang, nov(15, 9), status=TicketStatus.SUBMITTED)
    m.clock(w2, ClockName.FIRST_CONTACT, nov(15, 10), nov(15, 9, 20))
    m.clock(w2, ClockName.PREPARATION, nov(16, 9), nov(16, 9, 30))
    m.clock(w2, ClockName.SUBMISSION, nov(16, 14), nov(16, 12))
    m.sign(w2, None, nov(16, 10))
    # W3 wang: entered 30 November 23:30 (November's); its contact is due 1 December 00:00 (December's).
    w3 = m.ticket(wang, nov(30, 23, 30))
    m.clock(w3, ClockName.FIRST_CONTACT, at(12, 1, 0, 0))
    # W4 wang: entered 1 December 00:10: not November's at all.
    w4 = m.ticket(wang, at(12, 1, 0, 10))
    m.clock(w4, ClockName.FIRST_CONTACT, at(12, 1, 1, 10), at(12, 1, 0, 20))
    # U1 nobody's: counted for no technician.
    u1 = m.ticket(None, nov(3, 9), status=TicketStatus.REMOTE_RESOLVED, remote=nov(3, 9, 30))
    m.clock(u1, ClockName.FIRST_CONTACT, nov(3, 10), nov(3, 9, 10))
    m.sign(u1, 1, nov(3, 11))
    db.session.commit()


def figure(data: dict, key: str) -> tuple:
    return data[key]["numerator"], data[key]["denominator"], data[key]["value"]


def test_two_technicians_exact_figures(app, november):
    with app.app_context():
        data = assessing.assessment(november, NOW, SH).as_dict()
    assert data["month"] == "2026-11" and data["complete"] is True
    assert data["start"] == "2026-11-01T00:00:00+08:00" and data["end"] == "2026-12-01T00:00:00+08:00"
    assert list(data["by_technician"]) == ["li", "wang", "zhao"]  # the inactive one with nothing is left out
    li, wang = data["by_technician"]["li"], data["by_technician"]["wang"]
    assert li["display_name"] == "李明"
    # li: L1, L2, L4 handled (L3 cancelled, L5 October's); L1 remote, L2 signed.
    assert li["handled"] == {"count": 3, "remote": 1, "on_site": 1, "closed_unsigned": 0}
    assert figure(li, "resolution_rate") == (2, 3, round(2 / 3, 4))
    assert figure(li, "response_rate") == (2, 4, 0.5)         # L1, L5 met; L2 late, L4 never
    assert figure(li, "remote_fix") == (1, 1, 1.0)
    assert figure(li, "order_filed") == (1, 1, 1.0)
    assert figure(li, "preparation") == (1, 1, 1.0)
    assert figure(li, "submission") == (1, 2, 0.5)
    assert "intake" not in li and "case_analysis" not in li  # customer service's and the supervisors' clocks
    assert figure(li, "satisfaction") == (2, 3, round(2 / 3, 4)) and li["satisfaction"]["mean"] == 3.67
    assert figure(li["satisfaction"]["sources"], "on_site") == (1, 2, 0.5)
    assert li["satisfaction"]["sources"]["on_site"]["mean"] == 3
    assert figure(li["satisfaction"]["sources"], "follow_up") == (1, 1, 1.0)
    assert figure(li, "returned") == (1, 2, 0.5) and li["returned"]["returns"] == 1
    assert li["case_analyses"] == {"count": 1, "orders_approved": 2, "first_seen": 1, "complex": 0, "completed": 1}
    # wang: W1, W2, W3 handled (W4 December's); W3's contact is due in December.
    assert wang["handled"] == {"count": 3, "remote": 1, "on_site": 1, "closed_unsigned": 0}
    assert figure(wang, "resolution_rate") == (2, 3, round(2 / 3, 4))
    assert figure(wang, "response_rate") == (2, 2, 1.0)
    assert figure(wang, "order_filed") == (0, 1, 0.0)
    assert figure(wang, "preparation") == (0, 1, 0.0)
    assert figure(wang, "submission") == (1, 1, 1.0)
    assert figure(wang, "satisfaction") == (0, 1, 0.0) and wang["satisfaction"]["mean"] == 3
    assert wang["satisfaction"]["sources"]["on_site"]["value"] is None  # signed without a rating
    assert figure(wang, "returned") == (1, 1, 1.0) and wang["returned"]["returns"] == 2
    assert wang["case_analyses"] == {"count": 1, "orders_approved": 1, "first_seen": 0, "complex": 1,
                                     "completed": 0}
    zhao = data["by_technician"]["zhao"]
    assert zhao["handled"]["count"] == 0 and figure(zhao, "response_rate") == (0, 0, None)


def test_team_median_beside_each_figure(app, november):
    with app.app_context():
        median = assessing.assessment(november, NOW, SH).as_dict()["median"]
    # Counts over the three technicians listed (zhao's 0 too); rates over those with something to count.
    assert median["handled"] == {"value": 3, "technicians": 3}
    assert median["case_analyses"] == {"value": 1, "technicians": 3}
    assert median["resolution_rate"] == {"value": round(2 / 3, 4), "technicians": 2}
    assert median["response_rate"] == {"value": 0.75, "technicians": 2}
    assert median["order_filed"] == {"value": 0.5, "technicians": 2}
    assert median["submission"] == {"value": 0.75, "technicians": 2}
    assert median["satisfaction"]["value"] == pytest.approx(round(2 / 3, 4) / 2, abs=1e-4)
    assert median["satisfaction_on_site"] == {"value": 0.5, "technicians": 1}
    assert median["satisfaction_follow_up"] == {"value": 0.5, "technicians": 2}
    assert median["returned"] == {"value": 0.75, "technicians": 2}


def test_one_statement_per_family_whatever_the_number_of_technicians(app, november):
    with app.app_context():
        for n in range(10):
            technician(f"extra{n}", f"技术员{n}")
        db.session.commit()
        statements = []

        def count(*args):
            statements.append(args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            report = assessing.assessment(november, NOW, SH)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert len(report.technicians) == 13
    assert len(statements) == 6, statements  # requests, clocks, ratings, reviews, case analyses, technicians


def test_intake_clock_is_not_credited_to_technicians_in_the_weekly_report(app, november):
    """2026-W45 (2-8 November): L1's intake (customer service's, met) and its case analysis (the supervisors',
    met) count for the team only; before clocks had owners, li was credited with both."""
    assert CLOCK_RULES[ClockName.INTAKE].owner == Role.DISPATCHER
    assert CLOCK_RULES[ClockName.FIRST_CONTACT].owner == Role.TECHNICIAN
    with app.app_context():
        data = reports.weekly_report("2026-W45", NOW, SH).as_dict()
        rows = reports.rows(reports.weekly_report("2026-W45", NOW, SH))
    assert figure(data, "intake") == (1, 1, 1.0)
    assert figure(data, "case_analysis") == (1, 1, 1.0)
    li = data["by_technician"]["li"]
    assert figure(li, "intake") == (0, 0, None)
    assert figure(li, "case_analysis") == (0, 0, None)
    assert figure(li, "response_rate") == (1, 1, 1.0) and figure(li, "submission") == (1, 1, 1.0)
    li_rows = [row["key"] for row in rows if row["technician"] and row["technician"].username == "li"]
    assert "intake" not in li_rows and "case_analysis" not in li_rows and "response_rate" in li_rows


def test_weekly_csv_technician_rows_leave_out_the_intake(client, november, signed_in):
    signed_in(Role.SUPERVISOR)
    table = list(csv.reader(io.StringIO(client.get("/reports/weekly.csv?week=2026-W45", headers=EN)
                                        .get_data().decode("utf-8-sig"))))
    head = table[0]
    code, account = head.index("Figure code"), head.index("Technician account")
    assert {row[code] for row in table[1:] if row[account] == ""} >= {"intake", "case_analysis"}
    assert not {row[code] for row in table[1:] if row[account] == "li"} & {"intake", "case_analysis"}


# --- months --------------------------------------------------------------------------------------------------


def test_month_boundaries_in_shanghai_and_the_default(app):
    with app.app_context():
        month = assessing.parse_month("2026-2", NOW, SH)
    assert month.label == "2026-02" and month.last.isoformat() == "2026-02-28"
    assert month.start.isoformat() == "2026-02-01T00:00:00+08:00"
    assert assessing.Month(2026, 12, SH).shifted(1).label == "2027-01"
    assert assessing.last_complete_month(datetime(2026, 12, 1, 0, 5, tzinfo=SH), SH).label == "2026-11"
    # 30 November 17:00 UTC is already 1 December in Shanghai.
    assert assessing.last_complete_month(datetime.fromisoformat("2026-11-30T17:00:00+00:00"), SH).label == "2026-11"


@pytest.mark.parametrize("text,code", [
    ("2026-13", "bad_month"), ("2026-00", "bad_month"), ("9999-12", "future_month"), ("1999-12", "bad_month"),
    ("12345678901234567890", "bad_month"), ("2026-11\x00", "bad_month"), ("2026-1²", "bad_month"),
    ("２０２６-１１", "bad_month"), ("2026-W47", "bad_month"), ("2026-11" + "1" * 20, "bad_month"),
])
def test_bad_months_are_refused_with_a_code(app, text, code):
    with app.test_request_context(headers=EN), pytest.raises(DomainError) as refused:
        assessing.parse_month(text, NOW, SH)
    assert refused.value.code == code and str(refused.value.message)


HOSTILE = ["2026-13", "9999-12", "2026-11%00", "%00", "12345678901234567890", "2026-1%C2%B2", "%ED%A0%80",
           "2026-" + "9" * 20, "x" * 5000]


@pytest.mark.parametrize("month", HOSTILE)
def test_hostile_months_are_a_clear_400_never_a_500(client, signed_in, month):
    signed_in(Role.SUPERVISOR)
    page = client.get(f"/reports/assessment?month={month}", headers=EN)
    assert page.status_code == 400, page.status_code
    api = client.get(f"/api/v1/reports/assessment?month={month}")
    assert api.status_code == 400 and api.is_json and api.get_json()["error"]["message"]
    for export in ("csv", "pdf"):
        assert client.get(f"/reports/assessment.{export}?month={month}").status_code == 400


def test_the_page_says_why_a_month_is_refused(client, signed_in):
    signed_in(Role.SUPERVISOR)
    body = client.get("/reports/assessment?month=2026-13", headers=EN).get_data(as_text=True)
    assert "A year has no month 13" in body and 'aria-invalid="true"' in body
    body = client.get("/reports/assessment?month=9999-12", headers=ZH).get_data(as_text=True)
    assert "9999-12" in body and "尚未开始" in body


def test_an_unknown_technician_is_a_404_with_a_message(client, november, signed_in):
    signed_in(Role.SUPERVISOR)
    response = client.get("/reports/assessment?month=2026-11&technician=nobody", headers=EN)
    assert response.status_code == 404 and "No technician with that account" in response.get_data(as_text=True)
    assert client.get("/reports/assessment?month=2026-11&technician=" + "a" * 5000).status_code == 404
    assert client.get("/api/v1/reports/assessment?month=2026-11").status_code == 200


# --- access --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.DISPATCHER, Role.EXPERT])
def test_only_supervisors_and_admins_open_it(client, november, signed_in, role):
    signed_in(role)
    for path in ("/reports/assessment", "/reports/assessment.csv", "/reports/assessment.pdf",
                 "/api/v1/reports/assessment", "/reports/assessment?technician=li"):
        assert client.get(path + ("&" if "?" in path else "?") + "month=2026-11").status_code == 403, path


def test_anonymous_is_sent_to_sign_in_and_the_api_answers_401(client):
    assert client.get("/reports/assessment").status_code == 302
    assert client.get("/api/v1/reports/assessment").status_code == 401


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisor_and_admin_see_the_page(client, november, signed_in, role):
    signed_in(role)
    body = client.get("/reports/assessment?month=2026-11&technician=li", headers=ZH).get_data(as_text=True)
    for expected in ("技术支持专员考核", "李明", "王芳", "赵强", "团队中位数", "2/3", "2/4", "1/2", "75%"):
        assert expected in body, expected
    assert "离职" not in body
    assert 'id="technician-figures"' in body and 'value="li" selected' in body


# --- the page, CSV, PDF --------------------------------------------------------------------------------------


def test_page_defaults_to_last_month_and_says_when_there_is_nothing(client, signed_in):
    signed_in(Role.SUPERVISOR)
    body = client.get("/reports/assessment", headers=EN).get_data(as_text=True)
    last = assessing.last_complete_month(datetime.now(SH), SH).label
    assert f'value="{last}"' in body and 'id="no-data"' in body and f"Nothing to count in {last}" in body
    body = client.get("/reports/assessment?month=2026-03", headers=ZH).get_data(as_text=True)
    assert 'id="no-data"' in body and "2026-03" in body


def test_page_shows_the_definitions(client, november, signed_in):
    signed_in(Role.SUPERVISOR)
    body = client.get("/reports/assessment?month=2026-11", headers=EN).get_data(as_text=True)
    assert "Resolution rate = requests resolved / requests handled" in body
    assert "remote fixes included" in body and 'id="no-data"' not in body
    assert 'id="technician-figures"' not in body and 'id="team-overview"' in body


def test_csv_has_bom_and_one_row_per_technician_and_figure_then_the_medians(client, november, signed_in):
    signed_in(Role.SUPERVISOR)
    response = client.get("/reports/assessment.csv?month=2026-11", headers=ZH)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="assessment-2026-11.csv"' in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    head = table[0]
    assert head == ["月份", "专员账号", "技术支持专员", "指标代码", "指标", "分子", "分母", "比率", "计时中",
                    "平均评分", "团队中位数", "中位数人数"]
    n = len(assessing.FIGURE_KEYS)
    assert len(table) == 1 + n * 3 + n
    rows = [dict(zip(head, row, strict=True)) for row in table[1:]]
    li_response = next(r for r in rows if r["专员账号"] == "li" and r["指标代码"] == "response_rate")
    assert (li_response["分子"], li_response["分母"], li_response["比率"], li_response["团队中位数"]) == \
        ("2", "4", "0.5", "0.75")
    wang_returned = next(r for r in rows if r["专员账号"] == "wang" and r["指标代码"] == "returned")
    assert (wang_returned["分子"], wang_returned["分母"], wang_returned["比率"]) == ("1", "1", "1.0")
    li_handled = next(r for r in rows if r["专员账号"] == "li" and r["指标代码"] == "handled")
    assert (li_handled["分子"], li_handled["分母"], li_handled["比率"]) == ("3", "", "3")
    medians = [r for r in rows if r["技术支持专员"] == "团队中位数"]
    assert len(medians) == n and all(r["专员账号"] == "" for r in medians)
    one = client.get("/reports/assessment.csv?month=2026-11&technician=wang", headers=EN)
    assert 'filename="assessment-2026-11-wang.csv"' in one.headers["Content-Disposition"]
    accounts_in = {row[1] for row in csv.reader(io.StringIO(one.get_data().decode("utf-8-sig")))}
    assert accounts_in == {"Technician account", "wang", ""}


def poppler(tool: str, *args) -> str:
    if not shutil.which(tool):
        pytest.fail(f"{tool} is missing: apt-get install poppler-utils (make test installs it)")
    result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pdf_has_the_chinese_heading_and_an_embedded_sc_font(client, november, signed_in, tmp_path):
    signed_in(Role.SUPERVISOR)
    response = client.get("/reports/assessment.pdf?month=2026-11&technician=li", headers=ZH)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert 'filename="assessment-2026-11-li.pdf"' in response.headers["Content-Disposition"]
    path = tmp_path / "assessment.pdf"
    path.write_bytes(response.get_data())
    text = poppler("pdftotext", "-layout", str(path), "-")
    for expected in ("技术支持专员考核 2026-11", "李明", "王芳", "团队中位数", "2/4", "问题解决率"):
        assert expected in text, expected
    fonts = poppler("pdffonts", str(path))
    assert "Noto-Sans-CJK-SC" in fonts and not re.search(r"CJK-?JP|CJKjp|JP-", fonts), fonts
    assert re.search(r"Page size:\s+841.89 x 595.276 pts", poppler("pdfinfo", str(path)))  # A4 landscape


def test_json_api_keeps_the_weekly_style(client, november, signed_in):
    signed_in(Role.SUPERVISOR)
    data = client.get("/api/v1/reports/assessment?month=2026-11").get_json()
    assert data["timezone"] == "Asia/Shanghai" and data["month"] == "2026-11"
    assert set(data["median"]) == set(assessing.FIGURE_KEYS)
    assert figure(data["by_technician"]["li"], "submission") == (1, 2, 0.5)
    assert client.get("/api/v1/reports/assessment?month=9999-12").get_json()["error"]["code"] == "future_month"
