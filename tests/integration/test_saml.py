"""The SAML identity provider against the OneLogin python3-saml toolkit as a strict service provider
(signed AuthnRequests, signed assertions and messages wanted), and hostile requests refused with a clear page."""

from __future__ import annotations

import base64
import datetime as dt
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from app.settings import Settings
from tests.kit import PASSWORD, Kit, form_fields, run_cli

SP = "https://daotao.bacninh.gov.vn"
ACS = f"{SP}/acs"


def _sp_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "daotao.bacninh.gov.vn")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
            cert.public_bytes(serialization.Encoding.PEM).decode())


class OneLoginSp:
    """python3-saml in strict mode, as a real SP would configure it."""

    def __init__(self, kit: Kit) -> None:
        from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
        from onelogin.saml2.settings import OneLogin_Saml2_Settings

        key, cert = _sp_keys()
        idp = OneLogin_Saml2_IdPMetadataParser.parse(kit.http.get("/saml/metadata").text)
        self.settings: dict[str, Any] = {
            "strict": True, "debug": False,
            "sp": {"entityId": f"{SP}/metadata", "assertionConsumerService": {
                "url": ACS, "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"},
                "singleLogoutService": {"url": f"{SP}/sls",
                                        "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"},
                "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                "x509cert": cert, "privateKey": key},
            "idp": idp["idp"],
            "security": {"authnRequestsSigned": True, "wantAssertionsSigned": True, "wantMessagesSigned": True,
                         "logoutRequestSigned": True, "logoutResponseSigned": True,
                         "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                         "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
                         "requestedAuthnContext": False, "wantNameId": True},
        }
        self.metadata = OneLogin_Saml2_Settings(self.settings, sp_validation_only=True).get_sp_metadata()

    def auth(self, post: dict[str, str] | None = None, redirect: str | None = None) -> Any:
        """The toolkit for one request: a POST to the ACS, or a Redirect-binding URL at the SLS."""
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        query = urlsplit(redirect).query if redirect else ""
        return OneLogin_Saml2_Auth({
            "https": "on", "http_host": "daotao.bacninh.gov.vn", "script_name": "/sls" if redirect else "/acs",
            "get_data": {k: v[0] for k, v in parse_qs(query).items()}, "post_data": post or {},
            "query_string": query, "validate_signature_from_qs": True}, self.settings)


@pytest.fixture
def saml(settings: Settings, tmp_path: Path) -> Iterator[tuple[Kit, OneLoginSp]]:
    kit = Kit(settings)
    kit.official()
    sp = OneLoginSp(kit)
    (tmp_path / "sp.xml").write_bytes(sp.metadata)
    run_cli(kit.settings, ["saml", "add", "daotao", "--name", "Đào tạo", "--metadata", str(tmp_path / "sp.xml"),
                           "--attribute", "urn:oid:0.9.2342.19200300.100.1.3=mail", "--attribute", "displayName",
                           "--attribute", "groups"])
    yield kit, sp


def _broker_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _sign_in(kit: Kit, path: str) -> Any:
    page = kit.http.get(path)
    if 'name="password"' in page.text:
        page = kit.http.post("/login", data={**form_fields(page.text), "username": "hieund", "password": PASSWORD})
    return page


def _posted(page: Any) -> dict[str, str]:
    assert page.status_code == 200 and f'action="{ACS}"' in page.text, page.text[:400]
    return form_fields(page.text)


def every_signature_verifies(response_b64: str, cert_pem: str) -> int:
    """Each ds:Signature of a Response checked on its own with xmlsec (libxmlsec1, what lasso and OneLogin use):
    the toolkit alone may stop at the first one."""
    import xmlsec
    from lxml import etree

    root = etree.fromstring(base64.b64decode(response_b64))
    xmlsec.tree.add_ids(root, ["ID"])
    signatures = root.findall(".//{http://www.w3.org/2000/09/xmldsig#}Signature")
    for node in signatures:
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(cert_pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
        context.verify(node)  # raises on a bad signature
    return len(signatures)


def test_sp_initiated_sign_in_with_a_strict_onelogin_sp(saml: tuple[Kit, OneLoginSp]) -> None:
    kit, sp = saml
    auth = sp.auth()
    location = auth.login(return_to=f"{SP}/khoa-hoc")
    request_id = auth.get_last_request_id()
    assert "Signature=" in location  # the SP signs its requests, as its metadata says
    fields = _posted(_sign_in(kit, _broker_path(location)))
    assert fields["RelayState"] == f"{SP}/khoa-hoc"
    assert every_signature_verifies(fields["SAMLResponse"], sp.settings["idp"]["x509cert"]) == 2
    answer = sp.auth(fields)
    answer.process_response(request_id=request_id)
    assert answer.get_errors() == [], answer.get_last_error_reason()
    assert answer.is_authenticated()
    attributes = answer.get_attributes()
    assert attributes["urn:oid:0.9.2342.19200300.100.1.3"] == ["hieund@bacninh.gov.vn"]
    assert attributes["displayName"] == ["Nguyễn Đình Hiếu"] and attributes["groups"] == ["cb-so-ttt"]
    assert answer.get_friendlyname_attributes()["mail"] == ["hieund@bacninh.gov.vn"]  # the URI's friendly name
    assert answer.get_nameid_format() == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    persistent = answer.get_nameid()
    assert "hieund" not in persistent and len(persistent) >= 32  # opaque
    # signed in already: a second request needs no password, and the NameID is the same (stable per SP)
    again = sp.auth()
    location = again.login()
    second = sp.auth(_posted(kit.http.get(_broker_path(location))))
    second.process_response(request_id=again.get_last_request_id())
    assert second.get_errors() == [] and second.get_nameid() == persistent
    # the same AuthnRequest again is a replay
    replay = kit.http.get(_broker_path(location))
    assert replay.status_code == 400 and "seen before" in replay.text


def test_idp_initiated_from_the_launcher(saml: tuple[Kit, OneLoginSp]) -> None:
    kit, sp = saml
    fields = _posted(_sign_in(kit, "/saml/init?sp=daotao&RelayState=/trang-chu"))
    assert every_signature_verifies(fields["SAMLResponse"], sp.settings["idp"]["x509cert"]) == 2
    answer = sp.auth(fields)
    answer.process_response()
    assert answer.get_errors() == [], answer.get_last_error_reason()
    assert answer.get_attributes()["displayName"] == ["Nguyễn Đình Hiếu"]
    assert kit.http.get("/saml/init?sp=nobody").status_code == 400


def test_force_authn_and_is_passive(saml: tuple[Kit, OneLoginSp]) -> None:
    kit, sp = saml
    passive = sp.auth()
    fields = _posted(kit.http.get(_broker_path(passive.login(is_passive=True))))
    answer = sp.auth(fields)
    answer.process_response(request_id=passive.get_last_request_id())
    assert not answer.is_authenticated() and "NoPassive" in str(answer.get_last_error_reason()) + str(
        answer.get_errors()) + base64.b64decode(fields["SAMLResponse"]).decode()
    _posted(_sign_in(kit, _broker_path(sp.auth().login())))  # now signed in
    forced = kit.http.get(_broker_path(sp.auth().login(force_authn=True)))
    assert 'name="password"' in forced.text  # ForceAuthn: the session is not enough


def _redirect_request(xml: str) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = base64.b64encode(compressor.compress(xml.encode()) + compressor.flush()).decode()
    return f"/saml/sso?SAMLRequest={quote(packed)}"


def _request_xml(issuer: str = f"{SP}/metadata", acs: str = ACS, destination: str = "https://sso.test/saml/sso",
                 instant: str | None = None, request_id: str = "_r1") -> str:
    instant = instant or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" '
            f'IssueInstant="{instant}" Destination="{destination}" AssertionConsumerServiceURL="{acs}">'
            f'<saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>')


def test_hostile_requests_get_a_clear_page_never_a_5xx(saml: tuple[Kit, OneLoginSp]) -> None:
    kit, _ = saml
    xxe = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           + _request_xml().replace("<saml:Issuer>", "<saml:Issuer>&x;"))
    laughs = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
              + _request_xml())
    cases = {
        "unsigned from an SP that signs": _redirect_request(_request_xml()),
        "XXE": _redirect_request(xxe), "entity expansion": _redirect_request(laughs),
        "unregistered SP": _redirect_request(_request_xml(issuer="https://attacker.invalid/sp")),
        "malformed": _redirect_request("<samlp:AuthnRequest"),
        "not deflated": "/saml/sso?SAMLRequest=" + quote(base64.b64encode(b"<x/>").decode()),
        "not base64": "/saml/sso?SAMLRequest=%%%",
        "missing": "/saml/sso",
        "bomb": _redirect_request("<a>" + "x" * 5_000_000 + "</a>"),
    }
    for label, path in cases.items():
        page = kit.http.get(path)
        assert page.status_code == 400, (label, page.status_code)
        assert "etc/passwd" not in page.text and "root:" not in page.text, label
    posted = kit.http.post("/saml/sso", data={"SAMLRequest": base64.b64encode(_request_xml().encode()).decode()})
    assert posted.status_code == 400 and "signature" in posted.text


