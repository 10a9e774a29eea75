"""SAML: service providers from their metadata, seen AuthnRequest IDs, persistent NameIDs, the SPs of each
session (single logout)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 05:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('saml_service_providers',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('entity_id', sa.String(length=1000), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('metadata_xml', sa.Text(), nullable=False),
    sa.Column('metadata_url', sa.String(length=1000), nullable=True),
    sa.Column('release', sa.JSON(), nullable=False),
    sa.Column('nameid_format', sa.String(length=200), nullable=True),
    sa.Column('sign_response', sa.Boolean(), nullable=False),
    sa.Column('require_mfa', sa.Boolean(), nullable=False),
    sa.Column('allowed_units', sa.JSON(), nullable=False),
    sa.Column('allowed_groups', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('launch_url', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saml_service_providers')),
    sa.UniqueConstraint('entity_id', name=op.f('uq_saml_service_providers_entity_id'))
    )
    op.create_table('saml_seen_requests',
    sa.Column('issuer', sa.String(length=1000), nullable=False),
    sa.Column('request_id', sa.String(length=256), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('issuer', 'request_id', name=op.f('pk_saml_seen_requests'))
    )
    op.create_index(op.f('ix_saml_seen_requests_expires_at'), 'saml_seen_requests', ['expires_at'], unique=False)
    op.create_table('saml_persistent_ids',
    sa.Column('sp_id', sa.String(length=100), nullable=False),
    sa.Column('official_id', sa.String(length=36), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'],
                            name=op.f('fk_saml_persistent_ids_official_id_officials'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sp_id'], ['saml_service_providers.id'],
                            name=op.f('fk_saml_persistent_ids_sp_id_saml_service_providers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sp_id', 'official_id', name=op.f('pk_saml_persistent_ids')),
    sa.UniqueConstraint('value', name=op.f('uq_saml_persistent_ids_value'))
    )
    op.create_table('saml_participants',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('sp_id', sa.String(length=100), nullable=False),
    sa.Column('name_id', sa.String(length=320), nullable=False),
    sa.Column('name_id_format', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['sp_id'], ['saml_service_providers.id'],
                            name=op.f('fk_saml_participants_sp_id_saml_service_providers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sid', 'sp_id', name=op.f('pk_saml_participants'))
    )


def downgrade() -> None:
    op.drop_table('saml_participants')
    op.drop_table('saml_persistent_ids')
    op.drop_index(op.f('ix_saml_seen_requests_expires_at'), table_name='saml_seen_requests')
    op.drop_table('saml_seen_requests')
    op.drop_table('saml_service_providers')
