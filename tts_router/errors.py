"""One typed error tree, and one table that says what every error code means.

Every error has a stable ``code`` (safe to match on, log, or return over HTTP). What a code
means is written once, in :data:`ERRORS`: the class that carries it, the HTTP status a host app
should answer with, ``retryable`` (the same call to the same provider may succeed later) and
``fallback`` (another provider may succeed where this one failed). The provider base class, the
service, the engines and the client all raise codes from this table, so a host sees the same
code whether the provider ran in-process or behind a service.

Messages name the fix and never contain input text, transcripts, reference audio or secrets:
callers may log them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = [
    "ERRORS",
    "AudioValidationError",
    "AuthenticationError",
    "ConfigurationError",
    "ErrorSpec",
    "NoProviderError",
    "OutputValidationError",
    "PluginError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "ProvidersFailedError",
    "RateLimitedError",
    "StreamInterruptedError",
    "TTSRouterError",
    "TruncatedOutputError",
    "UnsupportedLanguageError",
    "UnsupportedOperationError",
    "ValidationError",
    "detached",
    "error_for_code",
    "spec_for",
]


class TTSRouterError(Exception):
    """Base of every error raised by tts_router and its providers.

    ``retryable``, ``fallback`` and ``http_status`` come from :data:`ERRORS` for the error's
    ``code``; a code the table does not know (a third-party plugin's own) takes its class's.
    """

    code: str = "tts_router_error"

    def __init__(self, message: str, *, code: str | None = None, provider: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.provider = provider

    @property
    def spec(self) -> ErrorSpec:
        """This error's row of the table (its class's row for an unknown code)."""
        return spec_for(self.code, type(self))

    @property
    def retryable(self) -> bool:
        """Whether trying the same call on the same provider again could succeed."""
        return self.spec.retryable

    @property
    def fallback(self) -> bool:
        """Whether another provider may succeed where this one failed."""
        return self.spec.fallback

    @property
    def http_status(self) -> int:
        """The status a host app (or the protocol's service) answers with."""
        return self.spec.status

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
    """A provider failed while doing the work; the table says whether a retry can help."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, provider=provider)
        self.status = status  # the service's HTTP status, when there was a service
        self.request_id = request_id
        self.retry_after = retry_after  # seconds the service asked us to wait, if it said


class ProviderUnavailableError(ProviderError):
    """The provider cannot be reached or is overloaded, or its circuit is open."""

    code = "provider_unavailable"


class ProviderTimeoutError(ProviderError):
    """The provider did not finish within its timeout or the request's."""

    code = "provider_timeout"


class AuthenticationError(ProviderError):
    """The provider refused our credentials (401/403). Retrying will not help."""

    code = "authentication_failed"


class RateLimitedError(ProviderError):
    """The provider asked us to slow down (429)."""

    code = "rate_limited"


class OutputValidationError(ProviderError):
    """The provider returned something that is not usable audio (NaN, silence, empty...)."""

    code = "invalid_output"


class TruncatedOutputError(OutputValidationError):
    """Generation stopped at its length cap: returning it would silently drop text."""

    code = "truncated_output"


class ProvidersFailedError(ProviderError):
    """Every provider the router tried failed; ``failures`` holds each one's error in order.

    The message's first line is the first provider's own failure (the real cause).
    """

    code = "all_providers_failed"

    def __init__(self, failures: Iterable[tuple[str, TTSRouterError]]) -> None:
        self.failures = tuple(failures)
        first_id, first = self.failures[0]
        lines = [f"{first_id}: {first.message}"]
        lines += [f"then {pid}: {exc.message}" for pid, exc in self.failures[1:]]
        super().__init__("\n".join(lines), retry_after=getattr(first, "retry_after", None))


class StreamInterruptedError(ProviderError):
    """A stream failed after delivering audio: ``delivered`` chunks (``seconds`` of audio)
    reached the caller; ``cause_code`` is the failure's code. Never retried or routed
    elsewhere: the rest would come in another voice."""

    code = "stream_interrupted"

    def __init__(self, cause: TTSRouterError, *, delivered: int, seconds: float) -> None:
        self.cause_code = cause.code
        self.delivered = delivered
        self.seconds = seconds
        super().__init__(
            f"the stream broke after {delivered} chunk(s), {seconds:.2f} s of audio "
            f"({cause.code}: {cause.message}); request the rest of the text again",
            provider=cause.provider,
        )


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One row of the error table."""

    code: str
    error: type[TTSRouterError]
    status: int
    retryable: bool
    fallback: bool
    meaning: str


_V, _A, _P, _OUT = ValidationError, AudioValidationError, ProviderError, OutputValidationError
# The reference audio's codes (audio_<name>, with the HTTP status of the caller's mistake) and
# the returned audio's (output_<name>, a 502): one validator checks both.
_AUDIO_CODES = {
    "empty": (400, "there is no audio"),
    "too_large": (413, "the file is larger than allowed"),
    "unreadable": (415, "the file is not audio in a supported format, or is corrupt"),
    "format_not_allowed": (415, "the container or encoding is not accepted"),
    "sample_rate": (400, "the sample rate is out of range"),
    "channels": (400, "too many channels"),
    "too_short": (400, "shorter than the minimum"),
    "too_long": (400, "longer than the maximum"),
    "not_finite": (400, "NaN or infinite samples"),
    "silent": (400, "silence (peak below -60 dBFS)"),
    "decoder_missing": (415, "WebM or MP4 audio, and PyAV (the formats extra) is not installed"),
}

# code, class, HTTP status, retryable, fallback, meaning. Statuses are what a host app should
# answer its own caller: 4xx for the caller's mistakes, 502/503/504 when a provider failed.
_ROWS: tuple[tuple[str, type[TTSRouterError], int, bool, bool, str], ...] = (
    # -- the caller's request ---------------------------------------------------------------
    ("invalid_request", _V, 400, False, False, "the request is malformed"),
    ("validation_failed", _V, 422, False, False, "a field of a protocol body is invalid"),
    ("empty_text", _V, 400, False, False, "the text has nothing speakable"),
    ("empty_instruct", _V, 400, False, False, "the voice description is empty"),
    ("text_too_long", _V, 413, False, False, "the text is over the limit; split it"),
    ("unpronounceable_text", _V, 400, False, False, "nothing in the text can be spoken"),
    ("transcript_required", _V, 400, False, False, "this provider needs the transcript"),
    ("invalid_options", _V, 400, False, False, "unknown or out-of-range generation options"),
    ("invalid_base64", _V, 400, False, False, "audio_base64 is not base64"),
    ("invalid_audio", _A, 400, False, False, "the reference audio was rejected"),
    *(
        (f"audio_{name}", _A, status, False, False, meaning)
        for name, (status, meaning) in _AUDIO_CODES.items()
    ),
    ("reference_is_text", _A, 400, False, False, "audio given as a str: bytes, or from_base64"),
    ("unsupported_language", UnsupportedLanguageError, 400, False, False, "language not spoken"),
    ("unsupported_operation", UnsupportedOperationError, 400, False, False, "not offered"),
    ("unsupported_media_type", _V, 415, False, False, "the body's content type is wrong"),
    ("body_too_large", _V, 413, False, False, "the request body is over the service's limit"),
    ("hash_mismatch", _V, 400, False, False, "an uploaded voice does not match its sha256"),
    ("voice_not_found", _V, 404, False, False, "the service holds no voice with this id"),
    ("invalid_seed", _V, 400, False, False, "the seed is not an integer from 0 to 2**32 - 1"),
    ("invalid_characters", _V, 400, False, False, "a text field holds lone surrogates"),
    ("headers_too_large", _V, 431, False, False, "the request's headers are over the limit"),
    ("no_provider", NoProviderError, 422, False, False, "no installed provider qualifies"),
    ("unsupported_format", _V, 400, False, False, "an output format this library lacks"),
    ("unsupported_option", _V, 400, False, False, "an option no qualifying provider offers"),
    ("invalid_api_key", _V, 401, False, False, "no valid API key (Authorization: Bearer)"),
    ("concurrency_limit", RateLimitedError, 429, True, False, "too many requests in flight"),
    # -- configuration and plugins ------------------------------------------------------------
    ("configuration_error", ConfigurationError, 500, False, True, "settings are wrong"),
    ("missing_extra", ConfigurationError, 500, False, True, "an optional extra is missing"),
    ("plugin_error", PluginError, 500, False, True, "a plugin is broken"),
    ("espeak_data_path", ConfigurationError, 500, False, True, "eSpeak NG data not found"),
    ("espeak_init_failed", ConfigurationError, 500, False, True, "eSpeak NG did not start"),
    # -- the provider or its service ------------------------------------------------------
    ("provider_error", _P, 502, False, True, "the provider failed"),
    ("internal_error", _P, 502, True, True, "the provider failed unexpectedly (a bug)"),
    ("provider_unavailable", ProviderUnavailableError, 503, True, True, "cannot be reached"),
    ("circuit_open", ProviderUnavailableError, 503, False, True, "failing; not tried for now"),
    ("loading", ProviderUnavailableError, 503, True, True, "the model is still loading"),
    ("overloaded", ProviderUnavailableError, 503, True, True, "the service is at capacity"),
    ("load_failed", ProviderUnavailableError, 503, False, True, "the model failed to load"),
    ("provider_timeout", ProviderTimeoutError, 504, False, True, "did not finish in time"),
    (
        "deadline_unmeetable",
        ProviderUnavailableError,
        503,
        True,
        True,
        "the queue is too long to finish within the caller's deadline",
    ),
    (
        "deadline_too_short",
        ProviderTimeoutError,
        504,
        False,
        True,
        "the job alone takes longer than the caller's deadline",
    ),
    ("request_timeout", _P, 408, True, True, "the request was not sent in time (stalled upload)"),
    ("job_not_found", _P, 404, False, True, "no such job here (expired, or another instance)"),
    ("job_cancelled", _P, 409, False, False, "the job was cancelled before it finished"),
    ("service_timeout", ProviderTimeoutError, 504, True, True, "no answer within the read timeout"),
    ("rate_limited", RateLimitedError, 429, True, True, "the provider is rate limiting"),
    ("authentication_failed", AuthenticationError, 502, False, True, "credentials refused"),
    ("stream_interrupted", StreamInterruptedError, 502, False, False, "a stream broke midway"),
    ("all_providers_failed", ProvidersFailedError, 503, False, False, "every provider failed"),
    ("service_error", _P, 502, True, True, "the service failed with a code we do not know"),
    ("request_rejected", _P, 502, False, False, "the service refused with a code we do not know"),
    ("not_found", _P, 502, False, True, "the service has no such route (a wrong URL?)"),
    ("method_not_allowed", _P, 502, False, True, "the service refused the method (wrong URL?)"),
    ("redirect_refused", _P, 502, False, True, "redirected to another origin"),
    ("too_many_redirects", _P, 504, False, True, "the job's result never became ready"),
    ("unexpected_content_type", _P, 502, True, True, "not audio/wav (a proxy page?)"),
    ("invalid_response", _P, 502, False, True, "the service's answer breaks the protocol"),
    ("espeak_failed", _P, 502, False, True, "eSpeak NG failed to synthesise"),
    ("espeak_voice_missing", _P, 502, False, True, "an eSpeak NG voice is missing"),
    # -- the audio a provider returned ----------------------------------------------------
    ("invalid_output", _OUT, 502, True, True, "the audio returned is unusable"),
    ("truncated_output", TruncatedOutputError, 502, False, True, "generation hit its length cap"),
    ("output_not_float", _OUT, 502, False, True, "samples are not floating point"),
    ("output_not_mono", _OUT, 502, False, True, "samples are not a 1-D mono array"),
    ("output_out_of_range", _OUT, 502, False, True, "samples outside [-1, 1]"),
    ("output_no_rate", _OUT, 502, False, True, "samples without a sample rate"),
    ("output_rate_mismatch", _OUT, 502, False, True, "not the declared sample rate"),
    *(
        (f"output_{name}", _OUT, 502, True, True, meaning)
        for name, (_, meaning) in _AUDIO_CODES.items()
    ),
)
ERRORS: Mapping[str, ErrorSpec] = MappingProxyType({row[0]: ErrorSpec(*row) for row in _ROWS})

_UNKNOWN = ErrorSpec("tts_router_error", TTSRouterError, 500, False, False, "unknown")


def spec_for(code: str, cls: type[TTSRouterError] = TTSRouterError) -> ErrorSpec:
    """The table's row for ``code``; for a code it lacks, the row of ``cls``'s own code."""
    codes = (code, *(getattr(klass, "code", "") for klass in cls.__mro__))
    return next((ERRORS[known] for known in codes if known in ERRORS), _UNKNOWN)


_E = TypeVar("_E", bound=BaseException)


def detached(error: _E) -> _E:
    """``error`` without chained exceptions or the frames below the raise.

    What leaves the library's public calls: error reporters that capture frame locals (Sentry
    does by default) would otherwise collect the user's text and a client's credentials from
    the frames deeper down.
    """
    error.__cause__ = error.__context__ = None
    error.__suppress_context__ = True
    return error.with_traceback(None)


def error_for_code(code: str, message: str, **details: Any) -> TTSRouterError:
    """An error of the table's class for ``code``: how the client rebuilds a service's error.

    ``details`` (``provider``, ``status``, ``request_id``, ``retry_after``) go where the class
    takes them.
    """
    cls = ERRORS[code].error
    provider = details.get("provider")
    if cls is UnsupportedLanguageError:
        return UnsupportedLanguageError(message, provider=provider)
    if cls is NoProviderError:
        return NoProviderError(message)
    if cls in (ProvidersFailedError, StreamInterruptedError):
        cls = ProviderError
    if issubclass(cls, ProviderError):
        return cls(message, code=code, **details)
    return cls(message, code=code, provider=provider)
