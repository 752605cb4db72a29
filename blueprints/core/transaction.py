"""The web request owns its transaction: one commit at the end when the answer is a success (below 400), one
rollback on any exception or error answer. Views and the domain never commit."""
from __future__ import annotations

from flask import Flask

from domain.core import uow


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
        else:
            uow.rollback()
        return response


__all__ = ["TransactionalFlask"]
