"""The few storage methods the protocol needs; `app.store.oidc_store.SqlOIDCStorage` implements them."""

from __future__ import annotations

from typing import Protocol

from app.oidc.models import ClientInfo, CodeRecord, GrantRecord, IssuedTokens, RefreshRecord, Subject


class OIDCStorage(Protocol):
    def get_client(self, client_id: str) -> ClientInfo | None: ...

    def get_subject(self, subject_id: str) -> Subject | None: ...

    def save_code(self, record: CodeRecord) -> None: ...

    def claim_code(self, code_digest: str, client_id: str, grant_id: str) -> tuple[CodeRecord | None, bool]:
        """Mark a code used and bind it to the grant it will issue. Returns (record, replayed); a replay
        revokes what the code issued."""
        ...

    def save_issued(self, issued: IssuedTokens, code_digest: str | None) -> bool:
        """Persist a grant's new tokens. A refresh grant's new token replaces the one it was asked with, in
        the same step: False, and nothing saved, if that one was already rotated (the caller treats that as
        reuse)."""
        ...

    def get_refresh_token(self, token_digest: str) -> RefreshRecord | None: ...

    def revoke_grant(self, grant_id: str, reason: str) -> None: ...

    def get_grant(self, grant_id: str) -> GrantRecord | None: ...

    def revoke_access_token(self, jti: str, expires_at: int) -> None: ...

    def is_access_token_revoked(self, jti: str, grant_id: str | None) -> bool: ...

    def use_assertion_once(self, key: str, expires_at: int) -> bool:
        """Record a client assertion's jti; False if it was seen before."""
        ...
