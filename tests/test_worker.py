"""The background worker: tasks run off the request path; a real `flask worker` process renders a signed order;
work whose task was lost (a worker killed mid-task) is found again by the minute tick; `make run` starts the web
server and a worker and stops both."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from domain.core import memory, uow
from domain.core.db import db
from domain.core.enums import RenderState
from domain.documents import tasks as documents_tasks
from domain.documents.models import ServiceOrder
from domain.requests import access

from .helpers import ROOT, sigint_default, worker_env
from .orderfactory import make_signed_order


def render_state(number: str) -> RenderState:
    db.session.remove()
    return access.get_ticket(number).service_order.render_state


def test_a_real_worker_process_renders_the_signed_order(make_app, make_user, database_url, tmp_path):
    app = make_app(HUEY_IMMEDIATE=False)  # tasks go to the queue file in the instance folder
    with app.app_context():
        number = make_signed_order(make_user, photos=1)["number"]
        uow.commit()  # the owner's commit starts the queued work: the render task goes to the queue
        # Signed and committed, nothing rendered in the caller: the render waits for the worker.
        assert render_state(number) == RenderState.PENDING
    assert (Path(app.instance_path) / "huey.db").exists()
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "flask", "worker", "--max-tasks", "3"], cwd=ROOT,
                               env=worker_env(app, database_url), stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=sigint_default)
    try:
        deadline = time.monotonic() + 120
        with app.app_context():
            while render_state(number) != RenderState.RENDERED:
                assert process.poll() is None, (tmp_path / "worker.log").read_text(errors="replace")
                assert time.monotonic() < deadline, "the worker did not render the order in time"
                time.sleep(0.5)
            order = access.get_ticket(number).service_order
            assert order.render_attempts == 1 and order.pdf_sha256
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the worker did not stop on Ctrl-C")
        finally:
            log.close()
    assert "render_orders" in (tmp_path / "worker.log").read_text(errors="replace")


def test_a_lost_render_task_is_found_by_the_minute_tick(make_app, make_user):
    import worker

    app = make_app(HUEY_IMMEDIATE=False)
    with app.app_context():
        number = make_signed_order(make_user, photos=0)["number"]
        worker.huey.flush()  # the queued task is lost, as when a worker is killed mid-task
        assert render_state(number) == RenderState.PENDING
        assert worker.tick()["rendered"] == 1
        assert render_state(number) == RenderState.RENDERED
        assert worker.tick()["rendered"] == 0


def test_a_failed_render_is_retried_with_backoff_never_left_pending(app, make_user, monkeypatch):
    from datetime import timedelta

    from domain.documents import orders

    def broken(html, content, *, fetcher=None):
        raise RuntimeError("font missing")

    with app.app_context():
        monkeypatch.setattr(orders, "write_pdf", broken)
        number = make_signed_order(make_user, photos=0)["number"]
        uow.commit()  # the render after the commit fails
        order = access.get_ticket(number).service_order
        assert order.render_state == RenderState.FAILED and "font missing" in order.render_error
        created = order.created_at
        assert orders.orders_to_render(created + timedelta(seconds=30)) == []  # waits before retrying
        assert orders.orders_to_render(created + timedelta(minutes=1)) == [order.id]
        monkeypatch.undo()
        assert documents_tasks.render_pending_orders(created + timedelta(minutes=1)) == 1
        assert render_state(number) == RenderState.RENDERED
        assert orders.orders_to_render(created + timedelta(days=1)) == []


def test_signing_holds_no_transaction_while_rendering(app, make_user, monkeypatch):
    """While WeasyPrint works, the session has no transaction open (on SQLite: no write lock)."""
    from domain.documents import orders

    seen = []
    real = orders.write_pdf

    def watching(html, content, *, fetcher=None):
        seen.append(db.session().in_transaction())
        return real(html, content, fetcher=fetcher)

    with app.app_context():
        monkeypatch.setattr(orders, "write_pdf", watching)
        number = make_signed_order(make_user, photos=1)["number"]
        uow.commit()
        assert seen == [False]
        assert render_state(number) == RenderState.RENDERED
        order = db.session.execute(select(ServiceOrder)).scalar_one()
        assert order.render_attempts == 1


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs a POSIX shell")
def test_make_run_script_stops_both_on_ctrl_c(tmp_path):
    """scripts/run.sh with stand-ins for flask: both start, Ctrl-C (SIGINT to the group) stops both."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "flask").write_text(f"#!/bin/sh\necho \"$$ $1\" >> {tmp_path}/started\nexec sleep 300\n")
    (bin_dir / "flask").chmod(0o755)
    # Ctrl-C as in a terminal: SIGINT at its default, even when the tests themselves were started in the
    # background (a shell without job control starts them with SIGINT ignored, which sh would then never trap).
    process = subprocess.Popen(["sh", str(ROOT / "scripts" / "run.sh")], cwd=ROOT, start_new_session=True,
                               env={**os.environ, "BIN": str(bin_dir)},
                               preexec_fn=sigint_default)
    try:
        deadline = time.monotonic() + 20
        while not ((tmp_path / "started").exists() and len((tmp_path / "started").read_text().split("\n")) > 2):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        started = dict(line.split()[::-1] for line in (tmp_path / "started").read_text().strip().splitlines())
        assert set(started) == {"worker", "run"}
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:  # never leave the group running for the next tests
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for pid in started.values():
        deadline = time.monotonic() + 10
        while True:
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, f"{pid} still running"
            time.sleep(0.1)


