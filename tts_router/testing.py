"""Test helpers for providers and host apps: FakeProvider, a contract suite, pytest fixtures.

A plugin author runs the contract suite on their provider with::

    from tts_router.testing import ProviderContract

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def provider(self):
            return MyProvider()

Installed as a pytest plugin (``pytest11``), this module also gives host apps the fixtures
``tts_reference_wav``, ``fake_provider`` and ``fake_router``: the whole API, offline and instant.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from .audio import OUTPUT_LIMITS, DecodedAudio, decode_audio, encode_wav
from .errors import (
    AudioValidationError,
    UnsupportedLanguageError,
    UnsupportedOperationError,
    ValidationError,
)
from .languages import LANGUAGES
from .models import CloneMode, CloneRequest, DesignRequest, Operation, VoiceReference
from .provider import Capabilities, Provider, Speech
from .router import Router
from .settings import Settings

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


class ProviderContract:
    """Tests every provider must pass. Subclass it and define a ``provider`` fixture.

    The tests use the sync facade so no async test plugin is needed.
    """

    @pytest.fixture
    def reference(self) -> VoiceReference:
        """A synthetic reference with a transcript."""
        return VoiceReference(audio=make_reference_wav(), transcript="Hello there, my friend.")

    @pytest.fixture
    def contract_text(self) -> str:
        """Short text in a language the provider speaks."""
        return "Hello world. This is a test."

    def _language(self, provider: Provider) -> str:
        langs = provider.capabilities.languages
        return "en" if "en" in langs else next(lang for lang in langs if lang != "auto")

    def test_capabilities_are_consistent(self, provider: Provider) -> None:
        caps = provider.capabilities
        assert caps.operations, "a provider must offer at least one operation"
        assert all(lang in LANGUAGES for lang in caps.languages), "languages must be canonical"
        assert caps.sample_rate > 0 and caps.max_text_chars > 0
        assert ("clone" in caps.operations) == bool(caps.clone_modes)
        assert isinstance(provider.id, str) and provider.id

    def test_clone_returns_valid_wav_or_is_unsupported(
        self, provider: Provider, reference: VoiceReference, contract_text: str
    ) -> None:
        request = CloneRequest(
            text=contract_text, reference=reference, language=self._language(provider)
        )
        if "clone" not in provider.capabilities.operations:
            with pytest.raises(UnsupportedOperationError):
                provider.sync.clone(request)
            return
        self._check_result(provider, provider.sync.clone(request), request.request_id)

    def test_design_returns_valid_wav_or_is_unsupported(
        self, provider: Provider, contract_text: str
    ) -> None:
        request = DesignRequest(
            text=contract_text, instruct="a calm voice", language=self._language(provider)
        )
        if "design" not in provider.capabilities.operations:
            with pytest.raises(UnsupportedOperationError):
                provider.sync.design(request)
            return
        self._check_result(provider, provider.sync.design(request), request.request_id)

    def test_empty_text_is_rejected(self, provider: Provider, reference: VoiceReference) -> None:
        with pytest.raises(ValidationError) as info:
            self._call(provider, "   ", reference, self._language(provider))
        assert info.value.code == "empty_text"

    def test_unsupported_language_is_rejected(
        self, provider: Provider, reference: VoiceReference, contract_text: str
    ) -> None:
        unsupported = [c for c in LANGUAGES if c not in provider.capabilities.languages]
        for language in (*unsupported[:1], "tlh"):  # one we know but it lacks; one nobody knows
            with pytest.raises(UnsupportedLanguageError):
                self._call(provider, contract_text, reference, language)

    def test_unreadable_reference_is_rejected(self, provider: Provider, contract_text: str) -> None:
        bad = VoiceReference(audio=b"RIFF not really a wave file", transcript="hi")
        expected = (
            AudioValidationError
            if "clone" in provider.capabilities.operations
            else UnsupportedOperationError
        )
        with pytest.raises(expected):
            provider.sync.clone(
                CloneRequest(text=contract_text, reference=bad, language=self._language(provider))
            )

    def test_repr_and_errors_leak_no_text(
        self, provider: Provider, reference: VoiceReference
    ) -> None:
        secret_text = "zebra-quartz-7731"
        request = CloneRequest(text=secret_text, reference=reference)
        assert secret_text not in repr(request)
        with pytest.raises(UnsupportedLanguageError) as info:
            self._call(provider, secret_text, reference, "xx-unknown")
        assert secret_text not in str(info.value) and secret_text not in repr(info.value)

    def _call(self, provider: Provider, text: str, reference: VoiceReference, lang: str) -> Any:
        if "clone" in provider.capabilities.operations:
            return provider.sync.clone(CloneRequest(text=text, reference=reference, language=lang))
        return provider.sync.design(DesignRequest(text=text, instruct="calm", language=lang))

    def _check_result(self, provider: Provider, result: Any, request_id: str) -> None:
        decoded = decode_audio(result.audio, OUTPUT_LIMITS)
        assert result.provider == provider.id
        assert result.request_id == request_id
        assert result.sample_rate == decoded.sample_rate == provider.capabilities.sample_rate
        assert abs(result.duration - decoded.duration) < 1e-3
        assert result.quality == provider.capabilities.quality


# -- pytest plugin fixtures (registered through the pytest11 entry point) ---------------------


@pytest.fixture
def tts_reference_wav() -> bytes:
    """Three seconds of a synthetic voice-like WAV, for clone requests."""
    return make_reference_wav()


@pytest.fixture
def fake_provider() -> FakeProvider:
    """A FakeProvider with default capabilities (clone + design, en/de/fr)."""
    return FakeProvider()


@pytest.fixture
def fake_router(fake_provider: FakeProvider) -> Router:
    """A Router over only ``fake_provider``, ignoring installed plugins and the environment."""
    return Router(providers=[fake_provider], settings=Settings.load({}))
