"""InProcessService: an ASGI app in this process behind httpx, lifespan run, bodies streamed.

Small hand-written ASGI apps pin down the transport's own promises; the real service app over
the tone engine shows the provider's side: the sync facade (a new event loop per call) keeps
one running service, and the voice is uploaded once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from core_support.tone_service import ToneEngine, ToneRemote, reference_wav

from tts_router import CloneRequest, VoiceReference
from tts_router.remote import ServiceConfig
from tts_router.serving import IN_PROCESS_URL, InProcessService, create_app

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class App:
    """A raw ASGI app: records its lifespan; ``/echo`` answers the body it got; the others send
    a first part, then (``/parts``) a last part once the gate opens, and record what the
    client does next."""

    def __init__(self) -> None:
        self.lifespan: list[tuple[str, str]] = []  # (phase, thread name)
        self.gate = threading.Event()
        self.after_body: list[str] = []
        self.saw_after_body = threading.Event()

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                phase = (await receive())["type"].removeprefix("lifespan.")
                self.lifespan.append((phase, threading.current_thread().name))
                await send({"type": f"lifespan.{phase}.complete"})
                if phase == "shutdown":
                    return
        request = await receive()
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if scope["path"] == "/echo":
            await send({"type": "http.response.body", "body": request["body"]})
            return
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        if scope["path"] == "/breaks":
            raise RuntimeError("a bug after the first part")
        if scope["path"] == "/stalls":
            await asyncio.sleep(30)
        if scope["path"] == "/parts":
            await asyncio.to_thread(self.gate.wait, 10)
            await send({"type": "http.response.body", "body": b"second"})
        self.after_body.append((await receive())["type"])  # the client's next move
        self.saw_after_body.set()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _client(service: InProcessService, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=IN_PROCESS_URL, transport=service, **options)


async def test_the_lifespan_starts_on_first_use_off_the_callers_loop_and_ends_on_close() -> None:
    app, built = App(), []
    service = InProcessService(lambda: built.append(app) or app)
    assert not built and not service.started and service.app is None  # construction is free
    async with _client(service) as client:  # closing the client closes the transport
        response = await client.post("/echo", content=b"hello")
        assert (response.status_code, response.content) == (200, b"hello")
        assert len(built) == 1 and service.app is app
        assert app.lifespan == [("startup", "tts-in-process")]  # its own thread and loop
        assert (await client.post("/echo", content=b"again")).content == b"again"
        assert len(built) == 1  # one app, one start
    assert [phase for phase, _ in app.lifespan] == ["startup", "shutdown"]
    assert not service.started and service.app is None
    assert not any(t.name == "tts-in-process" for t in threading.enumerate())
    async with _client(service) as client:  # used again: started again
        assert (await client.post("/echo", content=b"back")).content == b"back"
    assert len(built) == 2 and [p for p, _ in app.lifespan] == ["startup", "shutdown"] * 2


async def test_a_body_arrives_part_by_part_as_the_app_sends_it() -> None:
    app = App()
    service = InProcessService(lambda: app)
    async with _client(service) as client, client.stream("GET", "/parts") as response:
        parts = response.aiter_raw()
        assert await anext(parts) == b"first"
        assert not app.gate.is_set()  # the app is still waiting: nothing was gathered
        app.gate.set()
        assert [part async for part in parts] == [b"second"]
    assert app.after_body == ["http.disconnect"]  # a whole answer: the exchange is over


async def test_closing_a_response_early_is_a_disconnect_for_the_app() -> None:
    app = App()
    async with _client(InProcessService(lambda: app)) as client:
        async with client.stream("GET", "/waits") as response:
            assert await anext(response.aiter_raw()) == b"first"
        assert await asyncio.to_thread(app.saw_after_body.wait, 10)
    assert app.after_body == ["http.disconnect"]


async def test_a_failure_mid_body_breaks_the_stream_and_a_silent_app_times_out() -> None:
    app = App()
    async with _client(InProcessService(lambda: app), timeout=httpx.Timeout(5, read=0.2)) as c:
        async with c.stream("GET", "/breaks") as response:
            with pytest.raises(httpx.RemoteProtocolError, match="failed \\(RuntimeError\\)"):
                await response.aread()
        async with c.stream("GET", "/stalls") as response:
            with pytest.raises(httpx.ReadTimeout):
                await response.aread()
        assert (await c.post("/echo", content=b"still fine")).content == b"still fine"


async def test_a_start_that_fails_is_a_connection_error_and_is_tried_again() -> None:
    app, attempts = App(), []

    def factory() -> App:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("the model directory is not there yet")
        return app

    async with _client(InProcessService(factory)) as client:
        with pytest.raises(httpx.ConnectError, match="did not start \\(OSError\\)"):
            await client.post("/echo", content=b"x")
        assert (await client.post("/echo", content=b"y")).content == b"y"
    assert len(attempts) == 2


def test_the_sync_facade_keeps_one_service_across_event_loops() -> None:
    """Each sync call runs in a new ``asyncio.run`` loop, which cancels what it leaves behind:
    the service's own loop keeps the app, its worker and its voices between calls."""
    apps: list[Any] = []
    requests: list[tuple[str, str]] = []

    def factory() -> Any:
        app = create_app(ToneEngine(), retry_after_s=1)
        apps.append(app)

        async def recorded(scope: Message, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                requests.append((scope["method"], scope["path"].split("/")[1]))
            await app(scope, receive, send)

        return recorded

    service = InProcessService(factory)
    provider = ToneRemote(ServiceConfig(clone_url=IN_PROCESS_URL), transport=service)
    reference = VoiceReference(audio=reference_wav(), transcript="words")
    for text in ("One sentence.", "Another one."):
        result = provider.sync.clone(CloneRequest(text=text, reference=reference, language="en"))
        assert result.mode == "icl" and result.duration > 0.1
    asyncio.run(provider.aclose())
    assert len(apps) == 1 and apps[0].state.stats.engine_jobs == 2
    assert requests.count(("PUT", "voices")) == 1  # uploaded once, by content hash
    assert requests.count(("POST", "clone")) >= 2 and not service.started
