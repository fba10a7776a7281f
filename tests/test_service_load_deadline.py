"""Admission by the caller's deadline, through real sockets: a job the queue cannot finish in
time is refused at once (503 with an honest Retry-After), never admitted to time out."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from core_support.latency_engine import LatencyEngine
from core_support.tone_service import REF_B64 as REF
from core_support.tone_service import Service, error_code
from core_support.tone_service import inline_body as body

from tts_router.client_options import RetryOptions
from tts_router.errors import ProviderTimeoutError, ProviderUnavailableError
from tts_router.http import ServiceClient
from tts_router.protocol import CloneBody

PER_CALL = 0.4


def gated_service(make_service: Any) -> tuple[Service, LatencyEngine, threading.Event]:
    """One chunk per call, ``PER_CALL`` seconds each, measured once; then the gate closes."""
    gate = threading.Event()
    engine = LatencyEngine(per_call=PER_CALL, chunk_chars=40)
    service: Service = make_service(engine, max_batch=1, batch_window_s=0)
    assert service.client.post("/clone", json=body("Warm up.")).status_code == 200
    engine.gate, engine.entered = gate, threading.Event()
    return service, engine, gate


async def fill_queue(
    client: httpx.AsyncClient, service: Service, engine: LatencyEngine, jobs: int
) -> list[Any]:
    """Queue ``jobs`` one-chunk jobs, no deadline: the first holds the engine, the rest wait."""
    tasks = [
        asyncio.ensure_future(client.post("/clone", json=body(f"Queued {i}."))) for i in range(jobs)
    ]
    assert await asyncio.to_thread(engine.entered.wait, 10)
    while service.app.state.worker._queue.pending < jobs - 1:
        await asyncio.sleep(0.01)
    return tasks


async def test_a_job_the_queue_cannot_finish_in_time_is_refused_at_once(make_service: Any) -> None:
    service, engine, gate = gated_service(make_service)
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        queued = await fill_queue(client, service, engine, 5)
        started = time.monotonic()
        refused = await client.post(
            "/clone", json=body("In a hurry."), headers={"X-TTS-Deadline": "0.5"}
        )
        answered_in = time.monotonic() - started
        assert (refused.status_code, error_code(refused)) == (503, "deadline_unmeetable")
        # 4 queued calls + its own (0.4 s each) cannot fit in 0.5 s: come back after ~1.5 s.
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 4
        assert answered_in < 1.0  # at once: the queue alone needs 2 s
        assert service.app.state.stats.deadline_refusals == 1
        # A caller who can wait that long is admitted and served.
        patient = asyncio.ensure_future(
            client.post("/clone", json=body("Patient."), headers={"X-TTS-Deadline": "30"})
        )
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*queued, patient)] == [200] * 6
        # Honest: once the queue has drained, the same deadline is admitted.
        await asyncio.sleep(retry_after)
        again = await client.post(
            "/clone", json=body("In a hurry."), headers={"X-TTS-Deadline": "0.5"}
        )
        assert again.status_code == 200, again.text
    assert engine.generated("In a hurry") == 1  # the refused attempt never reached the engine


def test_a_job_longer_than_the_deadline_alone_is_refused_without_retry_after(
    make_service: Any,
) -> None:
    service: Service = make_service(LatencyEngine(per_call=0.2, chunk_chars=20), max_batch=1)
    assert service.client.post("/clone", json=body("Warm up.")).status_code == 200
    long_text = " ".join(f"Sentence number {i}." for i in range(12))  # 12 chunks: ~2.4 s
    response = service.client.post("/clone", json=body(long_text), headers={"X-TTS-Deadline": "1"})
    assert (response.status_code, error_code(response)) == (504, "deadline_too_short")
    assert "retry-after" not in response.headers
    no_deadline = service.client.post("/clone", json=body("Short again."))
    assert no_deadline.status_code == 200


async def test_the_client_sends_its_deadline_and_falls_through_at_once(make_service: Any) -> None:
    service, engine, gate = gated_service(make_service)
    client = ServiceClient(
        service.url, provider="tone", retry=RetryOptions(deadline=0.6, initial_backoff=0.05)
    )
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as raw:
        queued = await fill_queue(raw, service, engine, 5)
        started = time.monotonic()
        with pytest.raises(ProviderUnavailableError) as info:
            await client.clone(CloneBody(text="In a hurry.", audio_base64=REF))
        assert time.monotonic() - started < 0.6  # no waiting out a Retry-After it cannot use
        assert info.value.code == "deadline_unmeetable" and info.value.fallback
        assert info.value.retry_after is not None and info.value.retry_after >= 1
        assert client.available  # a busy service is not an unhealthy one
        gate.set()
        await asyncio.gather(*queued)
    assert service.app.state.stats.deadline_refusals == 1
    await client.aclose()


async def test_without_measurements_the_service_admits(make_service: Any) -> None:
    # Nothing measured yet: no honest estimate, so a deadline alone refuses nothing.
    service: Service = make_service(LatencyEngine(per_call=0.05))
    response = service.client.post(
        "/clone", json=body("First ever."), headers={"X-TTS-Deadline": "0.01"}
    )
    assert response.status_code == 200


async def test_a_trickling_answer_ends_at_the_job_deadline(make_service: Any) -> None:
    from core_support.faultproxy import FaultProxy

    service: Service = make_service(LatencyEngine())
    with FaultProxy(int(service.url.rsplit(":", 1)[1])) as proxy:
        proxy.plan.trickle_bytes, proxy.plan.delay = 256, 0.1
        proxy.then("trickle")  # ~80 kB of WAV at 2.5 kB/s: half a minute
        client = ServiceClient(
            proxy.url, provider="tone", retry=RetryOptions(max_attempts=1, deadline=1.5)
        )
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError) as info:
            await client.clone(CloneBody(text="x" * 200, audio_base64=REF))
        elapsed = time.monotonic() - started
        await client.aclose()
    assert info.value.code == "provider_timeout" and "deadline" in info.value.message
    assert 1.4 < elapsed < 5  # the deadline, not the read timeout (180 s) or the trickle (30 s)
