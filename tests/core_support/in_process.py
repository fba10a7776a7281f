"""One check of a provider's in-process backend (``QWEN_BACKEND=local``, ``ECHO_BACKEND=local``):
the service app behind it batches, streams, keeps one upload per voice and shuts down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tts_router import CloneRequest
from tts_router.remote import RemoteProvider


async def check_in_process(
    provider: RemoteProvider,
    clone: Callable[[str], CloneRequest],
    long_text: str,
    expected: tuple[str, str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clones side by side, a stream of ``long_text`` and a shutdown, through ``provider``
    (built with a wide batch window); ``expected`` is every result's (provider, mode, rate)."""
    service = provider.service
    assert service is not None
    sent: list[tuple[str, str]] = []
    handle = service.handle_async_request

    async def counted(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path.split("/")[1]))
        return await handle(request)

    monkeypatch.setattr(service, "handle_async_request", counted)
    first = await provider.clone(clone("Warm up."))  # starts the app, loads, uploads
    app: Any = service.app
    stopped: list[bool] = []
    stop = app.state.worker.stop

    async def recorded_stop() -> None:
        stopped.append(True)
        await stop()

    monkeypatch.setattr(app.state.worker, "stop", recorded_stop)
    stats = app.state.stats
    calls, jobs = stats.engine_calls, stats.engine_jobs
    texts = ["One.", "Two words.", "Three short words.", "Four little words here."]
    results = await asyncio.gather(*(provider.clone(clone(text)) for text in texts))
    made = {(r.provider, r.mode, r.sample_rate) for r in [first, *results]}
    assert made == {expected}
    assert stats.engine_jobs - jobs == len(texts)
    assert stats.largest_batch >= 2 and stats.engine_calls - calls < len(texts)  # batched
    streams = stats.streams
    chunks = [c async for c in provider.stream_clone(clone(long_text))]
    assert len(chunks) > 1 and stats.streams - streams == 1  # one streamed request
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1].text_span[1] == len(long_text)
    assert {(c.provider, c.mode, c.sample_rate) for c in chunks} == {expected}
    assert sent.count(("PUT", "voices")) == 1  # one reference, uploaded once for six clones
    assert len(app.state.voices) == 1
    await provider.aclose()
    assert stopped == [True] and not service.started and service.app is None
