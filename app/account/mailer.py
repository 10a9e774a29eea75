"""Outgoing mail over SMTP: reset links and recovery-address checks. No SMTP host configured: not sent."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from app.settings import Settings

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> bool:
        s = self.settings
        if not s.smtp_host:
            log.warning("no SMTP host configured: mail to a recovery address was not sent")
            return False
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.smtp_from, to, subject
        message.set_content(body)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("mail to a recovery address failed: %s", exc)
            return False
        return True
