"""The console's pages over what the API offers besides officials and audit: units, groups, roles, applications
(every protocol), upstream identity providers, target systems (with their circuit breakers), the provisioning
queue and reorganisations (with their dry run's progress). One table template for all of them; every row is built
from the same Admin and Systems operations the API uses, so the same scope applies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.admin import scope as perm
from app.admin.applications import RegisteredApplications, ServiceProviders
from app.admin.declarative_apps import sections
from app.admin.identity_providers import IdentityProviders
from app.admin.models import ROLES, Reorganisation
from app.admin.operations import Admin
from app.admin.systems import Systems
from app.applications.clients import describe as describe_client
from app.audit.trail import record
from app.identity.models import Official, Unit
from app.identity.service import find_by_login_name
from app.provisioning.status import target_status
from app.web.admin_auth import Principal
from app.web.admin_routes import _console, _page
from app.web.common import broker_of, form_pairs, locale_of, provisioning_of
from app.web.i18n import Translator

router = APIRouter(prefix="/admin", include_in_schema=False)


@dataclass(frozen=True)
class Action:
    url: str
    label: str


@dataclass
class Row:
    cells: list[Any]
    actions: list[Action] = field(default_factory=list)


def _systems(request: Request, a: Admin) -> Systems:
    broker = broker_of(request)
    return Systems(a.s, a.scope, a.actor, broker.clients, provisioning_of(request))


def _table(request: Request, a: Admin, p: Principal, title: str, table_id: str, columns: list[str],
           rows: list[Row], **extra: Any) -> Response:
    return _page(request, "admin_table.html", a, p, title=title, table_id=table_id, columns=columns, rows=rows,
                 notice=request.query_params.get("notice", "")[:300], **extra)


def _unit_names(a: Admin) -> dict[str, str]:
    return dict(a.s.execute(select(Unit.id, Unit.name)).tuples().all())


@router.get("/units")
async def units(request: Request) -> Response:
    def work(a: Admin, p: Principal) -> Response:
        names = _unit_names(a)
        rows = [Row([u.code, u.name, u.kind, names.get(u.parent_id or "", ""), u.mail_domain or ""])
                for u in a.units() if u.dissolved_at is None]
        return _table(request, a, p, "admin.units", "units",
                      ["admin.code", "admin.name", "admin.kind", "admin.parent", "admin.mail_domain"], rows)
    return await run_in_threadpool(_console, request, work)


@router.get("/groups")
async def groups(request: Request) -> Response:
    def work(a: Admin, p: Principal) -> Response:
        names = _unit_names(a)
        rows = [Row([g.name, names.get(g.unit_id or "", "—"), g.source, len(a.members(g.id))]) for g in a.groups()]
        return _table(request, a, p, "admin.groups", "groups",
                      ["admin.name", "admin.unit", "admin.source", "admin.members"], rows)
    return await run_in_threadpool(_console, request, work)


@router.get("/roles")
async def roles(request: Request) -> Response:
    t = Translator(locale_of(request))

    def work(a: Admin, p: Principal) -> Response:
        names = _unit_names(a)
        rows = []
        for g in a.roles():
            official = a.s.get(Official, g.official_id)
            who = f"{official.display_name} ({official.username})" if official else g.official_id
            actions = [Action(f"/admin/roles/{g.id}/revoke", "admin.revoke")] if p.scope.may_grant(
                g.role, g.unit_id) else []
            rows.append(Row([who, t(f"role.{g.role}"), names.get(g.unit_id, g.unit_id), g.granted_by], actions))
        grantable = [r for r in ROLES if any(p.scope.may_grant(r, u.id) for u in a.units())]
        form = {"roles": grantable, "units": [u for u in a.units() if p.scope.allows(perm.GRANT_ROLES, u.id)]}
        return _table(request, a, p, "admin.roles", "roles",
                      ["admin.official", "admin.role", "admin.unit", "admin.granted_by"], rows,
                      grant_form=form if grantable else None)
    return await run_in_threadpool(_console, request, work)


@router.post("/roles")
async def grant_role(request: Request) -> Response:
    form = dict(await form_pairs(request))
    broker = broker_of(request)

    def work(a: Admin, p: Principal) -> Response:
        official = find_by_login_name(a.s, form.get("username", "")[:200], broker.directories.names(a.s))
        if official is None:
            return RedirectResponse("/admin/roles?notice=" + _quote(form.get("username", "")[:60] + ": ?"),
                                    status_code=303)
        a.grant(official.id, form.get("role", ""), form.get("unit_id", ""))
        return RedirectResponse("/admin/roles", status_code=303)
    return await run_in_threadpool(_console, request, work, form)


@router.post("/roles/{grant_id}/revoke")
async def revoke_role(request: Request, grant_id: str) -> Response:
    form = dict(await form_pairs(request))

    def work(a: Admin, p: Principal) -> Response:
        a.revoke(grant_id)
        return RedirectResponse("/admin/roles", status_code=303)
    return await run_in_threadpool(_console, request, work, form)


@router.get("/clients")
async def clients(request: Request) -> Response:
    """Every application, whatever it speaks: OIDC clients, CAS services, SAML service providers and the apps
    behind the gateway, each with its address and its access rule."""
    broker = broker_of(request)

    def rule(entry: dict[str, Any]) -> str:
        parts = ["MFA"] if entry.get("require_mfa") else []
        parts += [*entry.get("allowed_units", []), *entry.get("allowed_groups", [])]
        return " · ".join(parts)

    def work(a: Admin, p: Principal) -> Response:
        rows = [Row(["OIDC", c.client_id, c.name, " ".join(c.redirect_uris), rule(describe_client(c)),
                     "✓" if c.enabled else "✗"]) for c in _systems(request, a).clients()]
        for section in sections(broker.cas_services, broker.gateway_apps):
            kind = "CAS" if section.name == "cas_services" else "Gateway"
            rows += [Row([kind, e["id"], e["name"], e.get("pattern") or e.get("prefix", ""), rule(e),
                          "✓" if e.get("enabled", True) else "✗"])
                     for e in RegisteredApplications(a.s, a.scope, a.actor, section).list()]
        rows += [Row(["SAML", e["id"], e["name"], " ".join(e["acs"]), rule(e), "✓"])
                 for e in ServiceProviders(a.s, a.scope, a.actor).list()]
        return _table(request, a, p, "admin.clients", "clients",
                      ["admin.protocol", "admin.client_id", "admin.name", "admin.redirect_uris", "admin.policy",
                       "admin.enabled"], rows)
    return await run_in_threadpool(_console, request, work)


@router.get("/identity-providers")
async def identity_providers(request: Request) -> Response:
    broker = broker_of(request)

    def work(a: Admin, p: Principal) -> Response:
        rows = [Row([e["name"], e["display_name"], e["issuer"], " ".join(f"{k}={v}" for k, v in e["levels"].items()),
                     "✓" if e["enabled"] else "✗"]) for e in IdentityProviders(a, broker.upstream_providers).all()]
        return _table(request, a, p, "admin.identity_providers", "identity-providers",
                      ["admin.name", "admin.display_name", "admin.issuer", "admin.levels", "admin.enabled"], rows)
    return await run_in_threadpool(_console, request, work)


@router.get("/connectors")
async def connectors(request: Request) -> Response:
    broker = broker_of(request)
    t = Translator(locale_of(request))

    def work(a: Admin, p: Principal) -> Response:
        a.scope.require(perm.READ, None)  # the API's listing asks the same
        manage = p.scope.allows(perm.MANAGE_CONNECTORS, None)
        rows = []
        for st in target_status(a.s, broker.settings):
            state = "admin.paused" if st.paused else "admin.running"
            actions = [Action(f"/admin/connectors/{st.connector}/test", "admin.test")] if manage else []
            if manage and st.paused:
                actions.append(Action(f"/admin/connectors/{st.connector}/resume", "admin.resume"))
            rows.append(Row([st.connector, st.kind, t(state), st.pending, st.dead, st.failures,
                             st.last_error or ""], actions))
        return _table(request, a, p, "admin.connectors", "connectors",
                      ["admin.name", "admin.kind", "admin.state", "admin.pending", "admin.dead", "admin.failures",
                       "admin.last_error"], rows)
    return await run_in_threadpool(_console, request, work)


@router.post("/connectors/{name}/{action}")
async def connector_action(request: Request, name: str, action: str) -> Response:
    form = dict(await form_pairs(request))

    def work(a: Admin, p: Principal) -> Response:
        systems = _systems(request, a)
        if action == "test":
            notice = f"{name}: {systems.test_connector(name)}"
        elif action == "resume":
            a.scope.require(perm.MANAGE_CONNECTORS, None)
            provisioning_of(request).resume_target(a.s, name)
            record(a.s, "provisioning.target_resumed", a.actor, target=name)
            notice = f"{name}: ok"
        else:
            return RedirectResponse("/admin/connectors", status_code=303)
        return RedirectResponse("/admin/connectors?notice=" + _quote(notice), status_code=303)
    return await run_in_threadpool(_console, request, work, form)


@router.get("/provisioning")
async def provisioning(request: Request) -> Response:
    def work(a: Admin, p: Principal) -> Response:
        systems = _systems(request, a)
        rows = []
        for task in systems.tasks(request.query_params.get("status") or "dead", None, None, 200):
            official = a.s.get(Official, task.official_id)
            actions = [Action(f"/admin/provisioning/{task.id}/retry", "admin.retry")] if task.status == "dead" and (
                official and p.scope.allows(perm.RETRY_PROVISIONING, official.unit_id)) else []
            rows.append(Row([task.id, task.connector, official.display_name if official else task.official_id,
                             task.status, task.attempts, task.outcome or "", task.last_error or ""], actions))
        return _table(request, a, p, "admin.provisioning", "tasks",
                      ["#", "admin.connector", "admin.official", "admin.state", "admin.attempts", "admin.outcome",
                       "admin.last_error"], rows)
    return await run_in_threadpool(_console, request, work)


@router.get("/reorganisations")
async def reorganisations(request: Request) -> Response:
    t = Translator(locale_of(request))

    def work(a: Admin, p: Principal) -> Response:
        a.scope.require(perm.READ, None)
        rows = []
        for plan in a.s.scalars(select(Reorganisation).order_by(Reorganisation.created_at.desc()).limit(100)):
            looked = f"{plan.dry_run['looked_at']:,} / {plan.dry_run['concerned']:,}" if plan.dry_run else ""
            left = len(plan.remaining or []) if plan.units_done else ""  # known once applying has begun
            rows.append(Row([plan.name, plan.effective_date, t(f"reorg.{plan.status}"), looked, left,
                             _dry_run_report(t, plan)]))
        return _table(request, a, p, "admin.reorganisations", "reorganisations",
                      ["admin.plan", "admin.effective_date", "admin.state", "admin.dry_run", "admin.officials_left",
                       "admin.report"], rows)
    return await run_in_threadpool(_console, request, work)


def _dry_run_report(t: Translator, plan: Reorganisation) -> str:
    """The dry run's counts in the reader's language (the stored report, in English, is the API's)."""
    counts = plan.dry_run
    if not counts or plan.status == "previewing":
        return plan.report or ""
    lines = [t("reorg.affected", changing=f"{counts['changing']:,}", concerned=f"{counts['looked_at']:,}")]
    lines += [t("reorg.accounts", target=name, **{k: f"{v:,}" for k, v in target.items()})
              for name, target in counts["accounts"].items()]
    if plan.status == "failed" and plan.report:
        lines.append(plan.report.splitlines()[-1])  # why: the admin error's own words
    return "\n".join(lines)


@router.post("/provisioning/{task_id}/retry")
async def retry(request: Request, task_id: int) -> Response:
    form = dict(await form_pairs(request))

    def work(a: Admin, p: Principal) -> Response:
        _systems(request, a).retry(task_id)
        return RedirectResponse("/admin/provisioning", status_code=303)
    return await run_in_threadpool(_console, request, work, form)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
