"""The resilient client for the service protocol (:mod:`tts_router.protocol`).

One client for every GPU provider. What it guarantees:

- **One retry layer.** Connect errors, timeouts, broken responses, 408, 429, 500, 502, 503 and
  504 are retried with full-jitter exponential backoff (``Retry-After`` honoured, capped), inside
  a total deadline that also bounds each attempt's timeouts. Failures are retried up to
  ``max_attempts``; back-pressure (429, 503 with ``Retry-After``) is retried until the
  deadline, whatever the count. Other 4xx and auth failures are raised at once. The transport
  itself never retries.
- **One job, one key.** Every attempt of a job carries the same ``Idempotency-Key``, so a
  service that already finished the job answers from its cache instead of generating again.
- **Long jobs as results to fetch.** Each attempt says how long the job may still take
  (``X-TTS-Deadline``) and asks for ``Prefer: respond-async`` with a wait shorter than the read
  timeout; a ``202`` with a job URL is polled (each GET waits on the service) until the job is
  done, within the deadline. Modal's 303 to a result URL is followed the same way. Both only
  on the same origin (auth headers never leave it); a reset while waiting re-GETs the job URL
  instead of POSTing the job again; a job the service no longer knows (``job_not_found``: it
  restarted, or another instance answers) is sent again under the same key; an endless
  redirect loop is a typed error.
- **The job's deadline bounds everything**, every read included: a response trickling in a
  few bytes at a time ends at the deadline as ``provider_timeout``. A service that says its
  queue cannot finish the job in time (``deadline_unmeetable``) ends the job at once, so the
  router can fall back.
- **A circuit breaker per endpoint, across jobs.** It is consulted when a job starts, never
  between one job's attempts, so a job always has its whole retry budget. It counts jobs that
  ended in a failure saying the service is unhealthy (unreachable, 5xx other than a job's own
  bad output), never back-pressure or a read timeout (a busy service), and opens after
  ``failures`` such jobs in a row; the router reads it through
  :attr:`ServiceClient.available` and skips the provider until it half-opens. The error raised
  while it is open names the last real cause.
- **Errors name the cause**: the service URL (credentials masked) and what went wrong
  ("connection refused"), rebuilt from the service's code through the one error table, so a
  host sees the same code as in-process. Nothing is chained to them (see ``errors.detached``).
- **Validated output.** A 2xx must be ``audio/wav`` that parses, is non-empty and not silent.
- **Streams** (:meth:`ServiceClient.stream_clone`, :meth:`ServiceClient.stream_design`: the
  protocol's framed answer). Everything above holds until the first chunk has arrived and
  passed the output validator: retries, 202 polling, 303s, the deadline, one key. After it,
  nothing is retried: a failure (an error frame, a broken connection, the deadline, a chunk
  the validator refuses, a frame that breaks the protocol) raises
  :class:`~tts_router.errors.StreamInterruptedError` saying how many chunks and seconds were
  delivered. Every chunk is validated; a service that answers a whole WAV is one last chunk.
- **Nothing leaked.** Logs and errors carry method, path, status, service error code and
  request id only: never bodies, text, transcripts, audio or secrets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from .audio import DecodedAudio, validate_output_wav
from .client_options import PROBE_RETRY, CircuitBreaker, CircuitOptions, RetryOptions, Timeouts
from .errors import (
    ERRORS,
    AuthenticationError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    StreamInterruptedError,
    TTSRouterError,
    detached,
)
from .protocol import (
    HEADER_DEADLINE,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_MODE,
    HEADER_MODEL,
    HEADER_PREFER,
    HEADER_REQUEST_ID,
    HEADER_TIMINGS,
    HEADER_WARNINGS,
    STREAM_MEDIA_TYPE,
    CloneBatchBody,
    CloneBatchResult,
    CloneBody,
    DesignBody,
    HealthInfo,
    LanguagesInfo,
    decode_timings,
    format_prefer,
    loggable_path,
)
from .stream_reader import StreamedChunk, StreamReader, table_error
from .urls import mask_url, validate_service_url

__all__ = ["AudioResponse", "ServiceClient", "StreamedChunk"]

logger = logging.getLogger("tts_router.http")
_T = TypeVar("_T")

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Codes that end a job at once, whatever their row says of a later call: the service has said
# this job cannot be done within its deadline, so waiting and asking again cannot help.
_ENDS_JOB = frozenset({"deadline_unmeetable", "deadline_too_short"})
# A job URL that answers these lost the job (restart, expiry, another instance): send it again.
_LOST_JOB = frozenset({"job_not_found", "job_cancelled"})
_MAX_RESUBMITS = 2
_WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave")


@dataclass(frozen=True, slots=True)
class AudioResponse:
    """A WAV from the service and its headers; ``audio`` is that WAV decoded and checked by the
    one output validator (type, parses, finite, in range), once: nothing decodes it again.

    ``timings``: the service's stages (``queue``, ``prompt``, ``generate``, ``encode``...) and
    the client's: ``request`` (the HTTP exchange, redirects and retries included),
    ``network`` (that, less the service's stages) and, for clones, ``upload``.
    """

    wav: bytes = field(repr=False)
    audio: DecodedAudio = field(repr=False)
    model: str
    mode: str
    timings: dict[str, float]
    warnings: tuple[str, ...]


@dataclass
class _Job:
    """One logical job across attempts: where to go next and the key that names it.

    Its repr shows no body, audio or headers: a job is a local in frames an error reporter
    may capture.
    """

    method: str
    url: str
    json: Any = field(default=None, repr=False)
    content: bytes | None = field(default=None, repr=False)
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    request_id: str | None = None
    retry: RetryOptions | None = None  # None: the client's options
    allow: frozenset[int] = frozenset()  # error statuses returned as answers, not raised
    hops: int = 0
    resubmits: int = 0
    attempts: int = 0
    failures: int = 0  # attempts that failed other than by back-pressure
    # What the last attempt said of the service's health (read by the circuit breaker):
    # "unhealthy" (down or broken), "answered" (a proper answer, even a refusal) or "busy".
    health: Literal["unhealthy", "answered", "busy"] = "answered"
    started: float = field(default_factory=time.monotonic)
    # The request as first sent, to send again when its job was lost (see _LOST_JOB).
    origin: tuple[str, str, Any, bytes | None] = field(init=False, repr=False)
    stream: bool = False  # asks for the framed answer (Accept: STREAM_MEDIA_TYPE)
    text_length: int = 0  # the request's text (a whole-WAV answer to a stream spans it all)
    # Set by a successful attempt (_attempt): the open stream and its first chunk, for a stream;
    # else the whole answer's audio, checked once.
    opened: tuple[StreamReader, StreamedChunk] = field(init=False, repr=False)
    audio: DecodedAudio = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.origin = (self.method, self.url, self.json, self.content)

    @property
    def at_job_url(self) -> bool:
        """Whether the job now lives at a result URL (after a 202 or a 303)."""
        return (self.method, self.url) != self.origin[:2]

    def resubmit(self) -> None:
        """Go back to the original request (same key: the service runs it at most once)."""
        self.method, self.url, self.json, self.content = self.origin
        self.resubmits += 1


class ServiceClient:
    """Async client for one service (one base URL). Share one per provider; close it after.

    ``transport=`` injects an httpx transport (tests, proxies); the transport must not retry.
    ``auth=`` is any :class:`httpx.Auth`, applied to every request (a vendor's proxy auth, such
    as :class:`~tts_router.remote.ModalProxyAuth`); the client itself knows no vendor.
    ``refused_fix``: what a 401/403 message tells the host to check (where its credentials
    are configured).
    """

    def __init__(
        self,
        base_url: str,
        *,
        provider: str,
        auth: httpx.Auth | None = None,
        retry: RetryOptions = RetryOptions(),
        timeouts: Timeouts = Timeouts(),
        circuit: CircuitOptions = CircuitOptions(),
        transport: httpx.AsyncBaseTransport | None = None,
        refused_fix: str = "check the credentials configured for this service",
    ) -> None:
        self.base_url = httpx.URL(validate_service_url(base_url, setting="base_url") + "/")
        self.where = mask_url(str(self.base_url).rstrip("/"))
        """The service's URL as messages show it (credentials masked)."""
        self.provider = provider
        self.retry = retry
        self.timeouts = timeouts
        self.circuit = CircuitBreaker(circuit)
        self._auth = auth
        self._refused_fix = refused_fix
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._known_voices: set[str] = set()
        self._voice_locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"ServiceClient({self.where!r}, provider={self.provider!r})"

    @property
    def available(self) -> bool:
        """False while the circuit is open: what the router reads as health."""
        return self.circuit.state != "open"

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- protocol calls -----------------------------------------------------------------------

    async def health(self) -> HealthInfo:
        """``GET /health``."""
        response = await self._run(_Job("GET", "health", retry=PROBE_RETRY))
        return HealthInfo.model_validate_json(response.content)

    async def languages(self) -> LanguagesInfo:
        """``GET /languages``."""
        response = await self._run(_Job("GET", "languages", retry=PROBE_RETRY))
        return LanguagesInfo.model_validate_json(response.content)

    async def ensure_voice(self, voice_id: str, audio: bytes, *, force: bool = False) -> None:
        """Make sure the service holds this reference: HEAD, and PUT only if it is missing."""
        lock = self._voice_locks.setdefault(voice_id, asyncio.Lock())
        async with lock:  # concurrent clones of one new voice upload it once
            if voice_id in self._known_voices and not force:
                return
            path = f"voices/{voice_id}"
            head = await self._run(_Job("HEAD", path, allow=frozenset({404})))
            if head.status_code == 404 or force:
                await self._run(_Job("PUT", path, content=audio))
            self._known_voices.add(voice_id)

    async def clone(
        self, body: CloneBody, *, reference: bytes | None = None, request_id: str | None = None
    ) -> AudioResponse:
        """``POST /clone``. With ``reference`` (the audio behind ``body.voice_id``) the voice
        is uploaded first if the service lacks it, and once more if the service forgot it."""
        response, upload = await self._with_voice(
            body,
            reference,
            lambda: self._audio(_Job("POST", "clone", json=_dump(body), request_id=request_id)),
        )
        return dataclasses.replace(response, timings={**response.timings, "upload": upload})

    async def clone_batch(self, body: CloneBatchBody) -> CloneBatchResult:
        """``POST /clone-batch``: ordered results, each ok or its own error."""
        response = await self._run(_Job("POST", "clone-batch", json=_dump(body)))
        return CloneBatchResult.model_validate_json(response.content)

    async def design(self, body: DesignBody, *, request_id: str | None = None) -> AudioResponse:
        """``POST /design``."""
        return await self._audio(_Job("POST", "design", json=_dump(body), request_id=request_id))

    async def stream_clone(
        self, body: CloneBody, *, reference: bytes | None = None, request_id: str | None = None
    ) -> AsyncIterator[StreamedChunk]:
        """``POST /clone`` as a stream: its chunks in order, as the service generates them.

        Retried like :meth:`clone` until the first chunk has arrived; a failure after it raises
        :class:`~tts_router.errors.StreamInterruptedError`. ``reference`` as for :meth:`clone`.
        A caller that stops early closes the iterator (``aclose``), and with it the answer.
        """
        job, _ = await self._with_voice(
            body, reference, lambda: self._open_stream("clone", body, request_id)
        )
        async for chunk in self._streamed(job):
            yield chunk

    async def stream_design(
        self, body: DesignBody, *, request_id: str | None = None
    ) -> AsyncIterator[StreamedChunk]:
        """``POST /design`` as a stream (see :meth:`stream_clone`)."""
        job = await self._open_stream("design", body, request_id)
        async for chunk in self._streamed(job):
            yield chunk

    # -- services that do not speak the protocol (the earlier seed apps) ----------------------

    async def post_audio(
        self, path: str, body: Mapping[str, Any], *, request_id: str | None = None
    ) -> AudioResponse:
        """``POST`` a JSON ``body`` to ``path`` (relative to the base URL; ``""`` is the base URL
        itself) and return its WAV, with everything a protocol call gets: retries, deadline,
        same-origin 303s, the circuit breaker, typed errors and output validation."""
        return await self._audio(_Job("POST", path, json=dict(body), request_id=request_id))

    async def get_json(self, path: str) -> Any:
        """``GET`` ``path`` (relative to the base URL) with the probes' short retry policy and
        return the parsed JSON; a body that is not JSON is an ``invalid_response`` error."""
        response = await self._run(_Job("GET", path, retry=PROBE_RETRY))
        try:
            return response.json()
        except ValueError:
            error = ProviderError(
                f"{self.where} answered {response.status_code} with something that is not JSON",
                provider=self.provider,
                code="invalid_response",
                status=response.status_code,
            )
        raise error

    # -- machinery ---------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self._transport,
                follow_redirects=False,  # we follow 303s ourselves, same origin only
                auth=self._auth,
            )
        return self._client

    async def _with_voice(
        self, body: CloneBody, reference: bytes | None, send: Callable[[], Awaitable[_T]]
    ) -> tuple[_T, float]:
        """``send()`` once the service holds the voice of ``reference`` (uploaded first if it
        lacks it, and once more if it forgot it); and the seconds the first upload took."""
        started = time.perf_counter()
        if reference is None or body.voice_id is None:
            return await send(), time.perf_counter() - started
        await self.ensure_voice(body.voice_id, reference)
        uploaded = time.perf_counter() - started
        try:
            return await send(), uploaded
        except TTSRouterError as exc:
            if exc.code != "voice_not_found":
                raise
        logger.debug("voice missing on the service (new container?); uploading again")
        self._known_voices.discard(body.voice_id)
        await self.ensure_voice(body.voice_id, reference, force=True)
        return await send(), uploaded

    async def _audio(self, job: _Job) -> AudioResponse:
        started = time.perf_counter()
        response = await self._run(job, expect_wav=True)
        elapsed = time.perf_counter() - started
        service = decode_timings(response.headers.get(HEADER_TIMINGS, ""))
        # The service's own "total" (if it sends one) would collide with the router's.
        if "total" in service:
            service["service_total"] = service.pop("total")
        spent = service.get("service_total", sum(service.values()))
        return AudioResponse(
            wav=response.content,
            audio=job.audio,
            timings={**service, "request": elapsed, "network": max(elapsed - spent, 0.0)},
            **_described(response.headers),
        )

    async def _run(self, job: _Job, *, expect_wav: bool = False) -> httpx.Response:
        """Run one job with its whole retry budget; the circuit is asked once, before it."""
        if not self.circuit.allow():
            cause = self.circuit.last_cause or "repeated failures"
            raise ProviderUnavailableError(
                f"{self.where} is failing ({cause}); not tried again for up to "
                f"{self.circuit.reset_after:g} s (circuit open)",
                provider=self.provider,
                code="circuit_open",
                request_id=job.request_id,
            )
        error: TTSRouterError
        try:
            response = await self._retrying(job, expect_wav)
        except TTSRouterError as exc:
            error = exc
        else:
            self.circuit.record_success()
            return response
        if job.health == "unhealthy":
            self.circuit.record_failure(error.message)
        elif job.health == "answered":
            self.circuit.record_success()
        else:
            self.circuit.record_neutral()
        if job.attempts > 1:
            elapsed = time.monotonic() - job.started
            error.message += f" ({job.attempts} attempts over {elapsed:.1f} s)"
        raise detached(error)

    async def _retrying(self, job: _Job, expect_wav: bool) -> httpx.Response:
        options = self._options(job)
        retrying = AsyncRetrying(
            stop=lambda state: job.failures >= options.max_attempts,
            wait=lambda state: self._wait(state, job),
            retry=retry_if_exception(_should_retry),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                job.attempts += 1
                try:
                    return await self._attempt(job, expect_wav)
                except TTSRouterError as exc:
                    if not _back_pressure(exc):
                        job.failures += 1
                    raise
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _wait(self, state: RetryCallState, job: _Job) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        options = self._options(job)
        if retry_after is not None:
            delay = min(float(retry_after), options.max_retry_after)
        else:  # full jitter: uniform in [0, min(cap, base * 2^n)]
            ceiling = options.initial_backoff * 2 ** (job.failures - 1)
            delay = random.uniform(0, min(options.max_backoff, ceiling))
        if exc is not None and delay >= self._remaining(job):
            raise exc  # the deadline would pass while waiting: the last failure is the answer
        return delay

    def _remaining(self, job: _Job) -> float:
        return self._options(job).deadline - (time.monotonic() - job.started)

    def _options(self, job: _Job) -> RetryOptions:
        return job.retry or self.retry

    def _timed_out(self, job: _Job, did_not: str, *, read: bool = False) -> ProviderTimeoutError:
        """``{where} {did_not} within`` the job's deadline, or with ``read`` one read timeout."""
        if read:
            limit = f"{self.timeouts.read:g} s (read timeout)"
        else:
            limit = f"the job's deadline of {self._options(job).deadline:g} s"
        return ProviderTimeoutError(
            f"{self.where} {did_not} within {limit}",
            code="service_timeout" if read else "provider_timeout",
            provider=self.provider,
            request_id=job.request_id,
        )

    async def _attempt(self, job: _Job, expect_wav: bool) -> httpx.Response:
        error: TTSRouterError
        job.health = "answered"
        try:
            async with asyncio.timeout(max(self._remaining(job), 0.001)):
                response = await self._follow(job)
                if job.stream and response.status_code < 300:
                    await self._open(response, job)  # its first chunk, or a retryable failure
        except TimeoutError:  # the whole job's deadline passed, mid-read or between polls
            job.health = "busy"
            error = self._timed_out(job, "did not finish")
        except httpx.TransportError as exc:
            logger.debug("%s %s failed: %s", job.method, _path(job.url), type(exc).__name__)
            job.health = "busy" if isinstance(exc, _BUSY_TRANSPORT_ERRORS) else "unhealthy"
            if isinstance(exc, httpx.ReadTimeout):
                error = self._timed_out(job, "did not answer", read=True)
            else:
                error = ProviderUnavailableError(
                    f"could not reach {self.where}: {_transport_failure(exc)}",
                    provider=self.provider,
                    request_id=job.request_id,
                )
        else:
            status = response.status_code
            logger.debug("%s %s -> %d (hop %d)", job.method, _path(job.url), status, job.hops)
            if status < 300 or status in job.allow:
                if expect_wav and status < 300:
                    job.audio = self._require_wav(response, job)
                return response
            error = self._error_for(response, job.request_id)
            job.health = _health_of(status, error)
        # Raised outside the except blocks: the httpx error's frames hold the auth headers.
        raise error

    async def _follow(self, job: _Job) -> httpx.Response:
        """Send the job's current request; follow same-origin redirects and 202 job URLs with
        GET; send a lost job again."""
        while True:
            sent = time.monotonic()
            client = self._http()
            request = client.build_request(
                job.method,
                job.url,
                json=job.json if job.method == "POST" else None,
                content=job.content,
                headers=self._headers(job),
                timeout=self._timeout(job),
            )
            response = await client.send(request, stream=job.stream)
            location = response.headers.get("location")
            accepted = response.status_code == 202 and bool(location)
            if response.status_code not in _REDIRECT_STATUSES and not accepted:
                if not (response.status_code < 300 and _media_type(response) == STREAM_MEDIA_TYPE):
                    await response.aread()  # a stream is read frame by frame, see _open
                if job.at_job_url and self._lost(response, job):
                    job.resubmit()
                    continue
                return response
            await response.aread()
            if not location:
                return response
            target = self._same_origin(response, location, job)
            if accepted:  # the job runs on; poll its URL (each GET waits on the service)
                await asyncio.sleep(self._poll_delay(response, time.monotonic() - sent, job))
            else:
                job.hops += 1
                max_redirects = self._options(job).max_redirects
                if job.hops > max_redirects:
                    raise ProviderError(
                        f"{self.where} redirected more than {max_redirects} times",
                        provider=self.provider,
                        code="too_many_redirects",
                        status=response.status_code,
                        request_id=job.request_id,
                    )
            # The job now lives at the result URL: later attempts (after a reset) GET it too.
            job.method, job.url, job.json, job.content = "GET", str(target), None, None

    def _same_origin(self, response: httpx.Response, location: str, job: _Job) -> httpx.URL:
        target = response.url.join(location)
        base = self.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise ProviderError(
                f"{self.where} redirected to another host; refusing to follow (credentials "
                "must not leave the service's origin)",
                provider=self.provider,
                code="redirect_refused",
                status=response.status_code,
                request_id=job.request_id,
            )
        return target

    def _wait_for_job(self, job: _Job) -> float:
        """Seconds the service may hold a request for its job before answering 202."""
        return min(self.timeouts.read * 0.75, max(self._remaining(job), 0.0))

    def _poll_delay(self, response: httpx.Response, took: float, job: _Job) -> float:
        """Seconds before polling a 202's job URL: its Retry-After; else at once if the
        service held the request as asked (it waits for the job itself), else a second."""
        retry_after = _retry_after(response.headers)
        if retry_after is None:
            held = took >= min(1.0, 0.8 * self._wait_for_job(job))
            retry_after = 0.0 if held else 1.0
        cap = self._options(job).max_retry_after
        return max(min(retry_after, cap, self._remaining(job)), 0.0)

    def _lost(self, response: httpx.Response, job: _Job) -> bool:
        """Whether the job URL says the job is gone, and it may be sent again."""
        if response.status_code not in (404, 409) or job.resubmits >= _MAX_RESUBMITS:
            return False
        if _service_code(response) not in _LOST_JOB:
            return False
        logger.debug("the service lost the job (restart? another instance?); sending it again")
        return True

    def _headers(self, job: _Job) -> dict[str, str]:
        headers = {
            HEADER_IDEMPOTENCY_KEY: job.idempotency_key,
            HEADER_DEADLINE: f"{max(self._remaining(job), 0.0):.3f}",
        }
        if job.method == "POST" or job.at_job_url:
            # Answer before our read timeout: a job still running then comes back as a 202.
            headers[HEADER_PREFER] = format_prefer(self._wait_for_job(job))
        if job.request_id:
            headers[HEADER_REQUEST_ID] = job.request_id
        if job.content is not None:
            headers["Content-Type"] = "application/octet-stream"
        if job.stream:
            headers["Accept"] = STREAM_MEDIA_TYPE
        return headers

    def _timeout(self, job: _Job) -> httpx.Timeout:
        remaining = max(self._remaining(job), 0.001)
        limits = dataclasses.asdict(self.timeouts)  # connect, read, write and pool
        return httpx.Timeout(**{name: min(limit, remaining) for name, limit in limits.items()})

    def _require_wav(self, response: httpx.Response, job: _Job) -> DecodedAudio:
        content_type = _media_type(response)
        if content_type not in _WAV_TYPES:
            job.health = "unhealthy"  # something else (a proxy?) answers at the service's URL
            raise ProviderError(
                f"{self.where} answered {response.status_code} with "
                f"{content_type or 'no type'} instead of audio/wav (a proxy page?)",
                provider=self.provider,
                code="unexpected_content_type",
                status=response.status_code,
                request_id=job.request_id,
            )
        return validate_output_wav(response.content, provider=self.provider)

    # -- streams -----------------------------------------------------------------------------

    async def _open_stream(
        self, path: str, body: CloneBody | DesignBody, request_id: str | None
    ) -> _Job:
        """Run a stream's job until its first chunk has arrived (with every retry a whole
        answer gets); the job then holds the open stream."""
        job = _Job(
            "POST",
            path,
            json=_dump(body),
            request_id=request_id,
            stream=True,
            text_length=len(body.text),
        )
        await self._run(job)  # a stream's chunks are checked as they come (see _open)
        return job

    async def _open(self, response: httpx.Response, job: _Job) -> None:
        """Read the first chunk of a 2xx answer to a stream (inside the attempt: a failure
        here is retried); a whole WAV (a service that does not stream) is the one chunk."""
        reader = StreamReader(
            response, where=self.where, provider=self.provider, request_id=job.request_id
        )
        if _media_type(response) != STREAM_MEDIA_TYPE:  # already read by _follow
            whole = StreamedChunk(
                sequence=0,
                audio=self._require_wav(response, job),
                text_span=(0, job.text_length),
                last=True,
                total=1,
                timings=decode_timings(response.headers.get(HEADER_TIMINGS, "")),
                **_described(response.headers),
            )
            job.opened = (reader, whole)
            return
        try:
            job.opened = (reader, await reader.next_chunk(0))
        except BaseException:
            await reader.aclose()
            raise

    async def _streamed(self, job: _Job) -> AsyncIterator[StreamedChunk]:
        """The open stream's chunks; after the first, a failure is a StreamInterruptedError."""
        reader, chunk = job.opened
        delivered, seconds = 0, 0.0
        error: TTSRouterError | None = None
        try:
            while True:
                yield chunk
                delivered, seconds = delivered + 1, seconds + chunk.audio.duration
                if chunk.last:
                    return
                chunk = await self._following(reader, job, delivered)
        except TTSRouterError as exc:
            error = exc
        finally:
            await reader.aclose()
        if error is not None:
            raise detached(StreamInterruptedError(error, delivered=delivered, seconds=seconds))

    async def _following(self, reader: StreamReader, job: _Job, sequence: int) -> StreamedChunk:
        """The next chunk of an open stream, within the job's deadline; typed errors only."""
        error: TTSRouterError
        try:
            async with asyncio.timeout(max(self._remaining(job), 0.001)):
                return await reader.next_chunk(sequence)
        except TimeoutError:
            error = self._timed_out(job, "did not finish the stream")
        except httpx.ReadTimeout:
            error = self._timed_out(job, "sent no chunk", read=True)
        except httpx.TransportError as exc:
            failure = _transport_failure(exc)
            self.circuit.record_failure(f"the stream broke: {failure}")
            error = ProviderUnavailableError(
                f"the stream from {self.where} broke: {failure}",
                provider=self.provider,
                request_id=job.request_id,
            )
        # Raised outside the except blocks: the httpx error's frames hold the auth headers.
        raise error

    def _error_for(self, response: httpx.Response, request_id: str | None) -> TTSRouterError:
        """The typed error for a refusal: the table's class for the service's code, so the
        caller meets the same error as in-process."""
        status = response.status_code
        where = f"{self.where} answered HTTP {status}"
        details: dict[str, Any] = {
            "provider": self.provider,
            "status": status,
            "request_id": request_id,
            "retry_after": _retry_after(response.headers),
        }
        if status in (401, 403):
            return AuthenticationError(
                f"{where}: the credentials were refused; {self._refused_fix}",
                **details,
            )
        if status == 429:
            return RateLimitedError(f"{where}: rate limited", **details)
        if known := table_error(_service_code(response), where, **details):
            return known
        if status == 503:
            return ProviderUnavailableError(f"{where}: unavailable", **details)
        if status >= 500 or status == 408:
            return ProviderError(f"{where}: the service failed", code="service_error", **details)
        return ProviderError(
            f"{where}: the service refused the request", code="request_rejected", **details
        )


# A read timeout or an empty pool says the service (or we) are busy, not that it is down.
_BUSY_TRANSPORT_ERRORS = (httpx.ReadTimeout, httpx.PoolTimeout)
# Codes of a 5xx that belong to one job (its own bad output), not to the service's health.
_JOB_CODES = frozenset(
    code for code, spec in ERRORS.items() if code.startswith("output_") or not spec.fallback
) | {"invalid_output", "truncated_output"}


def _health_of(status: int, error: TTSRouterError) -> Literal["unhealthy", "answered", "busy"]:
    if _back_pressure(error) or status == 408 or error.code in _ENDS_JOB:
        return "busy"
    if status >= 500 and error.code not in _JOB_CODES:
        return "unhealthy"
    return "answered"


def _back_pressure(error: TTSRouterError) -> bool:
    """429, or a 503 that says when to come back: the service is alive and asks us to wait."""
    if not isinstance(error, ProviderError):
        return False
    return error.code == "rate_limited" or (error.status == 503 and error.retry_after is not None)


def _should_retry(exc: BaseException) -> bool:
    return isinstance(exc, TTSRouterError) and exc.retryable and exc.code not in _ENDS_JOB


def _transport_failure(exc: httpx.TransportError) -> str:
    """What went wrong, in words, without the exception's own text (it may hold the URL)."""
    if isinstance(exc, httpx.TimeoutException):
        return {
            httpx.ConnectTimeout: "connecting timed out",
            httpx.ReadTimeout: "no answer within the read timeout",
            httpx.WriteTimeout: "sending the request timed out",
            httpx.PoolTimeout: "no free connection in the client's pool",
        }.get(type(exc), "timed out")
    cause: BaseException | None = exc
    while cause is not None:
        errno = getattr(cause, "errno", None)
        if isinstance(cause, OSError) and errno:
            return os.strerror(errno).lower()
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection closed before a whole response"
    if isinstance(exc, httpx.ReadError):
        return "the connection broke while reading the response"
    return type(exc).__name__


def _media_type(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value.split(";", maxsplit=1)[0].strip().lower()


def _service_code(response: httpx.Response) -> str | None:
    """The code of the service's JSON error body, if it has one."""
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _path(url: str) -> str:
    # Log the path only: a query string may carry tokens, a job id unlocks its result.
    path = httpx.URL(url).path if "://" in url else "/" + url.split("?", maxsplit=1)[0]
    return loggable_path(path)


def _described(headers: httpx.Headers) -> dict[str, Any]:
    """What a WAV answer's headers say of it: its ``model``, ``mode`` and ``warnings``."""
    warnings = headers.get(HEADER_WARNINGS, "")
    return {
        "model": headers.get(HEADER_MODEL, "unknown"),
        "mode": headers.get(HEADER_MODE, "unknown"),
        "warnings": tuple(w.strip() for w in warnings.split(";") if w.strip()),
    }


def _dump(body: CloneBody | CloneBatchBody | DesignBody) -> Any:
    return body.model_dump(mode="json", exclude_none=True)
