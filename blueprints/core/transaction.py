"""The web request owns its transaction: one commit at the end when the answer is a success (below 400), one
rollback on any exception or error answer. Views and the domain never commit."""
from __future__ import annotations

import os
import signal

from flask import Flask

from domain.core import uow

# Fault injection for tests only (tests/test_sync_faults.py): the path of a trigger file. The first request to
# commit after the file appears removes it and kills its own process (SIGKILL) before answering: work committed
# but never acknowledged, as when a server dies between its commit and its reply. Unset, nothing happens.
KILL_AFTER_COMMIT_ENV = "TEST_KILL_AFTER_COMMIT"


class TransactionalFlask(Flask):
    """Flask whose view dispatch is wrapped in the request's unit of work. A Conflict raised by the commit (a
    request changed concurrently) goes to the error handlers like any DomainError: 409."""

    def dispatch_request(self):
        try:
            response = self.make_response(super().dispatch_request())
        except BaseException:
            uow.rollback()
            raise
        if response.status_code < 400:
            uow.commit()
            _die_if_told()
        else:
            uow.rollback()
        return response


def _die_if_told() -> None:
    trigger = os.environ.get(KILL_AFTER_COMMIT_ENV)
    if not trigger:
        return
    try:
        os.unlink(trigger)  # one process wins: the fault happens once, the retry is answered
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["TransactionalFlask"]
