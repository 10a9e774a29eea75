"""Ending sessions (RP-initiated logout, sign out everywhere, an admin) and telling their applications."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from authlib.common.urls import add_params_to_uri
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import now
from app.oidc.keys import TokenInvalid
from app.oidc.models import ClientInfo
from app.signon.logout_delivery import LogoutSender
from app.store.access import end_access
from app.store.keys import KeyStore
from app.store.models import Client, SessionClient
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


class LogoutService:
    def __init__(self, sessions: SessionService, clients: ClientCache, keys: KeyStore, issuer: str,
                 sender: LogoutSender) -> None:
        self.sessions, self.clients, self.keys, self.issuer, self.sender = sessions, clients, keys, issuer, sender

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

    def end_session(self, session: Session, sid: str) -> list[str]:
        """End the session; its applications are told from the logout queue once this commits (`send`)."""
        return [sid] if self.sessions.end(session, sid) else []

    def end_everywhere(self, session: Session, official_id: str, reason: str) -> list[str]:
        """Every session of the official ends, and with them every token family, offline grants included:
        after "sign out everywhere" no relying party holds a token that still works."""
        return end_access(session, official_id, reason)

    def frontchannel_urls(self, session: Session, sid: str) -> list[str]:
        """OpenID Connect Front-Channel Logout 1.0: the RPs of the session the broker cannot reach itself,
        each told by the browser loading its URI with `iss` and `sid`."""
        uris = session.scalars(select(Client.frontchannel_logout_uri).join(
            SessionClient, SessionClient.client_id == Client.client_id).where(
            SessionClient.sid == sid, Client.frontchannel_logout_uri.is_not(None)))
        return [add_params_to_uri(str(uri), [("iss", self.issuer), ("sid", sid)]) for uri in uris]

    def send(self, sids: list[str]) -> dict[str, bool]:
        """Tell the applications of these sessions now, after the commit; what fails stays queued and the
        worker tries again."""
        return self.sender.deliver(sids) if sids else {}
