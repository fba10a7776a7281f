"""The typed errors the service answers with, and the HTTP status of every typed error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ProviderError, TTSRouterError, ValidationError

__all__ = [
    "ServiceError",
    "body_too_large",
    "internal_error",
    "status_for_error",
    "validation_error",
]


def status_for_error(exc: TTSRouterError) -> int:
    """The service's HTTP status for a typed error, from its row of the error table.

    The table's status is what a host app answers; 502 there means "the provider failed",
    and here the service is that provider: it answers 500.
    """
    return 500 if exc.http_status == 502 else exc.http_status


class ServiceError(TTSRouterError):
    """An error the service itself answers with (``loading``, ``overloaded``, ...)."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


def internal_error(exc: BaseException) -> ProviderError:
    """The 500 ``internal_error`` that stands for an unexpected exception."""
    # The exception's own text may quote input (engines echo what they reject): keep its type.
    return ProviderError(
        f"the engine failed unexpectedly ({type(exc).__name__}); see the service logs",
        code="internal_error",
    )


def body_too_large(limit: int) -> ServiceError:
    """413 ``body_too_large``, with the way around the limit."""
    return ServiceError(
        "body_too_large",
        f"the request body is larger than {limit} bytes; upload the reference once with "
        "PUT /voices/{sha256} and clone by voice_id",
    )


def validation_error(errors: Sequence[Any]) -> ValidationError:
    """422 listing the fields at fault (never their values); a blank text is ``empty_text``,
    a string that is not valid Unicode (lone surrogates) ``invalid_characters``."""
    locations = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "string_too_short" and loc and loc[-1] == "text":
            return ValidationError("the text is empty", code="empty_text")
        if error.get("type") == "string_unicode":
            return ValidationError(
                f"the {loc[-1] if loc else 'body'} holds lone surrogates, which are not text; "
                "send valid UTF-8",
                code="invalid_characters",
            )
        locations.append(".".join(loc) or "body")
    fields = ", ".join(dict.fromkeys(locations))
    return ValidationError(f"the request is invalid at: {fields}", code="validation_failed")
