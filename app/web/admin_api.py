"""/admin/api: thin routes over Admin and Systems. Every call resolves the principal and its scope first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.admin import bulk
from app.admin import schemas as api
from app.admin import scope as perm
from app.admin.applications import RegisteredApplications, ServiceProviders
from app.admin.declarative_apps import sections
from app.admin.errors import NotFound
from app.admin.identity_providers import IdentityProviders
from app.admin.models import Reorganisation
from app.admin.operations import DIRECTORY_OWNED, Admin
from app.admin.reorg import Reorganiser
from app.admin.scope import Forbidden
from app.admin.systems import Systems
from app.applications.clients import ClientSpec
from app.audit.trail import AuditQuery, as_dict, export_csv, record
from app.identity.models import Official, Unit
from app.store.models import Client
from app.web.admin_auth import Principal, resolve_principal
from app.web.common import broker_of, provisioning_of

router = APIRouter(prefix="/admin/api", tags=["admin"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
T = TypeVar("T")


def _run(request: Request, work: Callable[[Admin, Principal], T], write: bool = False) -> T:
    broker = broker_of(request)
    with broker.db.session() as s:
        principal = resolve_principal(request, s, require_csrf=write)
        return work(Admin(s, principal.scope, principal.actor), principal)


def _systems(request: Request, admin: Admin) -> Systems:
    broker = broker_of(request)
    return Systems(admin.s, admin.scope, admin.actor, broker.clients, provisioning_of(request))


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def unit_out(unit: Unit) -> api.UnitOut:
    return api.UnitOut(id=unit.id, code=unit.code, name=unit.name, kind=unit.kind, parent_id=unit.parent_id,
                       source=unit.source, mail_domain=unit.mail_domain, merged_into_id=unit.merged_into_id,
                       version=unit.version)


def official_out(o: Official) -> api.OfficialOut:
    return api.OfficialOut(id=o.id, username=o.username, display_name=o.display_name, given_name=o.given_name,
                           family_name=o.family_name, middle_name=o.middle_name, email=o.email, phone=o.phone,
                           title=o.title, unit_id=o.unit_id, enabled=o.enabled, source=o.source, version=o.version,
                           directory_owned=list(DIRECTORY_OWNED) if o.source != "local" else [])


def client_out(c: Client, secret: str | None = None) -> api.ClientOut:
    return api.ClientOut(client_id=c.client_id, name=c.name, redirect_uris=c.redirect_uris,
                         post_logout_redirect_uris=c.post_logout_redirect_uris, grant_types=c.grant_types,
                         scopes=c.scopes, token_endpoint_auth_method=c.token_endpoint_auth_method,
                         first_party=c.first_party, require_mfa=c.require_mfa, launch_url=c.launch_url,
                         connector=c.connector, backchannel_logout_uri=c.backchannel_logout_uri,
                         scim_unit_id=c.scim_unit_id, enabled=c.enabled, version=c.version, client_secret=secret)


def _json(model: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


# --- who am I --------------------------------------------------------------------------------------------
@router.get("/me", response_model=api.MeOut)
def me(request: Request) -> api.MeOut:
    def work(admin: Admin, p: Principal) -> api.MeOut:
        mine = [g for g in admin.roles() if g.official_id == p.official.id]
        return api.MeOut(official_id=p.official.id, username=p.official.username,
                         roles=[api.RoleOut.model_validate(g, from_attributes=True) for g in mine])
    return _run(request, work)


# --- units ---------------------------------------------------------------------------------------------
@router.get("/units", response_model=list[api.UnitOut])
def list_units(request: Request) -> list[api.UnitOut]:
    return _run(request, lambda a, _: [unit_out(u) for u in a.units()])


@router.post("/units", response_model=api.UnitOut, status_code=201)
def create_unit(request: Request, body: api.UnitIn) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        unit = a.create_unit(body.code, body.name, body.kind, body.parent_id)
        return _json(unit_out(unit), 201, _etag(unit.version))
    return _run(request, work, write=True)


@router.get("/units/{unit_id}", response_model=api.UnitOut)
def get_unit(request: Request, unit_id: str) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        unit = a.unit(unit_id)
        return _json(unit_out(unit), headers=_etag(unit.version))
    return _run(request, work)


@router.patch("/units/{unit_id}", response_model=api.UnitOut)
def patch_unit(request: Request, unit_id: str, body: api.UnitPatch,
               if_match: str | None = Header(None)) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        unit = a.update_unit(unit_id, if_match, body.name, body.parent_id, "parent_id" in body.model_fields_set)
        return _json(unit_out(unit), headers=_etag(unit.version))
    return _run(request, work, write=True)


# --- officials -----------------------------------------------------------------------------------------
@router.get("/officials", response_model=api.OfficialPage)
def list_officials(request: Request, unit_id: str | None = None, q: str | None = Query(None, max_length=100),
                   enabled: bool | None = None, sort: str = "username", page: int = 1,
                   per_page: int = 50) -> api.OfficialPage:
    def work(a: Admin, _: Principal) -> api.OfficialPage:
        if unit_id:
            a.unit(unit_id)
        found = a.list_officials(unit_id, q, enabled, sort, page, per_page)
        return api.OfficialPage(items=[official_out(o) for o in found.items], total=found.total, page=found.page,
                                per_page=found.per_page)
    return _run(request, work)


@router.post("/officials", response_model=api.OfficialOut, status_code=201)
def create_official(request: Request, body: api.OfficialIn) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        official = a.create_official(body.model_dump())
        return _json(official_out(official), 201, _etag(official.version))
    return _run(request, work, write=True)


@router.get("/officials/export", response_class=Response)
def export_officials(request: Request, unit_id: str | None = None,
                     format: str = Query("csv", pattern="^(csv|xlsx)$")) -> Response:
    """The officials in your units, in the columns the import takes."""
    def work(a: Admin, _: Principal) -> Response:
        if unit_id:
            a.unit(unit_id)
        found = a.list_officials(unit_id, per_page=500, page=1)
        officials = list(found.items)
        for page in range(2, (found.total + 499) // 500 + 1):
            officials += a.list_officials(unit_id, per_page=500, page=page).items
        codes = {u.id: u.code for u in a.s.scalars(select(Unit))}
        rows = bulk.export_rows(officials, codes)
        if format == "xlsx":
            return Response(bulk.export_xlsx(rows), media_type=XLSX,
                            headers={"Content-Disposition": 'attachment; filename="can-bo.xlsx"'})
        return StreamingResponse(bulk.export_csv(rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="can-bo.csv"'})
    return _run(request, work)


@router.post("/imports", status_code=201)
async def upload_import(request: Request) -> JSONResponse:
    """Upload a CSV or XLSX (multipart field `file`): nothing changes yet; every row says what it would do."""
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return JSONResponse({"error": "invalid_request", "message": "send the list as multipart field 'file'",
                             "field": "file"}, status_code=400)
    content, filename = await upload.read(), upload.filename or "upload.csv"

    def work(a: Admin, _: Principal) -> JSONResponse:
        if not a.scope.units(perm.IMPORT):
            raise Forbidden(perm.IMPORT)
        job = bulk.BulkImport(a).preview(filename, content)
        return JSONResponse(_import_view(bulk.BulkImport(a), job.id), status_code=201)
    return await run_in_threadpool(_run, request, work, True)


@router.get("/imports/{job_id}")
def import_status(request: Request, job_id: str) -> dict[str, Any]:
    return _run(request, lambda a, _: _import_view(bulk.BulkImport(a), job_id))


@router.post("/imports/{job_id}/commit")
def commit_import(request: Request, job_id: str, max_rows: int | None = Query(None, ge=1)) -> dict[str, Any]:
    """Apply the rows, in batches; with max_rows, stop after about that many (call again to go on)."""
    def work(a: Admin, _: Principal) -> dict[str, Any]:
        bulk.BulkImport(a).commit(job_id, max_rows)
        return _import_view(bulk.BulkImport(a), job_id)
    return _run(request, work, write=True)


def _import_view(importer: bulk.BulkImport, job_id: str) -> dict[str, Any]:
    job = importer.job(job_id)
    progress = importer.progress(job)
    return {"id": job.id, "file": job.filename, "status": progress.status, "position": progress.position,
            "total": progress.total, "counts": progress.counts,
            "rows": [r for r in job.results if r["errors"]] or job.results[:200]}


@router.get("/officials/{official_id}", response_model=api.OfficialOut)
def get_official(request: Request, official_id: str) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        official = a.official(official_id)
        return _json(official_out(official), headers=_etag(official.version))
    return _run(request, work)


@router.patch("/officials/{official_id}", response_model=api.OfficialOut)
def patch_official(request: Request, official_id: str, body: api.OfficialPatch,
                   if_match: str | None = Header(None)) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        official = a.update_official(official_id, if_match, body.model_dump(exclude_unset=True))
        return _json(official_out(official), headers=_etag(official.version))
    return _run(request, work, write=True)


@router.post("/officials/{official_id}/disable", response_model=api.OfficialOut)
def disable_official(request: Request, official_id: str) -> api.OfficialOut:
    return _run(request, lambda a, _: official_out(a.set_enabled(official_id, False)), write=True)


@router.post("/officials/{official_id}/enable", response_model=api.OfficialOut)
def enable_official(request: Request, official_id: str) -> api.OfficialOut:
    return _run(request, lambda a, _: official_out(a.set_enabled(official_id, True)), write=True)


@router.get("/officials/{official_id}/accounts", response_model=list[api.AccountOut])
def official_accounts(request: Request, official_id: str) -> list[api.AccountOut]:
    def work(a: Admin, _: Principal) -> list[api.AccountOut]:
        return [api.AccountOut(connector=r.connector, key=r.key, target_id=r.target_id, state=r.state,
                               updated_at=r.updated_at) for r in a.accounts(official_id)]
    return _run(request, work)


@router.post("/officials/{official_id}/reset-link")
def reset_link(request: Request, official_id: str) -> dict[str, str]:
    """Helpdesk: a one-time password reset link to hand to the official (works once, expires)."""
    def work(a: Admin, p: Principal) -> dict[str, str]:
        official = a.official(official_id, perm.RESET_CREDENTIALS)
        return {"url": broker_of(request).recovery.helpdesk_link(a.s, official, p.official.username,
                                                                         a.actor)}
    return _run(request, work, write=True)


@router.post("/officials/{official_id}/mfa-reset", status_code=204)
def mfa_reset(request: Request, official_id: str) -> Response:
    def work(a: Admin, _: Principal) -> Response:
        official = a.official(official_id, perm.RESET_CREDENTIALS)
        broker_of(request).factors.reset_all(a.s, official.id)
        record(a.s, "mfa.reset_by_helpdesk", a.actor, unit_id=official.unit_id, target=official.id)
        return Response(status_code=204)
    return _run(request, work, write=True)


@router.post("/officials/{official_id}/sessions/end", status_code=204)
def end_sessions(request: Request, official_id: str) -> Response:
    """Helpdesk: end every session of the official and revoke every token family, offline grants included."""
    logout = broker_of(request).logout

    def work(a: Admin, _: Principal) -> Any:
        official = a.official(official_id, perm.RESET_CREDENTIALS)
        sids = logout.end_everywhere(a.s, official.id, "ended_by_admin")
        record(a.s, "session.ended_by_admin", a.actor, unit_id=official.unit_id, target=official.id,
               details={"sessions_ended": len(sids)})
        return sids
    logout.send(_run(request, work, write=True))  # after the commit: an RP that checks back sees it ended
    return Response(status_code=204)


# --- groups --------------------------------------------------------------------------------------------
@router.get("/groups", response_model=list[api.GroupOut])
def list_groups(request: Request) -> list[api.GroupOut]:
    return _run(request, lambda a, _: [api.GroupOut.model_validate(g, from_attributes=True) for g in a.groups()])


@router.post("/groups", response_model=api.GroupOut, status_code=201)
def create_group(request: Request, body: api.GroupIn) -> api.GroupOut:
    return _run(request, lambda a, _: api.GroupOut.model_validate(a.create_group(body.name, body.unit_id),
                                                                  from_attributes=True), write=True)


@router.get("/groups/{group_id}/members", response_model=list[api.OfficialOut])
def group_members(request: Request, group_id: str) -> list[api.OfficialOut]:
    return _run(request, lambda a, _: [official_out(o) for o in a.members(group_id)])


@router.put("/groups/{group_id}/members/{official_id}", status_code=204)
def add_member(request: Request, group_id: str, official_id: str) -> Response:
    _run(request, lambda a, _: a.set_member(group_id, official_id, True), write=True)
    return Response(status_code=204)


@router.delete("/groups/{group_id}/members/{official_id}", status_code=204)
def remove_member(request: Request, group_id: str, official_id: str) -> Response:
    _run(request, lambda a, _: a.set_member(group_id, official_id, False), write=True)
    return Response(status_code=204)


# --- roles ---------------------------------------------------------------------------------------------
@router.get("/roles", response_model=list[api.RoleOut])
def list_roles(request: Request) -> list[api.RoleOut]:
    return _run(request, lambda a, _: [api.RoleOut.model_validate(g, from_attributes=True) for g in a.roles()])


@router.post("/roles", response_model=api.RoleOut, status_code=201)
def grant_role(request: Request, body: api.RoleIn) -> api.RoleOut:
    return _run(request, lambda a, _: api.RoleOut.model_validate(a.grant(body.official_id, body.role, body.unit_id),
                                                                 from_attributes=True), write=True)


@router.delete("/roles/{grant_id}", status_code=204)
def revoke_role(request: Request, grant_id: str) -> Response:
    _run(request, lambda a, _: a.revoke(grant_id), write=True)
    return Response(status_code=204)


# --- clients -------------------------------------------------------------------------------------------
@router.get("/clients", response_model=list[api.ClientOut])
def list_clients(request: Request) -> list[api.ClientOut]:
    return _run(request, lambda a, _: [client_out(c) for c in _systems(request, a).clients()])


@router.post("/clients", response_model=api.ClientOut, status_code=201)
def create_client(request: Request, body: api.ClientIn) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        data = body.model_dump()
        row, secret = _systems(request, a).create_client(ClientSpec(**data))
        return _json(client_out(row, secret), 201, _etag(row.version))
    return _run(request, work, write=True)


@router.get("/clients/{client_id}", response_model=api.ClientOut)
def get_client(request: Request, client_id: str) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        row = _systems(request, a).client(client_id)
        return _json(client_out(row), headers=_etag(row.version))
    return _run(request, work)


@router.patch("/clients/{client_id}", response_model=api.ClientOut)
def patch_client(request: Request, client_id: str, body: api.ClientPatch,
                 if_match: str | None = Header(None)) -> JSONResponse:
    def work(a: Admin, _: Principal) -> JSONResponse:
        row = _systems(request, a).update_client(client_id, if_match, body.model_dump(exclude_unset=True))
        return _json(client_out(row), headers=_etag(row.version))
    return _run(request, work, write=True)


@router.post("/clients/{client_id}/rotate-secret")
def rotate_client_secret(request: Request, client_id: str) -> dict[str, str]:
    return _run(request, lambda a, _: {"client_id": client_id,
                                       "client_secret": _systems(request, a).rotate_secret(client_id)}, write=True)


@router.delete("/clients/{client_id}", status_code=204)
def remove_client(request: Request, client_id: str) -> Response:
    _run(request, lambda a, _: _systems(request, a).remove_client(client_id), write=True)
    return Response(status_code=204)


# --- connectors and provisioning -----------------------------------------------------------------------
@router.get("/saml/service-providers")
def list_saml_sps(request: Request) -> list[dict[str, Any]]:
    return _run(request, lambda a, _: ServiceProviders(a.s, a.scope, a.actor).list())


@router.post("/saml/service-providers", status_code=201)
def register_saml_sp(request: Request, body: api.SamlSpIn) -> dict[str, Any]:
    """Register a SAML service provider from its metadata; the IdP metadata to give it is /saml/metadata."""
    return _run(request, lambda a, _: ServiceProviders(a.s, a.scope, a.actor).register(body.model_dump()),
                write=True)


@router.delete("/saml/service-providers/{sp_id}", status_code=204)
def remove_saml_sp(request: Request, sp_id: str) -> Response:
    _run(request, lambda a, _: ServiceProviders(a.s, a.scope, a.actor).remove(sp_id), write=True)
    return Response(status_code=204)


AppKind = Literal["cas_services", "gateway_apps"]

def _apps(request: Request, a: Admin, kind: str) -> RegisteredApplications:
    broker = broker_of(request)
    section = next(s for s in sections(broker.cas_services, broker.gateway_apps) if s.name == kind)
    return RegisteredApplications(a.s, a.scope, a.actor, section)


@router.get("/applications/{kind}")
def list_applications(request: Request, kind: AppKind) -> list[dict[str, Any]]:
    """CAS services (`cas_services`) or gateway apps (`gateway_apps`)."""
    return _run(request, lambda a, _: _apps(request, a, kind).list())


@router.put("/applications/{kind}/{app_id}")
def put_application(request: Request, kind: AppKind, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create or update, in the fields the list shows (those of the configuration file's entries)."""
    return _run(request, lambda a, _: _apps(request, a, kind).register(app_id, body), write=True)


