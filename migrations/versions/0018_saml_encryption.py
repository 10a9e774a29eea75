"""SAML: an SP may have its assertions encrypted for the key in its metadata

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 05:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('saml_service_providers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('encrypt_assertions', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('saml_service_providers', schema=None) as batch_op:
        batch_op.drop_column('encrypt_assertions')
