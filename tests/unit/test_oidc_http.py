"""The token endpoint's stand-ins for library calls: the request adapter keeps every attribute Authlib's own
request sets (and its https check), the compact signer's JWTs verify with an independent library, and a form
is read as urllib's parse_qsl reads it."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import pytest
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from jose import jwt as jose_jwt

from app.oidc.http import BrokerOAuth2Request, HttpRequest
from app.oidc.keys import KeyEntry, KeyRing, generate_key, import_private
from app.web.token_asgi import form_pairs


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


@pytest.mark.parametrize("body", [
    "", "&", "a", "a=", "=b", "a=1&a=2", "grant_type=authorization_code&code=abc-_.~&redirect_uri=http%3A%2F%2Fx",
    "name=Nguy%E1%BB%85n+%C4%90%C3%ACnh", "a=%zz&b=%", "a+b=c+d&&e", "x=%00", "a=1&b", "a==b=c", "%41=%42",
    "scope=openid+offline_access&refresh_token=a%2Bb", "k=%e2%82", "a=b;c=d",
])
def test_form_pairs_read_a_form_as_parse_qsl_does(body: str) -> None:
    assert form_pairs(body) == parse_qsl(body, keep_blank_values=True)
