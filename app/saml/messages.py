"""The protocol's messages: reading an AuthnRequest, writing a signed Response with its Assertion."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree
from signxml.algorithms import CanonicalizationMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from app.saml.bindings import private_key
from app.saml.encryption import encrypt_assertion
from app.saml.metadata import EMAIL, NAMEID_FORMATS, UNSPECIFIED
from app.saml.xml import DS, NS, SAML, SAMLP, SamlError, q

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
MFA_CLASS = "https://refeds.org/profile/mfa"
SKEW = 180  # seconds of clock difference tolerated in IssueInstant
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"


def instant(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_instant(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError as exc:
        raise SamlError(f"IssueInstant {value[:40]!r} is not a date and time") from exc


def new_id() -> str:
    return "_" + secrets.token_hex(20)  # an NCName: starts with a letter or _


@dataclass(frozen=True)
class AuthnRequestInfo:
    id: str
    issuer: str
    destination: str
    acs_url: str | None
    acs_index: str | None
    protocol_binding: str | None
    force_authn: bool
    is_passive: bool
    nameid_format: str | None
    requested_classes: tuple[str, ...]
    issue_instant: float


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def read_authn_request(root: etree._Element) -> AuthnRequestInfo:
    if root.tag != q("samlp", "AuthnRequest"):
        raise SamlError("the message is not an AuthnRequest")
    if root.get("Version") != "2.0" or not root.get("ID") or len(root.get("ID", "")) > 256:
        raise SamlError("the AuthnRequest needs Version 2.0 and an ID")
    issuer = root.findtext("saml:Issuer", namespaces=NS)
    if not issuer:
        raise SamlError("the AuthnRequest names no Issuer")
    policy = root.find("samlp:NameIDPolicy", NS)
    nameid = policy.get("Format") if policy is not None else None
    if nameid and nameid not in (*NAMEID_FORMATS, UNSPECIFIED):
        raise SamlError(f"NameID format {nameid} is not offered",
                        "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy")
    classes = tuple(c.text or "" for c in root.findall("samlp:RequestedAuthnContext/saml:AuthnContextClassRef", NS))
    return AuthnRequestInfo(
        id=str(root.get("ID")), issuer=issuer.strip(), destination=root.get("Destination", ""),
        acs_url=root.get("AssertionConsumerServiceURL"), acs_index=root.get("AssertionConsumerServiceIndex"),
        protocol_binding=root.get("ProtocolBinding"), force_authn=_true(root.get("ForceAuthn")),
        is_passive=_true(root.get("IsPassive")), nameid_format=nameid, requested_classes=classes,
        issue_instant=parse_instant(root.get("IssueInstant", "")))


def verified_post_request(root: etree._Element, certs: tuple[str, ...]) -> etree._Element:
    """The AuthnRequest as its enveloped signature covers it: only that element is read afterwards, so
    content moved around a valid signature (wrapping) is never seen."""
    config = SignatureConfiguration(location="./", expect_references=1)
    for cert in certs:
        try:
            result = XMLVerifier().verify(root, x509_cert=cert, expect_config=config, id_attribute="ID")
        except (InvalidSignature, InvalidInput):
            continue
        signed = result.signed_xml if not isinstance(result, list) else None
        if signed is not None and signed.tag == root.tag and signed.get("ID") == root.get("ID"):
            return signed
    raise SamlError("the AuthnRequest's signature does not verify with the SP's certificate")


@dataclass(frozen=True)
class Assertion:
    """Everything the Response says about the sign-in."""

    issuer: str
    audience: str
    acs_url: str
    in_response_to: str | None
    nameid: str
    nameid_format: str
    session_index: str
    authn_instant: int
    class_ref: str
    attributes: dict[str, list[str]]
    friendly_names: dict[str, str] = field(default_factory=dict)  # URI-named attribute -> our name for it


def _signed(element: etree._Element, key_pem: str, cert_pem: str) -> etree._Element:
    signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signer.namespaces = {"ds": DS}
    return signer.sign(element, key=private_key(key_pem), cert=cert_pem, reference_uri="#" + str(element.get("ID")))


def _placeholder(parent: etree._Element) -> None:
    """Where the signature goes: right after the Issuer, as the schema wants (signxml fills it in)."""
    etree.SubElement(parent, q("ds", "Signature"), nsmap={"ds": DS}, Id="placeholder")


def _assertion(a: Assertion, now: float) -> etree._Element:
    root = etree.Element(q("saml", "Assertion"), nsmap={"saml": SAML, "xs": XS, "xsi": XSI}, ID=new_id(),
                         Version="2.0", IssueInstant=instant(now))
    etree.SubElement(root, q("saml", "Issuer")).text = a.issuer
    _placeholder(root)
    subject = etree.SubElement(root, q("saml", "Subject"))
    etree.SubElement(subject, q("saml", "NameID"), Format=a.nameid_format,
                     **({"SPNameQualifier": a.audience} if a.nameid_format != EMAIL else {})).text = a.nameid
    confirmation = etree.SubElement(subject, q("saml", "SubjectConfirmation"), Method=BEARER)
    data = {"NotOnOrAfter": instant(now + 300), "Recipient": a.acs_url}
    if a.in_response_to:
        data["InResponseTo"] = a.in_response_to
    etree.SubElement(confirmation, q("saml", "SubjectConfirmationData"), **data)
    conditions = etree.SubElement(root, q("saml", "Conditions"), NotBefore=instant(now - 60),
                                  NotOnOrAfter=instant(now + 300))
    etree.SubElement(etree.SubElement(conditions, q("saml", "AudienceRestriction")),
                     q("saml", "Audience")).text = a.audience
    statement = etree.SubElement(root, q("saml", "AuthnStatement"), AuthnInstant=instant(a.authn_instant),
                                 SessionIndex=a.session_index)
    etree.SubElement(etree.SubElement(statement, q("saml", "AuthnContext")),
                     q("saml", "AuthnContextClassRef")).text = a.class_ref
    if a.attributes:
        attributes = etree.SubElement(root, q("saml", "AttributeStatement"))
        for name, values in a.attributes.items():
            fmt = ("urn:oasis:names:tc:SAML:2.0:attrname-format:uri" if name.startswith(("urn:", "http"))
                   else "urn:oasis:names:tc:SAML:2.0:attrname-format:basic")
            attribute = etree.SubElement(attributes, q("saml", "Attribute"), Name=name, NameFormat=fmt,
                                         **({"FriendlyName": a.friendly_names[name]}
                                            if name in a.friendly_names else {}))
            for value in values:
                etree.SubElement(attribute, q("saml", "AttributeValue"),
                                 {f"{{{XSI}}}type": "xs:string"}).text = value
    return root


def response(a: Assertion, key_pem: str, cert_pem: str, sign_assertion: bool, sign_response: bool,
             now: float | None = None, encrypt_for: str | None = None) -> bytes:
    stamp = time.time() if now is None else now
    root = etree.Element(q("samlp", "Response"), nsmap={"samlp": SAMLP, "saml": SAML}, ID=new_id(),
                         Version="2.0", IssueInstant=instant(stamp), Destination=a.acs_url,
                         **({"InResponseTo": a.in_response_to} if a.in_response_to else {}))
    etree.SubElement(root, q("saml", "Issuer")).text = a.issuer
    if sign_response:
        _placeholder(root)
    status = etree.SubElement(root, q("samlp", "Status"))
    etree.SubElement(status, q("samlp", "StatusCode"), Value=SUCCESS)
    assertion = _assertion(a, stamp)
    if sign_assertion:
        assertion = _signed(assertion, key_pem, cert_pem)
    else:
        assertion.remove(assertion.find(q("ds", "Signature")))
    root.append(encrypt_assertion(assertion, encrypt_for) if encrypt_for else assertion)
    if sign_response:
        root = _signed(root, key_pem, cert_pem)
    return bytes(etree.tostring(root, encoding="UTF-8"))


def error_response(issuer: str, destination: str, in_response_to: str | None, status: str) -> bytes:
    root = etree.Element(q("samlp", "Response"), nsmap={"samlp": SAMLP, "saml": SAML}, ID=new_id(),
                         Version="2.0", IssueInstant=instant(time.time()), Destination=destination,
                         **({"InResponseTo": in_response_to} if in_response_to else {}))
    etree.SubElement(root, q("saml", "Issuer")).text = issuer
    top = etree.SubElement(etree.SubElement(root, q("samlp", "Status")), q("samlp", "StatusCode"), Value=RESPONDER)
    etree.SubElement(top, q("samlp", "StatusCode"), Value=status)
    return bytes(etree.tostring(root, encoding="UTF-8"))


@dataclass(frozen=True)
class LogoutRequestInfo:
    id: str
    issuer: str
    destination: str
    nameid: str
    session_indexes: tuple[str, ...]


def logout_request(issuer: str, destination: str, nameid: str, nameid_format: str, sp_entity: str,
                   session_index: str) -> bytes:
    root = etree.Element(q("samlp", "LogoutRequest"), nsmap={"samlp": SAMLP, "saml": SAML}, ID=new_id(),
                         Version="2.0", IssueInstant=instant(time.time()), Destination=destination,
                         NotOnOrAfter=instant(time.time() + 300))
    etree.SubElement(root, q("saml", "Issuer")).text = issuer
    etree.SubElement(root, q("saml", "NameID"), Format=nameid_format,
                     **({"SPNameQualifier": sp_entity} if nameid_format != EMAIL else {})).text = nameid
    etree.SubElement(root, q("samlp", "SessionIndex")).text = session_index
    return bytes(etree.tostring(root, encoding="UTF-8"))


def logout_response(issuer: str, destination: str, in_response_to: str) -> bytes:
    root = etree.Element(q("samlp", "LogoutResponse"), nsmap={"samlp": SAMLP, "saml": SAML}, ID=new_id(),
                         Version="2.0", IssueInstant=instant(time.time()), Destination=destination,
                         InResponseTo=in_response_to)
    etree.SubElement(root, q("saml", "Issuer")).text = issuer
    etree.SubElement(etree.SubElement(root, q("samlp", "Status")), q("samlp", "StatusCode"), Value=SUCCESS)
    return bytes(etree.tostring(root, encoding="UTF-8"))


def read_logout_request(root: etree._Element) -> LogoutRequestInfo:
    if root.tag != q("samlp", "LogoutRequest") or root.get("Version") != "2.0" or not root.get("ID"):
        raise SamlError("the message is not a SAML 2.0 LogoutRequest")
    issuer = (root.findtext("saml:Issuer", namespaces=NS) or "").strip()
    if not issuer:
        raise SamlError("the LogoutRequest names no Issuer")
    if abs(parse_instant(root.get("IssueInstant", "")) - time.time()) > SKEW:
        raise SamlError("the LogoutRequest's IssueInstant is too far from now")
    return LogoutRequestInfo(str(root.get("ID"))[:256], issuer, root.get("Destination", ""),
                             (root.findtext("saml:NameID", namespaces=NS) or "").strip(),
                             tuple((s.text or "").strip() for s in root.findall("samlp:SessionIndex", NS)))
