"""Turning raw LDAP entries into the identity store's terms, for OpenLDAP and Active Directory alike.

Entries come as raw bytes (ldap3's raw_attributes), so the same code reads a live server and the AD entries
recorded in the tests.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ldap3.utils.dn import parse_dn

from app.directory.config import AttributeMap, DirectoryConfig
from app.identity.names import normalize_text, normalize_username

RawEntry = dict[str, list[bytes]]
UAC_ACCOUNTDISABLE = 0x0002
UAC_LOCKOUT = 0x0010
ADMIN_LOCK = "000001010000Z"  # ppolicy: locked by an administrator until unlocked


def first(raw: RawEntry, attr: str) -> str | None:
    values = raw.get(attr) or next((v for k, v in raw.items() if k.lower() == attr.lower()), None)
    if not values:
        return None
    value = values[0]
    return normalize_text(value.decode("utf-8", errors="replace")) if isinstance(value, bytes) else str(value)


def all_values(raw: RawEntry, attr: str) -> list[str]:
    values = raw.get(attr) or next((v for k, v in raw.items() if k.lower() == attr.lower()), [])
    return [normalize_text(v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)) for v in values]


def external_id(raw: RawEntry, mapping: AttributeMap) -> str | None:
    """entryUUID as text, or objectGUID (16 bytes, little-endian fields) as the same UUID AD tools show."""
    values = raw.get(mapping.id) or next((v for k, v in raw.items() if k.lower() == mapping.id.lower()), None)
    if not values:
        return None
    value = values[0]
    if mapping.id.lower() == "objectguid" and isinstance(value, bytes) and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    return value.decode() if isinstance(value, bytes) else str(value)


def parent_dn(dn: str) -> str:
    parts = parse_dn(dn, escape=True)
    return ",".join(f"{a}={v}" for a, v, _ in parts[1:])


# A plain DN: attr=value parts, nothing escaped, quoted or multi-valued, no space next to a separator.
_TOKEN = r'[^=,\\"+#;<>\x00 ](?:[^=,\\"+#;<>\x00]*[^=,\\"+#;<>\x00 ])?'
_PLAIN_DN = re.compile(f"{_TOKEN}={_TOKEN}(?:,{_TOKEN}={_TOKEN})*")


def _plain_dn(dn: str) -> bool:
    """ldap3's parser would return it as is (one regular expression: a sync checks every official's DN twice)."""
    return _PLAIN_DN.fullmatch(dn) is not None and dn == dn.strip()


def normalize_dn(dn: str) -> str:
    """DNs compare case-insensitively and without spaces around separators."""
    if _plain_dn(dn):
        # ldap3's parser costs 80 µs a DN, and a sync normalizes every official's DN and every group member's.
        return dn.lower()
    try:
        return ",".join(f"{a.lower()}={v}" for a, v, _ in parse_dn(dn, escape=True)).lower()
    except Exception:  # noqa: BLE001 - a malformed DN from a server compares as itself
        return dn.lower()


@dataclass(frozen=True)
class PersonRecord:
    external_id: str
    dn: str
    username: str
    display_name: str
    given_name: str
    family_name: str
    middle_name: str
    email: str | None
    phone: str | None
    title: str | None
    employee_number: str | None
    unit_key: str | None  # normalized DN of the unit, or the unit attribute's value
    enabled: bool
    changed: str | None
    # Not enabled because the directory locked it (too many wrong passwords), rather than disabled by an admin:
    # what the login page says differs. Left out of the digest: `enabled` already carries the change.
    locked: bool = False
    national_id_digest: str | None = None  # keyed (SecretBox.lookup_digest), never the number itself

    def digest(self) -> str:
        data = asdict(self)
        data.pop("changed")
        data.pop("locked")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _account_enabled(raw: RawEntry, config: DirectoryConfig) -> bool:
    if config.kind == "ad":
        uac = int(first(raw, "userAccountControl") or 0)
        lockout = int(first(raw, "lockoutTime") or 0)
        return not (uac & UAC_ACCOUNTDISABLE) and not (uac & UAC_LOCKOUT) and lockout == 0
    # OpenLDAP ppolicy: a lock set by an admin (ADMIN_LOCK) or after too many failures.
    return first(raw, "pwdAccountLockedTime") is None


def _locked(raw: RawEntry, config: DirectoryConfig) -> bool:
    """Locked after failed passwords (it unlocks by itself or by an admin), as opposed to disabled."""
    if config.kind == "ad":
        uac = int(first(raw, "userAccountControl") or 0)
        return not (uac & UAC_ACCOUNTDISABLE) and (bool(uac & UAC_LOCKOUT) or int(first(raw, "lockoutTime") or 0) > 0)
    # ppolicy: 000001010000Z is an administrator's permanent lock, i.e. disabled; any other time is a lockout.
    value = first(raw, "pwdAccountLockedTime")
    return value is not None and value != ADMIN_LOCK


def middle_name(display: str, family: str, given: str) -> str:
    """Vietnamese order is family, middle, given: the middle name is what lies between."""
    words = display.split()
    if family and words[:1] == [family]:
        words = words[1:]
    if given and words[-1:] == [given]:
        words = words[:-1]
    return " ".join(words)


def map_person(dn: str, raw: RawEntry, config: DirectoryConfig,
               lookup_digest: Callable[[str], str] | None = None) -> PersonRecord | None:
    m = config.mapping
    ident, username = external_id(raw, m), first(raw, m.username)
    if not ident or not username:
        return None
    display = first(raw, m.display_name) or first(raw, "cn") or username
    given, family = first(raw, m.given_name) or "", first(raw, m.family_name) or ""
    if config.unit_from == "dn":
        unit_key: str | None = normalize_dn(parent_dn(dn))
    elif config.unit_from == "attribute" and config.unit_attribute:
        unit_key = first(raw, config.unit_attribute)
    else:
        unit_key = None
    email = first(raw, m.email)
    national_id = first(raw, m.national_id) if m.national_id and lookup_digest else None
    return PersonRecord(
        external_id=ident, dn=dn, username=normalize_username(username), display_name=display,
        given_name=given, family_name=family, middle_name=middle_name(display, family, given),
        email=email.lower() if email else None, phone=first(raw, m.phone), title=first(raw, m.title),
        employee_number=first(raw, m.employee_number), unit_key=unit_key,
        enabled=_account_enabled(raw, config), changed=first(raw, m.changed), locked=_locked(raw, config),
        national_id_digest=lookup_digest(national_id) if national_id and lookup_digest else None,
    )


@dataclass(frozen=True)
class UnitRecord:
    external_id: str
    dn: str
    key: str
    slug: str
    name: str
    parent_key: str


def map_unit(dn: str, raw: RawEntry, config: DirectoryConfig) -> UnitRecord | None:
    ident = external_id(raw, config.mapping)
    if not ident:
        return None
    slug = first(raw, "ou") or parse_dn(dn, escape=True)[0][1]
    name = first(raw, config.mapping.unit_name) or slug
    return UnitRecord(ident, dn, normalize_dn(dn), slug, name, normalize_dn(parent_dn(dn)))


@dataclass(frozen=True)
class GroupRecord:
    external_id: str
    dn: str
    name: str
    member_keys: frozenset[str]


def map_group(dn: str, raw: RawEntry, config: DirectoryConfig) -> GroupRecord | None:
    ident = external_id(raw, config.mapping)
    name = first(raw, "cn")
    if not ident or not name:
        return None
    members = frozenset(normalize_dn(v) for v in all_values(raw, config.mapping.group_member))
    return GroupRecord(ident, dn, name, members)


def requested_attributes(config: DirectoryConfig) -> list[str]:
    m = config.mapping
    attrs = {m.id, m.username, m.display_name, m.given_name, m.family_name, m.email, m.title, m.phone,
             m.employee_number, m.changed, "cn", *([m.national_id] if m.national_id else [])}
    attrs |= {"userAccountControl", "lockoutTime"} if config.kind == "ad" else {"pwdAccountLockedTime"}
    if config.unit_attribute:
        attrs.add(config.unit_attribute)
    return sorted(attrs)


def as_raw(entry: dict[str, Any]) -> RawEntry:
    """ldap3's raw_attributes, with every value as bytes."""
    return {k: [v if isinstance(v, bytes) else str(v).encode() for v in vals]
            for k, vals in entry.get("raw_attributes", {}).items()}
