"""The protocol's streamed answer, through real sockets: the framing, the service sending each
chunk as the scheduler finishes it, the client's retries before the first chunk only, typed
failures after it, and ``RemoteProvider`` streaming natively (one request) under a Router."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest
from core_support.faultproxy import FaultProxy
from core_support.host_thread import reset
from core_support.latency_engine import POISON, LatencyEngine
from core_support.latency_service import free_port
from core_support.scripted import Reply, scripted_service
from core_support.tone_service import RATE, Service, b64, reference_wav, sha

from tts_router import CloneRequest, DesignRequest, Router, Settings, VoiceReference
from tts_router.audio import OUTPUT_LIMITS, decode_audio, encode_wav
from tts_router.client_options import RetryOptions, Timeouts
from tts_router.errors import StreamInterruptedError
from tts_router.http import ServiceClient, StreamedChunk
from tts_router.protocol import (
    STREAM_MEDIA_TYPE,
    CloneBody,
    ErrorDetail,
    StreamChunk,
    StreamError,
    StreamFrameDecoder,
    StreamFrameError,
    encode_frame,
    wants_stream,
)
from tts_router.provider import Capabilities
from tts_router.remote import RemoteProvider, ServiceConfig
from tts_router.serving.counters import ServingStats
from tts_router.serving.feed import ChunkFeed
from tts_router.serving.jobs import JobTable
from tts_router.serving.responses import audio_response
from tts_router.serving.stream import chunk_frames
from tts_router.testing import fake_capabilities

SENTENCES = [
    f"Sentence number {n} is here, and it carries a clause or two of its own." for n in range(10)
]
TEXT = " ".join(SENTENCES)
REF = reference_wav()
VOICE = sha(REF)
FAST = RetryOptions(max_attempts=4, initial_backoff=0.02, max_backoff=0.05, deadline=30)


@pytest.fixture(autouse=True)
def _no_text_in_logs(caplog: pytest.LogCaptureFixture) -> Any:
    """Every log record of every test here (client, service, uvicorn) at DEBUG: no text."""
    caplog.set_level(logging.DEBUG)
    yield
    records = caplog.get_records("call")
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in records)
    for needle in ("Sentence number", "carries a clause", "what the reference says", POISON):
        assert needle not in logged


class _Tone(RemoteProvider):
    id: ClassVar[str] = "tone"  # type: ignore[misc]
    static_capabilities: ClassVar[Capabilities] = fake_capabilities(  # type: ignore[misc]
        operations=("clone", "design"),
        languages=("en",),
        clone_modes=("icl", "x_vector"),
        max_text_chars=2_000,
    )


class _Backup(_Tone):
    id: ClassVar[str] = "backup"  # type: ignore[misc]


def _body(text: str = TEXT, **changes: Any) -> CloneBody:
    fields: dict[str, Any] = {"text": text, "language": "en", "voice_id": VOICE}
    return CloneBody(transcript="what the reference says", **{**fields, **changes})


def _client(url: str, **options: Any) -> ServiceClient:
    return ServiceClient(url, provider="tone", retry=options.pop("retry", FAST), **options)


async def _collect(client: ServiceClient, body: CloneBody, **kwargs: Any) -> list[StreamedChunk]:
    return [chunk async for chunk in client.stream_clone(body, **kwargs)]


def _spoken(text: str, chunks: list[Any]) -> str:
    return "".join(text[start:end] for start, end in (c.text_span for c in chunks))


class _CuttingProxy(FaultProxy):
    """``reset_mid_response`` after exactly ``partial_bytes`` of the answer, however many
    reads that takes (the shared proxy cuts after one read, which may hold only the head)."""

    async def _partial(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        left = self.plan.partial_bytes
        while left > 0 and (data := await reader.read(left)):
            writer.write(data)
            await writer.drain()
            left -= len(data)
        reset(writer)


def _wav_bytes(chunk_text: str) -> int:
    """The size of the tone engine's WAV for one chunk (see ToneEngine._tone)."""
    return 44 + 2 * int((0.1 + 0.01 * len(chunk_text)) * RATE)


# -- framing ------------------------------------------------------------------------------------


