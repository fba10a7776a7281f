"""The FastAPI app: the protocol's routes over :class:`~.handlers.Handlers` and the job table.

This module deliberately has no ``from __future__ import annotations``: FastAPI resolves the
route annotations at definition time inside :func:`create_app`. FastAPI itself is imported
inside :func:`create_app` (the ``serve`` extra), so importing this module costs nothing.
"""

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audio import REFERENCE_LIMITS, AudioLimits
from ..errors import TTSRouterError
from ..protocol import (
    HEADER_DEADLINE,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_PREFER,
    CloneBatchBody,
    CloneBody,
    DesignBody,
    LanguagesInfo,
    VoiceInfo,
    parse_deadline,
    parse_prefer,
    wants_stream,
)
from .contract import SpeechEngine
from .counters import ServingStats
from .errors import ServiceError, validation_error
from .feed import ChunkFeed
from .handlers import Handlers
from .jobs import Job, JobTable, fingerprint, wait_for
from .request_limits import Guard
from .responses import Stored, accepted_response, error_response
from .voices import DEFAULT_VOICE_BYTES, DirectoryVoiceStore, MemoryVoiceStore, VoiceStore
from .worker import EngineWorker

if TYPE_CHECKING:
    from fastapi import FastAPI, Response

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_MAX_TEXT_CHARS",
    "DEFAULT_MERGE_WINDOW_S",
    "create_app",
    "use_voice_store",
]

# A reference clip may be REFERENCE_LIMITS.max_bytes (25 MiB); base64 makes that 4/3 larger,
# and the JSON around it (text up to MAX_TEXT_CHARS) is small next to it.
DEFAULT_MAX_BODY_BYTES = 36 * 1024 * 1024
DEFAULT_MAX_TEXT_CHARS = 100_000
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
# After a batch, wait at most this long for the clients it answered (see worker.MergeWindow).
DEFAULT_MERGE_WINDOW_S = 0.05


