"""Benchmark the two speed levers of the Qwen engine on the tiny random model, in one run.

1. Batching: the chunks of a long text generated in ONE ``generate_voice_clone`` call versus one
   call per chunk.
2. Prompt cache: cloning from a cached voice prompt versus rebuilding it from the reference
   audio on every call (what passing ``ref_audio`` does).

Times are medians of a few repeats, on whatever CPU/GPU runs this; only the ratios within one
run mean anything (the tiny model's absolute times say nothing about real checkpoints). The
model has EOS disabled, so every generation does exactly ``max_new_tokens`` steps of work.

    python bench/bench_qwen_tiny.py [--chunks 8] [--max-new-tokens 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TEXTS = [
    "The first sentence of a long text.",
    "A second one follows it closely.",
    "Then a third, slightly longer sentence comes along.",
    "Four is short.",
    "Fifth: numbers like 42 and 1984 appear.",
    "The sixth sentence talks about the weather.",
    "Seventh, a question? Perhaps.",
    "And the eighth closes the paragraph.",
]


def paired_medians(
    first: Callable[[], Any], second: Callable[[], Any], repeats: int
) -> tuple[float, float]:
    """Median times of two variants run alternately, so load on a shared machine drifts over
    both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch
    from qwen_tts import Qwen3TTSModel
    from tts_router_qwen_modal.fixtures import build_tiny_model

    texts = (TEXTS * (args.chunks // len(TEXTS) + 1))[: args.chunks]
    gen = {"max_new_tokens": args.max_new_tokens, "language": "English"}
    rng = np.random.default_rng(0)
    reference = ((0.1 * rng.standard_normal(int(3.0 * 24_000))).astype(np.float32), 24_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_model(Path(tmp) / "base", eos_disabled=True)
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
        model = Qwen3TTSModel.from_pretrained(str(path), device_map=device, dtype=torch.float32)
        prompt = model.create_voice_clone_prompt(ref_audio=reference, ref_text="Reference words.")
        model.generate_voice_clone(text=texts[:2], voice_clone_prompt=prompt, **gen)  # warm-up

        batched, per_chunk = paired_medians(
            lambda: model.generate_voice_clone(text=texts, voice_clone_prompt=prompt, **gen),
            lambda: [
                model.generate_voice_clone(text=t, voice_clone_prompt=prompt, **gen) for t in texts
            ],
            args.repeats,
        )
        cached, recomputed = paired_medians(
            lambda: model.generate_voice_clone(text=texts[0], voice_clone_prompt=prompt, **gen),
            lambda: model.generate_voice_clone(
                text=texts[0], ref_audio=reference, ref_text="Reference words.", **gen
            ),
            args.repeats * 3,
        )
        # What the cache saves per request: building the prompt (codec encode + x-vector).
        build, _ = paired_medians(
            lambda: model.create_voice_clone_prompt(ref_audio=reference, ref_text="Words."),
            lambda: None,
            args.repeats * 3,
        )

    print(
        f"tiny Qwen3-TTS on {device}, torch threads {torch.get_num_threads()}, "
        f"{args.chunks} chunks, max_new_tokens {args.max_new_tokens}, median of repeats"
    )
    print(f"  batched chunks, one call   : {batched:8.3f} s")
    print(f"  one call per chunk         : {per_chunk:8.3f} s")
    print(
        f"  ratio batched / per-chunk  : {batched / per_chunk:8.2f}x "
        f"({per_chunk / batched:.1f}x faster batched)"
    )
    print(f"  clone, cached prompt       : {cached:8.3f} s")
    print(f"  clone, prompt recomputed   : {recomputed:8.3f} s")
    print(f"  building the prompt alone  : {build:8.3f} s (3 s reference; saved by a cache hit)")
    print(f"  ratio cached / recomputed  : {cached / recomputed:8.2f}x")


if __name__ == "__main__":
    main()
