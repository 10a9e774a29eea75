"""installation settings: the issuer the server answers as, policy from declarative configuration;
where a sign-in started (mfa_challenges.next_url)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 23:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('installation_settings',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_installation_settings'))
    )
    with op.batch_alter_table('mfa_challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_url', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mfa_challenges', schema=None) as batch_op:
        batch_op.drop_column('next_url')
    op.drop_table('installation_settings')
