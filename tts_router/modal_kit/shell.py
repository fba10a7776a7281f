"""The plain base of every provider's Modal service class: no Modal decorators here.

The provider's ``@app.cls`` class decorates a few one-line methods that call these: the
ASGI app for the ``asgi_app`` endpoint (:meth:`ServiceShell.asgi`) and the bytes-in/bytes-out
calls behind the ``@modal.method``\\ s, which go through the same app in-process (same
validation, same batching).

The shell owns the service's start-up, in this order: the app is built before the memory
snapshot (:meth:`ServiceShell.open`), the model is loaded after the restore
(:meth:`ServiceShell.start_engine`), then the service (its worker, the lifespan of the app) is
started once, in the container's event loop, and is ready before the first input
(:meth:`ServiceShell.ensure_started`): by Modal's ASGI lifespan start-up when the web endpoint
exists, by the first SDK call otherwise. A request that still arrives while the model loads
waits for it (up to :attr:`ServiceShell.ready_timeout_s`), then gets the service's own answer
(503 ``loading`` with ``Retry-After`` while it still loads), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..http import ServiceClient

__all__ = ["ServiceShell", "ShellApp", "container_device"]

_logger = logging.getLogger("tts_router.modal_kit")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def container_device(gpu: str) -> str | None:
    """The engine's device: ``"cuda"`` inside a Modal container with a GPU (``gpu`` set), so a
    GPU that torch cannot use (a driver too old for its CUDA build) fails the load loudly
    (``load_failed``, logged) instead of generating on the CPU of a billed GPU container;
    None (the engine's own choice) anywhere else: a local import, a test."""
    import modal

    return "cuda" if gpu and not modal.is_local() else None


class ShellApp:
    """The ASGI app the web endpoint serves: the protocol app, with its lifespan run by the
    shell (:meth:`ServiceShell.ensure_started`) rather than by whoever calls it.

    Modal runs an ``asgi_app``'s lifespan start-up before the container takes inputs; this
    app answers it once the service is ready, and starts the service itself on a request
    if no lifespan came (a server without lifespan support). Everything else is passed to
    the protocol app unchanged.
    """

    def __init__(self, shell: ServiceShell) -> None:
        self.shell = shell

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.shell.ensure_started()
        await self.shell.service_app()(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.shell.ensure_started()
                except Exception as exc:
                    _logger.error("the service did not start (%s)", type(exc).__name__)
                    await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shell.stop_service()
                await send({"type": "lifespan.shutdown.complete"})
                return


class ServiceShell:
    """Plain base class of a provider's ``@app.cls`` service: no Modal decorators here.

    The provider's class decorates a few one-line methods that call these (Modal requires
    the decorated class at module level of the app file). :meth:`open` takes the protocol
    app (built in the snapshot phase); :meth:`start_engine` loads the model (after the
    snapshot, with the GPU attached); the ``@modal.method`` calls go through the same app
    in-process with the core's :class:`~tts_router.http.ServiceClient`, so SDK callers get
    the same validation (bad input is a typed 4xx error before any GPU work, never a crash
    that Modal would retry), the same batching with web requests, and no 150 s web limit.
    The service itself is started by :meth:`ensure_started` (see the module doc), so the
    methods work with or without the web endpoint.
    """

    web_app: FastAPI | None = None
    provider: str = "service"
    ready_timeout_s: float = 1200.0
    """How long :meth:`ensure_started` waits for the model load (Modal's start-up timeout)."""
    _client: ServiceClient | None = None
    _starting: asyncio.Future[None] | None = None
    _running: contextlib.AsyncExitStack | None = None

    def open(self, app: FastAPI, provider: str, *, ready_timeout_s: float | None = None) -> None:
        """Keep the app the ``asgi_app`` endpoint serves and the methods call; its voices go
        to the Volume when the image says where (:mod:`.voices`)."""
        from .voices import volume_voices_from_env

        volume_voices_from_env(app)
        self.web_app = app
        self.provider = provider
        self._client = None
        self._starting = None
        if ready_timeout_s is not None:
            self.ready_timeout_s = ready_timeout_s

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
        """The protocol app (:meth:`asgi` serves it)."""
        if self.web_app is None:
            raise RuntimeError("the service app is not built yet (open() was not called)")
        return self.web_app

    def asgi(self) -> ShellApp:
        """What ``@modal.asgi_app`` returns: the protocol app, started by this shell."""
        self.service_app()  # fail here, not on the first request, when open() was not called
        return ShellApp(self)

    async def ensure_started(self) -> None:
        """Start the service once (in the running event loop) and wait until it is ready.

        Runs the protocol app's lifespan (its engine worker and model load), then waits until
        ``/health`` no longer says ``loading``: the model is loaded (or failed to, which every
        request then reports as a typed 503 ``load_failed``), or :attr:`ready_timeout_s`
        passed. Concurrent callers wait for the same start; a failed start is retried by
        the next caller.
        """
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        try:
            await asyncio.shield(self._starting)
        except Exception:
            self._starting = None
            raise

    async def _start(self) -> None:
        app = self.service_app()
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(app.router.lifespan_context(app))
        self._running = stack
        try:
            await self._wait_until_loaded()
        except BaseException:
            self._running = None
            await stack.aclose()  # the next caller starts afresh, not a second worker
            raise

    async def _wait_until_loaded(self) -> None:
        import httpx

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout_s
        transport = httpx.ASGITransport(app=self.service_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as http:
            while True:
                status = (await http.get("/health")).json().get("status")
                if status != "loading":
                    return
                if loop.time() >= deadline:
                    _logger.warning(
                        "the model is still loading after %.0f s; requests get 503 loading",
                        self.ready_timeout_s,
                    )
                    return
                await asyncio.sleep(0.05)

    async def stop_service(self) -> None:
        """Stop the service started by :meth:`ensure_started` (idempotent)."""
        running, self._running = self._running, None
        self._starting = None
        if running is not None:
            await running.aclose()

    def client(self) -> ServiceClient:
        """The in-process client of the app (created on first use, in the serving loop)."""
        if self._client is None:
            import httpx

            from ..client_options import RetryOptions, Timeouts
            from ..http import ServiceClient

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

        await self.ensure_started()
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

        await self.ensure_started()
        body = DesignBody(text=text, instruct=instruct, language=language, seed=seed)
        return (await self.client().design(body)).wav

    async def health_info(self) -> dict[str, Any]:
        """``GET /health`` through the app, as a plain dict."""
        await self.ensure_started()
        return (await self.client().health()).model_dump()
