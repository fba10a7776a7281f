"""The Provider base class and the Capabilities every provider declares.

The public methods (:meth:`Provider.clone`, :meth:`Provider.design`) live here and do the work
every provider needs done the same way: validate the text and language, validate the reference
audio, split long text into chunks the engine accepts and stitch the audio back, validate the
output, time it, and turn unexpected exceptions into typed errors. A provider implements the two
small private methods :meth:`Provider._clone` and :meth:`Provider._design` for ONE chunk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .audio import (
    REFERENCE_LIMITS,
    AudioLimits,
    DecodedAudio,
    decode_audio,
    encode_wav,
    stitch,
    validate_output_samples,
    validate_output_wav,
)
from .errors import ProviderError, TTSRouterError, UnsupportedOperationError, ValidationError
from .languages import normalize_language
from .models import (
    CloneMode,
    CloneRequest,
    DesignRequest,
    Operation,
    QualityTier,
    SpeechResult,
)
from .text import split_text

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "MAX_TEXT_CHARS",
    "X_VECTOR_WARNING",
    "Capabilities",
    "Health",
    "Provider",
    "Speech",
    "SyncProvider",
]

# A whole request's text: long enough for a chapter, short enough that a runaway caller cannot
# queue hours of GPU time in one call. Per-call engine limits are ``Capabilities.max_text_chars``.
MAX_TEXT_CHARS = 100_000

# What every provider says when it cloned without a transcript from the embedding alone.
X_VECTOR_WARNING = (
    "no transcript: cloned from the speaker embedding alone (x-vector mode); pass the "
    "reference transcript for closer similarity"
)

T = TypeVar("T")


class Capabilities(BaseModel):
    """What a provider can do; the router selects on this without any I/O."""

    model_config = ConfigDict(frozen=True)

    operations: frozenset[Operation]
    languages: tuple[str, ...] = Field(description="Canonical codes, see tts_router.languages.")
    clone_modes: tuple[CloneMode, ...] = Field(
        default=(), description="Clone modes, preferred first; 'icl' needs a transcript."
    )
    sample_rate: int
    max_text_chars: int = Field(
        description="Longest text for one engine call; longer text is split at sentences."
    )
    quality: QualityTier = "reference"
    license: str | None = Field(default=None, description="Licence terms the host must honour.")

    @property
    def uses_transcript(self) -> bool:
        """The provider makes use of a reference transcript (ICL cloning)."""
        return "icl" in self.clone_modes

    @property
    def clones_without_transcript(self) -> bool:
        """The provider can clone from reference audio alone."""
        return any(mode != "icl" for mode in self.clone_modes)


@dataclass(frozen=True, slots=True)
class Health:
    """Result of an active health check (:meth:`Provider.health`)."""

    ok: bool
    detail: str = ""


@dataclass(slots=True)
class Speech:
    """What a provider's private method returns for one chunk: samples or a WAV file."""

    model: str
    mode: CloneMode
    samples: Any = None
    sample_rate: int | None = None
    wav: bytes | None = None
    warnings: list[str] = field(default_factory=list)

    def decoded(self, provider_id: str) -> DecodedAudio:
        """The chunk's audio, checked by the one output validator."""
        if self.wav is not None:
            return validate_output_wav(self.wav, provider=provider_id)
        if self.samples is None or self.sample_rate is None:
            raise ProviderError("the provider returned no audio", provider=provider_id)
        return validate_output_samples(self.samples, self.sample_rate, provider=provider_id)


