"""The engine-agnostic speech service: the protocol of :mod:`tts_router.protocol` over any engine.

A GPU provider (Qwen, Echo, a third party) implements :class:`SpeechEngine`, a few blocking
methods over its model, and gets the whole HTTP service from :func:`create_app`: request-size
limits enforced before parsing, JSON errors with stable codes, a voice store, idempotent
retries, and one worker thread that owns the model. Concurrent ``/clone`` requests that arrive
together are gathered into one batched engine call, because batching several texts in one
generation is the big speed lever for autoregressive TTS, while several threads on one model
are slower than sequential calls (and unsafe for most engines).

FastAPI and uvicorn are imported inside the functions that need them (the ``serve`` extra), so
importing this module costs nothing. This module deliberately has no ``from __future__ import
annotations``: FastAPI resolves route annotations at definition time inside :func:`create_app`.
"""

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import re
import socket
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from .audio import REFERENCE_LIMITS, AudioLimits, DecodedAudio, decode_audio, encode_wav
from .audio import validate_output_wav as _validate_output_wav
from .errors import (
    AudioValidationError,
    OutputValidationError,
    ProviderError,
    ProviderUnavailableError,
    TTSRouterError,
    ValidationError,
)
from .languages import normalize_language
from .models import CloneMode
from .protocol import (
    HEADER_AUDIO_SECONDS,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_MODE,
    HEADER_MODEL,
    HEADER_REQUEST_ID,
    HEADER_TIMING_PREFIX,
    HEADER_WARNINGS,
    STATUS_FOR_CODE,
    BatchItemResult,
    CloneBatchBody,
    CloneBatchResult,
    CloneBody,
    DesignBody,
    ErrorDetail,
    GenerationOptions,
    HealthInfo,
    LanguagesInfo,
    VoiceInfo,
    is_voice_id,
)

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "BoundedLRU",
    "CloneJob",
    "DesignJob",
    "EngineResult",
    "ServingStats",
    "SpeechEngine",
    "create_app",
    "serve_in_thread",
    "status_for_error",
]

logger = logging.getLogger("tts_router.serving")

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")
FloatArray = npt.NDArray[np.float32]

# A reference clip may be REFERENCE_LIMITS.max_bytes (25 MiB); base64 makes that 4/3 larger,
# and the JSON around it (text up to MAX_TEXT_CHARS) is small next to it.
DEFAULT_MAX_BODY_BYTES = 36 * 1024 * 1024
DEFAULT_MAX_TEXT_CHARS = 100_000
_RID = HEADER_REQUEST_ID.lower().encode()
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Audio codes that are the wrong kind of payload rather than a bad recording.
_AUDIO_STATUS = {"audio_unreadable": 415, "audio_format_not_allowed": 415, "audio_too_large": 413}


# --------------------------------------------------------------------------- engine contract


