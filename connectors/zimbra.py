"""Zimbra mailboxes through the SOAP Admin API (JSON form, /service/admin/soap): AuthRequest,
CreateAccountRequest, GetAccountRequest, ModifyAccountRequest (zimbraAccountStatus active/locked/closed),
SetPasswordRequest, DeleteAccountRequest, GetAllAccountsRequest, and AddAccountAliasRequest /
RemoveAccountAliasRequest for the addresses kept after a mail-domain change (zimbraMailAlias).

Tested against a simulator built from Zimbra's documented API (tests/zimbra_simulator.py), because Zimbra
cannot run here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.base import Account, AlreadyExists, Connector, Operation, PermanentError, TransientError
from connectors.http import HttpTarget, status_error

ADMIN_NS = "urn:zimbraAdmin"
# Our account attributes and the Zimbra attributes they become.
ZIMBRA_ATTRS = {"display_name": "displayName", "given_name": "givenName", "family_name": "sn", "title": "title",
                "phone": "telephoneNumber", "unit": "company"}


class ZimbraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="admin SOAP URL, e.g. https://mail.bacninh.gov.vn:7071/service/admin/soap")
    admin_name: str
    admin_password: SecretStr
    domain: str
    timeout: float = Field(15.0, gt=0, le=120)
    verify_tls: bool = True
    # What a leaver becomes: locked keeps mail and blocks login; closed also hides the account.
    disabled_status: str = Field("locked", pattern="^(locked|closed)$")


class ZimbraFault(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code


class ZimbraConnector(Connector):
    Config = ZimbraConfig
    operations = frozenset({Operation.CREATE, Operation.UPDATE, Operation.DISABLE, Operation.ENABLE,
                            Operation.DELETE, Operation.GET, Operation.LIST, Operation.SET_PASSWORD,
                            Operation.ALIASES})
    default_mapping = {"display_name": "{display_name}", "given_name": "{given_name}", "family_name": "{family_name}",
                       "title": "{title}", "phone": "{phone}", "unit": "{unit_name}"}

    def __init__(self, config: BaseModel, http: httpx.Client | None = None) -> None:
        super().__init__(config, http)
        assert isinstance(config, ZimbraConfig)
        self.cfg = config
        self.target = HttpTarget(self.http_client(timeout=config.timeout, verify=config.verify_tls), "Zimbra",
                                 config.url)
        self._token: str | None = None

    # --- the SOAP envelope -----------------------------------------------------------------------
    def _post(self, request: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        context: dict[str, Any] = {"_jsns": "urn:zimbra"}
        if token:
            context["authToken"] = token
        envelope = {"Header": {"context": context}, "Body": {request: {"_jsns": ADMIN_NS, **body}}}
        # SOAP faults come with status 500 and a body that says what happened: the status is judged only when
        # there is no such body (a proxy's page, a wrong URL).
        response = self.target.send("POST", "", f"Zimbra {request}", json=envelope)
        try:
            data = response.json()
        except ValueError as exc:
            if response.status_code >= 400:
                raise status_error(response, f"Zimbra {request}", "") from exc
            raise TransientError(f"Zimbra {request} answered {response.status_code} without JSON") from exc
        fault = (data.get("Body") or {}).get("Fault")
        if fault:
            code = str(((fault.get("Detail") or {}).get("Error") or {}).get("Code", "service.FAILURE"))
            raise ZimbraFault(code, str((fault.get("Reason") or {}).get("Text", "")))
        if response.status_code >= 500:
            raise TransientError(f"Zimbra {request} answered {response.status_code}")
        answer = (data.get("Body") or {}).get(request.replace("Request", "Response"))
        if not isinstance(answer, dict):
            raise TransientError(f"Zimbra {request}: unexpected answer")
        return answer

    def _call(self, request: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            if self._token is None:
                self._authenticate()
            try:
                return self._post(request, body, self._token)
            except ZimbraFault as fault:
                if fault.code in ("service.AUTH_EXPIRED", "service.AUTH_REQUIRED") and attempt == 1:
                    self._token = None  # log in again once
                    continue
                raise self._error(fault) from fault
        raise TransientError(f"Zimbra {request}: authentication keeps expiring")

    def _authenticate(self) -> None:
        try:
            answer = self._post("AuthRequest", {"name": self.cfg.admin_name,
                                                "password": self.cfg.admin_password.get_secret_value()}, None)
        except ZimbraFault as fault:
            raise PermanentError(f"Zimbra refused the admin login: {fault}") from fault
        tokens = answer.get("authToken") or []
        self._token = tokens[0]["_content"] if tokens else None
        if not self._token:
            raise TransientError("Zimbra AuthResponse had no authToken")

    @staticmethod
    def _error(fault: ZimbraFault) -> Exception:
        if fault.code == "account.ACCOUNT_EXISTS":
            return AlreadyExists(str(fault))
        if fault.code.startswith("service.") and fault.code not in ("service.PERM_DENIED", "service.INVALID_REQUEST"):
            return TransientError(str(fault))
        return PermanentError(str(fault))

    # --- accounts --------------------------------------------------------------------------------
    def address(self, key: str) -> str:
        return key if "@" in key else f"{key}@{self.cfg.domain}"

    @staticmethod
    def _attrs(attributes: dict[str, Any]) -> list[dict[str, str]]:
        return [{"n": z, "_content": str(attributes[a])} for a, z in ZIMBRA_ATTRS.items() if attributes.get(a)]

    def _account(self, info: dict[str, Any]) -> Account:
        attrs = {a["n"]: a.get("_content") for a in info.get("a", [])}
        ours = {a: attrs[z] for a, z in ZIMBRA_ATTRS.items() if attrs.get(z)}
        name = str(info.get("name", ""))
        return Account(key=name.split("@")[0], target_id=str(info.get("id")), attributes=ours,
                       enabled=attrs.get("zimbraAccountStatus", "active") == "active")

    def test(self) -> None:
        self._token = None
        self._authenticate()

    def get(self, key: str) -> Account | None:
        try:
            answer = self._call("GetAccountRequest", {"account": {"by": "name", "_content": self.address(key)}})
        except PermanentError as exc:
            if "account.NO_SUCH_ACCOUNT" in str(exc):
                return None
            raise
        accounts = answer.get("account") or []
        return self._account(accounts[0]) if accounts else None

    def create(self, account: Account) -> str:
        answer = self._call("CreateAccountRequest", {"name": self.address(account.key),
                                                     "a": self._attrs(account.attributes)})
        accounts = answer.get("account") or []
        if not accounts or not accounts[0].get("id"):
            raise TransientError("Zimbra CreateAccountResponse had no account id")
        target_id = str(accounts[0]["id"])
        self._set_aliases(target_id, account.attributes.get("aliases"))
        return target_id

    def update(self, target_id: str, account: Account) -> None:
        self._call("ModifyAccountRequest", {"id": target_id, "a": self._attrs(account.attributes)})
        self._set_aliases(target_id, account.attributes.get("aliases"))

    def aliases(self, target_id: str) -> set[str]:
        answer = self._call("GetAccountRequest", {"account": {"by": "id", "_content": target_id}})
        info = (answer.get("account") or [{}])[0]
        return {str(a.get("_content")).lower() for a in info.get("a", []) if a.get("n") == "zimbraMailAlias"}

    def _set_aliases(self, target_id: str, wanted: list[str] | None) -> None:
        """Exactly these aliases: the broker keeps each official's former addresses, so it owns the list."""
        if wanted is None:
            return  # this instance does not manage aliases
        current, target = self.aliases(target_id), {a.lower() for a in wanted}
        for alias in sorted(target - current):
            try:
                self._call("AddAccountAliasRequest", {"id": target_id, "alias": alias})
            except AlreadyExists as exc:
                raise PermanentError(f"alias {alias} belongs to another Zimbra account: {exc}") from exc
        for alias in sorted(current - target):
            self._call("RemoveAccountAliasRequest", {"id": target_id, "alias": alias})

    def _status(self, target_id: str, status: str) -> None:
        self._call("ModifyAccountRequest", {"id": target_id, "a": [{"n": "zimbraAccountStatus", "_content": status}]})

    def disable(self, target_id: str) -> None:
        self._status(target_id, self.cfg.disabled_status)

    def enable(self, target_id: str) -> None:
        self._status(target_id, "active")

    def set_password(self, target_id: str, password: str) -> None:
        self._call("SetPasswordRequest", {"id": target_id, "newPassword": password})

    def delete(self, target_id: str) -> None:
        self._call("DeleteAccountRequest", {"id": target_id})

    def list(self) -> Iterator[Account]:
        answer = self._call("GetAllAccountsRequest", {"domain": {"by": "name", "_content": self.cfg.domain}})
        for info in answer.get("account") or []:
            yield self._account(info)
