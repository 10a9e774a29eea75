"""Units, officials and groups: the identity store every other part reads."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now


class Unit(Base):
    """An administrative unit (province, district, commune, department): a tree of no fixed depth."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40), default="unit")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class Official(Base):
    """A person. `id` is the OIDC `sub`: stable for life, whatever happens to username or unit."""

    __tablename__ = "officials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # NFC, case-folded: the same official whatever form the keyboard produced.
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(300))
    given_name: Mapped[str] = mapped_column(String(150), default="")
    family_name: Mapped[str] = mapped_column(String(150), default="")
    middle_name: Mapped[str] = mapped_column(String(150), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str | None] = mapped_column(String(200))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(60), default="local")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, onupdate=now)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"))


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_official", "official_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), primary_key=True)
