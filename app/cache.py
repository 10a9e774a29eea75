"""The one per-process cache: a few seconds of rarely-changing rows, never state another process needs."""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """Rarely-changing rows per process, for a few seconds, so the token endpoint needs no query for them.

    A change made in this process clears it at once; other processes see it within `ttl` seconds.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, T | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, T | None]:
        item = self._items.get(key)
        if item and item[0] > time.monotonic():
            return True, item[1]
        return False, None

    def put(self, key: str, value: T | None) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
