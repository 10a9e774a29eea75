"""What an installation keeps about itself in its database, so every process and the CLI agree: the issuer the
server answers as, and policy set by declarative configuration (units whose officials always use MFA)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base, now

ISSUER = "issuer"
MFA_REQUIRED_UNITS = "mfa_required_units"


class InstallationSetting(Base):
    __tablename__ = "installation_settings"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)


def read(session: Session, name: str, default: Any = None) -> Any:
    row = session.get(InstallationSetting, name)
    return default if row is None else row.value


def write(session: Session, name: str, value: Any) -> None:
    row = session.get(InstallationSetting, name)
    if row is None:
        session.add(InstallationSetting(name=name, value=value, updated_at=now()))
    elif row.value != value:
        row.value, row.updated_at = value, now()
    session.flush()
