"""The gateway's FastAPI app: OpenAI's speech endpoint, a voice library, models, health.

Two ASGI layers run before any route: an access log with a request id (outermost), then the
API key check and per-key in-flight limit (before the body is read, so an unauthorised or
over-limit request costs nothing) and the body limit (counted as the body streams).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ProviderError, TTSRouterError, ValidationError
from ..formats import MEDIA_TYPES, encoded_rate
from ..router import Router
from ..serving.request_limits import ClientGone, TaggedSend, read_body, replay
from ..streaming import AudioChunk
from .config import GatewayConfig
from .library import VoiceLibrary
from .speech import SpeechBody, stream_speech, synthesise

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["create_app"]

logger = logging.getLogger("tts_router.gateway")

_OPEN_PATHS = frozenset({"/healthz"})
_ERROR_TYPES = {401: "authentication_error", 429: "rate_limit_error"}


class DesignedVoiceBody(BaseModel):
    """``POST /v1/voices/design``: design a voice and keep it in the library."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str
    instructions: str = Field(repr=False, min_length=1)
    text: str = Field(repr=False, min_length=1, description="What the designed voice says.")
    language: str = "auto"
    model: str = "auto"


def create_app(
    config: GatewayConfig, router: Router | None = None, library: VoiceLibrary | None = None
) -> ASGIApp:
    """The gateway as an ASGI app over ``router`` (default: every installed provider)."""
    router = router or Router()
    library = library or VoiceLibrary(config.data_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await router.aclose()
        library.close()

    app = FastAPI(title="tts-router gateway", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(TTSRouterError)
    async def typed_error(request: Request, exc: TTSRouterError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(
            dict.fromkeys(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors())
        )
        return _error(
            ValidationError(f"the request is invalid at: {fields}", code="validation_failed")
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "providers": sorted(router.providers), "broken": router.broken}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [
            {
                "id": provider_id,
                "object": "model",
                "owned_by": "tts-router",
                "capabilities": provider.capabilities.model_dump(mode="json"),
                "ready": provider.missing_configuration() is None,
            }
            for provider_id, provider in router.providers.items()
        ]
        data.insert(0, {"id": "auto", "object": "model", "owned_by": "tts-router"})
        return {"object": "list", "data": data}

    @app.post("/v1/audio/speech")
    async def speech(body: SpeechBody, request: Request) -> Response:
        request_id = request.scope["state"]["request_id"]
        if body.streams:
            return await _streamed(stream_speech(body, router, library, request_id), router)
        result = await synthesise(body, router, library, request_id)
        headers = _tts_headers(
            result.provider, result.mode, result.sample_rate, result.quality, result.warnings
        )
        if result.fallback_from:
            headers["X-TTS-Fallback-From"] = ",".join(result.fallback_from)
        return Response(result.audio, media_type=result.media_type, headers=headers)

    @app.post("/v1/voices")
    async def add_voice(
        file: Annotated[UploadFile, File()],
        name: Annotated[str, Form()],
        transcript: Annotated[str | None, Form()] = None,
        language: Annotated[str, Form()] = "auto",
    ) -> dict[str, object]:
        audio = await file.read()
        voice = await asyncio.to_thread(
            library.add, audio, name=name, transcript=transcript, language=language
        )
        return voice.public()

    @app.post("/v1/voices/design")
    async def design_voice(body: DesignedVoiceBody, request: Request) -> dict[str, object]:
        speech_body = SpeechBody(
            model=body.model,
            input=body.text,
            instructions=body.instructions,
            language=body.language,
            response_format="wav",
        )
        result = await synthesise(
            speech_body, router, library, request.scope["state"]["request_id"]
        )
        voice = await asyncio.to_thread(
            library.add,
            result.audio,
            name=body.name,
            transcript=body.text,
            language=body.language,
            source="design",
        )
        return {**voice.public(), "designed_by": result.provider}

    @app.get("/v1/voices")
    async def list_voices() -> dict[str, object]:
        return {"object": "list", "data": [v.public() for v in library.list()]}

    @app.get("/v1/voices/{voice_id}")
    async def get_voice(voice_id: str) -> dict[str, object]:
        return library.get(voice_id).public()

    @app.delete("/v1/voices/{voice_id}")
    async def delete_voice(voice_id: str) -> dict[str, object]:
        await asyncio.to_thread(library.delete, voice_id)
        return {"id": voice_id, "object": "voice.deleted", "deleted": True}

    return _AccessLog(_Auth(app, config))


async def _streamed(chunks: AsyncIterator[AudioChunk], router: Router) -> StreamingResponse:
    """The router's chunks as they come, each its piece of one file in the format asked.

    Nothing is sent before the first chunk, so a failure until then (fallbacks included) is an
    error response like any other. A failure after it cannot change the status any more: the
    connection is closed before the body's end, which a client reads as a broken transfer
    (never a silently shorter file); the access log has the request's line.
    """
    try:
        first = await anext(aiter(chunks))
    except StopAsyncIteration:
        raise ProviderError("the provider streamed no audio", code="invalid_output") from None
    provider = router.providers.get(first.provider)
    quality = provider.capabilities.quality if provider is not None else None
    rate = encoded_rate(first.format, first.sample_rate)
    headers = _tts_headers(first.provider, first.mode, rate, quality, first.warnings)

    async def audio() -> AsyncIterator[bytes]:
        try:
            yield first.data
            async for chunk in chunks:
                yield chunk.data
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    return _UnfinishedOnError(audio(), media_type=MEDIA_TYPES[first.format], headers=headers)


def _tts_headers(
    provider: str, mode: str, sample_rate: int, quality: str | None, warnings: Sequence[str]
) -> dict[str, str]:
    """The ``X-TTS-*`` headers that say how the audio was made."""
    headers = {
        "X-TTS-Provider": provider,
        "X-TTS-Mode": mode,
        "X-TTS-Sample-Rate": str(sample_rate),
    }
    if quality is not None:
        headers["X-TTS-Quality"] = quality
    if warnings:  # ours, never input (a fallback says so); header values must be latin-1
        headers["X-TTS-Warnings"] = "; ".join(warnings).encode("ascii", "replace").decode()
    return headers


class _UnfinishedOnError(StreamingResponse):
    """A stream whose failure midway leaves the response unfinished: the server closes the
    connection before the body's end (one log line), so the client sees a broken transfer."""

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for data in self.body_iterator:
                await send({"type": "http.response.body", "body": data, "more_body": True})
        except TTSRouterError as exc:
            logger.warning("a stream broke midway (%s); closing it unfinished", exc.code)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _error(exc: TTSRouterError, headers: dict[str, str] | None = None) -> JSONResponse:
    """OpenAI's error shape, carrying the library's code and the table's status."""
    status = exc.http_status
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    body = {"error": {"message": exc.message, "type": kind, "param": None, "code": exc.code}}
    headers = dict(headers or {})
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return JSONResponse(body, status_code=status, headers=headers)


class _AccessLog:
    """Request ids and one structured access-log line per request: no bodies, no text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        send_with_id = TaggedSend(send, request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logger.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": send_with_id.status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "key": scope["state"].get("key_id"),
                    }
                )
            )


class _Auth:
    """Bearer keys (compared as hashes), a per-key limit on requests in flight, then the body
    limit: a body over it is refused as it streams, whatever Content-Length claims."""

    def __init__(self, app: ASGIApp, config: GatewayConfig) -> None:
        self.app = app
        self.config = config
        self.in_flight: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in _OPEN_PATHS:
            await self._limit_body(scope, receive, send)
            return
        key_id = self._key_id(scope)
        if key_id is None:
            error = ValidationError(
                "a valid API key is required: send Authorization: Bearer <key>",
                code="invalid_api_key",
            )
            await _error(error, {"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        scope["state"]["key_id"] = key_id[7:19]  # a hash prefix: identifies, reveals nothing
        limit = self.config.max_in_flight_per_key
        if self.in_flight[key_id] >= limit:
            busy = ProviderError(
                f"this key has {limit} requests in flight; wait for one to finish",
                code="concurrency_limit",
                retry_after=1.0,
            )
            await _error(busy)(scope, receive, send)
            return
        self.in_flight[key_id] += 1
        try:
            await self._limit_body(scope, receive, send)
        finally:
            self.in_flight[key_id] -= 1

    async def _limit_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.config.max_body_bytes
        try:
            body = await read_body(scope, receive, limit, None)
        except ClientGone:
            return
        if body is None:
            error = ValidationError(
                f"the request body is over {limit} bytes", code="body_too_large"
            )
            await _error(error)(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)

    def _key_id(self, scope: Scope) -> str | None:
        if not self.config.keys:  # --no-auth on loopback (checked at start-up)
            return "sha256:" + "0" * 64
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    return self.config.key_id(token.strip())
        return None
