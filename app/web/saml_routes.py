"""SAML 2.0 identity provider endpoints: parse, call `app/saml` and `app/signon/saml_login.py`, render."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.saml.bindings import read_redirect
from app.saml.metadata import idp_metadata
from app.saml.server import AcceptedRequest, SamlIdentityProvider
from app.saml.xml import SamlError
from app.signon.outcomes import FlowOutcome, ShowError
from app.store.saml_store import signing_material
from app.store.sessions import ActiveSession
from app.web.common import broker_of, clear_cookie, form_pairs, render, session_cookie
from app.web.outcomes import NO_STORE, browser_logouts, journey, signed_out_page

router = APIRouter(prefix="/saml")


@router.get("/metadata", tags=["saml"])
def metadata(request: Request) -> Response:
    """The IdP's metadata: entity ID, SSO endpoints (HTTP-Redirect, HTTP-POST), the signing certificate."""
    broker = broker_of(request)
    with broker.db.session() as s:
        cert = signing_material(s, broker.box, broker.issuer).cert_pem
    body = idp_metadata(f"{broker.issuer}/saml/metadata", f"{broker.issuer}/saml/sso", cert,
                        f"{broker.issuer}/saml/slo")
    return Response(body, media_type="application/samlmetadata+xml", headers={"Cache-Control": "public, max-age=300"})


async def _journey(request: Request, accept: Callable[[SamlIdentityProvider], AcceptedRequest]) -> Response:
    broker = broker_of(request)

    def start(s: Session, bid: str, sso: ActiveSession | None) -> FlowOutcome:
        try:
            accepted = accept(broker.saml_idp(s))
        except SamlError as exc:
            return ShowError("invalid_request", f"SAML: {exc}")
        return broker.saml_login.start(s, accepted, bid, sso)

    return await journey(request, start)


@router.get("/sso", include_in_schema=False)
async def sso_redirect(request: Request) -> Response:
    query = request.url.query
    return await _journey(request, lambda idp: idp.accept_redirect(read_redirect(query, "SAMLRequest")))


@router.post("/sso", include_in_schema=False)
async def sso_post(request: Request) -> Response:
    form = dict(await form_pairs(request))
    return await _journey(request, lambda idp: idp.accept_post(form.get("SAMLRequest", ""),
                                                                form.get("RelayState", "")))


@router.get("/init", include_in_schema=False)
async def idp_initiated(request: Request, sp: str = "", RelayState: str = "") -> Response:  # noqa: N803
    """From the portal's launcher: an unsolicited Response to the SP's default ACS."""
    return await _journey(request, lambda idp: idp.initiated(sp, RelayState[:512]))



@router.get("/slo", include_in_schema=False)
async def single_logout(request: Request) -> Response:
    """SP-initiated single logout (HTTP-Redirect): the SSO session ends, every application of it is told (the
    queue for the back channel, frames for the other SAML SPs), then the SP gets its LogoutResponse. A
    LogoutResponse arriving here answers one of our frames: nothing more to do."""
    broker = broker_of(request)
    query = request.url.query
    if query.startswith("SAMLResponse=") or "&SAMLResponse=" in query:
        return render(request, "logout.html", done=True)

    def run() -> tuple[list[str], str | None, list[str]] | str:
        with broker.db.session() as s:
            idp = broker.saml_idp(s)
            try:
                message = read_redirect(query, "SAMLRequest")
                info, sp = idp.accept_logout(message)
            except SamlError as exc:
                return str(exc)
            sso = broker.sessions.resolve(s, session_cookie(request))
            frames = browser_logouts(broker, s, sso.sid, skip_sp=sp.id) if sso else []
            sids = broker.logout.end_session(s, sso.sid) if sso else []
            back = idp.logout_response_url(sp, info.id, message.relay_state)
        broker.logout.send(sids)
        return frames, back, sids

    outcome = await run_in_threadpool(run)
    if isinstance(outcome, str):
        return render(request, "error.html", status=400, error="invalid_request", description=f"SAML: {outcome}")
    frames, back, _ = outcome
    response = (RedirectResponse(back, status_code=303, headers=NO_STORE) if back and not frames
                else signed_out_page(request, frames, back))
    clear_cookie(response, broker, "sso_session")
    return response
