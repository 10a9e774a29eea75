"""The officials' portal (/account): their systems, accounts, sessions and security settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import delete, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.account.password import ChangeResult
from app.account.portal import build_portal
from app.audit.trail import Actor, record
from app.db import now
from app.identity.models import Official
from app.mfa.challenges import load_challenge, open_challenge
from app.mfa.factors import FactorRefused, parse_credential
from app.mfa.totp import qr_data_uri
from app.store.models import Consent, TokenGrant
from app.store.sessions import ActiveSession
from app.upstream import links
from app.web.common import (
    CREDENTIAL_BODY,
    broker_of,
    browser_id,
    checked,
    clear_cookie,
    client_ip,
    csrf_header,
    csrf_ok,
    form_pairs,
    remember_browser,
    render,
    session_cookie,
)
from app.web.i18n import MESSAGES

router = APIRouter()
# Removing a factor or changing where reset links go needs a login this recent (seconds).
RECENT_LOGIN = 900
Work = Callable[[Session, ActiveSession, dict[str, str]], Any]


@router.get("/account", include_in_schema=False)
async def account(request: Request, msg: str = "") -> Response:
    broker = broker_of(request)
    bid, new = browser_id(request)
    with broker.db.session() as s:
        sso = broker.sessions.resolve(s, session_cookie(request))
        official = s.get(Official, sso.official_id) if sso else None
        if sso is None or official is None:
            return RedirectResponse("/login", status_code=303)
        portal = build_portal(s, official, sso.sid, broker.sessions, broker.factors)
    notice = f"notice.{msg}" if f"notice.{msg}" in MESSAGES["en"] else None
    response = render(request, "account.html", portal=portal, notice=notice, csrf_token=broker.csrf_token(bid))
    remember_browser(response, request, bid, new)
    return response


async def _act(request: Request, work: Work) -> Response:
    """A portal form: CSRF-checked, signed in; `work` returns a notice key, or a response of its own."""
    broker = broker_of(request)
    form = dict(await form_pairs(request))
    bid, _ = browser_id(request)
    if not csrf_ok(request, form.get("csrf_token")):
        return RedirectResponse("/account?msg=csrf", status_code=303)

    def run() -> Any:
        with broker.db.session() as s:
            sso = broker.sessions.resolve(s, session_cookie(request))
            return None if sso is None else work(s, sso, form)

    result = await run_in_threadpool(run)
    if result is None:
        return RedirectResponse("/login", status_code=303)
    if isinstance(result, Response):
        return result
    return RedirectResponse(f"/account?msg={result}", status_code=303)


def _audit(s: Session, request: Request, sso: ActiveSession, action: str, **details: Any) -> None:
    official = s.get(Official, sso.official_id)
    record(s, action, Actor(sso.official_id, "official", client_ip(request)),
           unit_id=official.unit_id if official else None, details=details)


def _recent(sso: ActiveSession) -> bool:
    return now() - sso.auth_time <= RECENT_LOGIN


@router.post("/account/consents/{client_id}/revoke", include_in_schema=False)
async def revoke_consent(request: Request, client_id: str) -> Response:
    checked([("client_id", client_id)])

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        s.execute(delete(Consent).where(Consent.official_id == sso.official_id, Consent.client_id == client_id))
        # Withdrawing consent also ends what it allowed: the client's tokens for this official.
        s.execute(update(TokenGrant).where(TokenGrant.official_id == sso.official_id,
                                           TokenGrant.client_id == client_id, TokenGrant.revoked_at.is_(None))
                  .values(revoked_at=now(), revoked_reason="consent_withdrawn"))
        return "consent_revoked"

    return await _act(request, work)


@router.post("/account/grants/revoke", include_in_schema=False)
async def revoke_offline_grant(request: Request) -> Response:
    """Withdraw one application's access: every token family it holds for this official ends."""

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        client_id = form.get("client_id", "")[:100]
        ended = s.execute(update(TokenGrant).where(TokenGrant.official_id == sso.official_id,
                                                   TokenGrant.client_id == client_id,
                                                   TokenGrant.revoked_at.is_(None))
                          .values(revoked_at=now(), revoked_reason="revoked_by_official"))
        _audit(s, request, sso, "grant.revoked", client_id=client_id, families=ended.rowcount)  # type: ignore[attr-defined]
        return "grant_revoked"

    return await _act(request, work)


