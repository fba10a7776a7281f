"""Audio in and out: the one validator for reference audio, WAV encoding, and chunk stitching.

Everything that accepts audio from outside (a host app's upload, a service's response) goes
through :func:`decode_audio`, so there is exactly one place that decides what audio is
acceptable. It trusts nothing in the header: the duration is the number of frames actually
decoded, and decoding stops as soon as the limit is passed so a tiny compressed file cannot
expand into gigabytes.

Two decoders sit behind it, chosen by the file's first bytes (never by its name or a declared
type): libsndfile (``soundfile``, a core dependency) for WAV, FLAC and AIFF, and FFmpeg through
PyAV (the ``formats`` extra) for what browsers record (WebM/Opus from Chrome and Firefox,
MP4/AAC from Safari), Ogg (Opus, Vorbis) and MP3. Without PyAV, Ogg/Vorbis and MP3 still decode
through libsndfile, and WebM or MP4 is an ``audio_decoder_missing`` error naming the extra.
PyAV is only ever given the demuxer the bytes were sniffed as and an allow-listed codec.

Decoding runs in bounded memory: blocks are downmixed to mono float32 as they are decoded,
written into one buffer sized from the header (and grown only if the header lied), and rates
above :attr:`AudioLimits.max_decoded_rate` are decimated block by block. No full-size float64
or multichannel copy is ever made; the peak is about the size of the mono float32 result.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

# numpy is imported where it is used: `import tts_router` and building requests need none
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

from .errors import AudioValidationError, OutputValidationError
from .formats import encode

__all__ = [
    "OUTPUT_LIMITS",
    "REFERENCE_LIMITS",
    "AudioLimits",
    "DecodedAudio",
    "decode_audio",
    "encode_wav",
    "formats_available",
    "sniff_container",
    "stitch",
    "validate_output_samples",
    "validate_output_wav",
]

FloatArray: TypeAlias = "npt.NDArray[np.float32]"

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
# What FFmpeg may decode for us: the codecs browsers and phones record, nothing more.
ALLOWED_CODECS = frozenset({"opus", "libopus", "vorbis", "aac", "mp3", "mp3float", "flac"})
# Sniffed container -> the one FFmpeg demuxer allowed to read it (no probing of other formats).
_DEMUXERS = {"ogg": "ogg", "webm": "matroska", "mp4": "mov", "mp3": "mp3"}
_NEEDS_AV = frozenset({"webm", "mp4"})
_BLOCK_FRAMES = 65_536
_INITIAL_CAPACITY = 1 << 20  # samples, when the header says nothing trustworthy


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
    max_decoded_rate: int | None = 48_000
    """Rates above this are decimated while decoding, by the smallest whole factor that brings
    them to it or below (192 kHz -> 48 kHz, 88.2 kHz -> 44.1 kHz), so a high-rate upload costs
    no more memory than a 48 kHz one; None keeps the file's rate (provider output must)."""


