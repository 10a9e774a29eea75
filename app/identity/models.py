"""Units, officials and groups: the identity store every other part reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now


class Unit(Base):
    """An administrative unit (province, district, commune, department): a tree of no fixed depth."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_units_source_external_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40), default="unit")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), index=True)
    source: Mapped[str] = mapped_column(String(40), default="local", server_default="local")
    external_id: Mapped[str | None] = mapped_column(String(100))
    dn: Mapped[str | None] = mapped_column(String(1000))
    # Officials' addresses are made in this domain (inherited by the subtree when empty).
    mail_domain: Mapped[str | None] = mapped_column(String(200))
    # A reorganisation merged this unit into another: kept for history, no longer offered.
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"))
    dissolved_at: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)

    __mapper_args__ = {"version_id_col": version}


class Official(Base):
    """A person. `id` is the OIDC `sub`: stable for life, whatever happens to username or unit."""

    __tablename__ = "officials"
    # The same username may exist in two directories (hieund in Bắc Giang and in Bắc Ninh).
    __table_args__ = (UniqueConstraint("source", "username", name="uq_officials_source_username"),
                      UniqueConstraint("source", "external_id", name="uq_officials_source_external_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # NFC, case-folded: the same official whatever form the keyboard produced.
    username: Mapped[str] = mapped_column(String(150))
    display_name: Mapped[str] = mapped_column(String(300))
    given_name: Mapped[str] = mapped_column(String(150), default="")
    family_name: Mapped[str] = mapped_column(String(150), default="")
    middle_name: Mapped[str] = mapped_column(String(150), default="")
    email: Mapped[str | None] = mapped_column(String(320), index=True)  # a new address is checked against all
    phone: Mapped[str | None] = mapped_column(String(40))
    # Personal, not the work mailbox (which needs a login to read): where a password reset link goes.
    recovery_email: Mapped[str | None] = mapped_column(String(320))
    recovery_email_verified_at: Mapped[int | None] = mapped_column(BigInteger)
    recovery_phone: Mapped[str | None] = mapped_column(String(40))
    recovery_phone_verified_at: Mapped[int | None] = mapped_column(BigInteger)
    title: Mapped[str | None] = mapped_column(String(200))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(40), default="local", server_default="local")
    # The directory's stable id (entryUUID, objectGUID): renames and moves keep the same official.
    external_id: Mapped[str | None] = mapped_column(String(100))
    dn: Mapped[str | None] = mapped_column(String(1000))
    employee_number: Mapped[str | None] = mapped_column(String(60))
    # The personal identification number as a keyed digest (SecretBox.lookup_digest): what links a VNeID
    # identity to the official, without the number being readable from the database.
    national_id_digest: Mapped[str | None] = mapped_column(String(80), index=True)
    entry_digest: Mapped[str | None] = mapped_column(String(64))
    last_seen_run: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now, onupdate=now)
    # Multi-valued SCIM attributes as the personnel system sent them (emails, phoneNumbers with type and
    # primary); `email` and `phone` hold the primary values that everything else uses.
    scim_extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Removed through SCIM DELETE: disabled like a leaver, and gone from SCIM's view.
    deleted_at: Mapped[int | None] = mapped_column(BigInteger)
    # Bumped by every change made through the ORM: the ETag that keeps two admins from overwriting each other.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("source", "name", name="uq_groups_source_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("units.id"))
    source: Mapped[str] = mapped_column(String(40), default="local", server_default="local")
    external_id: Mapped[str | None] = mapped_column(String(100))


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_official", "official_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), primary_key=True)


class ProvisioningEvent(Base):
    """The outbox: every identity change writes one in the same transaction; provisioning consumes them."""

    __tablename__ = "provisioning_events"
    __table_args__ = (Index("ix_provisioning_events_official", "official_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    official_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(20))  # joiner, mover, leaver, update
    source: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    status: Mapped[str] = mapped_column(String(20), default="pending")


class DirectorySource(Base):
    """A federated directory: its configuration, its sealed service password and its sync position."""

    __tablename__ = "directory_sources"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    bind_password_sealed: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor: Mapped[str | None] = mapped_column(String(60))
    run_id: Mapped[str | None] = mapped_column(String(40))
    run_started_at: Mapped[int | None] = mapped_column(BigInteger)
    run_finished_at: Mapped[int | None] = mapped_column(BigInteger)
    last_full_sync_at: Mapped[int | None] = mapped_column(BigInteger)
    last_sync_at: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class OfficialLink(Base):
    """A directory entry that an admin declared to be an official already known from another source.

    Logins through that entry reach the same official (the same `sub`), and the sync no longer keeps a
    separate official for it.
    """

    __tablename__ = "official_links"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class EmailAlias(Base):
    """An address an official used to have (a mail domain changed): kept as an alias until `expires_at`."""

    __tablename__ = "email_aliases"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
