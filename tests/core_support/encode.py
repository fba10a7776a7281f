"""Encode test audio the way browsers and phones do, with PyAV (FFmpeg from its wheels).

``encode(samples, rate, kind)`` returns the bytes of a real file: ``webm`` (Opus, what Chrome
and Firefox's MediaRecorder make), ``ogg`` (Opus), ``m4a`` (AAC in MP4, Safari's), ``mp3``.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt


class Format(NamedTuple):
    """An encoding: the muxer, the codec, the rates it takes and its frame length in samples."""

    muxer: str
    codec: str
    rates: tuple[int, ...]
    frame: int


FORMATS = {
    "webm": Format("webm", "libopus", (48_000, 24_000, 16_000), 960),
    "ogg": Format("ogg", "libopus", (48_000, 24_000, 16_000), 960),
    "m4a": Format("ipod", "aac", (48_000, 44_100, 24_000, 22_050, 16_000), 1024),
    "mp3": Format("mp3", "libmp3lame", (48_000, 44_100, 24_000, 22_050, 16_000), 1152),
}


def encode(samples: npt.ArrayLike, rate: int, kind: str) -> bytes:
    """``samples``: (frames,) mono or (frames, channels) float in [-1, 1]."""
    import av

    spec = FORMATS[kind]
    array = np.asarray(samples, dtype=np.float32)
    planar = array.reshape(-1, 1).T if array.ndim == 1 else np.ascontiguousarray(array.T)
    layout = "mono" if planar.shape[0] == 1 else "stereo"
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=spec.muxer) as container:
        stream: Any = container.add_stream(spec.codec, rate=rate)
        stream.layout = layout
        if kind == "mp3":
            stream.format = "s16p"
        # FFmpeg's resampler (inside PyAV) converts to what each encoder takes.
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=rate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar), "fltp", layout)
        frame.sample_rate = rate
        # A timestamp lets the encoder mark its priming samples (AAC: an MP4 edit list) the
        # way real recorders do, so decoders drop them.
        frame.pts, frame.time_base = 0, Fraction(1, rate)
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(converted):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
