"""SQLAlchemy implementation of the protocol's storage, plus the per-process client cache."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import now
from app.identity.models import Group, GroupMember, Official, Unit
from app.oidc.models import ClientInfo, CodeRecord, GrantRecord, IssuedTokens, RefreshRecord, Subject, UnitInfo
from app.store.models import (
    AuthorizationCode,
    Client,
    RefreshToken,
    RevokedAccessToken,
    SessionClient,
    TokenGrant,
    UsedAssertion,
)


class ClientCache:
    """Clients per process, for a few seconds: the token endpoint then needs no query to know its client.

    A change made in this process clears it at once; other processes see it within `ttl` seconds.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, ClientInfo | None]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> tuple[bool, ClientInfo | None]:
        item = self._items.get(client_id)
        if item and item[0] > time.monotonic():
            return True, item[1]
        return False, None

    def put(self, client_id: str, info: ClientInfo | None) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[client_id] = (time.monotonic() + self.ttl, info)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def client_info(row: Client) -> ClientInfo:
    return ClientInfo(
        client_id=row.client_id, name=row.name, secret_digest=row.secret_digest,
        redirect_uris=tuple(row.redirect_uris or ()),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
        grant_types=tuple(row.grant_types or ()), scopes=tuple(row.scopes or ()),
        token_endpoint_auth_method=row.token_endpoint_auth_method, first_party=row.first_party,
        require_pkce=row.require_pkce, jwks=row.jwks, backchannel_logout_uri=row.backchannel_logout_uri,
        id_token_signed_response_alg=row.id_token_signed_response_alg,
    )


def unit_info(session: Session, unit_id: str | None) -> UnitInfo | None:
    if not unit_id:
        return None
    chain: list[Unit] = []
    current = session.get(Unit, unit_id)
    while current is not None and len(chain) < 32:
        chain.append(current)
        current = session.get(Unit, current.parent_id) if current.parent_id else None
    if not chain:
        return None
    path = tuple({"id": u.id, "code": u.code, "name": u.name} for u in reversed(chain))
    return UnitInfo(id=chain[0].id, name=chain[0].name, code=chain[0].code, path=path)


