"""The plain base of every provider's Modal service class: no Modal decorators here.

The provider's ``@app.cls`` class decorates a few one-line methods that call these: the
protocol app for the ``asgi_app`` endpoint and the bytes-in/bytes-out calls behind the
``@modal.method``\\ s, which go through the same app in-process (same validation, same
batching).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..http import ServiceClient

__all__ = ["ServiceShell"]

_logger = logging.getLogger("tts_router.modal_kit")


class ServiceShell:
    """Plain base class of a provider's ``@app.cls`` service: no Modal decorators here.

    The provider's class decorates a few one-line methods that call these (Modal requires
    the decorated class at module level of the app file). :meth:`open` takes the protocol
    app (built in the snapshot phase); :meth:`start_engine` loads the model (after the
    snapshot, with the GPU attached); the ``@modal.method`` calls go through the same app
    in-process with the core's :class:`~tts_router.http.ServiceClient`, so SDK callers get
    the same validation (bad input is a typed 4xx error before any GPU work, never a crash
    that Modal would retry), the same batching with web requests, and no 150 s web limit.
    """

    web_app: FastAPI | None = None
    provider: str = "service"
    _client: ServiceClient | None = None

    def open(self, app: FastAPI, provider: str) -> None:
        """Keep the app the ``asgi_app`` endpoint serves and the methods call."""
        self.web_app = app
        self.provider = provider
        self._client = None

    def start_engine(self) -> None:
        """Load the engine now (idempotent): the container takes inputs only afterwards, so
        requests wait for the model instead of being answered 503 ``loading``.

        A failure is logged, not raised: a container that crashed at start would be started
        again and again (each time on a billed GPU). The app's own start-up load then fails
        the same way and every request gets a fast typed error naming the cause.
        """
        try:
            self.service_app().state.worker.engine.load()
        except Exception as exc:
            _logger.error(
                "the model failed to load (%s: %s); were the weights downloaded into the "
                "Volume? (`tts-router-<provider> download`)",
                type(exc).__name__,
                exc,
            )

    def service_app(self) -> FastAPI:
        """The protocol app (the one ``@modal.asgi_app`` serves)."""
        if self.web_app is None:
            raise RuntimeError("the service app is not built yet (open() was not called)")
        return self.web_app

    def client(self) -> ServiceClient:
        """The in-process client of the app (created on first use, in the serving loop)."""
        if self._client is None:
            import httpx

            from ..http import RetryOptions, ServiceClient, Timeouts

            self._client = ServiceClient(
                "http://in-process",
                provider=self.provider,
                transport=httpx.ASGITransport(app=self.service_app()),
                retry=RetryOptions(max_attempts=3, deadline=3600.0),
                timeouts=Timeouts(read=3600.0),
            )
        return self._client

    async def clone_wav(
        self,
        text: str,
        reference_audio: bytes,
        *,
        language: str = "auto",
        transcript: str | None = None,
        seed: int | None = None,
    ) -> bytes:
        """Clone through the app; the reference is stored once per container by its hash."""
        from ..protocol import CloneBody

        voice_id = hashlib.sha256(reference_audio).hexdigest()
        body = CloneBody(
            text=text, language=language, voice_id=voice_id, transcript=transcript, seed=seed
        )
        response = await self.client().clone(body, reference=reference_audio)
        return response.wav

    async def design_wav(
        self, text: str, instruct: str, *, language: str = "auto", seed: int | None = None
    ) -> bytes:
        """Design through the app (a 400 ``unsupported_operation`` where it cannot)."""
        from ..protocol import DesignBody

        body = DesignBody(text=text, instruct=instruct, language=language, seed=seed)
        return (await self.client().design(body)).wav

    async def health_info(self) -> dict[str, Any]:
        """``GET /health`` through the app, as a plain dict."""
        return (await self.client().health()).model_dump()
