"""RP-initiated logout and back-channel logout to every relying party that shared the session."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from authlib.common.urls import add_params_to_uri
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import now
from app.oidc.keys import TokenInvalid
from app.oidc.models import ClientInfo
from app.oidc.server import OIDCProvider
from app.store.access import end_access
from app.store.keys import KeyStore
from app.store.models import SsoSession
from app.store.oidc_store import ClientCache, SqlOIDCStorage
from app.store.sessions import SessionService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogoutRequest:
    """A validated end-session request: where to go afterwards, and whose session the hint names."""

    client: ClientInfo | None
    redirect: str | None
    hint_sub: str | None
    hint_sid: str | None
    error: str | None = None


@dataclass(frozen=True)
class BackchannelNotice:
    client_id: str
    uri: str
    logout_token: str


class LogoutService:
    def __init__(self, sessions: SessionService, clients: ClientCache, keys: KeyStore, issuer: str,
                 provider: Callable[[Session], OIDCProvider], backchannel_timeout: float) -> None:
        self.sessions, self.clients, self.keys, self.issuer = sessions, clients, keys, issuer
        self.provider, self.backchannel_timeout = provider, backchannel_timeout

    def validate(self, session: Session, id_token_hint: str, client_id: str, post_logout_redirect_uri: str,
                 state: str) -> LogoutRequest:
        storage = SqlOIDCStorage(session, self.clients)
        hint_sub = hint_sid = None
        if id_token_hint:
            try:
                claims = self.keys.ring().verify(id_token_hint, now())
            except TokenInvalid:
                return LogoutRequest(None, None, None, None, "id_token_hint is not an ID token issued here")
            if claims.get("iss") != self.issuer:
                return LogoutRequest(None, None, None, None, "id_token_hint was issued by another provider")
            aud = claims.get("aud")
            hint_client = aud[0] if isinstance(aud, list) and aud else aud
            if client_id and hint_client != client_id:
                return LogoutRequest(None, None, None, None, "client_id does not match the id_token_hint")
            client_id = str(hint_client or "")
            hint_sub, hint_sid = str(claims.get("sub")), claims.get("sid")
        client = storage.get_client(client_id) if client_id else None
        redirect = None
        if post_logout_redirect_uri:
            if client is None or post_logout_redirect_uri not in client.post_logout_redirect_uris:
                return LogoutRequest(client, None, hint_sub, hint_sid,
                                     "post_logout_redirect_uri is not registered for this client")
            redirect = post_logout_redirect_uri
            if state:
                redirect = add_params_to_uri(redirect, [("state", state)])
        return LogoutRequest(client, redirect, hint_sub, hint_sid)

    def end_session(self, session: Session, sid: str) -> list[BackchannelNotice]:
        """End the session in the database; returns the logout tokens to send once that has committed."""
        row = session.scalars(select(SsoSession).where(SsoSession.sid == sid)).one_or_none()
        if row is None:
            return []
        client_ids = self.sessions.end(session, sid)
        storage = SqlOIDCStorage(session, self.clients)
        minter = self.provider(session).minter
        notices = []
        for client_id in client_ids:
            client = storage.get_client(client_id)
            if client and client.backchannel_logout_uri:
                token = minter.logout_token(
                    client_id=client_id, sub=row.official_id, sid=sid, now=now())
                notices.append(BackchannelNotice(client_id, client.backchannel_logout_uri, token))
        return notices

    def end_everywhere(self, session: Session, official_id: str, reason: str) -> list[BackchannelNotice]:
        """Every session of the official ends, and with them every token family, offline grants included:
        after "sign out everywhere" no relying party holds a token that still works."""
        notices: list[BackchannelNotice] = []
        for row in self.sessions.active_for(session, official_id):
            notices += self.end_session(session, row.sid)
        end_access(session, official_id, reason)
        return notices

    def send(self, notices: list[BackchannelNotice]) -> dict[str, bool]:
        """POST each logout token (OIDC Back-Channel Logout 1.0 §2.5); a failing RP does not stop the rest."""
        results: dict[str, bool] = {}
        if not notices:
            return results
        with httpx.Client(timeout=self.backchannel_timeout) as http:
            for notice in notices:
                try:
                    reply = http.post(notice.uri, data={"logout_token": notice.logout_token},
                                      headers={"Cache-Control": "no-store"})
                    results[notice.client_id] = reply.status_code in (200, 204)
                except httpx.HTTPError as exc:
                    log.warning("back-channel logout to %s failed: %s", notice.client_id, exc)
                    results[notice.client_id] = False
        return results
