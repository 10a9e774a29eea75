"""SQLAlchemy implementation of the protocol's storage, and the per-process caches in front of it.

The token endpoint's statements are written to keep round trips few: a code is claimed and linked to its
grant by one UPDATE … RETURNING, an official and their groups come back in one SELECT, units come from a cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.cache import TtlCache
from app.db import now, upsert
from app.identity.models import Group, GroupMember, Official
from app.identity.units import unit_info
from app.oidc.models import ClientInfo, CodeRecord, GrantRecord, IssuedTokens, RefreshRecord, Subject, UnitInfo
from app.store.driver_sql import DriverStatement
from app.store.models import (
    AuthorizationCode,
    Client,
    RefreshToken,
    RevokedAccessToken,
    TokenGrant,
    UsedAssertion,
)

T = TypeVar("T")
GROUP_SEPARATOR = "\x1f"


ClientCache = TtlCache[ClientInfo]
UnitCache = TtlCache[UnitInfo]


def client_info(row: Client) -> ClientInfo:
    return ClientInfo(
        client_id=row.client_id, name=row.name, secret_digest=row.secret_digest,
        redirect_uris=tuple(row.redirect_uris or ()),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
        grant_types=tuple(row.grant_types or ()), scopes=tuple(row.scopes or ()),
        token_endpoint_auth_method=row.token_endpoint_auth_method, first_party=row.first_party,
        require_pkce=row.require_pkce, jwks=row.jwks, backchannel_logout_uri=row.backchannel_logout_uri,
        id_token_signed_response_alg=row.id_token_signed_response_alg, require_mfa=row.require_mfa,
        allowed_units=tuple(row.allowed_units or ()), allowed_groups=tuple(row.allowed_groups or ()),
    )


def _groups_of(official_id: Any) -> Any:
    groups, members = Group.__table__, GroupMember.__table__
    return (select(func.aggregate_strings(groups.c.name, GROUP_SEPARATOR))
            .join(members, members.c.group_id == groups.c.id)
            .where(members.c.official_id == official_id).scalar_subquery())


# The token endpoint's statements, built once on tables (not ORM entities): no per-request construction,
# no ORM unit of work, just a cached compiled statement and its parameters. Each grant is CPU-bound in this
# process (bench/token_endpoint.py), and every statement and every returned column costs: so each reads only
# what the grant uses, and on PostgreSQL a code is claimed together with its official in one statement.
_codes: Table = cast(Table, AuthorizationCode.__table__)
_grants: Table = cast(Table, TokenGrant.__table__)
_refresh: Table = cast(Table, RefreshToken.__table__)
_officials: Table = cast(Table, Official.__table__)
_SUBJECT_COLUMNS = [_officials.c[name] for name in (
    "id", "username", "display_name", "given_name", "family_name", "middle_name", "email", "phone", "title",
    "unit_id", "updated_at", "enabled")]
SUBJECT = select(*_SUBJECT_COLUMNS, _groups_of(_officials.c.id).label("group_names")).where(
    _officials.c.id == bindparam("subject_id"))
_CODE_COLUMNS = [c for c in _codes.c if c.name not in ("used_at", "grant_id")]
CLAIM_CODE = (
    update(_codes)
    .where(_codes.c.code_digest == bindparam("digest"), _codes.c.client_id == bindparam("b_client_id"),
           _codes.c.used_at.is_(None))
    .values(used_at=bindparam("b_now"), grant_id=bindparam("b_grant_id"))
    .returning(*_CODE_COLUMNS)
)
_claimed = CLAIM_CODE.cte("claimed")
# PostgreSQL only: SQLite has no data-modifying CTE and its RETURNING cannot read a joined table.
CLAIM_CODE_WITH_SUBJECT = select(
    _claimed, *[c.label(f"subject_{c.name}") for c in _SUBJECT_COLUMNS],
    _groups_of(_officials.c.id).label("subject_group_names"),
).select_from(_claimed.outerjoin(_officials, _officials.c.id == _claimed.c.official_id))
INSERT_GRANT = insert(_grants).values({c.name: bindparam(c.name) for c in _grants.c})
INSERT_REFRESH = insert(_refresh).values({c.name: bindparam(c.name) for c in _refresh.c})
# PostgreSQL only: the grant and its first refresh token in one statement.
INSERT_GRANT_AND_REFRESH = (
    insert(_refresh).values({c.name: bindparam(f"r_{c.name}") for c in _refresh.c})
    .add_cte(insert(_grants).values({c.name: bindparam(f"g_{c.name}") for c in _grants.c}).cte("new_grant"))
)
REFRESH_WITH_GRANT = (
    select(_refresh.c.token_digest, _refresh.c.client_id.label("token_client_id"),
           _refresh.c.scope.label("token_scope"), _refresh.c.expires_at, _refresh.c.rotated_at, *_grants.c,
           *[c.label(f"subject_{c.name}") for c in _SUBJECT_COLUMNS],
           _groups_of(_officials.c.id).label("subject_group_names"))
    .join(_grants, _grants.c.id == _refresh.c.grant_id)
    .outerjoin(_officials, _officials.c.id == _grants.c.official_id)
    .where(_refresh.c.token_digest == bindparam("digest"))
)
ROTATE_REFRESH = (
    update(_refresh)
    .where(_refresh.c.token_digest == bindparam("digest"), _refresh.c.rotated_at.is_(None))
    .values(rotated_at=bindparam("b_now"))
)
# PostgreSQL only: rotate the old token out and insert its successor in one statement; the insert happens only
# if the rotation did (a token rotated twice is reuse).
_rotated = ROTATE_REFRESH.returning(_refresh.c.grant_id).cte("rotated")
ROTATE_AND_INSERT_REFRESH = insert(_refresh).add_cte(_rotated).from_select(
    [c.name for c in _refresh.c],
    select(*[bindparam(f"r_{c.name}", type_=c.type) for c in _refresh.c]).select_from(_rotated),
)
INSERT_CODE = insert(_codes).values({name: bindparam(name) for name in (
    "code_digest", "client_id", "official_id", "redirect_uri", "scope", "nonce", "code_challenge",
    "code_challenge_method", "sid", "auth_time", "acr", "amr", "expires_at")})
RUN_SUBJECT = DriverStatement(SUBJECT)
RUN_INSERT_CODE = DriverStatement(INSERT_CODE)
RUN_CLAIM_CODE = DriverStatement(CLAIM_CODE)
RUN_CLAIM_CODE_WITH_SUBJECT = DriverStatement(CLAIM_CODE_WITH_SUBJECT)
RUN_INSERT_GRANT = DriverStatement(INSERT_GRANT)
RUN_INSERT_REFRESH = DriverStatement(INSERT_REFRESH)
RUN_INSERT_GRANT_AND_REFRESH = DriverStatement(INSERT_GRANT_AND_REFRESH)
RUN_REFRESH_WITH_GRANT = DriverStatement(REFRESH_WITH_GRANT)
RUN_ROTATE_REFRESH = DriverStatement(ROTATE_REFRESH)
RUN_ROTATE_AND_INSERT_REFRESH = DriverStatement(ROTATE_AND_INSERT_REFRESH)


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of a two-table statement, whose tables share column names."""
    return {f"{prefix}{k}": v for k, v in values.items()}


