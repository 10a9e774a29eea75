"""What a sign-in step asks the web layer to do next, the same for every protocol."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Redirect:
    url: str


@dataclass(frozen=True)
class ShowLogin:
    pending_id: str
    client_name: str
    login_hint: str
    ui_locales: str
    idp_hint: str = ""  # an upstream provider the application wants its users sent to


@dataclass(frozen=True)
class ShowConsent:
    pending_id: str
    client_name: str
    scopes: tuple[str, ...]
    ui_locales: str


@dataclass(frozen=True)
class ShowSecondFactor:
    challenge_id: str


@dataclass(frozen=True)
class ShowError:
    error: str
    description: str
    status: int = 400


@dataclass(frozen=True)
class AutoPost:
    """A form the browser posts on its own: CAS `method=POST`, SAML's HTTP-POST binding."""

    url: str
    fields: tuple[tuple[str, str], ...]


FlowOutcome = Redirect | AutoPost | ShowLogin | ShowConsent | ShowSecondFactor | ShowError
