"""One typed error tree for everything tts_router raises.

Every error has a stable ``code`` (safe to match on, log, or return over HTTP) and ``retryable``
(whether trying the same job again could succeed). Messages name the fix and never contain input
text, transcripts, reference audio or secrets: callers may log them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AudioValidationError",
    "AuthenticationError",
    "ConfigurationError",
    "NoProviderError",
    "OutputValidationError",
    "PluginError",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "TTSRouterError",
    "TruncatedOutputError",
    "UnsupportedLanguageError",
    "UnsupportedOperationError",
    "ValidationError",
]


class TTSRouterError(Exception):
    """Base of every error raised by tts_router and its providers."""

    code: str = "tts_router_error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.provider = provider

    def __str__(self) -> str:
        prefix = f"[{self.provider}] " if self.provider else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ValidationError(TTSRouterError):
    """The caller's input is wrong (empty text, bad option...). Never retryable."""

    code = "invalid_request"


class AudioValidationError(ValidationError):
    """Reference audio was rejected; ``code`` says why (``audio_too_short``...)."""

    code = "invalid_audio"


class UnsupportedLanguageError(ValidationError):
    """The language is unknown, or not spoken by the chosen provider."""

    code = "unsupported_language"

    def __init__(
        self, message: str, *, supported: Iterable[str] = (), provider: str | None = None
    ) -> None:
        super().__init__(message, provider=provider)
        self.supported = tuple(supported)


class UnsupportedOperationError(ValidationError):
    """The provider does not offer this operation (for example ``design`` on Echo)."""

    code = "unsupported_operation"


class ConfigurationError(TTSRouterError):
    """Settings are missing or invalid; the message names the variable or TOML key to fix."""

    code = "configuration_error"


class NoProviderError(TTSRouterError):
    """No registered provider can serve the request; raised before any I/O."""

    code = "no_provider"

    def __init__(self, message: str, *, reasons: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.reasons = tuple(reasons)


class PluginError(TTSRouterError):
    """A plugin failed to load or registered something invalid."""

    code = "plugin_error"


class ProviderError(TTSRouterError):
    """A provider failed while doing the work. Subclasses say whether a retry can help."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable, provider=provider)
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after  # seconds the service asked us to wait, if it said


class ProviderUnavailableError(ProviderError):
    """The provider cannot be reached or is overloaded, or its circuit is open."""

    code = "provider_unavailable"
    retryable = True


class AuthenticationError(ProviderError):
    """The provider refused our credentials (401/403). Retrying will not help."""

    code = "authentication_failed"
    retryable = False


class RateLimitedError(ProviderError):
    """The provider asked us to slow down (429)."""

    code = "rate_limited"
    retryable = True


class OutputValidationError(ProviderError):
    """The provider returned something that is not usable audio (NaN, silence, empty...)."""

    code = "invalid_output"
    retryable = True


class TruncatedOutputError(OutputValidationError):
    """Generation stopped at its length cap: returning it would silently drop text."""

    code = "truncated_output"
    retryable = False
