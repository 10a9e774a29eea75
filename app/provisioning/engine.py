"""The provisioning engine: plans tasks from the outbox, and brings each official's account in each target
in line with what the identity store says, safely repeatable.

Each task converges to the current desired state rather than replaying an event, so a retry, a duplicate or an
out-of-date event can do no harm. A create is preceded by a look-up on the account key, and the link is recorded
in the transaction that marks the task done, so a create whose answer was lost is adopted, never duplicated.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.trail import SYSTEM, Entry, append
from app.crypto import SecretBox
from app.db import Database, locked_row, now
from app.identity.models import EmailAlias, Group, GroupMember, Official, ProvisioningEvent
from app.identity.service import emit
from app.observability import BREAKER_OPENED, PROVISIONING
from app.provisioning.lookups import Lookups
from app.provisioning.models import (
    AccountLink,
    ConnectorInstance,
    ProvisioningAttempt,
    ProvisioningTask,
    TargetHealth,
)
from app.provisioning.registry import build
from app.provisioning.usernames import base_username
from app.settings import Settings
from connectors.base import (
    Account,
    AlreadyExists,
    Conflict,
    Connector,
    ConnectorError,
    NotFound,
    Operation,
    PermanentError,
    TransientError,
)

BATCH_SECONDS = 0.5  # what a batch of tasks should take: a leaver behind one waits about this long


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures are retried for a time budget, not a count: a target that throttles or is down for
    an hour must not dead-letter healthy joiners. A target that keeps failing is paused (circuit breaker)
    instead of burning its tasks' attempts; only permanent errors dead-letter at once."""

    budget_seconds: float = 24 * 3600
    max_attempts: int | None = None  # an extra cap on the count; None: the time budget alone
    base_delay: float = 2.0
    max_delay: float = 900.0
    breaker_failures: int = 5
    breaker_pause: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(budget_seconds=settings.provisioning_retry_hours * 3600,
                   breaker_failures=settings.provisioning_breaker_failures,
                   breaker_pause=settings.provisioning_breaker_pause)

    def delay(self, attempts: int) -> int:
        # Exponential with full jitter, so a recovering target is not hit by every worker at once.
        return max(1, int(min(self.max_delay, self.base_delay * 2 ** attempts) * random.uniform(0.5, 1.5)))

    def pause(self, opened: int) -> int:
        """How long a target rests the n-th time in a row its breaker opens."""
        return max(1, int(min(self.max_delay, self.breaker_pause * 2 ** max(0, opened - 1))))


class DryRun(Connector):
    """Passes reads to the real connector and records writes instead of making them."""

    def __init__(self, real: Connector) -> None:
        super().__init__(real.config)
        self.real = real
        self.operations = real.operations  # type: ignore[misc]  # the same reads as the real one
        self.key_attribute = real.key_attribute  # type: ignore[misc]  # and the same keys
        self.writes: list[str] = []

    def get(self, key: str) -> Account | None:
        return self.real.get(key)

    def find_external(self, external_id: str) -> Account | None:
        return self.real.find_external(external_id)

    def create(self, account: Account) -> str:
        self.writes.append(f"create {account.key} {json.dumps(account.attributes, ensure_ascii=False)}")
        return f"(new {account.key})"

    def update(self, target_id: str, account: Account) -> None:
        self.writes.append(f"update {target_id} {json.dumps(account.attributes, ensure_ascii=False)}")

    def disable(self, target_id: str) -> None:
        self.writes.append(f"disable {target_id}")

    def enable(self, target_id: str) -> None:
        self.writes.append(f"enable {target_id}")

    def delete(self, target_id: str) -> None:
        self.writes.append(f"delete {target_id}")


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


