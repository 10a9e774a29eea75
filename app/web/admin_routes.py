"""The admin console (/admin): server-rendered pages over the same Admin operations and scope as the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.admin import scope as perm
from app.admin.errors import AdminError
from app.admin.operations import Admin
from app.admin.scope import Forbidden
from app.audit.trail import AuditQuery, record
from app.identity.models import Official, Unit
from app.mfa.challenges import open_challenge
from app.web.admin_auth import NeedsMfa, NotAuthenticated, Principal, resolve_principal
from app.web.common import (
    broker_of,
    browser_id,
    csrf_ok,
    form_pairs,
    locale_of,
    remember_browser,
    render,
    session_cookie,
)
from app.web.i18n import Translator

router = APIRouter(prefix="/admin", include_in_schema=False)
Page = Callable[[Admin, Principal], Response]


def _console(request: Request, page: Page, form: dict[str, str] | None = None) -> Response:
    """Resolve the admin, check the CSRF token of a form, run the page; refusals become pages or redirects."""
    broker = broker_of(request)
    bid, _ = browser_id(request)
    t = Translator(locale_of(request))
    if form is not None and not csrf_ok(request, form.get("csrf_token")):
        return render(request, "error.html", status=403, error="csrf", description=t("login.csrf"))
    with broker.db.session() as s:
        try:
            principal = resolve_principal(request, s, require_csrf=False)
        except NotAuthenticated:  # back here after signing in
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        except NeedsMfa:
            sso = broker.sessions.resolve(s, session_cookie(request))
            assert sso is not None
            challenge = open_challenge(s, bid, sso.official_id, "admin", "", sso.amr, sso.sid,
                                       next_url=request.url.path if request.method == "GET" else None)
            return RedirectResponse(f"/login/mfa?c={challenge}", status_code=303)
        except Forbidden:
            return render(request, "error.html", status=403, error="forbidden", description=t("admin.no_role"),
                          hint=t("admin.how_to_become"))
        admin = Admin(s, principal.scope, principal.actor)
        try:
            return page(admin, principal)
        except Forbidden:
            s.rollback()
            return render(request, "error.html", status=403, error="forbidden", description=t("admin.forbidden"))
        except AdminError as exc:
            s.rollback()
            return render(request, "error.html", status=exc.status, error=exc.code, description=exc.message)


def _page(request: Request, template: str, admin: Admin, principal: Principal, status: int = 200,
          **context: Any) -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    units = admin.units()
    response = render(request, template, status=status, me=principal.official, roles=sorted(principal.scope.roles),
                      units=units, unit_names={u.id: u.name for u in units}, csrf_token=broker.csrf_token(bid),
                      can_audit=bool(principal.scope.units(perm.READ_AUDIT)),
                      can_see_reorganisations=principal.scope.allows(perm.READ, None), **context)
    remember_browser(response, request, bid, new)
    return response


@router.get("")
async def home() -> Response:
    return RedirectResponse("/admin/officials", status_code=303)


@router.get("/officials")
async def officials(request: Request, unit_id: str = "", q: str = "", page: int = 1) -> Response:
    def work(a: Admin, p: Principal) -> Response:
        if unit_id:
            a.unit(unit_id)
        found = a.list_officials(unit_id or None, q[:100] or None, None, "username", max(page, 1), 50)
        return _page(request, "admin_officials.html", a, p, found=found, unit_id=unit_id, q=q[:100],
                     can_write=bool(p.scope.units(perm.WRITE_OFFICIALS)), error=None, values={})
    return await run_in_threadpool(_console, request, work)


@router.post("/officials")
async def create_official(request: Request) -> Response:
    form = dict(await form_pairs(request))

    def work(a: Admin, p: Principal) -> Response:
        values = {k: form.get(k, "").strip() for k in ("username", "display_name", "email", "title", "unit_id")}
        try:
            official = a.create_official({**values, "email": values["email"] or None,
                                          "title": values["title"] or None})
        except AdminError as exc:
            a.s.rollback()
            found = a.list_officials(None, None, None, "username", 1, 50)
            return _page(request, "admin_officials.html", a, p, status=exc.status, found=found, unit_id="", q="",
                         can_write=True, error=exc.message, values=values)
        return RedirectResponse(f"/admin/officials/{official.id}", status_code=303)
    return await run_in_threadpool(_console, request, work, form)


def _official_view(request: Request, a: Admin, p: Principal, official_id: str,
                   reset_link: str | None = None) -> Response:
    official = a.official(official_id)
    unit = a.s.get(Unit, official.unit_id) if official.unit_id else None
    return _page(request, "admin_official.html", a, p, official=official, accounts=a.accounts(official_id),
                 unit=unit, can_write=p.scope.allows(perm.WRITE_OFFICIALS, official.unit_id),
                 can_reset=p.scope.allows(perm.RESET_CREDENTIALS, official.unit_id), reset_link=reset_link)


@router.get("/officials/{official_id}")
async def official_page(request: Request, official_id: str) -> Response:
    return await run_in_threadpool(_console, request, lambda a, p: _official_view(request, a, p, official_id))


@router.post("/officials/{official_id}/{action}")
async def official_action(request: Request, official_id: str, action: str) -> Response:
    form = dict(await form_pairs(request))
    logout = broker_of(request).logout
    ended: list[str] = []

    def work(a: Admin, p: Principal) -> Response:
        if action in ("disable", "enable"):
            a.set_enabled(official_id, action == "enable")
        elif action == "edit":
            current = a.official(official_id)
            wanted = {k: form.get(k, "").strip() or None for k in ("display_name", "email", "title", "phone")}
            changed = {k: v for k, v in wanted.items() if v != getattr(current, k) and (v or k != "display_name")}
            if changed:
                a.update_official(official_id, form.get("version"), changed)
        elif action == "reset-link":
            official = a.official(official_id, perm.RESET_CREDENTIALS)
            link = broker_of(request).recovery.helpdesk_link(a.s, official, p.official.username, a.actor)
            return _official_view(request, a, p, official_id, reset_link=link)
        elif action == "end-sessions":
            official = a.official(official_id, perm.RESET_CREDENTIALS)
            ended.extend(logout.end_everywhere(a.s, official.id, "ended_by_admin"))
            record(a.s, "session.ended_by_admin", a.actor, unit_id=official.unit_id, target=official.id,
                   details={"sessions_ended": len(ended)})
        else:
            return render(request, "error.html", status=404, error="not_found", description=action)
        return RedirectResponse(f"/admin/officials/{official_id}", status_code=303)
    response = await run_in_threadpool(_console, request, work, form)
    await run_in_threadpool(logout.send, ended)  # after the commit
    return response


def _actor_names(a: Admin, official_ids: list[str]) -> dict[str, str]:
    """'Name (username, unit)' for each official who acted: people read names, not ids."""
    rows = a.s.execute(select(Official.id, Official.display_name, Official.username, Unit.name)
                       .outerjoin(Unit, Unit.id == Official.unit_id).where(Official.id.in_(set(official_ids)))).all()
    return {i: f"{name} ({username}{', ' + unit if unit else ''})" for i, name, username, unit in rows}


@router.get("/audit")
async def audit(request: Request, action: str = "") -> Response:
    def work(a: Admin, p: Principal) -> Response:
        events = a.audit(AuditQuery(action=action[:60] or None, limit=200))
        return _page(request, "admin_audit.html", a, p, events=events, action=action[:60],
                     actors=_actor_names(a, [e.actor for e in events if e.actor_kind == "official"]))
    return await run_in_threadpool(_console, request, work)