# --- password -----------------------------------------------------------------------------------------
@router.post("/account/password", include_in_schema=False)
async def change_password_form(request: Request) -> Response:
    broker = broker_of(request)
    ip = client_ip(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> Any:
        current, new = form.get("current_password", "")[:1024], form.get("new_password", "")[:1024]
        result = broker.password_change.change(s, sso.official_id, current, new, ip)
        _audit(s, request, sso, "password.changed", outcome=result.error or "ok")
        if result.status == 200:
            return "password_changed"
        official = s.get(Official, sso.official_id)
        assert official is not None
        portal = build_portal(s, official, sso.sid, broker.sessions, broker.factors)
        bid, _ = browser_id(request)
        return render(request, "account.html", status=result.status, portal=portal, notice=None,
                      password_error=result.message, csrf_token=broker.csrf_token(bid))

    return await _act(request, work)


PASSWORD_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["current_password", "new_password"],
    "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string"}}}}}}}


@router.post("/account/api/password", tags=["portal"], openapi_extra=PASSWORD_BODY)
async def change_password(request: Request, bid: str = Depends(csrf_header)) -> Response:
    """JSON API for the portal: {"current_password", "new_password"}; CSRF token in X-CSRF-Token."""
    broker = broker_of(request)
    try:
        body = await request.json()
        current, new = str(body["current_password"]), str(body["new_password"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "invalid_request",
                             "message": "send JSON with current_password and new_password"}, status_code=400)
    if "\x00" in current + new or len(current) > 1024 or len(new) > 1024:
        return JSONResponse({"error": "invalid_request", "message": "password too long or malformed"},
                            status_code=400)
    ip = client_ip(request)

    def run() -> ChangeResult:
        with broker.db.session() as s:
            sso = broker.sessions.resolve(s, session_cookie(request))
            if sso is None:
                return ChangeResult(401, "login_required", "Sign in again.")
            return broker.password_change.change(s, sso.official_id, current, new, ip)

    result = await run_in_threadpool(run)
    if result.status == 200:
        return JSONResponse({"ok": True})
    return JSONResponse({"error": result.error, "message": result.message}, status_code=result.status)


