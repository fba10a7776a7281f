from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tts_router import AudioValidationError, decode_audio, encode_wav, stitch
from tts_router.audio import OUTPUT_LIMITS, AudioLimits, validate_output_wav
from tts_router.errors import OutputValidationError
from tts_router.testing import make_reference_wav

SR = 16_000


def _wav(samples: np.ndarray, sr: int = SR, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, sr, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _tone(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    mono = 0.5 * np.sin(2 * np.pi * 220 * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def _code(data: bytes, limits: AudioLimits | None = None) -> str:
    with pytest.raises(AudioValidationError) as info:
        decode_audio(data, limits or AudioLimits())
    return info.value.code


def test_accepts_a_reference_and_reports_real_duration() -> None:
    decoded = decode_audio(make_reference_wav(seconds=2.5, sample_rate=SR))
    assert decoded.sample_rate == SR
    assert decoded.duration == pytest.approx(2.5, abs=1e-3)
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1


def test_stereo_is_downmixed_to_mono() -> None:
    left_right = np.stack([_tone(2.0), np.zeros(2 * SR)], axis=1)
    decoded = decode_audio(_wav(left_right))
    assert decoded.samples.ndim == 1
    assert np.max(np.abs(decoded.samples)) == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("FLAC", "PCM_16"), ("WAV", "FLOAT"), ("OGG", "VORBIS")]
)
def test_allowed_containers_decode(fmt: str, subtype: str) -> None:
    assert decode_audio(_wav(_tone(1.5), fmt=fmt, subtype=subtype)).duration > 1.4


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "audio_empty"),
        (b"definitely not audio at all", "audio_unreadable"),
        (_wav(_tone(0.5)), "audio_too_short"),
        (_wav(_tone(61.0, sr=8000), sr=8000), "audio_too_long"),
        (_wav(np.zeros(2 * SR)), "audio_silent"),
        (_wav(_tone(2.0, sr=4000), sr=4000), "audio_sample_rate"),
        (_wav(_tone(2.0, channels=3)), "audio_channels"),
        (_wav(_tone(2.0), subtype="IMA_ADPCM"), "audio_format_not_allowed"),
    ],
)
def test_rejections_have_codes(data: bytes, code: str) -> None:
    assert _code(data) == code


def test_nan_samples_are_rejected() -> None:
    samples = _tone(2.0).astype(np.float32)
    samples[100] = np.nan
    assert _code(_wav(samples, subtype="FLOAT")) == "audio_not_finite"


def test_size_limit_is_checked_before_decoding() -> None:
    assert _code(_wav(_tone(2.0)), AudioLimits(max_bytes=1000)) == "audio_too_large"


def test_duration_comes_from_the_data_not_the_header() -> None:
    # A WAV whose header claims far more frames than the file holds (a truncated upload).
    data = bytearray(_wav(_tone(3.0)))
    data[40:44] = (10**9).to_bytes(4, "little")  # the data chunk's size field
    decoded = decode_audio(bytes(data))
    assert decoded.duration == pytest.approx(3.0, abs=0.01)


def test_output_validation_is_the_providers_fault() -> None:
    with pytest.raises(OutputValidationError) as info:
        validate_output_wav(_wav(np.zeros(SR)), provider="x")
    assert info.value.code == "output_silent" and info.value.provider == "x"
    assert validate_output_wav(encode_wav(_tone(0.2), SR)).duration == pytest.approx(0.2)
    assert OUTPUT_LIMITS.min_seconds < 0.2


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.floats(-1.0, 1.0, allow_nan=False, width=32), min_size=1, max_size=2000),
    st.sampled_from([8_000, 16_000, 22_050, 24_000, 44_100, 48_000]),
)
def test_wav_round_trip(samples: list[float], sample_rate: int) -> None:
    data = np.asarray(samples, dtype=np.float32)
    read, sr = sf.read(io.BytesIO(encode_wav(data, sample_rate)), dtype="float32")
    assert sr == sample_rate and len(read) == len(data)
    assert np.max(np.abs(read - data)) <= 1 / 32_767 + 1e-6  # 16-bit quantisation only


@given(
    st.lists(st.integers(0, 5_000), min_size=0, max_size=8),
    st.floats(0, 50),
)
def test_stitch_keeps_every_chunk(lengths: list[int], crossfade_ms: float) -> None:
    chunks = [np.full(n, 0.1, dtype=np.float32) for n in lengths]
    out = stitch(chunks, SR, crossfade_ms)
    wanted = int(SR * crossfade_ms / 1000)
    max_overlaps = wanted * max(len(lengths) - 1, 0)
    assert sum(lengths) - max_overlaps <= len(out) <= sum(lengths)
    assert len(out) >= sum(n - n // 2 for n in lengths)  # each chunk keeps half of itself


def test_stitch_crossfades_without_a_click() -> None:
    a, b = np.ones(1000, dtype=np.float32), -np.ones(1000, dtype=np.float32)
    out = stitch([a, b], 10_000, crossfade_ms=10)
    assert len(out) == 1900
    assert np.max(np.abs(np.diff(out))) < 0.05  # a linear ramp, not a jump of 2


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_validator_is_total_on_random_bytes(data: bytes) -> None:
    with contextlib.suppress(AudioValidationError):
        decode_audio(data)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2000), st.binary(min_size=1, max_size=64))
def test_validator_is_total_on_corrupted_wavs(position: int, garbage: bytes) -> None:
    data = bytearray(make_reference_wav(seconds=1.2, sample_rate=8000))
    position %= len(data)
    data[position : position + len(garbage)] = garbage
    with contextlib.suppress(AudioValidationError):
        decode_audio(bytes(data))
