"""Alembic migrations; the schema changes only through these."""
