"""``SineProvider``: designs a "voice" of sine tones, one per word. Pure numpy, instant.

It shows every part of the plugin API a real provider uses: capabilities declared once, typed
settings (a model whose field is read from the environment or the TOML file), request options
validated, ``auto`` resolved, and samples returned at the declared rate.
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from tts_router import (
    Capabilities,
    DesignRequest,
    Provider,
    ProviderSettings,
    Speech,
    ValidationError,
    setting,
)

from . import __version__

__all__ = ["SineProvider", "SineSettings"]

SAMPLE_RATE = 16_000
CAPABILITIES = Capabilities(
    operations=frozenset({"design"}),
    # Tones have no language, so any listed one works; "auto" must be listed for the router to
    # choose this provider when the caller does not name a language (the default).
    languages=("auto", "en", "de", "fr"),
    sample_rate=SAMPLE_RATE,
    max_text_chars=400,  # the base class splits longer text at sentences and stitches it
    quality="approximate",  # tones are no voice: chosen only when nothing better qualifies
    license="Apache-2.0",
)
SPEED_RANGE = (0.5, 2.0)


class SineSettings(ProviderSettings):
    """``[providers.sine]`` in the TOML file; ``SINE_PITCH_HZ`` wins over it. Typed: the
    environment's ``"220"`` and the file's ``220`` are the same float, checked once."""

    pitch_hz: float = setting(180.0, env="SINE_PITCH_HZ", ge=50.0, le=1000.0)
    """The base note, in Hz."""


class SineProvider(Provider):
    """A tone per word; the word picks the note, the description ("low", "high") the register."""

    id: ClassVar[str] = "sine"
    settings_model: ClassVar[type[ProviderSettings]] = SineSettings

    def __init__(self, pitch_hz: float = 180.0) -> None:
        self.pitch_hz = pitch_hz

    @classmethod
    def from_settings(cls, settings: SineSettings) -> Provider:
        """Built from the validated settings (a bad or unknown one never gets here: the
        router reports it, naming the variable or key). No I/O here: the router builds every
        provider just to list and compare them."""
        return cls(pitch_hz=settings.pitch_hz)

    @property
    def capabilities(self) -> Capabilities:
        """Static: the router reads them without I/O."""
        return CAPABILITIES

    @property
    def version(self) -> str:
        """Shown by ``tts-router providers``."""
        return __version__

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        # One chunk of at most max_text_chars; `language` is canonical ("auto" stays "auto").
        speed = _speed(request.options)
        words = text.split() or [text]
        register = _register(request.instruct)
        pieces = [_tone(word, self.pitch_hz * register, speed) for word in words]
        samples = np.concatenate(pieces).astype(np.float32)  # 1-D, finite, in [-1, 1]
        warnings = [] if language != "auto" else ["language 'auto': tones have no language"]
        return Speech(
            model="sine-tones",
            mode="design",
            samples=samples,
            sample_rate=SAMPLE_RATE,  # must equal capabilities.sample_rate
            warnings=warnings,
        )


def _speed(options: dict[str, Any]) -> float:
    # Options come from the caller unchanged: accept what you understand, refuse the rest.
    unknown = sorted(set(options) - {"speed"})
    if unknown:
        raise ValidationError(
            f"unknown options {unknown}; the sine provider accepts: speed",
            code="invalid_options",
            provider=SineProvider.id,
        )
    speed = options.get("speed", 1.0)
    if not isinstance(speed, int | float) or not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise ValidationError(
            f"options['speed'] must be a number from {SPEED_RANGE[0]} to {SPEED_RANGE[1]}",
            code="invalid_options",
            provider=SineProvider.id,
        )
    return float(speed)


def _register(instruct: str) -> float:
    words = instruct.casefold().split()
    if any(w.strip(",.") in ("low", "deep") for w in words):
        return 0.6
    if any(w.strip(",.") in ("high", "bright") for w in words):
        return 1.6
    return 1.0


def _tone(word: str, base_hz: float, speed: float) -> npt.NDArray[np.float64]:
    seconds = (0.12 + 0.05 * len(word)) / speed
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    note = base_hz * 2 ** ((zlib.crc32(word.encode()) % 12) / 12)  # a note of the octave
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # 20 ms fades, no clicks
    gap = np.zeros(int(0.06 / speed * SAMPLE_RATE))
    return np.concatenate([0.3 * envelope * np.sin(2 * np.pi * note * t), gap])
