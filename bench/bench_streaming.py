"""Streaming and fan-out for a long text, each printed as a ratio measured in one run.

1. **Time to first audio** (tiny Qwen service). The seeds' 2,550-character English text
   (``../shared/data/texts/long.txt``) over a socket to the protocol service running the tiny
   random-weight Qwen3-TTS model (built offline, real qwen-tts code, CPU): the first chunk of a
   streamed ``POST /clone`` (``Accept: application/x-tts-stream``) against the same text as one
   whole ``POST /clone`` (the service's best path: every chunk in one batch), alternately, the
   medians of a few repeats, for the engine's default token cap (2,048: 400-character chunks)
   and the test engines' (64: 25-character chunks). Goal: <= 0.1. The tiny model stops every
   chunk after 2 frames, so a chunk costs a fixed prefill and codec pass, not steps in
   proportion to its text as a real model's would; on a CPU each further row of a batch costs
   about a third of a row alone.
2. **Time to first audio and fan-out** (a latency model calibrated on the seeds' A10G
   figures: 87.6 s for 800 characters, 11.1 s for 56, i.e. ``a + b * characters`` with
   a = 5.34 s, b = 0.103 s per character, for the longest row of a batched call; each further
   row adds ``--row-cost`` of the call), scaled down ``--scale`` times so the run takes
   seconds. The whole text as one sequential request to one service process (one pass over
   2,550 characters, as the seed apps generate) against the same text fanned out by a
   ``RemoteProvider`` (``max_text_chars`` chunks, ``max_parallel`` in flight) through a
   round-robin balancer over ``--processes`` service processes on 127.0.0.1 sharing a voice
   directory. Goal: <= 0.1 with 8 processes. Also: the first chunk of a stream to one process.

Set ``OMP_NUM_THREADS=1`` on a shared CPU. Prints; asserts nothing.

    OMP_NUM_THREADS=1 python bench/bench_streaming.py [--repeats 3] [--scale 25] [--processes 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from core_support.balancer import Balancer  # noqa: E402
from core_support.latency_service import engine_log, spawn  # noqa: E402
from core_support.tone_service import reference_wav  # noqa: E402

from tts_router import CloneRequest, VoiceReference  # noqa: E402
from tts_router.client_options import RetryOptions, Timeouts  # noqa: E402
from tts_router.http import ServiceClient  # noqa: E402
from tts_router.protocol import CloneBody  # noqa: E402
from tts_router.provider import Capabilities  # noqa: E402
from tts_router.remote import RemoteProvider, ServiceConfig  # noqa: E402
from tts_router.testing import fake_capabilities  # noqa: E402
from tts_router.text import split_text  # noqa: E402

LONG_TEXT = ROOT.parent / "shared" / "data" / "texts" / "long.txt"
# The seeds' A10G figures: 87.6 s for 800 characters, 11.1 s for 56 (one call each).
A10G_PER_CHAR = (87.6 - 11.1) / (800 - 56)
A10G_PER_CALL = 11.1 - 56 * A10G_PER_CHAR


def _median(values: list[float]) -> float:
    return statistics.median(values)


async def _first_and_whole(
    client: ServiceClient, body: CloneBody, reference: bytes
) -> tuple[float, float, float, int]:
    """(first chunk, stream end, whole request) seconds and the stream's chunk count."""
    started = time.perf_counter()
    first, count = None, 0
    async for _chunk in client.stream_clone(body, reference=reference):
        first = first if first is not None else time.perf_counter() - started
        count += 1
    end = time.perf_counter() - started
    started = time.perf_counter()
    await client.clone(body, reference=reference)
    whole = time.perf_counter() - started
    assert first is not None
    return first, end, whole, count


# -- 1. the tiny Qwen service ---------------------------------------------------------------------


