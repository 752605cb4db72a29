"""The weekly report: each figure on a hand-built week whose answers are known, week boundaries in Asia/Shanghai,
the week before, per technician, an empty week, bad weeks, and the page, CSV, PDF, JSON API and CLI."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from domain.core.db import db
from domain.core.enums import ClockName, Role, TicketStatus
from domain.core.errors import DomainError
from domain.core.models import User
from domain.reporting import reports

from .helpers import NOW, SHANGHAI, ZH, Builder, local, technician


@pytest.fixture
def week(app):
    """2026-W47 with times on both sides of its boundaries (Sunday 23:30 vs Monday 00:10, Shanghai time)."""
    with app.app_context():
        technician("zhao", "赵强")  # active, nothing to count
        li, wang = technician("li", "李明"), technician("wang", "王芳")
        b = Builder()
        # T1 li: entered Monday 00:00 exactly (belongs to W47), solved remotely.
        t1 = b.ticket(li, local(16, 0, 0), status=TicketStatus.REMOTE_RESOLVED, remote_resolved=local(16, 0, 25))
        b.clock(t1, ClockName.FIRST_CONTACT, local(16, 0, 10), local(16, 0, 5))       # W47 met
        b.clock(t1, ClockName.INTAKE, local(16, 0, 5), local(16, 0, 3))               # W47 met
        b.clock(t1, ClockName.REMOTE_FIX, local(16, 0, 35), local(16, 0, 25))         # W47 met
        b.clock(t1, ClockName.SUBMISSION, local(22, 23, 30), local(23, 0, 20))        # W47 missed (done Monday)
        # T2 li: Sunday 23:30 of W46, signed Sunday 23:55 with 3 stars: all in the week before.
        t2 = b.ticket(li, local(15, 23, 30), status=TicketStatus.SIGNED)
        b.clock(t2, ClockName.FIRST_CONTACT, local(15, 23, 50), local(15, 23, 40))    # W46 met
        b.clock(t2, ClockName.INTAKE, local(15, 23, 45), local(15, 23, 50))           # W46 missed
        b.sign(t2, 3, local(15, 23, 55))
        # T3 li: Sunday 23:30 of W47; first contact due 23:59, done Monday 00:10 (missed, W47); signed Monday (W48).
        t3 = b.ticket(li, local(22, 23, 30), status=TicketStatus.SIGNED)
        b.clock(t3, ClockName.FIRST_CONTACT, local(22, 23, 59), local(23, 0, 10))     # W47 missed
        b.clock(t3, ClockName.PREPARATION, local(21, 9, 0), local(21, 8, 0))          # W47 met
        b.sign(t3, 5, local(23, 0, 30))
        # T4 wang: contact never made (missed once due passed); case analysis done in time.
        t4 = b.ticket(wang, local(18, 9, 30))
        b.clock(t4, ClockName.FIRST_CONTACT, local(18, 10, 0))                         # W47 missed (open)
        b.clock(t4, ClockName.CASE_ANALYSIS, local(20, 18, 0), local(19, 15, 0))       # W47 met
        # T5 wang: cancelled: not in the resolution rate, its clock not applicable.
        t5 = b.ticket(wang, local(19, 9, 0), status=TicketStatus.CANCELLED)
        b.clock(t5, ClockName.FIRST_CONTACT, local(19, 10, 0), not_applicable=True)
        # T6 unassigned: counts for the team only.
        t6 = b.ticket(None, local(20, 9, 30), status=TicketStatus.REMOTE_RESOLVED, remote_resolved=local(20, 10, 20))
        b.clock(t6, ClockName.FIRST_CONTACT, local(20, 10, 0), local(20, 9, 50))      # W47 met
        b.clock(t6, ClockName.REMOTE_FIX, local(20, 10, 30), local(20, 10, 20))       # W47 met
        b.clock(t6, ClockName.ORDER_FILED, local(20, 10, 30), local(20, 10, 55))      # W47 missed
        # T7 wang: Monday 00:05 of W48: not in W47 at all; its contact clock is missed in W48.
        t7 = b.ticket(wang, local(23, 0, 5))
        b.clock(t7, ClockName.FIRST_CONTACT, local(23, 0, 10))
        # T8..T10: signed in W47 (5 li, 2 wang, 4 li), all resolved.
        b.sign(b.ticket(li, local(17, 9, 0), status=TicketStatus.SIGNED), 5, local(17, 15, 0))
        b.sign(b.ticket(wang, local(18, 11, 0), status=TicketStatus.SIGNED), 2, local(21, 16, 0))
        b.sign(b.ticket(li, local(16, 0, 1), status=TicketStatus.SIGNED), 4, local(16, 0, 20))
        # W48: a first contact still running at NOW (due 12:00 Wednesday).
        t11 = b.ticket(li, local(25, 9, 0))
        b.clock(t11, ClockName.FIRST_CONTACT, local(25, 12, 0))
        db.session.commit()
    return "2026-W47"


def figures(data: dict, key: str) -> tuple:
    return data[key]["numerator"], data[key]["denominator"], data[key]["value"]


def test_each_figure_of_a_known_week(app, week):
    with app.app_context():
        data = reports.weekly_report(week, NOW, SHANGHAI).as_dict()
    assert data["week"] == "2026-W47" and data["complete"] is True
    assert data["start"] == "2026-11-16T00:00:00+08:00" and data["end"] == "2026-11-23T00:00:00+08:00"
    assert figures(data, "response_rate") == (2, 4, 0.5)            # T1, T6 met; T3, T4 missed; T5 n/a
    assert figures(data, "resolution_rate") == (6, 7, round(6 / 7, 4))  # T1 T3 T4 T6 T8 T9 T10; T4 open
    assert figures(data, "satisfaction") == (2, 3, round(2 / 3, 4))
    assert data["satisfaction"]["mean"] == 3.67
    assert data["satisfaction"]["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert figures(data, "intake") == (1, 1, 1.0)
    assert figures(data, "remote_fix") == (2, 2, 1.0)
    assert figures(data, "order_filed") == (0, 1, 0.0)
    assert figures(data, "preparation") == (1, 1, 1.0)
    assert figures(data, "submission") == (0, 1, 0.0)
    assert figures(data, "case_analysis") == (1, 1, 1.0)
    assert data["response_rate"]["pending"] == 0


def test_by_technician_and_unassigned_only_in_the_team(app, week):
    with app.app_context():
        data = reports.weekly_report(week, NOW, SHANGHAI).as_dict()
    by = data["by_technician"]
    assert list(by) == ["li", "wang", "zhao"]
    assert by["li"]["display_name"] == "李明"
    assert figures(by["li"], "response_rate") == (1, 2, 0.5)
    assert figures(by["wang"], "response_rate") == (0, 1, 0.0)
    assert figures(by["li"], "resolution_rate") == (4, 4, 1.0)
    assert figures(by["wang"], "resolution_rate") == (1, 2, 0.5)
    assert figures(by["li"], "satisfaction") == (2, 2, 1.0) and by["li"]["satisfaction"]["mean"] == 4.5
    assert figures(by["wang"], "satisfaction") == (0, 1, 0.0) and by["wang"]["satisfaction"]["mean"] == 2
    # The case analysis is the supervisors' and experts' work: the team's figure, not wang's.
    assert figures(by["wang"], "case_analysis") == (0, 0, None)
    assert figures(by["li"], "remote_fix") == (1, 1, 1.0)          # T6's is unassigned: team only
    assert figures(by["zhao"], "response_rate") == (0, 0, None)    # active, nothing to count
    assert by["zhao"]["satisfaction"]["mean"] is None


def test_previous_week_is_beside_it(app, week):
    with app.app_context():
        data = reports.weekly_report(week, NOW, SHANGHAI).as_dict()
    before = data["previous"]
    assert before["week"] == "2026-W46" and before["end"] == data["start"]
    assert figures(before, "response_rate") == (1, 1, 1.0)          # T2, Sunday 23:50
    assert figures(before, "intake") == (0, 1, 0.0)
    assert figures(before, "resolution_rate") == (1, 1, 1.0)
    assert figures(before, "satisfaction") == (0, 1, 0.0) and before["satisfaction"]["mean"] == 3
    assert figures(before["by_technician"]["li"], "response_rate") == (1, 1, 1.0)


def test_current_week_lists_running_clocks_apart(app, week):
    with app.app_context():
        data = reports.weekly_report("2026-W48", NOW, SHANGHAI).as_dict()
    assert data["complete"] is False
    # T7 missed (due Monday 00:10, never done); T11 due at 12:00 today is still running.
    assert figures(data, "response_rate") == (0, 1, 0.0) and data["response_rate"]["pending"] == 1
    assert figures(data, "satisfaction") == (1, 1, 1.0)             # T3 signed Monday 00:30
    assert figures(data, "resolution_rate") == (0, 2, 0.0)          # T7, T11


def test_empty_week_gives_zeros_never_a_division_by_zero(app):
    with app.app_context():
        technician("solo", "单人")
        db.session.commit()
        report = reports.weekly_report("2026-W10", NOW, SHANGHAI)
        data = report.as_dict()
        for key in reports.FIGURE_KEYS:
            assert figures(data, key) == (0, 0, None)
            assert figures(data["previous"], key) == (0, 0, None)
        assert data["satisfaction"]["mean"] is None
        assert data["by_technician"]["solo"]["response_rate"]["value"] is None
        assert all(row["change"] is None for row in reports.rows(report))


def test_counted_in_the_database_with_a_fixed_number_of_statements(app, week):
    """SQL aggregation: the same six statements whatever the number of requests (no loop over rows): clocks,
    resolution, ratings on the phone, ratings afterwards, services left unrated, technicians."""
    with app.app_context():
        statements = []
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        reports.weekly_report(week, NOW, SHANGHAI)
        assert len(statements) == 6
        assert sum("GROUP BY" in s for s in statements) == 5


@pytest.mark.parametrize("text,code", [
    ("2026-47", "bad_week"), ("W47", "bad_week"), ("2026-W00", "bad_week"), ("2026-W54", "bad_week"),
    ("2025-W53", "bad_week"), ("1999-W10", "bad_week"), ("2026-W49", "future_week"), ("2026-W53", "future_week"),
    ("2099-W01", "future_week"),
])
def test_bad_weeks_are_refused_with_a_code(app, text, code):
    with app.app_context(), pytest.raises(DomainError) as caught:
        reports.parse_week(text, NOW, SHANGHAI)
    assert caught.value.code == code


def test_week_numbers_follow_iso_years(app):
    assert reports.parse_week("2026-W53", NOW + timedelta(days=60), SHANGHAI).monday.isoformat() == "2026-12-28"
    assert reports.parse_week("2025-W01", NOW, SHANGHAI).monday.isoformat() == "2024-12-30"
    with pytest.raises(DomainError):
        reports.parse_week("2025-W53", NOW, SHANGHAI)
    # The last complete week on a Monday 00:05 in Shanghai is the week that just ended (Sunday 16:05 UTC).
    monday = datetime(2026, 11, 23, 0, 5, tzinfo=SHANGHAI).astimezone(UTC)
    assert reports.last_complete_week(monday, SHANGHAI).label == "2026-W47"


# --- page, API, exports, CLI --------------------------------------------------------------------------------


@pytest.fixture
def supervisor(signed_in):
    return signed_in(Role.SUPERVISOR)


def test_page_shows_figures_charts_and_counting_rules(client, week, supervisor):
    response = client.get(f"/reports/weekly?week={week}", headers=ZH)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for expected in ("周报", "2026-W47", "2026-W46", "2026-11-16", "2026-11-22", "响应率", "问题解决率", "客户满意度",
                     "2/4", "6/7", "平均评分 3.67", "李明", "王芳", "这些数据如何统计", "<svg", "<title",
                     'role="img"', "/reports/weekly.csv?week=2026-W47", "/reports/weekly.pdf?week=2026-W47",
                     "?week=2026-W48"):
        assert expected in body, expected
    assert "?week=2026-W49" not in body  # no link to a week that has not started (today is in W48 or later)


def test_page_defaults_to_last_complete_week_and_empty_week_shows_dashes(client, supervisor):
    body = client.get("/reports/weekly", headers=ZH).get_data(as_text=True)
    expected = reports.last_complete_week(datetime.now(UTC), SHANGHAI).label
    assert f'value="{expected}"' in body
    assert "—" in body and "0/0" in body and "ZeroDivision" not in body


@pytest.mark.parametrize("week_text,message", [("banana", "例如"), ("2026-W54", "没有第 54 周"),
                                                ("2099-W01", "尚未开始")])
def test_page_refuses_bad_weeks_with_a_message(client, supervisor, week_text, message):
    response = client.get(f"/reports/weekly?week={week_text}", headers=ZH)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_api_answers_the_design_shape(client, week, supervisor):
    response = client.get(f"/api/v1/reports/weekly?week={week}")
    assert response.status_code == 200 and response.is_json
    data = response.get_json()
    keys = {"response_rate", "resolution_rate", "satisfaction", "intake", "remote_fix", "order_filed",
            "preparation", "submission", "case_analysis"}
    assert keys <= set(data) and keys <= set(data["by_technician"]["li"]) and keys <= set(data["previous"])
    for key in keys:
        assert {"numerator", "denominator", "value"} <= set(data[key])
    assert {"mean", "distribution"} <= set(data["satisfaction"])
    assert data["response_rate"] == {"numerator": 2, "denominator": 4, "value": 0.5, "pending": 0}


@pytest.mark.parametrize("week_text,code", [("2026-W54", "bad_week"), ("x", "bad_week"),
                                            ("2099-W01", "future_week")])
def test_api_bad_week_is_400_json_with_a_code(client, supervisor, week_text, code):
    response = client.get(f"/api/v1/reports/weekly?week={week_text}")
    assert response.status_code == 400 and response.is_json
    assert response.get_json()["error"]["code"] == code


def test_api_refuses_others(client, signed_in):
    assert client.get("/api/v1/reports/weekly").status_code == 401
    signed_in(Role.TECHNICIAN)
    assert client.get("/api/v1/reports/weekly").status_code == 403


def test_csv_has_bom_chinese_header_and_a_row_per_figure_and_scope(client, week, supervisor):
    response = client.get(f"/reports/weekly.csv?week={week}", headers=ZH)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="weekly-report-2026-W47.csv"' in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:3] == ["周", "指标代码", "指标"] and "分子" in table[0] and "分母" in table[0]
    # Nine figures for the team, seven for each of li, wang, zhao (not the intake, customer service's, nor the case
    # analysis, the supervisors'); under each satisfaction row its two sources and the unrated count, under each
    # resolution rate the requests closed without the customer's signature.
    assert len(table) == 1 + (9 + 3 + 1) + (7 + 3 + 1) * 3
    unsigned = [r for r in table if r[1] == "resolution_rate.closed_unsigned"]
    assert len(unsigned) == 4 and unsigned[0][2] == "客户未签字结单（不计为已解决）" and unsigned[0][6] == "0"
    head = table[0]
    team_response = dict(zip(head, table[1], strict=True))
    assert team_response["指标代码"] == "response_rate" and team_response["范围"] == "全组"
    assert (team_response["分子"], team_response["分母"], team_response["比率"]) == ("2", "4", "0.5")
    assert (team_response["上周分子"], team_response["上周分母"], team_response["上周比率"]) == ("1", "1", "1.0")
    assert team_response["变化（百分点）"] == "-50.0"
    li_rating = next(dict(zip(head, r, strict=True)) for r in table if r[1] == "satisfaction" and r[4] == "li")
    assert (li_rating["分子"], li_rating["分母"], li_rating["平均评分"], li_rating["技术支持专员"]) == \
        ("2", "2", "4.5", "李明")


def poppler(tool: str, *args) -> str:
    if not shutil.which(tool):
        pytest.fail(f"{tool} is missing: apt-get install poppler-utils (make test installs it)")
    result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pdf_has_real_chinese_text_and_an_embedded_sc_font(client, week, supervisor, tmp_path):
    response = client.get(f"/reports/weekly.pdf?week={week}", headers=ZH)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    path = tmp_path / "report.pdf"
    path.write_bytes(response.get_data())
    text = poppler("pdftotext", "-layout", str(path), "-")
    for expected in ("周报 2026-W47", "响应率", "客户满意度", "李明", "王芳", "2/4", "6/7", "这些数据如何统计",
                     "本周与上周"):
        assert expected in text, expected
    fonts = poppler("pdffonts", str(path))
    assert "Noto-Sans-CJK-SC" in fonts
    assert not re.search(r"CJK-?JP|CJKjp|JP-", fonts), fonts
    for line in fonts.splitlines()[2:]:
        assert re.search(r"\byes\s+yes\s+yes\b", line), f"font not embedded as a subset: {line}"
    assert "A4" in poppler("pdfinfo", str(path)) or "595" in poppler("pdfinfo", str(path))


def test_exports_refuse_a_bad_week(client, supervisor):
    assert client.get("/reports/weekly.csv?week=2026-W00").status_code == 400
    assert client.get("/reports/weekly.pdf?week=2099-W01").status_code == 400


def test_cli_writes_each_format(app, runner, week, tmp_path):
    for name in ("r.json", "r.csv", "r.pdf"):
        out = tmp_path / name
        result = runner.invoke(args=["report", "weekly", "--week", week, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "2026-W47" in result.output
    data = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert data["week"] == "2026-W47" and data["by_technician"]["li"]["display_name"] == "李明"
    assert (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    forced = tmp_path / "report.out"
    assert runner.invoke(args=["report", "weekly", "--week", week, "--out", str(forced),
                               "--format", "json"]).exit_code == 0
    assert json.loads(forced.read_text("utf-8"))["week"] == "2026-W47"


def test_cli_defaults_to_last_complete_week(app, runner, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(args=["report", "weekly", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text("utf-8"))["week"] == reports.last_complete_week(datetime.now(UTC), SHANGHAI).label


@pytest.mark.parametrize("args,message", [
    (["--week", "2026-W54"], "bad_week"), (["--week", "soon"], "bad_week"), (["--week", "2099-W01"], "future_week"),
])
def test_cli_bad_week_is_a_clear_error(runner, tmp_path, args, message):
    out = tmp_path / "r.csv"
    result = runner.invoke(args=["report", "weekly", *args, "--out", str(out)])
    assert result.exit_code == 1 and message in result.output
    assert not out.exists()


def test_cli_unknown_format_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(args=["report", "weekly", "--out", str(tmp_path / "r.xlsx")])
    assert result.exit_code == 1 and ".csv, .pdf or .json" in result.output
    assert not Path(tmp_path / "r.xlsx").exists()


def test_figure_names_follow_the_policy_in_force(app, client, week, supervisor):
    """An admin who moves a threshold sees it in every name: report, CSV, request pages and the phone's strings."""
    from blueprints.field.strings import strings_for_page
    from domain.sla.policy import save_policy

    body = client.get(f"/reports/weekly?week={week}", headers=ZH).get_data(as_text=True)
    assert "15 分钟内转交需求" in body and "响应率（30/60 分钟内首次联系）" in body
    with app.app_context():
        admin = technician("policy-admin", "管理员")
        save_policy({"intake_minutes": 20, "first_contact_urgent_minutes": 45, "submission_minutes": 180},
                    actor=admin)
        db.session.commit()
    body = client.get(f"/reports/weekly?week={week}", headers=ZH).get_data(as_text=True)
    assert "20 分钟内转交需求" in body and "15 分钟内转交需求" not in body
    assert "响应率（45/60 分钟内首次联系）" in body and "3 小时内提交服务单" in body
    csv_response = client.get(f"/reports/weekly.csv?week={week}", headers={"Accept-Language": "en"})
    csv_text = csv_response.data.decode("utf-8-sig")
    assert "Intake within 20 min" in csv_text and "Order submitted within 3 h" in csv_text
    with app.test_request_context(headers=ZH):
        strings = strings_for_page()
        assert strings["clock.intake"] == "20 分钟内转交需求"
        assert strings["clock.preparation"] == "上门前 1 小时确认准备"  # unchanged threshold, unchanged name


def test_counting_rules_state_the_thresholds_in_force(app, make_user):
    from domain.sla.policy import save_policy

    admin_id, _name = make_user(Role.ADMIN)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert any("within 30 min (urgent) or 1 h (normal)" in rule for rule in reports.counting_rules("UTC"))
        save_policy({"first_contact_urgent_minutes": 20, "first_contact_normal_minutes": 45},
                    actor=db.session.get(User, admin_id))
        db.session.commit()
        rules = reports.counting_rules("UTC")
    assert any("within 20 min (urgent) or 45 min (normal)" in rule for rule in rules), rules