@dataclass(frozen=True, slots=True)
class CloneJob:
    """One clone for the engine: validated text, canonical language, decoded reference.

    ``reference_id`` is the sha256 of the encoded reference bytes, so engines can cache per
    reference (voice prompts, speaker embeddings) without hashing samples again.
    """

    text: str = field(repr=False)
    language: str
    reference: DecodedAudio = field(repr=False)
    reference_id: str
    transcript: str | None = field(default=None, repr=False)
    seed: int | None = None
    options: Mapping[str, float | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DesignJob:
    """One voice design for the engine: text, the voice described in words, canonical language."""

    text: str = field(repr=False)
    instruct: str = field(repr=False)
    language: str
    seed: int | None = None
    options: Mapping[str, float | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EngineResult:
    """Audio an engine made for one job: mono float32 samples and how they were made."""

    samples: FloatArray = field(repr=False)
    sample_rate: int
    mode: CloneMode
    model: str
    timings: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.samples) / self.sample_rate


@runtime_checkable
class SpeechEngine(Protocol):
    """What :func:`create_app` needs from a model. Every method blocks; the app calls them from
    ONE worker thread, never concurrently, except :meth:`health` and :meth:`languages`, which
    must be cheap and safe to call from any thread (they read attributes only).
    """

    def load(self) -> None:
        """Load the model (idempotent). The app runs it at startup and answers 503 meanwhile."""
        ...

    def health(self) -> HealthInfo:
        """What runs here: model, variant, device, dtype, attention, loaded, version."""
        ...

    def languages(self) -> Sequence[str]:
        """Canonical language codes (see :mod:`tts_router.languages`), ``"auto"`` included."""
        ...

    def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        """Generate all ``jobs`` together; one result or typed error per job, in order."""
        ...

    def design(self, job: DesignJob) -> EngineResult:
        """Generate one voice design; raise UnsupportedOperationError if the engine cannot."""
        ...


@dataclass(slots=True)
class ServingStats:
    """Counters the app keeps on ``app.state.stats`` (tests and /health readers use them)."""

    engine_jobs: int = 0
    """Distinct jobs handed to the engine (a replayed idempotent request adds nothing)."""
    engine_calls: int = 0
    """Blocking engine calls made (one per clone batch or design)."""
    largest_batch: int = 0
    idempotent_replays: int = 0


# --------------------------------------------------------------------------- small pieces


class BoundedLRU(Generic[K, V]):
    """A least-recently-used map bounded in entries and in total size (``sizeof`` units).

    Not thread-safe: each owner uses it from one thread (the event loop, or the engine worker).
    An item larger than ``max_size`` on its own is not stored at all.
    """

    def __init__(
        self, max_entries: int, max_size: int, sizeof: Callable[[V], int] = lambda _: 0
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._max_entries = max_entries
        self._max_size = max_size
        self._sizeof = sizeof
        self._size = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The value for ``key`` (marking it recently used), or None."""
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return item[0]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Total size of the stored values."""
        return self._size

    def put(self, key: K, value: V) -> None:
        """Store ``value``, evicting the least recently used items to stay within bounds."""
        size = self._sizeof(value)
        self.pop(key)
        if size > self._max_size:
            return
        self._items[key] = (value, size)
        self._size += size
        while len(self._items) > self._max_entries or self._size > self._max_size:
            _, (_, evicted) = self._items.popitem(last=False)
            self._size -= evicted

    def pop(self, key: K) -> V | None:
        """Remove and return ``key``'s value, if any."""
        item = self._items.pop(key, None)
        if item is None:
            return None
        self._size -= item[1]
        return item[0]


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


class _ServiceError(TTSRouterError):
    """An error the service itself answers with (``loading``, ``overloaded``, ...)."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


def _internal_error(exc: BaseException) -> ProviderError:
    # The exception's own text may quote input (engines echo what they reject): keep its type.
    return ProviderError(
        f"the engine failed unexpectedly ({type(exc).__name__}); see the service logs",
        code="internal_error",
    )


def _options(options: GenerationOptions) -> dict[str, float | int]:
    return {k: v for k, v in options.model_dump().items() if v is not None}


# --------------------------------------------------------------------------- the worker


@dataclass(slots=True)
class _Pending:
    job: CloneJob
    future: "asyncio.Future[EngineResult | TTSRouterError]"
    queued_at: float


# Model loaders patch process-wide state while they run (transformers/accelerate build modules
# on the meta device by patching ``nn.Module.register_buffer``), so a second engine loading in
# another thread at the same time can end up with meta tensors. One load at a time, per process.
_LOAD_LOCK = threading.Lock()


def _load_alone(engine: SpeechEngine) -> None:
    with _LOAD_LOCK:
        engine.load()


class _EngineWorker:
    """Owns the engine: one thread runs every blocking call; clone jobs are batched.

    Clone jobs wait up to ``batch_window_s`` for company, then run as one ``engine.clone``
    call of at most ``max_batch`` jobs. ``max_queue`` bounds the jobs admitted and not yet
    finished; beyond it a request is refused at once (503 ``overloaded``) instead of queueing
    GPU work nobody may wait for.
    """

    def __init__(
        self,
        engine: SpeechEngine,
        stats: ServingStats,
        *,
        batch_window_s: float,
        max_batch: int,
        max_queue: int,
        retry_after_s: float,
    ) -> None:
        self.engine = engine
        self._stats = stats
        self._window = batch_window_s
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._retry_after = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-engine")
        self._pending: deque[_Pending] = deque()
        self._admitted = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.load_state = "loading"  # "loading" | "ready" | "failed"

    def start(self) -> None:
        """Start the batching loop and the model load (call from the running event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._batch_loop())
        asyncio.get_running_loop().create_task(self._load())

    async def stop(self) -> None:
        """Stop batching and release the worker thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _load(self) -> None:
        try:
            await self._run(_load_alone, self.engine)
        except Exception as exc:
            logger.error("engine load failed (%s)", type(exc).__name__)
            self.load_state = "failed"
        else:
            self.load_state = "ready"

    def require_ready(self) -> None:
        """Raise the 503/500 error that says why no work can start now."""
        if self.load_state == "loading":
            raise _ServiceError(
                "loading",
                "the model is still loading; retry shortly",
                retry_after=self._retry_after,
            )
        if self.load_state == "failed":
            raise _ServiceError("internal_error", "the model failed to load; see the service logs")

    def _admit(self, count: int) -> None:
        if self._admitted + count > self._max_queue:
            raise _ServiceError(
                "overloaded", "the service is busy; retry shortly", retry_after=self._retry_after
            )
        self._admitted += count

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        """Queue ``jobs`` for the next batch and wait for their results, in order."""
        self._admit(len(jobs))
        try:
            loop = asyncio.get_running_loop()
            now = time.perf_counter()
            pending = [_Pending(job, loop.create_future(), now) for job in jobs]
            self._pending.extend(pending)
            self._wakeup.set()
            return list(await asyncio.gather(*(p.future for p in pending)))
        finally:
            self._admitted -= len(jobs)

    async def design(self, job: DesignJob) -> EngineResult:
        """Run one design on the worker thread (serialised with clone batches)."""
        self._admit(1)
        try:
            self._stats.engine_jobs += 1
            self._stats.engine_calls += 1
            try:
                return await self._run(self.engine.design, job)
            except TTSRouterError:
                raise
            except Exception as exc:
                logger.error("engine design failed (%s)", type(exc).__name__)
                raise _internal_error(exc) from None
        finally:
            self._admitted -= 1

    async def _batch_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._window > 0:
                await asyncio.sleep(self._window)  # let requests arriving together join
            while self._pending:
                batch: list[_Pending] = []
                while self._pending and len(batch) < self._max_batch:
                    item = self._pending.popleft()
                    if not item.future.done():  # its client went away: skip the work
                        batch.append(item)
                if batch:
                    await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Pending]) -> None:
        self._stats.engine_jobs += len(batch)
        self._stats.engine_calls += 1
        self._stats.largest_batch = max(self._stats.largest_batch, len(batch))
        started = time.perf_counter()
        results: list[EngineResult | TTSRouterError]
        try:
            results = await self._run(self.engine.clone, [p.job for p in batch])
            if len(results) != len(batch):
                raise RuntimeError("engine returned a wrong number of results")
        except Exception as exc:
            logger.error("engine clone failed (%s)", type(exc).__name__)
            error = exc if isinstance(exc, TTSRouterError) else _internal_error(exc)
            results = [error] * len(batch)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(
                    _with_timings(result, {"queue": started - item.queued_at})
                    if isinstance(result, EngineResult)
                    else result
                )


def _with_timings(result: EngineResult, extra: Mapping[str, float]) -> EngineResult:
    return EngineResult(
        samples=result.samples,
        sample_rate=result.sample_rate,
        mode=result.mode,
        model=result.model,
        timings={**extra, **result.timings},
        warnings=result.warnings,
    )


# --------------------------------------------------------------------------- idempotency


@dataclass(frozen=True, slots=True)
class _Stored:
    status: int
    body: bytes
    media_type: str
    headers: Mapping[str, str]


@dataclass(slots=True)
class _IdemEntry:
    fingerprint: str
    task: "asyncio.Task[_Stored]"
    created: float


class _IdempotencyCache:
    """``Idempotency-Key`` -> the (running or finished) response of that job.

    A retry of a job still running waits for the same task instead of generating twice; a
    retry after it finished gets the stored response for ``ttl_s``. Only successes are kept:
    a failed job may be retried for real. The task is shielded from the first client's
    disconnect so the work it paid for is not thrown away.
    """

    def __init__(self, ttl_s: float, max_entries: int, stats: ServingStats) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._stats = stats
        self._entries: OrderedDict[str, _IdemEntry] = OrderedDict()

    async def run(
        self, key: str | None, fingerprint: str, produce: Callable[[], Coroutine[Any, Any, _Stored]]
    ) -> _Stored:
        """Produce the response once per key (or every time without a key)."""
        if key is None:
            return await produce()
        self._expire()
        entry = self._entries.get(key)
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise ValidationError(
                    "this Idempotency-Key was already used for a different request; use a new key"
                )
            self._stats.idempotent_replays += 1
            return await asyncio.shield(entry.task)
        task = asyncio.get_running_loop().create_task(produce())
        self._entries[key] = _IdemEntry(fingerprint, task, time.monotonic())
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        task.add_done_callback(lambda t: self._forget_failure(key, t))
        return await asyncio.shield(task)

    def _forget_failure(self, key: str, task: "asyncio.Task[_Stored]") -> None:
        entry = self._entries.get(key)
        failed = task.cancelled() or task.exception() is not None
        if entry is not None and entry.task is task and (failed or task.result().status >= 300):
            del self._entries[key]

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._ttl
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.created >= cutoff:
                break
            del self._entries[key]


# --------------------------------------------------------------------------- ASGI guard


class _Guard:
    """Outermost ASGI layer: request id, body limit before parsing, a last-resort 500, logs.

    The body is read here in full (it is needed whole for JSON anyway) and counted as it
    streams, so an oversized upload is refused after at most ``max_body_bytes`` are read,
    whatever its Content-Length claims. Logs carry method, path, status, duration and request
    id only: never bodies, text, transcripts or audio.
    """

    def __init__(self, app: "ASGIApp", max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0

        async def send_with_id(message: "Message") -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((HEADER_REQUEST_ID.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            body = await self._read_body(scope, receive)
            if body is None:
                await _send_error(send_with_id, _body_too_large(self.max_body_bytes))
            else:
                await self.app(scope, _replay(body, receive), send_with_id)
        except _ClientGone:
            pass
        except Exception as exc:  # a bug: answer 500 without a trace, log the type only
            logger.error("unhandled %s (request %s)", type(exc).__name__, request_id)
            if status == 0:
                await _send_error(send_with_id, _internal_error(exc))
        finally:
            logger.debug(
                "%s %s -> %d in %.3fs (request %s)",
                scope.get("method"),
                scope.get("path"),
                status,
                time.perf_counter() - started,
                request_id,
            )

    async def _read_body(self, scope: "Scope", receive: "Receive") -> bytes | None:
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def _replay(body: bytes, receive: "Receive") -> "Receive":
    delivered = False

    async def replay() -> "Message":
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as servers do

    return replay


def _header(scope: "Scope", name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


def _request_id(scope: "Scope") -> str:
    # Echo the caller's id only when it is a plain token: it goes into logs and headers.
    given = _header(scope, _RID)
    if given and _REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


def _body_too_large(limit: int) -> _ServiceError:
    return _ServiceError(
        "body_too_large",
        f"the request body is larger than {limit} bytes; upload the reference once with "
        "PUT /voices/{sha256} and clone by voice_id",
    )


def _error_payload(exc: TTSRouterError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    body = ErrorDetail(code=exc.code, message=exc.message).model_dump_json()
    headers = [(b"content-type", b"application/json")]
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers.append((b"retry-after", str(max(1, round(retry_after))).encode()))
    return status_for_error(exc), b'{"error":' + body.encode() + b"}", headers


async def _send_error(send: "Send", exc: TTSRouterError) -> None:
    status, body, headers = _error_payload(exc)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- request handling


class _Handlers:
    """What the routes do, free of FastAPI so each step reads as plain code."""

    def __init__(
        self,
        worker: _EngineWorker,
        voices: BoundedLRU[str, DecodedAudio],
        idempotency: _IdempotencyCache,
        *,
        reference_limits: AudioLimits,
        max_text_chars: int,
    ) -> None:
        self.worker = worker
        self.engine = worker.engine
        self.voices = voices
        self.idempotency = idempotency
        self.limits = reference_limits
        self.max_text_chars = max_text_chars

    # -- voices ---------------------------------------------------------------------------

    async def put_voice(self, voice_id: str, data: bytes) -> VoiceInfo:
        """Check the hash, validate the audio, keep it in the store."""
        _check_voice_id(voice_id)
        if hashlib.sha256(data).hexdigest() != voice_id:
            raise ValidationError(
                "the body's sha256 does not match the voice id in the URL; hash the exact bytes",
                code="hash_mismatch",
            )
        audio = await asyncio.to_thread(decode_audio, data, self.limits)
        self.voices.put(voice_id, audio)
        return VoiceInfo(voice_id=voice_id, seconds=audio.duration, sample_rate=audio.sample_rate)

    def has_voice(self, voice_id: str) -> bool:
        """Whether the store holds ``voice_id`` (HEAD /voices)."""
        return is_voice_id(voice_id) and voice_id in self.voices

    # -- clone ----------------------------------------------------------------------------

    async def clone_job(self, body: CloneBody) -> CloneJob:
        """Validate one clone request into a job; nothing here touches the model."""
        text = self._text(body.text)
        language = normalize_language(body.language, self.engine.languages())
        if body.voice_id is not None:
            reference = self.voices.get(body.voice_id)
            if reference is None:
                raise ValidationError(
                    "no reference with this voice_id is stored here; upload it with "
                    "PUT /voices/{sha256} (the service may have restarted or evicted it)",
                    code="voice_not_found",
                )
            reference_id = body.voice_id
        else:
            data = _b64decode(body.audio_base64 or "")
            reference_id = hashlib.sha256(data).hexdigest()
            reference = await asyncio.to_thread(decode_audio, data, self.limits)
        transcript = body.transcript if body.transcript and body.transcript.strip() else None
        return CloneJob(
            text=text,
            language=language,
            reference=reference,
            reference_id=reference_id,
            transcript=transcript,
            seed=body.seed,
            options=_options(body.options),
        )

    async def clone(self, body: CloneBody) -> _Stored:
        """``POST /clone``."""
        self.worker.require_ready()
        job = await self.clone_job(body)
        (result,) = await self.worker.clone([job])
        if isinstance(result, TTSRouterError):
            raise result
        return _audio_response(result)

    async def clone_batch(self, body: CloneBatchBody) -> _Stored:
        """``POST /clone-batch``: invalid items fail alone; the valid ones run as one batch."""
        self.worker.require_ready()
        prepared: list[CloneJob | TTSRouterError] = []
        for item in body.items:
            try:
                prepared.append(await self.clone_job(item))
            except TTSRouterError as exc:
                prepared.append(exc)
        jobs = [p for p in prepared if isinstance(p, CloneJob)]
        done = iter(await self.worker.clone(jobs) if jobs else [])
        results = [
            _batch_item(p if isinstance(p, TTSRouterError) else next(done)) for p in prepared
        ]
        payload = CloneBatchResult(model=self.engine.health().model, results=results)
        return _Stored(200, payload.model_dump_json().encode(), "application/json", {})

    # -- design ---------------------------------------------------------------------------

    async def design(self, body: DesignBody) -> _Stored:
        """``POST /design``."""
        self.worker.require_ready()
        if "design" not in self.engine.health().operations:
            raise ValidationError(
                "this service has no voice-design model; run it with one or use clone",
                code="unsupported_operation",
            )
        if not body.instruct.strip():
            raise ValidationError("the voice description (instruct) is empty", code="empty_text")
        job = DesignJob(
            text=self._text(body.text),
            instruct=body.instruct,
            language=normalize_language(body.language, self.engine.languages()),
            seed=body.seed,
            options=_options(body.options),
        )
        return _audio_response(await self.worker.design(job))

    def _text(self, text: str) -> str:
        if not text.strip():
            raise ValidationError("the text is empty", code="empty_text")
        if len(text) > self.max_text_chars:
            raise ValidationError(
                f"the text is {len(text)} characters; at most {self.max_text_chars} per request",
                code="text_too_long",
            )
        return text


def _check_voice_id(voice_id: str) -> None:
    if not is_voice_id(voice_id):
        raise ValidationError("a voice id is the lowercase hex sha256 of the audio bytes")


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "audio_base64 is not valid base64 (standard alphabet, with padding)",
            code="invalid_base64",
        ) from None


def _encode(result: EngineResult) -> bytes:
    """Encode an engine's samples as WAV after the same output checks every provider gets."""
    samples = np.asarray(result.samples, dtype=np.float32).reshape(-1)
    if samples.size == 0 or not np.isfinite(samples).all():
        raise OutputValidationError(
            "the engine produced empty or non-finite audio", code="invalid_output"
        )
    wav = encode_wav(samples, result.sample_rate)
    try:
        _validate_output_wav(wav)
    except OutputValidationError as exc:
        raise OutputValidationError(exc.message, code="invalid_output") from None
    return wav


def _audio_headers(result: EngineResult) -> dict[str, str]:
    headers = {
        HEADER_MODE: result.mode,
        HEADER_MODEL: result.model,
        HEADER_AUDIO_SECONDS: f"{result.duration:.3f}",
    }
    for stage, seconds in result.timings.items():
        name = "-".join(part.capitalize() for part in re.split(r"[_\W]+", stage) if part)
        headers[HEADER_TIMING_PREFIX + name] = f"{seconds:.4f}"
    if result.warnings:
        # Header values must be latin-1; warnings are ours (never input), but be strict.
        text = "; ".join(result.warnings).encode("ascii", "replace").decode()
        headers[HEADER_WARNINGS] = text
    return headers


def _audio_response(result: EngineResult) -> _Stored:
    return _Stored(200, _encode(result), "audio/wav", _audio_headers(result))


def _batch_item(result: EngineResult | TTSRouterError) -> BatchItemResult:
    if isinstance(result, EngineResult):
        try:
            wav = _encode(result)
        except TTSRouterError as exc:
            result = exc
        else:
            return BatchItemResult(
                ok=True,
                audio_base64=base64.b64encode(wav).decode(),
                mode=result.mode,
                audio_seconds=result.duration,
            )
    return BatchItemResult(ok=False, error=ErrorDetail(code=result.code, message=result.message))


def _fingerprint(path: str, body: Any) -> str:
    return hashlib.sha256(f"{path}\n{body.model_dump_json()}".encode()).hexdigest()


# --------------------------------------------------------------------------- the app


def create_app(
    engine: SpeechEngine,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_voices: int = 256,
    max_voice_bytes: int = 1024 * 1024 * 1024,
    reference_limits: AudioLimits = REFERENCE_LIMITS,
    batch_window_s: float = 0.01,
    max_batch: int = 16,
    max_queue: int = 64,
    retry_after_s: float = 5.0,
    idempotency_ttl_s: float = 600.0,
    idempotency_entries: int = 256,
    title: str = "tts-router speech service",
) -> "FastAPI":
    """Build the FastAPI app serving ``engine`` over the protocol of :mod:`tts_router.protocol`.

    ``max_voices``/``max_voice_bytes`` bound the uploaded-reference store (decoded float32
    samples; least recently used evicted first). ``batch_window_s`` is how long the first
    clone job waits for others to batch with; ``max_batch`` caps a batch; ``max_queue`` caps
    the jobs admitted at once (beyond: 503 ``overloaded``). ``app.state.stats`` is a
    :class:`ServingStats`; ``app.state.voices`` the voice store.
    """
    from fastapi import FastAPI, Request, Response
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    stats = ServingStats()
    worker = _EngineWorker(
        engine,
        stats,
        batch_window_s=batch_window_s,
        max_batch=max_batch,
        max_queue=max_queue,
        retry_after_s=retry_after_s,
    )
    voices: BoundedLRU[str, DecodedAudio] = BoundedLRU(
        max_voices, max_voice_bytes, lambda audio: int(audio.samples.nbytes)
    )
    handlers = _Handlers(
        worker,
        voices,
        _IdempotencyCache(idempotency_ttl_s, idempotency_entries, stats),
        reference_limits=reference_limits,
        max_text_chars=max_text_chars,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        worker.start()
        try:
            yield
        finally:
            await worker.stop()

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.stats = stats
    app.state.voices = voices
    app.state.worker = worker

    def error_response(exc: TTSRouterError) -> Response:
        status, body, headers = _error_payload(exc)
        return Response(
            body, status_code=status, headers={k.decode(): v.decode() for k, v in headers}
        )

    @app.exception_handler(TTSRouterError)
    async def typed_error(_: Request, exc: TTSRouterError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> Response:
        return error_response(_validation_error(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": {"code": code, "message": f"HTTP {exc.status_code}"}}
        return JSONResponse(body, status_code=exc.status_code)

    def respond(stored: _Stored) -> Response:
        return Response(
            stored.body,
            status_code=stored.status,
            media_type=stored.media_type,
            headers=dict(stored.headers),
        )

    async def idempotent(
        request: Request, body: Any, produce: Callable[[], Coroutine[Any, Any, _Stored]]
    ) -> Response:
        key = request.headers.get(HEADER_IDEMPOTENCY_KEY)
        fingerprint = _fingerprint(request.url.path, body)
        return respond(await handlers.idempotency.run(key, fingerprint, produce))

    @app.get("/health")
    async def health() -> Response:
        info = engine.health()
        if worker.load_state == "failed":
            worker.require_ready()
        status = "ok" if worker.load_state == "ready" else "loading"
        info = info.model_copy(update={"status": status, "loaded": status == "ok"})
        return Response(info.model_dump_json(), media_type="application/json")

    @app.get("/languages")
    async def languages() -> LanguagesInfo:
        return LanguagesInfo(languages=list(engine.languages()))

    @app.head("/voices/{voice_id}")
    async def head_voice(voice_id: str) -> Response:
        return Response(status_code=200 if handlers.has_voice(voice_id) else 404)

    @app.put("/voices/{voice_id}")
    async def put_voice(voice_id: str, request: Request) -> VoiceInfo:
        return await handlers.put_voice(voice_id, await request.body())

    @app.post("/clone")
    async def clone(body: CloneBody, request: Request) -> Response:
        return await idempotent(request, body, lambda: handlers.clone(body))

    @app.post("/clone-batch")
    async def clone_batch(body: CloneBatchBody, request: Request) -> Response:
        return await idempotent(request, body, lambda: handlers.clone_batch(body))

    @app.post("/design")
    async def design(body: DesignBody, request: Request) -> Response:
        return await idempotent(request, body, lambda: handlers.design(body))

    # Outermost of the app's middleware: the body limit applies before any parsing.
    app.add_middleware(_Guard, max_body_bytes=max_body_bytes)
    return app


def _validation_error(errors: Sequence[Any]) -> ValidationError:
    """422 listing the fields at fault (never their values); a blank text is ``empty_text``."""
    locations = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "string_too_short" and loc and loc[-1] == "text":
            return ValidationError("the text is empty", code="empty_text")
        locations.append(".".join(loc) or "body")
    fields = ", ".join(dict.fromkeys(locations))
    return ValidationError(f"the request is invalid at: {fields}", code="validation_failed")


@contextlib.contextmanager
def serve_in_thread(app: "ASGIApp", host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` under uvicorn in a background thread; yield its base URL; stop on exit.

    For tests and local tools: a real server on a real socket (``port=0`` picks a free one),
    with the app's lifespan (model load) run as in production.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
