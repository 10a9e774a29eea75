"""Pure pieces of the SAML IdP: the AuthnContextClassRef a sign-in is reported with, Redirect-binding decoding."""

from __future__ import annotations

import pytest

from app.oidc.acr import ACR_MFA, ACR_PASSWORD, ACR_PHISHING_RESISTANT
from app.saml.bindings import deflate, inflate
from app.saml.messages import MFA_CLASS, PASSWORD_CLASS
from app.saml.server import class_ref
from app.saml.xml import SamlError, parse


@pytest.mark.parametrize(("acr", "requested", "expected"), [
    (ACR_PASSWORD, [], PASSWORD_CLASS),
    (ACR_MFA, [], MFA_CLASS),
    (ACR_PHISHING_RESISTANT, [], MFA_CLASS),
    (ACR_MFA, [PASSWORD_CLASS], PASSWORD_CLASS),  # asked exactly for a password class, and it is met
    (ACR_PHISHING_RESISTANT, [MFA_CLASS, ACR_PHISHING_RESISTANT], ACR_PHISHING_RESISTANT),
    (ACR_PASSWORD, [MFA_CLASS], PASSWORD_CLASS),  # not met: say what it was, never claim more
])
def test_class_ref(acr: str, requested: list[str], expected: str) -> None:
    assert class_ref(acr, requested) == expected


def test_redirect_binding_round_trip_and_bounds() -> None:
    import base64

    assert inflate(base64.b64decode(deflate(b"<x/>"))) == b"<x/>"
    bomb = base64.b64decode(deflate(b"a" * 10_000_000))
    with pytest.raises(SamlError, match="size bound"):
        inflate(bomb)


@pytest.mark.parametrize("xml", [
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b'<!doctype x><x/>', b"<x>", b"\x00",
])
def test_hostile_xml_is_refused(xml: bytes) -> None:
    with pytest.raises(SamlError):
        parse(xml)
