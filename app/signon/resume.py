"""Resuming a parked request after the login or the second factor, with the flow of its protocol: the login
steps know nothing of OIDC, CAS or SAML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.orm import Session

from app.signon.outcomes import FlowOutcome, ShowError
from app.signon.pending import parked
from app.store.sessions import ActiveSession

EXPIRED = "This sign-in request has expired. Go back to the application and start again."


class ProtocolFlow(Protocol):
    def after_login(self, session: Session, pending_id: str, browser_id: str, sso: ActiveSession,
                    new_session: bool = True) -> FlowOutcome: ...


class ParkedRequests:
    def __init__(self, flows: Mapping[str, ProtocolFlow]) -> None:
        self.flows = flows

    def after_login(self, session: Session, pending_id: str, browser_id: str, sso: ActiveSession,
                    new_session: bool = True) -> FlowOutcome:
        request = parked(session, pending_id, browser_id)
        flow = self.flows.get(request.protocol) if request is not None else None
        if flow is None:
            return ShowError("invalid_request", EXPIRED)
        return flow.after_login(session, pending_id, browser_id, sso, new_session=new_session)
