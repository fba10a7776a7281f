"""Output formats and rates: encode speech as WAV, FLAC, MP3, Ogg/Opus, AAC or raw PCM.

One place for every output encoding the library offers (the gateway's ``response_format``, and
what a host asks of a result). WAV, FLAC, MP3 and Ogg/Opus are written by libsndfile (in
``soundfile``'s wheels); AAC needs PyAV (``tts-router-core[formats]``). Resampling uses soxr.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

# numpy is imported where it is used: `import tts_router` and building requests need none
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

from .errors import ValidationError
from .extras import require_extra

__all__ = [
    "FORMATS",
    "AudioFormat",
    "EncodedAudio",
    "encode",
    "format_for_path",
    "resample",
    "streaming_wav_header",
]

AudioFormat = Literal["wav", "flac", "mp3", "opus", "aac", "pcm"]
FORMATS: tuple[AudioFormat, ...] = get_args(AudioFormat)

MEDIA_TYPES: dict[AudioFormat, str] = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "pcm": "audio/pcm",
}
# (container, subtype) for libsndfile.
_SNDFILE: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),
}
# Opus encodes only these rates; anything else is resampled to 48 kHz first.
_OPUS_RATES = frozenset({8_000, 12_000, 16_000, 24_000, 48_000})
# MPEG-1/2 layer III rates libsndfile's LAME accepts.
_MP3_RATES = frozenset({8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000})


_SUFFIXES: dict[str, AudioFormat] = {
    ".wav": "wav",
    ".flac": "flac",
    ".mp3": "mp3",
    ".ogg": "opus",
    ".opus": "opus",
    ".aac": "aac",
    ".pcm": "pcm",
    ".raw": "pcm",
}


def format_for_path(path: str) -> AudioFormat:
    """The format a file name asks for (``out.mp3``: mp3); ``wav`` when its suffix says none."""
    suffix = path[path.rfind(".") :].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if not suffix:
        return "wav"
    if suffix not in _SUFFIXES:
        raise ValidationError(
            f"cannot tell an audio format from {suffix!r}; use one of "
            + ", ".join(sorted(_SUFFIXES))
            + " or pass --format",
            code="unsupported_format",
        )
    return _SUFFIXES[suffix]


@dataclass(frozen=True, slots=True)
class EncodedAudio:
    """Encoded bytes, their media type and sample rate (``pcm``: 16-bit little-endian mono)."""

    data: bytes
    format: AudioFormat
    media_type: str
    sample_rate: int


def encode(
    samples: npt.ArrayLike,
    sample_rate: int,
    audio_format: str = "wav",
    *,
    target_rate: int | None = None,
) -> EncodedAudio:
    """Encode mono float samples in [-1, 1] as ``audio_format``, at ``target_rate`` if given.

    Raises :class:`~tts_router.errors.ValidationError` (``unsupported_format``) for a format
    not in :data:`FORMATS`, and a ``missing_extra`` error when AAC is asked for without PyAV.
    """
    import numpy as np

    fmt = audio_format.strip().lower()
    if fmt not in MEDIA_TYPES:
        raise ValidationError(
            f"unknown audio format {audio_format!r}; use one of " + ", ".join(FORMATS),
            code="unsupported_format",
        )
    array = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    rate = sample_rate
    if target_rate is not None and target_rate != rate:
        array, rate = resample(array, rate, target_rate), target_rate
    if fmt == "opus" and rate not in _OPUS_RATES:
        array, rate = resample(array, rate, 48_000), 48_000
    if fmt == "mp3" and rate not in _MP3_RATES:
        array, rate = resample(array, rate, 24_000), 24_000
    data = _encode(array, rate, fmt)
    return EncodedAudio(data, fmt, MEDIA_TYPES[fmt], rate)


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (sizes at their maximum, which
    players such as aplay and ffplay read as "until the end")."""
    unknown = 0xFFFFFFFF
    return b"".join(
        [
            b"RIFF",
            unknown.to_bytes(4, "little"),
            b"WAVEfmt ",
            (16).to_bytes(4, "little"),
            (1).to_bytes(2, "little"),  # PCM
            (1).to_bytes(2, "little"),  # mono
            sample_rate.to_bytes(4, "little"),
            (sample_rate * 2).to_bytes(4, "little"),
            (2).to_bytes(2, "little"),
            (16).to_bytes(2, "little"),
            b"data",
            (unknown - 36).to_bytes(4, "little"),
        ]
    )


def resample(samples: npt.ArrayLike, from_rate: int, to_rate: int) -> npt.NDArray[np.float32]:
    """``samples`` at ``to_rate`` (soxr, high quality); the duration is kept."""
    import numpy as np

    if to_rate <= 0:
        raise ValidationError("the sample rate must be positive", code="invalid_request")
    import soxr

    array = np.asarray(samples, dtype=np.float32).reshape(-1)
    if from_rate == to_rate:
        return array
    return np.asarray(soxr.resample(array, from_rate, to_rate, quality="HQ"), dtype=np.float32)


def _encode(samples: npt.NDArray[np.float32], rate: int, fmt: AudioFormat) -> bytes:
    if fmt == "pcm":
        return (samples * 32767.0).round().astype("<i2").tobytes()
    if fmt == "aac":
        return _encode_aac(samples, rate)
    import soundfile as sf

    container, subtype = _SNDFILE[fmt]
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _encode_aac(samples: npt.NDArray[np.float32], rate: int) -> bytes:
    require_extra("av", "tts-router-core", "formats", what="AAC output")
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="adts") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
