"""The Echo service on a real uvicorn socket (127.0.0.1), running the tiny model end to end."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from core_support.tone_service import Service, b64
from echo_support import (
    CROSSFADE_SAMPLES,
    PASS_SAMPLES,
    SERVICE_OPTIONS,
    TEST_PASS_CHARS,
    NetworkUsed,
)
from tts_router_echo.passes import plan_passes
from tts_router_echo.service import create_service_app

from tts_router.audio import encode_wav
from tts_router.protocol import HEADER_MODE, HEADER_MODEL, HEADER_WARNINGS
from tts_router.serving import serve_in_thread
from tts_router.testing import make_reference_wav

LONG_TEXT = "First of all, hello. Then a second sentence here. And finally a third one."


@pytest.fixture(scope="module")
def client(tiny_dir: Path) -> Iterator[httpx.Client]:
    """An HTTP client to the service, once its model has loaded."""
    app = create_service_app(tiny_dir, **SERVICE_OPTIONS)
    with serve_in_thread(app) as url:
        service = Service(app, None, url, timeout=120)
        with service.client:
            yield service.wait_ready(within=120).client


def _wav(response: httpx.Response) -> tuple[np.ndarray, int]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    return samples, rate


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def _upload(client: httpx.Client, data: bytes) -> str:
    voice_id = hashlib.sha256(data).hexdigest()
    response = client.put(f"/voices/{voice_id}", content=data)
    assert response.status_code == 200, response.text
    return voice_id


def test_health_and_languages(client: httpx.Client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["model"] == "echo-tts-tiny-random"
    assert health["operations"] == ["clone"]
    assert client.get("/languages").json() == {"languages": ["en"]}


def test_voices_put_and_head(client: httpx.Client) -> None:
    data = make_reference_wav(seconds=1.2, sample_rate=44_100, seed=11)
    voice_id = hashlib.sha256(data).hexdigest()
    assert client.head(f"/voices/{voice_id}").status_code == 404
    info = client.put(f"/voices/{voice_id}", content=data).json()
    assert info == {"voice_id": voice_id, "seconds": pytest.approx(1.2), "sample_rate": 44_100}
    assert client.head(f"/voices/{voice_id}").status_code == 200


def test_clone_by_voice_id(client: httpx.Client, reference_wav: bytes) -> None:
    voice_id = _upload(client, reference_wav)
    response = client.post(
        "/clone", json={"text": "Hello.", "language": "en", "voice_id": voice_id}
    )
    samples, rate = _wav(response)
    assert rate == 44_100
    assert samples.ndim == 1
    assert len(samples) == PASS_SAMPLES
    assert response.headers[HEADER_MODE] == "audio"
    assert response.headers[HEADER_MODEL] == "echo-tts-tiny-random"


def test_clone_inline_with_transcript_warns(client: httpx.Client, reference_wav: bytes) -> None:
    body = {
        "text": "Inline.",
        "language": "English",
        "audio_base64": b64(reference_wav),
        "transcript": "ignored words",
    }
    response = client.post("/clone", json=body)
    samples, _ = _wav(response)
    assert len(samples) == PASS_SAMPLES
    assert "transcript was ignored" in response.headers[HEADER_WARNINGS]


def test_long_text_comes_back_as_ordered_passes(client: httpx.Client, reference_wav: bytes) -> None:
    passes = len(plan_passes(LONG_TEXT, TEST_PASS_CHARS))
    assert passes >= 3
    body = {"text": LONG_TEXT, "language": "en", "audio_base64": b64(reference_wav)}
    samples, _ = _wav(client.post("/clone", json=body))
    assert len(samples) == passes * PASS_SAMPLES - (passes - 1) * CROSSFADE_SAMPLES


def test_clone_batch_keeps_order_and_per_item_errors(
    client: httpx.Client, reference_wav: bytes
) -> None:
    voice_id = _upload(client, reference_wav)
    items: list[dict[str, Any]] = [
        {"text": "One.", "language": "en", "voice_id": voice_id},
        {"text": "Zwei.", "language": "de", "voice_id": voice_id},
        {"text": "Three.", "language": "en", "voice_id": "f" * 64},
        {"text": LONG_TEXT, "language": "en", "voice_id": voice_id},
    ]
    response = client.post("/clone-batch", json={"items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, False, True]
    assert results[1]["error"]["code"] == "unsupported_language"
    assert results[2]["error"]["code"] == "voice_not_found"
    first = sf.read(io.BytesIO(base64.b64decode(results[0]["audio_base64"])))[0]
    last = sf.read(io.BytesIO(base64.b64decode(results[3]["audio_base64"])))[0]
    assert len(first) == PASS_SAMPLES
    assert len(last) > 2 * PASS_SAMPLES
    assert results[0]["mode"] == "audio"


def test_design_is_an_unsupported_operation(client: httpx.Client) -> None:
    body = {"text": "Hi.", "instruct": "a warm low voice", "language": "en"}
    _error(client.post("/design", json=body), 400, "unsupported_operation")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"text": ""}, 400, "empty_text"),
        ({"text": "   "}, 400, "empty_text"),
        ({"language": "de"}, 400, "unsupported_language"),
        ({"language": "klingon"}, 400, "unsupported_language"),
        # Echo lists English only, so the protocol's default "auto" is refused: callers (the
        # router) send the language they resolved.
        ({"language": None}, 400, "unsupported_language"),
        ({"audio_base64": "not base64!"}, 400, "invalid_base64"),
        ({"audio_base64": b64(b"RIFF not really a wav")}, 415, "audio_unreadable"),
        ({"audio_base64": b64(encode_wav(np.zeros(44_100), 44_100))}, 400, "audio_silent"),
        (
            {"audio_base64": b64(make_reference_wav(0.4, sample_rate=44_100))},
            400,
            "audio_too_short",
        ),
        ({"voice_id": "0" * 64, "audio_base64": None}, 404, "voice_not_found"),
        ({"voice_id": "0" * 64}, 422, "validation_failed"),
        ({"options": {"temperature": 9}}, 422, "validation_failed"),
    ],
)
def test_bad_clone_input_gets_typed_errors(
    client: httpx.Client, reference_wav: bytes, change: dict[str, Any], status: int, code: str
) -> None:
    body: dict[str, Any] = {"text": "Fine.", "language": "en", "audio_base64": b64(reference_wav)}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    _error(client.post("/clone", json=body), status, code)


def test_bad_voice_uploads_get_typed_errors(client: httpx.Client, reference_wav: bytes) -> None:
    _error(client.put(f"/voices/{'a' * 64}", content=reference_wav), 400, "hash_mismatch")
    junk = b"definitely not audio"
    _error(
        client.put(f"/voices/{hashlib.sha256(junk).hexdigest()}", content=junk),
        415,
        "audio_unreadable",
    )


def test_only_loopback_is_reachable() -> None:
    """The guard is live: anything but 127.0.0.1 fails, so the passing tests used no network."""
    with pytest.raises(NetworkUsed):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    with pytest.raises(NetworkUsed):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(NetworkUsed), httpx.Client() as http:
        http.get("http://example.invalid/")


def test_hub_is_offline() -> None:
    from huggingface_hub import constants

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert constants.HF_HUB_OFFLINE
