"""Upstream identities linked to officials. The directory is the source of officials: an upstream identity never
creates one. It is linked by a verified attribute both sides hold (the national id number, compared by keyed
digest) or by the official signing in with their password and confirming; never by an e-mail address."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.trail import Actor, record
from app.crypto import SecretBox, token_digest
from app.db import now
from app.identity.models import Official
from app.store.models import UsedAssertion
from app.upstream.models import LinkOffer, UpstreamLink, UpstreamSession

OFFER_TTL = 600


class AlreadyLinked(Exception):
    """The identity is linked to another official: it stays theirs."""


@dataclass(frozen=True)
class LinkedIdentity:
    provider: str
    subject: str
    display_name: str
    method: str
    created_at: int
    last_login_at: int | None


def linked_official(session: Session, provider: str, subject: str) -> str | None:
    row = session.get(UpstreamLink, (provider, subject))
    return row.official_id if row else None


def official_by_national_id(session: Session, box: SecretBox, national_id: str) -> Official | None:
    """The one official the directory says holds this number; none when two do (a data error is not a link)."""
    found = list(session.scalars(select(Official).where(
        Official.national_id_digest.in_(box.lookup_digests(national_id)), Official.deleted_at.is_(None)).limit(2)))
    return found[0] if len(found) == 1 else None


def link(session: Session, provider: str, subject: str, official: Official, method: str, display_name: str,
         actor: Actor) -> None:
    holder = linked_official(session, provider, subject)
    if holder is not None and holder != official.id:
        record(session, "upstream.link", actor, outcome="linked_elsewhere", unit_id=official.unit_id,
               target=official.id, details={"provider": provider})
        raise AlreadyLinked(provider)
    if holder is None:
        try:
            with session.begin_nested():  # two browsers linking the same identity at once: one wins
                session.add(UpstreamLink(provider=provider, subject=subject, official_id=official.id, method=method,
                                         display_name=display_name[:300], created_at=now()))
        except IntegrityError:
            raise AlreadyLinked(provider) from None
        record(session, "upstream.link", actor, unit_id=official.unit_id, target=official.id,
               details={"provider": provider, "method": method})


def unlink(session: Session, provider: str, subject: str, official: Official, actor: Actor) -> bool:
    gone = session.execute(delete(UpstreamLink).where(
        UpstreamLink.provider == provider, UpstreamLink.subject == subject, UpstreamLink.official_id == official.id))
    removed = bool(getattr(gone, "rowcount", 0))
    if removed:
        record(session, "upstream.unlink", actor, unit_id=official.unit_id, target=official.id,
               details={"provider": provider})
    return removed


def links_of(session: Session, official_id: str) -> list[LinkedIdentity]:
    rows = session.scalars(select(UpstreamLink).where(UpstreamLink.official_id == official_id)
                           .order_by(UpstreamLink.provider, UpstreamLink.created_at))
    return [LinkedIdentity(r.provider, r.subject, r.display_name, r.method, r.created_at, r.last_login_at)
            for r in rows]


def touch(session: Session, provider: str, subject: str) -> None:
    session.execute(update(UpstreamLink).where(UpstreamLink.provider == provider, UpstreamLink.subject == subject)
                    .values(last_login_at=now()))


# --- offers: an identity waiting for its official to sign in with a password and confirm --------------------
def make_offer(session: Session, browser_id: str, provider: str, subject: str, display_name: str) -> str:
    session.execute(delete(LinkOffer).where(LinkOffer.expires_at < now()))
    token = secrets.token_urlsafe(24)
    current = now()
    session.add(LinkOffer(id_digest=token_digest(token), browser_digest=token_digest(browser_id), provider=provider,
                          subject=subject, display_name=display_name[:300], created_at=current,
                          expires_at=current + OFFER_TTL))
    return token


def offer(session: Session, token: str, browser_id: str) -> LinkOffer | None:
    if not token or len(token) > 64:
        return None
    row = session.get(LinkOffer, token_digest(token))
    if row is None or row.expires_at < now() or row.browser_digest != token_digest(browser_id):
        return None
    return row


# --- sessions that came from upstream ----------------------------------------------------------------------
def remember_session(session: Session, box: SecretBox, sid: str, provider: str, subject: str,
                     upstream_sid: str | None, id_token: str) -> None:
    session.add(UpstreamSession(sid=sid, provider=provider, subject=subject, upstream_sid=upstream_sid,
                                id_token_sealed=box.seal(id_token.encode()), created_at=now()))


def challenge_key(challenge_id: str) -> str:
    """Where an upstream login waiting for its second factor is remembered until its session exists."""
    return f"c:{challenge_id}"[:40]


def bind_session(session: Session, challenge_id: str, sid: str) -> None:
    session.execute(update(UpstreamSession).where(UpstreamSession.sid == challenge_key(challenge_id))
                    .values(sid=sid))


def sessions_named(session: Session, provider: str, subject: str | None, upstream_sid: str | None) -> list[str]:
    query = select(UpstreamSession.sid).where(UpstreamSession.provider == provider)
    if upstream_sid is not None:
        query = query.where(UpstreamSession.upstream_sid == upstream_sid)
    if subject is not None:
        query = query.where(UpstreamSession.subject == subject)
    return list(session.scalars(query))


def first_use(session: Session, key: str, expires_at: int) -> bool:
    """A logout token's jti, refused the second time."""
    try:
        with session.begin_nested():
            session.add(UsedAssertion(key=key[:300], expires_at=expires_at))
    except IntegrityError:
        return False
    return True
