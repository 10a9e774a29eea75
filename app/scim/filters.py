"""SCIM filters (RFC 7644 §3.4.2.2): parsed to a small tree, evaluated on resources as JSON.

Grammar: expr := term ("or" term)*; term := factor ("and" factor)*;
factor := "not"? "(" expr ")" | attrPath op value | attrPath "pr"; attrPath may carry a value filter,
e.g. emails[type eq "work"].value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]
TOKEN = re.compile(r'\s*(\(|\)|\[|\]|"(?:[^"\\]|\\.)*"|[^\s()\[\]]+)')
OPS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}


class InvalidFilter(ValueError):
    pass


def parse(text: str) -> Predicate:
    tokens = [m.group(1) for m in TOKEN.finditer(text)]
    if len(text) > 2000 or not tokens:
        raise InvalidFilter("empty or oversized filter")
    position, predicate = _expr(tokens, 0)
    if position != len(tokens):
        raise InvalidFilter(f"unexpected {tokens[position]!r}")
    return predicate


def _expr(tokens: list[str], i: int) -> tuple[int, Predicate]:
    i, left = _term(tokens, i)
    while i < len(tokens) and tokens[i].lower() == "or":
        i, right = _term(tokens, i + 1)
        left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
    return i, left


def _term(tokens: list[str], i: int) -> tuple[int, Predicate]:
    i, left = _factor(tokens, i)
    while i < len(tokens) and tokens[i].lower() == "and":
        i, right = _factor(tokens, i + 1)
        left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
    return i, left


def _factor(tokens: list[str], i: int) -> tuple[int, Predicate]:
    if i >= len(tokens):
        raise InvalidFilter("the filter ends too early")
    if tokens[i].lower() == "not":
        i, inner = _factor(tokens, i + 1)
        return i, lambda r: not inner(r)
    if tokens[i] == "(":
        i, inner = _expr(tokens, i + 1)
        if i >= len(tokens) or tokens[i] != ")":
            raise InvalidFilter("missing )")
        return i + 1, inner
    path = tokens[i]
    i += 1
    if i < len(tokens) and tokens[i] == "[":  # emails[type eq "work"].value
        i, inner = _expr(tokens, i + 1)
        if i >= len(tokens) or not tokens[i].startswith("]"):
            raise InvalidFilter("missing ]")
        rest = tokens[i][1:].lstrip(".")
        i += 1
        if i < len(tokens) and tokens[i].startswith("."):
            rest, i = tokens[i][1:], i + 1
        i, leaf = _comparison(tokens, i, rest) if rest else (i, lambda v: True)
        return i, lambda r: any(isinstance(x, dict) and inner(x) and (not rest or leaf(x))
                                for x in _values(r, path, whole=True))
    return _comparison(tokens, i, path)


def _comparison(tokens: list[str], i: int, path: str) -> tuple[int, Predicate]:
    if i >= len(tokens):
        raise InvalidFilter(f"no operator after {path}")
    op = tokens[i].lower()
    if op == "pr":
        return i + 1, lambda r: any(v not in (None, "", []) for v in _values(r, path))
    if op not in OPS or i + 1 >= len(tokens):
        raise InvalidFilter(f"unknown operator {tokens[i]!r}")
    raw = tokens[i + 1]
    try:
        value = json.loads(raw) if raw.startswith('"') or raw in ("true", "false", "null") or _number(raw) else None
    except ValueError as exc:
        raise InvalidFilter(f"bad value {raw!r}") from exc
    if value is None and raw != "null":
        raise InvalidFilter(f"bad value {raw!r}")
    return i + 2, lambda r: any(_compare(op, v, value) for v in _values(r, path))


def _number(raw: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(\.\d+)?", raw))


def _values(resource: dict[str, Any], path: str, whole: bool = False) -> list[Any]:
    if ":" in path:  # a fully qualified name: drop the schema URN
        path = path.rsplit(":", 1)[1]
    current: list[Any] = [resource]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, dict):
                key = next((k for k in item if k.lower() == part.lower()), None)
                if key is not None:
                    value = item[key]
                    nxt.extend(value if isinstance(value, list) and not whole else [value])
        current = nxt
    if whole:
        return [x for v in current for x in (v if isinstance(v, list) else [v])]
    return [x.get("value") if isinstance(x, dict) and "value" in x else x for x in current]


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.casefold(), expected.casefold()
    try:
        compare: dict[str, Callable[[], bool]] = {
            "eq": lambda: bool(actual == expected), "ne": lambda: bool(actual != expected),
            "co": lambda: isinstance(actual, str) and expected in actual,
            "sw": lambda: isinstance(actual, str) and actual.startswith(expected),
            "ew": lambda: isinstance(actual, str) and actual.endswith(expected),
            "gt": lambda: bool(actual > expected), "ge": lambda: bool(actual >= expected),
            "lt": lambda: bool(actual < expected), "le": lambda: bool(actual <= expected),
        }
        return compare[op]()
    except TypeError:
        return False
