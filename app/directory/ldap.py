"""ldap3 behind a small interface: service connections per thread, failover, timeouts, TLS, paged search.

A failing server is skipped for a while (ldap3's ServerPool), and a broken connection is dropped and
re-opened on the next call, so an outage needs no restart to recover from.
"""

from __future__ import annotations

import contextlib
import math
import ssl
import threading
from collections.abc import Iterator
from typing import Any

from ldap3 import BASE, FIRST, NONE, SUBTREE, Connection, Server, ServerPool, Tls, set_config_parameter
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from app.directory.config import DirectoryConfig
from app.directory.mapping import RawEntry, as_raw

PAGED_RESULTS = "1.2.840.113556.1.4.319"
# ldap3 sleeps this long before cycling through the server pool again (default 10 s): a login would hang
# for it during an outage. One cycle, no sleep: the login says at once that the directory is unreachable.
set_config_parameter("POOLING_LOOP_TIMEOUT", 0)


def ad_password(password: str) -> bytes:
    """unicodePwd's value: the password in double quotes, UTF-16LE (MS-ADTS 3.1.1.3.1.5)."""
    return f'"{password}"'.encode("utf-16-le")


class DirectoryUnavailable(Exception):
    """The directory cannot be reached or refused the service account: plain words for the admin."""


