"""Errors that adapters turn into exit codes and HTTP statuses.

Every refusal the platform makes is a ``YinxinError`` carrying a machine-readable ``code`` and,
where one input is to blame, the ``field`` that was wrong, so the CLI and the API can name it
without parsing messages. Messages never contain key material or PINs.
"""

from __future__ import annotations


class YinxinError(Exception):
    """Base of every refusal. ``exit_code`` is the CLI's, ``http_status`` the API's.

    A kind of refusal names its three in the class statement (``class NotFound(YinxinError,
    exit_code=3, http_status=404, code="not_found")``); one that leaves some out, or sets them
    in its body, keeps its parent's for the others.
    """

    exit_code = 1
    http_status = 400
    code = "error"

    def __init_subclass__(
        cls,
        *,
        exit_code: int | None = None,
        http_status: int | None = None,
        code: str | None = None,
        **kwargs,
    ):
        super().__init_subclass__(**kwargs)
        given = {"exit_code": exit_code, "http_status": http_status, "code": code}
        for name, value in given.items():
            if value is not None:
                setattr(cls, name, value)

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


class ValidationError(YinxinError, exit_code=2, http_status=422, code="invalid"):
    """Input that is malformed or fails a check digit; names the field."""


class TooLarge(ValidationError, http_status=413, code="too_large"):
    """A file or body over its limit: the API's 413 (as its request-body guard answers an
    oversized body), the CLI's exit 2 like any bad input; names the field carrying it."""


class NotFound(YinxinError, exit_code=3, http_status=404, code="not_found"):
    """No such subscriber, certificate, seal, key, document…"""


class IllegalTransition(YinxinError, exit_code=4, http_status=409, code="illegal_transition"):
    """A lifecycle verb that the table of allowed moves does not permit from the current state."""


class Forbidden(YinxinError, exit_code=5, http_status=403, code="forbidden"):
    """Wrong PIN, wrong passphrase, a member without authorization, a locked seal."""


class Conflict(YinxinError, exit_code=6, http_status=409, code="conflict"):
    """The change collides with what is already there (a duplicate, a race lost)."""


class ConfigurationError(YinxinError, exit_code=7, http_status=500, code="configuration"):
    """The platform is set up wrongly or a dependency (key store, HSM, database) refuses."""
