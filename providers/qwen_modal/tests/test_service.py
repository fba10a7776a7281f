"""The Qwen service over a real uvicorn socket: tiny models, real qwen-tts, real httpx."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from core_support.tone_service import Service, b64
from qwen_test_support import TRUNCATING_MAX_NEW_TOKENS, engine_options
from tts_router_qwen_modal.cli import build_parser, main
from tts_router_qwen_modal.fixtures import (
    EARLY_EOS_FRAMES,
    FRAME_SAMPLES,
    expected_output_samples,
    reference_frames,
)
from tts_router_qwen_modal.service import QwenServiceEngine, create_service_app

from tts_router.audio import encode_wav
from tts_router.protocol import decode_timings
from tts_router.serving import serve_in_thread

pytestmark = pytest.mark.usefixtures("no_network")
CHUNK = EARLY_EOS_FRAMES * FRAME_SAMPLES
REF_SECONDS = 1.3


def ref_wav(seconds: float = REF_SECONDS, rate: int = 24_000, amplitude: float = 0.1) -> bytes:
    noise = np.random.default_rng(0).standard_normal(int(seconds * rate))
    return encode_wav(amplitude * noise / np.abs(noise).max(), rate)


REF = ref_wav()
VOICE = hashlib.sha256(REF).hexdigest()
REF_B64 = b64(REF)


@pytest.fixture(scope="module")
def service(qwen_models: dict[str, Any]) -> Iterator[Service]:
    app = create_service_app(
        qwen_models["base"],
        qwen_models["design"],
        engine_options=engine_options(),
        max_body_bytes=2 * 1024 * 1024,
    )
    with serve_in_thread(app) as url:
        yield Service(app, None, url, timeout=60).wait_ready(within=30)


@pytest.fixture(scope="module")
def truncating(qwen_models: dict[str, Any]) -> Iterator[Service]:
    app = create_service_app(
        qwen_models["truncating"],
        engine_options=engine_options(max_new_tokens=TRUNCATING_MAX_NEW_TOKENS),
    )
    with serve_in_thread(app) as url:
        yield Service(app, None, url, timeout=60).wait_ready(within=30)


def wav(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert rate == 24_000
    assert abs(float(response.headers["x-tts-audio-seconds"]) - len(samples) / rate) < 1e-3
    return np.asarray(samples)


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["error"]["code"])


def test_health_and_languages(service: Service) -> None:
    health = service.client.get("/health").json()
    assert health["status"] == "ok" and health["loaded"] is True
    assert health["operations"] == ["clone", "design"]
    assert health["variant"] == "tiny-base+tiny-voice_design"
    assert (health["device"], health["dtype"], health["attention"]) == ("cpu", "float32", "sdpa")
    languages = service.client.get("/languages").json()["languages"]
    assert {"auto", "en", "zh", "ja", "de"} <= set(languages)


def test_clone_x_vector_and_icl_inline(service: Service) -> None:
    xvec = service.client.post("/clone", json={"text": "Hello.", "audio_base64": REF_B64})
    assert len(wav(xvec)) == CHUNK and xvec.headers["x-tts-mode"] == "x_vector"
    icl = service.client.post(
        "/clone",
        json={
            "text": "Hello.",
            "language": "English",
            "audio_base64": REF_B64,
            "transcript": "reference words",
        },
        headers={"X-Request-Id": "icl-1"},
    )
    ref_frames = reference_frames(int(REF_SECONDS * 24_000))
    assert len(wav(icl)) == expected_output_samples(EARLY_EOS_FRAMES + 1, ref_frames)
    assert icl.headers["x-tts-mode"] == "icl" and icl.headers["x-request-id"] == "icl-1"
    assert decode_timings(icl.headers["x-tts-timings"])["generate"] > 0


def test_upload_once_then_clone_from_the_cached_prompt(service: Service) -> None:
    assert service.client.put(f"/voices/{VOICE}", content=REF).status_code == 200
    assert service.client.head(f"/voices/{VOICE}").status_code == 200
    engine = service.app.state.engines[0]
    body = {"text": "Hi.", "voice_id": VOICE, "transcript": "cached words"}
    wav(service.client.post("/clone", json=body))
    built, hits = engine.prompts_built, engine.prompt_cache.hits
    wav(service.client.post("/clone", json={**body, "text": "Again."}))
    assert engine.prompts_built == built and engine.prompt_cache.hits == hits + 1


def test_clone_batch_ordered_with_an_item_error(service: Service) -> None:
    items = [
        {"text": "One.", "audio_base64": REF_B64},
        {"text": "Two.", "audio_base64": REF_B64, "language": "tlh"},
        {"text": "First one is here. Second follows.", "audio_base64": REF_B64},
    ]
    before = service.jobs
    response = service.client.post("/clone-batch", json={"items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, True]
    assert results[1]["error"]["code"] == "unsupported_language"
    lengths = [
        len(sf.read(io.BytesIO(base64.b64decode(r["audio_base64"])))[0])
        for r in (results[0], results[2])
    ]
    assert lengths == [CHUNK, 2 * CHUNK - 240]  # the long one spoke in two chunks
    assert service.jobs == before + 2


def test_design(service: Service) -> None:
    response = service.client.post(
        "/design", json={"text": "Hello there.", "instruct": "a warm voice", "language": "en"}
    )
    assert len(wav(response)) == CHUNK and response.headers["x-tts-mode"] == "design"


def test_long_text_is_the_sum_of_its_chunks(service: Service) -> None:
    text = "First one is here. Second follows. Third ends it. A fourth, too."
    response = service.client.post("/clone", json={"text": text, "voice_id": VOICE})
    assert len(wav(response)) == 4 * CHUNK - 3 * 240
    assert "4 chunks" in response.headers["x-tts-warnings"]


def test_token_cap_hit_is_a_500_not_audio(truncating: Service) -> None:
    before = truncating.jobs
    response = truncating.client.post("/clone", json={"text": "Hi.", "audio_base64": REF_B64})
    assert code(response) == (500, "truncated_output")
    assert truncating.jobs == before + 1
    assert truncating.client.get("/health").status_code == 200


def test_design_without_a_design_model(truncating: Service) -> None:
    response = truncating.client.post("/design", json={"text": "Hi.", "instruct": "warm"})
    assert code(response) == (400, "unsupported_operation")


def _clone(body: dict[str, Any], expected: tuple[int, str]) -> tuple[Any, ...]:
    return ("post", "/clone", {"json": {"text": "Hi.", **body}}, expected)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "expected"),
    [
        _clone({"audio_base64": "A" * 3_000_000}, (413, "body_too_large")),
        _clone({"audio_base64": "@@not-base64@@"}, (400, "invalid_base64")),
        _clone({"audio_base64": b64(b"GIF89a not audio")}, (415, "audio_unreadable")),
        _clone({"audio_base64": b64(ref_wav(0.4))}, (400, "audio_too_short")),
        _clone({"audio_base64": b64(ref_wav(61, 8_000))}, (400, "audio_too_long")),
        _clone({"audio_base64": b64(ref_wav(amplitude=1e-5))}, (400, "audio_silent")),
        _clone({"language": "tlh", "audio_base64": REF_B64}, (400, "unsupported_language")),
        _clone({"language": "nl", "audio_base64": REF_B64}, (400, "unsupported_language")),
        _clone({"text": " ", "audio_base64": REF_B64}, (400, "empty_text")),
        _clone({"voice_id": "f" * 64}, (404, "voice_not_found")),
        ("put", f"/voices/{'0' * 64}", {"content": REF}, (400, "hash_mismatch")),
        ("post", "/design", {"json": {"text": "", "instruct": "warm"}}, (400, "empty_text")),
    ],
)
def test_bad_input_never_reaches_the_model(
    service: Service, method: str, path: str, kwargs: dict[str, Any], expected: tuple[int, str]
) -> None:
    engine = service.app.state.engines[0]
    jobs, calls, prompts = service.jobs, engine.generate_calls, engine.prompts_built
    response = getattr(service.client, method)(path, **kwargs)
    assert code(response) == expected
    assert (service.jobs, engine.generate_calls, engine.prompts_built) == (jobs, calls, prompts)
    assert service.client.get("/health").json()["status"] == "ok"


def test_503_while_the_model_loads(
    qwen_models: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    original = QwenServiceEngine.load

    def slow_load(self: QwenServiceEngine) -> None:
        gate.wait(timeout=30)
        original(self)

    monkeypatch.setattr(QwenServiceEngine, "load", slow_load)
    app = create_service_app(qwen_models["base"], engine_options=engine_options())
    with serve_in_thread(app) as url:
        running = Service(app, None, url, timeout=60)
        assert running.client.get("/health").json()["status"] == "loading"
        response = running.client.post("/clone", json={"text": "Hi.", "audio_base64": REF_B64})
        assert code(response) == (503, "loading") and "retry-after" in response.headers
        gate.set()
        assert (
            len(
                wav(
                    running.wait_ready(within=30).client.post(
                        "/clone", json={"text": "Hi.", "audio_base64": REF_B64}
                    )
                )
            )
            == CHUNK
        )


def test_cli_serve_runs_uvicorn(
    qwen_models: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    args = [
        "serve",
        "--model-dir",
        str(qwen_models["base"]),
        "--design-model-dir",
        str(qwen_models["design"]),
        "--port",
        "9123",
        "--device",
        "cpu",
        "--dtype",
        "float32",
    ]
    assert main(args) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 9123)
    engines = seen["app"].state.engines
    assert [e.config.dtype for e in engines] == ["float32", "float32"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve"])  # --model-dir is required
