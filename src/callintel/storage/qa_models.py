"""Tables owned by QA review: search segments (embedded transcript windows) and reported handling
times. Created by the ``0002_qa_search`` migration; share ``Base`` with ``storage.models``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callintel.storage.models import Base, utcnow


class SearchSegment(Base):
    """One transcript window of a call with its sentence embedding (float32 little-endian)."""

    __tablename__ = "search_segments"
    __table_args__ = (Index("ix_search_segments_tenant_call", "tenant_id", "call_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    analysis_version: Mapped[int] = mapped_column(Integer, default=0)
    first_turn: Mapped[int] = mapped_column(Integer)
    last_turn: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float, default=0.0)
    text: Mapped[str] = mapped_column(Text)
    embedder: Mapped[str] = mapped_column(String(40))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)


class CallHandling(Base):
    """Handling times reported by the telephony platform (hold and after-call work)."""

    __tablename__ = "call_handling"
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    hold_s: Mapped[float | None] = mapped_column(Float, default=None)
    after_call_work_s: Mapped[float | None] = mapped_column(Float, default=None)
    transferred: Mapped[bool | None] = mapped_column(Boolean, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
