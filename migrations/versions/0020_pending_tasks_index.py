"""Pending provisioning tasks in the order workers claim them (a partial index): with a backlog of 100,000 the
claim sorted every pending row on each batch

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index('ix_provisioning_tasks_pending', 'provisioning_tasks', ['priority', 'id'], unique=False,
                    postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade() -> None:
    op.drop_index('ix_provisioning_tasks_pending', table_name='provisioning_tasks')