class LdapDirectory:
    def __init__(self, config: DirectoryConfig, bind_password: str) -> None:
        self.config = config
        self._password = bind_password
        tls = None
        # A source that cannot be used (its CA file gone, say) fails on use, as an unreachable one does: it
        # degrades itself only, never the logins of other sources, the worker or /readyz.
        self._unusable: str | None = None
        if config.start_tls or any(u.startswith("ldaps://") for u in config.urls):
            # Always verified: against the configured CA bundle, else the system's trusted CAs.
            try:
                tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file, version=ssl.PROTOCOL_TLS_CLIENT)
            except LDAPException as exc:
                self._unusable = f"TLS cannot be set up: {exc}"
        servers = [Server(url, connect_timeout=config.timeout, get_info=NONE, tls=tls) for url in config.urls]
        # FIRST with exhaust: with several servers a dead one is skipped for 10 s, then tried again. A lone
        # server is never taken out, so the first login after it comes back succeeds.
        self.pool = ServerPool(servers, FIRST, active=1, exhaust=10 if len(servers) > 1 else False)
        self._local = threading.local()

    # --- connections -----------------------------------------------------------------------------
    def _open(self, user: str | None, password: str | None, writable: bool = False) -> Connection:
        if self._unusable:
            raise DirectoryUnavailable(self._unusable)
        read_only = not writable and user is not None and user == self.config.bind_dn
        conn = Connection(self.pool, user=user, password=password, receive_timeout=math.ceil(self.config.timeout),
                          read_only=read_only, raise_exceptions=False,
                          auto_referrals=False)
        if not conn.open(read_server_info=False) and conn.closed:
            raise DirectoryUnavailable(f"cannot connect to {', '.join(self.config.urls)}")
        if self.config.start_tls and not conn.start_tls(read_server_info=False):
            conn.unbind()
            raise DirectoryUnavailable(f"StartTLS refused: {conn.result.get('description')}")
        return conn

    def service(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and conn.bound:
            return conn
        try:
            conn = self._open(self.config.bind_dn, self._password)
            if not conn.bind():
                desc = conn.result.get("description")
                conn.unbind()
                raise DirectoryUnavailable(f"the service account {self.config.bind_dn} was refused: {desc}")
        except LDAPException as exc:
            raise DirectoryUnavailable(f"cannot reach {', '.join(self.config.urls)}: {exc}") from exc
        self._local.conn = conn
        return conn

    def reset(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(LDAPException):
                conn.unbind()

    def _search(self, base: str, filt: str, attrs: list[str], scope: Any = SUBTREE, size_limit: int = 0,
                paged_size: int | None = None, cookie: bytes | None = None,
                ) -> tuple[list[dict[str, Any]], bytes | None]:
        for attempt in (1, 2):
            conn = self.service()
            try:
                ok = conn.search(base, filt, scope, attributes=attrs, size_limit=size_limit,
                                 paged_size=paged_size, paged_cookie=cookie)
            except LDAPException as exc:
                self.reset()
                if attempt == 2:
                    raise DirectoryUnavailable(f"search failed: {exc}") from exc
                continue
            result = conn.result
            if not ok and result.get("result") not in (0, 4, 32):  # success, sizeLimitExceeded, noSuchObject
                if result.get("result") in (-1, 81, 52, 51) and attempt == 1:  # connection-level: retry once
                    self.reset()
                    continue
                raise DirectoryUnavailable(f"search of {base} failed: {result.get('description')} "
                                           f"{result.get('message') or ''}".strip())
            entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
            next_cookie = None
            if paged_size:
                control = (result.get("controls") or {}).get(PAGED_RESULTS, {})
                next_cookie = control.get("value", {}).get("cookie") or None
            return entries, next_cookie
        raise DirectoryUnavailable("search failed")  # pragma: no cover

    # --- what the broker asks --------------------------------------------------------------------
    def find_people(self, attribute: str, value: str, attrs: list[str], limit: int = 2) -> list[tuple[str, RawEntry]]:
        """Entries whose `attribute` equals `value` exactly; the value is escaped (RFC 4515), once."""
        filt = f"(&{self.config.mapping.person_filter}({attribute}={escape_filter_chars(value)}))"
        entries, _ = self._search(self.config.people_base, filt, attrs, size_limit=limit)
        return [(e["dn"], as_raw(e)) for e in entries]

    def paged(self, base: str, filt: str, attrs: list[str]) -> Iterator[tuple[str, RawEntry]]:
        cookie: bytes | None = None
        while True:
            entries, cookie = self._search(base, filt, attrs, paged_size=self.config.page_size, cookie=cookie)
            for e in entries:
                yield e["dn"], as_raw(e)
            if not cookie:
                return

    def read(self, dn: str, attrs: list[str]) -> RawEntry | None:
        entries, _ = self._search(dn, "(objectClass=*)", attrs, scope=BASE)
        return as_raw(entries[0]) if entries else None

    def check_password(self, dn: str, password: str) -> bool:
        """A simple bind as the entry, on this thread's bind connection (re-bound, not re-opened, per login).

        Never with an empty password: that is an unauthenticated bind, which many servers report as
        success (RFC 4513 §5.1.2).
        """
        if not password:
            return False
        for attempt in (1, 2):
            conn: Connection | None = getattr(self._local, "bind_conn", None)
            try:
                if conn is None or conn.closed:
                    conn = self._open(None, None)
                    self._local.bind_conn = conn
                if conn.rebind(user=dn, password=password):
                    return True
            except LDAPException as exc:
                self._local.bind_conn = None
                if attempt == 2:
                    raise DirectoryUnavailable(f"bind failed: {exc}") from exc
                continue
            code = conn.result.get("result")
            if code in (49, 50, 53, 19):  # invalidCredentials, insufficientAccess, unwillingToPerform, constraint
                return False
            self._local.bind_conn = None
            if attempt == 2:
                raise DirectoryUnavailable(f"bind failed: {conn.result.get('description')}")
        return False

    def change_password(self, dn: str, old: str, new: str) -> str | None:
        """Write a new password as the official (so the directory's own policy applies).
        Returns None on success, else the directory's refusal in its own words."""
        if not old or not new:
            return "empty password"
        conn = self._open(dn, old)
        try:
            if not conn.bind():
                return "the current password is wrong"
            return self._write_password(conn, dn, old, new)
        finally:
            conn.unbind()

    def set_password(self, dn: str, new: str) -> str | None:
        """A reset: the service account writes the new password (it needs the right to, e.g. an ACL
        granting it `write` on userPassword). Returns None on success, else the directory's refusal."""
        try:
            conn = self._open(self.config.bind_dn, self._password, writable=True)
        except LDAPException as exc:
            raise DirectoryUnavailable(f"cannot reach {', '.join(self.config.urls)}: {exc}") from exc
        try:
            if not conn.bind():
                raise DirectoryUnavailable(f"the service account {self.config.bind_dn} was refused")
            return self._write_password(conn, dn, None, new)
        finally:
            conn.unbind()

    def _write_password(self, conn: Connection, dn: str, old: str | None, new: str) -> str | None:
        """The one way a password is written. OpenLDAP: the Password Modify extended operation (RFC 3062),
        hashed by the server. Active Directory: unicodePwd, delete old / add new as the official, replaced by
        the service account; over an encrypted connection."""
        if self.config.kind == "ad":
            from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE

            change = [(MODIFY_DELETE, [ad_password(old)]), (MODIFY_ADD, [ad_password(new)])] if old else [
                (MODIFY_REPLACE, [ad_password(new)])]
            conn.modify(dn, {"unicodePwd": change})
        else:
            conn.extend.standard.modify_password(dn, old, new)
        if conn.result.get("result") == 0:
            return None
        return str(conn.result.get("message") or conn.result.get("description") or "refused")

    def test(self) -> list[str]:
        """Check connection, service bind and base DNs; returns what was verified, raises with what is wrong."""
        done = []
        self.reset()
        conn = self.service()
        done.append(f"connected to {conn.server} and bound as {self.config.bind_dn}")
        for label, base in (("people_base", self.config.people_base), ("groups_base", self.config.groups_base),
                            ("units_base", self.config.units_base)):
            if not base:
                continue
            if self.read(base, ["objectClass"]) is None:
                raise DirectoryUnavailable(f"{label} {base} does not exist")
            done.append(f"{label} {base} exists")
        sample, _ = self._search(self.config.people_base, self.config.mapping.person_filter,
                                 [self.config.mapping.id, self.config.mapping.username], size_limit=1)
        if not sample:
            raise DirectoryUnavailable(f"no entry matches {self.config.mapping.person_filter} under "
                                       f"{self.config.people_base}")
        raw = as_raw(sample[0])
        for attr in (self.config.mapping.id, self.config.mapping.username):
            if not any(k.lower() == attr.lower() and values for k, values in raw.items()):
                raise DirectoryUnavailable(f"attribute {attr} is absent from {sample[0]['dn']}")
        done.append(f"people found; {self.config.mapping.id} and {self.config.mapping.username} present")
        return done
