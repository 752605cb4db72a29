"""The service order as a document, its review, the case analysis, and the archive's exports."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.db import Base
from ..core.enums import (
    AnalysisTrigger,
    RenderState,
    Resolution,
    ReviewDecision,
    SealState,
)
from ..core.models import User, enum_type
from ..core.types import utcnow

if TYPE_CHECKING:  # relationships name these classes; domain/__init__.py imports every models module
    from ..knowledge.models import KbArticle
    from ..requests.models import Ticket


class ServiceOrder(Base):
    """The rendered service order: its canonical content, the content hash and the PDF blob."""

    __tablename__ = "service_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    kind: Mapped[Resolution] = mapped_column(enum_type(Resolution))
    locale: Mapped[str] = mapped_column(String(10))
    content_json: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    pdf_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    render_state: Mapped[RenderState] = mapped_column(enum_type(RenderState), default=RenderState.PENDING)
    render_attempts: Mapped[int] = mapped_column(default=0)
    render_error: Mapped[str | None] = mapped_column(Text)
    rendered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of every customer link (/o/...): raising it revokes the links given so far.
    share_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # The PDF this order had before the customer's copy left the internal notes out (rendered again by migration
    # c0f3e2a91d57): a customer's earlier copy is still recognised as genuine on the verify page.
    superseded_pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    # The company seal (PAdES, domain/documents/seal.py), added by the worker after rendering: pdf_sha256 is then
    # the sealed file and unsealed_pdf_sha256 the rendered one (a copy downloaded before sealing stays checkable).
    seal_state: Mapped[SealState] = mapped_column(enum_type(SealState), default=SealState.WAITING,
                                                  server_default=SealState.WAITING.value)
    seal_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    seal_error: Mapped[str | None] = mapped_column(Text)
    seal_next_at: Mapped[datetime | None]
    sealed_at: Mapped[datetime | None]
    # Which certificate sealed it (SHA-256 of the DER): the verify check knows a rotated key's earlier orders.
    seal_cert_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    # The time the time-stamping authority certified (RFC 3161); None when sealed without a TSA.
    seal_timestamp_at: Mapped[datetime | None]
    unsealed_pdf_sha256: Mapped[str | None] = mapped_column(String(64))

    ticket: Mapped[Ticket] = relationship(back_populates="service_order")


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[ReviewDecision] = mapped_column(enum_type(ReviewDecision))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


class CaseAnalysis(Base):
    """Due within 3 working days for a first-seen fault type or a complex problem."""

    __tablename__ = "case_analyses"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    fault_category_id: Mapped[int | None] = mapped_column(ForeignKey("fault_categories.id"))
    trigger: Mapped[AnalysisTrigger] = mapped_column(enum_type(AnalysisTrigger))
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime]
    summary: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    fix: Mapped[str | None] = mapped_column(Text)
    prevention: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None]
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id"))

    ticket: Mapped[Ticket] = relationship(back_populates="case_analysis")
    article: Mapped[KbArticle | None] = relationship()


class ExportJob(Base):
    """A ZIP of service orders built by the worker; the page polls its progress."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    zip_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    # While running: the worker building it holds it until then; past it (the worker was killed), the minute tick
    # queues it again and the next worker takes it over.
    lease_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
