"""A service app in this process, reached through httpx as if it were across a network.

The in-process backend of every engine is :class:`~tts_router.remote.RemoteProvider` over
:class:`InProcessService`, the same service app a GPU box or Modal runs: local runs get the
same batching, voice store, validation and errors, through the same client. Use it with the
base URL :data:`IN_PROCESS_URL`::

    service = InProcessService(lambda: create_service_app(model_dir))
    provider = QwenProvider(ServiceConfig(clone_url=IN_PROCESS_URL), transport=service)

``httpx.ASGITransport`` does not do here: it runs no lifespan (where the app starts its
worker and loads the model), and it gathers a whole response body before it returns one
(httpx 0.28), so a stream would arrive all at once at its end. This transport runs the app on
an event loop of its own, in a daemon thread started by the first request, because:

- the sync facade (``provider.sync.clone``) runs each call in a new ``asyncio.run`` loop,
  which cancels every task left when it ends: a lifespan on the caller's loop would die with
  the first call, and the app's worker cannot start twice;
- building the app imports the engine (torch: seconds) and the app decodes audio on its
  loop; neither may stall the host's event loop.

The app is built (by ``factory``) and started on first use, so constructing a provider costs
nothing; :meth:`InProcessService.aclose` runs the lifespan's shutdown and ends the thread, and
a later request starts it again. A response's body reaches the caller chunk by chunk as the
app sends it (unbuffered on the way: a caller that stops reading holds what was sent); a
caller that closes a response or gives up is a client that disconnected, for the app. The
request's read timeout (httpx's ``timeout``) bounds each wait for the app, as a socket's would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message

__all__ = ["IN_PROCESS_URL", "InProcessService"]

logger = logging.getLogger("tts_router.serving")

IN_PROCESS_URL = "http://in-process"
"""The base URL for a provider over an :class:`InProcessService` (the host is never looked up)."""


class InProcessService(httpx.AsyncBaseTransport):
    """An httpx transport to the ASGI app ``factory`` builds, run in this process on its own
    thread and event loop, lifespan included (see the module). Built and started on the first
    request; :meth:`aclose` shuts it down."""

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._running: _Running | None = None

    def __repr__(self) -> str:
        return f"InProcessService(started={self.started})"

    @property
    def started(self) -> bool:
        """True from the first request until :meth:`aclose`."""
        return self._running is not None

    @property
    def app(self) -> ASGIApp | None:
        """The app, once the first request has built it (None before, and after closing)."""
        return self._running.app if self._running is not None else None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the app (starting it first if needed); the response streams."""
        running = await self._start(request)
        exchange = _Exchange(running, request, await request.aread())
        exchanged = exchange.run()
        try:
            asyncio.run_coroutine_threadsafe(exchanged, running.loop)
        except RuntimeError:  # closed in the meantime: as a refused connection
            exchanged.close()
            raise httpx.ConnectError("the in-process service is closed", request=request) from None
        try:
            return await exchange.response()
        except BaseException:
            await exchange.aclose()
            raise

    async def aclose(self) -> None:
        """Run the app's lifespan shutdown and end its thread (a start under way ends first)."""
        with self._lock:
            running, self._running = self._running, None
        if running is None:
            return
        await asyncio.shield(asyncio.wrap_future(running.ready))
        with contextlib.suppress(RuntimeError):  # its loop already ended: a failed start
            running.loop.call_soon_threadsafe(running.stopping.set)
        await asyncio.to_thread(running.thread.join)

    async def _start(self, request: httpx.Request) -> _Running:
        with self._lock:
            running = self._running
            if running is None or (running.ready.done() and running.ready.result() is not None):
                running = self._running = _Running(self._factory)  # anew after a failed start
        # Shielded: a caller that gives up does not cancel a start others may be waiting for.
        failure = await asyncio.shield(asyncio.wrap_future(running.ready))
        if failure is not None:
            raise httpx.ConnectError(
                f"the in-process service did not start ({type(failure).__name__})",
                request=request,
            )
        return running


class _Running:
    """One run of the app: its thread and loop, from the first request to ``aclose``."""

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self.app: ASGIApp | None = None
        self.state: dict[str, Any] = {}  # the lifespan's state, copied into each request
        self.ready: concurrent.futures.Future[BaseException | None] = concurrent.futures.Future()
        self.stopping = asyncio.Event()  # set and awaited on the service's loop only
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._serve, args=(factory,), name="tts-in-process", daemon=True
        )
        self.thread.start()

    def _serve(self, factory: Callable[[], ASGIApp]) -> None:
        with asyncio.Runner(loop_factory=lambda: self.loop) as runner:
            runner.run(self._main(factory))

    async def _main(self, factory: Callable[[], ASGIApp]) -> None:
        try:
            self.app = factory()
            lifespan = _Lifespan(self.app, self.state)
            await lifespan.phase("startup")
        except Exception as exc:
            logger.error("the in-process service did not start", exc_info=exc)
            self.ready.set_result(exc)
            return
        self.ready.set_result(None)
        await self.stopping.wait()
        await lifespan.phase("shutdown")