# --- authenticator app and recovery codes ---------------------------------------------------------------
@router.post("/account/totp/setup", include_in_schema=False)
async def totp_setup(request: Request) -> Response:
    broker = broker_of(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> Any:
        official = s.get(Official, sso.official_id)
        assert official is not None
        try:
            secret, uri = broker.factors.totp_begin(s, official)
        except FactorRefused:
            return "totp_exists"
        bid, _ = browser_id(request)
        return render(request, "totp_setup.html", secret=secret, qr=qr_data_uri(uri),
                      error=None, csrf_token=broker.csrf_token(bid))

    return await _act(request, work)


@router.post("/account/totp/confirm", include_in_schema=False)
async def totp_confirm(request: Request) -> Response:
    broker = broker_of(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> Any:
        try:
            codes = broker.factors.totp_confirm(s, sso.official_id, form.get("code", "")[:16])
        except FactorRefused:
            return "totp_wrong"
        _audit(s, request, sso, "mfa.totp_enrolled")
        return render(request, "recovery_codes.html", codes=codes, next_url="/account")

    return await _act(request, work)


@router.post("/account/totp/remove", include_in_schema=False)
async def totp_remove(request: Request) -> Response:
    broker = broker_of(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        if not _recent(sso):
            return "reauth"
        broker.factors.remove_totp(s, sso.official_id)
        _audit(s, request, sso, "mfa.totp_removed")
        return "totp_removed"

    return await _act(request, work)


@router.post("/account/recovery-codes", include_in_schema=False)
async def recovery_codes(request: Request) -> Response:
    broker = broker_of(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> Any:
        if not _recent(sso):
            return "reauth"
        if not broker.factors.factors(s, sso.official_id).any:
            return "no_factor"
        codes = broker.factors.new_recovery_codes(s, sso.official_id)
        _audit(s, request, sso, "mfa.recovery_codes_renewed")
        return render(request, "recovery_codes.html", codes=codes, next_url="/account")

    return await _act(request, work)


# --- passkeys -----------------------------------------------------------------------------------------
@router.post("/account/passkeys/options", tags=["portal"])
async def passkey_options(request: Request, bid: str = Depends(csrf_header)) -> Response:
    broker = broker_of(request)
    with broker.db.session() as s:
        sso = broker.sessions.resolve(s, session_cookie(request))
        official = s.get(Official, sso.official_id) if sso else None
        if sso is None or official is None:
            return JSONResponse({"error": "login_required", "message": "sign in again"}, status_code=401)
        options, raw = broker.factors.registration_options(s, official)
        challenge_id = open_challenge(s, bid, official.id, "register", sid=sso.sid)
        challenge = load_challenge(s, challenge_id, bid)
        assert challenge is not None
        challenge.webauthn_challenge = raw
    return JSONResponse({"challenge": challenge_id, "options": options}, headers={"Cache-Control": "no-store"})


@router.post("/account/passkeys", tags=["portal"], openapi_extra=CREDENTIAL_BODY)
async def passkey_register(request: Request, bid: str = Depends(csrf_header)) -> Response:
    broker = broker_of(request)
    try:
        body = parse_credential(await request.body())
        credential = body["credential"]
        if not isinstance(credential, dict):
            raise FactorRefused("credential must be an object")
    except (FactorRefused, KeyError) as exc:
        return JSONResponse({"error": "invalid_request", "message": str(exc)}, status_code=400)

    def run() -> JSONResponse:
        with broker.db.session() as s:
            sso = broker.sessions.resolve(s, session_cookie(request))
            challenge = load_challenge(s, request.query_params.get("c", ""), bid)
            if sso is None or challenge is None or challenge.purpose != "register" or challenge.sid != sso.sid \
                    or challenge.webauthn_challenge is None:
                return JSONResponse({"error": "expired", "message": "start again"}, status_code=400)
            raw = challenge.webauthn_challenge
            s.delete(challenge)
            try:
                broker.factors.register(s, sso.official_id, raw, credential, str(body.get("name", ""))[:100])
            except FactorRefused as exc:
                return JSONResponse({"error": "refused", "message": str(exc)}, status_code=400)
            _audit(s, request, sso, "mfa.passkey_added")
            return JSONResponse({"ok": True})

    return await run_in_threadpool(run)


@router.post("/account/passkeys/remove", include_in_schema=False)
async def passkey_remove(request: Request) -> Response:
    broker = broker_of(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        if not _recent(sso):
            return "reauth"
        removed = broker.factors.remove_passkey(s, sso.official_id, form.get("credential_id", "")[:700])
        if removed:
            _audit(s, request, sso, "mfa.passkey_removed")
        return "passkey_removed" if removed else "nothing"

    return await _act(request, work)


# --- identities linked at upstream providers (the offer's page is in upstream_routes) ---------------------
@router.post("/account/links/confirm", include_in_schema=False)
async def confirm_link(request: Request) -> Response:
    broker = broker_of(request)
    bid, _ = browser_id(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        official = s.get(Official, sso.official_id)
        assert official is not None  # an active session's official exists
        result = broker.upstream_sign_on.confirm_link(s, form.get("offer", "")[:64], bid, official, sso.auth_time,
                                                      sso.amr, client_ip(request))
        return result.replace(".", "_")

    return await _act(request, work)


@router.post("/account/links/remove", include_in_schema=False)
async def unlink_identity(request: Request) -> Response:
    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        official = s.get(Official, sso.official_id)
        assert official is not None
        removed = links.unlink(s, form.get("provider", "")[:40], form.get("subject", "")[:255], official,
                               Actor(official.id, "official", client_ip(request)))
        return "links_unlinked" if removed else "nothing"

    return await _act(request, work)


# --- sessions -----------------------------------------------------------------------------------------
async def _sign_out(request: Request, only_one: bool) -> Response:
    """End one of the official's sessions (form field sid) or all of them, with back-channel logout."""
    broker = broker_of(request)
    ended: list[tuple[list[str], bool]] = []
    upstream: list[str | None] = []  # the provider this session came from, to sign out there as well

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        wanted = form.get("sid", "") if only_one else None
        service = broker.logout
        if wanted is None or wanted == sso.sid:
            upstream.append(broker.upstream_sign_on.end_session_url(s, sso.sid, None))
        if wanted is None:
            sids = service.end_everywhere(s, sso.official_id, "signed_out_everywhere")
        else:
            owned = {row.sid for row in broker.sessions.active_for(s, sso.official_id)}
            sids = service.end_session(s, wanted) if wanted in owned else []
        ended.append((sids, wanted is None or wanted == sso.sid))
        _audit(s, request, sso, "session.signed_out", everywhere=wanted is None)
        return "signed_out"

    response = await _act(request, work)
    if not ended:
        return response
    sids, ended_current = ended[0]
    # Told after the commit: an application that checks back sees the session already ended.
    await run_in_threadpool(broker.logout.send, sids)
    if ended_current:
        response = RedirectResponse(next((url for url in upstream if url), "/login"), status_code=303)
        clear_cookie(response, broker, "sso_session")
    return response


@router.post("/account/sessions/end", include_in_schema=False)
async def end_one_session(request: Request) -> Response:
    return await _sign_out(request, only_one=True)


@router.post("/account/sessions/end-all", include_in_schema=False)
async def end_all_sessions(request: Request) -> Response:
    return await _sign_out(request, only_one=False)


# --- recovery address ---------------------------------------------------------------------------------
@router.post("/account/recovery-email", include_in_schema=False)
async def recovery_email(request: Request) -> Response:
    broker = broker_of(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        if not _recent(sso):
            return "reauth"
        sent = broker.recovery.propose_email(s, sso.official_id, form.get("email", "")[:320])
        _audit(s, request, sso, "account.recovery_email_proposed", sent=sent)
        return "email_sent" if sent else "email_invalid"

    return await _act(request, work)


@router.post("/account/recovery-phone", include_in_schema=False)
async def recovery_phone(request: Request) -> Response:
    broker = broker_of(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        if not _recent(sso):
            return "reauth"
        sent = broker.recovery.propose_phone(s, sso.official_id, form.get("phone", "")[:40])
        _audit(s, request, sso, "account.recovery_phone_proposed", sent=sent)
        return "phone_code_sent" if sent else "phone_invalid"

    return await _act(request, work)


@router.post("/account/recovery-phone/confirm", include_in_schema=False)
async def recovery_phone_confirm(request: Request) -> Response:
    broker = broker_of(request)
    ip = client_ip(request)

    def work(s: Session, sso: ActiveSession, form: dict[str, str]) -> str:
        ok = broker.recovery.confirm_phone(s, sso.official_id, form.get("code", ""), ip)
        _audit(s, request, sso, "account.recovery_phone_confirmed", outcome="ok" if ok else "refused")
        return "phone_verified" if ok else "phone_code_wrong"

    return await _act(request, work)


@router.get("/account/recovery-email/verify", include_in_schema=False)
async def recovery_email_verify(request: Request, token: str = "") -> Response:
    broker = broker_of(request)
    with broker.db.session() as s:
        sso = broker.sessions.resolve(s, session_cookie(request))
        if sso is None:
            return RedirectResponse("/login", status_code=303)
        ok = broker.recovery.confirm_email(s, token, sso.official_id)
    return RedirectResponse(f"/account?msg={'email_verified' if ok else 'email_link_invalid'}", status_code=303)
