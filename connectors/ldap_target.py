"""Accounts in another LDAP directory, for systems that authenticate against their own LDAP.

Disabling locks the entry the OpenLDAP ppolicy way (pwdAccountLockedTime = 000001010000Z, "locked by an
administrator"); enabling removes the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ldap3 import MODIFY_DELETE, MODIFY_REPLACE, SUBTREE, Connection, Server
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.base import Account, AlreadyExists, Connector, Operation, PermanentError, TransientError

LOCKED = "000001010000Z"


class LdapTargetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="ldap:// or ldaps:// URL of the target directory")
    bind_dn: str
    bind_password: SecretStr
    base_dn: str = Field(description="where accounts are created, e.g. ou=people,dc=app,dc=gov,dc=vn")
    rdn_attribute: str = "uid"
    object_classes: list[str] = Field(default_factory=lambda: ["inetOrgPerson"])
    attributes: dict[str, str] = Field(default_factory=lambda: {"display_name": "cn", "family_name": "sn",
                                                                "given_name": "givenName", "email": "mail",
                                                                "title": "title"})
    timeout: int = Field(5, ge=1, le=60)


class LdapTargetConnector(Connector):
    Config = LdapTargetConfig
    operations = frozenset({Operation.CREATE, Operation.UPDATE, Operation.DISABLE, Operation.ENABLE,
                            Operation.DELETE, Operation.GET, Operation.LIST})
    default_mapping = {"display_name": "{display_name}", "family_name": "{family_name}", "given_name": "{given_name}",
                       "email": "{email}", "title": "{title}"}

    def __init__(self, config: BaseModel) -> None:
        super().__init__(config)
        assert isinstance(config, LdapTargetConfig)
        self.cfg = config

    def _connect(self) -> Connection:
        try:
            conn = Connection(Server(self.cfg.url, connect_timeout=self.cfg.timeout), self.cfg.bind_dn,
                              self.cfg.bind_password.get_secret_value(), receive_timeout=self.cfg.timeout)
            if not conn.bind():
                raise PermanentError(f"the target directory refused {self.cfg.bind_dn}: "
                                     f"{conn.result.get('description')}")
            return conn
        except LDAPException as exc:
            raise TransientError(f"cannot reach {self.cfg.url}: {exc}") from exc

    def _check(self, conn: Connection, what: str) -> None:
        code = conn.result.get("result")
        if code == 0:
            return
        message = f"{what}: {conn.result.get('description')} {conn.result.get('message') or ''}".strip()
        if code == 68:  # entryAlreadyExists
            raise AlreadyExists(message)
        if code in (51, 52, 80, 81):  # busy, unavailable, other, server down
            raise TransientError(message)
        raise PermanentError(message)

    def as_held(self, account: Account) -> Account:
        # person requires cn and sn: the key stands in for a missing name, as the entry will then read.
        filled = dict(account.attributes)
        for attr, ldap in self.cfg.attributes.items():
            if ldap in ("cn", "sn") and not filled.get(attr):
                filled[attr] = account.key
        return account.model_copy(update={"attributes": filled})

    def _entry_attrs(self, account: Account) -> dict[str, Any]:
        held = self.as_held(account)
        attrs = {ldap: held.attributes[attr] for attr, ldap in self.cfg.attributes.items()
                 if held.attributes.get(attr)}
        attrs.setdefault("cn", account.key)
        attrs.setdefault("sn", account.key)  # person requires cn and sn, also when no attribute maps to them
        attrs[self.cfg.rdn_attribute] = account.key
        return attrs

    def _account(self, entry: dict[str, Any]) -> Account:
        raw = entry.get("attributes", {})
        values = {attr: (raw.get(ldap) or [None])[0] if isinstance(raw.get(ldap), list) else raw.get(ldap)
                  for attr, ldap in self.cfg.attributes.items()}
        key = raw.get(self.cfg.rdn_attribute)
        key = key[0] if isinstance(key, list) else key
        return Account(key=str(key), attributes={k: v for k, v in values.items() if v}, target_id=entry["dn"],
                       enabled=not raw.get("pwdAccountLockedTime"))

    def _search(self, conn: Connection, filt: str) -> list[dict[str, Any]]:
        attrs = [*self.cfg.attributes.values(), self.cfg.rdn_attribute, "pwdAccountLockedTime"]
        conn.search(self.cfg.base_dn, filt, SUBTREE, attributes=attrs)
        if conn.result.get("result") not in (0, 32):
            self._check(conn, f"search under {self.cfg.base_dn}")
        return [e for e in conn.response or [] if e.get("type") == "searchResEntry"]

    def test(self) -> None:
        conn = self._connect()
        try:
            conn.search(self.cfg.base_dn, "(objectClass=*)", "BASE")
            if not conn.response:
                raise PermanentError(f"base_dn {self.cfg.base_dn} does not exist")
        finally:
            conn.unbind()

    def get(self, key: str) -> Account | None:
        conn = self._connect()
        try:
            found = self._search(conn, f"({self.cfg.rdn_attribute}={escape_filter_chars(key)})")
            return self._account(found[0]) if found else None
        finally:
            conn.unbind()

    def create(self, account: Account) -> str:
        dn = f"{self.cfg.rdn_attribute}={escape_rdn(account.key)},{self.cfg.base_dn}"
        conn = self._connect()
        try:
            conn.add(dn, self.cfg.object_classes, self._entry_attrs(account))
            self._check(conn, f"add {dn}")
            return dn
        finally:
            conn.unbind()

    def _modify(self, target_id: str, changes: dict[str, Any], what: str) -> None:
        conn = self._connect()
        try:
            conn.modify(target_id, changes)
            if conn.result.get("result") == 16 and "pwdAccountLockedTime" in changes:  # noSuchAttribute
                return  # enabling an entry that was not locked
            self._check(conn, f"{what} {target_id}")
        finally:
            conn.unbind()

    def update(self, target_id: str, account: Account) -> None:
        attrs = self._entry_attrs(account)
        attrs.pop(self.cfg.rdn_attribute, None)
        self._modify(target_id, {k: [(MODIFY_REPLACE, [v])] for k, v in attrs.items()}, "update")

    def disable(self, target_id: str) -> None:
        self._modify(target_id, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]}, "lock")

    def enable(self, target_id: str) -> None:
        self._modify(target_id, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]}, "unlock")

    def delete(self, target_id: str) -> None:
        conn = self._connect()
        try:
            conn.delete(target_id)
            self._check(conn, f"delete {target_id}")
        finally:
            conn.unbind()

    def list(self) -> Iterator[Account]:
        conn = self._connect()
        try:
            entries = self._search(conn, f"({self.cfg.rdn_attribute}=*)")
        finally:
            conn.unbind()
        for entry in entries:
            yield self._account(entry)
