"""Refusals of the admin API, each with its HTTP status, a code, and words naming the field."""

from __future__ import annotations


class AdminError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class NotFound(AdminError):
    """Also the answer for an object outside the caller's units: guessing ids reveals nothing."""

    status, code = 404, "not_found"


class Conflict(AdminError):
    status, code = 409, "conflict"


class ReadOnly(AdminError):
    """The central directory owns this attribute: change it there, the sync brings it here."""

    status, code = 409, "directory_owned"


class PreconditionRequired(AdminError):
    status, code = 428, "precondition_required"


class PreconditionFailed(AdminError):
    """Someone else changed the object since the caller read it (ETag / If-Match)."""

    status, code = 412, "precondition_failed"
