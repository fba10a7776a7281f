"""The OpenAI-compatible gateway, driven by the official ``openai`` client over a real socket,
with the real eSpeak NG provider behind it (the tiny Qwen service: providers/qwen_modal/tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import av
import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from tts_router_espeak.provider import EspeakProvider

from tts_router import DesignRequest, Router, Settings
from tts_router.errors import ConfigurationError
from tts_router.formats import FORMATS, encode
from tts_router.gateway import GatewayConfig, create_app, hash_key
from tts_router.provider import Capabilities, Provider, Speech
from tts_router.serving import serve_in_thread
from tts_router.testing import fake_capabilities, make_reference_wav

KEY = "sk-gateway-test-key-0123456789"
SECRET_TEXT = "the quiet velvet password story"
DESIGN = {"voice": "design", "instructions": "a warm, low female voice"}


class Gateway:
    """A running gateway: its URL, a factory for clients, and where its voices live."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir

    def client(self, key: str = KEY, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, **kwargs)

    def http(self, key: str = KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"})


@contextlib.contextmanager
def _serving(data_dir: Path, *providers: Provider, **config: Any) -> Iterator[Gateway]:
    settings = Settings.load({})
    options: dict[str, Any] = {"keys": (hash_key(KEY),), "data_dir": data_dir, **config}
    app = create_app(GatewayConfig(**options), Router(providers=providers, settings=settings))
    with serve_in_thread(app) as url:
        yield Gateway(url, data_dir)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    with _serving(tmp_path / "data", EspeakProvider()) as running:
        yield running


def _decode(data: bytes, fmt: str, rate: int) -> float:
    """Seconds of audio in ``data`` (a ``fmt`` file; ``pcm``: s16le at ``rate``)."""
    if fmt == "pcm":
        return len(data) / 2 / rate
    if fmt == "aac":
        with av.open(io.BytesIO(data)) as container:
            frames = [f.to_ndarray() for f in container.decode(audio=0)]
        return sum(f.shape[-1] for f in frames) / rate
    samples, sample_rate = sf.read(io.BytesIO(data))
    assert np.max(np.abs(samples)) > 0.01  # speech, not silence
    return len(samples) / sample_rate


def _design(client: openai.OpenAI, model: str = "auto", **extra: Any) -> Any:
    """``client`` designs a voice saying "Hi." (``extra`` adds or overrides fields)."""
    return client.audio.speech.create(**{"model": model, "input": "Hi.", **DESIGN, **extra})


def test_design_through_the_openai_client_in_every_format(gateway: Gateway) -> None:
    client = gateway.client()
    durations = {}
    for fmt in FORMATS:
        response = client.audio.speech.create(
            model="espeak",
            input="Hello from the gateway, in every format.",
            response_format=fmt,  # type: ignore[arg-type]
            **DESIGN,  # type: ignore[arg-type]
        )
        rate = int(response.response.headers["x-tts-sample-rate"])
        durations[fmt] = _decode(response.content, fmt, rate)
        assert response.response.headers["x-tts-provider"] == "espeak"
    wav = durations["wav"]
    assert wav > 1.0
    for fmt, seconds in durations.items():  # every encoding holds the same speech
        assert seconds == pytest.approx(wav, abs=0.1), fmt


def test_upload_a_voice_then_clone_with_it_streaming(gateway: Gateway) -> None:
    with gateway.http() as http:
        created = http.post(
            "/v1/voices",
            files={"file": ("me.wav", make_reference_wav(seconds=3.0, f0=180.0), "audio/wav")},
            data={"name": "Me", "transcript": "Hello, this is me.", "language": "en"},
        )
        assert created.status_code == 200, created.text
        voice = created.json()
        assert voice["id"].startswith("voice_") and voice["has_transcript"]
        assert [v["id"] for v in http.get("/v1/voices").json()["data"]] == [voice["id"]]
    client = gateway.client()
    with client.audio.speech.with_streaming_response.create(
        model="auto",
        voice={"id": voice["id"]},
        input="Cloned, then streamed.",
        response_format="wav",
    ) as response:
        body = b"".join(response.iter_bytes(4096))
        assert response.headers["x-tts-mode"] == "approximate"
    assert _decode(body, "wav", 0) > 0.5


def test_errors_come_in_openai_s_shape_with_the_library_s_codes(gateway: Gateway) -> None:
    client = gateway.client(max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        client.audio.speech.create(model="auto", voice="alloy", input="Hi.")
    assert missing.value.code == "voice_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        _design(client, speed=2.0)
    assert bad.value.code == "unsupported_option"
    with pytest.raises(openai.BadRequestError) as fmt:
        _design(client, response_format="wma")
    assert fmt.value.code == "unsupported_format"
    with gateway.http() as http:
        models = http.get("/v1/models").json()["data"]
        assert [m["id"] for m in models] == ["auto", "espeak"]
        assert http.get("/v1/voices/voice_0123").json()["error"]["code"] == "voice_not_found"


def test_no_key_no_work(gateway: Gateway) -> None:
    for key in ("", "sk-wrong"):
        client = gateway.client(key=key or "x", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            _design(client)
        assert info.value.code == "invalid_api_key"
    with httpx.Client(base_url=gateway.url) as anonymous:
        assert anonymous.get("/v1/models").status_code == 401
        assert anonymous.get("/healthz").json()["status"] == "ok"


class _Slow(Provider):
    """Designs in ``seconds`` (a sync method: it runs in a worker thread)."""

    id: ClassVar[str] = "slow"
    started = threading.Event()
    release = threading.Event()

    @property
    def capabilities(self) -> Capabilities:
        return fake_capabilities(operations=("design",), clone_modes=(), languages=("auto", "en"))

    def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        self.started.set()
        self.release.wait(10)
        t = np.arange(16_000) / 16_000
        return Speech(
            model="slow",
            mode="design",
            samples=0.3 * np.sin(2 * np.pi * 220 * t),
            sample_rate=16_000,
        )


def test_past_the_per_key_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    slow = _Slow()
    with _serving(tmp_path, slow, max_in_flight_per_key=1) as gateway:
        first = threading.Thread(target=lambda: _design(gateway.client(), "slow"))
        first.start()
        assert slow.started.wait(10)
        with pytest.raises(openai.RateLimitError) as info:
            _design(gateway.client(max_retries=0), "slow")
        assert info.value.code == "concurrency_limit"
        assert info.value.response.headers["retry-after"] == "1"
        slow.release.set()
        first.join(10)


def test_voices_survive_a_restart_and_can_be_designed_into_the_library(tmp_path: Path) -> None:
    with _serving(tmp_path, EspeakProvider()) as gateway, gateway.http() as http:
        designed = http.post(
            "/v1/voices/design",
            json={
                "name": "Warm",
                "instructions": "a warm, low female voice",
                "text": "This is how the warm voice sounds.",
                "language": "en",
            },
        )
        assert designed.status_code == 200, designed.text
        voice_id = designed.json()["id"]
        assert designed.json()["source"] == "design"
    with _serving(tmp_path, EspeakProvider()) as gateway, gateway.http() as http:
        assert http.get(f"/v1/voices/{voice_id}").json()["name"] == "Warm"
        spoken = gateway.client().audio.speech.create(
            model="auto",
            voice=voice_id,
            input="Still here after a restart.",
            response_format="flac",
        )
        assert _decode(spoken.content, "flac", 0) > 0.5
        assert http.delete(f"/v1/voices/{voice_id}").json()["deleted"] is True
        assert http.get(f"/v1/voices/{voice_id}").status_code == 404


def test_bodies_over_the_limit_are_refused_before_parsing(tmp_path: Path) -> None:
    with (
        _serving(tmp_path, EspeakProvider(), max_body_bytes=4096) as gateway,
        gateway.http() as http,
    ):
        response = http.post(
            "/v1/voices",
            files={"file": ("big.wav", make_reference_wav(seconds=3.0), "audio/wav")},
            data={"name": "Big"},
        )
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def test_logs_hold_no_text_and_keys_are_hashed_at_rest(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _design(gateway.client(), input=SECRET_TEXT)

    def logged() -> bool:  # the line is written after the last byte is sent: allow a moment
        access = [r.getMessage() for r in caplog.records if r.name == "tts_router.gateway"]
        return any('"path": "/v1/audio/speech"' in a and '"status": 200' in a for a in access)

    deadline = time.monotonic() + 5
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logged()
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET_TEXT not in everything and KEY not in everything
    assert hash_key(KEY).startswith("sha256:") and KEY not in hash_key(KEY)


def test_no_auth_is_refused_off_loopback() -> None:
    settings = Settings.load({})
    with pytest.raises(ConfigurationError, match="loopback"):
        GatewayConfig.load(settings, host="0.0.0.0", no_auth=True)
    with pytest.raises(ConfigurationError, match="TTS_ROUTER_GATEWAY_KEYS"):
        GatewayConfig.load(settings, host="0.0.0.0")
    assert GatewayConfig.load(settings, no_auth=True).keys == ()
    keyed = GatewayConfig.load(Settings.load({"TTS_ROUTER_GATEWAY_KEYS": f"{KEY}, other"}))
    assert keyed.key_id(KEY) == hash_key(KEY) and keyed.key_id("nope") is None


def test_formats_resample_to_the_rate_asked() -> None:
    t = np.arange(22_050) / 22_050
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    wav = encode(tone, 22_050, "wav", target_rate=16_000)
    samples, rate = sf.read(io.BytesIO(wav.data))
    assert rate == wav.sample_rate == 16_000 and len(samples) == pytest.approx(16_000, abs=2)
    opus = encode(tone, 22_050, "opus")
    assert opus.sample_rate == 48_000  # Opus has no 22.05 kHz mode


async def test_the_gateway_does_not_block_on_a_slow_provider(tmp_path: Path) -> None:
    """Another request (health) is answered while a slow synthesis runs."""
    slow = _Slow()
    slow.release.clear()
    slow.started.clear()
    with _serving(tmp_path, slow) as gateway:
        async with httpx.AsyncClient(
            base_url=gateway.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=20
        ) as http:
            speak = asyncio.create_task(
                http.post("/v1/audio/speech", json={"model": "slow", "input": "Hi.", **DESIGN})
            )
            await asyncio.to_thread(slow.started.wait, 10)
            health = await asyncio.wait_for(http.get("/healthz"), timeout=5)
            assert health.status_code == 200 and not speak.done()
            slow.release.set()
            assert (await speak).status_code == 200