def test_frames_decode_from_any_split_and_refuse_what_is_not_a_frame() -> None:
    chunk = StreamChunk(
        sequence=0, sample_rate=RATE, text_span=(0, 5), last=False, mode="icl", model="m", seconds=1
    )
    error = StreamError(error=ErrorDetail(code="internal_error", message="broke"), delivered=1)
    wire = encode_frame(chunk, b"RIFF-audio") + encode_frame(error)
    rng = random.Random(0)
    for _ in range(50):
        decoder, frames, position = StreamFrameDecoder(), [], 0
        while position < len(wire):
            step = rng.randint(1, 40)
            frames += decoder.feed(wire[position : position + step])
            position += step
        assert frames == [(chunk, b"RIFF-audio"), (error, b"")]
        assert decoder.buffered == 0
    for broken in (b"\x00" * 8, b"\x00\x00\x00\x05\x00\x00\x00\x00hello", b"\xff" * 8):
        with pytest.raises(StreamFrameError):
            StreamFrameDecoder().feed(broken)
    assert wants_stream(f"audio/wav;q=0.5, {STREAM_MEDIA_TYPE}") and not wants_stream("audio/wav")


async def test_chunks_finishing_out_of_order_are_sent_in_order() -> None:
    """The feed takes chunks in whatever order engine calls finish; frames keep the order."""
    release = asyncio.Event()

    async def produce() -> Any:
        await release.wait()
        return audio_response(_tone_result(0.1))

    table = JobTable(
        ServingStats(), ttl_s=60, max_entries=8, max_bytes=1 << 20, grace_s=1, lease_s=1
    )
    feed = ChunkFeed()
    job = table.start(None, "fingerprint", produce, feed=feed, text_length=11)
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    feed.plan("One. Two. Three.", ["One.", "Two.", "Three."])
    frames = chunk_frames(job, feed, gone)
    received: list[tuple[StreamChunk | StreamError, bytes]] = []

    async def read() -> None:
        decoder = StreamFrameDecoder()
        async for data in frames:
            received.extend(decoder.feed(data))

    reader = asyncio.ensure_future(read())
    for index in (2, 1):
        feed.add(index, _tone_result(0.1 * (index + 1)))
    await asyncio.sleep(0.05)
    assert received == []  # nothing before chunk 0, however much is done after it
    feed.add(0, _tone_result(0.1))
    release.set()
    await asyncio.wait_for(reader, 5)
    headers = [header for header, _ in received if isinstance(header, StreamChunk)]
    assert [h.sequence for h in headers] == [0, 1, 2]
    assert [h.text_span for h in headers] == [(0, 4), (5, 9), (10, 16)]
    assert [h.last for h in headers] == [False, False, True]
    seconds = [decode_audio(payload, OUTPUT_LIMITS).duration for _, payload in received]
    assert seconds == pytest.approx([0.1, 0.2, 0.3], abs=0.001)
    await job.task


def _tone_result(seconds: float) -> Any:
    from tts_router.serving import EngineResult

    samples = (0.3 * np.sin(np.arange(int(seconds * RATE)) / 10)).astype(np.float32)
    return EngineResult(samples, RATE, "icl", "tone-1")


# -- the service and the client over a socket ----------------------------------------------------


async def test_a_stream_comes_in_order_complete_and_its_first_chunk_early(
    make_service: Any,
) -> None:
    engine = LatencyEngine(per_call=0.05, per_item=0.05, chunk_chars=80)
    service: Service = make_service(engine)
    client = _client(service.url)
    started = time.perf_counter()
    arrivals: list[float] = []
    chunks: list[StreamedChunk] = []
    async for chunk in client.stream_clone(_body(), reference=REF):
        arrivals.append(time.perf_counter() - started)
        chunks.append(chunk)
    started = time.perf_counter()
    whole = await client.clone(_body(), reference=REF)  # a job of its own: one batch of 10
    whole_time = time.perf_counter() - started
    await client.aclose()

    print(f"first chunk {arrivals[0]:.3f} s, stream {arrivals[-1]:.3f} s, whole {whole_time:.3f} s")
    assert [c.sequence for c in chunks] == list(range(10))
    assert [c.last for c in chunks] == [False] * 9 + [True]
    assert _spoken(TEXT, chunks).replace(" ", "") == TEXT.replace(" ", "")  # all, once, in order
    assert {c.mode for c in chunks} == {"icl"} and {c.model for c in chunks} == {"tone-1"}
    whole_seconds = decode_audio(whole.wav, OUTPUT_LIMITS).duration
    crossfades = 9 * 0.010  # the whole answer's chunks overlap by 10 ms each
    assert sum(c.audio.duration for c in chunks) == pytest.approx(
        whole_seconds + crossfades, abs=0.01
    )
    # The first chunk was generated alone, the rest in one batch; the whole job in one batch.
    assert [len(call) for call in engine.calls] == [1, 9, 10]
    assert arrivals[0] < 0.6 * whole_time  # about 0.1 s against 0.55 s
    assert service.app.state.stats.streams == 1


