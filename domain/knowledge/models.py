"""Knowledge-base articles (and the orders they came from) and the FAQ manual's render jobs."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.db import Base
from ..core.enums import (
    ArticleStatus,
)
from ..core.models import User, enum_type
from ..core.types import utcnow

if TYPE_CHECKING:  # relationships name these classes; domain/__init__.py imports every models module
    from ..requests.models import DeviceCategory, DeviceModel, FaultCategory, Ticket

# --- knowledge base ---------------------------------------------------------------------------

article_sources = Table(
    "kb_article_sources",
    Base.metadata,
    Column("article_id", ForeignKey("kb_articles.id"), primary_key=True),
    Column("ticket_id", ForeignKey("tickets.id"), primary_key=True),
)


class KbArticle(Base):
    """An article of the FAQ manual 《常见问题解决方案手册》."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    device_category_id: Mapped[int | None] = mapped_column(ForeignKey("device_categories.id"))
    device_model_id: Mapped[int | None] = mapped_column(ForeignKey("device_models.id"))
    fault_category_id: Mapped[int | None] = mapped_column(ForeignKey("fault_categories.id"))
    symptoms: Mapped[str] = mapped_column(Text)
    solution: Mapped[str] = mapped_column(Text)
    precautions: Mapped[str | None] = mapped_column(Text)
    # Every searchable text of the article (with its model's and fault type's names), lower-cased: search scans
    # one column instead of joining and lower-casing eight for every row (domain/kb.py keeps it current).
    search_text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ArticleStatus] = mapped_column(enum_type(ArticleStatus), default=ArticleStatus.DRAFT)
    revision: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None]

    device_category: Mapped[DeviceCategory | None] = relationship()
    device_model: Mapped[DeviceModel | None] = relationship()
    fault_category: Mapped[FaultCategory | None] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    sources: Mapped[list[Ticket]] = relationship(secondary=article_sources)



class ManualJob(Base):
    """The FAQ manual as PDF, built by the worker for one selection (a kind of device, or all, in one language);
    the page polls its state, and a second request for the same selection while it is pending joins it."""

    __tablename__ = "manual_jobs"
    __table_args__ = (Index("ix_manual_jobs_selection", "locale", "device_category_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    device_category_id: Mapped[int | None] = mapped_column(ForeignKey("device_categories.id"))
    locale: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    articles: Mapped[int] = mapped_column(default=0)
    pdf_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    # While running: the worker building it holds it until then; past it (the worker was killed), the minute tick
    # queues it again and the next worker takes it over.
    lease_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    device_category: Mapped[DeviceCategory | None] = relationship()
