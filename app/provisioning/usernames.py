"""Usernames by the common Vietnamese government rule: given name plus the initials of family and middle
names, diacritics folded (Đ -> d), lower case; collisions numbered (hieund, hieund2, …)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from app.identity.names import fold_diacritics


def base_username(given: str, family: str, middle: str, fallback: str = "") -> str:
    given_part = re.sub(r"[^a-z0-9]", "", fold_diacritics(given).lower().split()[-1] if given.strip() else "")
    initials = "".join(fold_diacritics(word)[0].lower() for word in f"{family} {middle}".split() if word)
    base = re.sub(r"[^a-z0-9]", "", given_part + initials)
    return base or re.sub(r"[^a-z0-9._-]", "", fold_diacritics(fallback).lower()) or "user"


def numbered(base: str, n: int) -> str:
    """The n-th candidate of a base: base, base2, base3, …"""
    return base if n == 1 else f"{base}{n}"


def unique_username(base: str, taken: Callable[[list[str]], Collection[str]], start: int = 1) -> str:
    """The first of base, base2, base3, … that no one holds (or ever held) in the target, from the `start`-th
    (the ones before it known taken). `taken` says which of a run of candidates are held; the runs grow (10, 20,
    40, …), so the hundredth namesake costs a few look-ups, not a hundred."""
    size = 10
    while True:
        candidates = [numbered(base, n) for n in range(start, start + size)]
        held = set(taken(candidates))
        free = next((candidate for candidate in candidates if candidate not in held), None)
        if free is not None:
            return free
        start, size = start + size, size * 2