async def test_a_failure_midway_is_an_error_frame_saying_how_much_came(make_service: Any) -> None:
    poisoned = " ".join(s if i != 3 else s.replace("here", POISON) for i, s in enumerate(SENTENCES))
    service: Service = make_service(LatencyEngine(chunk_chars=80))
    client = _client(service.url)
    received: list[StreamedChunk] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in client.stream_clone(_body(poisoned), reference=REF):
            received.append(chunk)
    await client.aclose()
    error = info.value
    assert error.delivered == len(received) == 3  # chunks 0-2; the fourth broke its batch
    assert error.seconds == pytest.approx(sum(c.audio.duration for c in received))
    assert error.cause_code == "internal_error" and error.code == "stream_interrupted"
    assert not error.retryable and not error.fallback
    assert "after 3 chunk(s)" in str(error) and POISON not in str(error)


async def test_a_connection_broken_midway_is_typed_and_never_retried(make_service: Any) -> None:
    service: Service = make_service(LatencyEngine(per_call=0.05, chunk_chars=80))
    with _CuttingProxy(int(service.url.rsplit(":", 1)[1])) as proxy:
        # The first frame whole, the second cut in half, then a reset (headers: < 1000 bytes).
        proxy.plan.partial_bytes = 1_000 + _wav_bytes(SENTENCES[0]) + _wav_bytes(SENTENCES[1]) // 2
        proxy.then("reset_mid_response")
        client = _client(proxy.url)
        inline = _body(voice_id=None, audio_base64=b64(REF))  # one request, one connection
        received: list[StreamedChunk] = []
        with pytest.raises(StreamInterruptedError) as info:
            async for chunk in client.stream_clone(inline):
                received.append(chunk)
        await client.aclose()
    assert info.value.delivered == len(received) == 1
    assert info.value.cause_code == "provider_unavailable"
    assert proxy.connections == 1  # nothing was sent again after the first chunk


async def test_a_failure_before_the_first_chunk_is_retried_under_the_same_key(
    make_service: Any,
) -> None:
    engine = LatencyEngine(per_call=0.1, chunk_chars=80)
    service: Service = make_service(engine)
    with _CuttingProxy(int(service.url.rsplit(":", 1)[1])) as proxy:
        proxy.plan.partial_bytes = 100  # the head of the 200, then a reset: no chunk yet
        proxy.then("reset_mid_response")
        client = _client(proxy.url)
        chunks = await _collect(client, _body(voice_id=None, audio_base64=b64(REF)))
        await client.aclose()
    assert [c.sequence for c in chunks] == list(range(10)) and chunks[-1].last
    assert proxy.connections == 2
    # The retry met the running job and streamed it from its first chunk: made once.
    assert service.jobs == 1 and engine.generated("Sentence number") == 10


async def test_a_stream_that_outlives_the_wait_is_a_job_url_that_streams(make_service: Any) -> None:
    gate = threading.Event()
    service: Service = make_service(LatencyEngine(chunk_chars=80, gate=gate))
    client = _client(service.url, timeouts=Timeouts(read=0.4))  # Prefer: wait=0.3
    task = asyncio.ensure_future(_collect(client, _body(), reference=REF))
    stats = service.app.state.stats
    deadline = time.monotonic() + 10
    while stats.async_answers == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    gate.set()
    chunks = await asyncio.wait_for(task, 20)
    await client.aclose()
    assert stats.async_answers >= 1  # answered 202 while nothing was ready
    assert [c.sequence for c in chunks] == list(range(10)) and stats.streams == 1
    assert service.jobs == 1


async def test_a_client_that_leaves_midway_has_the_rest_dropped(make_service: Any) -> None:
    engine = LatencyEngine(per_call=0.2, chunk_chars=80)
    service: Service = make_service(engine, max_batch=2, abandon_grace_s=0.1)
    client = _client(service.url)
    stream = client.stream_clone(_body(), reference=REF)
    first = await anext(aiter(stream))
    await stream.aclose()  # type: ignore[attr-defined]
    await client.aclose()
    assert first.sequence == 0
    await asyncio.sleep(1.0)
    stats = service.app.state.stats
    assert stats.cancelled_jobs == 1 and stats.dropped_items > 0
    assert engine.generated("Sentence number") < 10


