"""Test helpers for providers and host apps: FakeProvider, a contract suite, pytest fixtures.

A plugin author runs the contract suite on their provider with::

    from tts_router.testing import ProviderContract

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def provider(self):
            return MyProvider()

This module needs no pytest: :class:`FakeProvider` and :func:`make_reference_wav` work in any
program (the provider CLIs' ``smoke`` uses them). :class:`ProviderContract` is pytest tests, so
it is imported (with pytest) on first use. The pytest plugin :mod:`tts_router.pytest_plugin`
(``pytest11``) gives host apps the fixtures ``tts_reference_wav``, ``fake_provider`` and
``fake_router``: the whole API, offline and instant.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .audio import DecodedAudio, encode_wav
from .models import CloneMode, CloneRequest, DesignRequest, Operation
from .provider import Capabilities, Provider, Speech

if TYPE_CHECKING:
    from ._contract import ProviderContract

__all__ = [
    "FakeCall",
    "FakeProvider",
    "ProviderContract",
    "fake_capabilities",
    "make_reference_wav",
]

FAKE_SECONDS_PER_CHAR = 0.02


def make_reference_wav(
    seconds: float = 3.0, f0: float = 140.0, sample_rate: int = 24_000, seed: int = 0
) -> bytes:
    """A voice-like test signal: a harmonic tone at ``f0`` with vibrato, pauses and breath.

    Enough like speech for pitch trackers and validators, and made offline in milliseconds.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.03 * np.sin(2 * np.pi * 4.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = (np.sin(2 * np.pi * 3.0 * t) > -0.3).astype(np.float64)  # short gaps, like words
    signal = 0.3 * voiced * syllables + 0.003 * rng.standard_normal(t.size)
    return encode_wav(signal, sample_rate)


def fake_capabilities(
    *,
    operations: Sequence[Operation] = ("clone", "design"),
    languages: Sequence[str] = ("auto", "en", "de", "fr"),
    clone_modes: Sequence[CloneMode] = ("icl", "x_vector"),
    quality: str = "reference",
    max_text_chars: int = 200,
    sample_rate: int = 16_000,
) -> Capabilities:
    """Capabilities for a FakeProvider, with convenient defaults."""
    return Capabilities.model_validate(
        {
            "operations": frozenset(operations),
            "languages": tuple(languages),
            "clone_modes": tuple(clone_modes),
            "quality": quality,
            "max_text_chars": max_text_chars,
            "sample_rate": sample_rate,
        }
    )


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One chunk a FakeProvider was asked to speak."""

    operation: Operation
    text: str
    language: str
    has_transcript: bool


@dataclass
class FakeProvider(Provider):
    """A provider that makes tones instead of speech, instantly and deterministically.

    ``failures`` are raised in order, one per call, before any audio is made (then calls
    succeed); ``calls`` records every chunk; ``healthy=False`` reads as an open circuit.
    """

    provider_id: str = "fake"
    caps: Capabilities = field(default_factory=fake_capabilities)
    latency: float = 0.0
    failures: list[Exception] = field(default_factory=list)
    problem: str | None = None
    healthy: bool = True
    calls: list[FakeCall] = field(default_factory=list)

    @property
    def id(self) -> str:  # type: ignore[override]
        """The id given at construction (fakes of several ids can coexist)."""
        return self.provider_id

    @property
    def capabilities(self) -> Capabilities:
        """As configured."""
        return self.caps

    def missing_configuration(self) -> str | None:
        """As configured with ``problem=``."""
        return self.problem

    @property
    def available(self) -> bool:
        """As configured with ``healthy=``."""
        return self.healthy

    async def _clone(
        self, text: str, language: str, request: CloneRequest, reference: DecodedAudio
    ) -> Speech:
        mode: CloneMode = "icl" if request.reference.has_transcript else "x_vector"
        if mode not in self.caps.clone_modes:
            mode = self.caps.clone_modes[-1]
        return await self._speak("clone", text, language, mode, request.reference.has_transcript)

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        return await self._speak("design", text, language, "design", False)

    async def _speak(
        self, operation: Operation, text: str, language: str, mode: CloneMode, transcript: bool
    ) -> Speech:
        self.calls.append(FakeCall(operation, text, language, transcript))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.failures:
            raise self.failures.pop(0)
        rate = self.caps.sample_rate
        t = np.arange(int(max(len(text), 3) * FAKE_SECONDS_PER_CHAR * rate)) / rate
        tone = 100 + zlib.crc32(text.encode()) % 300  # deterministic, text-dependent
        return Speech(
            model="fake-tone",
            mode=mode,
            samples=0.2 * np.sin(2 * np.pi * tone * t),
            sample_rate=rate,
        )


def __getattr__(name: str) -> Any:
    # ProviderContract's tests and fixtures are pytest's: import pytest only when it is asked for.
    if name == "ProviderContract":
        from ._contract import ProviderContract

        return ProviderContract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