def test_a_registered_sp_that_does_not_sign(settings: Settings, tmp_path: Path) -> None:
    """Without AuthnRequestsSigned the checks that remain still hold: ACS from the metadata, Destination,
    clock skew, replay."""
    kit = Kit(settings)
    kit.official()
    (tmp_path / "sp.xml").write_text(
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP}/metadata">'
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS}" '
        'index="0"/></md:SPSSODescriptor></md:EntityDescriptor>')
    run_cli(kit.settings, ["saml", "add", "plain", "--metadata", str(tmp_path / "sp.xml")])
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for xml, words in ((_request_xml(acs="https://attacker.invalid/acs", request_id="_a"), "AssertionConsumer"),
                       (_request_xml(destination="https://other.invalid/sso", request_id="_b"), "addressed"),
                       (_request_xml(instant=old, request_id="_c"), "skew")):
        page = kit.http.get(_redirect_request(xml))
        assert page.status_code == 400 and words in page.text, words
    ok = _sign_in(kit, _redirect_request(_request_xml(request_id="_d")))
    assert _posted(ok)["SAMLResponse"]
    assert "seen before" in kit.http.get(_redirect_request(_request_xml(request_id="_d"))).text
    response = base64.b64decode(form_fields(ok.text)["SAMLResponse"]).decode()
    assert 'InResponseTo="_d"' in response and "ds:Signature" in response


