"""Roles granted to officials over a unit subtree; bulk imports; reorganisation plans."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now

ROLES = ("province_admin", "unit_admin", "helpdesk", "auditor")


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("official_id", "role", "unit_id", name="uq_role_grants"),
                      Index("ix_role_grants_official", "official_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(30))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    granted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class ImportJob(Base):
    """An uploaded list of officials: previewed row by row, then committed, resumable from `position`."""

    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(200))
    scope_unit_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    filename: Mapped[str] = mapped_column(String(300))
    digest: Mapped[str] = mapped_column(String(64))  # of the rows: the same file twice is the same job
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="previewed")  # previewed, committing, done
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)


class Reorganisation(Base):
    """A reform: merges, moves, removed levels, renames and mail-domain changes, applied in batches."""

    __tablename__ = "reorganisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    effective_date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD
    operations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="planned")  # previewing, planned, applying, done, failed
    # Officials still to move, in order; the apply step pops batches off the front (resumable).
    remaining: Mapped[list[str]] = mapped_column(JSON, default=list)
    units_done: Mapped[bool] = mapped_column(default=False)
    report: Mapped[str | None] = mapped_column(Text)
    # The dry run while the worker goes through it: officials looked at (up to `after`, in id order) of those
    # concerned, and the running counts the report is written from.
    dry_run: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)
