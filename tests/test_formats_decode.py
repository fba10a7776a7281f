"""Browser recordings and compressed references: WebM/Opus, Ogg/Opus, M4A/AAC and MP3 through
PyAV, behind the one validator and its limits; and decoding in bounded memory."""

from __future__ import annotations

import contextlib
import io
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from core_support.encode import FORMATS, encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tts_router import AudioValidationError, CloneRequest, Router, Settings, VoiceReference
from tts_router import audio as audio_module
from tts_router.audio import REFERENCE_LIMITS, AudioLimits, decode_audio, sniff_container
from tts_router.testing import FakeProvider


def _tone(seconds: float, rate: int, channels: int = 1, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.4 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono, 0.5 * mono], axis=1) if channels == 2 else mono


def _refusal(data: bytes, limits: AudioLimits = REFERENCE_LIMITS) -> AudioValidationError:
    with pytest.raises(AudioValidationError) as info:
        decode_audio(data, limits)
    return info.value


# libsndfile's lossless formats, next to PyAV's: (rates, frame) as in core_support.encode.
_LOSSLESS = {"wav": ((8_000, 16_000, 22_050, 44_100, 48_000), 1), "flac": ((16_000, 48_000), 1)}


def _sndfile(samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _encode_any(samples: np.ndarray, rate: int, kind: str) -> bytes:
    return (
        _sndfile(samples, rate, kind.upper()) if kind in _LOSSLESS else encode(samples, rate, kind)
    )


def _frame(kind: str) -> int:
    return _LOSSLESS[kind][1] if kind in _LOSSLESS else FORMATS[kind].frame


@st.composite
def _recordings(draw: st.DrawFn) -> tuple[str, int, int, float, float]:
    kind = draw(st.sampled_from(sorted([*FORMATS, *_LOSSLESS])))
    rates = _LOSSLESS[kind][0] if kind in _LOSSLESS else FORMATS[kind].rates
    rate = draw(st.sampled_from(rates))
    channels = draw(st.sampled_from([1, 2]))
    seconds = draw(st.floats(1.05, 4.0))
    freq = draw(st.floats(80.0, 2_000.0))
    return kind, rate, channels, seconds, freq


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_recordings())
def test_every_accepted_format_round_trips_to_the_same_duration_within_a_frame(
    recording: tuple[str, int, int, float, float],
) -> None:
    kind, rate, channels, seconds, freq = recording
    samples = _tone(seconds, rate, channels, freq)
    decoded = decode_audio(_encode_any(samples, rate, kind))
    frame_seconds = _frame(kind) / rate
    assert abs(decoded.duration - len(samples) / rate) <= frame_seconds, (kind, rate)
    # Opus always decodes at 48 kHz; the others keep their rate.
    assert decoded.sample_rate == (48_000 if kind in ("webm", "ogg") else rate)
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert 0.1 < float(np.max(np.abs(decoded.samples))) <= 1.0


@pytest.mark.parametrize(
    ("kind", "container"), [("webm", "webm"), ("ogg", "ogg"), ("m4a", "mp4"), ("mp3", "mp3")]
)
def test_containers_are_sniffed_from_the_bytes(kind: str, container: str) -> None:
    assert sniff_container(encode(_tone(1.2, 48_000), 48_000, kind)) == container


async def test_a_browser_recording_is_a_reference_like_any_other() -> None:
    fake = FakeProvider()
    router = Router(providers=[fake], settings=Settings.load({}))
    webm = encode(_tone(2.0, 48_000, channels=2), 48_000, "webm")
    reference = VoiceReference(audio=webm, transcript="Hello, this is me.")
    result = await router.clone(CloneRequest(text="Hello there.", reference=reference))
    assert result.provider == "fake" and fake.calls[0].has_transcript


