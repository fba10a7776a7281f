"""Audio in and out: the one validator for reference audio, WAV encoding, and chunk stitching.

Everything that accepts audio from outside (a host app's upload, a service's response) goes
through :func:`decode_audio`, so there is exactly one place that decides what audio is
acceptable. It trusts nothing in the header: the duration is the number of frames actually
decoded, and decoding stops as soon as the limit is passed so a tiny compressed file cannot
expand into gigabytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import AudioValidationError, OutputValidationError

__all__ = [
    "OUTPUT_LIMITS",
    "REFERENCE_LIMITS",
    "AudioLimits",
    "DecodedAudio",
    "decode_audio",
    "encode_wav",
    "stitch",
    "validate_output_samples",
    "validate_output_wav",
]

FloatArray = npt.NDArray[np.float32]

# Containers and sample encodings libsndfile decodes without surprises. Anything else (raw,
# exotic ADPCM variants, unknown future formats) is refused rather than guessed at.
ALLOWED_FORMATS = frozenset({"WAV", "WAVEX", "FLAC", "OGG", "MP3", "AIFF"})
ALLOWED_SUBTYPES = frozenset(
    {
        "PCM_S8",
        "PCM_U8",
        "PCM_16",
        "PCM_24",
        "PCM_32",
        "FLOAT",
        "DOUBLE",
        "VORBIS",
        "OPUS",
        "MPEG_LAYER_III",
    }
)


@dataclass(frozen=True, slots=True)
class AudioLimits:
    """What :func:`decode_audio` accepts. Defaults suit a voice-cloning reference clip."""

    max_bytes: int = 25 * 1024 * 1024
    min_seconds: float = 1.0
    max_seconds: float = 60.0
    min_sample_rate: int = 8_000
    max_sample_rate: int = 192_000
    max_channels: int = 2
    # Peak below this (full scale = 1.0) is treated as silence: about -60 dBFS.
    silence_peak: float = 1e-3


REFERENCE_LIMITS = AudioLimits()
# Output peaks above this are out of range: float32 rounding may put a clipped 1.0 a hair over.
_FULL_SCALE = 1.0 + 1e-6
# What a provider may hand back: any non-trivial length, but never empty, NaN or silent.
OUTPUT_LIMITS = AudioLimits(
    max_bytes=1024 * 1024 * 1024, min_seconds=0.05, max_seconds=6 * 3600.0, max_channels=1
)


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Mono float32 samples in [-1, 1] and their sample rate."""

    samples: FloatArray
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds, from the decoded frames."""
        return len(self.samples) / self.sample_rate


def decode_audio(data: bytes, limits: AudioLimits = REFERENCE_LIMITS) -> DecodedAudio:
    """Decode and validate ``data``; return mono float32 samples.

    Total over its input: any bytes either decode within ``limits`` or raise
    :class:`AudioValidationError` whose ``code`` says which rule failed.
    """
    import soundfile as sf

    if not data:
        raise AudioValidationError("the audio is empty", code="audio_empty")
    if len(data) > limits.max_bytes:
        raise AudioValidationError(
            f"the audio is {len(data)} bytes; at most {limits.max_bytes} are accepted "
            "(trim it or re-encode as FLAC)",
            code="audio_too_large",
        )
    try:
        handle = sf.SoundFile(io.BytesIO(data))
    except Exception:
        raise AudioValidationError(
            "the audio could not be decoded; send WAV, FLAC, OGG or MP3",
            code="audio_unreadable",
        ) from None
    with handle:
        _check_header(handle.format, handle.subtype, handle.samplerate, handle.channels, limits)
        max_frames = int(limits.max_seconds * handle.samplerate)
        try:
            frames = handle.read(frames=max_frames + 1, dtype="float32", always_2d=True)
        except Exception:
            raise AudioValidationError(
                "the audio is corrupt part-way through; re-encode it", code="audio_unreadable"
            ) from None
        sample_rate = int(handle.samplerate)
    return _check_samples(frames, sample_rate, max_frames, limits)


def _check_header(
    container: str, subtype: str, sample_rate: int, channels: int, limits: AudioLimits
) -> None:
    if container not in ALLOWED_FORMATS or subtype not in ALLOWED_SUBTYPES:
        raise AudioValidationError(
            f"audio format {container}/{subtype} is not accepted; send 16-bit PCM WAV or FLAC",
            code="audio_format_not_allowed",
        )
    if not limits.min_sample_rate <= sample_rate <= limits.max_sample_rate:
        raise AudioValidationError(
            f"sample rate {sample_rate} Hz is outside "
            f"{limits.min_sample_rate}-{limits.max_sample_rate} Hz; resample it",
            code="audio_sample_rate",
        )
    if not 1 <= channels <= limits.max_channels:
        raise AudioValidationError(
            f"the audio has {channels} channels; at most {limits.max_channels} are accepted",
            code="audio_channels",
        )


def _check_samples(
    frames: npt.NDArray[Any], sample_rate: int, max_frames: int, limits: AudioLimits
) -> DecodedAudio:
    if len(frames) == 0:
        raise AudioValidationError("there is no audio (zero samples)", code="audio_empty")
    if len(frames) > max_frames:
        raise AudioValidationError(
            f"the audio is longer than {limits.max_seconds:g} s; trim it",
            code="audio_too_long",
        )
    if len(frames) < limits.min_seconds * sample_rate:
        raise AudioValidationError(
            f"the audio is {len(frames) / sample_rate:.2f} s; at least "
            f"{limits.min_seconds:g} s is needed",
            code="audio_too_short",
        )
    if not np.isfinite(frames).all():
        raise AudioValidationError(
            "the audio contains NaN or infinite samples", code="audio_not_finite"
        )
    mono = frames.mean(axis=1, dtype=np.float64).astype(np.float32)
    if float(np.max(np.abs(mono))) < limits.silence_peak:
        raise AudioValidationError(
            "the audio is silence (peak below -60 dBFS)", code="audio_silent"
        )
    return DecodedAudio(samples=np.clip(mono, -1.0, 1.0), sample_rate=sample_rate)


def validate_output_wav(data: bytes, *, provider: str | None = None) -> DecodedAudio:
    """Check a provider's output WAV with the same validator; failures are the provider's."""
    try:
        return decode_audio(data, OUTPUT_LIMITS)
    except AudioValidationError as exc:
        raise _output_error(exc, provider) from None


def validate_output_samples(
    samples: npt.ArrayLike, sample_rate: int, *, provider: str | None = None
) -> DecodedAudio:
    """Check a provider's output samples by the same rules, before they are encoded.

    Samples must be a 1-D floating-point array of finite values in [-1, 1]: integers (int16
    PCM read as numbers would be a full-scale square wave), stereo arrays (flattening them
    interleaves the channels into garbled mono of double length) and out-of-range values
    (clipping them distorts silently) are typed errors naming what to return. Checked as an
    array because NaN does not survive encoding to PCM.
    """
    array = np.asarray(samples)
    if not np.issubdtype(array.dtype, np.floating):
        raise OutputValidationError(
            f"the provider returned {array.dtype} samples; return floats in [-1, 1] "
            "(int16 PCM: divide by 32768)",
            code="output_not_float",
            provider=provider,
        )
    if array.ndim != 1:
        raise OutputValidationError(
            f"the provider returned samples of shape {array.shape}; return a 1-D mono array "
            "(mix channels down first)",
            code="output_not_mono",
            provider=provider,
        )
    try:
        checked = _check_samples(
            array.astype(np.float32).reshape(-1, 1),
            sample_rate,
            int(OUTPUT_LIMITS.max_seconds * sample_rate),
            OUTPUT_LIMITS,
        )
    except AudioValidationError as exc:
        raise _output_error(exc, provider) from None
    peak = float(np.max(np.abs(array)))
    if peak > _FULL_SCALE:
        raise OutputValidationError(
            f"the provider returned samples peaking at {peak:.3g}; scale them into [-1, 1]",
            code="output_out_of_range",
            provider=provider,
        )
    return checked


def _output_error(exc: AudioValidationError, provider: str | None) -> OutputValidationError:
    return OutputValidationError(
        f"the provider returned unusable audio: {exc.message}",
        code=f"output_{exc.code.removeprefix('audio_')}",
        provider=provider,
    )


def encode_wav(samples: npt.ArrayLike, sample_rate: int) -> bytes:
    """Encode mono samples in [-1, 1] as 16-bit PCM WAV bytes (clipping anything outside)."""
    import soundfile as sf

    array = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, array, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def stitch(
    chunks: Sequence[npt.ArrayLike], sample_rate: int, crossfade_ms: float = 10.0
) -> FloatArray:
    """Join chunks in order with a short linear crossfade so no click marks the seams.

    The overlap at each seam is ``crossfade_ms`` but never more than half of either neighbour,
    so the result is shorter than the sum of the chunks by the overlaps only, and no chunk
    disappears.
    """
    arrays = [np.asarray(c, dtype=np.float32).reshape(-1) for c in chunks]
    if not arrays:
        return np.zeros(0, dtype=np.float32)
    wanted = int(sample_rate * crossfade_ms / 1000)
    pieces: list[FloatArray] = []
    pending = arrays[0]
    for nxt in arrays[1:]:
        overlap = min(wanted, len(pending) // 2, len(nxt) // 2)
        if overlap == 0:
            pieces.append(pending)
            pending = nxt
            continue
        fade = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
        pieces.append(pending[:-overlap])
        pending = np.concatenate(
            [pending[-overlap:] * (1.0 - fade) + nxt[:overlap] * fade, nxt[overlap:]]
        )
    pieces.append(pending)
    return np.concatenate(pieces)
