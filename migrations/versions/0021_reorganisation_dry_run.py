"""A reorganisation's dry run is worked through by the worker in steps, its progress and running counts kept on the
plan (a plan of 40,000 officials took one request and minutes); officials' addresses get an index (a new address
at a merged province's domain is checked against every official's)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 09:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reorganisations') as batch:
        batch.add_column(sa.Column('dry_run', sa.JSON(), nullable=True))
    op.create_index('ix_officials_email', 'officials', ['email'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_officials_email', table_name='officials')
    with op.batch_alter_table('reorganisations') as batch:
        batch.drop_column('dry_run')