def qwen_time_to_first_audio(text: str, repeats: int, caps: list[int]) -> None:
    import torch
    from tts_router_qwen_modal.fixtures import build_tiny_model
    from tts_router_qwen_modal.service import create_service_app

    from tts_router.serving import serve_in_thread

    print(
        f"1. tiny Qwen service, {len(text):,} characters, torch threads "
        f"{torch.get_num_threads()}, median of {repeats} (max_new_tokens sets the chunk size)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "base", early_eos=True)
        for cap in caps:
            # Early-EOS chunks are 0.16 s of audio whatever their length: no "too short" check.
            options = {"device": "cpu", "max_new_tokens": cap, "min_seconds_per_char": 0}
            app = create_service_app(model, engine_options=options)
            with serve_in_thread(app) as url:
                while app.state.worker.load_state != "ready":
                    time.sleep(0.05)
                results = asyncio.run(_qwen_runs(url, text, repeats))
            first = _median([r[0] for r in results])
            end = _median([r[1] for r in results])
            whole = _median([r[2] for r in results])
            print(
                f"   max_new_tokens {cap:5d}, {results[0][3]:3d} chunks: first audio "
                f"{first:.3f} s, stream end {end:.3f} s, whole text in one POST {whole:.3f} s"
            )
            print(f"     ratio first audio / whole  : {first / whole:8.3f}   (goal <= 0.1)")


async def _qwen_runs(url: str, text: str, repeats: int) -> list[tuple[float, float, float, int]]:
    client = ServiceClient(url, provider="qwen")
    reference = _reference_24k()
    voice = VoiceReference(audio=reference).content_id
    body = CloneBody(text=text, language="en", voice_id=voice, transcript="Reference words.")
    await _first_and_whole(client, body, reference)  # warm-up: prompt built, paths compiled
    results = [await _first_and_whole(client, body, reference) for _ in range(repeats)]
    await client.aclose()
    return results


def _reference_24k() -> bytes:
    import numpy as np

    from tts_router.audio import encode_wav

    noise = np.random.default_rng(0).standard_normal(3 * 24_000)
    return encode_wav(0.1 * noise / np.abs(noise).max(), 24_000)


# -- 2. the A10G latency model ---------------------------------------------------------------------


class _Modelled(RemoteProvider):
    id: ClassVar[str] = "modelled"  # type: ignore[misc]
    static_capabilities: ClassVar[Capabilities] = fake_capabilities(  # type: ignore[misc]
        operations=("clone",), languages=("en",), clone_modes=("icl",), max_text_chars=2_000
    )


@contextlib.contextmanager
def _services(count: int, flags: list[str]) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(spawn(None, *flags))[0] for _ in range(count)]
        yield urls


def latency_model(text: str, args: argparse.Namespace) -> None:
    scale = args.scale
    per_call, per_char = A10G_PER_CALL / scale, A10G_PER_CHAR / scale
    row = per_call * args.row_cost  # each extra row of a batch
    with tempfile.TemporaryDirectory() as voices:
        flags = [
            "--per-call", f"{per_call - row}", "--per-item", f"{row}",
            "--per-char", f"{per_char}", "--chunk-chars", "100000",
            "--voices-dir", voices, "--batch-window", f"{args.batch_window}",
        ]  # fmt: skip
        with _services(args.processes, flags) as urls:
            ports = [int(url.rsplit(":", 1)[1]) for url in urls]
            with Balancer(ports) as balancer:
                sequential, fanned, first, stream_end, chunks = asyncio.run(
                    _latency_runs(text, urls[0], balancer.url, args)
                )
            # Each process's last engine call: its batch of the fan-out's chunks.
            last = [len(engine_log(url)["calls"][-1]) for url in urls]
    predicted = A10G_PER_CALL + A10G_PER_CHAR * len(text)
    print(
        f"2. latency model (A10G: {A10G_PER_CALL:.2f} s + {A10G_PER_CHAR:.4f} s/char for the "
        f"longest row, +{args.row_cost:.0%} a row), time scaled down {scale:g}x"
    )
    print(
        f"   one sequential request        : {sequential:8.3f} s  "
        f"({sequential * scale:6.1f} s at A10G scale; model {predicted:.1f} s)"
    )
    print(
        f"   fan-out, {args.processes} processes          : {fanned:8.3f} s  "
        f"({fanned * scale:6.1f} s; {chunks} chunks of <= {args.chunk_chars} characters, "
        f"{args.parallel} in flight, batch window {args.batch_window:g} s)"
    )
    print(f"   ratio fan-out / sequential     : {fanned / sequential:8.3f}   (goal <= 0.1)")
    print(f"   rows in each process's last engine call: {last} (a chunk each, batched)")
    print(
        f"   stream to one process: first audio {first:.3f} s ({first * scale:.1f} s), "
        f"last {stream_end:.3f} s; first / sequential {first / sequential:.3f}"
    )


