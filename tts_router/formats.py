"""Output formats and rates: encode speech as WAV, FLAC, MP3, Ogg/Opus, AAC or raw PCM.

One place for every output encoding the library offers (the gateway's ``response_format``, and
what a host asks of a result). WAV, FLAC, MP3 and Ogg/Opus are written by libsndfile (in
``soundfile``'s wheels); AAC needs PyAV (``tts-router-core[formats]``). Resampling uses soxr.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

# numpy is imported where it is used: `import tts_router` and building requests need none
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

from .errors import ValidationError
from .extras import require_extra

__all__ = [
    "FORMATS",
    "STREAM_FORMATS",
    "AudioFormat",
    "EncodedAudio",
    "StreamEncoder",
    "encode",
    "encoded_rate",
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
# What a stream can be written as: every format but FLAC, whose header holds the total length.
STREAM_FORMATS: tuple[AudioFormat, ...] = ("wav", "pcm", "opus", "mp3", "aac")
# PyAV's (container, codec) for the compressed streams: one encoder for the whole stream, so no
# priming delay or padding at chunk seams. Ogg pages of 20 ms: each chunk's packets go out at once.
_AV_STREAMS: dict[str, tuple[str, str, dict[str, str]]] = {
    "opus": ("ogg", "libopus", {"page_duration": "20000"}),
    "mp3": ("mp3", "libmp3lame", {}),
    "aac": ("adts", "aac", {}),
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
# A file name's suffix: each format's own, and .ogg (Opus) and .raw (PCM).
_SUFFIXES: dict[str, AudioFormat] = {".ogg": "opus", ".raw": "pcm", **{f".{f}": f for f in FORMATS}}


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

    fmt = _known(audio_format)
    rate = encoded_rate(fmt, target_rate or sample_rate)
    array = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    data = _encode(resample(array, sample_rate, rate), rate, fmt)
    return EncodedAudio(data, fmt, MEDIA_TYPES[fmt], rate)


class StreamEncoder:
    """A stream's chunks encoded as they come: the bytes of every :meth:`encode` call and of
    :meth:`finish`, concatenated, are one valid file in ``audio_format``.

    ``wav`` starts with a header of unknown length (see :func:`streaming_wav_header`); ``pcm``
    is raw 16-bit little-endian mono; ``opus`` (Ogg), ``mp3`` and ``aac`` (ADTS) run one
    encoder over the whole stream (PyAV, the ``formats`` extra), so a player hears no seam
    between chunks. FLAC is refused: its header holds the total length.
    """

    def __init__(self, audio_format: str, sample_rate: int) -> None:
        fmt = _known(audio_format)
        if fmt not in STREAM_FORMATS:
            raise ValidationError(
                f"{fmt} cannot be streamed (its header holds the total length); stream one of "
                + ", ".join(STREAM_FORMATS)
                + ", or ask for the whole result",
                code="unsupported_format",
            )
        self.format: AudioFormat = fmt
        self.sample_rate = encoded_rate(fmt, sample_rate)
        self._header = streaming_wav_header(self.sample_rate) if fmt == "wav" else b""
        self._av = (
            _AvStream(fmt, self.sample_rate, f"streaming {fmt}") if fmt in _AV_STREAMS else None
        )

    @property
    def media_type(self) -> str:
        """The stream's media type (``audio/ogg`` for opus)."""
        return MEDIA_TYPES[self.format]

    def encode(self, samples: npt.ArrayLike, sample_rate: int) -> bytes:
        """The next piece of the stream: ``samples`` (mono, [-1, 1]) at ``sample_rate``,
        resampled to the stream's rate; the first piece carries the header."""
        import numpy as np

        array = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
        array = resample(array, sample_rate, self.sample_rate)
        if self._av is not None:
            return self._av.encode(array)
        header, self._header = self._header, b""
        return header + _encode(array, self.sample_rate, "pcm")

    def finish(self) -> bytes:
        """The stream's tail (what the encoder still holds); nothing for wav and pcm."""
        return self._av.finish() if self._av is not None else b""


class _AvStream:
    """One PyAV encoder and muxer writing to memory, drained after every piece; ``what`` says
    what needs PyAV when it is missing."""

    def __init__(self, fmt: AudioFormat, rate: int, what: str) -> None:
        require_extra("av", "tts-router-core", "formats", what=what)
        import av

        container, codec, options = _AV_STREAMS[fmt]
        self._sink = _Sink()
        self._container = av.open(self._sink, mode="w", format=container, options=options)
        stream: Any = self._container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        self._stream = stream
        self._rate = rate

    def encode(self, samples: npt.NDArray[np.float32]) -> bytes:
        import av

        if len(samples):
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = self._rate
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._sink.drain()

    def finish(self) -> bytes:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.drain()


class _Sink(io.RawIOBase):
    """A write-only file that hands back what was written since it was last drained."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _known(audio_format: str) -> AudioFormat:
    fmt = audio_format.strip().lower()
    if fmt not in MEDIA_TYPES:
        raise ValidationError(
            f"unknown audio format {audio_format!r}; use one of " + ", ".join(FORMATS),
            code="unsupported_format",
        )
    return fmt


def encoded_rate(fmt: AudioFormat, rate: int) -> int:
    """The rate ``fmt`` is written at for audio at ``rate``: ``rate``, unless the codec cannot
    take it (Opus, MP3), then its usual rate (the audio is resampled)."""
    if fmt == "opus" and rate not in _OPUS_RATES:
        return 48_000
    if fmt == "mp3" and rate not in _MP3_RATES:
        return 24_000
    return rate


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (sizes at their maximum, which
    players such as aplay and ffplay read as "until the end")."""
    unknown = 0xFFFFFFFF
    # The "fmt " chunk: its size (16), PCM, mono, the rate, bytes per second, per frame, bits.
    fmt_chunk = struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
    data_size = (unknown - 36).to_bytes(4, "little")
    return b"RIFF" + unknown.to_bytes(4, "little") + b"WAVEfmt " + fmt_chunk + b"data" + data_size


def resample(samples: npt.ArrayLike, from_rate: int, to_rate: int) -> npt.NDArray[np.float32]:
    """``samples`` at ``to_rate`` (soxr, high quality); the duration is kept."""
    import numpy as np

    if to_rate <= 0:
        raise ValidationError("the sample rate must be positive", code="invalid_request")
    array = np.asarray(samples, dtype=np.float32).reshape(-1)
    if from_rate == to_rate:
        return array
    import soxr

    return np.asarray(soxr.resample(array, from_rate, to_rate, quality="HQ"), dtype=np.float32)


def _encode(samples: npt.NDArray[np.float32], rate: int, fmt: AudioFormat) -> bytes:
    if fmt == "pcm":
        return (samples * 32767.0).round().astype("<i2").tobytes()
    if fmt == "aac":  # libsndfile has no AAC: PyAV's encoder, as for a stream
        encoder = _AvStream(fmt, rate, "AAC output")
        return encoder.encode(samples) + encoder.finish()
    import soundfile as sf

    container, subtype = _SNDFILE[fmt]
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()
