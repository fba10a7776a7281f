"""Streams: chunks in order as they are ready, the first short, failures typed by when they
happen (before the first chunk: the provider's own error; after: ``stream_interrupted``)."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tts_router import DesignRequest
from tts_router.errors import ProviderUnavailableError, StreamInterruptedError
from tts_router.provider import Capabilities, Provider, Speech
from tts_router.streaming import FIRST_CHUNK_CHARS, AudioChunk
from tts_router.testing import fake_capabilities
from tts_router.text import chunk_spans

RATE = 16_000
TEXT = " ".join(
    f"This is sentence number {n}, long enough to need a chunk of its own in the end."
    for n in range(1, 9)
)


class _Paced(Provider):
    """Speaks 10 ms of audio per character after 1 ms per character of work; may fail."""

    id: ClassVar[str] = "paced"

    def __init__(
        self, *, parallel: int = 1, fail_at: int | None = None, fail_with: Exception | None = None
    ) -> None:
        self.max_parallel_chunks = parallel
        self.fail_at = fail_at
        self.fail_with = fail_with or ProviderUnavailableError("the service went away")
        self.calls = 0

    @property
    def capabilities(self) -> Capabilities:
        return fake_capabilities(operations=("design",), clone_modes=(), max_text_chars=200)

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        index, self.calls = self.calls, self.calls + 1
        await asyncio.sleep(0.001 * len(text))
        if index == self.fail_at:
            raise self.fail_with
        samples = np.full(int(0.01 * RATE * len(text)), 0.2, np.float32)
        return Speech(model="paced", mode="design", samples=samples, sample_rate=RATE)


def _request(text: str = TEXT) -> DesignRequest:
    return DesignRequest(text=text, instruct="calm", language="en")


async def _collect(provider: Provider, text: str = TEXT) -> list[AudioChunk]:
    return [chunk async for chunk in provider.stream_design(_request(text))]


async def test_chunks_arrive_in_order_cover_the_text_and_the_first_is_short() -> None:
    chunks = await _collect(_Paced(parallel=3))
    assert [c.sequence for c in chunks] == list(range(len(chunks))) and len(chunks) > 3
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    first_start, first_end = chunks[0].text_span
    assert first_end - first_start <= FIRST_CHUNK_CHARS
    spoken = "".join(TEXT[start:end] for start, end in (c.text_span for c in chunks))
    assert spoken.replace(" ", "") == TEXT.replace(" ", "")  # every character, once, in order
    whole = await _Paced().design(_request())
    streamed = sum(c.duration for c in chunks)
    assert streamed == pytest.approx(whole.duration, abs=0.05)  # crossfades only


async def test_first_audio_comes_long_before_the_whole() -> None:
    provider = _Paced()
    started = time.perf_counter()
    first = None
    async for _chunk in provider.stream_design(_request(TEXT * 3)):
        first = first or time.perf_counter() - started
    whole = time.perf_counter() - started
    print(f"first audio after {first:.3f} s, whole stream {whole:.3f} s: {first / whole:.3f}x")
    assert first is not None and first < whole / 5


async def test_a_failure_before_the_first_chunk_is_the_provider_s_own() -> None:
    with pytest.raises(ProviderUnavailableError) as info:
        await _collect(_Paced(fail_at=0))
    assert info.value.code == "provider_unavailable" and info.value.fallback


async def test_a_failure_midway_says_how_much_was_delivered() -> None:
    provider = _Paced(fail_at=2)
    delivered: list[AudioChunk] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in provider.stream_design(_request()):
            delivered.append(chunk)
    assert info.value.delivered == len(delivered) == 2
    assert info.value.seconds == pytest.approx(sum(c.duration for c in delivered))
    assert info.value.cause_code == "provider_unavailable"
    assert not info.value.fallback and not info.value.retryable
    assert "chunk 3 of" in str(info.value)


async def test_chunks_encode_to_any_format() -> None:
    chunk = (await _collect(_Paced(), "Hello there, this is short."))[0]
    pcm = chunk.encode("pcm")
    assert len(pcm.data) == 2 * len(chunk.samples)
    assert chunk.encode("wav", sample_rate=8_000).sample_rate == 8_000


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("abc de,.!?。 \n")), min_size=0, max_size=400),
    max_chars=st.integers(5, 120),
    first=st.integers(3, 60),
)
def test_chunk_spans_are_ordered_within_limits_and_lose_nothing(
    text: str, max_chars: int, first: int
) -> None:
    spans = chunk_spans(text, max_chars, first_chars=first)
    position = 0
    for index, (start, end) in enumerate(spans):
        assert position <= start < end <= len(text)
        limit = first if index == 0 and first < max_chars else max_chars
        assert end - start <= limit
        assert text[position:start].strip() == ""  # only space between chunks
        position = end
    assert text[position:].strip() == ""


async def test_the_router_falls_back_only_before_the_first_chunk() -> None:
    from tts_router import Router, Settings

    class _Backup(_Paced):
        id: ClassVar[str] = "backup"

    down = _Paced(fail_at=0)
    router = Router(providers=[down, _Backup()], settings=Settings.load({}))
    request = _request()
    chunks = [c async for c in router.stream_design(request)]
    assert {c.provider for c in chunks} == {"backup"}
    assert any("fell back to backup" in w for w in chunks[0].warnings)

    midway = _Paced(fail_at=2)
    backup = _Backup()
    router = Router(providers=[midway, backup], settings=Settings.load({}))
    delivered = []
    with pytest.raises(StreamInterruptedError):
        async for chunk in router.stream_design(request):
            delivered.append(chunk)
    assert {c.provider for c in delivered} == {"paced"} and backup.calls == 0
