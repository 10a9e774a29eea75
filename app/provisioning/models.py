"""Connector instances, the accounts they hold for officials, and the delivery queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, now


class ConnectorInstance(Base):
    """One target system: a connector kind, its configuration (sealed: it holds credentials), whom it serves."""

    __tablename__ = "connector_instances"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    config_sealed: Mapped[str] = mapped_column(Text)
    # Which officials get an account: {"all": true} or any of unit_codes (subtree), groups, titles.
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Account attribute -> template over the official, e.g. {"full_name": "{display_name}"}.
    mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    username_rule: Mapped[str] = mapped_column(String(40), default="vn_given_initials")
    # Days a leaver's disabled account is kept before it is deleted; None keeps it for ever.
    retention_days: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class AccountLink(Base):
    """An official's account in a target: its key (never handed to anyone else), id there, state, last write."""

    __tablename__ = "account_links"
    __table_args__ = (UniqueConstraint("connector", "key", name="uq_account_links_connector_key"),)

    official_id: Mapped[str] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"), primary_key=True)
    connector: Mapped[str] = mapped_column(ForeignKey("connector_instances.name", ondelete="CASCADE"),
                                           primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    target_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending, active, disabled
    digest: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)


PENDING = text("status = 'pending'")


class ProvisioningTask(Base):
    """One official to bring in line in one target. Claimed by workers; retried with backoff; dead-lettered."""

    __tablename__ = "provisioning_tasks"
    __table_args__ = (Index("ix_provisioning_tasks_due", "status", "next_attempt_at"),
                      Index("ix_provisioning_tasks_official", "official_id", "connector", "id"),
                      # the claim's order, over pending tasks only: a backlog is not sorted for every batch
                      Index("ix_provisioning_tasks_pending", "priority", "id", postgresql_where=PENDING,
                            sqlite_where=PENDING))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    official_id: Mapped[str] = mapped_column(String(36))
    connector: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, done, dead
    # 0 for leavers: access must end first, even behind a backlog of joiners.
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger, default=now)
    last_error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)


class ProvisioningAttempt(Base):
    """Every attempt at every task, kept: what was tried, when, and how it ended."""

    __tablename__ = "provisioning_attempts"
    __table_args__ = (Index("ix_provisioning_attempts_task", "task_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    task_id: Mapped[int] = mapped_column(BigInteger)
    official_id: Mapped[str] = mapped_column(String(36))
    connector: Mapped[str] = mapped_column(String(60))
    at: Mapped[int] = mapped_column(BigInteger, default=now)
    outcome: Mapped[str] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)


class TargetHealth(Base):
    """A target's circuit breaker, shared by every worker: failures in a row, and until when it rests."""

    __tablename__ = "target_health"

    connector: Mapped[str] = mapped_column(String(60), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Times the breaker opened in a row: each pause is longer, up to the policy's maximum.
    opened: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)
