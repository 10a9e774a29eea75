"""Master-key rotation: every sealed value (signing keys, directory bind passwords, connector
configurations, TOTP seeds, upstream providers' secrets and the ID tokens kept for upstream logout) re-sealed
under the current master key, in one transaction.

The officials' national id digests are keyed by the master key too, and cannot be re-keyed without the numbers:
lookups also try the previous keys, and the next full directory sync writes them under the new key. Run it
before dropping the previous key.

With the key in a file (the embedded default) `rotate` also makes the new key and swaps the files; with
the key in SSO_MASTER_KEY the operator first restarts every process with the new key in SSO_MASTER_KEY and
the old one in SSO_MASTER_KEY_PREVIOUS, then runs `reseal`, then drops the old key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import SecretBox, generate_master_key
from app.db import Database
from app.identity.models import DirectorySource
from app.installation import InstallationSetting
from app.mfa.models import TotpFactor
from app.provisioning.models import ConnectorInstance
from app.store.models import SigningKey
from app.store.saml_store import SIGNING_SETTING
from app.upstream.models import IdentityProvider, UpstreamSession

SEALED: tuple[tuple[Any, str], ...] = (
    (SigningKey, "private_jwk_sealed"),
    (DirectorySource, "bind_password_sealed"),
    (ConnectorInstance, "config_sealed"),
    (TotpFactor, "secret_sealed"),
    (IdentityProvider, "client_secret_sealed"),
    (IdentityProvider, "private_key_sealed"),
    (UpstreamSession, "id_token_sealed"),
)

def _label(model: Any, column: str) -> str:
    """A table's name, or table.column where a table has more than one sealed column."""
    several = sum(1 for m, _ in SEALED if m is model) > 1
    return f"{model.__tablename__}.{column}" if several else str(model.__tablename__)


# Sealed values inside installation settings (name, field of its JSON value): the SAML IdP's key.
SEALED_SETTINGS: tuple[tuple[str, str], ...] = ((SIGNING_SETTING, "key"),)


def _sealed_settings(s: Session, lock: bool = False) -> list[tuple[InstallationSetting, str]]:
    query = select(InstallationSetting).where(InstallationSetting.name.in_([n for n, _ in SEALED_SETTINGS]))
    rows = {row.name: row for row in s.scalars(query.with_for_update() if lock else query)}
    return [(rows[name], field) for name, field in SEALED_SETTINGS
            if name in rows and isinstance(rows[name].value, dict) and rows[name].value.get(field)]


@dataclass(frozen=True)
class ResealReport:
    key_id: str
    resealed: dict[str, int]
    already: dict[str, int]


def census(db: Database) -> dict[str, dict[str, int]]:
    """How many values each master key (by id) sealed, per table."""
    out: dict[str, dict[str, int]] = {}
    with db.session() as s:
        for model, column in SEALED:
            counts: dict[str, int] = {}
            for value in s.scalars(select(getattr(model, column)).where(getattr(model, column).is_not(None))):
                key_id = SecretBox.key_id_of(value) or "?"
                counts[key_id] = counts.get(key_id, 0) + 1
            out[_label(model, column)] = counts
        counts = {}
        for row, name in _sealed_settings(s):
            key_id = SecretBox.key_id_of(row.value[name]) or "?"
            counts[key_id] = counts.get(key_id, 0) + 1
        out[InstallationSetting.__tablename__] = counts
    return out


def reseal(db: Database, box: SecretBox, progress: Callable[[str], None] = lambda _: None) -> ResealReport:
    """Re-seal whatever another key sealed under box's current key. Idempotent: run it again after a crash."""
    resealed: dict[str, int] = {}
    already: dict[str, int] = {}
    with db.session() as s:
        for model, column in SEALED:
            table = _label(model, column)
            resealed[table] = already[table] = 0
            for row in s.scalars(select(model).where(getattr(model, column).is_not(None)).with_for_update()):
                value = getattr(row, column)
                if SecretBox.key_id_of(value) == box.key_id:
                    already[table] += 1
                    continue
                setattr(row, column, box.seal(box.open(value)))
                resealed[table] += 1
            progress(f"{table}: {resealed[table]} re-sealed, {already[table]} already under {box.key_id}")
        table = InstallationSetting.__tablename__
        resealed[table] = already[table] = 0
        for row, name in _sealed_settings(s, lock=True):
            if SecretBox.key_id_of(row.value[name]) == box.key_id:
                already[table] += 1
                continue
            row.value = {**row.value, name: box.seal(box.open(row.value[name]))}  # a new dict: JSON is not tracked
            resealed[table] += 1
        progress(f"{table}: {resealed[table]} re-sealed, {already[table]} already under {box.key_id}")
    progress("officials' national id digests: the next full directory sync writes them under the new key")
    return ResealReport(box.key_id, resealed, already)


def rotate_key_file(db: Database, key_file: Path, progress: Callable[[str], None]) -> ResealReport:
    """The embedded default: a new key beside the file, everything re-sealed, then the files swapped."""
    old = key_file.read_text().strip()
    pending = key_file.with_name(key_file.name + ".next")
    if pending.exists():  # an earlier run stopped half-way: finish that one, with its key
        new = pending.read_text().strip()
    else:
        new = generate_master_key()
        _write_private(pending, new)
    report = reseal(db, SecretBox(new, [old]), progress)
    retired = key_file.with_name(key_file.name + ".previous")
    _write_private(retired, (retired.read_text() if retired.exists() else "") + old + "\n")
    os.replace(pending, key_file)
    return report


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
