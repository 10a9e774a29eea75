"""Upstream identity providers (VNeID and other OpenID providers), linked identities, and the officials'
national id number as a keyed digest

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('officials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('national_id_digest', sa.String(length=80), nullable=True))
        batch_op.create_index('ix_officials_national_id_digest', ['national_id_digest'], unique=False)
    op.create_table(
        'identity_providers',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('config', sa.JSON(), nullable=False),
        sa.Column('client_secret_sealed', sa.Text(), nullable=True),
        sa.Column('private_key_sealed', sa.Text(), nullable=True),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'upstream_logins',
        sa.Column('state_digest', sa.String(length=64), nullable=False),
        sa.Column('provider', sa.String(length=40), nullable=False),
        sa.Column('browser_digest', sa.String(length=64), nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('code_verifier', sa.String(length=128), nullable=False),
        sa.Column('pending', sa.String(length=100), nullable=False),
        sa.Column('next_url', sa.String(length=300), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('state_digest'),
    )
    op.create_index('ix_upstream_logins_expires_at', 'upstream_logins', ['expires_at'], unique=False)
    op.create_table(
        'upstream_links',
        sa.Column('provider', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('official_id', sa.String(length=36), nullable=False),
        sa.Column('method', sa.String(length=20), nullable=False),
        sa.Column('display_name', sa.String(length=300), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('last_login_at', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['official_id'], ['officials.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('provider', 'subject'),
    )
    op.create_index('ix_upstream_links_official_id', 'upstream_links', ['official_id'], unique=False)
    op.create_table(
        'upstream_link_offers',
        sa.Column('id_digest', sa.String(length=64), nullable=False),
        sa.Column('browser_digest', sa.String(length=64), nullable=False),
        sa.Column('provider', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('display_name', sa.String(length=300), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id_digest'),
    )
    op.create_table(
        'upstream_sessions',
        sa.Column('sid', sa.String(length=40), nullable=False),
        sa.Column('provider', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('upstream_sid', sa.String(length=255), nullable=True),
        sa.Column('id_token_sealed', sa.Text(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('sid'),
    )
    op.create_index('ix_upstream_sessions_provider_sid', 'upstream_sessions', ['provider', 'upstream_sid'])
    op.create_index('ix_upstream_sessions_provider_subject', 'upstream_sessions', ['provider', 'subject'])


def downgrade() -> None:
    op.drop_table('upstream_sessions')
    op.drop_table('upstream_link_offers')
    op.drop_index('ix_upstream_links_official_id', table_name='upstream_links')
    op.drop_table('upstream_links')
    op.drop_index('ix_upstream_logins_expires_at', table_name='upstream_logins')
    op.drop_table('upstream_logins')
    op.drop_table('identity_providers')
    with op.batch_alter_table('officials', schema=None) as batch_op:
        batch_op.drop_index('ix_officials_national_id_digest')
        batch_op.drop_column('national_id_digest')
