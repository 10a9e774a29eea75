"""CAS tickets: an alphabet every client accepts, enough randomness, and the prefix that says what a ticket is.

mod_auth_cas silently ignores a ticket outside `^[PS]T-[A-Za-z0-9.-]+$`, and the protocol (§3.7) asks for
the characters [a-zA-Z0-9-] only, so tickets are drawn from letters and digits: 32 of them carry 190 bits.
"""

from __future__ import annotations

import re
import secrets
import string

SERVICE_TICKET = "ST"
PROXY_TICKET = "PT"
PROXY_GRANTING_TICKET = "PGT"
PROXY_GRANTING_IOU = "PGTIOU"
_ALPHABET = string.ascii_letters + string.digits
_RANDOM_CHARS = 32
TICKET_SHAPE = re.compile(r"^(ST|PT|PGT|PGTIOU)-[A-Za-z0-9-]{20,250}$")


def new_ticket(prefix: str) -> str:
    return f"{prefix}-1-" + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))


def kind_of(ticket: str) -> str | None:
    """The ticket's kind (ST, PT, PGT, PGTIOU) when it has a ticket's shape, else None."""
    match = TICKET_SHAPE.match(ticket)
    return match.group(1) if match else None
