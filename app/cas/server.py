"""The CAS validation side: service tickets are issued for one exact service URL, single-use and short-lived;
validation (CAS 1.0, 2.0 and 3.0, direct and proxied) and the proxy endpoint that turns a proxy-granting
ticket into a proxy ticket for a registered back-end service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from app.attributes import released
from app.cas import responses as r
from app.cas.models import LoginContext, TicketRecord
from app.cas.services import ServiceInfo
from app.cas.storage import CasStorage
from app.cas.tickets import (
    PROXY_GRANTING_IOU,
    PROXY_GRANTING_TICKET,
    PROXY_TICKET,
    SERVICE_TICKET,
    kind_of,
    new_ticket,
)
from app.crypto import token_digest

ProxyCallback = Callable[[str, str, str], bool]  # (pgtUrl, pgtId, pgtIou) -> delivered


@dataclass(frozen=True)
class CasPolicy:
    service_ticket_ttl: int = 10
    proxy_granting_ttl: int = 8 * 3600  # a PGT also ends with its SSO session
    allow_http_callbacks_to_loopback: bool = False  # tests only: pgtUrl must be https otherwise


def with_ticket(service_url: str, ticket: str) -> str:
    """The service URL with `ticket` appended to its query, before any fragment."""
    parts = urlsplit(service_url)
    query = f"{parts.query}&ticket={ticket}" if parts.query else f"ticket={ticket}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class CasServer:
    def __init__(self, storage: CasStorage, policy: CasPolicy, callback: ProxyCallback, now: Callable[[], int]) -> None:
        self.storage, self.policy, self.callback, self.now = storage, policy, callback, now

    def service(self, url: str) -> ServiceInfo | None:
        return self.storage.service_for(url) if url else None

    def issue_service_ticket(self, service: ServiceInfo, url: str, login: LoginContext) -> str:
        ticket = new_ticket(SERVICE_TICKET)
        self.storage.save_ticket(TicketRecord(token_digest(ticket), SERVICE_TICKET, service.id, url, login,
                                              self.now() + self.policy.service_ticket_ttl))
        return ticket

    # --- /validate, /serviceValidate, /proxyValidate (and their /p3 forms) ------------------------------
    def validate(self, params: Mapping[str, str], *, accept_proxy_tickets: bool,
                 with_attributes: bool) -> r.Success | r.Failure:
        service_url, ticket = params.get("service", ""), params.get("ticket", "")
        if not service_url or not ticket:
            return r.Failure(r.INVALID_REQUEST, "service and ticket are both required")
        kind = kind_of(ticket)
        if kind not in (SERVICE_TICKET, PROXY_TICKET):
            return r.Failure(r.INVALID_TICKET, f"ticket {ticket[:40]!r} not recognized")
        # Used on the first attempt, whatever the outcome (§3.1.1): a ticket cannot be tried twice.
        record = self.storage.consume_ticket(token_digest(ticket))
        if kind == PROXY_TICKET and not accept_proxy_tickets:
            return r.Failure(r.INVALID_TICKET_SPEC, "a proxy ticket is validated at /proxyValidate")
        failure = self._check(record, service_url, params.get("renew", ""))
        if failure is not None or record is None:
            return failure or r.Failure(r.INVALID_TICKET, "ticket not recognized")
        return self._success(record, params.get("pgtUrl", ""), with_attributes)

    def _check(self, record: TicketRecord | None, service_url: str, renew: str) -> r.Failure | None:
        if record is None or record.expires_at < self.now():
            return r.Failure(r.INVALID_TICKET, "ticket not recognized, used before or expired")
        if record.service_url != service_url:
            return r.Failure(r.INVALID_SERVICE, "the ticket was issued to another service")
        if renew.lower() in ("true", "1") and not record.login.from_new_login:
            return r.Failure(r.INVALID_TICKET, "renew: the ticket did not come from a fresh login")
        if not self.storage.session_alive(record.login.sid):
            return r.Failure(r.INVALID_TICKET, "the sign-in session behind the ticket has ended")
        return None

    def _success(self, record: TicketRecord, pgt_url: str, with_attributes: bool) -> r.Success | r.Failure:
        subject = self.storage.get_subject(record.login.official_id)
        service = self.storage.service_for(record.service_url)
        if subject is None or not subject.enabled or service is None or service.id != record.service_id:
            return r.Failure(r.INVALID_TICKET, "the official or the service is no longer enabled")
        pgt_iou = None
        if pgt_url:
            outcome = self._grant_proxying(service, record, pgt_url)
            if isinstance(outcome, r.Failure):
                return outcome
            pgt_iou = outcome
        attributes = released(subject, service.release) if with_attributes else {}
        if with_attributes:
            attributes.update(self._authentication_attributes(record.login))
        return r.Success(subject.username, attributes, pgt_iou, record.proxies)

    @staticmethod
    def _authentication_attributes(login: LoginContext) -> dict[str, list[str]]:
        return {"authenticationDate": [str(login.auth_time)], "isFromNewLogin": [str(login.from_new_login).lower()],
                "longTermAuthenticationRequestTokenUsed": ["false"],
                "authnContextClass": [login.acr], "authenticationMethod": list(login.amr)}

    def _grant_proxying(self, service: ServiceInfo, record: TicketRecord, pgt_url: str) -> str | r.Failure | None:
        """A PGT delivered to pgtUrl (§2.5.4), and its IOU for the answer; None if the callback failed."""
        if not service.allow_proxy:
            return r.Failure(r.UNAUTHORIZED_SERVICE_PROXY, "this service may not act as a proxy")
        if not self._callback_acceptable(service, pgt_url):
            return r.Failure(r.INVALID_PROXY_CALLBACK, "pgtUrl is not an https URL this service registered")
        pgt, iou = new_ticket(PROXY_GRANTING_TICKET), new_ticket(PROXY_GRANTING_IOU)
        if not self.callback(pgt_url, pgt, iou):
            return None  # the validation still succeeds, without a PGT
        self.storage.save_ticket(TicketRecord(token_digest(pgt), PROXY_GRANTING_TICKET, service.id, pgt_url,
                                              record.login, self.now() + self.policy.proxy_granting_ttl,
                                              (pgt_url, *record.proxies)))
        return iou

    def _callback_acceptable(self, service: ServiceInfo, url: str) -> bool:
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        secure = parts.scheme == "https" or (
            parts.scheme == "http" and loopback and self.policy.allow_http_callbacks_to_loopback)
        return secure and service.accepts_proxy_callback(url)

    # --- /proxy ----------------------------------------------------------------------------------------
    def proxy(self, pgt: str, target_service: str) -> r.ProxySuccess | r.Failure:
        if not pgt or not target_service:
            return r.Failure(r.INVALID_REQUEST, "pgt and targetService are both required")
        record = self.storage.granting_ticket(token_digest(pgt)) if kind_of(pgt) == PROXY_GRANTING_TICKET else None
        if record is None or record.expires_at < self.now() or not self.storage.session_alive(record.login.sid):
            return r.Failure(r.INVALID_TICKET, "pgt not recognized or expired")
        target = self.storage.service_for(target_service)
        subject = self.storage.get_subject(record.login.official_id)
        if target is None or subject is None or not target.admits(subject):
            return r.Failure(r.UNAUTHORIZED_SERVICE, "targetService is not a registered service this official "
                                                     "may reach")
        ticket = new_ticket(PROXY_TICKET)
        login = replace(record.login, from_new_login=False)
        self.storage.save_ticket(TicketRecord(token_digest(ticket), PROXY_TICKET, target.id, target_service,
                                              login, self.now() + self.policy.service_ticket_ttl, record.proxies))
        return r.ProxySuccess(ticket)
