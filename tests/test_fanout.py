"""Long-form fan-out: the chunks of a long text in flight at once, order kept, one voice, a
failure naming its chunk; in-process and against a real service on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import numpy as np
import pytest
from core_support.scripted import scripted_service
from core_support.tone_service import Service, ToneEngine, reference_wav, sha

from tts_router import CloneRequest, DesignRequest, VoiceReference, decode_audio
from tts_router.audio import OUTPUT_LIMITS
from tts_router.client_options import RetryOptions
from tts_router.errors import ProviderError
from tts_router.provider import Capabilities, Provider, Speech
from tts_router.remote import RemoteProvider, ServiceConfig
from tts_router.testing import fake_capabilities

RATE = 16_000
SENTENCES = [f"Sentence number {n} of a longer text." for n in range(1, 7)]


class _Staggered(Provider):
    """Chunk i takes (n - i) * 40 ms, so later chunks finish first; each is 0.4 s at a level
    that says which chunk it was."""

    id: ClassVar[str] = "staggered"
    fail_on: str | None = None

    def __init__(self, parallel: int) -> None:
        self.max_parallel_chunks = parallel
        self.started: list[str] = []

    @property
    def capabilities(self) -> Capabilities:
        return fake_capabilities(operations=("design",), clone_modes=(), max_text_chars=40)

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        self.started.append(text)
        index = next(i for i, s in enumerate(SENTENCES) if s in text)
        await asyncio.sleep((len(SENTENCES) - index) * 0.04)
        if self.fail_on and self.fail_on in text:
            raise ProviderError("the engine refused this chunk", code="internal_error")
        level = 0.1 * (index + 1)
        return Speech(
            model="s", mode="design", samples=np.full(6_400, level, np.float32), sample_rate=RATE
        )


async def test_chunks_completing_out_of_order_are_stitched_in_order() -> None:
    provider = _Staggered(parallel=6)
    started = time.monotonic()
    result = await provider.design(DesignRequest(text=" ".join(SENTENCES), instruct="calm"))
    elapsed = time.monotonic() - started
    samples = decode_audio(result.audio, OUTPUT_LIMITS).samples
    levels = [float(np.median(samples[i * 6_400 + 800 : (i + 1) * 6_400 - 800])) for i in range(6)]
    assert levels == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], abs=0.01)  # complete, in order
    assert elapsed < 0.84 * 0.5  # side by side: about the slowest chunk (0.24 s), not the sum
    assert "6 chunks" in " ".join(result.warnings)


async def test_a_failed_chunk_is_named_and_the_others_are_cancelled() -> None:
    provider = _Staggered(parallel=2)
    provider.fail_on = "number 2 "
    with pytest.raises(ProviderError) as info:
        await provider.design(DesignRequest(text=" ".join(SENTENCES), instruct="calm"))
    assert str(info.value).startswith("[staggered] chunk 2 of 6: the engine refused")
    await asyncio.sleep(0.3)
    assert len(provider.started) < len(SENTENCES)  # the rest never started


class _Tone(RemoteProvider):
    id: ClassVar[str] = "tone"  # type: ignore[misc]
    static_capabilities: ClassVar[Capabilities] = fake_capabilities(  # type: ignore[misc]
        operations=("clone",),
        languages=("en",),
        clone_modes=("icl", "x_vector"),
        max_text_chars=40,
    )


async def _clone_time(url: str, parallel: int) -> tuple[float, Any]:
    provider = _Tone(ServiceConfig(clone_url=url, max_parallel=parallel, retry=RetryOptions()))
    reference = VoiceReference(audio=reference_wav(), transcript="the reference says this")
    started = time.monotonic()
    result = await provider.clone(
        CloneRequest(text=" ".join(SENTENCES), reference=reference, language="en")
    )
    elapsed = time.monotonic() - started
    await provider.aclose()
    return elapsed, result


async def test_a_remote_provider_fans_a_long_text_out_to_the_service(make_service: Any) -> None:
    service, script = scripted_service(make_service, ToneEngine(delay=0.3))
    sequential, one_by_one = await _clone_time(service.url, parallel=1)
    parallel, fanned = await _clone_time(service.url, parallel=6)
    print(f"6 chunks: fan-out {parallel:.2f} s vs one by one {sequential:.2f} s")
    assert parallel < sequential * 0.6
    # The same voice and mode for every chunk, and the same audio either way.
    assert fanned.mode == one_by_one.mode == "icl"
    assert fanned.duration == pytest.approx(one_by_one.duration, abs=0.01)
    # Six concurrent chunks of one new voice upload it once.
    assert script.count("PUT", "/voices/" + sha(reference_wav())) == 1
    assert service.jobs == 12  # 6 chunks, twice: nothing lost, nothing generated twice


async def test_a_reference_is_decoded_once_however_many_clones_use_it(
    make_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tts_router.provider as provider_module

    calls: list[int] = []
    real = provider_module.decode_audio

    def counting(audio: bytes, *args: Any) -> Any:
        calls.append(len(audio))
        return real(audio, *args)

    monkeypatch.setattr(provider_module, "decode_audio", counting)
    service: Service = make_service()
    provider = _Tone(ServiceConfig(clone_url=service.url))
    reference = VoiceReference(audio=reference_wav(seed=4242), transcript="it says this")
    for text in ("One.", "Two.", "Three."):
        await provider.clone(CloneRequest(text=text, reference=reference, language="en"))
    await provider.aclose()
    assert calls == [len(reference.audio)]


async def test_a_remote_answer_is_decoded_once_and_passed_on_as_it_came(
    make_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tts_router.http as http_module
    import tts_router.provider as provider_module

    decoded: list[bytes] = []
    real = http_module.validate_output_wav

    def counting(wav: bytes, **kwargs: Any) -> Any:
        decoded.append(wav)
        return real(wav, **kwargs)

    monkeypatch.setattr(http_module, "validate_output_wav", counting)
    monkeypatch.setattr(provider_module, "validate_output_wav", counting)
    service: Service = make_service()
    provider = _Tone(ServiceConfig(clone_url=service.url))
    reference = VoiceReference(audio=reference_wav(), transcript="it says this")
    result = await provider.clone(CloneRequest(text="One.", reference=reference, language="en"))
    await provider.aclose()
    # The client checked the service's WAV once, and the result is those very bytes.
    assert decoded == [result.audio]
    # ...and the result says how long they are.
    assert result.duration == pytest.approx(decode_audio(result.audio, OUTPUT_LIMITS).duration)


class _WideTone(_Tone):
    static_capabilities: ClassVar[Capabilities] = _Tone.static_capabilities.model_copy(
        update={"max_text_chars": 5_000}
    )


async def test_parts_never_exceed_the_limit_a_service_declares(make_service: Any) -> None:
    service: Service = make_service(max_text_chars=100)
    provider = _WideTone(ServiceConfig(clone_url=service.url))
    assert provider.capabilities.max_text_chars == 5_000  # its own, until it has asked
    assert (await provider.health()).ok
    assert provider.capabilities.max_text_chars == 100  # what /health declared
    text = " ".join(SENTENCES * 3)  # 700 characters: more than one request may carry
    reference = VoiceReference(audio=reference_wav(), transcript="it says this")
    result = await provider.clone(CloneRequest(text=text, reference=reference, language="en"))
    await provider.aclose()
    # Every part was taken (none refused as text_too_long), so the text went as >= 7 parts,
    # and the result says so once.
    assert result.duration > 0 and service.jobs >= 7
    chunked = [w for w in result.warnings if "chunks joined" in w]
    assert chunked == [f"text was spoken in {service.jobs} chunks joined with crossfades"]
