"""CAS Protocol 3.0 endpoints: parse, call `app/cas` and `app/signon/cas_login.py`, render."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.cas import responses as answers
from app.cas.server import CasServer
from app.web.common import (
    broker_of,
    clear_cookie,
    query_pairs,
    session_cookie,
)
from app.web.outcomes import after_logout, browser_logouts, journey

router = APIRouter(prefix="/cas")
XML = "application/xml; charset=utf-8"


@router.get("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    flow, params = broker_of(request).cas_login, query_pairs(request)
    return await journey(request, lambda s, bid, sso: flow.start(s, params, bid, sso))


@router.get("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """Ends the SSO session at once (the protocol's contract: CAS clients link here) and tells every application
    of it; returns to `service` only when it is a registered service, never to an arbitrary URL."""
    broker = broker_of(request)
    target = request.query_params.get("service") or request.query_params.get("url") or ""

    def run() -> tuple[str | None, list[str], str | None]:
        with broker.db.session() as s:
            sso = broker.sessions.resolve(s, session_cookie(request))
            registered = bool(target) and broker.cas_server(s).service(target) is not None
            after = target if registered else None
            frames = browser_logouts(broker, s, sso.sid) if sso else []
            upstream = broker.upstream_sign_on.end_session_url(s, sso.sid, after) if sso else None
            sids = broker.logout.end_session(s, sso.sid) if sso else []
        broker.logout.send(sids)
        return after, frames, upstream

    after, frames, upstream = await run_in_threadpool(run)
    response = after_logout(request, frames, after, upstream)
    clear_cookie(response, broker, "sso_session")
    return response


def _answer(request: Request, work: Callable[[CasServer], answers.Answer], cas1: bool = False) -> Response:
    broker = broker_of(request)
    with broker.db.session() as s:
        answer = work(broker.cas_server(s))
    headers = {"Cache-Control": "no-store"}
    if cas1:
        return Response(answers.as_cas1(answer), media_type="text/plain; charset=utf-8", headers=headers)
    if request.query_params.get("format", "").upper() == "JSON":
        return Response(answers.as_json(answer), media_type="application/json", headers=headers)
    if isinstance(answer, answers.Failure) and request.url.path.endswith("/proxy"):
        return Response(answers.proxy_failure_xml(answer), media_type=XML, headers=headers)
    return Response(answers.as_xml(answer), media_type=XML, headers=headers)


def _validator(accept_proxy_tickets: bool, with_attributes: bool) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        params = dict(query_pairs(request))
        return _answer(request, lambda server: server.validate(
            params, accept_proxy_tickets=accept_proxy_tickets, with_attributes=with_attributes))
    return endpoint


@router.get("/validate", tags=["cas"])
def validate(request: Request) -> Response:
    """CAS 1.0: `yes`/`no` and the user name."""
    params = dict(query_pairs(request))
    return _answer(request, lambda server: server.validate(params, accept_proxy_tickets=False,
                                                           with_attributes=False), cas1=True)


router.add_api_route("/serviceValidate", _validator(False, False), methods=["GET"], tags=["cas"],
                     summary="CAS 2.0 service ticket validation")
router.add_api_route("/proxyValidate", _validator(True, False), methods=["GET"], tags=["cas"],
                     summary="CAS 2.0 service and proxy ticket validation")
router.add_api_route("/p3/serviceValidate", _validator(False, True), methods=["GET"], tags=["cas"],
                     summary="CAS 3.0 service ticket validation, with attributes")
router.add_api_route("/p3/proxyValidate", _validator(True, True), methods=["GET"], tags=["cas"],
                     summary="CAS 3.0 service and proxy ticket validation, with attributes")


@router.get("/proxy", tags=["cas"])
def proxy(request: Request) -> Response:
    """A proxy ticket for a back-end service, from a proxy-granting ticket."""
    params = dict(query_pairs(request))
    return _answer(request, lambda server: server.proxy(params.get("pgt", ""), params.get("targetService", "")))
