"""SAML metadata: the service providers' (read, to register them) and ours (written, at a stable URL)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from lxml import etree

from app import attributes
from app.oidc.models import Subject
from app.saml.bindings import POST, REDIRECT
from app.saml.xml import MD, NS, SamlError, parse, q

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_FORMATS = (PERSISTENT, TRANSIENT, EMAIL)


@dataclass(frozen=True)
class Endpoint:
    binding: str
    location: str
    index: int = 0
    default: bool = False


@dataclass(frozen=True)
class SpInfo:
    """A service provider as the protocol sees it (from its metadata, plus the province's choices)."""

    id: str
    entity_id: str
    name: str
    acs: tuple[Endpoint, ...]
    slo: tuple[Endpoint, ...] = ()
    signing_certs: tuple[str, ...] = ()
    encryption_certs: tuple[str, ...] = ()
    encrypt_assertions: bool = False
    authn_requests_signed: bool = False
    want_assertions_signed: bool = True
    nameid_format: str = PERSISTENT
    release: tuple[tuple[str, str], ...] = ()  # (SAML attribute name, our attribute)
    sign_response: bool = True
    require_mfa: bool = False
    allowed_units: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = field(default=())
    enabled: bool = True

    def acs_for(self, url: str | None, index: str | None) -> Endpoint | None:
        """The ACS a request names (by URL, which must be in the metadata, or by index), else the default."""
        posts = [e for e in self.acs if e.binding == POST]
        if url:
            return next((e for e in posts if e.location == url), None)
        if index:
            return next((e for e in posts if str(e.index) == index), None)
        return next((e for e in posts if e.default), posts[0] if posts else None)

    def admits(self, subject: Subject) -> bool:
        return attributes.admits(subject, self.allowed_units, self.allowed_groups)

    def slo_endpoint(self) -> Endpoint | None:
        return next((e for e in self.slo if e.binding == REDIRECT), next(iter(self.slo), None))


def _pem(b64: str) -> str:
    body = "".join(b64.split())
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(body, 64)) + "\n-----END CERTIFICATE-----\n"


def _endpoints(descriptor: etree._Element, tag: str) -> tuple[Endpoint, ...]:
    return tuple(Endpoint(str(e.get("Binding", "")), str(e.get("Location", "")), int(e.get("index", "0") or 0),
                          e.get("isDefault", "false").lower() == "true")
                 for e in descriptor.findall(f"md:{tag}", NS) if e.get("Location"))


def _certs(descriptor: etree._Element, use: str) -> tuple[str, ...]:
    """The certificates for one use; a KeyDescriptor without `use` serves both."""
    return tuple(_pem(c.text or "") for key in descriptor.findall("md:KeyDescriptor", NS)
                 if key.get("use") in (None, use) for c in key.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS))


def read_sp_metadata(data: bytes, sp_id: str) -> SpInfo:
    """The parts of an SP's metadata we act on; a descriptor without an HTTP-POST ACS cannot be served."""
    root = parse(data)
    entity = root if root.tag == q("md", "EntityDescriptor") else root.find("md:EntityDescriptor", NS)
    descriptor = entity.find("md:SPSSODescriptor", NS) if entity is not None else None
    if entity is None or descriptor is None or not entity.get("entityID"):
        raise SamlError("metadata: no EntityDescriptor with an SPSSODescriptor and an entityID")
    acs = _endpoints(descriptor, "AssertionConsumerService")
    if not any(e.binding == POST for e in acs):
        raise SamlError("metadata: the SP has no AssertionConsumerService with the HTTP-POST binding")
    certs = _certs(descriptor, "signing")
    formats = [f.text for f in descriptor.findall("md:NameIDFormat", NS) if f.text in NAMEID_FORMATS]
    return SpInfo(id=sp_id, entity_id=str(entity.get("entityID")), name=sp_id, acs=acs,
                  slo=_endpoints(descriptor, "SingleLogoutService"), signing_certs=certs,
                  encryption_certs=_certs(descriptor, "encryption"),
                  authn_requests_signed=descriptor.get("AuthnRequestsSigned", "false").lower() == "true",
                  want_assertions_signed=descriptor.get("WantAssertionsSigned", "true").lower() != "false",
                  nameid_format=formats[0] if formats else PERSISTENT)


def idp_metadata(entity_id: str, sso_url: str, cert_pem: str, slo_url: str | None = None) -> bytes:
    body = "".join(line for line in cert_pem.splitlines() if "CERTIFICATE" not in line)
    root = etree.Element(q("md", "EntityDescriptor"), nsmap={"md": MD, "ds": NS["ds"]}, entityID=entity_id)
    idp = etree.SubElement(root, q("md", "IDPSSODescriptor"), WantAuthnRequestsSigned="false",
                           protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol")
    key = etree.SubElement(idp, q("md", "KeyDescriptor"), use="signing")
    data = etree.SubElement(etree.SubElement(key, q("ds", "KeyInfo")), q("ds", "X509Data"))
    etree.SubElement(data, q("ds", "X509Certificate")).text = body
    if slo_url:
        etree.SubElement(idp, q("md", "SingleLogoutService"), Binding=REDIRECT, Location=slo_url)
    for nameid in NAMEID_FORMATS:
        etree.SubElement(idp, q("md", "NameIDFormat")).text = nameid
    for binding in (REDIRECT, POST):
        etree.SubElement(idp, q("md", "SingleSignOnService"), Binding=binding, Location=sso_url)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