class Provider:
    """Base class for every speech provider (plugins subclass it).

    Subclasses set ``id``, implement :attr:`capabilities`, and implement ``_clone`` and/or
    ``_design``. Construction must be cheap and do no I/O: the router builds every registered
    provider to compare capabilities.
    """

    id: ClassVar[str]
    reference_limits: ClassVar[AudioLimits] = REFERENCE_LIMITS

    @classmethod
    def from_settings(cls, settings: Settings) -> Provider:
        """Build the provider from configuration (override to read provider settings)."""
        return cls()

    @property
    def capabilities(self) -> Capabilities:
        """Static or cached capabilities; never performs I/O."""
        raise NotImplementedError

    @property
    def version(self) -> str:
        """The provider's version, shown by ``tts-router providers``."""
        return "0"

    def missing_configuration(self) -> str | None:
        """None when usable; otherwise what to configure (``"set QWEN_MODAL_URL"``)."""
        return None

    @property
    def available(self) -> bool:
        """Cheap, I/O-free health the router reads (for example: circuit breaker closed)."""
        return True

    async def health(self) -> Health:
        """An active check (may do I/O); the default trusts :attr:`available`."""
        return Health(ok=self.available, detail="" if self.available else "unavailable")

    async def aclose(self) -> None:
        """Release connections or models; the default holds nothing."""

    # -- public API ----------------------------------------------------------------------------

    async def clone(self, request: CloneRequest) -> SpeechResult:
        """Speak ``request.text`` in the voice of ``request.reference``."""
        caps = self._require("clone")
        language = self._language(request.language, caps)
        reference = decode_audio(request.reference.audio, self.reference_limits)
        if not caps.clones_without_transcript and not request.reference.has_transcript:
            raise ValidationError(
                "this provider needs the reference transcript; pass transcript=...",
                code="transcript_required",
                provider=self.id,
            )

        def one_chunk(chunk: str) -> Awaitable[Speech]:
            return self._clone(chunk, language, request, reference)

        return await self._synthesise(request.text, request.request_id, caps, one_chunk)

    async def design(self, request: DesignRequest) -> SpeechResult:
        """Speak ``request.text`` in a new voice described by ``request.instruct``."""
        caps = self._require("design")
        language = self._language(request.language, caps)
        if not request.instruct.strip():
            raise ValidationError(
                "the voice description is empty; describe the voice in instruct=...",
                code="empty_instruct",
                provider=self.id,
            )

        def one_chunk(chunk: str) -> Awaitable[Speech]:
            return self._design(chunk, language, request)

        return await self._synthesise(request.text, request.request_id, caps, one_chunk)

    @property
    def sync(self) -> SyncProvider:
        """Blocking versions of the public methods, for scripts and notebooks."""
        return SyncProvider(self)

    # -- what subclasses implement -----------------------------------------------------------

    async def _clone(
        self, text: str, language: str, request: CloneRequest, reference: DecodedAudio
    ) -> Speech:
        """Clone one chunk (at most ``max_text_chars``) in a canonical ``language``."""
        raise UnsupportedOperationError("this provider cannot clone voices", provider=self.id)

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        """Design a voice for one chunk (at most ``max_text_chars``)."""
        raise UnsupportedOperationError("this provider cannot design voices", provider=self.id)

    # -- shared machinery ------------------------------------------------------------------

    def _require(self, operation: Operation) -> Capabilities:
        caps = self.capabilities
        if operation not in caps.operations:
            raise UnsupportedOperationError(
                f"provider {self.id!r} does not support {operation}; it offers "
                + ", ".join(sorted(caps.operations)),
                provider=self.id,
            )
        return caps

    def _language(self, value: str, caps: Capabilities) -> str:
        return normalize_language(value, caps.languages)

    async def _synthesise(
        self,
        text: str,
        request_id: str,
        caps: Capabilities,
        one_chunk: Callable[[str], Awaitable[Speech]],
    ) -> SpeechResult:
        chunks = _checked_chunks(text, caps.max_text_chars, self.id)
        started = time.perf_counter()
        try:
            speeches = [await one_chunk(chunk) for chunk in chunks]
            decoded = [speech.decoded(self.id) for speech in speeches]
        except TTSRouterError as exc:
            exc.provider = exc.provider or self.id
            raise
        except Exception as exc:  # a bug or an engine failure: type it, never echo its text
            raise ProviderError(
                f"the provider failed unexpectedly ({type(exc).__name__}); see its logs",
                code="provider_internal_error",
                provider=self.id,
            ) from exc
        sample_rate = decoded[0].sample_rate
        if any(d.sample_rate != sample_rate for d in decoded):
            raise ProviderError(
                "the provider returned chunks at different sample rates", provider=self.id
            )
        samples = stitch([d.samples for d in decoded], sample_rate)
        warnings = list(dict.fromkeys(w for s in speeches for w in s.warnings))
        if speeches[0].mode == "x_vector":
            warnings.append(X_VECTOR_WARNING)
        if len(chunks) > 1:
            warnings.append(f"text was spoken in {len(chunks)} chunks joined with crossfades")
        return SpeechResult(
            audio=encode_wav(samples, sample_rate),
            sample_rate=sample_rate,
            duration=len(samples) / sample_rate,
            provider=self.id,
            model=speeches[0].model,
            mode=speeches[0].mode,
            quality=caps.quality,
            request_id=request_id,
            timings={"total": time.perf_counter() - started},
            warnings=tuple(warnings),
        )


def _checked_chunks(text: str, max_chars: int, provider_id: str) -> list[str]:
    if not text.strip():
        raise ValidationError("the text is empty", code="empty_text", provider=provider_id)
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(
            f"the text is {len(text)} characters; split it into requests of at most "
            f"{MAX_TEXT_CHARS}",
            code="text_too_long",
            provider=provider_id,
        )
    return split_text(text, max_chars)


class SyncProvider:
    """A blocking facade over a provider: ``provider.sync.clone(request)``."""

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    def clone(self, request: CloneRequest) -> SpeechResult:
        """Blocking :meth:`Provider.clone`."""
        return _run(self._provider.clone(request))

    def design(self, request: DesignRequest) -> SpeechResult:
        """Blocking :meth:`Provider.design`."""
        return _run(self._provider.design(request))

    def health(self) -> Health:
        """Blocking :meth:`Provider.health`."""
        return _run(self._provider.health())


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("the sync facade cannot run inside an event loop; await the method")
