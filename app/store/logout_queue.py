"""What must be told when sessions end: every OIDC relying party with a back-channel logout URI and every
CAS service that took a ticket in them, written in the transaction that ends the sessions, so that nothing
ends without its applications being told, even when they are down at that moment."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.db import now
from app.store.models import CasService, Client, LogoutDelivery, SessionCasTicket, SessionClient, SsoSession

OIDC_BACKCHANNEL = "oidc_backchannel"
CAS = "cas"


def enqueue_logouts(session: Session, sids: Collection[str]) -> None:
    if not sids:
        return
    stamp = now()
    oidc = (select(SessionClient.sid, SsoSession.official_id, Client.client_id, Client.backchannel_logout_uri)
            .join(Client, Client.client_id == SessionClient.client_id)
            .join(SsoSession, SsoSession.sid == SessionClient.sid)
            .where(SessionClient.sid.in_(list(sids)), Client.backchannel_logout_uri.is_not(None)))
    cas = (select(SessionCasTicket.sid, SsoSession.official_id, CasService.id,
                  func.coalesce(CasService.logout_url, SessionCasTicket.service_url), SessionCasTicket.session_index)
           .join(CasService, CasService.id == SessionCasTicket.service_id)
           .join(SsoSession, SsoSession.sid == SessionCasTicket.sid)
           .where(SessionCasTicket.sid.in_(list(sids)), CasService.single_logout.is_(True)))
    rows = [{"sid": sid, "official_id": who, "channel": OIDC_BACKCHANNEL, "application": app, "url": url,
             "session_index": None} for sid, who, app, url in session.execute(oidc)]
    rows += [{"sid": sid, "official_id": who, "channel": CAS, "application": app, "url": url,
              "session_index": index} for sid, who, app, url, index in session.execute(cas)]
    if rows:
        session.execute(insert(LogoutDelivery), [
            {**row, "status": "pending", "attempts": 0, "next_attempt_at": stamp, "created_at": stamp}
            for row in rows])
