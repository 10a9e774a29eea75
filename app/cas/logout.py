"""The CAS single-logout message (§2.3.3, Apereo's SAML-shaped logoutRequest), POSTed as `logoutRequest` to
each service that took a ticket in the session; SessionIndex is that ticket, by which clients find their own
session."""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def logout_request(session_index: str, issued_at: float | None = None) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued_at if issued_at is not None else time.time()))
    root = ET.Element(f"{{{SAMLP}}}LogoutRequest", ID=f"LR-{secrets.token_hex(16)}", Version="2.0",
                      IssueInstant=stamp)
    ET.SubElement(root, f"{{{SAML}}}NameID").text = "@NOT_USED@"
    ET.SubElement(root, f"{{{SAMLP}}}SessionIndex").text = session_index
    return ET.tostring(root, encoding="unicode")
