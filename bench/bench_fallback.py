"""How long a host waits before the router falls back, with the client's default retry policy.

Two remote providers: the first one's service is unreachable (a closed port) or answers 502 to
every request; the second is an in-process fake that answers at once. The time to a result is
the first provider's whole retry budget (full-jitter backoff, 6 attempts by default), which the
circuit breaker no longer cuts short. Printed as median and range over a few runs, next to the
time of a request that did not need to fall back, measured in the same run.

    python bench/bench_fallback.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time
from typing import ClassVar

from tts_router import CloneRequest, Router, Settings, VoiceReference
from tts_router.provider import Capabilities
from tts_router.remote import RemoteProvider, ServiceConfig
from tts_router.testing import FakeProvider, fake_capabilities, make_reference_wav


class Primary(RemoteProvider):
    id: ClassVar[str] = "primary"  # type: ignore[misc]
    static_capabilities: ClassVar[Capabilities] = fake_capabilities(  # type: ignore[misc]
        operations=("clone",), languages=("en",), clone_modes=("icl",)
    )


async def _answer_502(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _time_one(url: str | None, request: CloneRequest) -> tuple[float, str]:
    providers = [FakeProvider(provider_id="backup", caps=fake_capabilities(clone_modes=("audio",)))]
    if url is not None:
        providers.insert(0, Primary(ServiceConfig(clone_url=url)))
    router = Router(providers=providers, settings=Settings.load({}))
    started = time.perf_counter()
    result = await router.clone(request)
    elapsed = time.perf_counter() - started
    await router.aclose()
    return elapsed, result.provider


async def main(runs: int) -> None:
    request = CloneRequest(
        text="Hello there.",
        language="en",
        reference=VoiceReference(audio=make_reference_wav(), transcript="Hello."),
    )
    server = await asyncio.start_server(_answer_502, "127.0.0.1", 0)
    bad_gateway = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    cases = {
        "no fallback needed": None,
        "first service unreachable": f"http://127.0.0.1:{_closed_port()}",
        "first service answers 502": bad_gateway,
    }
    baseline = 0.0
    for name, url in cases.items():
        times = []
        for _ in range(runs):
            elapsed, provider = await _time_one(url, request)
            assert provider == "backup"
            times.append(elapsed)
        median = statistics.median(times)
        baseline = baseline or median
        print(
            f"{name:28s} median {median:7.3f} s  (min {min(times):.3f}, max {max(times):.3f}; "
            f"{median / baseline:8.0f}x the direct request)"
        )
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