REFERENCE_LIMITS = AudioLimits()
# Output peaks above this are out of range: float32 rounding may put a clipped 1.0 a hair over.
_FULL_SCALE = 1.0 + 1e-6
# What a provider may hand back: any non-trivial length, but never empty, NaN or silent.
OUTPUT_LIMITS = AudioLimits(
    max_bytes=1024 * 1024 * 1024,
    min_seconds=0.05,
    max_seconds=6 * 3600.0,
    max_channels=1,
    max_decoded_rate=None,
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


def formats_available() -> bool:
    """Whether PyAV is installed, so browser recordings (WebM, MP4/AAC) decode."""
    import importlib.util

    return importlib.util.find_spec("av") is not None


def sniff_container(data: bytes) -> str | None:
    """The container ``data`` starts like: ``wav``, ``flac``, ``aiff``, ``ogg``, ``webm``
    (Matroska), ``mp4`` (MP4/M4A/MOV), ``mp3``, or None. Only the magic bytes are read."""
    head = data[:12]
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def decode_audio(data: bytes, limits: AudioLimits = REFERENCE_LIMITS) -> DecodedAudio:
    """Decode and validate ``data``; return mono float32 samples.

    Total over its input: any bytes either decode within ``limits`` or raise
    :class:`AudioValidationError` whose ``code`` says which rule failed. The sample rate is the
    file's own, except above ``limits.max_decoded_rate`` (see :class:`AudioLimits`).
    """
    if not data:
        raise AudioValidationError("the audio is empty", code="audio_empty")
    if len(data) > limits.max_bytes:
        raise AudioValidationError(
            f"the audio is {len(data)} bytes; at most {limits.max_bytes} are accepted "
            "(trim it or re-encode as FLAC)",
            code="audio_too_large",
        )
    container = sniff_container(data)
    if container in _DEMUXERS and formats_available():
        return _decode_av(data, container, limits)
    if container in _NEEDS_AV:
        raise AudioValidationError(
            f"{'WebM' if container == 'webm' else 'MP4/M4A'} audio (a browser recording) needs "
            "PyAV: pip install 'tts-router-core[formats]', or send WAV or FLAC",
            code="audio_decoder_missing",
        )
    return _decode_sndfile(data, limits)


def _decode_sndfile(data: bytes, limits: AudioLimits) -> DecodedAudio:
    import soundfile as sf

    try:
        handle = sf.SoundFile(io.BytesIO(data))
    except Exception:
        raise AudioValidationError(
            "the audio could not be decoded; send WAV, FLAC, OGG, MP3, WebM or M4A",
            code="audio_unreadable",
        ) from None
    with handle:
        if handle.format not in ALLOWED_FORMATS or handle.subtype not in ALLOWED_SUBTYPES:
            raise AudioValidationError(
                f"audio format {handle.format}/{handle.subtype} is not accepted; send 16-bit "
                "PCM WAV or FLAC",
                code="audio_format_not_allowed",
            )
        sink = _MonoSink(int(handle.samplerate), int(handle.channels), limits, handle.frames)
        return _drain(sink, handle.blocks(_BLOCK_FRAMES, dtype="float32", always_2d=True))


def _decode_av(data: bytes, container: str, limits: AudioLimits) -> DecodedAudio:
    import av

    try:
        opened = av.open(io.BytesIO(data), mode="r", format=_DEMUXERS[container])
    except Exception:
        raise AudioValidationError(
            f"the audio looks like {container} but could not be opened; re-encode it",
            code="audio_unreadable",
        ) from None
    with opened:
        if not opened.streams.audio:
            raise AudioValidationError(
                f"the {container} file has no audio stream", code="audio_unreadable"
            )
        stream = opened.streams.audio[0]
        codec = stream.codec_context
        if codec.name not in ALLOWED_CODECS:
            raise AudioValidationError(
                f"audio codec {codec.name} in {container} is not accepted; send Opus, AAC, "
                "MP3, WAV or FLAC",
                code="audio_format_not_allowed",
            )
        rate = int(codec.sample_rate or 0)
        # The header's length sizes the buffer; it is a hint, never trusted.
        duration, time_base = stream.duration, stream.time_base
        header_frames = (
            None if duration is None or time_base is None else int(duration * time_base * rate)
        )
        sink = _MonoSink(rate, int(codec.layout.nb_channels), limits, header_frames)

        def blocks() -> Iterator[npt.NDArray[np.float32]]:
            for frame in opened.decode(stream):
                if frame.sample_rate != rate:
                    raise AudioValidationError(
                        "the sample rate changes part-way through; re-encode it",
                        code="audio_unreadable",
                    )
                yield _frame_block(frame)

        return _drain(sink, blocks())


def _drain(sink: _MonoSink, blocks: Iterable[npt.NDArray[np.float32]]) -> DecodedAudio:
    """Feed decoded blocks to the sink; a decoder failing midway means a corrupt file."""
    try:
        for block in blocks:
            sink.add(block)
    except AudioValidationError:
        raise
    except Exception:
        raise AudioValidationError(
            "the audio is corrupt part-way through; re-encode it", code="audio_unreadable"
        ) from None
    return sink.finish()


def _frame_block(frame: Any) -> npt.NDArray[Any]:
    """A decoded frame as (frames, channels) float32 in [-1, 1]."""
    import numpy as np

    array: npt.NDArray[Any] = frame.to_ndarray()
    channels = int(frame.layout.nb_channels)
    # Planar frames are (channels, frames); packed ones are (1, frames * channels).
    block = array.T if frame.format.is_planar else array.reshape(-1, channels)
    if np.issubdtype(block.dtype, np.floating):
        return block.astype(np.float32, copy=False)
    if block.dtype == np.uint8:
        return (block.astype(np.float32) - 128.0) / 128.0
    scale = float(np.iinfo(block.dtype).max) + 1.0
    return block.astype(np.float32) / scale


class _MonoSink:
    """Collects decoded blocks as one mono float32 buffer, checking the limits as it goes.

    Holds at most one block of the input's channels plus the mono result: blocks are downmixed
    (and decimated above ``max_decoded_rate``) as they arrive. Errors are raised in a fixed
    order (length, then content) whatever the block in which a problem shows.
    """

    def __init__(
        self, rate: int, channels: int, limits: AudioLimits, header_frames: int | None
    ) -> None:
        import numpy as np

        if not limits.min_sample_rate <= rate <= limits.max_sample_rate:
            raise AudioValidationError(
                f"sample rate {rate} Hz is outside "
                f"{limits.min_sample_rate}-{limits.max_sample_rate} Hz; resample it",
                code="audio_sample_rate",
            )
        _check_channels(channels, limits)
        self.rate = rate
        self.limits = limits
        self.max_frames = int(limits.max_seconds * rate)
        self.frames = 0  # input frames seen, at the file's rate
        self.finite = True
        self.peak = 0.0
        self.decimator = _Decimator.for_rate(rate, limits.max_decoded_rate)
        factor = self.decimator.factor if self.decimator else 1
        expected = min(header_frames or _INITIAL_CAPACITY, self.max_frames + 1)
        self.buffer = np.empty(max(expected, 1) // factor + 1, dtype=np.float32)
        self.used = 0

    def add(self, block: npt.NDArray[Any]) -> None:
        """Take (frames, channels) samples."""
        import numpy as np

        if len(block) == 0:
            return
        _check_channels(block.shape[1], self.limits)
        self.frames += len(block)
        if self.frames > self.max_frames:  # stop decoding at once: a bomb never expands
            raise AudioValidationError(
                f"the audio is longer than {self.limits.max_seconds:g} s; trim it",
                code="audio_too_long",
            )
        mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
        if not np.isfinite(mono).all():
            self.finite = False
            return
        self.peak = max(self.peak, float(np.max(np.abs(mono))))
        self._append(self.decimator(mono) if self.decimator else mono)

    def _append(self, samples: FloatArray) -> None:
        end = self.used + len(samples)
        if end > len(self.buffer):  # the header lied (or said nothing): grow geometrically
            # In place (realloc: large blocks are remapped, not copied); no view of it exists.
            self.buffer.resize(max(end, len(self.buffer) * 2), refcheck=False)
        self.buffer[self.used : end] = samples
        self.used = end

    def finish(self) -> DecodedAudio:
        """Check what was collected and return it."""
        import numpy as np

        if self.frames == 0:
            raise AudioValidationError("there is no audio (zero samples)", code="audio_empty")
        if self.frames < self.limits.min_seconds * self.rate:
            raise AudioValidationError(
                f"the audio is {self.frames / self.rate:.2f} s; at least "
                f"{self.limits.min_seconds:g} s is needed",
                code="audio_too_short",
            )
        if not self.finite:
            raise AudioValidationError(
                "the audio contains NaN or infinite samples", code="audio_not_finite"
            )
        if self.peak < self.limits.silence_peak:
            raise AudioValidationError(
                "the audio is silence (peak below -60 dBFS)", code="audio_silent"
            )
        rate = self.rate
        if self.decimator:
            self._append(self.decimator.flush())
            rate = self.rate // self.decimator.factor
        self.buffer.resize(self.used, refcheck=False)  # give back what the header overstated
        np.clip(self.buffer, -1.0, 1.0, out=self.buffer)
        return DecodedAudio(samples=self.buffer, sample_rate=rate)


def _check_channels(channels: int, limits: AudioLimits) -> None:
    if not 1 <= channels <= limits.max_channels:
        raise AudioValidationError(
            f"the audio has {channels} channels; at most {limits.max_channels} are accepted",
            code="audio_channels",
        )


class _Decimator:
    """Streaming anti-aliased decimation by a whole factor (windowed-sinc FIR, polyphase).

    Only the kept outputs are computed. The filter's delay is removed, so N input frames give
    ``ceil(N / factor)`` output frames: the duration is kept to within one output sample.
    """

    def __init__(self, factor: int) -> None:
        import numpy as np

        self.factor = factor
        taps = 24 * factor + 1
        cutoff = 0.45 / factor  # cycles per input sample: just under the new Nyquist
        t = np.arange(taps) - (taps - 1) / 2
        kernel = 2 * cutoff * np.sinc(2 * cutoff * t) * np.blackman(taps)
        self.kernel = (kernel / kernel.sum())[::-1].astype(np.float32)
        self.delay = (taps - 1) // 2
        self.history = np.zeros(taps - 1, dtype=np.float32)
        self.next_index = self.delay  # index, in the filtered stream, of the next output kept
        self.consumed = 0  # filtered samples produced so far

    @classmethod
    def for_rate(cls, rate: int, ceiling: int | None) -> _Decimator | None:
        """The decimator that brings ``rate`` to ``ceiling`` or below, if one is needed."""
        if ceiling is None or rate <= ceiling:
            return None
        for factor in range(math.ceil(rate / ceiling), 17):
            if rate % factor == 0:
                return cls(factor)
        return None  # no whole factor gives an exact rate: keep the file's rate

    def __call__(self, samples: FloatArray) -> FloatArray:
        import numpy as np

        window = np.concatenate([self.history, samples])
        self.history = window[len(samples) :].copy()
        count = len(samples)
        first = self.next_index - self.consumed
        self.consumed += count
        if first >= count:
            return np.zeros(0, dtype=np.float32)
        views = np.lib.stride_tricks.sliding_window_view(window, len(self.kernel))
        picked = views[first :: self.factor]
        self.next_index += len(picked) * self.factor
        filtered: FloatArray = (picked @ self.kernel).astype(np.float32, copy=False)
        return filtered

    def flush(self) -> FloatArray:
        """The outputs the filter's delay still holds back."""
        import numpy as np

        return self(np.zeros(self.delay, dtype=np.float32))


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
    import numpy as np

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
        sink = _MonoSink(sample_rate, 1, OUTPUT_LIMITS, len(array))
        sink.add(array.astype(np.float32, copy=False).reshape(-1, 1))
        checked = sink.finish()
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
    return encode(samples, sample_rate).data


def stitch(
    chunks: Sequence[npt.ArrayLike], sample_rate: int, crossfade_ms: float = 10.0
) -> FloatArray:
    """Join chunks in order with a short linear crossfade so no click marks the seams.

    The overlap at each seam is ``crossfade_ms`` but never more than half of either neighbour,
    so the result is shorter than the sum of the chunks by the overlaps only, and no chunk
    disappears.
    """
    import numpy as np

    arrays = [np.asarray(c, dtype=np.float32).reshape(-1) for c in chunks]
    if not arrays:
        return np.zeros(0, dtype=np.float32)
    wanted = int(sample_rate * crossfade_ms / 1000)
    pieces: list[FloatArray] = []
    pending = arrays[0]
    for nxt in arrays[1:]:
        overlap = min(wanted, len(pending) // 2, len(nxt) // 2)
        fade = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
        keep = len(pending) - overlap  # not [:-overlap]: the overlap may be 0
        pieces.append(pending[:keep])
        pending = np.concatenate(
            [pending[keep:] * (1.0 - fade) + nxt[:overlap] * fade, nxt[overlap:]]
        )
    pieces.append(pending)
    return np.concatenate(pieces)
