"""Outgoing text messages through an HTTP gateway (JSON {"to", "text"}, bearer token)."""

from __future__ import annotations

import logging

import httpx

from app.settings import Settings

log = logging.getLogger(__name__)


class SmsSender:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, to: str, text: str) -> bool:
        if not self.settings.sms_gateway_url:
            log.warning("no SMS gateway configured: a text to a recovery phone was not sent")
            return False
        try:
            reply = httpx.post(self.settings.sms_gateway_url, json={"to": to, "text": text}, timeout=5,
                               headers={"Authorization": f"Bearer {self.settings.sms_gateway_token}"})
        except httpx.HTTPError as exc:
            log.warning("SMS gateway unreachable: %s", exc)
            return False
        if reply.status_code >= 300:
            log.warning("SMS gateway refused the message: HTTP %s", reply.status_code)
            return False
        return True
