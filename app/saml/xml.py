"""Parsing XML that strangers send: no DTD at all (so no external entities, no entity expansion), no network,
a size bound, and namespaces spelled once."""

from __future__ import annotations

from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "md": MD, "ds": DS}
MAX_MESSAGE = 256 * 1024

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_pis=True)


class SamlError(ValueError):
    """A message or a configuration that is refused, in words for the log and the error page."""

    def __init__(self, message: str, status: str = "urn:oasis:names:tc:SAML:2.0:status:Requester") -> None:
        super().__init__(message)
        self.status = status


def parse(data: bytes, limit: int = MAX_MESSAGE) -> etree._Element:
    if len(data) > limit:
        raise SamlError(f"the XML is larger than {limit // 1024} KB")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise SamlError("XML with a document type declaration is not accepted")
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SamlError(f"the XML is not well-formed: {exc}") from exc


def q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"
