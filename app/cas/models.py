"""What the CAS protocol layer keeps of a ticket and of the login behind it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoginContext:
    """The SSO session a ticket comes from, and whether the official typed credentials for this very ticket
    (`renew` asks for that)."""

    official_id: str
    sid: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    from_new_login: bool


@dataclass(frozen=True)
class TicketRecord:
    digest: str
    kind: str  # ST, PT or PGT
    service_id: str
    service_url: str  # for a PGT: the callback it was delivered to
    login: LoginContext
    expires_at: int
    proxies: tuple[str, ...] = ()  # the proxy chain, most recent first (CAS §2.6.2)