def test_metadata_is_stable_and_names_the_endpoints(saml: tuple[Kit, OneLoginSp]) -> None:
    kit, _ = saml
    first, second = kit.http.get("/saml/metadata"), kit.http.get("/saml/metadata")
    assert first.text == second.text and first.headers["content-type"].startswith("application/samlmetadata+xml")
    assert 'entityID="https://sso.test/saml/metadata"' in first.text and "https://sso.test/saml/sso" in first.text


def _signed_in(kit: Kit, sp: OneLoginSp) -> Any:
    auth = sp.auth()
    location = auth.login()
    answer = sp.auth(_posted(_sign_in(kit, _broker_path(location))))
    answer.process_response(request_id=auth.get_last_request_id())
    assert answer.is_authenticated(), answer.get_errors()
    return answer


def test_sp_initiated_single_logout(saml: tuple[Kit, OneLoginSp]) -> None:
    kit, sp = saml
    signed_in = _signed_in(kit, sp)
    start = sp.auth()
    location = start.logout(name_id=signed_in.get_nameid(), session_index=signed_in.get_session_index(),
                            name_id_format=signed_in.get_nameid_format(), spnq=signed_in.get_nameid_spnq())
    back = kit.http.get(_broker_path(location))
    assert back.status_code == 303 and back.headers["location"].startswith(f"{SP}/sls?SAMLResponse=")
    answer = sp.auth(redirect=back.headers["location"])
    answer.process_slo(request_id=start.get_last_request_id(), keep_local_session=True)
    assert answer.get_errors() == [], answer.get_last_error_reason()
    assert 'name="password"' in kit.http.get("/cas/login").text  # the broker's session ended too
    forged = location.replace("Signature=", "Signature=AAAA")
    assert kit.http.get(_broker_path(forged)).status_code == 400


def test_a_logout_elsewhere_reaches_the_saml_sp_through_the_browser(saml: tuple[Kit, OneLoginSp]) -> None:
    kit, sp = saml
    _signed_in(kit, sp)
    page = kit.http.get("/cas/logout")
    assert page.status_code == 200 and "frame-src https://daotao.bacninh.gov.vn" in page.headers[
        "content-security-policy"]
    (frame,) = [m.replace("&amp;", "&") for m in re.findall(r'<iframe class="frontchannel" src="([^"]+)"', page.text)]
    request = sp.auth(redirect=frame)
    reply = request.process_slo(keep_local_session=True)  # the SP checks our signature and answers
    assert request.get_errors() == [], request.get_last_error_reason()
    assert reply.startswith("https://sso.test/saml/slo?SAMLResponse=")
    assert kit.http.get(_broker_path(reply)).status_code == 200