@router.delete("/applications/{kind}/{app_id}", status_code=204)
def delete_application(request: Request, kind: AppKind, app_id: str) -> Response:
    _run(request, lambda a, _: _apps(request, a, kind).remove(app_id), write=True)
    return Response(status_code=204)


@router.get("/connectors")
def list_connectors(request: Request) -> list[dict[str, Any]]:
    return _run(request, lambda a, _: _systems(request, a).connectors())


@router.put("/connectors/{name}", status_code=204)
def save_connector(request: Request, name: str, body: api.ConnectorIn) -> Response:
    _run(request, lambda a, _: _systems(request, a).save_connector(
        name, body.kind, body.config, body.rules, body.mapping, body.retention_days), write=True)
    return Response(status_code=204)


@router.post("/connectors/{name}/test")
def test_connector(request: Request, name: str) -> dict[str, str]:
    return _run(request, lambda a, _: {"result": _systems(request, a).test_connector(name)}, write=True)


@router.get("/provisioning/tasks", response_model=list[api.TaskOut])
def list_tasks(request: Request, status: str | None = None, connector: str | None = None,
               official_id: str | None = None, limit: int = Query(100, ge=1, le=1000)) -> list[api.TaskOut]:
    return _run(request, lambda a, _: [api.TaskOut.model_validate(t, from_attributes=True) for t in
                                       _systems(request, a).tasks(status, connector, official_id, limit)])


