"""Records past their end are deleted by the worker (app/store/retention.py): the columns it selects them by are
indexed, so a sweep reads what it deletes and not the whole table

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 03:00:00
"""
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_authorization_codes_expires_at', 'authorization_codes', 'expires_at'),
    ('ix_refresh_tokens_expires_at', 'refresh_tokens', 'expires_at'),
    ('ix_token_grants_created_at', 'token_grants', 'created_at'),
    ('ix_revoked_access_tokens_expires_at', 'revoked_access_tokens', 'expires_at'),
    ('ix_sso_sessions_expires_at', 'sso_sessions', 'expires_at'),
    ('ix_account_tokens_expires_at', 'account_tokens', 'expires_at'),
]


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
