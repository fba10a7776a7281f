"""The pitch tracker and the clone approximation, on signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from tts_router_espeak import _engine
from tts_router_espeak._clone import (
    _F0_BY_VARIANT,
    _PITCH_SETTINGS,
    APPROXIMATE_WARNING,
    NO_PITCH_WARNING,
    NO_TRANSCRIPT_WARNING,
    approximate_voice,
    letters,
)
from tts_router_espeak._pitch import median_f0, track_pitch

from tts_router.audio import DecodedAudio, decode_audio
from tts_router.testing import make_reference_wav


@pytest.mark.parametrize("f0", [80.0, 100.0, 140.0, 220.0, 300.0])
@pytest.mark.parametrize("sample_rate", [16_000, 24_000, 44_100, 48_000])
def test_tracker_finds_the_reference_pitch(f0: float, sample_rate: int) -> None:
    ref = decode_audio(make_reference_wav(f0=f0, sample_rate=sample_rate))
    estimate = median_f0(ref.samples, ref.sample_rate)
    assert estimate == pytest.approx(f0, rel=0.03)


def test_tracker_finds_no_pitch_in_noise_or_silence() -> None:
    rng = np.random.default_rng(1)
    assert median_f0(0.3 * rng.standard_normal(24_000), 24_000) is None
    assert median_f0(np.zeros(24_000), 24_000) is None
    assert median_f0(np.zeros(10), 24_000) is None


def test_tracker_measures_active_speech() -> None:
    rate = 16_000
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 150 * t)
    signal = np.concatenate([np.zeros(rate), tone, np.zeros(rate)])
    track = track_pitch(signal, rate)
    assert track.active_seconds == pytest.approx(1.0, abs=0.06)


def test_pitch_calibration_still_holds() -> None:
    # The tables in _clone were measured on eSpeak NG 1.52; re-measure a few points.
    text = "The quick brown fox jumps over the lazy dog. " * 3
    for variant, table in _F0_BY_VARIANT.items():
        for index in (1, 5, 9):
            setting = int(_PITCH_SETTINGS[index])
            samples = _engine.synthesize(text, _engine.VoiceParams(f"en+{variant}", pitch=setting))
            measured = median_f0(samples, _engine.SAMPLE_RATE)
            assert measured == pytest.approx(table[index], rel=0.08), (variant, setting)


@pytest.mark.parametrize(("f0", "variant"), [(100.0, "m3"), (140.0, "m3"), (220.0, "f3")])
def test_clone_settings_follow_the_reference(f0: float, variant: str) -> None:
    ref = decode_audio(make_reference_wav(f0=f0))
    voice = approximate_voice(ref, None)
    assert voice.variant == variant
    assert voice.median_f0 == pytest.approx(f0, rel=0.03)
    assert voice.rate == 175
    assert voice.warnings == (APPROXIMATE_WARNING, NO_TRANSCRIPT_WARNING)


def test_clone_rate_follows_the_transcript() -> None:
    ref = decode_audio(make_reference_wav(seconds=3.0))
    few = approximate_voice(ref, "Hi there.")
    many = approximate_voice(ref, "Twenty-eight letters, give or take a few, fit in.")
    assert few.rate < 175 < many.rate
    assert few.warnings == (APPROXIMATE_WARNING,)


def test_clone_without_voiced_speech_keeps_defaults() -> None:
    rng = np.random.default_rng(2)
    noise = DecodedAudio((0.2 * rng.standard_normal(48_000)).astype(np.float32), 24_000)
    voice = approximate_voice(noise, None)
    assert voice.variant is None and voice.pitch == 50
    assert NO_PITCH_WARNING in voice.warnings


def test_letters_weigh_scripts_by_syllable() -> None:
    assert letters("Hello, world!") == 10
    assert letters("你好") == 6
    assert letters("こんにちは") == 10
    assert letters("안녕") == 6
    assert letters("  ...  ") == 0
