"""Reorganisations: merge units, move subtrees, remove a level, rename, change a mail domain.

A plan is stored with its effective date and a dry run: per target system, how many accounts would change
their unit, username or address. Applying it changes the units in one transaction, then moves the affected
officials in batches (each batch its own transaction, so an interrupted run resumes), each with a mover event.
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
from app.identity.units import unit_info
from app.provisioning.engine import ProvisioningEngine
from app.provisioning.models import ConnectorInstance
from app.provisioning.usernames import base_username, unique_username

OPS = ("merge", "move", "remove_level", "rename", "mail_domain")
BATCH = 500
# Which account attributes count as what, for the dry run: by the official's field the template reads.
BUCKETS = {"address": ("{email}",), "unit": ("{unit_name}", "{unit_code}", "{unit_path}"), "username": ("{username}",)}


@dataclass(frozen=True)
class ApplyProgress:
    status: str
    moved: int
    remaining: int


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
        plan = Reorganisation(id=str(uuid.uuid4()), name=name[:300], effective_date=effective_date,
                              operations=operations, status="planned", created_by=self.actor.id)
        plan.report = self._dry_run(plan)
        self.s.add(plan)
        self.s.flush()
        record(self.s, "reorg.planned", self.actor, target=plan.id, details={"name": name, "operations": operations})
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

    def _unit(self, code: str) -> Unit | None:
        return self.s.scalars(select(Unit).where(Unit.code == code)).one_or_none()

    def _dry_run(self, plan: Reorganisation) -> str:
        """Apply the plan inside a savepoint, compare every connector's account attributes, roll back.

        The first line counts the officials whose unit path, address or username changes; officials of a unit
        that only receives others (the `into` of a merge) are looked at but not counted unless they change."""
        instances = list(self.s.scalars(select(ConnectorInstance).where(ConnectorInstance.enabled.is_(True))))
        concerned = self._affected(plan.operations)
        state_before = {o.id: self._state(o) for o in concerned}
        before = {(i.name, o.id): self._attributes(i, o) for i in instances for o in concerned
                  if self.engine.assigned(self.s, i, o)}
        savepoint = self.s.begin_nested()
        try:
            self._apply_units(plan.operations)
            officials = self._affected(plan.operations, after=True)
            for official in officials:
                self._move_official(plan.operations, official, alias=False)
            self.s.flush()
            state_after = {o.id: self._state(o) for o in officials}
            after = {(i.name, o.id): self._attributes(i, o) for i in instances for o in officials
                     if self.engine.assigned(self.s, i, o)}
        finally:
            savepoint.rollback()
        changing = [i for i in state_before.keys() | state_after.keys() if state_before.get(i) != state_after.get(i)]
        lines = [f"{len(changing)} officials affected (their unit, address or username changes; "
                 f"{len(concerned)} officials in the units concerned)"]
        for instance in instances:
            mapping = self._mapping(instance)
            counts = {"unit": 0, "username": 0, "address": 0}
            touched = 0
            for key in {k for k in before | after if k[0] == instance.name}:
                old, new = before.get(key, {}), after.get(key, {})
                changed = {a for a in set(old) | set(new) if old.get(a) != new.get(a)}
                touched += bool(changed)
                templates = [mapping.get(a, "") for a in changed]
                for bucket, fields in BUCKETS.items():
                    counts[bucket] += any(f in t for f in fields for t in templates)
            lines.append(f"{instance.name}: {touched} accounts change (unit {counts['unit']}, username "
                         f"{counts['username']}, address {counts['address']})")
        return "\n".join(lines)

    def _state(self, official: Official) -> tuple[Any, ...]:
        unit = unit_info(self.s, official.unit_id)
        return (unit.path if unit else None, official.email, official.username)

    def _mapping(self, instance: ConnectorInstance) -> dict[str, str]:
        try:
            return dict(instance.mapping or type(self.engine.connector(instance)).default_mapping)
        except Exception:  # noqa: BLE001 - a connector whose config cannot be read does not stop the plan
            return dict(instance.mapping or {})

    def _attributes(self, instance: ConnectorInstance, official: Official) -> dict[str, Any]:
        try:
            return self.engine.attributes(self.s, instance, official)
        except Exception:  # noqa: BLE001 - a connector whose config cannot be read does not stop the plan
            return {}

    def _affected(self, operations: list[dict[str, Any]], after: bool = False) -> list[Official]:
        units: set[str] = set()
        for op in operations:
            for key in ("from", "into", "unit"):
                if op.get(key) and (unit := self._unit(op[key])) is not None:
                    units |= unit_subtree(self.s, unit.id)
            if op["op"] == "remove_level":
                for unit in self.s.scalars(select(Unit).where(Unit.kind == op["kind"], Unit.dissolved_at.is_(None))):
                    units |= unit_subtree(self.s, unit.id)
        return list(self.s.scalars(select(Official).where(Official.unit_id.in_(units)).order_by(Official.id)))

    # --- applying -------------------------------------------------------------------------------------
    def apply(self, plan_id: str, batches: int | None = None, today: dt.date | None = None,
              progress: Callable[[ApplyProgress], None] = lambda _: None) -> ApplyProgress:
        plan = self.s.get(Reorganisation, plan_id, with_for_update=True)
        if plan is None:
            raise NotFound(f"no reorganisation {plan_id!r}")
        if plan.status == "done":
            return ApplyProgress("done", 0, 0)
        if (today or dt.date.today()).isoformat() < plan.effective_date:
            raise Conflict(f"this reorganisation takes effect on {plan.effective_date}")
        if not plan.units_done:
            plan.remaining = [o.id for o in self._affected(plan.operations)]
            self._apply_units(plan.operations)
            plan.units_done, plan.status = True, "applying"
            record(self.s, "reorg.units_changed", self.actor, target=plan.id,
                   details={"officials": len(plan.remaining)})
            self.s.commit()
        moved = 0
        while plan.remaining and (batches is None or batches > 0):
            batch, rest = plan.remaining[:BATCH], plan.remaining[BATCH:]
            for official_id in batch:
                official = self.s.get(Official, official_id)
                if official is not None:
                    self._move_official(plan.operations, official, alias=True)
                    emit(self.s, official, "mover", {"reason": f"reorganisation {plan.name}"})
            plan.remaining, plan.updated_at = rest, now()
            moved += len(batch)
            self.s.commit()  # each batch is kept: a stopped run resumes with the officials left
            progress(ApplyProgress(plan.status, moved, len(plan.remaining)))
            batches = None if batches is None else batches - 1
        if not plan.remaining:
            plan.status = "done"
            record(self.s, "reorg.applied", self.actor, target=plan.id, details={"name": plan.name})
        return ApplyProgress(plan.status, moved, len(plan.remaining))

    def _apply_units(self, operations: list[dict[str, Any]]) -> None:
        for op in operations:
            kind = op["op"]
            if kind == "merge":
                self._merge(self._must(op["from"]), self._must(op["into"]))
            elif kind == "move":
                moving, parent = self._must(op["unit"]), self._must(op["parent"])
                if parent.id in unit_subtree(self.s, moving.id):
                    raise AdminError(f"{moving.code} cannot move under its own subtree", "operations")
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

    def _move_official(self, operations: list[dict[str, Any]], official: Official, alias: bool) -> None:
        unit = self.s.get(Unit, official.unit_id) if official.unit_id else None
        seen = 0
        while unit is not None and unit.merged_into_id and seen < 32:  # follow merges to the surviving unit
            unit, seen = self.s.get(Unit, unit.merged_into_id), seen + 1
        if unit is not None and unit.id != official.unit_id:
            official.unit_id = unit.id
        domain = self._mail_domain(unit)
        if domain and official.email and not official.email.endswith("@" + domain):
            self._readdress(official, domain, operations, alias)

    def _mail_domain(self, unit: Unit | None) -> str | None:
        current, seen = unit, 0
        while current is not None and seen < 32:
            if current.mail_domain:
                return current.mail_domain
            current, seen = (self.s.get(Unit, current.parent_id) if current.parent_id else None), seen + 1
        return None

    def _readdress(self, official: Official, domain: str, operations: list[dict[str, Any]], alias: bool) -> None:
        days = max((int(op.get("alias_days", 180)) for op in operations if op["op"] == "mail_domain"), default=180)
        old = str(official.email)
        base = base_username(official.given_name, official.family_name, official.middle_name, official.username)

        def taken(local: str) -> bool:
            address = f"{local}@{domain}"
            in_use = self.s.scalar(select(func.count()).select_from(Official).where(
                Official.email == address, Official.id != official.id)) or 0
            return bool(in_use) or self.s.get(EmailAlias, address) is not None

        official.email = f"{unique_username(base, lambda names: [n for n in names if taken(n)])}@{domain}"
        if alias and self.s.get(EmailAlias, old) is None:
            self.s.add(EmailAlias(address=old, official_id=official.id, expires_at=now() + days * 86400))