def _grant_record(row: Mapping[str, Any]) -> GrantRecord:
    return GrantRecord(
        id=row["id"], client_id=row["client_id"], subject_id=row["official_id"], sid=row["sid"],
        scope=row["scope"], auth_time=row["auth_time"], acr=row["acr"], amr=tuple(row["amr"] or ()),
        offline=bool(row["offline"]), revoked=row["revoked_at"] is not None,
    )


def _subject_from(row: Mapping[str, Any], unit: UnitInfo | None, prefix: str = "") -> Subject:
    def value(name: str) -> Any:
        return row[prefix + name]

    names = value("group_names")
    return Subject(
        id=value("id"), username=value("username"), display_name=value("display_name"),
        given_name=value("given_name"), family_name=value("family_name"), middle_name=value("middle_name"),
        email=value("email"), phone=value("phone"), title=value("title"), unit=unit,
        groups=tuple(sorted(names.split(GROUP_SEPARATOR))) if names else (), updated_at=value("updated_at"),
        enabled=bool(value("enabled")),
    )


class SqlOIDCStorage:
    def __init__(self, session: Session, clients: ClientCache, units: UnitCache | None = None) -> None:
        self.session = session
        self.clients = clients
        self.units = units or UnitCache(0)
        self.on_postgresql = session.get_bind().dialect.name == "postgresql"
        # Officials read together with the code or refresh token that names them: the grant asks for the same
        # official right after, within this one request's transaction, so it costs no second statement.
        self._read_with_credential: dict[str, Mapping[str, Any]] = {}

    def get_client(self, client_id: str) -> ClientInfo | None:
        hit, info = self.clients.get(client_id)
        if hit:
            return info
        row = self.session.get(Client, client_id)
        info = client_info(row) if row is not None and row.enabled else None
        self.clients.put(client_id, info)
        return info

    def _unit(self, unit_id: str | None) -> UnitInfo | None:
        if not unit_id:
            return None
        hit, info = self.units.get(unit_id)
        if not hit:
            info = unit_info(self.session, unit_id)
            self.units.put(unit_id, info)
        return info

    def get_subject(self, subject_id: str) -> Subject | None:
        read = self._read_with_credential.pop(subject_id, None)
        if read is not None:
            return _subject_from(read, self._unit(read["subject_unit_id"]), "subject_")
        row = RUN_SUBJECT.one_or_none(self.session, {"subject_id": subject_id})
        return _subject_from(row, self._unit(row["unit_id"])) if row is not None else None

    def _remember_subject(self, row: Mapping[str, Any]) -> None:
        if row["subject_id"] is not None:
            self._read_with_credential[row["subject_id"]] = row

    def save_code(self, record: CodeRecord) -> None:
        RUN_INSERT_CODE.rowcount(self.session, {
            "code_digest": record.code_digest, "client_id": record.client_id, "official_id": record.subject_id,
            "redirect_uri": record.redirect_uri, "scope": record.scope, "nonce": record.nonce,
            "code_challenge": record.code_challenge, "code_challenge_method": record.code_challenge_method,
            "sid": record.sid, "auth_time": record.auth_time, "acr": record.acr, "amr": list(record.amr),
            "expires_at": record.expires_at})

    def claim_code(self, code_digest: str, client_id: str, grant_id: str) -> tuple[CodeRecord | None, bool]:
        params = {"digest": code_digest, "b_client_id": client_id, "b_now": now(), "b_grant_id": grant_id}
        statement = RUN_CLAIM_CODE_WITH_SUBJECT if self.on_postgresql else RUN_CLAIM_CODE
        row = statement.one_or_none(self.session, params)
        if row is None:
            earlier = self.session.execute(
                select(AuthorizationCode.grant_id).where(AuthorizationCode.code_digest == code_digest,
                                                         AuthorizationCode.client_id == client_id)
            ).one_or_none()
            if earlier is None:
                return None, False
            # RFC 6749 §4.1.2: a code used twice revokes the tokens it already issued.
            if earlier.grant_id:
                self.revoke_grant(earlier.grant_id, "code_replay")
            return None, True
        if self.on_postgresql:
            self._remember_subject(row)
        return CodeRecord(
            code_digest=row["code_digest"], client_id=row["client_id"], subject_id=row["official_id"],
            redirect_uri=row["redirect_uri"], scope=row["scope"], nonce=row["nonce"],
            code_challenge=row["code_challenge"], code_challenge_method=row["code_challenge_method"],
            sid=row["sid"], auth_time=row["auth_time"], acr=row["acr"], amr=tuple(row["amr"] or ()),
            expires_at=row["expires_at"], grant_id=grant_id,
        ), False

    def save_issued(self, issued: IssuedTokens, code_digest: str | None) -> bool:
        grant = issued.grant
        if grant is None:
            return True  # client_credentials: the JWT is the whole record
        new_grant = dict(
            id=grant.id, client_id=grant.client_id, official_id=grant.subject_id, sid=grant.sid or None,
            scope=grant.scope, auth_time=grant.auth_time, acr=grant.acr, amr=list(grant.amr),
            offline=grant.offline, created_at=now(), revoked_at=None, revoked_reason=None,
        ) if code_digest else None
        refresh = dict(
            token_digest=issued.refresh_digest, grant_id=grant.id, client_id=grant.client_id,
            scope=issued.refresh_scope, created_at=now(), expires_at=issued.refresh_expires_at, rotated_at=None,
        ) if issued.refresh_digest else None
        old = issued.replaces_refresh_digest
        if old and refresh and self.on_postgresql:
            return bool(RUN_ROTATE_AND_INSERT_REFRESH.rowcount(self.session, {
                "digest": old, "b_now": now(), **_prefixed("r_", refresh)}))
        if old and not RUN_ROTATE_REFRESH.rowcount(self.session, {"digest": old, "b_now": now()}):
            return False
        if new_grant and refresh and self.on_postgresql:
            RUN_INSERT_GRANT_AND_REFRESH.rowcount(self.session, {
                **_prefixed("g_", new_grant), **_prefixed("r_", refresh)})
            return True
        if new_grant:
            RUN_INSERT_GRANT.rowcount(self.session, new_grant)
        if refresh:
            RUN_INSERT_REFRESH.rowcount(self.session, refresh)
        return True

    def get_refresh_token(self, token_digest: str) -> RefreshRecord | None:
        row = RUN_REFRESH_WITH_GRANT.one_or_none(self.session, {"digest": token_digest})
        if row is None:
            return None
        self._remember_subject(row)
        return RefreshRecord(
            token_digest=row["token_digest"], grant=_grant_record(row), client_id=row["token_client_id"],
            scope=row["token_scope"], expires_at=row["expires_at"], rotated=row["rotated_at"] is not None,
        )

    def revoke_grant(self, grant_id: str, reason: str) -> None:
        self.session.execute(
            update(TokenGrant).where(TokenGrant.id == grant_id, TokenGrant.revoked_at.is_(None))
            .values(revoked_at=now(), revoked_reason=reason)
        )

    def get_grant(self, grant_id: str) -> GrantRecord | None:
        row = self.session.get(TokenGrant, grant_id)
        return _grant_record({c.name: getattr(row, c.name) for c in _grants.c}) if row else None

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
        # One statement that holds alone (no savepoint): a grant runs without a transaction around it.
        added = self.session.scalar(upsert(self.session, UsedAssertion).values(key=key, expires_at=expires_at)
                                    .on_conflict_do_nothing(index_elements=["key"]).returning(UsedAssertion.key))
        return added is not None
