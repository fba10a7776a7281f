"""What the router adds to a direct POST of the same job to the same service.

A tone service (the real protocol service over a fake engine that sleeps ``--engine-ms`` per
call) runs on 127.0.0.1. The same clone is timed as ``Router.clone`` (through a RemoteProvider:
validation, the reference check, the client's retry layer, result validation) and as a direct
``POST /clone`` with the already uploaded voice id. Done for a 3 s reference and a 6.4 MB one
(the size of the seeds' reference), then for the 2,550-character text as seconds of audio per
second of wall time (medians of ``--calls``). Ratios from one run; nothing is asserted.

    python bench/bench_router_overhead.py [--calls 20] [--engine-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from core_support.tone_service import RATE, ToneEngine, sha

from tts_router import CloneRequest, Router, Settings, VoiceReference
from tts_router.provider import Capabilities
from tts_router.remote import RemoteProvider, ServiceConfig
from tts_router.serving import create_app, serve_in_thread
from tts_router.testing import fake_capabilities

LONG = Path(__file__).resolve().parents[2] / "shared" / "data" / "texts" / "long.txt"


class Tone(RemoteProvider):
    id: ClassVar[str] = "tone"  # type: ignore[misc]
    static_capabilities: ClassVar[Capabilities] = fake_capabilities(  # type: ignore[misc]
        operations=("clone",), languages=("en",), clone_modes=("icl",), max_text_chars=5_000
    )


def _reference(seconds: float, rate: int, channels: int) -> bytes:
    noise = np.random.default_rng(0).standard_normal((int(seconds * rate), channels))
    buffer = io.BytesIO()
    sf.write(buffer, 0.2 * noise / np.abs(noise).max(), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


async def _median(call: object, calls: int) -> float:
    times = []
    for _ in range(calls + 1):
        started = time.perf_counter()
        await call()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first pays for connections and caches


async def main(calls: int, engine_ms: float) -> None:
    engine = ToneEngine(delay=engine_ms / 1000)
    with serve_in_thread(create_app(engine)) as url:
        router = Router(providers=[Tone(ServiceConfig(clone_url=url))], settings=Settings.load({}))
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            cases = {
                "3 s reference": _reference(3.0, RATE, 1),
                "6.4 MB reference": _reference(33.0, 48_000, 2),
            }
            for name, audio in cases.items():
                reference = VoiceReference(audio=audio, transcript="what the reference says")
                request = CloneRequest(text="Hello there.", reference=reference, language="en")
                await router.clone(request)  # uploads the voice once
                body = {
                    "text": "Hello there.",
                    "language": "en",
                    "voice_id": sha(audio),
                    "transcript": "what the reference says",
                }
                routed = await _median(lambda r=request: router.clone(r), calls)
                direct = await _median(lambda b=body: http.post("/clone", json=b), calls)
                size = len(audio) / 1e6
                print(
                    f"{name:18s} ({size:4.1f} MB): Router.clone {routed * 1000:6.1f} ms, "
                    f"direct POST {direct * 1000:6.1f} ms, overhead {routed / direct - 1:+.1%}"
                )

            text = LONG.read_text().strip() if LONG.exists() else "A sentence of text. " * 127
            audio = cases["3 s reference"]
            reference = VoiceReference(audio=audio, transcript="what the reference says")
            request = CloneRequest(text=text, reference=reference, language="en")
            result = await router.clone(request)
            routed_rate = result.duration / await _median(lambda: router.clone(request), calls)
            body = {"text": text, "language": "en", "voice_id": sha(audio), "transcript": "x"}
            response = await http.post("/clone", json=body)
            seconds = float(response.headers["x-tts-audio-seconds"])
            direct_rate = seconds / await _median(lambda: http.post("/clone", json=body), calls)
            print(
                f"{len(text)}-character text: Router.clone {routed_rate:.1f} s of audio per s, "
                f"one whole-text POST {direct_rate:.1f}: ratio {routed_rate / direct_rate:.2f}"
            )
        await router.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--engine-ms", type=float, default=50.0)
    options = parser.parse_args()
    asyncio.run(main(options.calls, options.engine_ms))