class _Lifespan:
    """The ASGI lifespan protocol, from the server's side (on the service's loop)."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
        self._task = asyncio.create_task(self._run(app, scope))

    async def _run(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        ended: Message = {"type": "lifespan.ended", "message": "the app ended its lifespan"}
        try:
            await app(scope, self._to_app.get, self._from_app.put)
        except Exception as exc:
            ended["message"] = type(exc).__name__
        self._from_app.put_nowait(ended)

    async def phase(self, name: str) -> None:
        """Send ``lifespan.<name>`` and wait for the app's answer; RuntimeError if it failed."""
        await self._to_app.put({"type": f"lifespan.{name}"})
        reply = await self._from_app.get()
        if reply["type"] != f"lifespan.{name}.complete":
            raise RuntimeError(f"the app's lifespan {name} failed: {reply.get('message')}")
        if name == "shutdown":
            await self._task


class _Exchange(httpx.AsyncByteStream):
    """One request's trip: the app runs on the service's loop, the caller reads on its own
    (the response's body is this stream); messages cross the loops with
    ``call_soon_threadsafe``."""

    def __init__(self, running: _Running, request: httpx.Request, body: bytes) -> None:
        self._loop = running.loop
        self._app = running.app
        self._caller = asyncio.get_running_loop()
        self._inbox: asyncio.Queue[Message | BaseException | None] = asyncio.Queue()
        self._body: bytes | None = body
        self._gone = asyncio.Event()  # the client left or has the whole response; service side
        self._request = request
        self._read_timeout: float | None = request.extensions.get("timeout", {}).get("read")
        url = request.url
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "client": ("127.0.0.1", 0),
            "state": dict(running.state),
        }

    # -- the service's side -------------------------------------------------------------------

    async def run(self) -> None:
        """Run the app on this request; the caller gets every message, then how it ended."""
        outcome: BaseException | None = None
        try:
            if self._app is None:
                raise AssertionError("unreachable: requests are sent once the app has started")
            await self._app(self.scope, self._receive, self._send)
        except asyncio.CancelledError as exc:  # the service is shutting down
            outcome = exc
            raise
        except Exception as exc:  # a bug (the app answers its errors): logged by type only
            outcome = exc
            logger.error("the in-process service raised %s", type(exc).__name__)
        finally:
            self._deliver(outcome)

    async def _receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self._gone.is_set():
            return  # the client left: what is sent goes nowhere, as on a closed connection
        body = message["type"] == "http.response.body"
        if body and self._request.method == "HEAD":
            message = {**message, "body": b""}
        self._deliver(message)
        if body and not message.get("more_body", False):
            self._gone.set()

    def _deliver(self, item: Message | BaseException | None) -> None:
        try:
            self._caller.call_soon_threadsafe(self._inbox.put_nowait, item)
        except RuntimeError:  # the caller's loop has ended: nobody is listening
            self._gone.set()

    # -- the caller's side --------------------------------------------------------------------

    async def response(self) -> httpx.Response:
        """The response, once the app has started it; its body streams."""
        start = await self._next("http.response.start")
        return httpx.Response(start["status"], headers=start.get("headers", []), stream=self)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The body's parts as the app sends them."""
        while True:
            message = await self._next("http.response.body")
            if message.get("body"):
                yield message["body"]
            if not message.get("more_body", False):
                return

    async def aclose(self) -> None:
        """The caller is done with this response (or gave up): the app sees a disconnect."""
        with contextlib.suppress(RuntimeError):  # the service's loop has ended
            self._loop.call_soon_threadsafe(self._gone.set)

    async def _next(self, kind: str) -> Message:
        try:
            async with asyncio.timeout(self._read_timeout):
                item = await self._inbox.get()
        except TimeoutError:
            raise httpx.ReadTimeout(
                "the in-process service sent nothing within the read timeout",
                request=self._request,
            ) from None
        if isinstance(item, BaseException) or item is None:
            what = "ended its response early" if item is None else f"failed ({type(item).__name__})"
            raise httpx.RemoteProtocolError(f"the in-process service {what}", request=self._request)
        if item["type"] != kind:
            raise httpx.RemoteProtocolError(
                f"the in-process service sent {item['type']} where {kind} was due",
                request=self._request,
            )
        return item
