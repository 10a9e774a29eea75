"""Mailboxes on Dovecot/Postfix-style virtual users: one line per mailbox in a passwd-file.

No mail password is written: officials read mail with an access token from the broker (XOAUTH2 or
OAUTHBEARER, Dovecot's oauth2 passdb checking it at the broker's introspection endpoint). Disabling comments
the line out, so the mailbox and its mail stay while no one can open it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import Account, AlreadyExists, Connector, Operation, PermanentError, TransientError

DISABLED = "#disabled#"


class DovecotMailboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users_file: str = Field(description="Dovecot's passwd-file (passdb/userdb args)")
    domain: str = Field(description="mail domain: the mailbox of account hieund is hieund@DOMAIN")
    aliases_file: str | None = Field(None, description="virtual alias map (Postfix virtual(5): 'alias mailbox' "
                                                       "per line) this connector keeps: former addresses")


class DovecotMailboxConnector(Connector):
    Config = DovecotMailboxConfig
    operations = frozenset({Operation.CREATE, Operation.UPDATE, Operation.DISABLE, Operation.ENABLE,
                            Operation.DELETE, Operation.GET, Operation.LIST})
    # The mailbox is the official's e-mail address (the claim Dovecot's oauth2 passdb compares at login);
    # without one, key@domain by the naming rule.
    default_mapping = {"email": "{email}"}
    key_attribute = "email"

    def __init__(self, config: BaseModel) -> None:
        super().__init__(config)
        assert isinstance(config, DovecotMailboxConfig)
        self.cfg = config
        self.path = Path(config.users_file)
        self.aliases_path = Path(config.aliases_file) if config.aliases_file else None
        if self.aliases_path:
            self.operations = type(self).operations | {Operation.ALIASES}  # type: ignore[misc]  # per instance

    def address(self, key: str) -> str:
        return key if "@" in key else f"{key}@{self.cfg.domain}"

    def _lines(self, path: Path | None = None) -> list[str]:
        path = path or self.path
        try:
            return path.read_text().splitlines()
        except FileNotFoundError as exc:
            if path != self.path:
                return []  # the alias map starts empty
            raise PermanentError(f"users file {path} does not exist") from exc
        except OSError as exc:
            raise TransientError(f"cannot read {path}: {exc}") from exc

    def _rewrite(self, change: object, path: Path | None = None) -> None:
        """Rewrite the file under a lock, atomically (Dovecot re-reads it when it changes)."""
        path = path or self.path
        try:
            with open(path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                lines = self._lines(path)
                new = change(lines)  # type: ignore[operator]
                tmp = path.with_suffix(".tmp")
                tmp.write_text("".join(f"{line}\n" for line in new))
                os.chmod(tmp, (path.stat().st_mode if path.exists() else self.path.stat().st_mode) & 0o777)
                os.replace(tmp, path)
        except OSError as exc:
            raise TransientError(f"cannot write {path}: {exc}") from exc

    def _set_aliases(self, mailbox: str, wanted: list[str] | None) -> None:
        """The map holds exactly these aliases for the mailbox; lines of other mailboxes stay as they are."""
        if self.aliases_path is None or wanted is None:
            return

        def replace(lines: list[str]) -> list[str]:
            kept = [line for line in lines if line.split()[1:2] != [mailbox]]
            taken = {line.split()[0].lower() for line in kept if line.split()}
            clash = sorted(a for a in wanted if a.lower() in taken)
            if clash:
                raise PermanentError(f"alias {clash[0]} already delivers to another mailbox")
            return kept + [f"{alias} {mailbox}" for alias in sorted(wanted)]

        self._rewrite(replace, self.aliases_path)

    @staticmethod
    def _parse(line: str) -> tuple[str, bool] | None:
        enabled = not line.startswith(DISABLED)
        body = line[len(DISABLED):] if not enabled else line
        if not body or body.startswith("#") or ":" not in body:
            return None
        return body.split(":", 1)[0], enabled

    def test(self) -> None:
        self._lines()

    def get(self, key: str) -> Account | None:
        address = self.address(key).lower()
        for line in self._lines():
            parsed = self._parse(line)
            if parsed and parsed[0].lower() == address:
                return Account(key=key, enabled=parsed[1], target_id=parsed[0], attributes={"address": parsed[0]})
        return None

    def create(self, account: Account) -> str:
        address = self.address(account.key)

        def add(lines: list[str]) -> list[str]:
            if any((p := self._parse(line)) and p[0].lower() == address.lower() for line in lines):
                raise AlreadyExists(f"mailbox {address} exists")
            # user:password:uid:gid:gecos:home:shell:extra — no password: OAuth only.
            return [*lines, f"{address}::::::"]

        self._rewrite(add)
        self._set_aliases(address, account.attributes.get("aliases"))
        return address

    def update(self, target_id: str, account: Account) -> None:
        if self.get(target_id) is None:
            raise PermanentError(f"mailbox {target_id} does not exist")
        self._set_aliases(target_id, account.attributes.get("aliases"))

    def _toggle(self, target_id: str, enable: bool) -> None:
        def toggle(lines: list[str]) -> list[str]:
            out = []
            for line in lines:
                parsed = self._parse(line)
                if parsed and parsed[0].lower() == target_id.lower():
                    body = line[len(DISABLED):] if line.startswith(DISABLED) else line
                    line = body if enable else DISABLED + body
                out.append(line)
            return out

        self._rewrite(toggle)

    def disable(self, target_id: str) -> None:
        self._toggle(target_id, enable=False)

    def enable(self, target_id: str) -> None:
        self._toggle(target_id, enable=True)

    def delete(self, target_id: str) -> None:
        self._rewrite(lambda lines: [line for line in lines
                                     if not ((p := self._parse(line)) and p[0].lower() == target_id.lower())])

    def list(self) -> Iterator[Account]:
        for line in self._lines():
            parsed = self._parse(line)
            if parsed:
                yield Account(key=parsed[0].split("@")[0], enabled=parsed[1], target_id=parsed[0],
                              attributes={"address": parsed[0]})