def test_admins_register_service_providers_through_the_api(settings: Settings) -> None:
    from tests.admin_kit import build_province

    kit = Kit(settings)
    province = build_province(kit)
    metadata = OneLoginSp(kit).metadata.decode()
    unit_admin = province.client_for("admin_a").post("/admin/api/saml/service-providers",
                                                      json={"id": "daotao", "metadata_xml": metadata})
    assert unit_admin.status_code == 403  # the province's systems are the province admin's
    admin = province.client_for("prov")
    created = admin.post("/admin/api/saml/service-providers", json={
        "id": "daotao", "name": "Đào tạo", "metadata_xml": metadata, "attributes": {"mail": "mail"},
        "allowed_units": ["xa-a"]})
    assert created.status_code == 201, created.text
    assert created.json()["entity_id"] == f"{SP}/metadata" and created.json()["acs"] == [ACS]
    assert [sp["id"] for sp in admin.get("/admin/api/saml/service-providers").json()] == ["daotao"]
    bad = admin.post("/admin/api/saml/service-providers", json={"id": "x", "metadata_xml": "<x/>"})
    assert bad.status_code == 400 and "EntityDescriptor" in bad.text
    xxe = admin.post("/admin/api/saml/service-providers", json={
        "id": "x", "metadata_xml": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'})
    assert xxe.status_code == 400 and "root:" not in xxe.text
    assert admin.delete("/admin/api/saml/service-providers/daotao").status_code == 204
    assert admin.delete("/admin/api/saml/service-providers/daotao").status_code == 404


def test_signature_wrapping_and_tampering_are_refused(saml: tuple[Kit, OneLoginSp]) -> None:
    """HTTP-POST AuthnRequests signed by the SP's key: only the element the signature covers is read."""
    from lxml import etree
    from signxml.algorithms import CanonicalizationMethod
    from signxml.signer import XMLSigner

    kit, sp = saml
    signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)

    def signed(request_id: str) -> etree._Element:
        root = etree.fromstring(_request_xml(request_id=request_id))
        return signer.sign(root, key=sp.settings["sp"]["privateKey"], cert=sp.settings["sp"]["x509cert"],
                           reference_uri=f"#{request_id}")

    def post(root: etree._Element) -> Any:
        return kit.http.post("/saml/sso", data={"SAMLRequest": base64.b64encode(etree.tostring(root)).decode()})

    assert 'name="password"' in post(signed("_good")).text  # a genuine signed request is served
    tampered = signed("_tampered")
    tampered.set("AssertionConsumerServiceURL", "https://attacker.invalid/acs")
    assert post(tampered).status_code == 400
    wrapped = etree.fromstring(_request_xml(acs="https://attacker.invalid/acs", request_id="_evil"))
    extensions = etree.SubElement(wrapped, "{urn:oasis:names:tc:SAML:2.0:protocol}Extensions")
    original = signed("_inner")
    extensions.append(original)
    wrapped.insert(1, original.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    page = post(wrapped)
    assert page.status_code == 400 and "attacker.invalid" not in page.text


def test_encrypted_assertions_for_an_sp_that_wants_them(settings: Settings, tmp_path: Path) -> None:
    kit = Kit(settings)
    kit.official()
    sp = OneLoginSp(kit)
    sp.settings["security"]["wantAssertionsEncrypted"] = True
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    metadata = OneLogin_Saml2_Settings(sp.settings, sp_validation_only=True).get_sp_metadata()
    assert b'use="encryption"' in metadata
    (tmp_path / "sp.xml").write_bytes(metadata)
    run_cli(kit.settings, ["saml", "add", "daotao", "--metadata", str(tmp_path / "sp.xml"), "--encrypt-assertions",
                           "--attribute", "displayName"])
    auth = sp.auth()
    fields = _posted(_sign_in(kit, _broker_path(auth.login())))
    raw = base64.b64decode(fields["SAMLResponse"]).decode()
    assert "EncryptedAssertion" in raw and "Nguyễn" not in raw and "hieund" not in raw  # nothing readable
    answer = sp.auth(fields)
    answer.process_response(request_id=auth.get_last_request_id())
    assert answer.get_errors() == [], answer.get_last_error_reason()
    assert answer.get_attributes()["displayName"] == ["Nguyễn Đình Hiếu"]


def test_a_requested_authn_context_raises_the_sign_in_or_is_refused(saml: tuple[Kit, OneLoginSp]) -> None:
    """RequestedAuthnContext lists the classes the SP accepts: the weakest we know is the floor; more than the
    session has means a second factor; a phishing-resistant class without a passkey is NoAuthnContext."""
    from app.oidc.acr import ACR_PHISHING_RESISTANT
    from app.saml.messages import MFA_CLASS, PASSWORD_CLASS

    kit, sp = saml
    security = sp.settings["security"]
    security["requestedAuthnContext"] = [PASSWORD_CLASS, MFA_CLASS]  # either will do: a password is enough
    login = sp.auth()
    answer = sp.auth(_posted(_sign_in(kit, _broker_path(login.login()))))
    answer.process_response(request_id=login.get_last_request_id())
    assert answer.is_authenticated(), answer.get_errors()
    security["requestedAuthnContext"] = [MFA_CLASS]
    asked = kit.http.get(_broker_path(sp.auth().login()))
    assert asked.status_code == 303 and asked.headers["location"].startswith("/login/mfa?c=")
    security["requestedAuthnContext"] = [ACR_PHISHING_RESISTANT]
    login = sp.auth()
    fields = _posted(kit.http.get(_broker_path(login.login())))
    refused = sp.auth(fields)
    refused.process_response(request_id=login.get_last_request_id())
    assert not refused.is_authenticated()
    assert "status:NoAuthnContext" in base64.b64decode(fields["SAMLResponse"]).decode()
