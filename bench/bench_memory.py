"""The worker's memory over many renders: a real `flask worker` process renders the same signed orders again and
again (each round marks them unrendered and kicks the render task), and its task processes' resident size is
read from /proc after warm-up and after every round.

    .venv/bin/python bench/bench_memory.py      # SQLite; BENCH_RENDERS (300), BENCH_ORDERS per round (10)

Two runs in the same invocation: recycling off (WORKER_MAX_GROWTH=0, WORKER_MAX_TASKS high), then on (the
defaults: 8% over the warmed-up size). Goal (issue 13): the rendering process never grows past 10% of its size
after warm-up. Baseline: the size after warm-up (WARMUP renders) of the same run.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_pdf import make_user_factory  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from app import create_app  # noqa: E402
from domain.core import uow  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import RenderState  # noqa: E402
from domain.documents.models import ServiceOrder  # noqa: E402

RENDERS = int(os.environ.get("BENCH_RENDERS", 300))
PER_ROUND = int(os.environ.get("BENCH_ORDERS", 10))
WARMUP = 5


def children_rss(pid: int) -> dict[int, int]:
    """Resident size (bytes) of each child process of `pid` (the consumer's task processes)."""
    sizes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == pid and "VmRSS" in fields:
            sizes[int(entry.name)] = int(fields["VmRSS"].split()[0]) * 1024
    return sizes


def rendered_count(app) -> int:
    with app.app_context():
        count = db.session.execute(select(func.count()).where(
            ServiceOrder.render_state == RenderState.RENDERED)).scalar_one()
        db.session.remove()
        return count


def run(app, env: dict, label: str) -> None:
    import worker

    process = subprocess.Popen([str(ROOT / ".venv/bin/flask"), "--app", "app", "worker", "--workers", "1"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        done, samples, pids, warm = 0, [], set(), None
        started = time.perf_counter()
        while done < RENDERS:
            with app.app_context():
                db.session.execute(update(ServiceOrder).values(render_state=RenderState.PENDING, render_attempts=0))
                uow.commit()
                worker.TASKS["render_orders"]()  # the kick, to the worker's queue
                db.session.remove()
            deadline = time.monotonic() + 300
            while rendered_count(app) < PER_ROUND:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"{label}: the worker stopped rendering")
                time.sleep(0.2)
            done += PER_ROUND
            sizes = children_rss(process.pid)
            pids |= set(sizes)
            biggest = max(sizes.values()) if sizes else 0
            samples.append((done, biggest))
            if warm is None and done >= WARMUP:
                warm = biggest
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    peak = max(size for _, size in samples)
    last = samples[-1][1]
    mb = 1 << 20
    print(f"   {label}: after warm-up ({samples[0][0]} renders) {warm / mb:.0f} MB; after {done} renders "
          f"{last / mb:.0f} MB ({last / warm:.2f}x); largest seen {peak / mb:.0f} MB ({peak / warm:.2f}x); "
          f"task processes seen {len(pids)} (the scheduler's included); {done / elapsed:.1f} renders/s; "
          f"load average {os.getloadavg()[0]:.1f}")
    marks = [s for s in samples if s[0] in (10, 50, 100, 150, 200, 250, 300) or s is samples[-1]]
    print("      size by renders done: " + ", ".join(f"{n}: {size / mb:.0f} MB" for n, size in marks))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"INSTANCE_PATH": tmp, "SECRET_KEY": "bench-secret"})
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "HUEY_IMMEDIATE": True})
        with app.app_context():
            db.create_all()
            from orderfactory import make_signed_order

            make_user = make_user_factory(app)
            for _ in range(PER_ROUND):
                make_signed_order(make_user, photos=2)
                uow.commit()  # rendered once here (immediate): the worker renders them again
            db.session.remove()
        import worker

        worker.huey.immediate = False
        env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "app", "WORKER_NICE": "0"}  # same CPU share
        print(f"worker memory over {RENDERS} renders ({PER_ROUND} orders of 2 pages, 2 photos, re-rendered each "
              f"round); resident size of the task process")
        run(app, {**env, "WORKER_MAX_GROWTH": "0", "WORKER_MAX_TASKS": "100000"}, "recycling off")
        run(app, {**env, "WORKER_MAX_GROWTH": "8", "WORKER_MAX_TASKS": "100"}, "recycling on ")


if __name__ == "__main__":
    main()
