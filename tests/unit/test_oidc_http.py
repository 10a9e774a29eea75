"""The hot path's stand-ins for Authlib and joserfc calls: the request adapter keeps every attribute Authlib's
own request sets (and its https check), and the compact signer's JWTs verify with an independent library."""

from __future__ import annotations

import time

import pytest
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from jose import jwt as jose_jwt

from app.oidc.http import BrokerOAuth2Request, HttpRequest
from app.oidc.keys import KeyEntry, KeyRing, generate_key, import_private


def test_the_request_adapter_sets_what_authlibs_request_sets() -> None:
    theirs = OAuth2Request("POST", "https://sso.example.vn/oauth2/token", headers={"a": "b"})
    ours = BrokerOAuth2Request(HttpRequest("POST", "https://sso.example.vn/oauth2/token", {"A": "b"},
                                           form=[("grant_type", "client_credentials")]))
    assert set(vars(theirs)) <= set(vars(ours))
    assert (ours.method, ours.uri, ours.headers.get("a")) == ("POST", "https://sso.example.vn/oauth2/token", "b")
    assert ours.form == {"grant_type": "client_credentials"} and ours.client is None


@pytest.mark.parametrize("url", ["http://sso.example.vn/oauth2/token", "ftp://127.0.0.1/x"])
def test_the_request_adapter_still_refuses_plain_http(url: str) -> None:
    for _ in range(2):  # the check is remembered per URL: the second time must refuse too
        with pytest.raises(InsecureTransportError):
            BrokerOAuth2Request(HttpRequest("POST", url, {}))


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_signed_tokens_verify_with_python_jose(alg: str) -> None:
    kid, private, public = generate_key(alg)
    ring = KeyRing([KeyEntry(kid, alg, import_private(private), public, 0, None)])
    now = int(time.time())
    claims = {"iss": "https://sso.example.vn", "sub": "hieund", "name": "Nguyễn Đình Hiếu", "exp": now + 60}
    for typ in ("at+jwt", "JWT", "at+jwt"):
        token = ring.sign(claims, alg, now, typ=typ)
        assert jose_jwt.get_unverified_header(token) == {"typ": typ, "alg": alg, "kid": kid}
        assert jose_jwt.decode(token, public, algorithms=[alg]) == claims
        assert ring.verify(token, now, expected_typ=typ) == claims