def test_limits_hold_for_compressed_formats() -> None:
    long_webm = encode(_tone(6.0, 16_000), 16_000, "webm")
    assert _refusal(long_webm, AudioLimits(max_seconds=5.0)).code == "audio_too_long"
    assert _refusal(encode(_tone(0.5, 24_000), 24_000, "mp3")).code == "audio_too_short"
    assert _refusal(encode(np.zeros(48_000 * 2), 48_000, "ogg")).code == "audio_silent"


def test_a_codec_outside_the_allow_list_is_refused() -> None:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as container:
        stream = container.add_stream("pcm_s16le", rate=16_000)
        stream.layout = "mono"
        samples = (_tone(1.5, 16_000) * 32_767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, "s16", "mono")
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    refusal = _refusal(buffer.getvalue())
    assert refusal.code == "audio_format_not_allowed" and "pcm_s16le" in refusal.message


def test_without_pyav_webm_names_the_extra_and_mp3_still_decodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    webm = encode(_tone(1.5, 48_000), 48_000, "webm")
    mp3 = encode(_tone(1.5, 24_000), 24_000, "mp3")
    monkeypatch.setattr(audio_module, "formats_available", lambda: False)
    refusal = _refusal(webm)
    assert refusal.code == "audio_decoder_missing" and "tts-router-core[formats]" in refusal.message
    assert decode_audio(mp3).duration == pytest.approx(1.5, abs=1152 / 24_000)  # libsndfile


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([b"OggS", b"\x1a\x45\xdf\xa3", b"\x00\x00\x00\x20ftypM4A ", b"ID3\x04"]),
    st.binary(max_size=2048),
)
def test_the_validator_is_total_on_garbage_behind_a_known_magic(
    magic: bytes, garbage: bytes
) -> None:
    with contextlib.suppress(AudioValidationError):
        decode_audio(magic + garbage)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FORMATS)), st.integers(0, 10_000), st.binary(min_size=1, max_size=64))
def test_the_validator_is_total_on_corrupted_recordings(
    kind: str, position: int, garbage: bytes
) -> None:
    data = bytearray(encode(_tone(1.2, 16_000), 16_000, kind))
    position %= len(data)
    data[position : position + len(garbage)] = garbage
    with contextlib.suppress(AudioValidationError):
        decode_audio(bytes(data))


# -- bounded memory ---------------------------------------------------------------------------


def test_high_rates_are_decimated_with_the_duration_kept() -> None:
    for rate, wanted in ((192_000, 48_000), (96_000, 48_000), (88_200, 44_100)):
        samples = _tone(2.5, rate) + 0.3 * _tone(2.5, rate, freq=30_000.0)
        decoded = decode_audio(_sndfile(samples, rate, subtype="FLOAT"))
        assert decoded.sample_rate == wanted
        assert decoded.duration == pytest.approx(2.5, abs=1 / wanted)
        # The 30 kHz tone is above the new Nyquist: filtered out, not folded back as an alias.
        expected = _tone(2.5, wanted)[: len(decoded.samples)].astype(np.float32)
        middle = slice(1_000, -1_000)
        error = decoded.samples[middle] - expected[middle]
        assert float(np.sqrt(np.mean(error**2))) < 1e-3
    kept = decode_audio(_sndfile(_tone(1.5, 96_000), 96_000), AudioLimits(max_decoded_rate=None))
    assert kept.sample_rate == 96_000


def test_decoding_an_11_mb_upload_needs_about_its_size_in_memory() -> None:
    # Issue 15's upload: 59 s at 192 kHz, 8-bit. The earlier decoder peaked at 17x its size.
    upload = _sndfile(_tone(59.0, 192_000), 192_000, subtype="PCM_U8")
    tracemalloc.start()
    try:
        decoded = decode_audio(upload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded.sample_rate == 48_000 and decoded.duration == pytest.approx(59.0, abs=1e-3)
    assert peak < 1.5 * len(upload), f"peak {peak / 1e6:.1f} MB for {len(upload) / 1e6:.1f} MB"
