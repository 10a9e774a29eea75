"""Alembic, driven from code: `sso-broker migrate` and the start-up check use this.

The start-up check reads the head revision from the migration files and the current one with one query,
without importing Alembic (a third of a second, paid by every CLI command); migrating imports it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

import migrations

VERSIONS = Path(migrations.__file__).parent / "versions"
_REVISION = re.compile(r"^revision = ['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision = ['\"]([^'\"]+)['\"]", re.M)


def alembic_config(database_url: str | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if database_url:
        cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """The revision no other migration builds on (the files form one line; a test checks Alembic agrees)."""
    revisions, parents = set(), set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if found := _REVISION.search(source):
            revisions.add(found.group(1))
        if down := _DOWN.search(source):
            parents.add(down.group(1))
    heads = sorted(revisions - parents)
    return heads[0] if len(heads) == 1 else None


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as exc:
        if "alembic_version" in str(exc):  # no such table: never migrated
            return None
        raise


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)
