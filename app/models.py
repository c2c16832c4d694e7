"""Database models: the router stores metadata only, never model files (FR-5)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class RegisteredModel(db.Model):
    """A model the fleet should hold. The primary key is what makes "first one wins" hold under
    concurrent registration: the second insert fails on the constraint, not on a prior check."""

    __tablename__ = "registered_models"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "supported" | "url"
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    repo: Mapped[str] = mapped_column(String(255))
    revision: Mapped[str] = mapped_column(String(64), default="main")
    filename: Mapped[str] = mapped_column(String(255))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    format: Mapped[str] = mapped_column(String(32))
    engine: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    required_memory_bytes: Mapped[int] = mapped_column(BigInteger)
    quantization: Mapped[str | None] = mapped_column(String(64), nullable=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
