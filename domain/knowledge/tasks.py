"""The knowledge base's background work: building the FAQ manual's PDF, and finding a manual whose task was lost.

Each function owns its transactions through the unit of work: nothing is held while WeasyPrint lays the manual
out. worker.py runs them (QUEUED by name, MINUTE every minute).
"""
from __future__ import annotations

import logging

from ..core import uow
from ..core.deferred import MinuteStep, QueuedTask, TaskEnv, requeue_lost
from ..core.memory import rendered_one
from . import kb

log = logging.getLogger(__name__)


def build_manual_pdf(job_id: int, env: TaskEnv) -> str:
    """The FAQ manual of one selection: the job marked running (a short write), its HTML read, then WeasyPrint with
    no transaction open, then the PDF stored."""
    with uow.transaction(write_lock=True):
        claimed = kb.claim_manual(job_id)
    if not claimed:
        return "nothing"
    articles = 0
    try:
        with uow.reading():  # the read ends here: nothing held while WeasyPrint lays the manual out
            html, articles = kb.manual_job_html(job_id, company=env.settings.site.company, tz=env.tz,
                                                templates=env.templates)
        pdf, error = kb.manual_pdf(html), None
        rendered_one()
    except Exception as failure:  # noqa: BLE001 - the page says it failed instead of spinning forever
        log.exception("manual %s failed", job_id)
        pdf, error = None, f"{type(failure).__name__}: {failure}"[:500]
    with uow.transaction(write_lock=True):
        kb.finish_manual(job_id, pdf, error, articles)
    return "done" if pdf is not None else "failed"



QUEUED = (
    QueuedTask("build_manual", lambda env, job_id: build_manual_pdf(job_id, env), retries=1, retry_delay=30),
)

MINUTE = (
    MinuteStep("manuals", lambda env, now: requeue_lost(kb.lost_manual_jobs, "build_manual", now)),
)
