"""gateway: applications behind a reverse proxy (forward auth), their one-time codes and cookie sessions

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gateway_apps',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=1000), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('require_mfa', sa.Boolean(), nullable=False),
    sa.Column('allowed_units', sa.JSON(), nullable=False),
    sa.Column('allowed_groups', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('launch_url', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_apps'))
    )
    op.create_table('gateway_grants',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('app_id', sa.String(length=100), nullable=False),
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('official_id', sa.String(length=36), nullable=False),
    sa.Column('return_to', sa.String(length=2000), nullable=True),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('used_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['gateway_apps.id'], name=op.f('fk_gateway_grants_app_id_gateway_apps'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_gateway_grants_official_id_officials'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_gateway_grants'))
    )
    op.create_index(op.f('ix_gateway_grants_sid'), 'gateway_grants', ['sid'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_gateway_grants_sid'), table_name='gateway_grants')
    op.drop_table('gateway_grants')
    op.drop_table('gateway_apps')
