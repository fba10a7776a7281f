"""The gateway streams real chunks: ``stream_format="audio"`` with pcm or wav, driven by the
official ``openai`` client's ``with_streaming_response`` over a socket, in front of a Router
whose RemoteProvider streams natively from a protocol service (a latency engine)."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import av
import httpx
import openai
import pytest
import soundfile as sf
from core_support.latency_engine import POISON, LatencyEngine
from core_support.tone_service import RATE, Service

from tts_router import Router, Settings
from tts_router.formats import streaming_wav_header
from tts_router.gateway import GatewayConfig, create_app, hash_key
from tts_router.provider import Capabilities
from tts_router.remote import RemoteProvider, ServiceConfig
from tts_router.serving import serve_in_thread
from tts_router.testing import fake_capabilities
from tts_router.text import split_text

KEY = "sk-gateway-stream-test-key"
TEXT = " ".join(f"Sentence number {n} is here, and it has a clause or two." for n in range(8))


class _Tone(RemoteProvider):
    id: ClassVar[str] = "tone"  # type: ignore[misc]
    static_capabilities: ClassVar[Capabilities] = fake_capabilities(  # type: ignore[misc]
        operations=("design",), languages=("en",), clone_modes=(), max_text_chars=2_000
    )


@contextlib.contextmanager
def _gateway(service_url: str, data_dir: Path) -> Iterator[str]:
    provider = _Tone(ServiceConfig(design_url=service_url))
    router = Router(providers=[provider], settings=Settings.load({}))
    app = create_app(GatewayConfig(keys=(hash_key(KEY),), data_dir=data_dir), router)
    with serve_in_thread(app) as url:
        yield url


def _expected_pcm_bytes(text: str) -> int:
    """The tone engine's samples for each chunk the service splits ``text`` into, as s16le."""
    return sum(2 * int((0.1 + 0.01 * len(chunk)) * RATE) for chunk in split_text(text, 80))


def _speak(url: str, fmt: str, **extra: Any) -> tuple[dict[str, str], list[tuple[float, bytes]]]:
    client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
    started = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(
        model="auto",
        voice="design",
        instructions="a calm voice",
        input=TEXT,
        response_format=fmt,  # type: ignore[arg-type]
        extra_body={"language": "en", **extra},
    ) as response:
        pieces = [(time.perf_counter() - started, data) for data in response.iter_bytes()]
        return dict(response.headers), pieces


@pytest.mark.parametrize("fmt", ["pcm", "wav", "opus", "mp3"])
def test_stream_format_audio_sends_each_chunk_as_it_is_made(
    make_service: Any, tmp_path: Path, fmt: str
) -> None:
    service: Service = make_service(LatencyEngine(per_call=0.1, chunk_chars=80, design=True))
    with _gateway(service.url, tmp_path) as url:
        headers, pieces = _speak(url, fmt, stream_format="audio")
    data = b"".join(piece for _, piece in pieces)
    assert headers["x-tts-sample-rate"] == str(RATE) and headers["x-tts-provider"] == "tone"
    assert "content-length" not in headers  # chunked: sent as it comes
    if fmt == "wav":
        assert data[:44] == streaming_wav_header(RATE)
        data = data[44:]
    if fmt in ("pcm", "wav"):
        assert len(data) == _expected_pcm_bytes(TEXT)  # every chunk, whole
    else:  # one Ogg/Opus or MP3 stream of every chunk, to within a codec frame
        with av.open(io.BytesIO(data)) as container:
            seconds = sum(f.samples / f.sample_rate for f in container.decode(audio=0))
        assert seconds == pytest.approx(_expected_pcm_bytes(TEXT) / 2 / RATE, abs=0.1)
    first, last = pieces[0][0], pieces[-1][0]
    print(f"{fmt}: first bytes after {first:.3f} s, last after {last:.3f} s, {len(pieces)} reads")
    assert first < 0.4 * last  # 8 design chunks, 0.1 s each: the first long before the end
    assert service.app.state.stats.streams == 1


def test_flac_stays_a_whole_file(make_service: Any, tmp_path: Path) -> None:
    service: Service = make_service(LatencyEngine(chunk_chars=80, design=True))
    with _gateway(service.url, tmp_path) as url:
        headers, pieces = _speak(url, "flac", stream_format="audio")
        plain_headers, plain = _speak(url, "wav")  # no stream_format: one whole WAV
    samples, rate = sf.read(io.BytesIO(b"".join(p for _, p in pieces)))
    assert rate == RATE and headers["content-type"] == "audio/flac"
    assert int(headers["content-length"]) == sum(len(p) for _, p in pieces)
    wav, _ = sf.read(io.BytesIO(b"".join(p for _, p in plain)))
    assert len(wav) == len(samples) and "content-length" in plain_headers
    assert service.app.state.stats.streams == 0


def test_a_stream_broken_midway_is_a_broken_transfer_not_a_shorter_file(
    make_service: Any, tmp_path: Path
) -> None:
    poisoned = TEXT.replace("number 3 is here", f"number 3 is {POISON}")
    service: Service = make_service(LatencyEngine(chunk_chars=80, design=True))
    with _gateway(service.url, tmp_path) as url:
        body = {
            "model": "auto",
            "voice": "design",
            "instructions": "a calm voice",
            "input": poisoned,
            "response_format": "pcm",
            "stream_format": "audio",
            "language": "en",
        }
        received = bytearray()
        headers = {"Authorization": f"Bearer {KEY}"}
        with (
            httpx.Client(base_url=url, headers=headers) as http,
            http.stream("POST", "/v1/audio/speech", json=body) as response,
        ):
            assert response.status_code == 200  # the first chunks were fine
            with pytest.raises(httpx.RemoteProtocolError):
                for data in response.iter_bytes():
                    received.extend(data)
    chunks = split_text(poisoned, 80)
    assert len(received) == _expected_pcm_bytes(" ".join(chunks[:3]))  # chunks 0-2, no more
