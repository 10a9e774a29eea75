"""PATCH (RFC 7644 §3.5.2) applied to a resource as JSON; the result is then stored like a PUT."""

from __future__ import annotations

import copy
import re
from typing import Any

from app.scim.filters import InvalidFilter, parse

PATH = re.compile(r'^(?P<attr>[\w$]+)(?:\[(?P<filter>.+)\])?(?:\.(?P<sub>[\w$]+))?$')


class PatchError(ValueError):
    def __init__(self, message: str, scim_type: str = "invalidPath") -> None:
        super().__init__(message)
        self.scim_type = scim_type


def _key(obj: dict[str, Any], name: str) -> str:
    return next((k for k in obj if k.lower() == name.lower()), name)


def _strip_urn(path: str, schemas: list[str]) -> str:
    for urn in schemas:
        if path.lower().startswith(urn.lower() + ":"):
            return path[len(urn) + 1:]
    return path


def apply(resource: dict[str, Any], operations: list[dict[str, Any]], schemas: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    for op in operations:
        kind = str(op.get("op", "")).lower()
        if kind not in ("add", "replace", "remove"):
            raise PatchError(f"op must be add, replace or remove, not {op.get('op')!r}", "invalidSyntax")
        path, value = op.get("path"), op.get("value")
        if not path:
            if kind == "remove" or not isinstance(value, dict):
                raise PatchError("without a path, add and replace need an object value", "noTarget")
            for name, item in value.items():
                _set(out, _strip_urn(name, schemas), item, kind)
            continue
        target = _strip_urn(str(path), schemas)
        if kind == "remove":
            _remove(out, target)
        else:
            _set(out, target, value, kind)
    return out


def _target(obj: dict[str, Any], path: str) -> tuple[str, str, str | None, str | None]:
    """A PATCH path as (attribute, its key in obj, value filter, sub-attribute)."""
    match = PATH.match(path)
    if not match:
        raise PatchError(f"cannot understand the path {path!r}")
    attr, flt, sub = match.group("attr", "filter", "sub")
    return attr, _key(obj, attr), flt, sub


def _set(obj: dict[str, Any], path: str, value: Any, kind: str) -> None:
    attr, key, flt, sub = _target(obj, path)
    if flt:
        items = [x for x in _matching(obj.get(key), flt)]
        if not items:
            raise PatchError(f"no value matches {path!r}", "noTarget")
        for item in items:
            if sub:
                item[_key(item, sub)] = value
            elif isinstance(value, dict):
                item.update(value)
        return
    if sub:
        parent = obj.setdefault(key, {})
        if not isinstance(parent, dict):
            raise PatchError(f"{attr} is not a complex attribute")
        parent[_key(parent, sub)] = value
        return
    current = obj.get(key)
    if kind == "add" and isinstance(current, list):
        additions = value if isinstance(value, list) else [value]
        current.extend(x for x in additions if x not in current)
    elif kind == "add" and isinstance(current, dict) and isinstance(value, dict):
        current.update(value)
    else:
        obj[key] = value


def _remove(obj: dict[str, Any], path: str) -> None:
    _, key, flt, sub = _target(obj, path)
    if flt:
        doomed = _matching(obj.get(key), flt)
        if sub:
            for item in doomed:
                item.pop(_key(item, sub), None)
        else:
            obj[key] = [x for x in obj.get(key) or [] if x not in doomed]
        return
    if sub:
        parent = obj.get(key)
        if isinstance(parent, dict):
            parent.pop(_key(parent, sub), None)
        return
    obj.pop(key, None)


def _matching(values: Any, flt: str) -> list[dict[str, Any]]:
    try:
        predicate = parse(flt)
    except InvalidFilter as exc:
        raise PatchError(str(exc), "invalidFilter") from exc
    return [x for x in values or [] if isinstance(x, dict) and predicate(x)]
