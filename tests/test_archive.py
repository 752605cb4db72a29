"""The supervisors' archive of filed orders: filters and search, download and first-page preview, and the ZIP of a
selection built by the worker with its progress."""
from __future__ import annotations

import io
import zipfile
from zoneinfo import ZoneInfo

from PIL import Image

from domain.core import uow
from domain.core.enums import Role
from domain.documents import tasks as documents_tasks

from .helpers import signed_client
from .orderfactory import make_signed_order


def two_orders(app, make_user):
    with app.app_context():
        first = make_signed_order(make_user, photos=0)
        second = make_signed_order(make_user, photos=0, problem="推流中断，编码器反复重启")
        uow.commit()  # rendered by the worker (here at once)
    return first, second


def test_the_archive_lists_filters_and_searches_filed_orders(app, make_user):
    first, second = two_orders(app, make_user)
    boss = signed_client(app, first["ids"]["boss"])
    page = boss.get("/orders/").get_data(as_text=True)
    assert first["number"] in page and second["number"] in page
    assert f'/orders/{first["number"]}/preview.png' in page and f'/orders/{first["number"]}/pdf' in page
    only = boss.get("/orders/", query_string={"q": "编码器"}).get_data(as_text=True)
    assert second["number"] in only and first["number"] not in only
    by_tech = boss.get("/orders/", query_string={"technician": first["ids"]["tech"]}).get_data(as_text=True)
    assert first["number"] in by_tech and second["number"] not in by_tech
    assert first["number"] not in boss.get("/orders/", query_string={"kind": "remote"}).get_data(as_text=True)
    assert first["number"] in boss.get("/orders/", query_string={"state": "signed", "device": "atem",
                                                                 "customer": "鲸鱼"}).get_data(as_text=True)
    bad = boss.get("/orders/", query_string={"from": "2026-13-01", "kind": "x"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)


def test_the_archive_is_linked_from_home_and_the_board(app, make_user):
    boss_id, _ = make_user(Role.SUPERVISOR, "boss")
    boss = signed_client(app, boss_id)
    assert 'href="/orders/"' in boss.get("/").get_data(as_text=True)
    assert 'href="/orders/"' in boss.get("/dispatch/board").get_data(as_text=True)
    desk_id, _ = make_user(Role.DISPATCHER, "desk")
    assert 'href="/orders/"' not in signed_client(app, desk_id).get("/dispatch/board").get_data(as_text=True)


def test_the_preview_is_the_first_page_as_a_picture(app, make_user):
    first, _ = two_orders(app, make_user)
    boss = signed_client(app, first["ids"]["boss"])
    response = boss.get(f"/orders/{first['number']}/preview.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert image.width == 480 and 1.3 < image.height / image.width < 1.5  # an A4 page
    assert boss.get(f"/orders/{first['number']}/preview.png",
                    headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


def test_the_zip_of_a_selection_is_built_by_the_worker_with_progress(app, make_user):
    first, second = two_orders(app, make_user)
    boss = signed_client(app, first["ids"]["boss"])
    response = boss.post("/orders/exports", data={"q": "FS-"})
    assert response.status_code == 302
    status_url = response.headers["Location"]
    page = boss.get(status_url).get_data(as_text=True)
    assert ".zip" in page  # the worker ran at once here: the ZIP is ready
    job_id = status_url.rstrip("/").rsplit("/", 1)[1]
    archive = zipfile.ZipFile(io.BytesIO(boss.get(f"/orders/exports/{job_id}.zip").data))
    assert sorted(archive.namelist()) == sorted([f"{first['number']}.pdf", f"{second['number']}.pdf"])
    assert archive.read(f"{first['number']}.pdf").startswith(b"%PDF-")
    # Another supervisor does not see someone else's export; an empty selection is a clear error.
    other_id, _ = make_user(Role.SUPERVISOR, "boss-2")
    assert signed_client(app, other_id).get(status_url).status_code == 404
    assert boss.post("/orders/exports", data={"q": "no such order"}).status_code == 400


HOSTILE = [("to", "9999-12-31"), ("from", "9999-12-31"), ("from", "0001-01-01"), ("q", "FS\x00"),
           ("customer", "\x00"), ("device", "a\x00b"), ("technician", "12345678901234567890"), ("from", "²")]


def test_hostile_filters_are_a_clear_error_never_a_500_and_start_no_export(app, make_user):
    """Each field of the archive's filter, on the page and for a ZIP: year 9999 (the day after overflows), year 1,
    a NUL (PostgreSQL refuses it), 20 digits, ²: a 400 naming the field; no export is started."""
    from sqlalchemy import func, select

    from domain.core.db import db
    from domain.documents.models import ExportJob

    first, _ = two_orders(app, make_user)
    boss = signed_client(app, first["ids"]["boss"])
    for field, value in HOSTILE:
        page = boss.get("/orders/", query_string={field: value})
        assert page.status_code == 400, (field, value, page.status_code)
        body = page.get_data(as_text=True)  # the field's error on the page (a NUL: the site's 400 page says so)
        assert 'class="error"' in body or "NUL" in body, (field, value)
        assert boss.post("/orders/exports", data={field: value}).status_code == 400, (field, value)
    with app.app_context():
        assert db.session.execute(select(func.count(ExportJob.id))).scalar_one() == 0
    assert boss.get("/orders/", query_string={"from": "2026-01-01", "to": "2099-12-31"}).status_code == 200


def test_export_progress_is_shown_while_the_worker_builds(make_app, make_user):
    app = make_app(HUEY_IMMEDIATE=False)  # queued, not built yet
    first, _ = two_orders(app, make_user)
    boss = signed_client(app, first["ids"]["boss"])
    status_url = boss.post("/orders/exports", data={}).headers["Location"]
    page = boss.get(status_url).get_data(as_text=True)
    assert "<progress" in page and 'http-equiv="refresh"' in page

    with app.app_context():
        job_id = int(status_url.rsplit("/", 1)[1])
        assert documents_tasks.build_export_zip(job_id, ZoneInfo("Asia/Shanghai")) == "done"
    assert "<progress" not in boss.get(status_url).get_data(as_text=True)


def test_fifty_previews_at_once_on_a_threaded_server_all_answer(app, make_user, database_url, tmp_path):
    """PDFium is not thread-safe: gunicorn with 16 threads, 50 previews of 10 orders asked for at once (the
    archive page's thumbnails, two supervisors), every one a PNG of the first page and the process still up."""
    import concurrent.futures
    import urllib.request

    from domain.core.db import db
    from domain.core.models import User

    from .phones import app_processes, http_phone

    with app.app_context():
        made = [make_signed_order(make_user, photos=0) for _ in range(10)]
        uow.commit()
        boss = db.session.get(User, made[0]["ids"]["boss"]).username
    with app_processes(database_url, tmp_path, count=1, threads=16) as (base,):
        opener, _csrf = http_phone(base, boss)

        def preview(i: int) -> tuple[int, bytes]:
            number = made[i % len(made)]["number"]
            with opener.open(f"{base}/orders/{number}/preview.png", timeout=60) as response:
                return response.status, response.read()

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(preview, range(50)))
        assert [status for status, _ in answers] == [200] * 50
        for _, body in answers:
            image = Image.open(io.BytesIO(body))
            assert image.format == "PNG" and image.width == 480
        with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
            assert response.status == 200  # the process survived


def test_the_export_by_dates_refuses_dates_outside_the_calendar_it_keeps(app, make_user):
    boss_id, _ = make_user(Role.SUPERVISOR, "boss")
    boss = signed_client(app, boss_id)
    for start, end in (("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02")):
        response = boss.get("/orders/export.zip", query_string={"from": start, "to": end})
        assert response.status_code == 400, (start, response.status_code)
    assert boss.get("/orders/export.zip", query_string={"from": "2026-01-01", "to": "2026-01-31"}).status_code == 200


def test_an_export_left_running_by_a_killed_worker_is_built_again_after_its_lease(make_app, make_user):
    from datetime import timedelta

    import worker
    from domain.core.db import db
    from domain.documents import archive
    from domain.documents.models import ExportJob

    app = make_app(HUEY_IMMEDIATE=False)
    first, _ = two_orders(app, make_user)
    boss = signed_client(app, first["ids"]["boss"])
    job_id = int(boss.post("/orders/exports", data={}).headers["Location"].rsplit("/", 1)[1])
    queued = []
    original = worker.enqueue
    worker.enqueue = lambda name, args=(): queued.append((name, args))
    try:
        with app.app_context():
            # A worker took it 15 minutes ago ... and was killed.
            start = db.session.get(ExportJob, job_id).created_at - timedelta(minutes=15)
            assert archive.claim_export(job_id, start) is not None
            db.session.commit()
            assert archive.claim_export(job_id, start + timedelta(minutes=1)) is None  # held
            db.session.rollback()
            assert worker.tick(start + timedelta(minutes=3))["exports"] == 0
            assert worker.tick(start + timedelta(minutes=6))["exports"] == 1
    finally:
        worker.enqueue = original
    # Queued again once (beside the kicks of the tick's other work, such as sealing the orders it rendered).
    assert [task for task in queued if task[0] == "build_export"] == [("build_export", (job_id,))]
    with app.app_context():
        assert documents_tasks.build_export_zip(job_id, ZoneInfo("Asia/Shanghai")) == "done"
        job = db.session.get(ExportJob, job_id)
        assert job.state == "done" and job.done == 2 and job.lease_until is None