def test_a_render_process_past_its_memory_budget_hands_over_and_is_recycled(make_app, make_user, monkeypatch):
    """A process that grew past WORKER_MAX_GROWTH over its warmed-up size renders no more: the rest of its task
    goes back to the queue, and the worker ends its process after the task (the consumer starts a fresh one)."""
    import threading

    from huey.consumer import WorkerRecycle

    import worker

    app = make_app(HUEY_IMMEDIATE=False)
    sizes = iter([100 << 20] + [112 << 20] * 50)  # warmed up at 100 MB, then 12% over (the budget: 8%)
    monkeypatch.setattr(memory, "rss_bytes", lambda: next(sizes))
    monkeypatch.setattr(memory, "WARMUP_RENDERS", 1)
    monkeypatch.setattr(memory, "_memory", {"renders": 0, "warm": None, "growth": None})
    memory.set_growth_limit(8)
    with app.app_context():
        numbers = [make_signed_order(make_user, photos=0)["number"] for _ in range(3)]
        uow.commit()  # three render kicks queued
        worker.huey.flush()  # (the kicks are what the test starts by hand below)
        assert documents_tasks.render_pending_orders() == 1  # one rendered, then over budget: handed over
        states = [render_state(n) for n in numbers]
        assert states.count(RenderState.RENDERED) == 1 and states.count(RenderState.PENDING) == 2
        # The rest, queued for a fresh process (beside the seal kick of the order rendered).
        pending = sorted(task.name.rsplit(".", 1)[-1] for task in worker.huey.pending())
        assert pending == ["render_orders", "seal_orders"]
        process_worker = worker._recycling_consumer_class().worker_class(
            worker.huey, threading.Event(), default_delay=0.1, max_delay=0.1, backoff=1.0)
        for _ in pending:
            with pytest.raises(WorkerRecycle):
                process_worker.loop()  # runs one queued task (a seal, one more render), then ends the process
        assert [render_state(n) for n in numbers].count(RenderState.RENDERED) == 2
        # Within budget: no recycling.
        memory.set_growth_limit(0)
        assert not memory.over_memory_budget()


@pytest.mark.parametrize("own_session", [True, False], ids=["own-session", "shared-session"])
def test_the_worker_yields_the_cpu_to_the_web_servers_even_in_a_session_of_its_own(own_session):
    """WORKER_NICE lowers the worker's priority and, where Linux schedules by session (autogroup) and the worker
    leads a session of its own, its session's: with only its own nice lowered, such a worker took as much CPU as
    the two gunicorn workers together while a herd of phones signed (bench/bench_herd.py). A session it shares
    (here the test's own) keeps its priority."""
    autogroup = Path("/proc/self/autogroup")
    script = ("import os, worker; before = os.nice(0); worker.lower_priority(7); print(os.nice(0) - before); "
              "print(open('/proc/self/autogroup').read().strip() if os.path.exists('/proc/self/autogroup') else '')")
    shared_before = autogroup.read_text() if autogroup.exists() else ""
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=60, start_new_session=own_session)
    assert out.returncode == 0, out.stderr
    lowered, group = out.stdout.splitlines()
    assert lowered == "7"
    if autogroup.exists():  # Linux with autogroup, as on the servers this runs on
        if own_session:
            assert group.endswith("nice 7"), group
        else:
            assert group == shared_before.strip() and autogroup.read_text() == shared_before


def test_the_consumer_loads_the_print_fonts_once_before_it_forks_its_renderers(app, monkeypatch):
    """A renderer is started afresh whenever one is recycled for its memory (every few orders); warmed up in the
    consumer's process before the fork, it inherits the loaded fonts and stylesheet instead of loading them for its
    first order. The warm-up page uses the order's own stylesheet (nothing refused) and makes a real PDF."""
    import worker
    from domain.documents import orders

    made, pdfs = [], []
    make_fetcher, write_pdf = orders.make_fetcher, orders.write_pdf
    monkeypatch.setattr(orders, "make_fetcher", lambda loader=None: made.append(make_fetcher(loader)) or made[-1])
    monkeypatch.setattr(orders, "write_pdf", lambda *a, **kw: pdfs.append(write_pdf(*a, **kw)) or pdfs[-1])
    happened = []

    class Consumer:
        def __init__(self, huey, **options):
            pass

        def run(self):
            happened.append(("consumer runs", len(pdfs)))

    monkeypatch.setattr(worker, "_recycling_consumer_class", lambda: Consumer)
    worker.run_consumer(app, workers=1, max_tasks=None)
    assert happened == [("consumer runs", 1)]  # one page rendered, before the workers start
    [fetcher] = made
    assert fetcher.refused == [] and pdfs[0].startswith(b"%PDF")
    assert "order.css" in orders.WARM_UP_PAGE


def test_the_queue_file_commits_without_waiting_for_the_disk_and_keeps_what_it_was_given(tmp_path, monkeypatch):
    """A queued task is a kick (the database says what is due; the minute tick finds a lost kick again): the
    embedded queue commits in SQLite's WAL without waiting for the disk (synchronous=NORMAL), and what it was given
    is there for the next connection that opens the file."""
    import worker

    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("HUEY_REDIS_URL", raising=False)
    queue = worker.make_huey()
    connection = queue.storage.conn
    assert connection.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert connection.execute("pragma synchronous").fetchone()[0] == 1  # NORMAL; FULL (2) waits for the disk
    queue.storage.enqueue(b"kick", 0)
    assert worker.make_huey().storage.queue_size() == 1
