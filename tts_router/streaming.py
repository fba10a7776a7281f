"""Streaming results: audio in chunks, in order, as each is ready.

A stream yields :class:`AudioChunk` objects: a sequence number, the samples, the rate, the
span of the request's text the chunk speaks, and whether it is the last. Any provider streams
(the base class speaks its sentence chunks in order, the first kept short so it arrives early);
a provider may stream natively. Failures before the first chunk are the provider's usual typed
errors, so a router may still fall back; after it, a :class:`StreamInterruptedError` says how
much was delivered: never a silent gap, and never another voice mid-stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import StreamInterruptedError

if TYPE_CHECKING:
    from .formats import AudioFormat, EncodedAudio
    from .models import CloneMode

__all__ = ["FIRST_CHUNK_CHARS", "AudioChunk", "StreamInterruptedError"]

# The first chunk of a stream: one short sentence, so the first audio comes early whatever the
# text's length (generation time grows with the chunk's length).
FIRST_CHUNK_CHARS = 100


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One piece of a stream: mono float32 ``samples`` in [-1, 1] at ``sample_rate`` (the
    request's rate, else the provider's), and ``data``, the same audio as the next piece of a
    file in the request's ``format``: the ``data`` of every chunk in order is one valid file
    (a WAV of unknown length, raw PCM, Ogg/Opus, MP3 or AAC) to write or send as it comes.
    """

    sequence: int
    samples: Any = field(repr=False)
    sample_rate: int
    text_span: tuple[int, int]
    """``(start, end)``: the characters of the request's text this chunk speaks."""
    last: bool
    provider: str
    model: str
    mode: CloneMode
    warnings: tuple[str, ...] = ()
    data: bytes = field(default=b"", repr=False)
    format: AudioFormat = "wav"
    total: int | None = None
    """How many chunks the stream has in all, when the provider knows (progress:
    ``(sequence + 1) / total``)."""

    @property
    def duration(self) -> float:
        """Seconds of audio in this chunk."""
        return len(self.samples) / self.sample_rate

    def encode(self, audio_format: str = "pcm", *, sample_rate: int | None = None) -> EncodedAudio:
        """This chunk's audio in ``audio_format`` (see :mod:`tts_router.formats`)."""
        from .formats import encode

        return encode(self.samples, self.sample_rate, audio_format, target_rate=sample_rate)