async def test_a_service_that_answers_a_whole_wav_gives_one_last_chunk(make_service: Any) -> None:
    service, script = scripted_service(make_service)
    wav = encode_wav(0.2 * np.ones(RATE // 2, np.float32), RATE)
    headers = {"content-type": "audio/wav", "x-tts-mode": "icl", "x-tts-model": "old-1"}
    script.then("POST", "/clone", Reply(200, headers, wav))
    client = _client(service.url)
    (chunk,) = await _collect(client, _body("Short."), reference=REF)
    await client.aclose()
    assert (chunk.sequence, chunk.last, chunk.text_span, chunk.model) == (0, True, (0, 6), "old-1")
    assert chunk.audio.duration == pytest.approx(0.5)


# -- RemoteProvider and the Router ---------------------------------------------------------------


async def test_a_remote_provider_streams_natively_in_one_request(make_service: Any) -> None:
    service, script = scripted_service(make_service, LatencyEngine(chunk_chars=80, design=True))
    provider = _Tone(ServiceConfig(clone_url=service.url, design_url=service.url))
    reference = VoiceReference(audio=REF, transcript="what the reference says")
    request = CloneRequest(text=TEXT, reference=reference, language="en")
    chunks = [c async for c in provider.stream_clone(request)]
    designed = [
        c
        async for c in provider.stream_design(
            DesignRequest(text=TEXT, instruct="calm", language="en")
        )
    ]
    await provider.aclose()
    for stream, mode in ((chunks, "icl"), (designed, "design")):
        assert [c.sequence for c in stream] == list(range(10)) and stream[-1].last
        assert {(c.provider, c.mode, c.sample_rate) for c in stream} == {("tone", mode, RATE)}
        assert _spoken(TEXT, stream).replace(" ", "") == TEXT.replace(" ", "")
    assert script.count("POST", "/clone") == 1 and script.count("POST", "/design") == 1


async def test_the_router_falls_back_before_the_first_chunk_and_never_after(
    make_service: Any,
) -> None:
    backup_service: Service = make_service(LatencyEngine(chunk_chars=80))
    primary_service: Service = make_service(LatencyEngine(chunk_chars=80))
    once = RetryOptions(max_attempts=1, deadline=10)
    reference = VoiceReference(audio=REF, transcript="what the reference says")

    def router(primary_url: str) -> Router:
        primary = _Tone(ServiceConfig(clone_url=primary_url, retry=once))
        backup = _Backup(ServiceConfig(clone_url=backup_service.url, retry=once))
        return Router(providers=[primary, backup], settings=Settings.load({}))

    down = router(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    request = CloneRequest(text=TEXT, reference=reference, language="en")
    chunks = [c async for c in down.stream_clone(request)]
    assert {c.provider for c in chunks} == {"backup"} and len(chunks) == 10
    assert any("fell back" in w for w in chunks[0].warnings)
    await down.aclose()
    assert backup_service.jobs == 1

    poisoned = " ".join(s if i != 2 else s.replace("here", POISON) for i, s in enumerate(SENTENCES))
    midway = router(primary_service.url)
    delivered = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in midway.stream_clone(
            CloneRequest(text=poisoned, reference=reference, language="en")
        ):
            delivered.append(chunk)
    await midway.aclose()
    assert {c.provider for c in delivered} == {"tone"} and info.value.delivered == len(
        delivered
    ) == 2
    assert info.value.provider == "tone" and info.value.cause_code == "internal_error"
    assert backup_service.jobs == 1  # not asked again: the voice never changes mid-stream


async def test_the_stream_s_own_request_errors_are_http_errors(make_service: Any) -> None:
    """Before any chunk a stream request is refused like any other: status and JSON."""
    service: Service = make_service(LatencyEngine(chunk_chars=80))
    async with httpx.AsyncClient(base_url=service.url) as http:
        answer = await http.post(
            "/clone",
            json={"text": "Hello.", "language": "xx", "audio_base64": b64(REF)},
            headers={"Accept": STREAM_MEDIA_TYPE},
        )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "unsupported_language"
