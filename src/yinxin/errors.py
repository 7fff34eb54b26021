"""Errors that adapters turn into exit codes and HTTP statuses.

Every refusal the platform makes is a ``YinxinError`` carrying a machine-readable ``code`` and,
where one input is to blame, the ``field`` that was wrong, so the CLI and the API can name it
without parsing messages. Messages never contain key material or PINs.
"""

from __future__ import annotations


class YinxinError(Exception):
    """Base of every refusal. ``exit_code`` is the CLI's, ``http_status`` the API's."""

    exit_code = 1
    http_status = 400
    code = "error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        out = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class ValidationError(YinxinError):
    """Input that is malformed or fails a check digit; names the field."""

    exit_code = 2
    http_status = 422
    code = "invalid"


class NotFound(YinxinError):
    exit_code = 3
    http_status = 404
    code = "not_found"


class IllegalTransition(YinxinError):
    """A lifecycle verb that the table of allowed moves does not permit from the current state."""

    exit_code = 4
    http_status = 409
    code = "illegal_transition"


class Forbidden(YinxinError):
    """Wrong PIN, wrong passphrase, a member without authorization, a locked seal."""

    exit_code = 5
    http_status = 403
    code = "forbidden"


class Conflict(YinxinError):
    exit_code = 6
    http_status = 409
    code = "conflict"


class ConfigurationError(YinxinError):
    exit_code = 7
    http_status = 500
    code = "configuration"