def subject_of(session: Session, official: Official) -> Subject:
    groups = session.scalars(
        select(Group.name).join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.official_id == official.id).order_by(Group.name)
    ).all()
    return Subject(
        id=official.id, username=official.username, display_name=official.display_name,
        given_name=official.given_name, family_name=official.family_name, middle_name=official.middle_name,
        email=official.email, phone=official.phone, title=official.title,
        unit=unit_info(session, official.unit_id), groups=tuple(groups), updated_at=official.updated_at,
        enabled=official.enabled,
    )


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched: how a compare-and-set learns whether it won."""
    return int(cast(CursorResult[Any], result).rowcount)


def _grant_record(row: TokenGrant) -> GrantRecord:
    return GrantRecord(
        id=row.id, client_id=row.client_id, subject_id=row.official_id, sid=row.sid, scope=row.scope,
        auth_time=row.auth_time, acr=row.acr, amr=tuple(row.amr or ()), offline=row.offline,
        revoked=row.revoked_at is not None,
    )


class SqlOIDCStorage:
    def __init__(self, session: Session, clients: ClientCache) -> None:
        self.session = session
        self.clients = clients

    def get_client(self, client_id: str) -> ClientInfo | None:
        hit, info = self.clients.get(client_id)
        if hit:
            return info
        row = self.session.get(Client, client_id)
        info = client_info(row) if row is not None and row.enabled else None
        self.clients.put(client_id, info)
        return info

    def get_subject(self, subject_id: str) -> Subject | None:
        official = self.session.get(Official, subject_id)
        return subject_of(self.session, official) if official else None

    def save_code(self, record: CodeRecord) -> None:
        self.session.add(AuthorizationCode(
            code_digest=record.code_digest, client_id=record.client_id, official_id=record.subject_id,
            redirect_uri=record.redirect_uri, scope=record.scope, nonce=record.nonce,
            code_challenge=record.code_challenge, code_challenge_method=record.code_challenge_method,
            sid=record.sid, auth_time=record.auth_time, acr=record.acr, amr=list(record.amr),
            expires_at=record.expires_at,
        ))
        self.session.flush()

    def claim_code(self, code_digest: str, client_id: str) -> tuple[CodeRecord | None, bool]:
        claimed = _rowcount(self.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_digest == code_digest, AuthorizationCode.client_id == client_id,
                   AuthorizationCode.used_at.is_(None))
            .values(used_at=now())
        ))
        row = self.session.execute(
            select(AuthorizationCode).where(AuthorizationCode.code_digest == code_digest,
                                            AuthorizationCode.client_id == client_id)
        ).scalar_one_or_none()
        if row is None:
            return None, False
        if not claimed:
            # RFC 6749 §4.1.2: a code used twice revokes the tokens it already issued.
            if row.grant_id:
                self.revoke_grant(row.grant_id, "code_replay")
            return None, True
        return CodeRecord(
            code_digest=row.code_digest, client_id=row.client_id, subject_id=row.official_id,
            redirect_uri=row.redirect_uri, scope=row.scope, nonce=row.nonce,
            code_challenge=row.code_challenge, code_challenge_method=row.code_challenge_method,
            sid=row.sid, auth_time=row.auth_time, acr=row.acr, amr=tuple(row.amr or ()),
            expires_at=row.expires_at,
        ), False

    def save_issued(self, issued: IssuedTokens, code_digest: str | None) -> None:
        grant = issued.grant
        if grant is None:
            return  # client_credentials: the JWT is the whole record
        if code_digest:
            self.session.add(TokenGrant(
                id=grant.id, client_id=grant.client_id, official_id=grant.subject_id, sid=grant.sid or None,
                scope=grant.scope, auth_time=grant.auth_time, acr=grant.acr, amr=list(grant.amr),
                offline=grant.offline,
            ))
            self.session.flush()
            self.session.execute(
                update(AuthorizationCode).where(AuthorizationCode.code_digest == code_digest)
                .values(grant_id=grant.id)
            )
            if grant.sid:
                self.record_session_client(grant.sid, grant.client_id)
        if issued.refresh_digest:
            self.session.add(RefreshToken(
                token_digest=issued.refresh_digest, grant_id=grant.id, client_id=grant.client_id,
                scope=issued.refresh_scope, expires_at=issued.refresh_expires_at,
            ))
        self.session.flush()

    def get_refresh_token(self, token_digest: str) -> RefreshRecord | None:
        row = self.session.get(RefreshToken, token_digest)
        if row is None:
            return None
        grant = self.session.get(TokenGrant, row.grant_id)
        if grant is None:
            return None
        return RefreshRecord(
            token_digest=row.token_digest, grant=_grant_record(grant), client_id=row.client_id,
            scope=row.scope, expires_at=row.expires_at, rotated=row.rotated_at is not None,
        )

    def rotate_refresh_token(self, token_digest: str) -> bool:
        result = self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_digest == token_digest, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now())
        )
        return bool(_rowcount(result))

    def revoke_grant(self, grant_id: str, reason: str) -> None:
        self.session.execute(
            update(TokenGrant).where(TokenGrant.id == grant_id, TokenGrant.revoked_at.is_(None))
            .values(revoked_at=now(), revoked_reason=reason)
        )

    def get_grant(self, grant_id: str) -> GrantRecord | None:
        row = self.session.get(TokenGrant, grant_id)
        return _grant_record(row) if row else None

    def revoke_access_token(self, jti: str, expires_at: int) -> None:
        if self.session.get(RevokedAccessToken, jti) is None:
            self.session.add(RevokedAccessToken(jti=jti, expires_at=expires_at))
            self.session.flush()

    def is_access_token_revoked(self, jti: str, grant_id: str | None) -> bool:
        if self.session.get(RevokedAccessToken, jti) is not None:
            return True
        if grant_id:
            grant = self.session.get(TokenGrant, grant_id)
            return grant is None or grant.revoked_at is not None
        return False

    def use_assertion_once(self, key: str, expires_at: int) -> bool:
        self.session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now()))
        try:
            with self.session.begin_nested():
                self.session.add(UsedAssertion(key=key, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    def record_session_client(self, sid: str, client_id: str) -> None:
        if self.session.get(SessionClient, (sid, client_id)) is None:
            self.session.add(SessionClient(sid=sid, client_id=client_id))
            self.session.flush()
