"""Concurrency: the C library is global state; the engine lock must make it safe."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from tts_router_espeak._pitch import median_f0
from tts_router_espeak.provider import EspeakProvider

from tts_router.audio import OUTPUT_LIMITS, decode_audio
from tts_router.models import DesignRequest, SpeechResult

REQUESTS = [
    DesignRequest(text="The first voice speaks slowly and low.", instruct="a slow, deep man"),
    DesignRequest(text="Die zweite Stimme ist hoch.", instruct="a high woman", language="de"),
    DesignRequest(text="La troisième voix est rapide.", instruct="a fast child", language="fr"),
    DesignRequest(text="The fourth voice is calm.", instruct="a calm old woman"),
    DesignRequest(text="La quinta voz es monótona.", instruct="a monotone voice", language="es"),
    DesignRequest(text="La sesta voce è giovane.", instruct="a young man", language="it"),
]


def _fingerprint(result: SpeechResult) -> tuple[float, float]:
    samples = decode_audio(result.audio, OUTPUT_LIMITS).samples
    f0 = median_f0(samples, result.sample_rate)
    assert f0 is not None
    return result.duration, f0


def _same_audio(a: SpeechResult, b: SpeechResult) -> None:
    # eSpeak output is not bit-exact between calls (flutter and noise state carry over), so
    # "the same" is: same length within a few milliseconds and the same pitch.
    (dur_a, f0_a), (dur_b, f0_b) = _fingerprint(a), _fingerprint(b)
    assert dur_a == pytest.approx(dur_b, abs=0.02)
    assert f0_a == pytest.approx(f0_b, rel=0.03)


async def test_concurrent_async_syntheses_match_sequential() -> None:
    provider = EspeakProvider()
    sequential = [await provider.design(r) for r in REQUESTS]
    concurrent = await asyncio.gather(*(provider.design(r) for r in REQUESTS * 3))
    for index, result in enumerate(concurrent):
        _same_audio(result, sequential[index % len(REQUESTS)])


async def test_synthesis_does_not_block_the_event_loop() -> None:
    provider = EspeakProvider()
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    long_text = " ".join(r.text for r in REQUESTS[:1] * 60)
    await provider.design(DesignRequest(text=long_text, instruct="a man"))
    done.set()
    await task
    assert ticks >= 5


def test_threads_using_the_sync_facade_match_sequential() -> None:
    provider = EspeakProvider()
    sequential = [provider.sync.design(r) for r in REQUESTS]
    with ThreadPoolExecutor(max_workers=6) as pool:
        threaded = list(pool.map(provider.sync.design, REQUESTS * 4))
    for index, result in enumerate(threaded):
        _same_audio(result, sequential[index % len(REQUESTS)])
    assert np.all([r.duration > 0.5 for r in threaded])
