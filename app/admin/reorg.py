"""Reorganisations: merge units, move subtrees, remove a level, rename, change a mail domain.

A plan is stored with its effective date, then dry-run: per target system, how many accounts would change their
unit, username or address. The dry run goes through the officials concerned a chunk at a time (each chunk applied
inside a savepoint, compared, rolled back), keeping its progress and running counts on the plan: the worker works
through a large plan step by step (resumable, other work in between), a small one is done in the request that
stores it. Applying changes the units in one transaction, then moves the affected officials in batches (each batch
its own transaction, so an interrupted run resumes), each with a mover event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.admin.errors import AdminError, Conflict, NotFound
from app.admin.models import Reorganisation
from app.audit.trail import Actor, record
from app.db import now
from app.identity.models import EmailAlias, Official, Unit
from app.identity.names import normalize_text
from app.identity.service import emit, unit_subtree
from app.provisioning.engine import ProvisioningEngine
from app.provisioning.lookups import NUMBERED_AHEAD, Lookups
from app.provisioning.models import ConnectorInstance
from app.provisioning.usernames import base_username, numbered, unique_username

OPS = ("merge", "move", "remove_level", "rename", "mail_domain")
BATCH = 500
PREVIEW_CHUNK = 1000  # officials one step of the dry run looks at, in one transaction
INLINE_PREVIEW = 2000  # a plan concerning no more officials is dry-run in the request that stores it
# Which account attributes count as what, for the dry run: by the official's field the template reads.
BUCKETS = {"address": ("{email}",), "unit": ("{unit_name}", "{unit_code}", "{unit_path}"), "username": ("{username}",)}


@dataclass(frozen=True)
class ApplyProgress:
    status: str
    moved: int
    remaining: int


@dataclass(frozen=True)
class DryRunProgress:
    status: str
    looked_at: int
    concerned: int


class Reorganiser:
    def __init__(self, session: Session, actor: Actor, engine: ProvisioningEngine) -> None:
        self.s, self.actor, self.engine = session, actor, engine

    # --- planning -------------------------------------------------------------------------------------
    def plan(self, name: str, effective_date: str, operations: list[dict[str, Any]]) -> Reorganisation:
        try:
            dt.date.fromisoformat(effective_date)
        except ValueError as exc:
            raise AdminError("effective_date: YYYY-MM-DD", "effective_date") from exc
        for index, op in enumerate(operations):
            self._validate(index, op)
        concerned = self.s.scalar(select(func.count()).select_from(Official)
                                  .where(Official.unit_id.in_(self._concerned_units(operations)))) or 0
        plan = Reorganisation(id=str(uuid.uuid4()), name=name[:300], effective_date=effective_date,
                              operations=operations, status="previewing", created_by=self.actor.id,
                              dry_run={"concerned": concerned, "looked_at": 0, "after": "", "changing": 0,
                                       "accounts": {}})
        self.s.add(plan)
        self.s.flush()
        record(self.s, "reorg.planned", self.actor, target=plan.id, details={"name": name, "operations": operations})
        if concerned <= INLINE_PREVIEW:
            while plan.status == "previewing":
                self._dry_run_step(plan)
        return plan

    def _validate(self, index: int, op: dict[str, Any]) -> None:
        kind = op.get("op")
        if kind not in OPS:
            raise AdminError(f"operations[{index}].op: one of {', '.join(OPS)}", f"operations[{index}].op")
        need = {"merge": ("from", "into"), "move": ("unit", "parent"), "rename": ("unit", "name"),
                "mail_domain": ("unit", "domain"), "remove_level": ("kind",)}[kind]
        for key in need:
            if not op.get(key):
                raise AdminError(f"operations[{index}].{key} is required for {kind}", f"operations[{index}].{key}")
        for key in ("from", "into", "unit", "parent"):
            if op.get(key) and self._unit(op[key]) is None:
                raise AdminError(f"operations[{index}].{key}: no unit {op[key]!r}", f"operations[{index}].{key}")
        if kind == "move":
            self._check_move(self._must(op["unit"]), self._must(op["parent"]))

    def _unit(self, code: str) -> Unit | None:
        return self.s.scalars(select(Unit).where(Unit.code == code)).one_or_none()

    def dry_run(self, plan_id: str) -> DryRunProgress | None:
        """One step of a plan's dry run (the worker's): the next chunk of officials, or the report once every one
        has been looked at. None when another worker is on this plan now."""
        plan = self.s.scalars(select(Reorganisation).where(Reorganisation.id == plan_id)
                              .with_for_update(skip_locked=True)).one_or_none()
        if plan is None:
            return None
        if plan.status == "previewing":
            self._dry_run_step(plan)
        state = plan.dry_run or {}
        return DryRunProgress(plan.status, state.get("looked_at", 0), state.get("concerned", 0))

    def _dry_run_step(self, plan: Reorganisation) -> None:
        """Apply the plan inside a savepoint to the next officials in id order, compare what each connector would
        hold before and after, roll back, and add to the counts.

        An official counts as affected when their unit path, address or username changes; officials of a unit
        that only receives others (the `into` of a merge) are looked at but not counted unless they change."""
        state = dict(plan.dry_run or {})
        officials = list(self.s.scalars(select(Official).where(
            Official.unit_id.in_(self._concerned_units(plan.operations)), Official.id > state["after"])
            .order_by(Official.id).limit(PREVIEW_CHUNK)))
        if not officials:
            plan.report, plan.status, plan.updated_at = self._report(state), "planned", now()
            return
        instances = list(self.s.scalars(select(ConnectorInstance).where(ConnectorInstance.enabled.is_(True))
                                        .order_by(ConnectorInstance.name)))
        units = self.s.scalars(select(Unit)).all()  # held: following merges and parents must not reload them
        state_before, before = self._looked_at(instances, officials)
        last = officials[-1].id
        savepoint = self.s.begin_nested()
        try:
            self._apply_units(plan.operations)
            for official in officials:
                self._move_official(plan.operations, official, alias=False)
            self.s.flush()
            state_after, after = self._looked_at(instances, officials)
        finally:
            savepoint.rollback()  # expires what it changed: officials and units are not read again below
        del units
        state["changing"] += sum(state_before[key] != state_after[key] for key in state_before)
        accounts = {name: dict(counts) for name, counts in state["accounts"].items()}
        for instance in instances:
            counts = accounts.setdefault(instance.name, {"touched": 0, "unit": 0, "username": 0, "address": 0})
            mapping = self._mapping(instance)
            for key in {k for k in before.keys() | after.keys() if k[0] == instance.name}:
                old, new = before.get(key, {}), after.get(key, {})
                templates = [mapping.get(a, "") for a in set(old) | set(new) if old.get(a) != new.get(a)]
                counts["touched"] += bool(templates)
                for bucket, fields in BUCKETS.items():
                    counts[bucket] += any(f in t for f in fields for t in templates)
        state.update(accounts=accounts, after=last, looked_at=state["looked_at"] + len(state_before))
        plan.dry_run, plan.updated_at = state, now()

    def _looked_at(self, instances: list[ConnectorInstance], officials: list[Official]
                   ) -> tuple[dict[str, tuple[Any, ...]], dict[tuple[str, str], dict[str, Any]]]:
        """Each official's unit path, address and username, and the attributes of their account in each target
        they are assigned to."""
        lookups = Lookups.of_officials(self.s, officials)
        states = {o.id: self._state(o, lookups) for o in officials}
        attributes = {(i.name, o.id): self._attributes(i, o, lookups) for i in instances for o in officials
                      if self.engine.assigned(self.s, i, o, lookups)}
        return states, attributes

    @staticmethod
    def _report(state: dict[str, Any]) -> str:
        lines = [f"{state['changing']} officials affected (their unit, address or username changes; "
                 f"{state['looked_at']} officials in the units concerned)"]
        for name, counts in state["accounts"].items():
            lines.append(f"{name}: {counts['touched']} accounts change (unit {counts['unit']}, username "
                         f"{counts['username']}, address {counts['address']})")
        return "\n".join(lines)

    @staticmethod
    def _state(official: Official, lookups: Lookups) -> tuple[Any, ...]:
        unit = lookups.unit(official.unit_id)
        return (unit.path if unit else None, official.email, official.username)

    def _mapping(self, instance: ConnectorInstance) -> dict[str, str]:
        try:
            return dict(instance.mapping or type(self.engine.connector(instance)).default_mapping)
        except Exception:  # noqa: BLE001 - a connector whose config cannot be read does not stop the plan
            return dict(instance.mapping or {})

    def _attributes(self, instance: ConnectorInstance, official: Official, lookups: Lookups) -> dict[str, Any]:
        try:
            return self.engine.attributes(self.s, instance, official, lookups)
        except Exception:  # noqa: BLE001 - a connector whose config cannot be read does not stop the plan
            return {}

    def _concerned_units(self, operations: list[dict[str, Any]]) -> set[str]:
        units: set[str] = set()
        for op in operations:
            for key in ("from", "into", "unit"):
                if op.get(key) and (unit := self._unit(op[key])) is not None:
                    units |= unit_subtree(self.s, unit.id)
            if op["op"] == "remove_level":
                for unit in self.s.scalars(select(Unit).where(Unit.kind == op["kind"], Unit.dissolved_at.is_(None))):
                    units |= unit_subtree(self.s, unit.id)
        return units

    # --- applying -------------------------------------------------------------------------------------
    def apply(self, plan_id: str, batches: int | None = None, today: dt.date | None = None,
              progress: Callable[[ApplyProgress], None] = lambda _: None) -> ApplyProgress:
        plan = self.s.get(Reorganisation, plan_id, with_for_update=True)
        if plan is None:
            raise NotFound(f"no reorganisation {plan_id!r}")
        if plan.status == "done":
            return ApplyProgress("done", 0, 0)
        if plan.status == "previewing":
            state = plan.dry_run or {}
            raise Conflict(f"the dry run is still running ({state.get('looked_at', 0)} of "
                           f"{state.get('concerned', 0)} officials looked at); apply it once the report is ready")
        if (today or dt.date.today()).isoformat() < plan.effective_date:
            raise Conflict(f"this reorganisation takes effect on {plan.effective_date}")
        if not plan.units_done:
            plan.remaining = list(self.s.scalars(select(Official.id).where(
                Official.unit_id.in_(self._concerned_units(plan.operations))).order_by(Official.id)))
            self._apply_units(plan.operations)
            plan.units_done, plan.status = True, "applying"
            record(self.s, "reorg.units_changed", self.actor, target=plan.id,
                   details={"officials": len(plan.remaining)})
            self.s.commit()
        moved = 0
        while plan.remaining and (batches is None or batches > 0):
            batch, rest = plan.remaining[:BATCH], plan.remaining[BATCH:]
            found = {o.id: o for o in self.s.scalars(select(Official).where(Official.id.in_(batch)))}
            officials = [found[official_id] for official_id in batch if official_id in found]
            units = self.s.scalars(select(Unit)).all()  # held: following merges and parents must not reload them
            addresses = self._addresses_of(officials)
            for official in officials:
                self._move_official(plan.operations, official, alias=True, addresses=addresses)
                emit(self.s, official, "mover", {"reason": f"reorganisation {plan.name}"})
            del units
            plan.remaining, plan.updated_at = rest, now()
            moved += len(batch)
            self.s.commit()  # each batch is kept: a stopped run resumes with the officials left
            progress(ApplyProgress(plan.status, moved, len(plan.remaining)))
            batches = None if batches is None else batches - 1
        if not plan.remaining:
            plan.status = "done"
            record(self.s, "reorg.applied", self.actor, target=plan.id, details={"name": plan.name})
        return ApplyProgress(plan.status, moved, len(plan.remaining))

    def fail(self, plan_id: str, reason: str) -> None:
        """A plan whose units step cannot be applied (the units changed since it was planned): nothing of it was
        applied, and it is not tried again; an admin plans it anew."""
        plan = self.s.get(Reorganisation, plan_id, with_for_update=True)
        if plan is None or plan.units_done:
            return
        plan.status, plan.updated_at = "failed", now()
        plan.report = f"{plan.report or ''}\nnot applied: {reason}".strip()
        record(self.s, "reorg.failed", self.actor, target=plan.id, outcome="failed", details={"reason": reason})

    def _apply_units(self, operations: list[dict[str, Any]]) -> None:
        for op in operations:
            kind = op["op"]
            if kind == "merge":
                self._merge(self._must(op["from"]), self._must(op["into"]))
            elif kind == "move":
                moving, parent = self._must(op["unit"]), self._must(op["parent"])
                self._check_move(moving, parent)
                moving.parent_id = parent.id
            elif kind == "rename":
                self._must(op["unit"]).name = normalize_text(op["name"])
            elif kind == "mail_domain":
                self._must(op["unit"]).mail_domain = str(op["domain"]).lower().strip()
            elif kind == "remove_level":
                for level in list(self.s.scalars(select(Unit).where(Unit.kind == op["kind"],
                                                                    Unit.dissolved_at.is_(None)))):
                    above = self.s.get(Unit, level.parent_id) if level.parent_id else None
                    if above is not None:
                        self._merge(level, above)
            self.s.flush()

    def _check_move(self, moving: Unit, parent: Unit) -> None:
        if parent.id in unit_subtree(self.s, moving.id):
            raise AdminError(f"{moving.code} cannot move under its own subtree", "operations")

    def _merge(self, source: Unit, target: Unit) -> None:
        for child in self.s.scalars(select(Unit).where(Unit.parent_id == source.id)):
            if child.id != target.id:
                child.parent_id = target.id
        source.merged_into_id, source.dissolved_at = target.id, now()

    def _must(self, code: str) -> Unit:
        unit = self._unit(code)
        if unit is None:
            raise AdminError(f"no unit {code!r}", "operations")
        return unit

    def _destination(self, official: Official) -> tuple[Unit | None, str | None]:
        """The unit an official ends up in (merges followed to the surviving unit) and its mail domain."""
        unit = self.s.get(Unit, official.unit_id) if official.unit_id else None
        seen = 0
        while unit is not None and unit.merged_into_id and seen < 32:
            unit, seen = self.s.get(Unit, unit.merged_into_id), seen + 1
        return unit, self._mail_domain(unit)

    def _move_official(self, operations: list[dict[str, Any]], official: Official, alias: bool,
                       addresses: _Addresses | None = None) -> None:
        """Into the unit it ends up in, at its mail domain; with no address book (a dry run, which only counts
        whose address changes) the new address is not numbered past those held."""
        unit, domain = self._destination(official)
        if unit is not None and unit.id != official.unit_id:
            official.unit_id = unit.id
        if domain and official.email and not official.email.endswith("@" + domain):
            self._readdress(official, domain, operations, alias, addresses)

    def _addresses_of(self, officials: list[Official]) -> _Addresses:
        """The address book for a batch, its look-ups done ahead: each official's current address and the first
        candidates at the domain they move to."""
        addresses, wanted = _Addresses(self.s), []
        for official in officials:
            domain = self._destination(official)[1]
            if domain and official.email and not official.email.endswith("@" + domain):
                base = self._base(official)
                wanted += [official.email, *(f"{numbered(base, n)}@{domain}" for n in range(1, NUMBERED_AHEAD + 1))]
        addresses.read(wanted)
        return addresses

    @staticmethod
    def _base(official: Official) -> str:
        return base_username(official.given_name, official.family_name, official.middle_name, official.username)

    def _mail_domain(self, unit: Unit | None) -> str | None:
        current, seen = unit, 0
        while current is not None and seen < 32:
            if current.mail_domain:
                return current.mail_domain
            current, seen = (self.s.get(Unit, current.parent_id) if current.parent_id else None), seen + 1
        return None

    def _readdress(self, official: Official, domain: str, operations: list[dict[str, Any]], alias: bool,
                   addresses: _Addresses | None) -> None:
        days = max((int(op.get("alias_days", 180)) for op in operations if op["op"] == "mail_domain"), default=180)
        old, base = str(official.email), self._base(official)
        if addresses is None:
            official.email = f"{base}@{domain}"
            return

        def taken(names: list[str]) -> list[str]:
            held = addresses.taken_among([f"{name}@{domain}" for name in names])
            return [name for name in names if f"{name}@{domain}" in held]

        # Addresses are never given up (the old ones stay aliases): the search goes on from the last one given.
        local = unique_username(base, taken, addresses.numbering.get((domain, base), 1))
        addresses.numbering[(domain, base)] = 1 if local == base else int(local[len(base):])
        official.email = f"{local}@{domain}"
        addresses.in_use.add(official.email)
        if alias and old not in addresses.aliased_among([old]):
            self.s.add(EmailAlias(address=old, official_id=official.id, expires_at=now() + days * 86400))
            addresses.aliased.add(old)


class _Addresses:
    """Which addresses officials hold or aliases keep, read in two statements per run of addresses asked (a
    batch's ahead of it) and kept up to date with the ones the batch gives; and per domain and base, the number
    of the last address given."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.in_use: set[str] = set()
        self.aliased: set[str] = set()
        self.numbering: dict[tuple[str, str], int] = {}
        self._asked: set[str] = set()

    def read(self, addresses: list[str]) -> None:
        unknown = set(addresses) - self._asked
        if unknown:
            self.in_use |= set(self.s.scalars(select(Official.email).where(Official.email.in_(unknown))))
            self.aliased |= set(self.s.scalars(select(EmailAlias.address).where(EmailAlias.address.in_(unknown))))
            self._asked |= unknown

    def taken_among(self, addresses: list[str]) -> set[str]:
        self.read(addresses)
        return {address for address in addresses if address in self.in_use or address in self.aliased}

    def aliased_among(self, addresses: list[str]) -> set[str]:
        self.read(addresses)
        return {address for address in addresses if address in self.aliased}
