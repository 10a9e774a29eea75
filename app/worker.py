"""The background heartbeat: provisioning, logout deliveries and reorganisations (a step of a dry run, a batch of a
due plan) continuously; on an interval, scheduled key rotation and an incremental pass over every directory (which
also finds deleted entries).

One pass (`beat`) is testable on its own; `run` repeats it until stopped. Nothing lives here between passes
that another worker process would need: every decision is read from the database.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable

from sqlalchemy import select

from app.broker import Broker
from app.db import Database
from app.directory.ldap import DirectoryUnavailable
from app.directory.sources import DirectorySources
from app.provisioning.engine import ProvisioningEngine, RetryPolicy
from app.settings import Settings
from app.signon.logout_delivery import LogoutSender
from app.store.keys import KeyStore

Say = Callable[[str], None]
SWEEP_EVERY = 3600.0  # seconds between two retention sweeps of one worker process


def _say(line: str) -> None:
    print(f"worker: {line}", flush=True)


def _complain(line: str) -> None:
    print(f"worker: {line}", file=sys.stderr, flush=True)


class Worker:
    def __init__(self, db: Database, engine: ProvisioningEngine, logouts: LogoutSender, directories: DirectorySources,
                 keys: KeyStore, settings: Settings, say: Say = _say, complain: Say = _complain) -> None:
        self.db, self.engine, self.logouts, self.directories = db, engine, logouts, directories
        self.keys, self.settings, self.say, self.complain = keys, settings, say, complain
        self._swept_at: float | None = None

    @classmethod
    def of(cls, broker: Broker, say: Say = _say, complain: Say = _complain) -> Worker:
        engine = ProvisioningEngine(broker.db, broker.box, RetryPolicy.from_settings(broker.settings))
        return cls(broker.db, engine, broker.logout_sender, broker.directories, broker.keys, broker.settings, say,
                   complain)

    def provision(self) -> int:
        """One pass over the queues: logouts due (applications to tell that a session ended), then
        provisioning. A database hiccup is reported and the pass ends (tried again shortly)."""
        try:
            told = self.logouts.deliver()
            handled = self.engine.run_once()
        except Exception as exc:  # noqa: BLE001 - the worker must outlive a failed pass
            self.complain(f"pass failed, retrying: {type(exc).__name__}: {exc}")
            return 0
        if told:
            self.say(f"logout: told {sum(told.values())} of {len(told)} applications")
        if handled:
            self.say(f"provisioning: {handled} tasks")
        return handled + len(told)

    def drain(self, limit: int = 10_000) -> int:
        """Provision until nothing is due (what `worker --once` does after its scheduled work)."""
        total = 0
        while total < limit:
            handled = self.provision()
            if not handled:
                return total
            total += handled
        return total

    def scheduled(self) -> None:
        """What runs on the interval: key rotation, records past their end deleted, directory passes."""
        days = self.settings.signing_key_rotation_days
        if days:
            for rotated in self.keys.rotate_due(days * 86400, self.settings.key_publish_ahead):
                self.say(f"scheduled rotation: {rotated.alg} key {rotated.kid} signs from {rotated.active_from}")
        # Hourly, not on every interval: a sweep reads the old grants that still have refresh tokens, millions of
        # them in a country's broker. Only this process's pace: any worker may sweep, and sweeping twice is harmless.
        if self._swept_at is None or time.monotonic() - self._swept_at >= SWEEP_EVERY:
            self._swept_at = time.monotonic()
            self.sweep(int(time.time()))
        self.sync_directories()

    def sweep(self, now: int) -> dict[str, int]:
        """Codes, refresh tokens, grants, sessions and links that ended before `now - expired_retention`, deleted
        in batches (app/store/retention.py). A database hiccup is reported; the next interval goes on."""
        from app.mfa.models import AccountToken
        from app.store.retention import Expiring, RetentionPolicy, RetentionSweep

        policy = RetentionPolicy(self.settings.expired_retention, self.settings.access_token_ttl)
        links = Expiring("account links", AccountToken.digest, AccountToken.expires_at)
        try:
            deleted = RetentionSweep(self.db, policy, others=(links,)).run(now)
        except Exception as exc:  # noqa: BLE001 - the worker must outlive a failed sweep
            self.complain(f"retention sweep failed, retrying next interval: {type(exc).__name__}: {exc}")
            return {}
        if deleted:
            self.say("past their end, deleted: " + ", ".join(f"{count} {kind}" for kind, count in deleted.items()))
        return deleted

    def sync_directories(self) -> None:
        from app.directory.sync import DirectorySync

        with self.db.session() as s:
            names = self.directories.names(s)
        for name in names:
            try:
                summary = DirectorySync(self.db, self.directories, name).run()
                self.say(f"{name}: {summary.as_dict()}")
            except DirectoryUnavailable as exc:  # one source down (or misconfigured) stops only itself
                self.complain(f"{name}: directory unavailable: {exc}")

    def reorganise(self) -> int:
        """One step of every reorganisation with work to do: a chunk of a dry run, a batch of officials of a plan
        whose date has come. Each step is its own transaction, so a stopped worker loses none of it."""
        from app.admin.errors import AdminError
        from app.admin.models import Reorganisation
        from app.admin.reorg import Reorganiser
        from app.audit.trail import SYSTEM

        today = dt.date.today().isoformat()
        try:
            with self.db.session() as s:
                previewing = s.scalars(select(Reorganisation.id).where(Reorganisation.status == "previewing")).all()
                due = s.scalars(select(Reorganisation.id).where(Reorganisation.status.in_(("planned", "applying")),
                                                                Reorganisation.effective_date <= today)).all()
            for plan_id in previewing:
                try:
                    with self.db.session() as s:
                        looked = Reorganiser(s, SYSTEM, self.engine).dry_run(plan_id)
                except AdminError as exc:  # the operations do not fit the units: stopped, as a due plan would be
                    self._stop(plan_id, exc)
                    continue
                if looked is not None:
                    self.say(f"reorganisation {plan_id}: dry run {looked.looked_at} of {looked.concerned} officials"
                             + (", report ready" if looked.status != "previewing" else ""))
            for plan_id in due:
                try:
                    with self.db.session() as s:
                        done = Reorganiser(s, SYSTEM, self.engine).apply(plan_id, batches=1)
                    self.say(f"reorganisation {plan_id}: {done.status}, {done.remaining} officials left")
                except AdminError as exc:  # the plan no longer fits the units (changed since): stopped, not retried
                    self._stop(plan_id, exc)
        except Exception as exc:  # noqa: BLE001 - the worker must outlive a failed step (tried again next pass)
            self.complain(f"reorganisation step failed, retrying: {type(exc).__name__}: {exc}")
            return 0
        return len(previewing) + len(due)

    def _stop(self, plan_id: str, error: Exception) -> None:
        from app.admin.reorg import Reorganiser
        from app.audit.trail import SYSTEM

        with self.db.session() as s:
            Reorganiser(s, SYSTEM, self.engine).fail(plan_id, str(error))
        self.complain(f"reorganisation {plan_id}: cannot be applied: {error}")

    def once(self) -> None:
        self.reorganise()
        self.scheduled()
        self.drain()

    def run(self, interval: float) -> None:
        self.say(f"incremental directory sync every {interval} s; provisioning continuously")
        last = 0.0
        while True:
            handled = self.provision() + self.reorganise()
            if time.monotonic() - last >= interval:
                last = time.monotonic()
                self.scheduled()
            elif not handled:
                time.sleep(1.0)
