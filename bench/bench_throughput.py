"""Batching under load on the tiny Qwen service, each printed as a ratio measured in one run.

16 clients in a closed loop (each sends its next request as soon as the last is answered) and
one client, over a socket to the protocol service running the tiny random-weight Qwen3-TTS
model (real qwen-tts code, CPU, torch on one thread), one short clone per request:

1. Mean rows per generate call at c=16, without seeds and with a distinct seed per request
   (goal >= 14 of 16 for both): with the service's merge window as it ships (it stops
   waiting for full batches once it has measured that they cost as much as two halves), with
   the wait forced on every batch, and without a window (``merge_window_s=0``: what the issue
   measured, two half batches).
2. Throughput (requests per second) at c=16 against c=1.

Rows per generate call count the engine's own ``generate`` calls: an engine that groups rows
by seed makes one call per seed, and the ratio says so. The service runs in this process (a
thread), so the clients share the interpreter with it; ratios within one run are what mean
something.

    OMP_NUM_THREADS=1 python bench/bench_throughput.py [--rounds 24] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import httpx
import numpy as np

from tts_router.audio import encode_wav
from tts_router.models import VoiceReference


@dataclass(frozen=True)
class Run:
    """One load: requests answered, seconds, the engine's generate calls and rows."""

    requests: int
    seconds: float
    calls: int
    rows: int
    full_over_half: float | None = None
    """The service's measured time of a call of 16 over one of 8 (None: not both ran)."""

    @property
    def rows_per_call(self) -> float:
        return self.rows / self.calls if self.calls else 0.0

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def _reference() -> bytes:
    noise = np.random.default_rng(0).standard_normal(3 * 24_000)
    return encode_wav(0.1 * noise / np.abs(noise).max(), 24_000)


async def _load(url: str, app: Any, clients: int, rounds: int, seeds: bool) -> Run:
    engine = app.state.engines[0]
    stats = app.state.stats
    reference = _reference()
    voice = VoiceReference(audio=reference).content_id
    limits = httpx.Limits(max_connections=clients * 2)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        await http.put(f"/voices/{voice}", content=reference)

        async def client(index: int, rounds: int) -> None:
            for round_ in range(rounds):
                body: dict[str, Any] = {
                    "text": f"Client {index} says hello for round {round_}.",
                    "language": "en",
                    "voice_id": voice,
                    "transcript": "Reference words.",
                }
                if seeds:
                    body["seed"] = 1_000 * index + round_
                response = await http.post("/clone", json=body)
                response.raise_for_status()

        await asyncio.gather(*(client(i, 1) for i in range(clients)))  # warm-up, uncounted
        calls, rows = engine.generate_calls, stats.engine_items
        started = time.perf_counter()
        await asyncio.gather(*(client(i, rounds) for i in range(clients)))
        seconds = time.perf_counter() - started
    times = app.state.worker._times["clone"]
    full, half = times.measured(16), times.predict(8)
    ratio = full / half if full and half else None
    calls, rows = engine.generate_calls - calls, stats.engine_items - rows
    return Run(clients * rounds, seconds, calls, rows, ratio)


def _serve(model: Path, merge_window_s: float, measure: Any, force: bool = False) -> Run:
    from tts_router_qwen_modal.service import create_service_app

    from tts_router.serving import serve_in_thread

    options = {"device": "cpu", "min_seconds_per_char": 0}
    app = create_service_app(model, engine_options=options, merge_window_s=merge_window_s)
    if force:  # wait for full batches whatever they cost
        app.state.worker.merging_pays = lambda: True
    with serve_in_thread(app) as url:
        while app.state.worker.load_state != "ready":
            time.sleep(0.05)
        run: Run = asyncio.run(measure(url, app))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=24)
    args = parser.parse_args()

    import torch
    from tts_router_qwen_modal.fixtures import build_tiny_model

    from tts_router.serving import DEFAULT_MERGE_WINDOW_S
    from tts_router.serving.worker import MERGE_PAYS

    torch.set_num_threads(1)
    c, rounds = args.clients, args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "base", early_eos=True)
        merged = DEFAULT_MERGE_WINDOW_S
        runs = {
            "c16": _serve(model, merged, lambda u, a: _load(u, a, c, rounds, False)),
            "c16 seeds": _serve(model, merged, lambda u, a: _load(u, a, c, rounds, True)),
            "c16 forced": _serve(model, merged, lambda u, a: _load(u, a, c, rounds, False), True),
            "c16 seeds, forced": _serve(
                model, merged, lambda u, a: _load(u, a, c, rounds, True), True
            ),
            "c16 no window": _serve(model, 0.0, lambda u, a: _load(u, a, c, rounds, False)),
            "c16 seeds, no window": _serve(model, 0.0, lambda u, a: _load(u, a, c, rounds, True)),
            "c1": _serve(model, merged, lambda u, a: _load(u, a, 1, rounds * 2, False)),
        }
    print(
        f"tiny Qwen service, torch threads {torch.get_num_threads()}, {c} clients x {rounds} "
        f"requests (c=1: {rounds * 2}), merge window {merged * 1000:g} ms unless said"
    )
    for name, run in runs.items():
        print(
            f"  {name:22s}: {run.rows_per_call:5.1f} rows per generate call ({run.calls} calls), "
            f"{run.throughput:6.1f} requests/s"
        )
    for plain, seeded in (("c16", "c16 seeds"), ("c16 forced", "c16 seeds, forced")):
        print(
            f"  rows per call at c={c} ({plain:10s}): {runs[plain].rows_per_call:.1f} without "
            f"seeds, {runs[seeded].rows_per_call:.1f} with a seed per request (goal >= 14 of 16)"
        )
    ratio = runs["c16 forced"].full_over_half
    if ratio is not None:
        print(
            f"  a call of 16 rows took {ratio:.2f}x one of 8 here: the shipped window stops "
            f"waiting for full batches when that is >= {2 * MERGE_PAYS:.1f}x"
        )
    print(
        f"  throughput c={c} / c=1        : {runs['c16'].throughput / runs['c1'].throughput:.2f}x "
        f"without seeds, {runs['c16 seeds'].throughput / runs['c1'].throughput:.2f}x with seeds"
    )
    if runs["c16 seeds"].calls > runs["c16"].calls * 1.5:
        print("  note: seeded requests still split batches (one generate call per seed)")


if __name__ == "__main__":
    main()
