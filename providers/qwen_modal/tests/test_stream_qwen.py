"""Streams from the real Qwen service (tiny models, real qwen-tts) over a socket: chunks in
order, the whole text covered, the first chunk generated alone and early; QwenProvider
streams natively (one request) for clone and design."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from qwen_test_support import engine_options
from tts_router_qwen_modal.provider import QwenProvider
from tts_router_qwen_modal.service import create_service_app

from tts_router import CloneRequest, DesignRequest, VoiceReference
from tts_router.audio import encode_wav
from tts_router.http import ServiceClient
from tts_router.protocol import CloneBody
from tts_router.remote import ServiceConfig
from tts_router.serving import serve_in_thread

pytestmark = pytest.mark.usefixtures("no_network")
TEXT = (
    "The first sentence opens the text. A second one follows it closely, and a third, "
    "slightly longer sentence comes along after it. Four is short. Fifth: numbers like 42 "
    "and 1984 appear here. The sixth sentence talks about the weather and the sea."
)


def _reference() -> bytes:
    noise = np.random.default_rng(0).standard_normal(int(1.3 * 24_000))
    return encode_wav(0.1 * noise / np.abs(noise).max(), 24_000)


@pytest.fixture(scope="module")
def service(qwen_models: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    app = create_service_app(
        qwen_models["base"], qwen_models["design"], engine_options=engine_options()
    )
    with serve_in_thread(app) as url:
        deadline = time.monotonic() + 60
        while app.state.worker.load_state != "ready" and time.monotonic() < deadline:
            time.sleep(0.02)
        yield app, url


async def test_a_stream_from_the_qwen_service(service: tuple[Any, str]) -> None:
    app, url = service
    client = ServiceClient(url, provider="qwen")
    reference = _reference()
    voice = VoiceReference(audio=reference).content_id
    body = CloneBody(text=TEXT, language="en", voice_id=voice, transcript="reference words")
    await client.clone(body.model_copy(update={"text": "Warm up."}), reference=reference)
    calls = app.state.stats.engine_calls
    started = time.perf_counter()
    arrivals, chunks = [], []
    async for chunk in client.stream_clone(body, reference=reference):
        arrivals.append(time.perf_counter() - started)
        chunks.append(chunk)
    started = time.perf_counter()
    whole = await client.clone(body, reference=reference)
    whole_time = time.perf_counter() - started
    await client.aclose()
    print(
        f"{len(chunks)} chunks: first after {arrivals[0]:.3f} s, stream {arrivals[-1]:.3f} s, "
        f"whole request {whole_time:.3f} s ({arrivals[0] / whole_time:.2f}x)"
    )
    assert len(chunks) > 3 and [c.sequence for c in chunks] == list(range(len(chunks)))
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    spoken = "".join(TEXT[start:end] for start, end in (c.text_span for c in chunks))
    assert spoken.replace(" ", "") == TEXT.replace(" ", "")
    assert {(c.audio.sample_rate, c.mode) for c in chunks} == {(24_000, "icl")}
    assert app.state.stats.engine_calls - calls == 3  # chunk 0 alone, the rest, the whole
    assert arrivals[0] < whole_time  # the first chunk alone, against every chunk at once
    assert whole.mode == "icl"


async def test_qwen_provider_streams_clone_and_design_natively(service: tuple[Any, str]) -> None:
    app, url = service
    provider = QwenProvider(ServiceConfig(clone_url=url, design_url=url))
    jobs = app.state.stats.engine_jobs
    reference = VoiceReference(audio=_reference(), transcript="reference words")
    cloned = [
        c
        async for c in provider.stream_clone(
            CloneRequest(text=TEXT, reference=reference, language="en")
        )
    ]
    designed = [
        c
        async for c in provider.stream_design(
            DesignRequest(text=TEXT, instruct="a warm, low voice", language="en")
        )
    ]
    await provider.aclose()
    assert app.state.stats.engine_jobs - jobs == 2  # one request each, chunked by the service
    for chunks, mode in ((cloned, "icl"), (designed, "design")):
        assert {(c.provider, c.mode, c.sample_rate) for c in chunks} == {("qwen", mode, 24_000)}
        assert chunks[-1].last and chunks[-1].text_span[1] == len(TEXT)
