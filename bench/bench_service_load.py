"""Load and faults against two real service processes: nothing lost, nothing generated twice,
and abandoned work that costs no engine time.

1. **Faults.** 100 clone jobs through a balancer (sticky by ``Idempotency-Key``, as a
   multi-instance deployment must be) that injects faults into 20 % of connections (resets
   before or during the answer, stalls past the client's read timeout, 502s after the work was
   done) in front of two service processes running a latency engine and sharing a voice
   directory. Prints p50/p95/max latency, the faults, jobs lost (failed) and jobs with a chunk
   generated more than once (the engines' call logs, per job).
2. **Cancellation.** Long jobs whose clients leave after their first chunk started, then one
   short request, against a service that cancels abandoned work and one that never does
   (an abandonment grace longer than the run), in the same run. Prints the abandoned chunks
   generated and engine seconds spent in each, and the short request's wait.

Engine times are the latency engine's (sleeps), so the numbers are about the service's
scheduling, not about any model; ratios within one run are what mean something.

    python bench/bench_service_load.py [--jobs 100] [--fault-rate 0.2] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from core_support.balancer import Balancer
from core_support.latency_service import engine_log, spawn
from core_support.tone_service import reference_wav, sha

from tts_router.client_options import RetryOptions, Timeouts
from tts_router.errors import TTSRouterError
from tts_router.http import ServiceClient
from tts_router.protocol import CloneBody
from tts_router.text import split_text

PER_CALL, PER_ITEM, CHUNK_CHARS = 0.05, 0.02, 60
ENGINE = ("--per-call", str(PER_CALL), "--per-item", str(PER_ITEM))
ENGINE += ("--chunk-chars", str(CHUNK_CHARS), "--max-batch", "16")
REF = reference_wav()


def job_text(index: int) -> str:
    """A unique text of 1 to 4 chunks; every chunk names its job."""
    sentences = 1 + index % 4
    return " ".join(
        f"Job {index:03d} says sentence {s} of its text here." for s in range(sentences)
    )


async def faults(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as voices,
        spawn(None, *ENGINE, "--voices-dir", voices) as (url_a, _),
        spawn(None, *ENGINE, "--voices-dir", voices) as (url_b, _),
    ):
        ports = [int(url.rsplit(":", 1)[1]) for url in (url_a, url_b)]
        with Balancer(
            ports, mode="by_key", fault_rate=args.fault_rate, seed=args.seed, stall_s=3.0
        ) as balancer:
            client = ServiceClient(
                balancer.url,
                provider="bench",
                timeouts=Timeouts(read=2.0),
                retry=RetryOptions(
                    max_attempts=12, initial_backoff=0.1, max_backoff=1.0, deadline=120
                ),
            )
            latencies: list[float] = []
            lost: list[str] = []

            async def one(index: int) -> None:
                body = CloneBody(text=job_text(index), language="en", voice_id=sha(REF))
                started = time.monotonic()
                try:
                    await client.clone(body, reference=REF)
                except TTSRouterError as exc:
                    lost.append(f"job {index}: {exc.code}")
                    return
                latencies.append(time.monotonic() - started)

            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(args.jobs)))
            wall = time.monotonic() - started
            await client.aclose()
            injected = {k: v for k, v in balancer.faults.items() if k != "pass"}
            connections = sum(balancer.faults.values())
        calls = [call for url in (url_a, url_b) for call in engine_log(url)["calls"]]
    generated = Counter(text.split(" says")[0] for call in calls for text in call)
    duplicated = [
        f"Job {i:03d}"
        for i in range(args.jobs)
        if generated[f"Job {i:03d}"] > len(split_text(job_text(i), CHUNK_CHARS))
    ]
    quantiles = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [0.0] * 19
    print(f"1. {args.jobs} jobs, 2 processes, {args.fault_rate:.0%} of connections faulted")
    print(f"   connections {connections}, faults {dict(sorted(injected.items()))}")
    print(
        f"   latency p50 {statistics.median(latencies):.2f} s, p95 {quantiles[18]:.2f} s, "
        f"max {max(latencies):.2f} s; all done in {wall:.1f} s"
    )
    print(
        f"   lost {len(lost)} {lost[:5]}, duplicated generations {len(duplicated)} {duplicated[:5]}"
    )


def long_text(job: int) -> str:
    """20 chunks, each naming its job as abandoned."""
    return " ".join(f"Gone {job} part {p:02d} of a long text that is long." for p in range(20))


async def cancellation(args: argparse.Namespace) -> None:
    print(f"2. {args.abandoned} long jobs abandoned after their first chunk, then one short job")
    for label, grace in (("cancels abandoned work", "0.5"), ("never cancels", "1000")):
        with spawn(None, *ENGINE, "--grace", grace, "--max-batch", "4") as (url, _):
            async with httpx.AsyncClient(base_url=url, timeout=120) as http:
                body = {"voice_id": sha(REF), "language": "en"}
                await http.put(f"/voices/{sha(REF)}", content=REF)
                tasks = [
                    asyncio.ensure_future(http.post("/clone", json={**body, "text": long_text(i)}))
                    for i in range(args.abandoned)
                ]
                while not engine_log(url)["calls"]:
                    await asyncio.sleep(0.02)
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await asyncio.sleep(float(grace) if float(grace) < 10 else 0.5)
                started = time.monotonic()
                short = await http.post("/clone", json={**body, "text": "Short and late."})
                waited = time.monotonic() - started
                assert short.status_code == 200, short.text
                while (log := engine_log(url))["running"] or log["pending"]:
                    await asyncio.sleep(0.1)
        abandoned = [call for call in log["calls"] if any("Gone" in t for t in call)]
        chunks = sum("Gone" in text for call in abandoned for text in call)
        seconds = sum(PER_CALL + PER_ITEM * len(call) for call in abandoned)
        total = args.abandoned * 20
        print(
            f"   {label:>22}: {chunks:3d}/{total} abandoned chunks generated "
            f"({seconds:.1f} engine-s); the short job waited {waited:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--abandoned", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(faults(args))
    asyncio.run(cancellation(args))


if __name__ == "__main__":
    main()
