"""Long jobs handed back as results to fetch, and idempotency that never duplicates work,
against the real service (a latency engine slower than the client's read timeout)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import httpx
import pytest
from core_support.latency_engine import LatencyEngine
from core_support.latency_service import engine_log, free_port, spawn
from core_support.scripted import scripted_service
from core_support.tone_service import REF_B64 as REF
from core_support.tone_service import Service, error_code
from core_support.tone_service import inline_body as body

from tts_router.client_options import RetryOptions, Timeouts
from tts_router.http import ServiceClient
from tts_router.protocol import CloneBody

RESPOND_ASYNC = {"Prefer": "respond-async, wait=0"}  # a 202 at once: the job runs on
SIX_CHUNKS = " ".join(f"Long job sentence {i}." for i in range(6))  # 6 chunks of 20 chars


async def test_a_job_longer_than_the_read_timeout_is_fetched_from_its_job_url(
    make_service: Any,
) -> None:
    engine = LatencyEngine(per_call=0.3, chunk_chars=25)
    service, script = scripted_service(make_service, engine, max_batch=2, batch_window_s=0)
    client = ServiceClient(
        service.url,
        provider="tone",
        timeouts=Timeouts(read=0.8),  # each HTTP exchange ends well before the job (~0.9 s+)
        retry=RetryOptions(max_attempts=1, deadline=60),
    )
    result = await client.clone(CloneBody(text=SIX_CHUNKS, audio_base64=REF))
    await client.aclose()
    assert result.wav and "6 chunks" in " ".join(result.warnings)
    paths = [(m, p) for m, p, _ in script.seen if p != "/health"]
    assert paths[0] == ("POST", "/clone") and len(paths) >= 2
    assert all(m == "GET" and p.startswith("/jobs/") for m, p in paths[1:])
    assert len({p for _, p in paths[1:]}) == 1  # one job URL, polled
    keys = {k for _, p, k in script.seen if p != "/health"}
    assert len(keys) == 1 and None not in keys  # every request names the same job
    assert service.app.state.stats.async_answers >= 1
    assert engine.generated("Long job sentence") == 6  # each chunk once
    assert service.jobs == 1


def test_a_finished_result_is_fetched_again_until_it_expires(make_service: Any) -> None:
    service: Service = make_service(
        LatencyEngine(per_call=0.3), idempotency_ttl_s=1.0, batch_window_s=0
    )
    accepted = service.client.post("/clone", json=body("Fetch me."), headers=RESPOND_ASYNC)
    assert accepted.status_code == 202
    location = accepted.headers["location"]
    assert (
        location == f"/jobs/{accepted.json()['job_id']}" and accepted.json()["status"] == "running"
    )
    first = service.client.get(location)  # without Prefer: waits until the job is done
    second = service.client.get(location)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["content-type"] == "audio/wav"
    assert service.jobs == 1
    deadline = threading.Event()
    deadline.wait(1.2)  # the result's time to live passes
    gone = service.client.get(location)
    assert (gone.status_code, error_code(gone)) == (404, "job_not_found")
    unknown = service.client.get("/jobs/not-a-job")
    assert (unknown.status_code, error_code(unknown)) == (404, "job_not_found")


async def test_a_running_job_is_never_evicted_so_a_retry_never_runs_it_twice(
    make_service: Any,
) -> None:
    gate = threading.Event()
    engine = LatencyEngine(gate=gate)
    # A table of ONE entry: the old cache evicted running jobs and ran their retries again.
    service: Service = make_service(engine, idempotency_entries=1, batch_window_s=0)
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:

        def post(i: int) -> Any:
            return client.post(
                "/clone",
                json=body(f"Job {i}."),
                headers={"Idempotency-Key": f"key-{i}"},
            )

        first = [asyncio.ensure_future(post(i)) for i in range(3)]
        assert await asyncio.to_thread(engine.entered.wait, 10)
        while service.app.state.jobs.running < 3:
            await asyncio.sleep(0.01)
        retries = [asyncio.ensure_future(post(i)) for i in range(3)]
        while service.app.state.stats.idempotent_replays < 3:
            await asyncio.sleep(0.01)
        gate.set()
        responses = await asyncio.gather(*first, *retries)
    assert [r.status_code for r in responses] == [200] * 6
    for i in range(3):
        assert responses[i].content == responses[i + 3].content
        assert engine.generated(f"Job {i}.") == 1
    assert service.jobs == 3
    # Finished, the table keeps one: the oldest results are gone, the newest is kept.
    assert len(service.app.state.jobs) == 1


def test_finished_results_are_bounded_by_bytes(make_service: Any) -> None:
    service: Service = make_service(LatencyEngine(), result_max_bytes=20_000, batch_window_s=0)
    locations = []
    for i in range(3):  # each answer: a WAV of about 8 kB
        accepted = service.client.post(
            "/clone", json=body(f"Kept or not {i}."), headers=RESPOND_ASYNC
        )
        assert accepted.status_code == 202
        locations.append(accepted.headers["location"])
        assert service.client.get(locations[-1]).status_code == 200  # done, and kept
    # Three results are over 20 kB: the oldest finished one gave way.
    oldest, newest = service.client.get(locations[0]), service.client.get(locations[2])
    assert (oldest.status_code, error_code(oldest)) == (404, "job_not_found")
    assert newest.status_code == 200


async def test_a_job_lost_by_a_restart_is_sent_again_under_its_key(tmp_path: Any) -> None:
    port = free_port()
    flags = ("--per-call", "0.4", "--chunk-chars", "25", "--max-batch", "1")
    client = ServiceClient(
        f"http://127.0.0.1:{port}",
        provider="tone",
        timeouts=Timeouts(read=0.8),
        retry=RetryOptions(max_attempts=20, initial_backoff=0.2, max_backoff=0.5, deadline=60),
    )
    with spawn(port, *flags) as (url, process):
        job = asyncio.ensure_future(client.clone(CloneBody(text=SIX_CHUNKS, audio_base64=REF)))
        while engine_log(url)["stats"]["async_answers"] < 1:  # handed back as a 202
            await asyncio.sleep(0.05)
        process.terminate()  # the job and its result URL die with the process
        await asyncio.to_thread(process.wait, 10)
    with spawn(port, *flags) as (url, _):
        result = await asyncio.wait_for(job, 60)
        log = engine_log(url)
    await client.aclose()
    assert result.wav and "6 chunks" in " ".join(result.warnings)
    assert sum(len(call) for call in log["calls"]) == 6  # the new process ran it once, whole


async def test_a_cancelled_job_says_so_and_a_client_polling_it_sends_it_again(
    make_service: Any,
) -> None:
    gate = threading.Event()
    engine = LatencyEngine(gate=gate)
    service, script = scripted_service(make_service, engine, batch_window_s=0)
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as raw:
        accepted = await raw.post("/clone", json=body("Cancel me."), headers=RESPOND_ASYNC)
        location = accepted.headers["location"]
        assert (await raw.delete(location)).status_code == 204
        polled = await raw.get(location)
        assert (polled.status_code, error_code(polled)) == (409, "job_cancelled")
        assert (await raw.delete("/jobs/unknown")).status_code == 404

        # A client polling its job when someone cancels it sends the job again, same key.
        client = ServiceClient(
            service.url, provider="tone", timeouts=Timeouts(read=0.4), retry=RetryOptions()
        )
        job = asyncio.ensure_future(client.clone(CloneBody(text="Poll me.", audio_base64=REF)))
        while not (
            polls := [
                (p, k)
                for m, p, k in script.seen
                if p.startswith("/jobs/") and m == "GET" and p != location
            ]
        ):
            await asyncio.sleep(0.01)
        path, key = polls[0]
        assert (await raw.delete(path)).status_code == 404  # not without the job's key
        assert (await raw.delete(path, headers={"Idempotency-Key": key or ""})).status_code == 204
        gate.set()
        result = await asyncio.wait_for(job, 30)
        await client.aclose()
    assert result.wav
    posts = [k for m, p, k in script.seen if (m, p) == ("POST", "/clone")]
    assert len(posts) == 3 and posts[1] == posts[2]  # "Poll me." twice, under one key
    assert service.app.state.stats.cancelled_jobs == 2


async def test_many_clones_slower_than_the_read_timeout_all_complete(make_service: Any) -> None:
    # The adversarial run: 48 of 50 clones failed when a batch outlived the read timeout.
    engine = LatencyEngine(per_call=0.5, chunk_chars=40)
    service: Service = make_service(engine, max_batch=4, batch_window_s=0.05)
    client = ServiceClient(
        service.url,
        provider="tone",
        timeouts=Timeouts(read=0.6),
        retry=RetryOptions(max_attempts=2, deadline=60),
    )
    results = await asyncio.gather(
        *(client.clone(CloneBody(text=f"Clone number {i}.", audio_base64=REF)) for i in range(16))
    )
    await client.aclose()
    assert len(results) == 16 and all(r.wav for r in results)
    assert client.available and client.circuit.state == "closed"
    assert all(engine.generated(f"Clone number {i}.") == 1 for i in range(16))
    assert service.app.state.stats.async_answers >= 8


async def test_logs_show_no_job_id_or_text(
    make_service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "the words of a job nobody may log"
    service: Service = make_service(LatencyEngine(per_call=0.4), batch_window_s=0)
    client = ServiceClient(
        service.url, provider="tone", timeouts=Timeouts(read=0.2), retry=RetryOptions()
    )
    await client.clone(CloneBody(text=secret, audio_base64=REF))
    await client.aclose()
    job_ids = list(service.app.state.jobs._jobs)
    ours = [r for r in caplog.records if r.name.startswith(("tts_router", "uvicorn"))]
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in ours)
    assert "GET /jobs/" in text  # the polls were logged...
    assert job_ids and not any(job_id in text for job_id in job_ids)  # ...without the id
    everything = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert secret not in everything
    # httpx itself logs URLs at INFO: a job URL alone, without its key, shows nothing.
    stolen = service.client.get(f"/jobs/{job_ids[0]}")
    assert (stolen.status_code, error_code(stolen)) == (404, "job_not_found")
    wrong = service.client.get(f"/jobs/{job_ids[0]}", headers={"Idempotency-Key": "guess"})
    assert wrong.status_code == 404
