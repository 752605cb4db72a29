"""The customer's rating given afterwards, on the tracking page: at most one per request."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.db import Base
from ..core.types import utcnow
from ..requests.models import Ticket


class FollowUpRating(Base):
    __tablename__ = "follow_up_ratings"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        # The weekly report's satisfaction "afterwards": the ratings given in a week.
        Index("ix_follow_up_ratings_rated_at", "rated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)  # once per request
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime] = mapped_column(default=utcnow)
    remote_addr: Mapped[str | None] = mapped_column(String(64))

    ticket: Mapped[Ticket] = relationship()