class ProvisioningEngine:
    def __init__(self, db: Database, box: SecretBox, retry: RetryPolicy | None = None) -> None:
        self.db = db
        self.box = box
        self.retry = retry or RetryPolicy()
        self._connectors: dict[str, tuple[str, Connector]] = {}
        self._pace = BATCH_SECONDS / 100  # seconds per task, as the last batch went
        self._numbering: dict[tuple[str, str], int] = {}  # where each base's free numbers start (Lookups)

    # --- connector instances ---------------------------------------------------------------------
    def save_instance(self, session: Session, name: str, kind: str, config: dict[str, Any],
                      rules: dict[str, Any], mapping: dict[str, str], retention_days: int | None = None) -> None:
        build(kind, config)  # validates, naming the field on error
        row = session.get(ConnectorInstance, name) or ConnectorInstance(name=name)
        row.kind, row.rules, row.mapping, row.retention_days = kind, rules, mapping, retention_days
        row.config_sealed = self.box.seal(json.dumps(config).encode())
        session.merge(row)
        self._connectors.pop(name, None)

    def connector(self, instance: ConnectorInstance) -> Connector:
        cached = self._connectors.get(instance.name)
        if cached and cached[0] == instance.config_sealed:
            return cached[1]
        connector = build(instance.kind, json.loads(self.box.open(instance.config_sealed)))
        self._connectors[instance.name] = (instance.config_sealed, connector)
        return connector

    # --- planning ----------------------------------------------------------------------------------
    def plan(self, session: Session, limit: int = 1000) -> int:
        """Turn pending outbox events into one task per enabled target; the events are marked planned.
        Leavers' events are planned first, so a backlog of joiners does not keep a leaver's access alive (a task
        converges to the official's current state, so planning order is free)."""
        leavers_first = case((ProvisioningEvent.kind == "leaver", 0), else_=1)
        events = session.scalars(select(ProvisioningEvent).where(ProvisioningEvent.status == "pending")
                                 .order_by(leavers_first, ProvisioningEvent.id).limit(limit)
                                 .with_for_update(skip_locked=True)).all()
        targets = session.scalars(select(ConnectorInstance.name).where(ConnectorInstance.enabled.is_(True))).all()
        rows = [{"event_id": e.id, "official_id": e.official_id, "connector": t, "status": "pending",
                 "priority": 0 if e.kind == "leaver" else 1, "attempts": 0, "next_attempt_at": now(),
                 "created_at": now(), "updated_at": now()}
                for e in events for t in targets]
        if rows:
            session.execute(insert(ProvisioningTask), rows)
        if events:
            session.execute(update(ProvisioningEvent).where(ProvisioningEvent.id.in_([e.id for e in events]))
                            .values(status="planned"))
        return len(events)

    # --- working -----------------------------------------------------------------------------------
    def claim(self, session: Session, size: int = 50) -> list[ProvisioningTask]:
        """Up to `size` of the most urgent due tasks (leavers first, then oldest), one per official and target,
        locked with FOR UPDATE SKIP LOCKED on PostgreSQL so that no other worker takes them.

        A task converges to the official's current state, so it also does the work of every other pending task
        of the same official in the same target: those are marked superseded. If one of them is being worked on
        by another worker right now, the official is left out of this batch, so one official is never worked on
        twice at once.
        """
        due = select(ProvisioningTask).where(ProvisioningTask.status == "pending",
                                             ProvisioningTask.next_attempt_at <= now())
        paused = self.paused(session)
        if paused:
            # A resting target keeps its joiners' attempts; leavers are still tried (ending access matters most,
            # and a leaver that gets through closes the breaker for the rest).
            due = due.where(ProvisioningTask.connector.not_in(paused) | (ProvisioningTask.priority == 0))
        claimed = session.scalars(due.order_by(ProvisioningTask.priority, ProvisioningTask.id).limit(size)
                                  .with_for_update(skip_locked=True)).all()
        chosen: dict[tuple[str, str], ProvisioningTask] = {}
        superseded = []
        for task in claimed:
            if chosen.setdefault((task.official_id, task.connector), task) is not task:
                superseded.append(task)
        outside = select(ProvisioningTask.id).where(
            ProvisioningTask.official_id.in_({pair[0] for pair in chosen}), ProvisioningTask.status == "pending",
            ProvisioningTask.id.not_in([task.id for task in claimed]))
        waiting = [row for row in session.execute(outside.add_columns(ProvisioningTask.official_id,
                                                                      ProvisioningTask.connector))
                   if (row.official_id, row.connector) in chosen] if chosen else []
        if waiting:
            locked = session.scalars(select(ProvisioningTask).where(ProvisioningTask.id.in_([r.id for r in waiting]))
                                     .with_for_update(skip_locked=True)).all()
            superseded += locked
            held_elsewhere = {row.id for row in waiting} - {task.id for task in locked}
            for row in waiting:
                if row.id in held_elsewhere:
                    chosen.pop((row.official_id, row.connector), None)  # another worker has this official
        for sibling in superseded:
            worked = chosen.get((sibling.official_id, sibling.connector))
            if worked is not None:
                sibling.status, sibling.outcome, sibling.updated_at = "done", f"superseded by #{worked.id}", now()
        return sorted(chosen.values(), key=lambda task: (task.priority, task.id))

    def paused(self, session: Session) -> list[str]:
        """Targets whose circuit breaker is open right now."""
        return list(session.scalars(select(TargetHealth.connector).where(TargetHealth.paused_until > now())))

    def run_once(self, max_tasks: int = 1000, replan_every: float = 1.0, batch: int = 200) -> int:
        """Plan, then work through due tasks in batches of at most `batch`, one transaction each. Returns tasks
        handled. A batch is sized to take about BATCH_SECONDS at the pace of the last one (large where targets
        answer fast, small where they are slow), and new events are planned again every `replan_every` seconds:
        a leaver who arrives meanwhile waits for one batch, not for the backlog."""
        with self.db.session() as s:
            self.plan(s)
            self.purge_expired(s)
        handled, planned_at = 0, time.monotonic()
        touched: set[str] = set()
        while handled < max_tasks:
            if time.monotonic() - planned_at >= replan_every:
                with self.db.session() as s:
                    self.plan(s)
                planned_at = time.monotonic()
            started = time.monotonic()
            with self.db.session() as s:
                tasks = self.claim(s, max(1, min(batch, max_tasks - handled, int(BATCH_SECONDS / self._pace))))
                if not tasks:
                    break
                touched.update(task.connector for task in tasks)
                self.process_batch(s, tasks)
            self._pace = (time.monotonic() - started) / len(tasks)
            handled += len(tasks)
        for name in touched:
            self.sync_groups(name)
        return handled

    def sync_groups(self, name: str) -> int:
        """For targets that keep groups: each group of the identity store with its members' accounts there.
        Run after accounts changed; a failure is left for the next pass (groups converge like accounts)."""
        with self.db.session() as s:
            instance = s.get(ConnectorInstance, name)
            if instance is None:
                return 0
            connector = self.connector(instance)
            if Operation.GROUPS not in connector.operations:
                return 0
            members: dict[str, list[str]] = {}
            rows = s.execute(select(Group.name, AccountLink.target_id)
                             .join(GroupMember, GroupMember.group_id == Group.id)
                             .join(AccountLink, AccountLink.official_id == GroupMember.official_id)
                             .where(AccountLink.connector == name, AccountLink.state == "active")).all()
            for group, target_id in rows:
                if target_id:
                    members.setdefault(group, []).append(target_id)
            synced = 0
            for group, ids in sorted(members.items()):
                try:
                    connector.sync_group(group, ids)
                    synced += 1
                except ConnectorError:
                    continue
            return synced

    def process_batch(self, session: Session, tasks: list[ProvisioningTask]) -> None:
        """Work claimed tasks in one transaction: their officials and links read together, the new accounts'
        keys held together, then each task as `process` does it."""
        lookups = Lookups.of_batch(session, {t.official_id for t in tasks}, {t.connector for t in tasks},
                                   self._numbering)
        work = self._hold_new_keys(session, tasks, lookups)
        for name in {link.connector for link in lookups.new_links}:
            instance = lookups.instance(name)
            assert instance is not None  # the link was held for it in this batch
            links = [link for link in lookups.new_links if link.connector == name]
            lookups.read_accounts(self.connector(instance), [link.key for link in links])
            self._create_many(session, instance, links, lookups)
        for name in {task.connector for task in work}:
            if (instance := lookups.instance(name)) is not None:
                self._update_many(session, instance, [task for task in work if task.connector == name], lookups)
        events: list[Entry] = []
        for task in work:
            if task.connector in lookups.paused_targets and task.priority > 0:
                continue  # its target asked for a rest during this batch: left pending, as claim would have
            self.process(session, task, lookups, events)
        append(session, events)  # the batch's events in one statement

    def _hold_new_keys(self, session: Session, tasks: list[ProvisioningTask],
                       lookups: Lookups) -> list[ProvisioningTask]:
        """The keys of the batch's new accounts, chosen and held as pending links in one flush before any target
        is called: a second worker giving one of them to someone else fails on the unique key, not at the
        target. If that happens, each is held on its own and a task whose key went elsewhere waits for the
        next batch (its key is chosen again then)."""
        new = []
        for task in tasks:
            instance, official = lookups.instance(task.connector), lookups.official(task.official_id)
            if (instance is not None and official is not None and lookups.link(official.id, instance.name) is None
                    and official.enabled and self.assigned(session, instance, official, lookups)):
                new.append((task, instance, official))
        for name in {instance.name for _, instance, _ in new}:
            lookups.read_keys(name, [self._first_key(session, i, o, lookups) for _, i, o in new if i.name == name])
        links: dict[int, AccountLink] = {}
        try:
            # The links are added inside it, so a failed flush takes them back; and flushed together at its end.
            with session.begin_nested(), session.no_autoflush:
                for task, instance, official in new:
                    links[task.id] = self._hold_key(session, instance, official, lookups)
            return tasks
        except IntegrityError:
            lookups.forget(links.values())
        kept = []
        for task in tasks:
            if task.id not in links:
                kept.append(task)
                continue
            instance, official = lookups.instance(task.connector), lookups.official(task.official_id)
            assert instance is not None and official is not None
            try:
                with session.begin_nested():
                    self._hold_key(session, instance, official, lookups)
                kept.append(task)
            except IntegrityError:
                continue
        return kept

    def _create_many(self, session: Session, instance: ConnectorInstance, links: list[AccountLink],
                     lookups: Lookups) -> None:
        """The batch's new accounts that the target does not hold, made in one request where it can; each task
        then finds its account made. Only where the read by key settles correlation (no look-up by externalId),
        and as the task would make it. A refusal leaves them to their tasks, one at a time."""
        connector = self.connector(instance)
        if Operation.CREATE_MANY not in connector.operations or Operation.FIND_EXTERNAL in connector.operations:
            return
        absent = set(lookups.absent(connector))
        accounts = []
        for link in links:
            official = lookups.official(link.official_id)
            if link.key in absent and official is not None:
                accounts.append(Account(key=link.key, attributes=self.attributes(session, instance, official, lookups),
                                        enabled=True))
        try:
            lookups.made(connector, connector.create_many(accounts))
        except ConnectorError:
            return

    def _update_many(self, session: Session, instance: ConnectorInstance, tasks: list[ProvisioningTask],
                     lookups: Lookups) -> None:
        """The batch's active accounts in one target whose attributes changed (a reorganisation's movers), changed
        in one request where it can; each task then finds its account up to date. If the request fails, each task
        changes its account itself."""
        connector = self.connector(instance)
        if Operation.UPDATE_MANY not in connector.operations:
            return
        changed: dict[str, tuple[Account, str]] = {}
        for task in tasks:
            official, link = lookups.official(task.official_id), lookups.link(task.official_id, instance.name)
            if (official is None or link is None or link.state != "active" or not link.target_id
                    or not (official.enabled and self.assigned(session, instance, official, lookups))):
                continue
            account, digest = _desired(link.key, self.attributes(session, instance, official, lookups))
            if digest != link.digest:
                changed[link.target_id] = (account, digest)
        if len(changed) < 2:
            return
        try:
            connector.update_many({target_id: account for target_id, (account, _) in changed.items()})
        except ConnectorError:
            return
        lookups.updated(connector, {target_id: digest for target_id, (_, digest) in changed.items()})

    def _hold_key(self, session: Session, instance: ConnectorInstance, official: Official,
                  lookups: Lookups) -> AccountLink:
        connector = self.connector(instance)
        attributes = self.attributes(session, instance, official, lookups) if connector.key_attribute else {}
        key = self._new_key(session, instance, official, attributes, connector, lookups)
        link = AccountLink(official_id=official.id, connector=instance.name, key=key, state="pending")
        session.add(link)
        lookups.hold(link)
        return link

    def process(self, session: Session, task: ProvisioningTask, lookups: Lookups | None = None,
                events: list[Entry] | None = None) -> None:
        """Work one task; its audit event is appended to `events` when given (the batch writes them), else now."""
        lookups = lookups or Lookups(session)
        task.attempts += 1
        task.updated_at = now()
        instance, official = lookups.instance(task.connector), lookups.official(task.official_id)
        if instance is None or official is None:
            task.status, task.outcome = "done", "nothing to do"
            return
        try:
            task.outcome = self._converge(session, instance, official, lookups=lookups)
            task.status, task.last_error = "done", None
            self._target_answered(session, task.connector, lookups)
        except Conflict as exc:
            task.status, task.last_error, task.outcome = "dead", str(exc)[:2000], "conflict"
        except PermanentError as exc:
            task.status, task.last_error, task.outcome = "dead", str(exc)[:2000], "permanent error"
            self._target_answered(session, task.connector, lookups)
        except TransientError as exc:
            self._retry_later(session, task, str(exc), exc.retry_after, lookups)
        except ConnectorError as exc:
            self._retry_later(session, task, str(exc), None, lookups)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is retried within the budget
            self._retry_later(session, task, f"{type(exc).__name__}: {exc}", None, lookups)
        session.add(ProvisioningAttempt(task_id=task.id, official_id=task.official_id, connector=task.connector,
                                        at=now(), outcome=task.outcome or "will retry", error=task.last_error))
        PROVISIONING.labels(task.connector, {"done": "done", "dead": "dead"}.get(task.status, "retry")).inc()
        if task.status in ("done", "dead") and official is not None:
            event = Entry(f"provisioning.{task.status}", SYSTEM, "ok" if task.status == "done" else "failed",
                          official.unit_id, official.id,
                          {"connector": task.connector, "outcome": task.outcome, "error": task.last_error})
            if events is None:
                append(session, [event])
            else:
                events.append(event)

    def _retry_later(self, session: Session, task: ProvisioningTask, error: str, retry_after: float | None,
                     lookups: Lookups) -> None:
        task.last_error = error[:2000]
        lookups.clean_targets.discard(task.connector)
        if self._target_failed(session, task.connector, error, retry_after):
            lookups.paused_targets.add(task.connector)  # a pause holds back every task of it
        spent = now() - task.created_at
        if spent >= self.retry.budget_seconds or (self.retry.max_attempts and task.attempts >= self.retry.max_attempts):
            task.status, task.outcome = "dead", f"gave up after {task.attempts} attempts in {spent} s"
        else:
            # Leavers come back sooner: each minute an account stays open after its owner left counts.
            task.next_attempt_at = now() + self.retry.delay(task.attempts - 2 if task.priority == 0 else task.attempts)

    # --- the circuit breaker of each target (a row, so every worker sees it) -------------------------------
    def _target_answered(self, session: Session, name: str, lookups: Lookups) -> None:
        if name in lookups.clean_targets:
            return  # reset already in this transaction, and no failure since
        lookups.clean_targets.add(name)
        session.execute(update(TargetHealth).where(TargetHealth.connector == name,
                                                   (TargetHealth.failures > 0) | (TargetHealth.opened > 0))
                        .values(failures=0, opened=0, paused_until=0, updated_at=now()))

    def resume_target(self, session: Session, name: str) -> bool:
        """An operator's word that a paused target is back: its tasks are tried at once."""
        result = session.execute(update(TargetHealth).where(TargetHealth.connector == name)
                                 .values(paused_until=0, opened=0, failures=0, updated_at=now()))
        return bool(getattr(result, "rowcount", 0))

    def _target_failed(self, session: Session, name: str, error: str, retry_after: float | None) -> bool:
        """Count a failure in a row; open the breaker at the threshold, or at once when the target said when to
        come back (Retry-After). True when the target is paused now."""
        health = locked_row(session, TargetHealth, name, lambda: TargetHealth(
            connector=name, failures=0, opened=0, paused_until=0, updated_at=now()))
        health.failures += 1
        health.last_error, health.updated_at = error[:500], now()
        if retry_after is not None:
            health.paused_until = max(health.paused_until, math.ceil(time.time() + retry_after))  # never early
        elif health.failures >= self.retry.breaker_failures:
            health.opened += 1
            health.paused_until = now() + self.retry.pause(health.opened)
            BREAKER_OPENED.labels(name).inc()
        return health.paused_until > time.time()

    def preview(self, session: Session) -> list[str]:
        """The dry-run plan: what the pending tasks would do, target by target, without doing any of it.

        Every write passes through one wrapper that records instead of writing, and the store's own changes are
        rolled back: the same code as a real run, so the plan is what would happen.
        """
        lines = []
        pending = session.execute(select(ProvisioningTask.official_id, ProvisioningTask.connector)
                                  .where(ProvisioningTask.status == "pending").distinct()).all()
        for official_id, name in pending:
            instance, official = session.get(ConnectorInstance, name), session.get(Official, official_id)
            if instance is None or official is None:
                continue
            recorder = DryRun(self.connector(instance))
            savepoint = session.begin_nested()
            try:
                outcome = self._converge(session, instance, official, connector=recorder)
            except ConnectorError as exc:
                outcome = f"would fail: {exc}"
            finally:
                savepoint.rollback()
            writes = "; ".join(recorder.writes) or "no change"
            lines.append(f"{name}: {official.username} ({official.display_name}): {outcome} — {writes}")
        return lines

    def expire_aliases(self, session: Session) -> int:
        """Aliases past their date go; their officials' mail accounts converge without them."""
        expired = session.scalars(select(EmailAlias).where(EmailAlias.expires_at <= now())
                                  .with_for_update(skip_locked=True)).all()
        for official_id in sorted({a.official_id for a in expired}):
            official = session.get(Official, official_id)
            if official is not None:
                emit(session, official, "update", {"aliases_expired": [a.address for a in expired
                                                                       if a.official_id == official_id]})
        for alias in expired:
            session.delete(alias)
        return len(expired)

    def purge_expired(self, session: Session) -> int:
        """Delete leavers' accounts once they have been disabled for their target's retention period."""
        self.expire_aliases(session)
        purged = 0
        for instance in session.scalars(select(ConnectorInstance).where(ConnectorInstance.retention_days.is_not(None))):
            cutoff = now() - int(instance.retention_days or 0) * 86400
            links = session.scalars(select(AccountLink).where(AccountLink.connector == instance.name,
                                                              AccountLink.state == "disabled",
                                                              AccountLink.updated_at <= cutoff)).all()
            for link in links:
                try:
                    if link.target_id:
                        self.connector(instance).delete(link.target_id)
                except NotFound:
                    pass  # deleted already
                except ConnectorError:
                    continue  # tried again at the next pass
                # The key stays with the official: a username is never handed to someone else.
                link.state, link.target_id, link.digest, link.updated_at = "deleted", None, None, now()
                purged += 1
        return purged

    def retry_dead(self, session: Session, task_id: int) -> None:
        """An admin's retry of a dead-lettered task."""
        session.execute(update(ProvisioningTask).where(ProvisioningTask.id == task_id,
                                                       ProvisioningTask.status == "dead")
                        .values(status="pending", attempts=0, next_attempt_at=now(), last_error=None))

    # --- the desired state and how to reach it -----------------------------------------------------
    def _converge(self, session: Session, instance: ConnectorInstance, official: Official,
                  connector: Connector | None = None, lookups: Lookups | None = None) -> str:
        connector = connector or self.connector(instance)
        lookups = lookups or Lookups(session)
        link = lookups.link(official.id, instance.name)
        attributes = self.attributes(session, instance, official, lookups)
        if not (official.enabled and self.assigned(session, instance, official, lookups)):
            return self._end_account(connector, link, attributes.get("external_id"))
        key = link.key if link else self._new_key(session, instance, official, attributes, connector, lookups)
        account, digest = _desired(key, attributes)
        if link is not None and link.state == "active" and link.digest == digest and link.target_id:
            return "unchanged"
        if link is None:
            link = AccountLink(official_id=official.id, connector=instance.name, key=key, state="pending")
            session.add(link)
            lookups.hold(link)
            session.flush()  # the key is held before the target is called
        outcome = "updated"
        if link.target_id:
            try:
                if not lookups.updated_to(connector, link.target_id, digest):
                    connector.update(link.target_id, account)
                if link.state == "disabled":
                    connector.enable(link.target_id)
                    outcome = "enabled"
            except NotFound:  # removed from the target behind our back: found or made again, never lost
                link.target_id = None
        if not link.target_id:
            link.target_id, outcome = self._find_or_create(connector, account, link, lookups)
        link.state, link.digest, link.updated_at = "active", digest, now()
        return outcome

    def _end_account(self, connector: Connector, link: AccountLink | None, external_id: str | None) -> str:
        """A leaver (or an official no longer assigned): disable whatever account of theirs the target holds.
        A link still pending is a create whose answer may have been lost: the account is looked up by its key
        and by externalId, and disabled if it is there."""
        if link is not None and link.state == "active" and link.target_id:
            try:
                connector.disable(link.target_id)
            except NotFound:  # already gone from the target: nothing left that could let them in
                link.target_id = None
            link.state, link.updated_at = "disabled", now()
            return "disabled"
        if link is not None and link.state != "pending":
            return "no account needed"
        if link is None and not (external_id and Operation.FIND_EXTERNAL in connector.operations):
            return "no account needed"
        try:
            found = self._correlate(connector, link.key if link else None, external_id)
        except Conflict:
            return "no account needed"  # the key's account is a namesake's: never touched
        if found is None or found.target_id is None:
            return "no account needed"
        if found.enabled:
            connector.disable(found.target_id)
        if link is not None:
            link.target_id, link.state, link.updated_at = found.target_id, "disabled", now()
        return "disabled (found after a lost answer)"

    @staticmethod
    def _correlate(connector: Connector, key: str | None, external_id: str | None,
                   lookups: Lookups | None = None) -> Account | None:
        """Our account in the target: by externalId first where the target can look it up; else by key, and a
        key's account whose externalId names someone else is a conflict, never a takeover."""
        if external_id and Operation.FIND_EXTERNAL in connector.operations:
            found = connector.find_external(external_id)
            if found is not None:
                return found
        found = (lookups.account(connector, key) if lookups else connector.get(key)) if key else None
        theirs = found.attributes.get("external_id") if found else None
        if found is not None and theirs and external_id and theirs != external_id:
            raise Conflict(f"the account {key!r} in the target belongs to someone else (externalId {theirs}): "
                           "not taken over; rename one of them or link them by hand")
        return found

    def _find_or_create(self, connector: Connector, account: Account, link: AccountLink,
                        lookups: Lookups) -> tuple[str, str]:
        external_id = account.attributes.get("external_id")
        existing = self._correlate(connector, account.key, external_id, lookups)
        if existing is None and (made := lookups.made_id(connector, account.key)) is not None:
            return made, "created"
        if existing is None:
            try:
                return connector.create(account), "created"
            except AlreadyExists:
                existing = self._correlate(connector, account.key, external_id, lookups)
                if existing is None:
                    raise PermanentError(f"{account.key} exists in the target but cannot be read") from None
        if existing.target_id is None:
            raise PermanentError(f"{account.key} exists in the target without an id")
        if existing.key.lower() != account.key.lower() and not lookups.key_taken(link.connector, existing.key):
            # Found by externalId under the name it was created with: it keeps that name.
            link.key = existing.key
            account = account.model_copy(update={"key": existing.key})
        connector.update(existing.target_id, account)
        if not existing.enabled:
            connector.enable(existing.target_id)
        return existing.target_id, "linked existing account"

    def _new_key(self, session: Session, instance: ConnectorInstance, official: Official,
                 attributes: dict[str, Any], connector: Connector, lookups: Lookups) -> str:
        # A target whose accounts are addresses (a mailbox) takes the official's own: the mailbox, the e-mail in
        # the identity store and the claim a mail server checks at login are then one value.
        given = attributes.get(connector.key_attribute) if connector.key_attribute else None
        if given and not lookups.key_taken(instance.name, str(given).lower()):
            return str(given).lower()
        base = base_username(official.given_name, official.family_name, official.middle_name, official.username)
        return lookups.free_key(instance.name, base)

    def _first_key(self, session: Session, instance: ConnectorInstance, official: Official,
                   lookups: Lookups) -> str:
        """The key a new account would be given if it is free: read ahead for a batch."""
        connector = self.connector(instance)
        given = self.attributes(session, instance, official, lookups).get(connector.key_attribute) \
            if connector.key_attribute else None
        return str(given).lower() if given else base_username(official.given_name, official.family_name,
                                                              official.middle_name, official.username)

    def assigned(self, session: Session, instance: ConnectorInstance, official: Official,
                 lookups: Lookups | None = None) -> bool:
        rules, lookups = instance.rules or {}, lookups or Lookups(session)
        if rules.get("all"):
            return True
        if official.id in rules.get("officials", []) or official.username in rules.get("officials", []):
            return True  # assigned by hand
        unit = lookups.unit(official.unit_id) if rules.get("unit_codes") else None
        if unit and any(p["code"] in rules["unit_codes"] for p in unit.path):
            return True
        if rules.get("titles") and official.title in rules["titles"]:
            return True
        if rules.get("groups"):
            names = lookups.groups_of(official.id)
            return bool(set(names) & set(rules["groups"]))
        return False

    def attributes(self, session: Session, instance: ConnectorInstance, official: Official,
                   lookups: Lookups | None = None) -> dict[str, Any]:
        lookups = lookups or Lookups(session)
        unit = lookups.unit(official.unit_id)
        values = _Values(
            sub=official.id, username=official.username, display_name=official.display_name,
            given_name=official.given_name, family_name=official.family_name, middle_name=official.middle_name,
            email=official.email or "", phone=official.phone or "", title=official.title or "",
            employee_number=official.employee_number or "", unit_name=unit.name if unit else "",
            unit_code=unit.code if unit else "", unit_path=" / ".join(p["name"] for p in unit.path) if unit else "",
        )
        connector = self.connector(instance)
        mapping = instance.mapping or type(connector).default_mapping
        attributes: dict[str, Any] = {attr: template.format_map(values) for attr, template in mapping.items()}
        if Operation.ALIASES in connector.operations:
            # Addresses the official had before a mail-domain change: the mail system keeps delivering them.
            attributes["aliases"] = lookups.aliases_of(official.id)
        return attributes


def _desired(key: str, attributes: dict[str, Any]) -> tuple[Account, str]:
    """The account an official should have under this key, and its digest (what the link remembers was sent)."""
    account = Account(key=key, attributes=attributes, enabled=True)
    return account, hashlib.sha256(account.model_dump_json().encode()).hexdigest()


def wait_for_tasks(engine: ProvisioningEngine, seconds: float) -> int:
    """Run the engine until no task is pending (done or dead-lettered) or the time is up."""
    deadline, handled = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        done = engine.run_once()
        handled += done
        if done == 0:
            with engine.db.session() as s:
                pending = s.scalars(select(ProvisioningTask.id).where(ProvisioningTask.status == "pending")).first()
                unplanned = s.scalars(select(ProvisioningEvent.id).where(ProvisioningEvent.status == "pending")).first()
            if pending is None and unplanned is None:
                break
            time.sleep(0.2)
    return handled
