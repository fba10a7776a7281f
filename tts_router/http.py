"""The resilient client for the service protocol (:mod:`tts_router.protocol`).

One client for every GPU provider. What it guarantees:

- **One retry layer.** Connect errors, timeouts, broken responses, 408, 429, 500, 502, 503 and
  504 are retried with full-jitter exponential backoff (``Retry-After`` honoured, capped), inside
  a total deadline that also bounds each attempt's timeouts. Other 4xx, auth failures and an
  open circuit are raised at once. The transport itself never retries.
- **One job, one key.** Every attempt of a job carries the same ``Idempotency-Key``, so a
  service that already finished the job answers from its cache instead of generating again.
- **Modal's long-running web endpoints.** A 303 to a result URL is followed with GET, only on
  the same origin (auth headers never leave it); a reset while waiting re-GETs the result URL
  instead of POSTing the job again; an endless redirect loop is a typed error.
- **A circuit breaker per endpoint** opens after repeated connect/5xx failures; the router reads
  it through :attr:`ServiceClient.available` and skips the provider until it half-opens.
- **Validated output.** A 2xx must be ``audio/wav`` that parses, is non-empty and not silent.
- **Nothing leaked.** Logs and errors carry method, path, status, service error code and
  request id only: never bodies, text, transcripts, audio or secrets.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .audio import validate_output_wav
from .errors import (
    AuthenticationError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    TruncatedOutputError,
)
from .protocol import (
    HEADER_IDEMPOTENCY_KEY,
    HEADER_MODE,
    HEADER_MODEL,
    HEADER_REQUEST_ID,
    HEADER_TIMING_PREFIX,
    HEADER_WARNINGS,
    CloneBatchBody,
    CloneBatchResult,
    CloneBody,
    DesignBody,
    HealthInfo,
    LanguagesInfo,
)

__all__ = [
    "AudioResponse",
    "CircuitBreaker",
    "CircuitOptions",
    "RetryOptions",
    "ServiceAuth",
    "ServiceClient",
    "Timeouts",
]

logger = logging.getLogger("tts_router.http")

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave")


@dataclass(frozen=True, slots=True)
class RetryOptions:
    """How hard to try one job. ``deadline`` bounds all attempts and waits together."""

    max_attempts: int = 6
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 30.0
    deadline: float = 900.0
    max_redirects: int = 40  # Modal: each 303 hop waits up to 150 s for the job


# Health and language probes answer fast or not at all: a doctor run must not wait minutes.
PROBE_RETRY = RetryOptions(max_attempts=2, initial_backoff=0.2, max_backoff=0.5, deadline=20.0)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts; ``read`` is longer than Modal's 150 s web-endpoint wait."""

    connect: float = 10.0
    read: float = 180.0
    write: float = 60.0
    pool: float = 30.0


@dataclass(frozen=True, slots=True)
class CircuitOptions:
    """Open after ``failures`` consecutive connect/5xx failures; half-open after ``reset_after``."""

    failures: int = 5
    reset_after: float = 30.0


@dataclass(frozen=True, slots=True)
class ServiceAuth:
    """Modal proxy-auth credentials (``Modal-Key``/``Modal-Secret``). Masked in every repr."""

    key: str = field(repr=False)
    secret: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        """The headers a proxy-auth endpoint expects."""
        return {"Modal-Key": self.key, "Modal-Secret": self.secret}

    def __repr__(self) -> str:
        return "ServiceAuth(key='***', secret='***')"


