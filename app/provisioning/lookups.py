"""What working on provisioning tasks reads from the store besides the tasks: account links, group names and
mail aliases of the officials, and which account keys each target has given; and, for a batch's new accounts,
what the targets hold under their keys (one request per target where it can answer for many).

For a batch of tasks they are read once for all its officials (a few statements, not a few per task); outside a
batch (a dry run, a reconcile, a reorganisation's plan) the same methods read one official at a time. Keys held
in this transaction count as taken, so one batch never gives a name twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import now
from app.identity.models import EmailAlias, Group, GroupMember, Official, Unit
from app.identity.units import unit_info
from app.oidc.models import UnitInfo
from app.provisioning.models import AccountLink, ConnectorInstance
from app.provisioning.usernames import numbered, unique_username
from connectors.base import Account, Connector, ConnectorError, Operation

# Candidates of a key read ahead with it (base, base2 … base10): namesakes are common in a province.
NUMBERED_AHEAD = 10


class Lookups:
    def __init__(self, session: Session, official_ids: Collection[str] = (),
                 numbering: dict[tuple[str, str], int] | None = None) -> None:
        self.session = session
        # (target, base) -> the candidate number below which every one is known taken; kept by the engine across
        # batches, since a key once given is never given up.
        self._numbering = {} if numbering is None else numbering
        self._batch = list(official_ids)
        # Held here, not only in the session's identity map, which lets go of rows no one references.
        self._officials: dict[str, Official | None] = {}
        self._instances: dict[str, ConnectorInstance | None] = {}
        self._units: dict[str | None, UnitInfo | None] = {}
        self._unit_rows: dict[str, Unit] = {}
        self._links: dict[tuple[str, str], AccountLink | None] = {}
        self._groups: dict[str, list[str]] | None = None
        self._aliases: dict[str, list[str]] | None = None
        self._taken: dict[str, set[str]] = {}
        self._free: dict[str, set[str]] = {}
        self.clean_targets: set[str] = set()  # targets whose breaker row this transaction has reset
        self.paused_targets: set[str] = set()  # targets whose breaker this transaction has opened
        self.new_links: list[AccountLink] = []
        self._accounts: dict[Connector, dict[str, Account | None]] = {}
        self._made: dict[Connector, dict[str, str]] = {}
        self._updated: dict[Connector, dict[str, str]] = {}

    @classmethod
    def of_batch(cls, session: Session, official_ids: Collection[str], connectors: Collection[str],
                 numbering: dict[tuple[str, str], int]) -> Lookups:
        """The targets, officials, their units (a statement per level) and their links in these targets."""
        officials = session.scalars(select(Official).where(Official.id.in_(official_ids))).all() if official_ids else []
        lookups = cls.of_officials(session, officials, numbering, official_ids)
        lookups._instances = dict.fromkeys(connectors)
        lookups._instances.update({i.name: i for i in session.scalars(select(ConnectorInstance)
                                                                       .where(ConnectorInstance.name.in_(connectors)))})
        if official_ids:
            for link in session.scalars(select(AccountLink).where(AccountLink.official_id.in_(official_ids),
                                                                  AccountLink.connector.in_(connectors))):
                lookups._links[(link.official_id, link.connector)] = link
            for official_id in official_ids:
                for connector in connectors:
                    lookups._links.setdefault((official_id, connector), None)
        return lookups

    @classmethod
    def of_officials(cls, session: Session, officials: Collection[Official],
                     numbering: dict[tuple[str, str], int] | None = None, asked: Collection[str] = ()) -> Lookups:
        """These officials (and any of the asked ids not found) and their units, read a level at a time."""
        lookups = cls(session, asked or [o.id for o in officials], numbering)
        lookups._officials = dict.fromkeys(asked)
        lookups._officials.update({o.id: o for o in officials})
        lookups._read_units({o.unit_id for o in officials if o.unit_id})
        return lookups

    def _read_units(self, unit_ids: set[str]) -> None:
        """Units and their ancestors, a level at a time; held so that unit_info finds them in the session."""
        wanted = unit_ids
        for _ in range(32):
            if not wanted:
                return
            rows = self.session.scalars(select(Unit).where(Unit.id.in_(wanted))).all()
            self._unit_rows.update({unit.id: unit for unit in rows})
            wanted = {u.parent_id for u in rows if u.parent_id and u.parent_id not in self._unit_rows}

    def official(self, official_id: str) -> Official | None:
        if official_id not in self._officials:
            self._officials[official_id] = self.session.get(Official, official_id)
        return self._officials[official_id]

    def instance(self, name: str) -> ConnectorInstance | None:
        if name not in self._instances:
            self._instances[name] = self.session.get(ConnectorInstance, name)
        return self._instances[name]

    def unit(self, unit_id: str | None) -> UnitInfo | None:
        if unit_id not in self._units:
            self._units[unit_id] = unit_info(self.session, unit_id)
        return self._units[unit_id]

    def link(self, official_id: str, connector: str) -> AccountLink | None:
        pair = (official_id, connector)
        if pair not in self._links:
            self._links[pair] = self.session.get(AccountLink, pair)
        return self._links[pair]

    def hold(self, link: AccountLink) -> None:
        """A new link added to the session: its key is taken from now on."""
        self._links[(link.official_id, link.connector)] = link
        self.new_links.append(link)
        self._taken.setdefault(link.connector, set()).add(link.key)
        self._free.get(link.connector, set()).discard(link.key)

    def forget(self, links: Iterable[AccountLink]) -> None:
        """Links whose insert was rolled back; what this transaction knew of free keys is no longer sure."""
        for link in links:
            self._links[(link.official_id, link.connector)] = None
            self.new_links.remove(link)
            # The numbers this batch chose are free again: each base's search starts over, so none is skipped.
            for held in [pair for pair in self._numbering if pair[0] == link.connector]:
                del self._numbering[held]
            self._taken.get(link.connector, set()).discard(link.key)
            self._free.pop(link.connector, None)

    def taken_among(self, connector: str, keys: Collection[str]) -> set[str]:
        """Which of these keys the target has given; keys ever given stay with their official (a disabled
        account still holds its name). What this transaction has not asked yet is read in one statement."""
        taken, free = self._taken.setdefault(connector, set()), self._free.setdefault(connector, set())
        unknown = {key for key in keys if key not in taken and key not in free}
        if unknown:
            held = set(self.session.scalars(select(AccountLink.key).where(AccountLink.connector == connector,
                                                                          AccountLink.key.in_(unknown))))
            taken.update(held)
            free.update(unknown - held)
        return {key for key in keys if key in taken}

    def free_key(self, connector: str, base: str) -> str:
        """The first of base, base2, … that the target has not given, asked from where the last one was found:
        that one is held now (or free again if its transaction rolled back, and then found again)."""
        start = self._numbering.get((connector, base), 1)
        key = unique_username(base, lambda candidates: self.taken_among(connector, candidates), start)
        self._numbering[(connector, base)] = 1 if key == base else int(key[len(base):])
        return key

    def key_taken(self, connector: str, key: str) -> bool:
        return bool(self.taken_among(connector, [key]))

    def read_keys(self, connector: str, bases: Iterable[str]) -> None:
        """The candidates of each base that free_key asks first, for a batch in one statement."""
        self.taken_among(connector, {numbered(base, n) for base in bases
                                     for start in [self._numbering.get((connector, base), 1)]
                                     for n in range(start, start + NUMBERED_AHEAD)})

    def read_accounts(self, connector: Connector, keys: list[str]) -> None:
        """What the target holds under these keys, in one request where it can (GET_MANY). A target that cannot
        answer now is asked key by key later, where each task's own retry handles the failure."""
        if Operation.GET_MANY not in connector.operations or not keys:
            return
        try:
            held = connector.get_many(keys)
        except ConnectorError:
            return
        self._accounts[connector] = {key: held.get(key) for key in keys}

    def absent(self, connector: Connector) -> list[str]:
        """The new keys the batch's read found no account under."""
        return [key for key, held in self._accounts.get(connector, {}).items() if held is None]

    def made(self, connector: Connector, ids: dict[str, str]) -> None:
        """Accounts the batch made in one request: their tasks find them made."""
        self._made.setdefault(connector, {}).update(ids)

    def made_id(self, connector: Connector, key: str) -> str | None:
        return self._made.get(connector, {}).pop(key, None)

    def updated(self, connector: Connector, digests: dict[str, str]) -> None:
        """Accounts the batch changed in one request (by target id): the digest of what each was sent."""
        self._updated.setdefault(connector, {}).update(digests)

    def updated_to(self, connector: Connector, target_id: str, digest: str) -> bool:
        """Whether the batch's request already sent this account exactly this."""
        return self._updated.get(connector, {}).pop(target_id, None) == digest

    def account(self, connector: Connector, key: str) -> Account | None:
        """The target's account under this key: from the batch's read the first time, from the target after
        (a create that met AlreadyExists looks again)."""
        answers = self._accounts.get(connector)
        if answers is not None and key in answers:
            return answers.pop(key)
        return connector.get(key)

    def groups_of(self, official_id: str) -> list[str]:
        if self._groups is None or official_id not in self._groups:
            ids = self._batch if official_id in self._batch and self._groups is None else [official_id]
            rows = self.session.execute(select(GroupMember.official_id, Group.name)
                                        .join(Group, GroupMember.group_id == Group.id)
                                        .where(GroupMember.official_id.in_(ids))).all()
            self._groups = self._groups or {}
            for member in ids:
                self._groups[member] = []
            for member, name in rows:
                self._groups[member].append(name)
        return self._groups[official_id]

    def aliases_of(self, official_id: str) -> list[str]:
        if self._aliases is None or official_id not in self._aliases:
            ids = self._batch if official_id in self._batch and self._aliases is None else [official_id]
            rows = self.session.execute(select(EmailAlias.official_id, EmailAlias.address)
                                        .where(EmailAlias.official_id.in_(ids), EmailAlias.expires_at > now())).all()
            self._aliases = self._aliases or {}
            for owner in ids:
                self._aliases[owner] = []
            for owner, address in rows:
                self._aliases[owner].append(address)
        return sorted(self._aliases[official_id])
