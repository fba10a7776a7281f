"""The FastAPI app: the protocol's routes over :class:`~.handlers.Handlers`.

This module deliberately has no ``from __future__ import annotations``: FastAPI resolves the
route annotations at definition time inside :func:`create_app`. FastAPI itself is imported
inside :func:`create_app` (the ``serve`` extra), so importing this module costs nothing.
"""

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ..audio import REFERENCE_LIMITS, AudioLimits, DecodedAudio
from ..errors import TTSRouterError
from ..protocol import (
    HEADER_IDEMPOTENCY_KEY,
    CloneBatchBody,
    CloneBody,
    DesignBody,
    LanguagesInfo,
    VoiceInfo,
)
from .engine import SpeechEngine
from .errors import validation_error
from .guard import Guard
from .handlers import Handlers
from .idempotency import IdempotencyCache, Produce, fingerprint
from .lru import BoundedLRU
from .responses import Stored, error_response
from .stats import ServingStats
from .worker import EngineWorker

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_TEXT_CHARS", "create_app"]

# A reference clip may be REFERENCE_LIMITS.max_bytes (25 MiB); base64 makes that 4/3 larger,
# and the JSON around it (text up to MAX_TEXT_CHARS) is small next to it.
DEFAULT_MAX_BODY_BYTES = 36 * 1024 * 1024
DEFAULT_MAX_TEXT_CHARS = 100_000


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
    :class:`~.stats.ServingStats`; ``app.state.voices`` the voice store.
    """
    from fastapi import FastAPI, Request, Response
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    stats = ServingStats()
    worker = EngineWorker(
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
    handlers = Handlers(
        worker,
        voices,
        IdempotencyCache(idempotency_ttl_s, idempotency_entries, stats),
        reference_limits=reference_limits,
        max_text_chars=max_text_chars,
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
    app.state.voices = voices
    app.state.worker = worker

    def respond(stored: Stored) -> Response:
        return Response(
            stored.body,
            status_code=stored.status,
            media_type=stored.media_type,
            headers=dict(stored.headers),
        )

    @app.exception_handler(TTSRouterError)
    async def typed_error(_: Request, exc: TTSRouterError) -> Response:
        return respond(error_response(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> Response:
        return respond(error_response(validation_error(exc.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "request_rejected"
        )
        body = {"error": {"code": code, "message": f"HTTP {exc.status_code}"}}
        return JSONResponse(body, status_code=exc.status_code)

    async def idempotent(request: Request, body: BaseModel, produce: Produce) -> Response:
        key = request.headers.get(HEADER_IDEMPOTENCY_KEY)
        stored = await handlers.idempotency.run(key, fingerprint(request.url.path, body), produce)
        return respond(stored)

    @app.get("/health")
    async def health() -> Response:
        return Response(handlers.health().model_dump_json(), media_type="application/json")

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
    app.add_middleware(Guard, max_body_bytes=max_body_bytes)
    return app
