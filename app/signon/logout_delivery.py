"""Telling applications that a session ended, from the durable queue (`app/store/logout_queue.py`): OIDC
Back-Channel Logout 1.0 logout tokens, minted at each attempt so a late retry still carries a fresh one, and
CAS logoutRequests. An application that is down is tried again with growing pauses for a day; each final
result is in the audit trail, per application."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit.trail import SYSTEM, record
from app.cas.logout import logout_request
from app.db import Database, now
from app.oidc.server import OIDCProvider
from app.store.logout_queue import OIDC_BACKCHANNEL
from app.store.models import LogoutDelivery

log = logging.getLogger(__name__)
LEASE = 60  # seconds a claimed delivery is not claimed again by another process
GIVE_UP_AFTER = 24 * 3600
MAX_PAUSE = 3600


@dataclass(frozen=True)
class Message:
    id: int
    official_id: str
    channel: str
    application: str
    url: str
    form: dict[str, str]
    attempts: int
    created_at: int


def pause_after(attempts: int, first: int = 5) -> int:
    """5 s, 10 s, 20 s … (from `first`) at most an hour between tries."""
    return int(min(MAX_PAUSE, first * 2 ** max(0, attempts - 1)))


class LogoutSender:
    def __init__(self, db: Database, provider: Callable[[Session], OIDCProvider], timeout: float,
                 first_pause: int = 5) -> None:
        self.db, self.provider, self.timeout, self.first_pause = db, provider, timeout, first_pause

    def deliver(self, sids: Collection[str] | None = None, limit: int = 200) -> dict[str, bool]:
        """Send what is due (only for these sessions, when given); returns application -> told."""
        messages = self._claim(sids, limit)
        if not messages:
            return {}
        outcomes: list[tuple[Message, str | None]] = []
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as http:
            for message in messages:
                outcomes.append((message, self._send(http, message)))
        self._record(outcomes)
        return {m.application: error is None for m, error in outcomes}

    def _claim(self, sids: Collection[str] | None, limit: int) -> list[Message]:
        stamp = now()
        with self.db.session() as s:
            query = (select(LogoutDelivery).where(LogoutDelivery.status == "pending",
                                                   LogoutDelivery.next_attempt_at <= stamp)
                     .order_by(LogoutDelivery.id).limit(limit).with_for_update(skip_locked=True))
            if sids is not None:
                query = query.where(LogoutDelivery.sid.in_(list(sids)))
            rows = list(s.scalars(query))
            minter = self.provider(s).minter if any(r.channel == OIDC_BACKCHANNEL for r in rows) else None
            messages = []
            for row in rows:
                row.next_attempt_at, row.attempts = stamp + LEASE, row.attempts + 1
                if row.channel == OIDC_BACKCHANNEL and minter is not None:
                    form = {"logout_token": minter.logout_token(client_id=row.application, sub=row.official_id,
                                                                 sid=row.sid, now=stamp)}
                else:
                    form = {"logoutRequest": logout_request(row.session_index or "")}
                messages.append(Message(row.id, row.official_id, row.channel, row.application, row.url, form,
                                        row.attempts, row.created_at))
        return messages

    @staticmethod
    def _send(http: httpx.Client, message: Message) -> str | None:
        """None when the application took it, else what went wrong."""
        try:
            reply = http.post(message.url, data=message.form, headers={"Cache-Control": "no-store"})
        except httpx.HTTPError as exc:
            log.warning("logout to %s (%s) failed: %s", message.application, message.channel, exc)
            return type(exc).__name__
        # OIDC wants 200 or 204 (§2.8); a CAS client answers whatever its page does, a redirect included.
        good = (200, 204) if message.channel == OIDC_BACKCHANNEL else tuple(range(200, 400))
        return None if reply.status_code in good else f"HTTP {reply.status_code}"

    def _record(self, outcomes: list[tuple[Message, str | None]]) -> None:
        stamp = now()
        with self.db.session() as s:
            for message, error in outcomes:
                values: dict[str, object] = {"last_error": error}
                if error is None:
                    values.update(status="done", done_at=stamp)
                    action: str | None = "logout.delivered"
                elif stamp - message.created_at >= GIVE_UP_AFTER:
                    values.update(status="failed", done_at=stamp)
                    action = "logout.failed"
                else:  # tried again later; the first failure is told, so an admin sees it waiting
                    values.update(next_attempt_at=stamp + pause_after(message.attempts, self.first_pause))
                    action = "logout.delayed" if message.attempts == 1 else None
                s.execute(update(LogoutDelivery).where(LogoutDelivery.id == message.id).values(**values))
                if action:
                    record(s, action, SYSTEM, outcome="ok" if error is None else "error", target=message.official_id,
                           details={"application": message.application, "channel": message.channel,
                                    "attempts": message.attempts, "error": error})