@router.post("/provisioning/tasks/{task_id}/retry", status_code=204)
def retry_task(request: Request, task_id: int) -> Response:
    _run(request, lambda a, _: _systems(request, a).retry(task_id), write=True)
    return Response(status_code=204)


# --- audit ---------------------------------------------------------------------------------------------
@router.get("/audit", response_model=list[api.AuditOut])
def audit_events(request: Request, action: str | None = None, actor: str | None = None,
                 outcome: str | None = None, since: int | None = None, until: int | None = None,
                 before_seq: int | None = None, limit: int = Query(100, ge=1, le=10000),
                 format: str = Query("json", pattern="^(json|csv)$")) -> Response:
    query = AuditQuery(action=action, actor=actor, outcome=outcome, since=since, until=until, limit=limit,
                       before_seq=before_seq)

    def work(a: Admin, _: Principal) -> Response:
        events = a.audit(query)
        if format == "csv":
            return StreamingResponse(export_csv(events), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
        return JSONResponse([as_dict(e) for e in events])
    return _run(request, work)


# --- reorganisations -----------------------------------------------------------------------------------
def _reorganiser(request: Request, a: Admin) -> Reorganiser:
    return Reorganiser(a.s, a.actor, provisioning_of(request))


def reorg_out(plan: Reorganisation) -> api.ReorganisationOut:
    dry_run = (api.ReorganisationDryRun(looked_at=plan.dry_run["looked_at"], concerned=plan.dry_run["concerned"])
               if plan.dry_run else None)  # None for plans stored before dry runs went through the worker
    return api.ReorganisationOut(id=plan.id, name=plan.name, effective_date=plan.effective_date, status=plan.status,
                                 operations=plan.operations, report=plan.report, dry_run=dry_run,
                                 remaining=len(plan.remaining or []))


@router.post("/reorganisations", response_model=api.ReorganisationOut, status_code=201)
def plan_reorganisation(request: Request, body: api.ReorganisationIn) -> api.ReorganisationOut:
    """Store a reform and dry-run it: per target system, how many accounts change unit, username, address. A plan
    concerning more than a couple of thousand officials answers `previewing`: the worker goes through it, and GET
    shows how far (`dry_run`), then the report."""
    def work(a: Admin, _: Principal) -> api.ReorganisationOut:
        a.scope.require(perm.REORGANISE, None)
        return reorg_out(_reorganiser(request, a).plan(body.name, body.effective_date, body.operations))
    return _run(request, work, write=True)


@router.get("/reorganisations/{plan_id}", response_model=api.ReorganisationOut)
def get_reorganisation(request: Request, plan_id: str) -> api.ReorganisationOut:
    def work(a: Admin, _: Principal) -> api.ReorganisationOut:
        a.scope.require(perm.READ, None)
        plan = a.s.get(Reorganisation, plan_id)
        if plan is None:
            raise NotFound(f"no reorganisation {plan_id!r}")
        return reorg_out(plan)
    return _run(request, work)


@router.post("/reorganisations/{plan_id}/apply", response_model=api.ReorganisationOut)
def apply_reorganisation(request: Request, plan_id: str,
                         batches: int | None = Query(None, ge=1)) -> api.ReorganisationOut:
    """Apply from where it stopped; with batches, only that many batches of officials (call again to go on)."""
    def work(a: Admin, _: Principal) -> api.ReorganisationOut:
        a.scope.require(perm.REORGANISE, None)
        _reorganiser(request, a).apply(plan_id, batches)
        plan = a.s.get(Reorganisation, plan_id)
        assert plan is not None
        return reorg_out(plan)
    return _run(request, work, write=True)


# --- upstream identity providers and linked identities ------------------------------------------------------
def _idps(request: Request, a: Admin) -> IdentityProviders:
    return IdentityProviders(a, broker_of(request).upstream_providers)


@router.get("/identity-providers")
def list_identity_providers(request: Request) -> list[dict[str, Any]]:
    return _run(request, lambda a, _: _idps(request, a).all())


@router.put("/identity-providers/{name}")
def save_identity_provider(request: Request, name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Add or replace an upstream OpenID provider (fields as in `sso-broker idp add`; `client_secret` is
    sealed and never returned)."""
    return _run(request, lambda a, _: _idps(request, a).save({**body, "name": name}), write=True)


@router.post("/identity-providers/{name}/test")
def test_identity_provider(request: Request, name: str) -> dict[str, Any]:
    return _run(request, lambda a, _: {"checks": _idps(request, a).test(name)}, write=True)


@router.delete("/identity-providers/{name}", status_code=204)
def remove_identity_provider(request: Request, name: str) -> Response:
    _run(request, lambda a, _: _idps(request, a).remove(name), write=True)
    return Response(status_code=204)


@router.get("/officials/{official_id}/identity-links")
def official_identity_links(request: Request, official_id: str) -> list[dict[str, Any]]:
    return _run(request, lambda a, _: _idps(request, a).links_of(official_id))


@router.delete("/officials/{official_id}/identity-links/{provider}/{subject}", status_code=204)
def remove_identity_link(request: Request, official_id: str, provider: str, subject: str) -> Response:
    _run(request, lambda a, _: _idps(request, a).unlink(official_id, provider, subject), write=True)
    return Response(status_code=204)
