"""A small autocorrelation pitch tracker: median F0 and the length of active speech.

Good enough to match a speaker's pitch register and to check eSpeak's output in tests; not a
research-grade tracker. Frames are Hann-windowed and their autocorrelation divided by the
window's own autocorrelation (Boersma 1993), which keeps the true period's peak near 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["PitchTrack", "median_f0", "track_pitch"]

FMIN = 60.0
FMAX = 450.0
_FRAME_SECONDS = 0.04  # two periods of the lowest pitch we look for
_HOP_SECONDS = 0.01
_ANALYSIS_RATE = 16_000  # decimate to at most this: plenty for F0 up to 450 Hz, and cheap
_VOICING_THRESHOLD = 0.5  # normalised autocorrelation peak needed to call a frame voiced
_SILENCE_DB = 35.0  # frames this far below the loudest frames are silence
_OCTAVE_TOLERANCE = 0.85  # prefer the shortest lag whose peak is this close to the best one
_BLOCK_FRAMES = 512  # bounded memory for long inputs


@dataclass(frozen=True, slots=True)
class PitchTrack:
    """Per-frame F0 (Hz, NaN where unvoiced) and which frames hold sound at all."""

    f0: npt.NDArray[np.float64]
    active: npt.NDArray[np.bool_]
    hop_seconds: float

    @property
    def active_seconds(self) -> float:
        """How long there is sound above the silence threshold."""
        return float(np.count_nonzero(self.active)) * self.hop_seconds

    @property
    def median_f0(self) -> float | None:
        """Median F0 of voiced frames, or None when fewer than 5 frames are voiced."""
        voiced = self.f0[np.isfinite(self.f0)]
        return float(np.median(voiced)) if voiced.size >= 5 else None


def median_f0(samples: npt.ArrayLike, sample_rate: int) -> float | None:
    """Median fundamental frequency in Hz of the voiced parts of ``samples``, or None."""
    return track_pitch(samples, sample_rate).median_f0


def track_pitch(samples: npt.ArrayLike, sample_rate: int) -> PitchTrack:
    """Estimate F0 every 10 ms with windowed, normalised autocorrelation."""
    signal = np.asarray(samples, dtype=np.float64).reshape(-1)
    # Integer-factor decimation with a moving-average low-pass (crude but pitch-safe).
    factor = max(1, sample_rate // _ANALYSIS_RATE)
    if factor > 1:
        signal = np.convolve(signal, np.ones(factor) / factor, mode="same")[::factor]
    rate = sample_rate // factor
    frame = int(_FRAME_SECONDS * rate)
    hop = int(_HOP_SECONDS * rate)
    if signal.size < frame:
        empty = np.zeros(0)
        return PitchTrack(empty, empty.astype(bool), _HOP_SECONDS)
    starts = np.arange(0, signal.size - frame + 1, hop)
    window = np.hanning(frame)
    nfft = 1 << int(np.ceil(np.log2(2 * frame)))
    window_acf = _acf(window[None, :], nfft)[0]
    window_acf = window_acf / window_acf[0]
    min_lag = max(int(rate / FMAX), 2)
    max_lag = min(int(rate / FMIN) + 1, frame - 1)

    energy = np.empty(starts.size)
    f0 = np.full(starts.size, np.nan)
    for block in range(0, starts.size, _BLOCK_FRAMES):
        idx = starts[block : block + _BLOCK_FRAMES, None] + np.arange(frame)[None, :]
        frames = signal[idx]
        frames = frames - frames.mean(axis=1, keepdims=True)
        energy[block : block + len(idx)] = np.sqrt(np.mean(frames**2, axis=1))
        acf = _acf(frames * window, nfft)
        with np.errstate(invalid="ignore", divide="ignore"):
            normalised = acf[:, : max_lag + 2] / acf[:, :1] / window_acf[None, : max_lag + 2]
        for row, values in enumerate(normalised):
            f0[block + row] = _best_period(values, min_lag, max_lag, rate)

    loud = np.percentile(energy, 95) if energy.size else 0.0
    active = energy > loud * 10 ** (-_SILENCE_DB / 20) if loud > 0 else np.zeros_like(energy, bool)
    f0[~active] = np.nan
    return PitchTrack(f0=f0, active=active, hop_seconds=_HOP_SECONDS)


def _acf(frames: npt.NDArray[np.float64], nfft: int) -> npt.NDArray[np.float64]:
    spectrum = np.fft.rfft(frames, nfft, axis=1)
    result: npt.NDArray[np.float64] = np.fft.irfft(np.abs(spectrum) ** 2, nfft, axis=1)
    return result


def _best_period(values: npt.NDArray[np.float64], min_lag: int, max_lag: int, rate: int) -> float:
    """F0 from one frame's normalised autocorrelation, or NaN when it is not voiced."""
    segment = values[min_lag : max_lag + 1]
    if not np.isfinite(segment).all():
        return float("nan")
    # Local maxima only: the edge of the lag range is not a period.
    inner = segment[1:-1]
    peaks = np.flatnonzero((inner > segment[:-2]) & (inner >= segment[2:])) + 1
    if peaks.size == 0:
        return float("nan")
    best = float(segment[peaks].max())
    if best < _VOICING_THRESHOLD:
        return float("nan")
    # Multiples of the period peak almost as high: the shortest near-best lag is the period.
    chosen = int(peaks[np.argmax(segment[peaks] >= _OCTAVE_TOLERANCE * best)])
    left, centre, right = segment[chosen - 1], segment[chosen], segment[chosen + 1]
    denominator = left - 2 * centre + right
    shift = 0.5 * (left - right) / denominator if denominator < 0 else 0.0
    return rate / (min_lag + chosen + shift)
