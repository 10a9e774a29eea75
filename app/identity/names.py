"""Unicode handling of Vietnamese names and usernames: NFC or NFD, any case, is the same person."""

from __future__ import annotations

import unicodedata


def normalize_username(value: str) -> str:
    return unicodedata.normalize("NFC", value.strip()).casefold()


def normalize_text(value: str) -> str:
    return unicodedata.normalize("NFC", value.strip())


def fold_diacritics(value: str) -> str:
    """'Nguyễn Đình Hiếu' -> 'Nguyen Dinh Hieu' (Đ is a letter of its own, not a D with a mark)."""
    value = value.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))
