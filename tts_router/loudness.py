"""Loudness normalisation: speech brought to one integrated loudness (ITU-R BS.1770).

A request's ``loudness`` (LUFS, -16 for speech) makes every result and every stream chunk come
out at that loudness, whichever provider made it: chunks and fallbacks do not jump in volume.
The measure is pyloudnorm's BS.1770 meter (the ``loudness`` extra). The gain never clips: a gain
that would push a peak past full scale is lowered to keep the peak just below it, so very
dynamic audio may end a little quieter than the target.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .extras import require_extra

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["LoudnessLeveller"]

_PEAK = 0.989  # -0.1 dBFS: the gain stops here rather than clip
_MEASURE_SECONDS = 0.4  # BS.1770's gating block: anything shorter cannot be measured


class LoudnessLeveller:
    """Brings audio at ``sample_rate`` to ``target_lufs``, one piece after another.

    Each piece (a whole result, or a stream's chunk) is measured and gained on its own; a piece
    too short or too quiet to measure takes the gain of the piece before it (none at first).
    """

    def __init__(self, target_lufs: float, sample_rate: int) -> None:
        require_extra("pyloudnorm", "tts-router-core", "loudness", what="loudness=")
        import pyloudnorm

        self.target_lufs = target_lufs
        self.sample_rate = sample_rate
        self._meter = pyloudnorm.Meter(sample_rate)
        self._gain = 1.0

    def apply(self, samples: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """``samples`` (mono, [-1, 1]) at the target loudness, as float32."""
        import numpy as np

        array = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(array) >= _MEASURE_SECONDS * self.sample_rate:
            measured = float(self._meter.integrated_loudness(array.astype(np.float64)))
            if math.isfinite(measured):  # silence measures -inf: keep the last gain
                self._gain = 10 ** ((self.target_lufs - measured) / 20)
        peak = float(np.max(np.abs(array))) if len(array) else 0.0
        gain = min(self._gain, _PEAK / peak) if peak > 0 else self._gain
        return (array * np.float32(gain)).astype(np.float32, copy=False)
