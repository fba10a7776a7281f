"""A real protocol service over a fake engine: tones instead of speech, no torch.

Used by the serving tests and the client tests: the service, its guards, batching and
idempotency are real; only the model is fake.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import numpy as np

from tts_router.audio import encode_wav
from tts_router.errors import TruncatedOutputError, TTSRouterError, UnsupportedOperationError
from tts_router.protocol import HealthInfo
from tts_router.provider import Capabilities
from tts_router.remote import RemoteProvider
from tts_router.serving import CloneJob, DesignJob, EngineResult
from tts_router.testing import fake_capabilities

RATE = 16_000


class ToneEngine:
    """A fake engine: a tone per job, its length proportional to the text."""

    def __init__(
        self,
        *,
        design: bool = False,
        delay: float = 0.0,
        load_gate: threading.Event | None = None,
    ) -> None:
        self.can_design = design
        self.delay = delay
        self.load_gate = load_gate
        self.loaded = False
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self.crash = False
        self.nan = False

    def load(self) -> None:
        if self.load_gate is not None:
            self.load_gate.wait(timeout=30)
        self.loaded = True

    def health(self) -> HealthInfo:
        return HealthInfo(
            status="ok" if self.loaded else "loading",
            model="tone-1",
            variant="tone",
            device="cpu",
            dtype="float32",
            attention="none",
            loaded=self.loaded,
            version="0",
            operations=["clone", "design"] if self.can_design else ["clone"],
        )

    def languages(self) -> Sequence[str]:
        return ("auto", "en", "de")

    def _tone(self, text: str, mode: Any) -> EngineResult:
        seconds = 0.1 + 0.01 * len(text)
        t = np.arange(int(seconds * RATE)) / RATE
        samples = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        if self.nan:
            samples[0] = np.nan
        return EngineResult(samples, RATE, mode, "tone-1", timings={"generate": 0.001})

    def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(len(jobs))
        time.sleep(self.delay)
        if self.crash:
            raise RuntimeError(f"engine bug while reading {jobs[0].text}")
        out: list[EngineResult | TTSRouterError] = []
        for job in jobs:
            if "TRUNCATE" in job.text:
                out.append(TruncatedOutputError("generation hit the token cap"))
            else:
                out.append(self._tone(job.text, "icl" if job.transcript else "x_vector"))
        return out

    def design(self, job: DesignJob) -> EngineResult:
        if not self.can_design:
            raise UnsupportedOperationError("no design model")
        time.sleep(self.delay)
        return self._tone(job.text, "design")


def reference_wav(seconds: float = 1.5, amplitude: float = 0.2, seed: int = 0) -> bytes:
    noise = np.random.default_rng(seed).standard_normal(int(seconds * RATE))
    return encode_wav(amplitude * noise / np.abs(noise).max(), RATE)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


REF_B64 = b64(reference_wav())
"""The default reference, as a ``/clone`` body carries it inline."""


def inline_body(text: str) -> dict[str, Any]:
    """A ``/clone`` body for ``text`` with :data:`REF_B64` inline."""
    return {"text": text, "audio_base64": REF_B64}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


class ToneRemote(RemoteProvider):
    """A remote provider (clone, English) for a tone service."""

    id: ClassVar[str] = "tone-remote"  # type: ignore[misc]
    static_capabilities: ClassVar[Capabilities] = fake_capabilities(  # type: ignore[misc]
        operations=("clone",), languages=("en",)
    )


class Service:
    """A running app, its engine (None for a service over another engine), and a client."""

    def __init__(self, app: Any, engine: ToneEngine | None, url: str, timeout: float = 30) -> None:
        self.app = app
        self.engine = engine
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=timeout)

    @property
    def jobs(self) -> int:
        return int(self.app.state.stats.engine_jobs)

    def wait_ready(self, within: float = 10) -> Service:
        deadline = time.monotonic() + within
        while self.client.get("/health").json()["status"] != "ok":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return self