async def _latency_runs(
    text: str, one_url: str, balanced_url: str, args: argparse.Namespace
) -> tuple[float, float, float, float, int]:
    reference = reference_wav()
    patient = RetryOptions(deadline=3_600)
    timeouts = Timeouts(read=600)
    # The seeds' way: the whole text in one request, one pass (the engine does not split).
    client = ServiceClient(one_url, provider="modelled", retry=patient, timeouts=timeouts)
    voice = VoiceReference(audio=reference, transcript="the reference says this")
    body = CloneBody(text=text, language="en", voice_id=voice.content_id, transcript="words")
    await client.clone(body.model_copy(update={"text": "Warm up."}), reference=reference)
    started = time.perf_counter()
    await client.clone(body, reference=reference)
    sequential = time.perf_counter() - started
    # A stream to the same process: the service chunks the text itself (its split is off
    # in this engine, so the first chunk, cut short, and the rest as one piece).
    started = time.perf_counter()
    first, end = None, 0.0
    async for _chunk in client.stream_clone(body, reference=reference):
        first = first if first is not None else time.perf_counter() - started
    end = time.perf_counter() - started
    await client.aclose()

    class _Fanned(_Modelled):
        static_capabilities: ClassVar[Capabilities] = fake_capabilities(  # type: ignore[misc]
            operations=("clone",),
            languages=("en",),
            clone_modes=("icl",),
            max_text_chars=args.chunk_chars,
        )

    config = ServiceConfig(
        clone_url=balanced_url, max_parallel=args.parallel, retry=patient, timeouts=timeouts
    )
    provider = _Fanned(config)
    request = CloneRequest(text=text, reference=voice, language="en")
    await provider.clone(request.model_copy(update={"text": "Warm up."}))
    started = time.perf_counter()
    await provider.clone(request)
    fanned = time.perf_counter() - started
    await provider.aclose()
    assert first is not None
    return sequential, fanned, first, end, len(split_text(text, args.chunk_chars))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        nargs="+",
        default=[2048, 64],
        help="token caps to run (2048: the engine's default, 400-character chunks; 64: the "
        "test engines', 25-character chunks)",
    )
    parser.add_argument("--scale", type=float, default=25.0, help="latency model speed-up")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--chunk-chars", type=int, default=160, help="fan-out chunk size")
    parser.add_argument("--parallel", type=int, default=32, help="fan-out chunks in flight")
    parser.add_argument(
        "--batch-window",
        type=float,
        default=0.05,
        help="seconds a service waits for company before a batch (scaled time; the chunks of "
        "one fan-out reach 8 processes over ~50 ms on a shared 2-core machine)",
    )
    parser.add_argument("--row-cost", type=float, default=0.05, help="share of a call per row")
    parser.add_argument("--skip-qwen", action="store_true")
    args = parser.parse_args()
    text = LONG_TEXT.read_text(encoding="utf-8").strip()
    if not args.skip_qwen:
        qwen_time_to_first_audio(text, args.repeats, args.max_new_tokens)
    latency_model(text, args)


if __name__ == "__main__":
    main()
