"""Poison isolation: one bad request fails alone, never the batch it shares; every input check
happens before a request is queued, with a 4xx code from the error table."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

import httpx
import pytest
from core_support.latency_engine import POISON, LatencyEngine
from core_support.tone_service import REF_B64 as REF
from core_support.tone_service import Service, error_code

from tts_router.errors import ERRORS


async def test_a_batch_one_request_crashes_is_retried_item_by_item(make_service: Any) -> None:
    gate = threading.Event()
    engine = LatencyEngine(gate=gate)
    service: Service = make_service(engine, max_batch=8, batch_window_s=0)
    texts = ["Good zero.", "Good one.", f"{POISON} here.", "Good two.", "Good three."]
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:

        def post(text: str) -> Any:
            return client.post("/clone", json={"text": text, "audio_base64": REF})

        blocker = asyncio.ensure_future(post("Blocker."))
        assert await asyncio.to_thread(engine.entered.wait, 10)
        batch = [asyncio.ensure_future(post(text)) for text in texts]
        while service.app.state.worker._queue.pending < len(texts):
            await asyncio.sleep(0.01)
        gate.set()  # the five now run as one batch
        responses = await asyncio.gather(blocker, *batch)
    assert [r.status_code for r in responses] == [200, 200, 200, 500, 200, 200]
    assert error_code(responses[3]) == "internal_error" and POISON not in responses[3].text
    assert sorted(engine.calls[1]) == sorted(texts)  # one batched call failed...
    assert sorted(c[0] for c in engine.calls[2:]) == sorted(texts)  # ...then each alone
    assert service.app.state.stats.isolated_retries == 1


def _raw_json(payload: dict[str, Any]) -> bytes:
    # json.dumps escapes lone surrogates as \udxxx: valid JSON that decodes to invalid text.
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [
        ("/clone", {"text": "Hi.", "seed": 2**64}, 400, "invalid_seed"),
        ("/clone", {"text": "Hi.", "seed": -1}, 400, "invalid_seed"),
        (
            "/clone",
            {"text": "Hi.", "transcript": "lone \ud800 surrogate"},
            400,
            "invalid_characters",
        ),
        ("/clone", {"text": "Hi.", "language": "en\udfff"}, 400, "invalid_characters"),
        ("/clone", {"text": "Hi \ud83d there."}, 400, "invalid_characters"),
        ("/clone", {"text": "\x00\x01\x02\x7f\u200b"}, 400, "empty_text"),
        ("/design", {"text": "Hi.", "instruct": "warm \udc00"}, 400, "invalid_characters"),
        ("/design", {"text": "Hi.", "instruct": "warm", "seed": 2**32}, 400, "invalid_seed"),
        ("/design", {"text": "\x07\x08\x1b", "instruct": "warm"}, 400, "empty_text"),
    ],
)
def test_bad_input_is_refused_before_it_is_queued(
    make_service: Any, path: str, payload: dict[str, Any], status: int, code: str
) -> None:
    engine = LatencyEngine(design=True)
    service: Service = make_service(engine)
    if path == "/clone":
        payload = {**payload, "audio_base64": REF}
    response = service.client.post(
        path, content=_raw_json(payload), headers={"content-type": "application/json"}
    )
    assert (response.status_code, error_code(response)) == (status, code)
    assert ERRORS[code].status == status
    assert engine.calls == [] and service.jobs == 0
    assert service.client.get("/health").json()["status"] == "ok"


def test_the_largest_seed_is_accepted(make_service: Any) -> None:
    service: Service = make_service(LatencyEngine())
    response = service.client.post(
        "/clone", json={"text": "Hi.", "audio_base64": REF, "seed": 2**32 - 1}
    )
    assert response.status_code == 200


def test_oversized_headers_are_refused(make_service: Any) -> None:
    engine = LatencyEngine()
    service: Service = make_service(engine)
    body = {"text": "Hi.", "audio_base64": REF}
    over = service.client.post("/clone", json=body, headers={"X-Padding": "a" * 40_000})
    assert (over.status_code, error_code(over)) == (431, "headers_too_large")
    # 200 kB of headers never get as far as the app: refused while they arrive.
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /clone HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200_000)
        sock.sendall(b"\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))
    assert engine.calls == []
    assert service.client.get("/health").status_code == 200