def create_app(
    engine: SpeechEngine,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    body_timeout_s: float = 30.0,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_voices: int = 256,
    max_voice_bytes: int = DEFAULT_VOICE_BYTES,
    voices_dir: str | Path | None = None,
    voices_dir_max_bytes: int | None = None,
    voice_store: VoiceStore | None = None,
    reference_limits: AudioLimits = REFERENCE_LIMITS,
    batch_window_s: float = 0.01,
    max_batch: int = 16,
    merge_window_s: float = DEFAULT_MERGE_WINDOW_S,
    max_queue: int = 64,
    retry_after_s: float = 5.0,
    idempotency_ttl_s: float = 600.0,
    idempotency_entries: int = 256,
    result_max_bytes: int = 256 * 1024 * 1024,
    max_hold_s: float = 120.0,
    abandon_grace_s: float = 5.0,
    poll_lease_s: float = 60.0,
    title: str = "tts-router speech service",
) -> "FastAPI":
    """Build the FastAPI app serving ``engine`` over the protocol of :mod:`tts_router.protocol`.

    Voices: decoded in memory (``max_voices``/``max_voice_bytes``, least recently used
    evicted first), and also on disk in ``voices_dir`` when given (shared and kept across
    restarts, ``voices_dir_max_bytes`` at most), or in ``voice_store``. Work:
    ``batch_window_s`` is how long the first job waits for others to batch with,
    ``max_batch`` caps a batch, ``merge_window_s`` is the longest wait after a batch for the
    clients it answered (adaptive, 0: none; see :class:`~.worker.MergeWindow`),
    ``max_queue`` caps the jobs admitted at once (beyond: 503 ``overloaded``). Jobs: a
    request is held at most ``max_hold_s`` when it asks for a 202 (``Prefer:
    respond-async``); a request with ``Accept: application/x-tts-stream`` is answered with
    its chunks as frames once the first is ready (see :mod:`.stream`); results are kept
    ``idempotency_ttl_s`` after they finish, within ``idempotency_entries`` and
    ``result_max_bytes``; a job nobody waits for is cancelled ``abandon_grace_s`` after its
    last client left (``poll_lease_s`` after a 202).
    ``app.state`` holds ``stats`` (:class:`~.counters.ServingStats`), ``voices``, ``jobs``,
    ``worker`` and ``handlers``.
    """
    from fastapi import FastAPI

    stats = ServingStats()
    worker = EngineWorker(
        engine,
        stats,
        batch_window_s=batch_window_s,
        max_batch=max_batch,
        max_queue=max_queue,
        retry_after_s=retry_after_s,
        merge_window_s=merge_window_s,
    )
    if voice_store is None:
        memory = MemoryVoiceStore(max_voices, max_voice_bytes)
        voice_store = memory
        if voices_dir is not None:
            voice_store = DirectoryVoiceStore(
                voices_dir, limits=reference_limits, cache=memory, max_bytes=voices_dir_max_bytes
            )
    handlers = Handlers(
        worker, voice_store, reference_limits=reference_limits, max_text_chars=max_text_chars
    )
    jobs = JobTable(
        stats,
        ttl_s=idempotency_ttl_s,
        max_entries=idempotency_entries,
        max_bytes=result_max_bytes,
        grace_s=abandon_grace_s,
        lease_s=poll_lease_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            await worker.stop()

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.stats = stats
    app.state.voices = voice_store
    app.state.worker = worker
    app.state.handlers = handlers
    app.state.jobs = jobs

    _add_error_handlers(app)
    _add_routes(app, engine, handlers, jobs, max_hold_s)

    # Outermost of the app's middleware: the limits apply before any parsing.
    app.add_middleware(
        Guard,
        max_body_bytes=max_body_bytes,
        max_header_bytes=max_header_bytes,
        body_timeout_s=body_timeout_s,
    )
    return app


def _respond(stored: Stored) -> "Response":
    from fastapi import Response

    return Response(
        stored.body,
        status_code=stored.status,
        media_type=stored.media_type,
        headers=dict(stored.headers),
    )


def _add_error_handlers(app: "FastAPI") -> None:
    """Every error answers the protocol's JSON body with a code from the table."""
    from fastapi import Request, Response
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(TTSRouterError)
    async def typed_error(_: Request, exc: TTSRouterError) -> Response:
        return _respond(error_response(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> Response:
        return _respond(error_response(validation_error(exc.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "request_rejected"
        )
        body = {"error": {"code": code, "message": f"HTTP {exc.status_code}"}}
        return JSONResponse(body, status_code=exc.status_code)


def _add_routes(
    app: "FastAPI", engine: SpeechEngine, handlers: Handlers, jobs: JobTable, max_hold_s: float
) -> None:
    from fastapi import Request, Response

    async def deliver(request: Request, job: Job, stream: bool) -> Response:
        """The job's answer (``stream``: its chunks as frames from its first, see
        :mod:`.stream`), or 202 + its URL if it outlives the wait the client asked for."""
        respond_async, wait = parse_prefer(request.headers.get(HEADER_PREFER))
        hold = min(max_hold_s, max_hold_s if wait is None else wait) if respond_async else None
        if stream:
            from .stream import stream_job

            answer = await stream_job(jobs, job, request.receive, hold)
            if not isinstance(answer, Stored):
                jobs.stats.streams += 1
                return answer
        else:  # None while it runs: its URL then (nobody hears it if the client left)
            answer = await wait_for(jobs, job, request.receive, hold) or accepted_response(job.id)
        jobs.stats.async_answers += answer.status == 202 and hold is not None
        return _respond(answer)

    async def run_job(
        request: Request,
        body: CloneBody | DesignBody | CloneBatchBody,
        produce: Callable[[float | None, ChunkFeed | None], Coroutine[Any, Any, Stored]],
    ) -> Response:
        deadline = parse_deadline(request.headers.get(HEADER_DEADLINE))
        stream = not isinstance(body, CloneBatchBody) and wants_stream(
            request.headers.get("accept")
        )
        feed = ChunkFeed() if stream else None
        job = jobs.start(
            request.headers.get(HEADER_IDEMPOTENCY_KEY),
            fingerprint(request.url.path, body),
            lambda: produce(deadline, feed),
            feed=feed,
            text_length=len(body.text) if isinstance(body, CloneBody | DesignBody) else 0,
        )
        return await deliver(request, job, stream)

    def known_job(job_id: str, request: Request) -> Job:
        """The job, for a caller who may see it: a job started with an Idempotency-Key is
        shown only to requests with that key (its URL alone, from a log, is not enough)."""
        job = jobs.get(job_id)
        key = (request.headers.get(HEADER_IDEMPOTENCY_KEY) or "").encode("utf-8", "replace")
        owner = job.key.encode("utf-8", "replace") if job and job.key is not None else None
        if owner is not None and not secrets.compare_digest(key, owner):
            job = None
        if job is None:
            raise ServiceError(
                "job_not_found",
                "no job with this id is kept here (it expired, was never here, or ran on "
                "another instance); send the request again",
            )
        return job

    @app.get("/health")
    async def health() -> Response:
        return Response(handlers.health().model_dump_json(), media_type="application/json")

    @app.get("/languages")
    async def languages() -> LanguagesInfo:
        return LanguagesInfo(languages=list(engine.languages()))

    @app.head("/voices/{voice_id}")
    async def head_voice(voice_id: str) -> Response:
        return Response(status_code=200 if await handlers.has_voice(voice_id) else 404)

    @app.put("/voices/{voice_id}")
    async def put_voice(voice_id: str, request: Request) -> VoiceInfo:
        return await handlers.put_voice(voice_id, await request.body())

    @app.post("/clone")
    async def clone(body: CloneBody, request: Request) -> Response:
        return await run_job(request, body, lambda limit, feed: handlers.clone(body, limit, feed))

    @app.post("/clone-batch")
    async def clone_batch(body: CloneBatchBody, request: Request) -> Response:
        return await run_job(request, body, lambda limit, _: handlers.clone_batch(body, limit))

    @app.post("/design")
    async def design(body: DesignBody, request: Request) -> Response:
        return await run_job(request, body, lambda limit, feed: handlers.design(body, limit, feed))

    @app.get("/jobs/{job_id}")
    async def get_job(job_id: str, request: Request) -> Response:
        stream = wants_stream(request.headers.get("accept"))
        return await deliver(request, known_job(job_id, request), stream)

    @app.delete("/jobs/{job_id}")
    async def cancel_job(job_id: str, request: Request) -> Response:
        jobs.cancel(known_job(job_id, request))
        return Response(status_code=204)


def use_voice_store(app: Any, store: VoiceStore) -> None:
    """Serve ``app``'s voices from ``store`` from now on (Modal: the Volume-backed store)."""
    app.state.handlers.voices = store
    app.state.voices = store
