"""The answers of the validation endpoints: CAS 2.0/3.0 XML, the JSON of CAS 3.0 (`format=JSON`) and the
two lines of CAS 1.0. Built with ElementTree, so names and attributes with markup in them are escaped."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = "http://www.yale.edu/tp/cas"
ET.register_namespace("cas", NS)

# Failure codes of the protocol (§2.5.3, §2.7.2)
INVALID_REQUEST = "INVALID_REQUEST"
INVALID_TICKET_SPEC = "INVALID_TICKET_SPEC"
UNAUTHORIZED_SERVICE_PROXY = "UNAUTHORIZED_SERVICE_PROXY"
INVALID_PROXY_CALLBACK = "INVALID_PROXY_CALLBACK"
INVALID_TICKET = "INVALID_TICKET"
INVALID_SERVICE = "INVALID_SERVICE"
INTERNAL_ERROR = "INTERNAL_ERROR"
UNAUTHORIZED_SERVICE = "UNAUTHORIZED_SERVICE"


@dataclass(frozen=True)
class Success:
    user: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    pgt_iou: str | None = None
    proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failure:
    code: str
    description: str


@dataclass(frozen=True)
class ProxySuccess:
    ticket: str


Answer = Success | Failure | ProxySuccess


def _tag(name: str) -> str:
    return f"{{{NS}}}{name}"


def as_xml(answer: Answer) -> str:
    root = ET.Element(_tag("serviceResponse"))
    if isinstance(answer, Success):
        node = ET.SubElement(root, _tag("authenticationSuccess"))
        ET.SubElement(node, _tag("user")).text = answer.user
        if answer.attributes:
            attrs = ET.SubElement(node, _tag("attributes"))
            for name, values in answer.attributes.items():
                for value in values:
                    ET.SubElement(attrs, _tag(name)).text = value
        if answer.pgt_iou:
            ET.SubElement(node, _tag("proxyGrantingTicket")).text = answer.pgt_iou
        if answer.proxies:
            proxies = ET.SubElement(node, _tag("proxies"))
            for url in answer.proxies:
                ET.SubElement(proxies, _tag("proxy")).text = url
    elif isinstance(answer, ProxySuccess):
        ET.SubElement(ET.SubElement(root, _tag("proxySuccess")), _tag("proxyTicket")).text = answer.ticket
    else:
        ET.SubElement(root, _tag("authenticationFailure"), code=answer.code).text = answer.description
    return ET.tostring(root, encoding="unicode")


def proxy_failure_xml(failure: Failure) -> str:
    root = ET.Element(_tag("serviceResponse"))
    ET.SubElement(root, _tag("proxyFailure"), code=failure.code).text = failure.description
    return ET.tostring(root, encoding="unicode")


def as_json(answer: Answer) -> str:
    body: dict[str, object]
    if isinstance(answer, Success):
        success: dict[str, object] = {"user": answer.user, "attributes": answer.attributes}
        if answer.pgt_iou:
            success["proxyGrantingTicket"] = answer.pgt_iou
        if answer.proxies:
            success["proxies"] = list(answer.proxies)
        body = {"authenticationSuccess": success}
    elif isinstance(answer, ProxySuccess):
        body = {"proxySuccess": {"proxyTicket": answer.ticket}}
    else:
        body = {"authenticationFailure": {"code": answer.code, "description": answer.description}}
    return json.dumps({"serviceResponse": body}, ensure_ascii=False)


def as_cas1(answer: Answer) -> str:
    return f"yes\n{answer.user}\n" if isinstance(answer, Success) else "no\n\n"
