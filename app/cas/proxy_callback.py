"""Delivering a proxy-granting ticket to the service's pgtUrl (CAS §2.5.4): an HTTP GET with pgtId and pgtIou,
the server's certificate verified; only a 200 answer counts (a redirect is not followed)."""

from __future__ import annotations

import logging

import httpx
from authlib.common.urls import add_params_to_uri

log = logging.getLogger(__name__)
TIMEOUT = 3.0


def deliver_proxy_granting_ticket(pgt_url: str, pgt: str, iou: str) -> bool:
    try:
        reply = httpx.get(add_params_to_uri(pgt_url, [("pgtId", pgt), ("pgtIou", iou)]), timeout=TIMEOUT,
                          follow_redirects=False)
    except httpx.HTTPError as exc:
        log.warning("proxy callback to %s failed: %s", pgt_url, type(exc).__name__)
        return False
    return reply.status_code == 200
