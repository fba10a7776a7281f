"""The Provider base class and the Capabilities every provider declares.

The public methods (:meth:`Provider.clone`, :meth:`Provider.design`) live here and do the work
every provider needs done the same way: validate the text and language, validate the reference
audio, split long text into chunks the engine accepts and stitch the audio back, validate the
output, time it, and turn unexpected exceptions into typed errors. A provider implements the two
small private methods :meth:`Provider._clone` and :meth:`Provider._design` for ONE chunk.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .audio import (
    REFERENCE_LIMITS,
    AudioLimits,
    DecodedAudio,
    decode_audio,
    stitch,
    validate_output_samples,
    validate_output_wav,
)
from .errors import (
    OutputValidationError,
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
    TTSRouterError,
    UnsupportedOperationError,
    ValidationError,
    detached,
)
from .formats import StreamEncoder, encode, resample
from .languages import LANGUAGES, normalize_language
from .loudness import LoudnessLeveller
from .models import (
    CloneMode,
    CloneRequest,
    DesignRequest,
    Operation,
    QualityTier,
    SpeechResult,
    VoiceReference,
)
from .provider_settings import ProviderSettings
from .streaming import FIRST_CHUNK_CHARS, AudioChunk
from .text import chunk_spans, merge_chunked_warnings, require_speakable, split_text

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

logger = logging.getLogger("tts_router.provider")


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

    @field_validator("languages")
    @classmethod
    def _canonical_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        hints = [_canonical_hint(code) for code in value if code not in LANGUAGES]
        if hints:
            raise ValueError(
                "not canonical language codes: " + ", ".join(hints) + " (see tts_router.languages)"
            )
        return value

    @field_validator("sample_rate", "max_text_chars")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive number")
        return value

    @model_validator(mode="after")
    def _modes_match_operations(self) -> Capabilities:
        clones = "clone" in self.operations
        if clones and not self.clone_modes:
            raise ValueError("'clone' is an operation, so clone_modes must name at least one mode")
        if not clones and self.clone_modes:
            raise ValueError("clone_modes are declared but 'clone' is not an operation")
        if "design" in self.clone_modes:
            raise ValueError("'design' is not a clone mode")
        return self

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
    """What a provider's private method returns for one chunk: samples or a WAV file.

    ``samples``: a 1-D float array (float32 or float64) of finite mono samples in [-1, 1], at
    ``sample_rate``, which must equal ``capabilities.sample_rate``. Or ``wav``: a complete
    mono WAV file. ``timings``: seconds per stage of the provider's own work, if it measured
    any (a remote provider passes on the service's). ``checked``: the audio already decoded
    and checked by the one output validator (a remote provider's client did it on arrival);
    it is then not decoded again.
    """

    model: str
    mode: CloneMode
    samples: Any = None
    sample_rate: int | None = None
    wav: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    checked: DecodedAudio | None = None

    def __repr__(self) -> str:
        return f"Speech(model={self.model!r}, mode={self.mode!r}, rate={self.sample_rate!r})"

    def decoded(self, provider_id: str) -> DecodedAudio:
        """The chunk's audio, checked by the one output validator."""
        if self.checked is not None:
            return self.checked
        if self.wav is not None:
            return validate_output_wav(self.wav, provider=provider_id)
        if self.samples is None:
            raise OutputValidationError(
                "the provider returned no audio: set Speech.samples (or Speech.wav)",
                code="output_empty",
                provider=provider_id,
            )
        if self.sample_rate is None:
            raise OutputValidationError(
                "the provider returned samples without a rate: set Speech.sample_rate",
                code="output_no_rate",
                provider=provider_id,
            )
        return validate_output_samples(self.samples, self.sample_rate, provider=provider_id)


class Provider:
    """Base class for every speech provider (plugins subclass it).

    Subclasses set ``id``, implement :attr:`capabilities`, and implement ``_clone`` and/or
    ``_design``. Construction must be cheap and do no I/O: the router builds every registered
    provider to compare capabilities.
    """

    id: ClassVar[str]
    reference_limits: ClassVar[AudioLimits] = REFERENCE_LIMITS
    settings_model: ClassVar[type[ProviderSettings]] = ProviderSettings
    """What ``[providers.<id>]`` and the provider's environment variables may set, typed (see
    :mod:`.provider_settings`); any other key is an error. The base model has ``timeout``."""
    max_parallel_chunks: int = 1
    """How many chunks of a long text may be in flight at once: 1 for an engine in this
    process (it has one model); more for a remote service that scales out (fan-out)."""
    _names_its_errors: ClassVar[bool] = True  # errors say "[id] ..." (not the router's own)
    timeout: float | None = None
    """Seconds one request may take in this provider before a fallback-eligible
    ``provider_timeout``; None: no limit of the base class (a remote client keeps its own
    deadline). The router sets it from ``[providers.<id>] timeout``."""

    @classmethod
    def from_settings(cls, settings: Any) -> Provider:
        """Build the provider from its validated settings, an instance of
        :attr:`settings_model` (a subclass declares that type); the default calls ``cls()``.
        No I/O: the router builds every provider to list and compare them."""
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
        return await self._public(self._synthesise(self._clone_plan(request)), request.timeout)

    async def design(self, request: DesignRequest) -> SpeechResult:
        """Speak ``request.text`` in a new voice described by ``request.instruct``."""
        return await self._public(self._synthesise(self._design_plan(request)), request.timeout)

    async def stream_clone(self, request: CloneRequest) -> AsyncIterator[AudioChunk]:
        """:meth:`clone`, as audio chunks in order as each is ready (see :mod:`.streaming`)."""
        plan = await self._public(self._clone_plan(request), request.timeout)
        async for chunk in self._stream(plan):
            yield chunk

    async def stream_design(self, request: DesignRequest) -> AsyncIterator[AudioChunk]:
        """:meth:`design`, as audio chunks in order as each is ready."""
        plan = await self._public(self._design_plan(request), request.timeout)
        async for chunk in self._stream(plan):
            yield chunk

    @property
    def sync(self) -> SyncProvider:
        """Blocking versions of the public methods, for scripts and notebooks."""
        return SyncProvider(self)

    # -- what subclasses implement -----------------------------------------------------------
    #
    # Either as ``async def`` (it runs on the host's event loop, so it must only await: no
    # blocking I/O, no long computation; hand those to ``asyncio.to_thread``) or as a plain
    # ``def``, which the base class runs in a worker thread so the host's loop never stalls.

    def _clone(
        self, text: str, language: str, request: CloneRequest, reference: DecodedAudio
    ) -> Speech | Awaitable[Speech]:
        """Clone one chunk (at most ``max_text_chars``) in a canonical ``language``.

        ``reference`` is the decoded, validated reference (mono float32, its own rate);
        ``request`` carries the transcript, seed and ``options``.
        """
        raise UnsupportedOperationError("this provider cannot clone voices", provider=self.id)

    def _design(
        self, text: str, language: str, request: DesignRequest
    ) -> Speech | Awaitable[Speech]:
        """Design a voice for one chunk (at most ``max_text_chars``)."""
        raise UnsupportedOperationError("this provider cannot design voices", provider=self.id)

    # -- shared machinery ------------------------------------------------------------------

    async def _clone_plan(self, request: CloneRequest) -> _Plan:
        caps = self._require("clone")
        language = normalize_language(request.language, caps.languages)
        reference = await _decoded_reference(request.reference, self.reference_limits)
        if not caps.clones_without_transcript and not request.reference.has_transcript:
            raise ValidationError(
                "this provider needs the reference transcript; pass transcript=...",
                code="transcript_required",
                provider=self.id,
            )

        def one_chunk(chunk: str) -> Awaitable[Speech]:
            return self._off_loop(self._clone, chunk, language, request, reference)

        return _Plan(caps, language, one_chunk, request)

    async def _design_plan(self, request: DesignRequest) -> _Plan:
        caps = self._require("design")
        language = normalize_language(request.language, caps.languages)
        require_speakable(request.instruct, field="instruct", provider=self.id)

        def one_chunk(chunk: str) -> Awaitable[Speech]:
            return self._off_loop(self._design, chunk, language, request)

        return _Plan(caps, language, one_chunk, request)

    async def _public(self, work: Awaitable[T], request_timeout: float | None) -> T:
        """Run a public call under its timeout; errors leave it typed and detached.

        Detached: no traceback below this frame and no chained exceptions, because error
        reporters that capture frame locals (Sentry does by default) would otherwise collect
        the user's text and a client's credentials from the frames deeper down.
        """
        limit = self._limit(request_timeout)
        try:
            async with asyncio.timeout(limit) as scope:
                return await work
        except (TimeoutError, TTSRouterError) as exc:
            error = self._typed(exc, scope, limit)
        raise detached(error)

    async def _stream(self, plan: _Plan) -> AsyncIterator[AudioChunk]:
        """The plan's chunks (:meth:`_stream_chunks`) as a stream, each under the timeout, at
        the request's rate and loudness, with its piece of the request's format."""
        request = plan.request
        _check_text(request.text, self.id)
        limit = self._limit(request.timeout)
        delivered, seconds = 0, 0.0
        rate = request.sample_rate or plan.caps.sample_rate
        speeches = self._stream_chunks(request.text, plan)
        error: TTSRouterError
        scope: asyncio.Timeout | None = None  # none yet while the output is being set up
        try:
            encoder = StreamEncoder(request.format, rate)  # refuses flac before any work
            leveller = (
                None if request.loudness is None else LoudnessLeveller(request.loudness, rate)
            )
            while True:
                async with asyncio.timeout(limit) as scope:
                    piece = await anext(speeches, None)
                if piece is None:
                    return
                audio = piece.speech.decoded(self.id)
                self._check_rate(audio, plan.caps)
                samples = resample(audio.samples, audio.sample_rate, rate)
                if leveller is not None:
                    samples = leveller.apply(samples)
                data = encoder.encode(samples, rate)
                yield AudioChunk(
                    sequence=delivered,
                    samples=samples,
                    sample_rate=rate,
                    text_span=piece.text_span,
                    last=piece.last,
                    provider=self.id,
                    model=piece.speech.model,
                    mode=piece.speech.mode,
                    warnings=tuple(piece.speech.warnings),
                    data=data + encoder.finish() if piece.last else data,
                    format=encoder.format,
                    total=piece.total,
                )
                delivered, seconds = delivered + 1, seconds + audio.duration
        except (TimeoutError, TTSRouterError) as exc:
            error = self._typed(exc, scope, limit)
        except Exception as exc:  # a bug or an engine failure: type it, never echo its text
            error = _unexpected(exc, self.id)
        finally:
            await speeches.aclose()
        if delivered and not isinstance(error, StreamInterruptedError):  # a native stream's own
            error = StreamInterruptedError(error, delivered=delivered, seconds=seconds)
        raise detached(error)

    async def _stream_chunks(self, text: str, plan: _Plan) -> AsyncGenerator[StreamPiece, None]:
        """What a stream speaks, in order: each chunk's :class:`Speech`, its ``(start, end)``
        in ``text`` and whether it is the last. The override point for a provider that streams
        natively (``RemoteProvider``: one request, chunked by its service); ``plan.request``
        is the validated request and ``plan.language`` its canonical language. A failure after
        a chunk may be raised as a ``StreamInterruptedError`` already (it is passed on as it is).

        The default speaks the sentence chunks of :func:`~tts_router.text.chunk_spans`, the
        first short, through ``_clone``/``_design``, the next ones already generating.
        """
        spans = chunk_spans(text, plan.caps.max_text_chars, first_chars=FIRST_CHUNK_CHARS)
        ahead = max(2, self.max_parallel_chunks)  # the next chunk generates while one plays
        speeches = _ordered([text[start:end] for start, end in spans], plan.one_chunk, ahead)
        try:
            for index, span in enumerate(spans):
                speech = await anext(speeches)
                yield StreamPiece(speech, span, index == len(spans) - 1, len(spans))
        finally:
            await speeches.aclose()

    def _limit(self, request_timeout: float | None) -> float | None:
        return min((t for t in (self.timeout, request_timeout) if t is not None), default=None)

    def _typed(
        self,
        exc: TimeoutError | TTSRouterError,
        scope: asyncio.Timeout | None,
        limit: float | None,
    ) -> TTSRouterError:
        if isinstance(exc, TTSRouterError):
            if self._names_its_errors:
                exc.provider = exc.provider or self.id
            return exc
        if scope is None or not scope.expired():
            raise exc  # not our timeout: somebody else's bug, raised as it is
        return ProviderTimeoutError(
            f"{self.id} did not finish within {limit:g} s; raise the request's timeout or "
            f"[providers.{self.id}] timeout, or send shorter text",
            provider=self.id,
        )

    def _check_rate(self, audio: DecodedAudio, caps: Capabilities) -> None:
        if audio.sample_rate != caps.sample_rate:
            raise OutputValidationError(
                f"the provider returned audio at {audio.sample_rate} Hz but declares "
                f"{caps.sample_rate} Hz in its capabilities; return the declared rate",
                code="output_rate_mismatch",
                provider=self.id,
            )

    async def _off_loop(self, method: Callable[..., Any], *args: Any) -> Speech:
        if inspect.iscoroutinefunction(method):
            speech: Speech = await method(*args)
        else:
            speech = await asyncio.to_thread(method, *args)
        return speech

    def _require(self, operation: Operation) -> Capabilities:
        caps = self.capabilities
        if operation not in caps.operations:
            raise UnsupportedOperationError(
                f"provider {self.id!r} does not support {operation}; it offers "
                + ", ".join(sorted(caps.operations)),
                provider=self.id,
            )
        return caps

    async def _synthesise(self, planned: Awaitable[_Plan]) -> SpeechResult:
        plan = await planned
        _check_text(plan.request.text, self.id)
        chunks = split_text(plan.request.text, plan.caps.max_text_chars)
        started = time.perf_counter()
        try:
            speeches = [s async for s in _ordered(chunks, plan.one_chunk, self.max_parallel_chunks)]
            decoded = [speech.decoded(self.id) for speech in speeches]
        except TTSRouterError:
            raise
        except Exception as exc:  # a bug or an engine failure: type it, never echo its text
            error = _unexpected(exc, self.id)
        else:
            return self._result(speeches, decoded, plan, started)
        raise error  # outside the except block: nothing chained, see _public

    def _result(
        self,
        speeches: list[Speech],
        decoded: list[DecodedAudio],
        plan: _Plan,
        started: float,
    ) -> SpeechResult:
        caps, request = plan.caps, plan.request
        for chunk in decoded:
            self._check_rate(chunk, caps)
        rate = request.sample_rate or caps.sample_rate  # whoever made it, after a fallback too
        as_it_came = (
            len(speeches) == 1
            and speeches[0].wav is not None
            and rate == caps.sample_rate
            and request.loudness is None
            and request.format == "wav"
        )
        if as_it_came:  # one checked WAV, nothing to change: the answer as it came
            audio, encoded_rate = speeches[0].wav, rate
            duration = decoded[0].duration
        else:
            samples = stitch([d.samples for d in decoded], caps.sample_rate)
            samples = resample(samples, caps.sample_rate, rate)
            if request.loudness is not None:
                samples = LoudnessLeveller(request.loudness, rate).apply(samples)
            encoded = encode(samples, rate, request.format)
            audio, encoded_rate, duration = encoded.data, encoded.sample_rate, len(samples) / rate
        warnings = merge_chunked_warnings([s.warnings for s in speeches])
        if speeches[0].mode == "x_vector":
            warnings.append(X_VECTOR_WARNING)
        timings: dict[str, float] = {}
        for speech in speeches:
            for stage, seconds in speech.timings.items():
                timings[stage] = timings.get(stage, 0.0) + seconds
        timings["total"] = time.perf_counter() - started
        return SpeechResult(
            audio=audio,
            format=request.format,
            sample_rate=encoded_rate,
            duration=duration,
            provider=self.id,
            model=speeches[0].model,
            mode=speeches[0].mode,
            quality=caps.quality,
            request_id=request.request_id,
            timings=timings,
            warnings=tuple(warnings),
            language=plan.language,
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    """A validated request, ready to speak: capabilities, canonical language, one chunk's call,
    and the request itself."""

    caps: Capabilities
    language: str
    one_chunk: Callable[[str], Awaitable[Speech]]
    request: CloneRequest | DesignRequest


class StreamPiece(NamedTuple):
    """One chunk of a stream as :meth:`Provider._stream_chunks` yields it."""

    speech: Speech
    text_span: tuple[int, int]
    """Its ``(start, end)`` in the text."""
    last: bool
    total: int | None
    """How many chunks the stream has in all, when known (progress)."""


async def _ordered(
    chunks: list[str], one_chunk: Callable[[str], Awaitable[Speech]], parallel: int
) -> AsyncGenerator[Speech, None]:
    """Every chunk spoken and yielded in order, at most ``parallel`` in flight (the next ones
    start while earlier ones are consumed); the first failure cancels the rest and is raised
    naming its chunk."""
    tasks: list[asyncio.Future[Speech]] = []
    try:
        for index in range(len(chunks)):
            while len(tasks) < min(len(chunks), index + max(1, parallel)):
                tasks.append(asyncio.ensure_future(_named(len(tasks), chunks, one_chunk)))
            yield await tasks[index]  # order kept whatever finishes first
    finally:
        for task in tasks:
            task.cancel()


async def _named(
    index: int, chunks: list[str], one_chunk: Callable[[str], Awaitable[Speech]]
) -> Speech:
    try:
        return await one_chunk(chunks[index])
    except TTSRouterError as exc:
        if len(chunks) > 1 and not exc.message.startswith("chunk "):
            exc.message = f"chunk {index + 1} of {len(chunks)}: {exc.message}"
        raise


# Decoded references by content: a host cloning many texts in one voice decodes it once.
_REFERENCES: OrderedDict[tuple[str, AudioLimits], DecodedAudio] = OrderedDict()
_REFERENCES_MAX_BYTES = 256 * 1024 * 1024
_references_lock = threading.Lock()


async def _decoded_reference(reference: VoiceReference, limits: AudioLimits) -> DecodedAudio:
    """The one validator's verdict on the reference, computed once per content (off the
    loop). Keyed by its content id, which the reference hashes once and keeps."""
    key = (reference.content_id, limits)
    with _references_lock:
        cached = _REFERENCES.get(key)
        if cached is not None:
            _REFERENCES.move_to_end(key)
            return cached
    decoded = await asyncio.to_thread(decode_audio, reference.audio, limits)
    with _references_lock:
        _REFERENCES[key] = decoded
        while sum(d.samples.nbytes for d in _REFERENCES.values()) > _REFERENCES_MAX_BYTES:
            _REFERENCES.popitem(last=False)
    return decoded


def _check_text(text: str, provider_id: str) -> None:
    require_speakable(text, provider=provider_id)
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(
            f"the text is {len(text)} characters; split it into requests of at most "
            f"{MAX_TEXT_CHARS}",
            code="text_too_long",
            provider=provider_id,
        )


def _unexpected(exc: BaseException, provider_id: str) -> ProviderError:
    # The log has the traceback's lines, not the exception's message: engines quote what they
    # reject.
    trace = "".join(traceback.format_tb(exc.__traceback__))
    logger.error("provider %s failed unexpectedly (%s)\n%s", provider_id, type(exc).__name__, trace)
    return ProviderError(
        f"the provider failed unexpectedly ({type(exc).__name__}); see its logs",
        code="internal_error",
        provider=provider_id,
    )


def _canonical_hint(code: str) -> str:
    try:
        return f"{code!r} (use {normalize_language(code)!r})"
    except TTSRouterError:
        return repr(code)


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
        pass
    else:
        coro.close()
        raise RuntimeError("the sync facade cannot run inside an event loop; await the method")
    # Outside the except block, so errors carry no "no running event loop" context.
    return asyncio.run(coro)
