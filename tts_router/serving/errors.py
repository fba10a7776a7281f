"""The typed errors the service answers with, and the HTTP status of every typed error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import (
    AudioValidationError,
    ProviderError,
    ProviderUnavailableError,
    TTSRouterError,
    ValidationError,
)
from ..protocol import STATUS_FOR_CODE

__all__ = [
    "ServiceError",
    "body_too_large",
    "internal_error",
    "status_for_error",
    "validation_error",
]

# Audio codes that are the wrong kind of payload rather than a bad recording.
_AUDIO_STATUS = {"audio_unreadable": 415, "audio_format_not_allowed": 415, "audio_too_large": 413}


def status_for_error(exc: TTSRouterError) -> int:
    """The HTTP status for a typed error: the protocol's table first, then the error's kind."""
    if exc.code in STATUS_FOR_CODE:
        return STATUS_FOR_CODE[exc.code]
    if isinstance(exc, AudioValidationError):
        return _AUDIO_STATUS.get(exc.code, 400)
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, ProviderUnavailableError):
        return 503
    return 500


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
    """422 listing the fields at fault (never their values); a blank text is ``empty_text``."""
    locations = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "string_too_short" and loc and loc[-1] == "text":
            return ValidationError("the text is empty", code="empty_text")
        locations.append(".".join(loc) or "body")
    fields = ", ".join(dict.fromkeys(locations))
    return ValidationError(f"the request is invalid at: {fields}", code="validation_failed")
