"""A test relying party and official, driving the broker through its real HTTP surface."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi.testclient import TestClient

from app.applications.clients import ClientService, ClientSpec
from app.broker import Broker
from app.identity.service import NewOfficial, add_official, ensure_unit
from app.main import create_app
from app.settings import Settings

PASSWORD = "Mật-khẩu@2025"
REDIRECT = "https://app.example.gov.vn/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def form_fields(html: str) -> dict[str, str]:
    return {m.group(1): m.group(2).replace("&amp;", "&") for m in
            re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}


@dataclass
class Client:
    client_id: str
    secret: str | None
    redirect_uri: str = REDIRECT

    @property
    def auth(self) -> Any:  # (id, secret) for HTTP Basic, or None for a public client
        return (self.client_id, self.secret) if self.secret else None


@dataclass
class Flow:
    """One authorization request's values, so the test can check them in the answer."""

    client: Client
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    verifier: str = ""
    challenge: str = ""

    def __post_init__(self) -> None:
        self.verifier, self.challenge = pkce_pair()

    def params(self, **extra: str | None) -> dict[str, str]:
        p: dict[str, str | None] = {
            "response_type": "code", "client_id": self.client.client_id, "redirect_uri": self.client.redirect_uri,
             "scope": "openid profile email", "state": self.state, "nonce": self.nonce,
             "code_challenge": self.challenge, "code_challenge_method": "S256"}
        p.update(extra)
        return {k: v for k, v in p.items() if v is not None}


class Kit:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.broker: Broker = self.app.state.broker
        self.http = TestClient(self.app, base_url=settings.issuer, follow_redirects=False)
        self.clients = ClientService(self.broker.clients)

    def official(self, username: str = "hieund", **kw: Any) -> str:
        with self.broker.db.session() as s:
            ensure_unit(s, "bac-ninh", "Tỉnh Bắc Ninh", None, "province")
            ensure_unit(s, "so-ttt", "Sở Thông tin và Truyền thông", "bac-ninh", "department")
            defaults: dict[str, Any] = dict(username=username, display_name="Nguyễn Đình Hiếu", password=PASSWORD,
                            email=f"{username}@bacninh.gov.vn", phone="+84912000001", title="Chuyên viên",
                            unit_code="so-ttt", given_name="Hiếu", family_name="Nguyễn", middle_name="Đình",
                            groups=("cb-so-ttt",))
            defaults.update(kw)
            return add_official(s, NewOfficial(**defaults)).id

    def client(self, client_id: str = "app", **kw: Any) -> Client:
        spec = ClientSpec(client_id=client_id, redirect_uris=[kw.pop("redirect_uri", REDIRECT)],
                          post_logout_redirect_uris=["https://app.example.gov.vn/bye"], **kw)
        with self.broker.db.session() as s:
            _, secret = self.clients.add(s, spec)
        return Client(client_id, secret, spec.redirect_uris[0])

    # --- browser side ----------------------------------------------------------------------------
    def authorize(self, flow: Flow, **extra: str | None) -> Any:
        return self.http.get("/oauth2/authorize?" + urlencode(flow.params(**extra)))

    def submit_login(self, page: Any, username: str = "hieund", password: str = PASSWORD) -> Any:
        fields = form_fields(page.text)
        return self.http.post("/login", data={**fields, "username": username, "password": password})

    def submit_consent(self, page: Any, decision: str = "allow") -> Any:
        return self.http.post("/consent", data={**form_fields(page.text), "decision": decision})

    def login_for_code(self, flow: Flow, username: str = "hieund", password: str = PASSWORD,
                       **extra: str | None) -> dict[str, str]:
        """Authorize, log in if asked, consent if asked; returns the callback's query parameters."""
        response = self.authorize(flow, **extra)
        if response.status_code == 200 and 'name="password"' in response.text:
            response = self.submit_login(response, username, password)
        if response.status_code == 200 and 'name="decision"' in response.text:
            response = self.submit_consent(response)
        assert response.status_code == 303, (response.status_code, response.text[:500])
        return callback_params(response.headers["location"], flow.client.redirect_uri)

    def exchange(self, flow: Flow, code: str, **extra: str | None) -> Any:
        data: dict[str, str | None] = {"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": flow.client.redirect_uri, "code_verifier": flow.verifier}
        data.update(extra)
        if flow.client.secret is None:
            data["client_id"] = flow.client.client_id
        return self.http.post("/oauth2/token", data={k: v for k, v in data.items() if v is not None},
                              auth=flow.client.auth)

    def tokens(self, flow: Flow, **extra: str) -> dict[str, Any]:
        params = self.login_for_code(flow, **extra)
        response = self.exchange(flow, params["code"])
        assert response.status_code == 200, response.text
        return dict(response.json())

    def introspect(self, client: Client, token: str) -> dict[str, Any]:
        response = self.http.post("/oauth2/introspect", data={"token": token}, auth=client.auth)
        assert response.status_code == 200, response.text
        return dict(response.json())


def callback_params(location: str, redirect_uri: str) -> dict[str, str]:
    assert location.startswith(redirect_uri + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_unsigned(claims: dict[str, Any]) -> str:
    """`alg: none`: a token anyone can write."""
    import json

    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."


def forge_hmac(claims: dict[str, Any], secret: bytes, kid: str | None = None) -> str:
    """HS256 keyed with bytes the attacker knows, e.g. the provider's public key (CVE-2024-37568)."""
    import hmac
    import json

    header: dict[str, str] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def jose_verify(kit: Kit, token: str, audience: str | None, access_token: str | None = None) -> dict[str, Any]:
    """Verify with python-jose, an implementation independent of the one that signed."""
    from jose import jwt as jose_jwt

    jwks = kit.http.get("/oauth2/jwks").json()
    header = jose_jwt.get_unverified_header(token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    options = {"verify_aud": audience is not None, "verify_at_hash": access_token is not None}
    return dict(jose_jwt.decode(token, key, algorithms=[key["alg"]], audience=audience,
                                issuer=kit.settings.issuer, access_token=access_token, options=options))


def run_cli(settings: Settings, argv: list[str]) -> None:
    """`sso-broker ARGV` in this process, configured as an operator's shell would be: through SSO_ variables."""
    import os

    from app.cli import main

    saved = dict(os.environ)
    os.environ.update({"SSO_DATABASE_URL": settings.database_url, "SSO_MASTER_KEY": settings.master_key or "",
                       "SSO_DATA_DIR": str(settings.data_dir), "SSO_ISSUER": settings.issuer})
    try:
        assert main(argv) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)


def leave(settings: Settings, username: str) -> None:
    """An official leaves the way an operator records it: `sso-broker user disable`."""
    run_cli(settings, ["user", "disable", username])
