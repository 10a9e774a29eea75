"""The schema changes only through migrations: they match the models, and they carry existing rows."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from app.db import Base, make_engine
from app.migrate import upgrade


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], diff


def test_upgrade_keeps_existing_officials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO officials (id, username, display_name, given_name, family_name, middle_name,"
                          " enabled, source, created_at, updated_at) VALUES ('s1', 'hieund', 'Nguyễn Đình Hiếu',"
                          " '', '', '', 1, 'local', 0, 0)"))
    upgrade(url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT username, source, external_id FROM officials")).one()
    engine.dispose()
    assert tuple(row) == ("hieund", "local", None)
