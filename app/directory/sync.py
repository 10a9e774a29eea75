"""DirectorySync: the directory's units, officials and groups into the identity store.

Keyed by the directory's own UUID, so renames and moves keep the same official (and `sub`). Each change is
classified (joiner, mover, leaver, update) and its provisioning event written in the same transaction.
Work is committed a page at a time; an interrupted full sync resumes under the same run id, and entries it
already applied are recognised by their digest, so re-running is idempotent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.db import Database, now
from app.directory.config import DirectoryConfig
from app.directory.ldap import LdapDirectory
from app.directory.links import linked_ids
from app.directory.mapping import (
    PersonRecord,
    map_group,
    map_person,
    map_unit,
    normalize_dn,
    requested_attributes,
)
from app.directory.sources import DirectorySources, SourceError
from app.identity.models import DirectorySource, Group, GroupMember, Official, ProvisioningEvent, Unit
from app.store.access import end_access

Progress = Callable[[str, int], None]


@dataclass
class SyncSummary:
    created: int = 0
    updated: int = 0
    moved: int = 0
    disabled: int = 0
    unchanged: int = 0
    errors: int = 0
    units: int = 0
    groups: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class _Known:
    id: str
    digest: str | None
    unit_id: str | None
    title: str | None
    enabled: bool
    dn_key: str


def _newer(a: str | None, b: str | None) -> str | None:
    if not a or not b:
        return a or b
    if a.isdigit() and b.isdigit():  # uSNChanged
        return a if int(a) >= int(b) else b
    return max(a, b)  # generalizedTime sorts as text


# How far the directory's clock may run behind ours (see `_settled`).
CLOCK_MARGIN = 10


def _settled(cursor: str | None, pass_started: int) -> str | None:
    """The cursor for the next change search, which asks for entries changed at or after it.

    generalizedTime counts whole seconds, so the newest second seen is read again next time: more changes may
    land in it after this pass read it. Unless this pass began after that second was over (by the directory's
    clock, allowing CLOCK_MARGIN): then all its changes were visible, and the next pass starts at the second
    after. Without this, a pass after a bulk change (a reorganisation moves thousands of entries in a second)
    re-read all of them, every second, until something else changed. uSNChanged counts changes, not time."""
    if not cursor or cursor.isdigit() or len(cursor) != 15 or not cursor.endswith("Z"):
        return cursor
    try:
        second = datetime.strptime(cursor[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return cursor
    if pass_started - CLOCK_MARGIN < second.timestamp() + 1:
        return cursor
    return (second + timedelta(seconds=1)).strftime("%Y%m%d%H%M%SZ")


class DirectorySync:
    def __init__(self, db: Database, sources: DirectorySources, name: str, progress: Progress | None = None) -> None:
        self._usernames: dict[str, str | None] = {}
        self._linked: set[str] = set()
        self.db = db
        self.sources = sources
        self.name = name
        self.progress = progress or (lambda phase, count: None)

    def run(self, full: bool = False, dry_run: bool = False) -> SyncSummary:
        summary = SyncSummary()
        # One session: committed page by page, or rolled back whole for a dry run.
        with self.db.session() as session:
            self._run(session, summary, full, dry_run)
            if dry_run:
                session.rollback()
        return summary

    # --- the run ---------------------------------------------------------------------------------
    def _run(self, s: Session, summary: SyncSummary, full: bool, dry_run: bool) -> None:
        started = now()
        source = s.get(DirectorySource, self.name)
        if source is None:
            raise SourceError(f"no directory source named {self.name!r}")
        config = self.sources.config(s, self.name)
        client = self.sources.client(s, self.name)
        full = full or not source.cursor
        if full:
            resuming = source.run_id is not None and source.run_finished_at is None
            run_id = source.run_id if resuming and source.run_id else uuid.uuid4().hex
            source.run_id, source.run_started_at, source.run_finished_at = run_id, now(), None
        else:
            run_id = source.run_id or uuid.uuid4().hex
        self._commit(s, dry_run)
        since = None if full else source.cursor
        newest = source.cursor
        units = self._sync_units(s, client, config, summary, since)
        self._commit(s, dry_run)
        known = self._known(s)
        self._linked = linked_ids(s, self.name)
        self._usernames = dict(s.execute(select(Official.username, Official.external_id)
                                         .where(Official.source == self.name)).all())
        for newest_seen in self._sync_people(s, client, config, summary, since, units, known, run_id, dry_run):
            newest = _newer(newest, newest_seen)
        if config.groups_base:
            self._sync_groups(s, client, config, summary, since, known)
        if full:
            self._leavers(s, summary, run_id)
            source.last_full_sync_at = now()
            source.run_finished_at = now()
        else:
            self._vanished(s, client, config, summary, known)
        source.cursor = _settled(newest, started)
        source.last_sync_at = now()
        source.last_error = None if not summary.errors else "; ".join(summary.error_samples[:3])
        self._commit(s, dry_run)

    def _commit(self, s: Session, dry_run: bool) -> None:
        if dry_run:
            s.flush()
        else:
            s.commit()

    def _changed_filter(self, config: DirectoryConfig, base: str, since: str | None) -> str:
        return f"(&{base}({config.mapping.changed}>={since}))" if since else base

    # --- units -----------------------------------------------------------------------------------
    def _sync_units(self, s: Session, client: LdapDirectory, config: DirectoryConfig, summary: SyncSummary,
                    since: str | None) -> dict[str, str]:
        """Returns unit keys (normalized DN) to unit ids, for placing officials."""
        existing = {u.external_id: u for u in s.scalars(select(Unit).where(Unit.source == self.name))}
        by_key = {normalize_dn(u.dn): u.id for u in existing.values() if u.dn}
        if not config.units_base:
            return by_key
        attrs = sorted({config.mapping.id, "ou", config.mapping.unit_name, config.mapping.changed})
        records = []
        for dn, raw in client.paged(config.units_base, self._changed_filter(config, config.mapping.unit_filter,
                                                                            since), attrs):
            record = map_unit(dn, raw, config)
            if record is not None:
                records.append(record)
        records.sort(key=lambda r: r.key.count(","))  # parents before children
        for record in records:
            unit = existing.get(record.external_id)
            parent_id = by_key.get(record.parent_key)
            if unit is None:
                code = f"{self.name}/{record.slug}"
                if s.scalars(select(Unit.id).where(Unit.code == code)).first():
                    code = f"{code}-{hashlib.sha256(record.key.encode()).hexdigest()[:6]}"
                unit = Unit(id=str(uuid.uuid4()), code=code, name=record.name, kind="unit", parent_id=parent_id,
                            source=self.name, external_id=record.external_id, dn=record.dn)
                s.add(unit)
                existing[record.external_id] = unit
                summary.units += 1
            elif (unit.name, unit.parent_id, unit.dn) != (record.name, parent_id, record.dn):
                unit.name, unit.parent_id, unit.dn = record.name, parent_id, record.dn
                summary.units += 1
            by_key[record.key] = unit.id
        s.flush()
        return by_key

    # --- officials -------------------------------------------------------------------------------
    def _known(self, s: Session) -> dict[str, _Known]:
        rows = s.execute(select(Official.external_id, Official.id, Official.entry_digest, Official.unit_id,
                                Official.title, Official.enabled, Official.dn)
                         .where(Official.source == self.name)).all()
        return {r.external_id: _Known(r.id, r.entry_digest, r.unit_id, r.title, r.enabled, normalize_dn(r.dn or ""))
                for r in rows if r.external_id}

    def _sync_people(self, s: Session, client: LdapDirectory, config: DirectoryConfig, summary: SyncSummary,
                     since: str | None, units: dict[str, str], known: dict[str, _Known], run_id: str,
                     dry_run: bool) -> Any:
        attrs = requested_attributes(config)
        filt = self._changed_filter(config, config.mapping.person_filter, since)
        page: list[PersonRecord] = []
        seen = 0
        for dn, raw in client.paged(config.people_base, filt, attrs):
            record = map_person(dn, raw, config, self.sources.box.lookup_digest)
            if record is None:
                summary.error(f"{dn}: no {config.mapping.id} or {config.mapping.username}")
                continue
            page.append(record)
            if len(page) >= config.page_size:
                yield self._apply_page(s, page, summary, units, known, run_id)
                seen += len(page)
                page = []
                self._commit(s, dry_run)
                self.progress("officials", seen)
        if page:
            yield self._apply_page(s, page, summary, units, known, run_id)
            seen += len(page)
            self._commit(s, dry_run)
            self.progress("officials", seen)

    def _apply_page(self, s: Session, page: list[PersonRecord], summary: SyncSummary, units: dict[str, str],
                    known: dict[str, _Known], run_id: str) -> str | None:
        newest: str | None = None
        new_rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        seen_ids: list[str] = []
        stamp = now()
        for record in page:
            newest = _newer(newest, record.changed)
            unit_id = units.get(record.unit_key or "") if record.unit_key else None
            digest = record.digest()
            current = known.get(record.external_id)
            if record.external_id in self._linked:
                summary.unchanged += 1  # an admin linked it to an official of another source
                continue
            values = self._values(record, unit_id, digest)
            holder = self._usernames.get(record.username)
            if holder is not None and holder != record.external_id:
                # A username is never silently handed to another person: an admin links or renames.
                summary.error(f"{record.dn}: username {record.username} belongs to another directory entry")
                continue
            self._usernames[record.username] = record.external_id
            if current is None:
                official_id = str(uuid.uuid4())
                new_rows.append({"id": official_id, **values, "source": self.name, "external_id": record.external_id,
                                 "password_hash": None, "created_at": stamp, "updated_at": stamp,
                                 "last_seen_run": run_id})
                known[record.external_id] = _Known(official_id, digest, unit_id, record.title, record.enabled,
                                                   normalize_dn(record.dn))
                events.append(self._event(official_id, "joiner" if record.enabled else "update",
                                          {"username": record.username, "unit_id": unit_id}))
                summary.created += 1
                continue
            seen_ids.append(current.id)
            if current.digest == digest and current.unit_id == unit_id:
                summary.unchanged += 1
                continue
            kind, changes = self._classify(current, record, unit_id)
            s.execute(update(Official).where(Official.id == current.id)
                      .values(**values, updated_at=stamp, last_seen_run=run_id))
            if kind == "leaver":
                end_access(s, current.id, "disabled_in_directory")
                summary.disabled += 1
            elif kind == "mover":
                summary.moved += 1
            else:
                summary.updated += 1
            events.append(self._event(current.id, kind, changes))
            known[record.external_id] = _Known(current.id, digest, unit_id, record.title, record.enabled,
                                               normalize_dn(record.dn))
        if new_rows:
            s.execute(insert(Official), new_rows)
        if seen_ids:
            s.execute(update(Official).where(Official.id.in_(seen_ids)).values(last_seen_run=run_id))
        if events:
            s.execute(insert(ProvisioningEvent), events)
        return newest

    @staticmethod
    def _values(record: PersonRecord, unit_id: str | None, digest: str) -> dict[str, Any]:
        return {"username": record.username, "display_name": record.display_name, "given_name": record.given_name,
                "family_name": record.family_name, "middle_name": record.middle_name, "email": record.email,
                "phone": record.phone, "title": record.title, "unit_id": unit_id, "enabled": record.enabled,
                "dn": record.dn, "employee_number": record.employee_number, "entry_digest": digest,
                "national_id_digest": record.national_id_digest}

    def _classify(self, current: _Known, record: PersonRecord, unit_id: str | None) -> tuple[str, dict[str, Any]]:
        if current.enabled and not record.enabled:
            return "leaver", {"reason": "disabled in the directory"}
        if not current.enabled and record.enabled:
            return "joiner", {"reason": "enabled again in the directory"}
        changes: dict[str, Any] = {}
        if current.unit_id != unit_id:
            changes["unit_id"] = [current.unit_id, unit_id]
        if current.title != record.title:
            changes["title"] = [current.title, record.title]
        if changes:
            return "mover", changes
        return "update", {"dn": record.dn}

    def _event(self, official_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"official_id": official_id, "kind": kind, "source": self.name, "payload": payload,
                "created_at": now(), "status": "pending"}

    # --- groups ----------------------------------------------------------------------------------
    def _sync_groups(self, s: Session, client: LdapDirectory, config: DirectoryConfig, summary: SyncSummary,
                     since: str | None, known: dict[str, _Known]) -> None:
        by_dn = {k.dn_key: k.id for k in known.values()}
        groups = {g.external_id: g for g in s.scalars(select(Group).where(Group.source == self.name))}
        attrs = sorted({config.mapping.id, "cn", config.mapping.group_member, config.mapping.changed})
        assert config.groups_base
        filt = self._changed_filter(config, config.mapping.group_filter, since)
        touched: dict[str, dict[str, list[str]]] = {}
        for dn, raw in client.paged(config.groups_base, filt, attrs):
            record = map_group(dn, raw, config)
            if record is None:
                continue
            group = groups.get(record.external_id)
            if group is None:
                group = Group(id=str(uuid.uuid4()), name=record.name, source=self.name,
                              external_id=record.external_id)
                s.add(group)
                s.flush()
                groups[record.external_id] = group
            elif group.name != record.name:
                group.name = record.name
            wanted = {by_dn[m] for m in record.member_keys if m in by_dn}
            current = set(s.scalars(select(GroupMember.official_id).where(GroupMember.group_id == group.id)))
            added, removed = wanted - current, current - wanted
            if added:
                s.execute(insert(GroupMember), [{"group_id": group.id, "official_id": o} for o in added])
            if removed:
                s.execute(delete(GroupMember).where(GroupMember.group_id == group.id,
                                                    GroupMember.official_id.in_(removed)))
            for official_id in added:
                touched.setdefault(official_id, {"added": [], "removed": []})["added"].append(record.name)
            for official_id in removed:
                touched.setdefault(official_id, {"added": [], "removed": []})["removed"].append(record.name)
            summary.groups += 1
        if touched:
            s.execute(insert(ProvisioningEvent), [self._event(o, "update", {"groups": c}) for o, c in touched.items()])

    # --- leavers ---------------------------------------------------------------------------------
    def _vanished(self, s: Session, client: LdapDirectory, config: DirectoryConfig, summary: SyncSummary,
                  known: dict[str, _Known]) -> None:
        """Deleted entries, found on every incremental pass by a presence check that reads only the DN of each
        entry: a change search never returns a deleted entry, and a leaver must not wait for a full sync.

        A check that finds much of the directory missing is more likely a wrong base or a server answering in
        part than a mass departure: it is refused and left to a full sync, which sees every entry."""
        enabled = {ident: k for ident, k in known.items() if k.enabled and ident not in self._linked}
        if not enabled:
            return
        # By DN, with no attribute ("1.1", RFC 4511 §4.5.1.8): decoding each entry's id cost twice as much, and
        # an entry moved or renamed since was read by this pass's change search, which updated its DN here.
        present = {normalize_dn(dn) for dn, _ in
                   client.paged(config.people_base, config.mapping.person_filter, ["1.1"])}
        missing = {k.id for k in enabled.values() if k.dn_key not in present}
        if not missing:
            return
        if len(missing) > max(10, len(enabled) // 5):
            summary.error(f"{len(missing)} of {len(enabled)} officials missing from the presence check: "
                          "not taken as leavers; a full sync (directory sync --full) decides")
            return
        gone = s.scalars(select(Official).where(Official.id.in_(sorted(missing)), Official.enabled.is_(True)))
        self._disable_removed(s, list(gone), summary)
        for k in enabled.values():
            if k.id in missing:
                k.enabled = False

    def _disable_removed(self, s: Session, officials: list[Official], summary: SyncSummary) -> None:
        events = []
        for official in officials:
            official.enabled = False
            end_access(s, official.id, "removed_from_directory")
            events.append(self._event(official.id, "leaver", {"reason": "removed from the directory"}))
            summary.disabled += 1
        if events:
            s.execute(insert(ProvisioningEvent), events)

    def _leavers(self, s: Session, summary: SyncSummary, run_id: str) -> None:
        """Officials of this source that a complete run did not see have been removed from the directory."""
        gone = s.scalars(select(Official).where(Official.source == self.name, Official.enabled.is_(True),
                                                (Official.last_seen_run != run_id) | Official.last_seen_run.is_(None)))
        self._disable_removed(s, list(gone), summary)
