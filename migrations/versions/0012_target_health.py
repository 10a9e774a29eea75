"""target health: a circuit breaker per provisioning target

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('target_health',
    sa.Column('connector', sa.String(length=60), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('opened', sa.Integer(), nullable=False),
    sa.Column('paused_until', sa.BigInteger(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('connector', name=op.f('pk_target_health'))
    )


def downgrade() -> None:
    op.drop_table('target_health')
