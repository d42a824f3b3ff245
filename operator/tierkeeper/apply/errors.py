"""The few API errors the operator tells apart; handlers never look at HTTP status codes."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the API server refused or could not serve."""

    def __init__(self, status: int, body: dict[str, Any], what: str) -> None:
        self.status = status
        self.body = body
        self.reason = str(body.get("reason", ""))
        self.message = str(body.get("message", f"HTTP {status}"))
        super().__init__(f"{what}: {self.message}")


class NotFound(ApiError):
    """The object, or its kind, does not exist."""


class Conflict(ApiError):
    """A conflicting write, or the object already exists."""

    @property
    def fields(self) -> set[str]:
        """Fields another manager owns, of a server-side apply conflict: `.spec.replicas`."""
        causes = (self.body.get("details") or {}).get("causes") or []
        return {str(cause.get("field", "")) for cause in causes}


class Forbidden(ApiError):
    """Our ServiceAccount may not do this, or the namespace is being deleted."""

    @property
    def namespace_terminating(self) -> bool:
        causes = (self.body.get("details") or {}).get("causes") or []
        return any(cause.get("type") == "NamespaceTerminating" for cause in causes)


class Invalid(ApiError):
    """The object was rejected by validation (schema, CEL, immutable field)."""


_BY_STATUS: dict[int, type[ApiError]] = {404: NotFound, 409: Conflict, 403: Forbidden, 422: Invalid}


def error_for(status: int, body: dict[str, Any], what: str) -> ApiError:
    return _BY_STATUS.get(status, ApiError)(status, body, what)