class CircuitBreaker:
    """Closed -> open after repeated failures -> half-open (one trial) after a pause."""

    def __init__(
        self, options: CircuitOptions, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._options = options
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def reset_after(self) -> float:
        """Seconds an open circuit waits before letting one trial through."""
        return self._options.reset_after

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        """The state now; an open circuit becomes half-open once ``reset_after`` has passed."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._options.reset_after:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a request may go out now (in half-open, exactly one trial at a time)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        """The service answered: close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        """The service failed to answer; open (or re-open) when over the threshold."""
        self._failures += 1
        self._trial_in_flight = False
        if self._opened_at is not None or self._failures >= self._options.failures:
            self._opened_at = self._clock()


@dataclass(frozen=True, slots=True)
class AudioResponse:
    """A WAV from the service (already checked: type, parses, not silent) and its headers."""

    wav: bytes
    model: str
    mode: str
    timings: dict[str, float]
    warnings: tuple[str, ...]


@dataclass
class _Job:
    """One logical job across attempts: where to go next and the key that names it."""

    method: str
    url: str
    json: Any = None
    content: bytes | None = None
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    request_id: str | None = None
    retry: RetryOptions | None = None  # None: the client's options
    hops: int = 0
    started: float = field(default_factory=time.monotonic)


class ServiceClient:
    """Async client for one service (one base URL). Share one per provider; close it after.

    ``transport=`` injects an httpx transport (tests, proxies); the transport must not retry.
    """

    def __init__(
        self,
        base_url: str,
        *,
        provider: str,
        auth: ServiceAuth | None = None,
        retry: RetryOptions = RetryOptions(),
        timeouts: Timeouts = Timeouts(),
        circuit: CircuitOptions = CircuitOptions(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.provider = provider
        self.retry = retry
        self.timeouts = timeouts
        self.circuit = CircuitBreaker(circuit)
        self._auth = auth
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._known_voices: set[str] = set()
        self._voice_locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"ServiceClient({str(self.base_url)!r}, provider={self.provider!r})"

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
            head = await self._run(_Job("HEAD", path), allow={404})
            if head.status_code == 404 or force:
                await self._run(_Job("PUT", path, content=audio))
            self._known_voices.add(voice_id)

    async def clone(
        self, body: CloneBody, *, reference: bytes | None = None, request_id: str | None = None
    ) -> AudioResponse:
        """``POST /clone``. With ``reference`` (the audio behind ``body.voice_id``) the voice
        is uploaded first if the service lacks it, and once more if the service forgot it."""
        if reference is not None and body.voice_id is not None:
            await self.ensure_voice(body.voice_id, reference)
        try:
            return await self._audio(_Job("POST", "clone", json=_dump(body), request_id=request_id))
        except ProviderError as exc:
            if exc.code != "voice_not_found" or reference is None or body.voice_id is None:
                raise
            logger.debug("voice missing on the service (new container?); uploading again")
            self._known_voices.discard(body.voice_id)
            await self.ensure_voice(body.voice_id, reference, force=True)
            return await self._audio(_Job("POST", "clone", json=_dump(body), request_id=request_id))

    async def clone_batch(self, body: CloneBatchBody) -> CloneBatchResult:
        """``POST /clone-batch``: ordered results, each ok or its own error."""
        response = await self._run(_Job("POST", "clone-batch", json=_dump(body)))
        return CloneBatchResult.model_validate_json(response.content)

    async def design(self, body: DesignBody, *, request_id: str | None = None) -> AudioResponse:
        """``POST /design``."""
        return await self._audio(_Job("POST", "design", json=_dump(body), request_id=request_id))

    # -- machinery ---------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self._transport,
                follow_redirects=False,  # we follow 303s ourselves, same origin only
                headers=self._auth.headers() if self._auth else {},
            )
        return self._client

    async def _audio(self, job: _Job) -> AudioResponse:
        response = await self._run(job, expect_wav=True)
        headers = response.headers
        timings = {
            name[len(HEADER_TIMING_PREFIX) :].lower(): _float(value)
            for name, value in headers.items()
            if name.lower().startswith(HEADER_TIMING_PREFIX.lower())
        }
        warnings = headers.get(HEADER_WARNINGS, "")
        return AudioResponse(
            wav=response.content,
            model=headers.get(HEADER_MODEL, "unknown"),
            mode=headers.get(HEADER_MODE, "unknown"),
            timings=timings,
            warnings=tuple(w.strip() for w in warnings.split(";") if w.strip()),
        )

    async def _run(
        self, job: _Job, *, allow: frozenset[int] | set[int] = frozenset(), expect_wav: bool = False
    ) -> httpx.Response:
        job.retry = job.retry or self.retry
        retrying = AsyncRetrying(
            stop=stop_after_attempt(job.retry.max_attempts),
            wait=lambda state: self._wait(state, job),
            retry=retry_if_exception(_should_retry),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(job, allow, expect_wav)
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _wait(self, state: RetryCallState, job: _Job) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, ProviderError) else None
        if retry_after is not None:
            delay = min(float(retry_after), self._options(job).max_retry_after)
        else:  # full jitter: uniform in [0, min(cap, base * 2^n)]
            ceiling = self._options(job).initial_backoff * 2 ** (state.attempt_number - 1)
            delay = random.uniform(0, min(self._options(job).max_backoff, ceiling))
        if exc is not None and delay >= self._remaining(job):
            raise exc  # the deadline would pass while waiting: the last failure is the answer
        return delay

    def _remaining(self, job: _Job) -> float:
        return self._options(job).deadline - (time.monotonic() - job.started)

    def _options(self, job: _Job) -> RetryOptions:
        return job.retry or self.retry

    async def _attempt(
        self, job: _Job, allow: frozenset[int] | set[int], expect_wav: bool
    ) -> httpx.Response:
        if not self.circuit.allow():
            raise ProviderUnavailableError(
                "the service's circuit is open after repeated failures; it will be tried "
                f"again in up to {self.circuit.reset_after:g} s",
                provider=self.provider,
                code="circuit_open",
                retryable=False,
            )
        try:
            response = await self._follow(job)
        except ProviderError:
            self.circuit.record_success()  # it answered, with something we refuse to follow
            raise
        except httpx.TransportError as exc:
            self.circuit.record_failure()
            logger.debug("%s %s failed: %s", job.method, _path(job.url), type(exc).__name__)
            raise ProviderUnavailableError(
                f"could not reach the service ({type(exc).__name__}); check its URL and that "
                "it is deployed",
                provider=self.provider,
                request_id=job.request_id,
            ) from None
        status = response.status_code
        logger.debug("%s %s -> %d (hop %d)", job.method, _path(job.url), status, job.hops)
        if status >= 500:
            self.circuit.record_failure()
        else:
            self.circuit.record_success()
        if status < 300 or status in allow:
            if expect_wav and status < 300:
                _require_wav(response, self.provider, job.request_id)
            return response
        raise _error_for(response, self.provider, job.request_id)

    async def _follow(self, job: _Job) -> httpx.Response:
        """Send the job's current request, following same-origin redirects with GET."""
        while True:
            response = await self._http().request(
                job.method,
                job.url,
                json=job.json if job.method == "POST" else None,
                content=job.content,
                headers=self._headers(job),
                timeout=self._timeout(job),
            )
            if response.status_code not in _REDIRECT_STATUSES:
                await response.aread()
                return response
            await response.aclose()
            location = response.headers.get("location")
            if not location:
                return response
            target = response.url.join(location)
            if (target.scheme, target.host, target.port) != (
                self.base_url.scheme,
                self.base_url.host,
                self.base_url.port,
            ):
                raise ProviderError(
                    "the service redirected to another host; refusing to follow (credentials "
                    "must not leave the service's origin)",
                    provider=self.provider,
                    code="redirect_refused",
                    status=response.status_code,
                    request_id=job.request_id,
                )
            job.hops += 1
            max_redirects = self._options(job).max_redirects
            if job.hops > max_redirects:
                raise ProviderError(
                    f"the service redirected more than {max_redirects} times",
                    provider=self.provider,
                    code="too_many_redirects",
                    status=response.status_code,
                    request_id=job.request_id,
                )
            # The job now lives at the result URL: later attempts (after a reset) GET it too.
            job.method, job.url, job.json, job.content = "GET", str(target), None, None

    def _headers(self, job: _Job) -> dict[str, str]:
        headers = {HEADER_IDEMPOTENCY_KEY: job.idempotency_key}
        if job.request_id:
            headers[HEADER_REQUEST_ID] = job.request_id
        if job.content is not None:
            headers["Content-Type"] = "application/octet-stream"
        return headers

    def _timeout(self, job: _Job) -> httpx.Timeout:
        remaining = max(self._remaining(job), 0.001)
        t = self.timeouts
        return httpx.Timeout(
            connect=min(t.connect, remaining),
            read=min(t.read, remaining),
            write=min(t.write, remaining),
            pool=min(t.pool, remaining),
        )


def _should_retry(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def _require_wav(response: httpx.Response, provider: str, request_id: str | None) -> None:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _WAV_TYPES:
        raise ProviderError(
            f"the service answered {response.status_code} with {content_type or 'no type'} "
            "instead of audio/wav (a proxy page?)",
            provider=provider,
            code="unexpected_content_type",
            retryable=True,
            status=response.status_code,
            request_id=request_id,
        )
    validate_output_wav(response.content, provider=provider)


def _error_for(response: httpx.Response, provider: str, request_id: str | None) -> ProviderError:
    status = response.status_code
    code = _service_code(response)
    where = f"HTTP {status}" + (f" {code}" if code else "")
    common: dict[str, Any] = {"provider": provider, "status": status, "request_id": request_id}
    if status in (401, 403):
        return AuthenticationError(
            f"the service refused the credentials ({where}); check MODAL_KEY and MODAL_SECRET",
            **common,
        )
    retry_after = _retry_after(response.headers)
    if status == 429:
        return RateLimitedError(
            f"the service is rate limiting ({where})", retry_after=retry_after, **common
        )
    if status == 503:
        return ProviderUnavailableError(
            f"the service is unavailable ({where})", retry_after=retry_after, **common
        )
    if code == "truncated_output":
        return TruncatedOutputError(
            "the service's generation hit its length cap; send shorter text per request",
            **common,
        )
    if status in _RETRY_STATUSES:
        return ProviderError(
            f"the service failed ({where})", code=code or f"http_{status}", retryable=True, **common
        )
    return ProviderError(
        f"the service rejected the request ({where})",
        code=code or f"http_{status}",
        retryable=False,
        **common,
    )


def _service_code(response: httpx.Response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    # A code is an identifier; anything else (or anything long) is not trusted into messages.
    if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) <= 64:
        return code
    return None


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


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def _path(url: str) -> str:
    # Log the path only: a query string may carry tokens.
    return httpx.URL(url).path if "://" in url else "/" + url.split("?", maxsplit=1)[0]


def _dump(body: CloneBody | CloneBatchBody | DesignBody) -> Any:
    return body.model_dump(mode="json", exclude_none=True)
