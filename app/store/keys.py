"""Signing keys in the database, sealed under the master key; decrypted once per process and cached."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import SecretBox
from app.db import Database, now
from app.oidc.keys import SIGNING_ALGS, KeyEntry, KeyRing, generate_key, import_private
from app.store.models import SigningKey


@dataclass(frozen=True)
class RotationResult:
    kid: str
    alg: str
    active_from: int
    previous_kid: str | None
    previous_retire_after: int | None


class KeyStore:
    # Rereading the table this often lets every worker pick up a rotation made by another.
    REFRESH_SECONDS = 30.0

    def __init__(self, db: Database, box: SecretBox, max_token_ttl: int) -> None:
        self.db = db
        self.box = box
        self.max_token_ttl = max_token_ttl
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        # Decrypted keys by kid: importing an RSA private key validates it, which takes tens of milliseconds,
        # so a periodic reload must only import keys it has not seen.
        self._private: dict[str, RSAKey | ECKey] = {}

    def ring(self) -> KeyRing:
        ring = self._ring
        if ring is not None and time.monotonic() - self._loaded_at < self.REFRESH_SECONDS:
            # Keys are published long before they sign, so a ring up to 30 s old is still correct.
            return ring
        with self._lock:
            self._ring = self._load()
            self._loaded_at = time.monotonic()
            return self._ring

    def invalidate(self) -> None:
        self._ring = None

    def _load(self) -> KeyRing:
        with self.db.session() as s:
            rows = s.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()
            current = now()
            entries = []
            for row in rows:
                if row.retire_after is not None and row.retire_after < current:
                    continue
                private = self._private.get(row.kid)
                if private is None:
                    private = import_private(json.loads(self.box.open(row.private_jwk_sealed)))
                    self._private[row.kid] = private
                entries.append(KeyEntry(row.kid, row.alg, private, dict(row.public_jwk), row.active_from,
                                        row.retire_after))
        return KeyRing(entries)

    def ensure(self, algs: tuple[str, ...] = SIGNING_ALGS) -> None:
        """A first install gets one active key per algorithm."""
        with self.db.session() as s:
            present = set(s.scalars(select(SigningKey.alg)).all())
        for alg in algs:
            if alg not in present:
                self.rotate(alg, immediately=True)

    def rotate(self, alg: str, immediately: bool = False, publish_ahead: int = 3600) -> RotationResult:
        """Publish a new key now; it signs after `publish_ahead` seconds (at once with `immediately`).

        The key it replaces stays published until every token it signed has expired.
        """
        with self.db.session() as s:
            result = self._rotate(s, alg, immediately, publish_ahead)
        self.invalidate()
        return result

    def rotate_due(self, max_age: int, publish_ahead: int) -> list[RotationResult]:
        """The scheduled rotation: a new key for each algorithm whose newest key is older than max_age.

        The rows are locked while deciding, so two workers on one database rotate once, not twice.
        """
        done = []
        for alg in SIGNING_ALGS:
            with self.db.session() as s:
                rows = s.scalars(select(SigningKey).where(SigningKey.alg == alg).with_for_update()).all()
                newest = max((r.created_at for r in rows), default=None)
                if newest is None or now() - newest >= max_age:
                    done.append(self._rotate(s, alg, False, publish_ahead))
        if done:
            self.invalidate()
        return done

    def _rotate(self, s: Session, alg: str, immediately: bool, publish_ahead: int) -> RotationResult:
        kid, private, public = generate_key(alg)
        current = now()
        active_from = current if immediately else current + publish_ahead
        rows = list(s.scalars(select(SigningKey).where(SigningKey.alg == alg)).all())
        if immediately:
            for row in [r for r in rows if r.active_from > current]:
                s.delete(row)  # scheduled but never signed: an emergency rotation supersedes it
                rows.remove(row)
        signing = max((r for r in rows if r.active_from <= current), key=lambda r: r.active_from, default=None)
        latest = max((r.active_from for r in rows), default=None)
        if latest is not None and latest >= active_from:
            active_from = latest + 1  # strictly after the key it replaces, even within one second
        for row in rows:
            if row.retire_after is None or row.retire_after > active_from + self.max_token_ttl:
                row.retire_after = active_from + self.max_token_ttl
        s.add(SigningKey(kid=kid, alg=alg, private_jwk_sealed=self.box.seal(json.dumps(private).encode()),
                         public_jwk=public, created_at=current, active_from=active_from))
        return RotationResult(kid, alg, active_from, signing.kid if signing else None,
                              signing.retire_after if signing else None)

    def listing(self) -> list[dict[str, object]]:
        with self.db.session() as s:
            rows = s.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()
            return [{"kid": r.kid, "alg": r.alg, "created_at": r.created_at, "active_from": r.active_from,
                     "retire_after": r.retire_after} for r in rows]
