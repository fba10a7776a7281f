"""The engine-agnostic service (tts_router.serving) over a real socket, with a fake tone engine.

No torch here: :class:`ToneEngine` makes sine tones, so these tests cover the protocol, the
guards, batching and idempotency for every engine; providers test their own engine on top.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from core_support.tone_service import (
    RATE,
    Service,
    ToneEngine,
    ToneRemote,
    b64,
    error_code,
    reference_wav,
    sha,
)
from core_support.tone_service import REF_B64 as REF

from tts_router.audio import encode_wav
from tts_router.protocol import decode_timings
from tts_router.remote import ServiceConfig
from tts_router.serving import BoundedLRU, SpeechEngine, status_for_error

SECRET_TEXT = "the secret words nobody may log"
HI = {"text": "Hi.", "audio_base64": REF}  # a clone every engine answers


def test_tone_engine_satisfies_the_protocol() -> None:
    assert isinstance(ToneEngine(), SpeechEngine)


def test_health_and_languages(service: Service) -> None:
    health = service.client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["loaded"] is True
    assert service.client.get("/languages").json() == {"languages": ["auto", "en", "de"]}


def test_upload_then_clone_by_voice_id(service: Service) -> None:
    ref = reference_wav()
    voice = sha(ref)
    assert service.client.head(f"/voices/{voice}").status_code == 404
    put = service.client.put(f"/voices/{voice}", content=ref)
    assert put.status_code == 200
    assert put.json()["voice_id"] == voice and put.json()["sample_rate"] == RATE
    assert abs(put.json()["seconds"] - 1.5) < 1e-3
    assert service.client.head(f"/voices/{voice}").status_code == 200

    response = service.client.post(
        "/clone",
        json={"text": "Hello there.", "language": "English", "voice_id": voice},
        headers={"X-Request-Id": "req-42"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["x-request-id"] == "req-42"
    assert response.headers["x-tts-mode"] == "x_vector"
    assert response.headers["x-tts-model"] == "tone-1"
    timings = decode_timings(response.headers["x-tts-timings"])
    assert timings["generate"] > 0 and timings["encode"] > 0 and "queue" in timings
    samples, rate = sf.read(io.BytesIO(response.content))
    assert rate == RATE
    assert len(samples) == int((0.1 + 0.01 * len("Hello there.")) * RATE)
    assert abs(float(response.headers["x-tts-audio-seconds"]) - len(samples) / RATE) < 1e-3


def test_clone_inline_with_transcript_is_icl(service: Service) -> None:
    response = service.client.post("/clone", json={**HI, "transcript": "hello"})
    assert response.status_code == 200, response.text
    assert response.headers["x-tts-mode"] == "icl"
    assert len(response.headers["x-request-id"]) == 32  # generated when the caller sent none


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "Hi.", "audio_base64": "not base64!!"}, 400, "invalid_base64"),
        (
            {"text": "Hi.", "audio_base64": b64(b"RIFF but not audio at all")},
            415,
            "audio_unreadable",
        ),
        ({"text": "Hi.", "audio_base64": b64(reference_wav(seconds=0.3))}, 400, "audio_too_short"),
        ({"text": "Hi.", "audio_base64": b64(reference_wav(seconds=61))}, 400, "audio_too_long"),
        (
            {"text": "Hi.", "audio_base64": b64(encode_wav(np.zeros(RATE * 2), RATE))},
            400,
            "audio_silent",
        ),
        (
            {"text": "Hi.", "language": "xx", "audio_base64": REF},
            400,
            "unsupported_language",
        ),
        (
            {"text": "Hi.", "language": "ja", "audio_base64": REF},
            400,
            "unsupported_language",
        ),
        ({"text": "", "audio_base64": REF}, 400, "empty_text"),
        ({"text": "   \n", "audio_base64": REF}, 400, "empty_text"),
        ({"text": "Hi.", "voice_id": "a" * 64}, 404, "voice_not_found"),
        ({"text": "Hi.", "voice_id": "A" * 64}, 422, "validation_failed"),
        ({"text": "Hi."}, 422, "validation_failed"),
        ({"text": "Hi.", "voice_id": "a" * 64, "bogus": 1}, 422, "validation_failed"),
    ],
)
def test_bad_clone_input_is_refused_before_the_engine(
    make_service: Any, body: dict[str, Any], status: int, code: str
) -> None:
    service = make_service(max_body_bytes=8 * 1024 * 1024)
    response = service.client.post("/clone", json=body)
    assert (response.status_code, error_code(response)) == (status, code)
    assert service.jobs == 0 and service.engine.batches == []
    assert service.client.get("/health").status_code == 200  # still up


def test_validation_errors_list_fields_but_never_echo_input(service: Service) -> None:
    response = service.client.post("/clone", json={"text": SECRET_TEXT, "voice_id": "nope"})
    assert response.status_code == 422
    assert "voice_id" in response.json()["error"]["message"]
    assert SECRET_TEXT not in response.text and "nope" not in response.text
    assert "Traceback" not in response.text


def test_malformed_json_is_422(service: Service) -> None:
    response = service.client.post(
        "/clone", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (response.status_code, error_code(response)) == (422, "validation_failed")


def test_oversize_body_is_refused_by_content_length(service: Service) -> None:
    big = {"text": "Hi.", "audio_base64": "A" * (300 * 1024)}
    response = service.client.post("/clone", json=big)
    assert (response.status_code, error_code(response)) == (413, "body_too_large")
    assert service.jobs == 0
    assert service.client.get("/health").status_code == 200


def test_oversize_streamed_body_is_refused_while_counting(service: Service) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(40):
            yield b"x" * 8192

    response = service.client.put(f"/voices/{'0' * 64}", content=chunks())
    assert (response.status_code, error_code(response)) == (413, "body_too_large")
    assert service.client.get("/health").status_code == 200


def test_voice_upload_checks_hash_and_audio(service: Service) -> None:
    ref = reference_wav()
    mismatch = service.client.put(f"/voices/{'b' * 64}", content=ref)
    assert (mismatch.status_code, error_code(mismatch)) == (400, "hash_mismatch")
    bad_id = service.client.put("/voices/not-a-hash", content=ref)
    assert (bad_id.status_code, error_code(bad_id)) == (400, "invalid_request")
    junk = b"definitely not audio"
    unreadable = service.client.put(f"/voices/{sha(junk)}", content=junk)
    assert (unreadable.status_code, error_code(unreadable)) == (415, "audio_unreadable")
    assert service.client.head(f"/voices/{sha(junk)}").status_code == 404
    assert service.client.head("/voices/not-a-hash").status_code == 404


def test_clone_batch_keeps_order_and_per_item_errors(service: Service) -> None:
    items = [
        {"text": "one", "audio_base64": REF},
        {"text": "two two", "audio_base64": "%%%"},
        {"text": "three three three", "audio_base64": REF, "language": "de"},
        {"text": "TRUNCATE me", "audio_base64": REF},
    ]
    response = service.client.post("/clone-batch", json={"items": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "tone-1"
    results = body["results"]
    assert [r["ok"] for r in results] == [True, False, True, False]
    assert results[1]["error"]["code"] == "invalid_base64"
    assert results[3]["error"]["code"] == "truncated_output"
    for result, text in ((results[0], "one"), (results[2], "three three three")):
        samples, rate = sf.read(io.BytesIO(base64.b64decode(result["audio_base64"])))
        assert rate == RATE and len(samples) == int((0.1 + 0.01 * len(text)) * RATE)
    assert service.engine.batches == [3]  # the valid items ran as one engine call
    assert service.jobs == 3


def test_truncation_is_a_500_error_not_audio(service: Service) -> None:
    response = service.client.post("/clone", json={"text": "TRUNCATE", "audio_base64": REF})
    assert (response.status_code, error_code(response)) == (500, "truncated_output")
    assert response.headers["content-type"] == "application/json"


def test_engine_bug_is_a_500_without_detail_and_the_service_survives(service: Service) -> None:
    service.engine.crash = True
    response = service.client.post("/clone", json={"text": SECRET_TEXT, "audio_base64": REF})
    assert (response.status_code, error_code(response)) == (500, "internal_error")
    assert SECRET_TEXT not in response.text and "Traceback" not in response.text
    service.engine.crash = False
    ok = service.client.post("/clone", json=HI)
    assert ok.status_code == 200


def test_non_finite_output_is_invalid_output(service: Service) -> None:
    service.engine.nan = True
    response = service.client.post("/clone", json=HI)
    # The same code the provider base class gives for NaN samples in-process.
    assert (response.status_code, error_code(response)) == (500, "output_not_finite")


def test_design(service: Service, make_service: Any) -> None:
    response = service.client.post(
        "/design", json={"text": "Hello.", "instruct": "a warm voice", "language": "en"}
    )
    assert response.status_code == 200
    assert response.headers["x-tts-mode"] == "design"
    no_design = make_service(ToneEngine(design=False))
    refused = no_design.client.post("/design", json={"text": "Hello.", "instruct": "warm"})
    assert (refused.status_code, error_code(refused)) == (400, "unsupported_operation")
    assert no_design.jobs == 0


def test_503_with_retry_after_while_loading(make_service: Any) -> None:
    gate = threading.Event()
    service = make_service(ToneEngine(load_gate=gate), retry_after_s=7)
    health = service.client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "loading"
    assert health.json()["loaded"] is False
    response = service.client.post("/clone", json=HI)
    assert (response.status_code, error_code(response)) == (503, "loading")
    assert response.headers["retry-after"] == "7"
    gate.set()
    service.wait_ready()
    ok = service.client.post("/clone", json=HI)
    assert ok.status_code == 200


class BrokenLoad(ToneEngine):
    """A tone engine whose weights never load."""

    def load(self) -> None:
        raise RuntimeError("weights missing")


async def test_health_says_failed_when_the_load_failed(make_service: Any) -> None:
    # A load gate makes make_service return without waiting for a load that never succeeds.
    service = make_service(BrokenLoad(load_gate=threading.Event()))
    deadline = time.monotonic() + 10
    while (health := service.client.get("/health")).json()["status"] == "loading":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert health.status_code == 200
    assert health.json()["status"] == "failed" and health.json()["loaded"] is False
    assert health.json()["model"] == "tone-1"
    # Requests still get the typed error; a host's doctor sees the failure, not a 500.
    response = service.client.post("/clone", json=HI)
    assert (response.status_code, error_code(response)) == (503, "load_failed")
    assert "retry-after" not in response.headers  # waiting will not help: fall back
    remote = ToneRemote(ServiceConfig(clone_url=service.url))
    try:
        report = await remote.health()
    finally:
        await remote.aclose()
    assert not report.ok and report.detail == "clone: tone-1 on cpu (float32), failed"
    assert service.jobs == 0


async def test_concurrent_clones_are_batched_on_one_thread(make_service: Any) -> None:
    service = make_service(ToneEngine(delay=0.05), batch_window_s=0.05, max_batch=8)
    ref = reference_wav()
    assert service.client.put(f"/voices/{sha(ref)}", content=ref).status_code == 200
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post("/clone", json={"text": "x" * (i + 1), "voice_id": sha(ref)})
                for i in range(6)
            )
        )
    assert [r.status_code for r in responses] == [200] * 6
    lengths = [len(sf.read(io.BytesIO(r.content))[0]) for r in responses]
    assert lengths == [int((0.1 + 0.01 * (i + 1)) * RATE) for i in range(6)]
    assert sum(service.engine.batches) == 6
    assert len(service.engine.batches) < 6  # gathered, not one call each
    assert len(service.engine.threads) == 1  # never several threads on one model


async def test_overload_is_503_with_retry_after(make_service: Any) -> None:
    service = make_service(ToneEngine(delay=0.5), max_queue=1, retry_after_s=2)
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        first = asyncio.ensure_future(client.post("/clone", json=HI))
        await asyncio.sleep(0.2)
        second = await client.post("/clone", json=HI)
        assert (second.status_code, error_code(second)) == (503, "overloaded")
        assert second.headers["retry-after"] == "2"
        assert (await first).status_code == 200


async def test_idempotent_retry_runs_the_job_once(make_service: Any) -> None:
    service = make_service(ToneEngine(delay=0.2))
    body = {"text": "Hi there.", "audio_base64": REF}
    headers = {"Idempotency-Key": "job-1"}
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        # A retry while the first attempt is still running, then one after it finished.
        first, second = await asyncio.gather(
            client.post("/clone", json=body, headers=headers),
            client.post("/clone", json=body, headers=headers),
        )
        third = await client.post("/clone", json=body, headers=headers)
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert first.content == second.content == third.content
    assert service.jobs == 1
    assert service.app.state.stats.idempotent_replays == 2
    other = service.client.post("/clone", json={**body, "text": "Else."}, headers=headers)
    assert (other.status_code, error_code(other)) == (400, "invalid_request")
    fresh = service.client.post("/clone", json=body, headers={"Idempotency-Key": "job-2"})
    assert fresh.status_code == 200 and service.jobs == 2


def test_failed_idempotent_job_can_be_retried(service: Service) -> None:
    body = {"text": "TRUNCATE", "audio_base64": REF}
    headers = {"Idempotency-Key": "job-t"}
    for _ in range(2):
        assert service.client.post("/clone", json=body, headers=headers).status_code == 500
    assert service.jobs == 2


def test_unknown_route_is_json(service: Service) -> None:
    response = service.client.get("/nope")
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_logs_carry_no_text_or_audio(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tts_router.serving")
    transcript = "transcript words never logged"
    response = service.client.post(
        "/clone",
        json={"text": SECRET_TEXT, "audio_base64": REF, "transcript": transcript},
        headers={"X-Request-Id": "log-check"},
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 2
    while not any("log-check" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "POST /clone -> 200" in messages
    assert SECRET_TEXT not in messages and transcript not in messages


def test_bounded_lru_evicts_by_entries_and_size() -> None:
    lru: BoundedLRU[str, bytes] = BoundedLRU(3, 10, len)
    lru.put("a", b"1234")
    lru.put("b", b"1234")
    assert lru.get("a") == b"1234"  # a is now the most recent
    lru.put("c", b"1234")  # 12 > 10: evicts b, the least recently used
    assert "b" not in lru and "a" in lru and "c" in lru and lru.size == 8
    lru.put("d", b"1")
    lru.put("e", b"1")  # 4 entries > 3: evicts a
    assert "a" not in lru and len(lru) == 3
    lru.put("huge", b"x" * 11)  # larger than the whole budget: not stored
    assert "huge" not in lru
    assert (lru.hits, lru.misses) == (1, 0)


def test_status_for_error_table() -> None:
    from tts_router.errors import (
        AudioValidationError,
        OutputValidationError,
        TruncatedOutputError,
        ValidationError,
    )

    assert status_for_error(ValidationError("x", code="voice_not_found")) == 404
    assert status_for_error(AudioValidationError("x", code="audio_unreadable")) == 415
    assert status_for_error(AudioValidationError("x", code="audio_too_large")) == 413
    assert status_for_error(AudioValidationError("x", code="audio_silent")) == 400
    assert status_for_error(ValidationError("x", code="transcript_required")) == 400
    assert status_for_error(TruncatedOutputError("x")) == 500
    assert status_for_error(OutputValidationError("x", code="output_silent")) == 500
    # A host maps the same errors to 502: the provider, not the host, failed.
    assert TruncatedOutputError("x").http_status == 502


def test_engines_in_one_process_load_one_at_a_time(make_service: Any) -> None:
    # Model loaders patch process-wide torch state; two loading at once corrupted a model.
    active, peak = [0], [0]
    guard = threading.Lock()

    class SlowLoad(ToneEngine):
        def load(self) -> None:
            with guard:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.2)
            with guard:
                active[0] -= 1
            super().load()

    opened = threading.Event()
    opened.set()  # a load gate makes make_service return without waiting for the load
    services = [make_service(SlowLoad(load_gate=opened)) for _ in range(3)]
    for service in services:
        service.wait_ready()
    assert peak[0] == 1


def test_protocol_headers_for_deadlines_and_long_jobs() -> None:
    from tts_router.protocol import (
        format_prefer,
        loggable_path,
        parse_deadline,
        parse_prefer,
    )

    assert parse_prefer(format_prefer(135.0)) == (True, 135.0)
    assert parse_prefer(format_prefer(0.45)) == (True, 0.45)
    assert parse_prefer('wait="3", respond-async, handling=lenient') == (True, 3.0)
    assert parse_prefer("wait=nan") == (False, None) and parse_prefer(None) == (False, None)
    assert parse_deadline("12.5") == 12.5 and parse_deadline("-3") == 0.0
    assert parse_deadline("inf") is None and parse_deadline("soon") is None
    assert loggable_path("/jobs/abcdefghijklmnopqrstuvwxyz") == "/jobs/abcdefgh…"
    assert loggable_path("/clone") == "/clone"


async def test_stopping_during_the_model_load_ends_the_load_task_too() -> None:
    from tts_router.serving.counters import ServingStats
    from tts_router.serving.worker import EngineWorker

    gate = threading.Event()
    worker = EngineWorker(
        ToneEngine(load_gate=gate),
        ServingStats(),
        batch_window_s=0.01,
        max_batch=4,
        max_queue=4,
        retry_after_s=1,
    )
    worker.start()
    await asyncio.sleep(0.05)
    assert worker.load_state == "loading"
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    await worker.stop()
    gate.set()  # the engine thread finishes its load; nobody is left waiting on it
    assert all(task.done() for task in tasks)  # no load task left pending on the loop
    assert worker.load_state == "loading"
