"""Cancellation of abandoned work and fair scheduling, against the real service: a short
request never waits for a long job, and a job nobody waits for stops costing engine time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import httpx
from core_support.latency_engine import LatencyEngine
from core_support.tone_service import Service
from core_support.tone_service import inline_body as body

from tts_router.serving.scheduler import FairQueue, Unit


def sentences(marker: str, count: int) -> str:
    return " ".join(f"{marker} sentence {i:02d}." for i in range(count))  # a chunk each


async def test_abandoned_work_is_dropped_and_the_next_request_does_not_wait(
    make_service: Any,
) -> None:
    engine = LatencyEngine(per_call=0.05, per_item=0.1, chunk_chars=20)
    service: Service = make_service(engine, max_batch=2, batch_window_s=0, abandon_grace_s=0.2)
    stats = service.app.state.stats
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        abandoned = asyncio.ensure_future(client.post("/clone", json=body(sentences("Gone", 40))))
        assert await asyncio.to_thread(engine.entered.wait, 10)
        abandoned.cancel()  # the client goes away: its connection closes
        with contextlib.suppress(asyncio.CancelledError):
            await abandoned
        while stats.cancelled_jobs < 1:  # after the grace, nobody came back
            await asyncio.sleep(0.01)
        started = time.monotonic()
        short = await client.post("/clone", json=body("Right after."))
        waited = time.monotonic() - started
        while service.app.state.worker._queue.pending:  # whatever is still queued runs
            await asyncio.sleep(0.01)
        await asyncio.to_thread(service.app.state.worker._executor.submit(lambda: None).result)
    assert short.status_code == 200
    generated = engine.generated("Gone")
    assert generated <= 8  # what was in flight during the grace, of 40
    assert stats.dropped_items == 40 - generated
    remaining_work = (40 - generated) / 2 * (0.05 + 2 * 0.1)  # seconds it would have taken
    assert waited < 0.3 * remaining_work


async def test_a_client_back_within_the_grace_keeps_its_job(make_service: Any) -> None:
    engine = LatencyEngine(per_call=0.05, per_item=0.05, chunk_chars=20)
    service: Service = make_service(engine, max_batch=2, batch_window_s=0, abandon_grace_s=5)
    headers = {"Idempotency-Key": "kept"}
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        first = asyncio.ensure_future(
            client.post("/clone", json=body(sentences("Kept", 10)), headers=headers)
        )
        assert await asyncio.to_thread(engine.entered.wait, 10)
        first.cancel()  # a broken connection...
        with contextlib.suppress(asyncio.CancelledError):
            await first
        retry = await client.post("/clone", json=body(sentences("Kept", 10)), headers=headers)
    assert retry.status_code == 200 and "10 chunks" in retry.headers["x-tts-warnings"]
    assert engine.generated("Kept") == 10  # ...and its retry: every chunk generated once
    assert service.app.state.stats.cancelled_jobs == 0
    assert service.app.state.stats.idempotent_replays == 1


async def test_a_short_request_behind_a_long_job_waits_for_one_batch(make_service: Any) -> None:
    engine = LatencyEngine(per_call=0.1, per_item=0.05, chunk_chars=20)
    service: Service = make_service(engine, max_batch=2, batch_window_s=0)
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        long_job = asyncio.ensure_future(client.post("/clone", json=body(sentences("Long", 30))))
        assert await asyncio.to_thread(engine.entered.wait, 10)
        calls_before = len(engine.calls)
        started = time.monotonic()
        short = await client.post("/clone", json=body("Short one."))
        waited = time.monotonic() - started
        calls_after_short = len(engine.calls)
        long_response = await long_job
        long_took = time.monotonic() - started
    assert short.status_code == long_response.status_code == 200
    assert "30 chunks" in long_response.headers["x-tts-warnings"]
    short_call = next(i for i, call in enumerate(engine.calls) if "Short one." in call)
    assert short_call <= calls_before + 1  # the very next batch (one may have started meanwhile)
    assert calls_after_short < len(engine.calls)  # the long job was still running after it
    assert waited < long_took / 3


async def test_long_jobs_take_turns(make_service: Any) -> None:
    gate = threading.Event()
    engine = LatencyEngine(chunk_chars=20, gate=gate)
    service: Service = make_service(engine, max_batch=1, batch_window_s=0)
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        first = asyncio.ensure_future(client.post("/clone", json=body(sentences("A", 4))))
        assert await asyncio.to_thread(engine.entered.wait, 10)
        second = asyncio.ensure_future(client.post("/clone", json=body(sentences("B", 4))))
        while service.app.state.worker._queue.pending < 7:
            await asyncio.sleep(0.01)
        gate.set()
        assert [r.status_code for r in await asyncio.gather(first, second)] == [200, 200]
    order = [call[0].split()[0] for call in engine.calls]
    assert order == ["A", "A", "B", "A", "B", "A", "B", "B"]


def test_the_fair_queue_takes_round_robin() -> None:
    loop = asyncio.new_event_loop()
    try:

        def unit(kind: Any, chunks: int) -> Unit:
            return Unit(kind, None, ["x"] * chunks, loop.create_future(), 0.0)  # type: ignore[arg-type]

        queue = FairQueue()
        long, short, design, other = (
            unit("clone", 5),
            unit("clone", 1),
            unit("design", 2),
            unit("clone", 2),
        )
        for u in (long, short, design, other):
            queue.add(u)
        assert queue.pending == 10 and queue.ahead(1) == 4 and queue.ahead(2) == 7

        def names(batch: list[Any]) -> list[str]:
            labels = {id(long): "L", id(short): "S", id(design): "D", id(other): "O"}
            return [labels[id(item.unit)] + str(item.index) for item in batch]

        assert names(queue.take(4)) == ["L0", "S0", "O0", "L1"]  # one each, then round two
        assert names(queue.take(4)) == ["D0"]  # design chunks run alone
        assert names(queue.take(4)) == ["L2", "O1", "L3", "L4"]  # served ones went to the back
        assert names(queue.take(4)) == ["D1"]
        assert queue.remove(long) == 0 and queue.take(4) == [] and queue.pending == 0
    finally:
        loop.close()
