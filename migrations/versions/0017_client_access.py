"""OIDC clients get the access rule every application has (allowed units and groups) and a front-channel
logout URI (OpenID Connect Front-Channel Logout 1.0)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 05:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allowed_units', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('allowed_groups', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('frontchannel_logout_uri', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_column('frontchannel_logout_uri')
        batch_op.drop_column('allowed_groups')
        batch_op.drop_column('allowed_units')
