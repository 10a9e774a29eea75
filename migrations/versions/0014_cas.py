"""CAS: registered services, tickets by digest, the tickets each SSO session handed out (for single
logout); the protocol of a parked sign-in request; the durable queue of logout deliveries

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cas_services',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('match', sa.String(length=10), nullable=False),
    sa.Column('pattern', sa.String(length=1000), nullable=False),
    sa.Column('release', sa.JSON(), nullable=False),
    sa.Column('allow_proxy', sa.Boolean(), nullable=False),
    sa.Column('proxy_pattern', sa.String(length=1000), nullable=True),
    sa.Column('logout_url', sa.String(length=1000), nullable=True),
    sa.Column('single_logout', sa.Boolean(), nullable=False),
    sa.Column('require_mfa', sa.Boolean(), nullable=False),
    sa.Column('allowed_units', sa.JSON(), nullable=False),
    sa.Column('allowed_groups', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('evaluation_order', sa.Integer(), nullable=False),
    sa.Column('launch_url', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cas_services'))
    )
    op.create_table('cas_tickets',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('service_id', sa.String(length=100), nullable=False),
    sa.Column('service_url', sa.String(length=2000), nullable=False),
    sa.Column('official_id', sa.String(length=36), nullable=False),
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('auth_time', sa.BigInteger(), nullable=False),
    sa.Column('acr', sa.String(length=100), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('from_new_login', sa.Boolean(), nullable=False),
    sa.Column('proxies', sa.JSON(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('consumed_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_cas_tickets_official_id_officials'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['cas_services.id'], name=op.f('fk_cas_tickets_service_id_cas_services'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_cas_tickets'))
    )
    op.create_index('ix_cas_tickets_expires_at', 'cas_tickets', ['expires_at'], unique=False)
    op.create_index(op.f('ix_cas_tickets_sid'), 'cas_tickets', ['sid'], unique=False)
    op.create_table('session_cas_tickets',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('session_index', sa.String(length=300), nullable=False),
    sa.Column('service_id', sa.String(length=100), nullable=False),
    sa.Column('service_url', sa.String(length=2000), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['cas_services.id'],
                            name=op.f('fk_session_cas_tickets_service_id_cas_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sid', 'session_index', name=op.f('pk_session_cas_tickets'))
    )
    op.create_table('logout_deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('official_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('application', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('session_index', sa.String(length=300), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('done_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_logout_deliveries'))
    )
    op.create_index('ix_logout_deliveries_due', 'logout_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_logout_deliveries_sid'), 'logout_deliveries', ['sid'], unique=False)
    with op.batch_alter_table('pending_authorizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('protocol', sa.String(length=10), server_default='oidc', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('pending_authorizations', schema=None) as batch_op:
        batch_op.drop_column('protocol')
    op.drop_index(op.f('ix_logout_deliveries_sid'), table_name='logout_deliveries')
    op.drop_index('ix_logout_deliveries_due', table_name='logout_deliveries')
    op.drop_table('logout_deliveries')
    op.drop_table('session_cas_tickets')
    op.drop_index(op.f('ix_cas_tickets_sid'), table_name='cas_tickets')
    op.drop_index('ix_cas_tickets_expires_at', table_name='cas_tickets')
    op.drop_table('cas_tickets')
    op.drop_table('cas_services')
