"""The documents' background work: rendering signed orders' PDFs, sealing them, building archive exports.

Each function owns its transactions through the unit of work, short ones: nothing is held while WeasyPrint
renders, pyHanko seals or a ZIP is written. worker.py runs them (QUEUED by name, MINUTE every minute).
"""
from __future__ import annotations

import io
import logging
import zipfile
from datetime import datetime

from ..core import uow
from ..core.deferred import MinuteStep, QueuedTask, requeue_lost, start_task
from ..core.memory import over_memory_budget, rendered_one, rss_bytes
from ..core.site import Site
from ..core.site import current as current_site
from ..core.types import utcnow
from . import archive
from .orders import (
    orders_to_render,
    orders_to_seal,
    prepare_render,
    prepare_seal,
    run_render,
    run_seal,
    store_render,
    store_seal,
    warm_renderer,
)

log = logging.getLogger(__name__)


def render_pending_orders(now: datetime | None = None, site: Site | None = None) -> int:
    """Render every order still without a PDF (at once after signing, with backoff after a failure)."""
    rendered = 0
    with uow.reading():
        ids = orders_to_render(now or utcnow())
    for order_id in ids:
        with uow.reading():  # the read ends here: no transaction (no SQLite write lock) while WeasyPrint works
            job = prepare_render(order_id, site=site)
        if job is None:
            continue
        pdf, error = run_render(job)
        rendered_one()
        with uow.transaction(write_lock=True):
            rendered += bool(store_render(job, pdf, error))
        if over_memory_budget() and order_id != ids[-1]:
            # The rest goes to a fresh process: this one exits after the task (worker.py's RecyclingWorker).
            log.info("render process grew past its budget (%d MB): handing over", rss_bytes() >> 20)
            start_task("render_orders")
            break
    return rendered


def seal_pending_orders(now: datetime | None = None, site: Site | None = None) -> int:
    """Seal every rendered order still without the company seal whose try is due, holding no transaction while
    pyHanko and the time-stamping authority work. When one fails for the authority or the key, the others due now
    are recorded as failed with the same reason rather than each waiting out the authority's timeout."""
    now = now or utcnow()
    site = site or current_site()
    sealed = 0
    with uow.reading():
        ids = orders_to_seal(now)
    failure = None
    for order_id in ids:
        with uow.reading():
            job = prepare_seal(order_id)
        if job is None:
            continue
        result, error = (None, failure) if failure else run_seal(job, site)
        failure = failure or error
        with uow.transaction(write_lock=True):
            sealed += bool(store_seal(job, result, error, now))
    return sealed


def build_export_zip(job_id: int, tz) -> str:
    """The ZIP of an archive selection, with its progress written as it goes (the page polls it)."""
    with uow.transaction():
        job = archive.claim_export(job_id, utcnow())
        if job is None:
            return "nothing"
        ids = archive.export_order_ids(job, tz)
        job.total, job.done = len(ids), 0
    buffer, missing = io.BytesIO(), []
    try:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zip_file:
            for done, order_id in enumerate(ids, start=1):
                with uow.transaction():
                    number = archive.add_to_zip(zip_file, order_id)
                    if number:
                        missing.append(number)
                    if done % 20 == 0 or done == len(ids):
                        archive.export_progress(job_id, done, utcnow())  # the lease renewed with the progress
            if missing:
                zip_file.writestr("MISSING.txt", "\n".join(missing) + "\n")
    except Exception as error:  # noqa: BLE001 - the page says it failed instead of spinning forever
        log.exception("export %s failed", job_id)
        with uow.transaction():
            archive.finish_export(job_id, None, f"{type(error).__name__}: {error}"[:500])
        return "failed"
    with uow.transaction():
        archive.finish_export(job_id, buffer.getvalue())
    return "done"



QUEUED = (
    QueuedTask("render_orders", lambda env: render_pending_orders(site=env.settings.site), retries=2, retry_delay=30),
    # No Huey retries: a failed seal is recorded on the order and retried by the minute tick with its backoff.
    QueuedTask("seal_orders", lambda env: seal_pending_orders(site=env.settings.site)),
    QueuedTask("build_export", lambda env, job_id: build_export_zip(job_id, env.tz), retries=1, retry_delay=30),
)

MINUTE = (
    MinuteStep("rendered", lambda env, now: render_pending_orders(now, env.settings.site)),
    MinuteStep("sealed", lambda env, now: seal_pending_orders(now, env.settings.site)),
    MinuteStep("exports", lambda env, now: requeue_lost(archive.lost_export_jobs, "build_export", now)),
)


def before_workers_start() -> None:
    """Run by the worker's consumer before it forks its processes (each inherits what this loads)."""
    warm_renderer()
