"""Usernames by the common Vietnamese government rule: given name plus the initials of family and middle
names, diacritics folded (Đ -> d), lower case; collisions numbered (hieund, hieund2, …)."""

from __future__ import annotations

import re
from collections.abc import Callable

from app.identity.names import fold_diacritics


def base_username(given: str, family: str, middle: str, fallback: str = "") -> str:
    given_part = re.sub(r"[^a-z0-9]", "", fold_diacritics(given).lower().split()[-1] if given.strip() else "")
    initials = "".join(fold_diacritics(word)[0].lower() for word in f"{family} {middle}".split() if word)
    base = re.sub(r"[^a-z0-9]", "", given_part + initials)
    return base or re.sub(r"[^a-z0-9._-]", "", fold_diacritics(fallback).lower()) or "user"


def unique_username(base: str, taken: Callable[[str], bool]) -> str:
    """The first of base, base2, base3, … that no one holds (or ever held) in the target."""
    candidate, n = base, 1
    while taken(candidate):
        n += 1
        candidate = f"{base}{n}"
    return candidate
