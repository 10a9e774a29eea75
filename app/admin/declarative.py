"""A province's configuration as one file under version control: directories, clients, connectors with their
rules, admin roles and MFA policy. `plan` says what applying it would change, `apply` makes those changes in one
transaction (applying the same file again changes nothing), `export` writes the running configuration in the
same shape.

Secrets never sit in the file: a secret field holds a reference, "env:NAME" (an environment variable) or
"file:/path" (a file's first line), resolved when the file is planned or applied. Objects that the file does not
name are reported and kept, unless `prune` is asked for: removing a directory makes its officials leavers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import installation
from app.admin import declarative_apps as apps
from app.admin.models import RoleGrant
from app.admin.operations import Admin
from app.admin.scope import AdminScope
from app.applications.clients import ClientService, ClientSpec
from app.audit.trail import Actor, record
from app.crypto import SecretBox
from app.directory.sources import DirectorySources, parse_config
from app.identity.models import DirectorySource, Official, Unit
from app.identity.service import find_by_login_name
from app.provisioning.engine import ProvisioningEngine
from app.provisioning.models import ConnectorInstance
from app.provisioning.registry import kinds, masked_config
from app.store.models import Client
from app.store.oidc_store import ClientCache
from app.upstream.config import ProviderConfigError
from app.upstream.config import parse_config as parse_upstream
from app.upstream.models import IdentityProvider
from app.upstream.providers import UpstreamProviders

SECTIONS = ("installation", "directories", "identity_providers", "clients", "cas_services", "gateway_apps",
            "connectors", "roles")
CLIENT_FIELDS = ("name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "scopes", "auth_method",
                 "first_party", "require_mfa", "launch_url", "connector", "backchannel_logout_uri", "scim_unit",
                 "enabled")
FIXED_CLIENT_FIELDS = ("grant_types", "auth_method")  # changing these means a new client


class ConfigError(ValueError):
    """The file cannot be applied; the message names the place (section.name.field)."""


@dataclass
class Change:
    kind: str  # create, update, remove, keep (not in the file, kept)
    section: str
    name: str
    fields: list[str] = field(default_factory=list)

    def line(self) -> str:
        sign = {"create": "+", "update": "~", "remove": "-", "keep": "?"}[self.kind]
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        note = " not in the file: kept (--prune removes it)" if self.kind == "keep" else ""
        return f"{sign} {self.section}.{self.name}{detail}{note}"


@dataclass
class Plan:
    changes: list[Change]
    secrets_made: dict[str, str] = field(default_factory=dict)  # client id -> new secret (apply only)

    @property
    def empty(self) -> bool:
        return not [c for c in self.changes if c.kind != "keep"]


def resolve(value: Any, where: str) -> Any:
    """A secret reference resolved: "env:NAME" or "file:/path"; any other value is taken as it is."""
    if not isinstance(value, str) or not value.startswith(("env:", "file:")):
        return value
    scheme, _, ref = value.partition(":")
    if scheme == "env":
        if ref not in os.environ:
            raise ConfigError(f"{where}: the environment variable {ref} is not set")
        return os.environ[ref]
    try:
        return Path(ref).read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError) as exc:
        raise ConfigError(f"{where}: cannot read a secret from {ref}") from exc


class DeclarativeConfig:
    def __init__(self, session: Session, actor: Actor, box: SecretBox, directories: DirectorySources,
                 clients: ClientCache, engine: ProvisioningEngine, applications: list[apps.Section],
                 upstream: UpstreamProviders) -> None:
        self.s, self.actor, self.box, self.upstream = session, actor, box, upstream
        self.directories, self.clients, self.engine, self.applications = directories, clients, engine, applications
        self.admin = Admin(session, AdminScope.operator(session), actor)

    # --- reading the file ---------------------------------------------------------------------------
    @staticmethod
    def check_shape(data: dict[str, Any]) -> None:
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown section; the file has {', '.join(SECTIONS)}")
        for section in ("directories", "identity_providers", "clients", "cas_services", "gateway_apps", "connectors"):
            if not isinstance(data.get(section, {}), dict):
                raise ConfigError(f"{section}: a table of named entries, e.g. [{section}.NAME]")
        if not isinstance(data.get("roles", []), list):
            raise ConfigError("roles: a list, e.g. [[roles]] official = …, role = …, unit = …")

    # --- plan and apply ------------------------------------------------------------------------------
    def plan(self, data: dict[str, Any], prune: bool = False) -> Plan:
        return self._walk(data, prune, apply=False)

    def apply(self, data: dict[str, Any], prune: bool = False) -> Plan:
        plan = self._walk(data, prune, apply=True)
        record(self.s, "config.applied", self.actor, details={"changes": [c.line() for c in plan.changes
                                                                          if c.kind != "keep"]})
        return plan

    def _walk(self, data: dict[str, Any], prune: bool, apply: bool) -> Plan:
        self.check_shape(data)
        plan = Plan([])
        self._installation(data.get("installation", {}), plan, apply)
        self._directories(data.get("directories", {}), plan, apply, prune)
        self._identity_providers(data.get("identity_providers", {}), plan, apply, prune)
        self._connectors(data.get("connectors", {}), plan, apply, prune)
        self._clients(data.get("clients", {}), plan, apply, prune)
        for section in self.applications:
            try:
                found = apps.walk(self.s, self.actor, section, data.get(section.name, {}), apply, prune)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
            plan.changes += [Change(kind, section.name, name, fields) for kind, name, fields in found]
        self._roles(data.get("roles", []), plan, apply, prune)
        return plan

    def _installation(self, wanted: dict[str, Any], plan: Plan, apply: bool) -> None:
        unknown = sorted(set(wanted) - {"mfa_required_units"})
        if unknown:
            raise ConfigError(f"installation.{unknown[0]}: unknown; known: mfa_required_units")
        units = sorted(wanted.get("mfa_required_units", []))
        for code in units:
            self._unit(code, "installation.mfa_required_units")
        if units != sorted(installation.read(self.s, installation.MFA_REQUIRED_UNITS, [])):
            plan.changes.append(Change("update", "installation", "mfa_required_units"))
            if apply:
                installation.write(self.s, installation.MFA_REQUIRED_UNITS, units)

    def _directories(self, wanted: dict[str, Any], plan: Plan, apply: bool, prune: bool) -> None:
        current = {r.name: r for r in self.s.scalars(select(DirectorySource))}
        for name, entry in wanted.items():
            where = f"directories.{name}"
            entry = dict(entry)
            password = resolve(entry.pop("bind_password", None), f"{where}.bind_password")
            try:
                config = parse_config({"name": name, **entry})
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
            row = current.get(name)
            desired = config.model_dump(mode="json", exclude_none=True)
            changed = sorted(k for k in set(desired) | set(row.config if row else {})
                             if row is not None and row.config.get(k) != desired.get(k))
            if row is not None and password and self.box.open(row.bind_password_sealed).decode() != password:
                changed.append("bind_password")
            if row is None or changed:
                plan.changes.append(Change("create" if row is None else "update", "directories", name, changed))
                if apply:
                    try:
                        self.directories.save(self.s, config, password)
                    except ValueError as exc:
                        raise ConfigError(f"{where}: {exc}") from exc
                    record(self.s, "directory.saved", self.actor, target=name, details={"urls": config.urls})
        self._unnamed("directories", set(current) - set(wanted), plan, apply, prune,
                      lambda name: self.directories.remove(self.s, name))

    def _identity_providers(self, wanted: dict[str, Any], plan: Plan, apply: bool, prune: bool) -> None:
        current = {r.name: r for r in self.s.scalars(select(IdentityProvider))}
        for name, entry in wanted.items():
            where = f"identity_providers.{name}"
            entry = dict(entry)
            secret = resolve(entry.pop("client_secret", None), f"{where}.client_secret")
            enabled = bool(entry.pop("enabled", True))
            try:
                desired = parse_upstream({"name": name, **entry}, self.upstream.allow_http_loopback).model_dump(
                    mode="json")
            except ProviderConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
            row = current.get(name)
            changed = [] if row is None else sorted(k for k in set(desired) | set(row.config)
                                                    if row.config.get(k) != desired.get(k))
            if row is not None and row.enabled != enabled:
                changed.append("enabled")
            if row is not None and secret and (row.client_secret_sealed is None or
                                               self.box.open(row.client_secret_sealed).decode() != secret):
                changed.append("client_secret")
            if row is None or changed:
                plan.changes.append(Change("create" if row is None else "update", "identity_providers", name, changed))
                if apply:
                    try:
                        self.upstream.save(self.s, {"name": name, **entry}, secret, enabled)
                    except ProviderConfigError as exc:
                        raise ConfigError(f"{where}: {exc}") from exc
                    record(self.s, "identity_provider.saved", self.actor, target=name,
                           details={"issuer": desired["issuer"], "enabled": enabled})
        self._unnamed("identity_providers", set(current) - set(wanted), plan, apply, prune,
                      lambda name: self.upstream.remove(self.s, name))

    def _connectors(self, wanted: dict[str, Any], plan: Plan, apply: bool, prune: bool) -> None:
        current = {r.name: r for r in self.s.scalars(select(ConnectorInstance))}
        for name, entry in wanted.items():
            where = f"connectors.{name}"
            unknown = sorted(set(entry) - {"kind", "config", "rules", "mapping", "retention_days", "enabled"})
            if unknown:
                raise ConfigError(f"{where}.{unknown[0]}: unknown; known: kind, config, rules, mapping, "
                                  "retention_days, enabled")
            if entry.get("kind") not in kinds():
                raise ConfigError(f"{where}.kind: one of {', '.join(sorted(kinds()))}")
            config = {k: resolve(v, f"{where}.config.{k}") for k, v in (entry.get("config") or {}).items()}
            desired = {"kind": entry["kind"], "config": config, "rules": entry.get("rules") or {},
                       "mapping": entry.get("mapping") or {}, "retention_days": entry.get("retention_days"),
                       "enabled": entry.get("enabled", True)}
            row = current.get(name)
            have = None if row is None else {
                "kind": row.kind, "config": json.loads(self.box.open(row.config_sealed)), "rules": row.rules,
                "mapping": row.mapping, "retention_days": row.retention_days, "enabled": row.enabled}
            changed = [] if have is None else sorted(k for k in desired if desired[k] != have[k])
            if have is None or changed:
                plan.changes.append(Change("create" if row is None else "update", "connectors", name, changed))
                if apply:
                    try:
                        self.engine.save_instance(self.s, name, desired["kind"], config, desired["rules"],
                                                  desired["mapping"], desired["retention_days"])
                    except ValueError as exc:
                        raise ConfigError(f"{where}: {exc}") from exc
                    saved = self.s.get(ConnectorInstance, name)
                    assert saved is not None
                    saved.enabled = bool(desired["enabled"])
                    record(self.s, "connector.saved", self.actor, target=name, details={"kind": desired["kind"]})
        self._unnamed("connectors", set(current) - set(wanted), plan, apply, prune,
                      lambda name: self.s.delete(current[name]))

    def _client_values(self, row: Client) -> dict[str, Any]:
        unit = self.s.get(Unit, row.scim_unit_id) if row.scim_unit_id else None
        return {"name": row.name, "redirect_uris": list(row.redirect_uris),
                "post_logout_redirect_uris": list(row.post_logout_redirect_uris), "grant_types": list(row.grant_types),
                "scopes": list(row.scopes), "auth_method": row.token_endpoint_auth_method,
                "first_party": row.first_party, "require_mfa": row.require_mfa, "launch_url": row.launch_url,
                "connector": row.connector, "backchannel_logout_uri": row.backchannel_logout_uri,
                "scim_unit": unit.code if unit else None, "enabled": row.enabled}

    def _clients(self, wanted: dict[str, Any], plan: Plan, apply: bool, prune: bool) -> None:
        current = {r.client_id: r for r in self.s.scalars(select(Client))}
        defaults = ClientSpec(client_id="x")
        base = {"name": "", "redirect_uris": [], "post_logout_redirect_uris": [], "grant_types": defaults.grant_types,
                "scopes": defaults.scopes, "auth_method": defaults.auth_method, "first_party": False,
                "require_mfa": False, "launch_url": None, "connector": None, "backchannel_logout_uri": None,
                "scim_unit": None, "enabled": True}
        for client_id, entry in wanted.items():
            where = f"clients.{client_id}"
            unknown = sorted(set(entry) - set(CLIENT_FIELDS))
            if unknown:
                raise ConfigError(f"{where}.{unknown[0]}: unknown; known: {', '.join(CLIENT_FIELDS)}")
            desired = {**base, "name": client_id, **entry}
            scim_unit = self._unit(desired["scim_unit"], f"{where}.scim_unit").id if desired["scim_unit"] else None
            row = current.get(client_id)
            if row is None:
                plan.changes.append(Change("create", "clients", client_id))
                if apply:
                    self._create_client(client_id, desired, scim_unit, plan, where)
                continue
            have = self._client_values(row)
            changed = sorted(k for k in desired if desired[k] != have[k])
            fixed = [k for k in changed if k in FIXED_CLIENT_FIELDS]
            if fixed:
                raise ConfigError(f"{where}.{fixed[0]}: cannot change on a registered client; give it a new id")
            if changed:
                plan.changes.append(Change("update", "clients", client_id, changed))
                if apply:
                    self._update_client(row, desired, scim_unit, changed, where)
        self._unnamed("clients", set(current) - set(wanted), plan, apply, prune,
                      lambda client_id: ClientService(self.clients).remove(self.s, client_id))

    def _create_client(self, client_id: str, desired: dict[str, Any], scim_unit: str | None, plan: Plan,
                       where: str) -> None:
        spec = ClientSpec(client_id=client_id, name=desired["name"], redirect_uris=desired["redirect_uris"],
                          post_logout_redirect_uris=desired["post_logout_redirect_uris"],
                          grant_types=desired["grant_types"], scopes=desired["scopes"],
                          auth_method=desired["auth_method"], first_party=desired["first_party"],
                          backchannel_logout_uri=desired["backchannel_logout_uri"], require_mfa=desired["require_mfa"],
                          launch_url=desired["launch_url"], connector=desired["connector"], scim_unit_id=scim_unit)
        try:
            row, secret = ClientService(self.clients).add(self.s, spec)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        row.enabled = bool(desired["enabled"])
        record(self.s, "client.created", self.actor, target=client_id, details={"name": row.name})
        if secret:
            plan.secrets_made[client_id] = secret

    def _update_client(self, row: Client, desired: dict[str, Any], scim_unit: str | None, changed: list[str],
                       where: str) -> None:
        from app.admin.errors import AdminError
        from app.admin.systems import Systems

        patch = {("scim_unit_id" if k == "scim_unit" else k): (scim_unit if k == "scim_unit" else desired[k])
                 for k in changed}
        systems = Systems(self.s, self.admin.scope, self.actor, self.clients, self.engine)
        try:
            systems.update_client(row.client_id, f'"{row.version}"', patch)
        except AdminError as exc:
            raise ConfigError(f"{where}: {exc.message}") from exc

    def _roles(self, wanted: list[dict[str, Any]], plan: Plan, apply: bool, prune: bool) -> None:
        desired: set[tuple[str, str, str]] = set()
        names: dict[tuple[str, str, str], str] = {}
        for i, entry in enumerate(wanted):
            where = f"roles[{i}]"
            if set(entry) != {"official", "role", "unit"}:
                raise ConfigError(f"{where}: give official, role and unit")
            official = find_by_login_name(self.s, str(entry["official"]), self.directories.names(self.s))
            if official is None:
                raise ConfigError(f"{where}.official: no single official is called {entry['official']!r}")
            key = (official.id, str(entry["role"]), self._unit(str(entry["unit"]), f"{where}.unit").id)
            desired.add(key)
            names[key] = f"{entry['official']}:{entry['role']}@{entry['unit']}"
        grants = {(g.official_id, g.role, g.unit_id): g for g in self.s.scalars(select(RoleGrant))}
        for key in sorted(desired - set(grants)):
            plan.changes.append(Change("create", "roles", names[key]))
            if apply:
                self.admin.grant(*key)
        for key in sorted(set(grants) - desired):
            official = self.s.get(Official, key[0])
            unit = self.s.get(Unit, key[2])
            label = f"{official.username if official else key[0]}:{key[1]}@{unit.code if unit else key[2]}"
            if prune:
                plan.changes.append(Change("remove", "roles", label))
                if apply:
                    self.admin.revoke(grants[key].id)
            else:
                plan.changes.append(Change("keep", "roles", label))

    # --- helpers ----------------------------------------------------------------------------------------
    def _unit(self, code: str, where: str) -> Unit:
        unit = self.s.scalars(select(Unit).where(Unit.code == code)).one_or_none()
        if unit is None:
            raise ConfigError(f"{where}: no unit with code {code!r}")
        return unit

    def _unnamed(self, section: str, names: set[str], plan: Plan, apply: bool, prune: bool, remove: Any) -> None:
        for name in sorted(names):
            plan.changes.append(Change("remove" if prune else "keep", section, name))
            if prune and apply:
                remove(name)
                record(self.s, f"{section.rstrip('s')}.removed", self.actor, target=name)

    # --- export -----------------------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        """The running configuration in the file's shape; secrets as env: references to fill in."""
        out: dict[str, Any] = {}
        units = installation.read(self.s, installation.MFA_REQUIRED_UNITS, [])
        if units:
            out["installation"] = {"mfa_required_units": units}
        out["directories"] = {
            r.name: {**{k: v for k, v in r.config.items() if k != "name"},
                     "bind_password": f"env:SSO_SECRET_DIRECTORY_{_env_name(r.name)}"}
            for r in self.s.scalars(select(DirectorySource).order_by(DirectorySource.name))}
        out["identity_providers"] = {
            r.name: {**{k: v for k, v in r.config.items() if k != "name"}, "enabled": r.enabled,
                     **({"client_secret": f"env:SSO_SECRET_IDP_{_env_name(r.name)}"} if r.client_secret_sealed else {})}
            for r in self.s.scalars(select(IdentityProvider).order_by(IdentityProvider.name))}
        out["connectors"] = {r.name: self._export_connector(r)
                             for r in self.s.scalars(select(ConnectorInstance).order_by(ConnectorInstance.name))}
        out["clients"] = {r.client_id: {k: v for k, v in self._client_values(r).items() if v not in (None, [])}
                          for r in self.s.scalars(select(Client).order_by(Client.client_id))}
        for section in self.applications:
            out[section.name] = apps.export(self.s, section)
        rows = self.s.execute(select(RoleGrant, Official, Unit.code)
                              .join(Official, Official.id == RoleGrant.official_id)
                              .join(Unit, Unit.id == RoleGrant.unit_id).order_by(Unit.code, Official.username)).all()
        out["roles"] = [{"official": o.username if o.source == "local" else f"{o.username}@{o.source}",
                         "role": g.role, "unit": code} for g, o, code in rows]
        return out

    def _export_connector(self, row: ConnectorInstance) -> dict[str, Any]:
        config = json.loads(self.box.open(row.config_sealed))
        masked = masked_config(row.kind, config)
        refs = {k: (f"env:SSO_SECRET_CONNECTOR_{_env_name(row.name)}_{_env_name(k)}" if masked[k] == "********"
                    else v) for k, v in config.items() if v is not None}
        entry: dict[str, Any] = {"kind": row.kind, "config": refs, "rules": row.rules, "mapping": row.mapping,
                                 "enabled": row.enabled}
        if row.retention_days is not None:
            entry["retention_days"] = row.retention_days
        return entry


def _env_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


def to_toml(data: dict[str, Any]) -> str:
    """TOML for the file's shape: tables of named entries, inline tables for nested values."""
    lines: list[str] = []
    for section, body in data.items():
        if section == "roles":
            for role in body:
                lines += ["", "[[roles]]", *(f"{k} = {_toml_value(v)}" for k, v in role.items())]
        elif section == "installation":
            lines += ["", "[installation]", *(f"{k} = {_toml_value(v)}" for k, v in body.items())]
        else:
            for name, entry in body.items():
                lines += ["", f"[{section}.{_toml_key(name)}]",
                          *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry.items() if v is not None)]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() and key.isascii() else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
                                if v is not None) + " }"
    raise ConfigError(f"cannot write {value!r} in TOML")
