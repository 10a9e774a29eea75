"""Pydantic validation errors in words that name the field: one formatting for settings, sources, connectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import ValidationError


def dotted(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "config"


def field_errors(exc: ValidationError, name: Callable[[Sequence[int | str]], str] = dotted) -> str:
    return "; ".join(f"{name(error['loc'])}: {error['msg']}" for error in exc.errors())
