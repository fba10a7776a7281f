"""Approximate cloning: match the reference's pitch register and speaking rate, not its timbre.

eSpeak NG is a formant synthesiser; it cannot take on a voice. What it can match honestly:

- **pitch**: the reference's median F0 (from :mod:`._pitch`) picks a male (``m3``) or female
  (``f3``) variant, then the pitch setting whose measured output F0 is closest (calibration
  tables below, measured with the same tracker on eSpeak NG 1.52's English voice);
- **rate**: with a transcript, its letters per second of active speech in the reference are
  mapped to the eSpeak rate producing the same letters per second (calibration table below).
  Without a transcript the rate stays eSpeak's default;
- **language**: the request's, or the reference's own (see ``_languages.resolve_language``).

Every result carries :data:`APPROXIMATE_WARNING`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from tts_router.audio import DecodedAudio

from ._design import BASE_PITCH, BASE_RANGE, BASE_RATE
from ._pitch import track_pitch

__all__ = ["APPROXIMATE_WARNING", "ClonedVoice", "approximate_voice", "letters"]

APPROXIMATE_WARNING = (
    "approximate clone: pitch, rate and language are matched, not the voice's timbre"
)
NO_TRANSCRIPT_WARNING = "approximate clone: without a transcript the speaking rate was not matched"
NO_PITCH_WARNING = "approximate clone: no voiced speech found in the reference; default pitch used"
OUT_OF_RANGE_WARNING = (
    "approximate clone: the reference pitch is beyond eSpeak's range; nearest used"
)

# Between typical adult male (85-155 Hz) and female (165-255 Hz) speaking F0.
FEMALE_THRESHOLD_HZ = 160.0

# eSpeak pitch setting -> median output F0 (Hz) per variant, measured with _pitch.track_pitch.
_PITCH_SETTINGS = np.array([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99], dtype=np.float64)
_F0_BY_VARIANT: dict[str, np.ndarray] = {
    "m3": np.array([68, 73, 78, 85, 92, 102, 112, 124, 138, 154, 170], dtype=np.float64),
    "f3": np.array([139, 150, 160, 173, 187, 205, 224, 246, 272, 302, 332], dtype=np.float64),
}
# Letters per second of active speech -> eSpeak rate (wpm), measured on English text.
_LETTERS_PER_SECOND = np.array([7.3, 8.5, 9.9, 12.2, 14.0, 15.6, 19.7, 25.2, 31.3])
_RATES = np.array([80, 100, 120, 150, 175, 200, 260, 330, 400], dtype=np.float64)
_MIN_ACTIVE_SECONDS = 0.5  # below this a rate estimate is noise


@dataclass(frozen=True, slots=True)
class ClonedVoice:
    """eSpeak settings approximating a reference, and what was measured."""

    variant: str | None
    pitch: int
    rate: int
    median_f0: float | None
    warnings: tuple[str, ...]
    pitch_range: int = BASE_RANGE  # not measured: eSpeak's default


def approximate_voice(reference: DecodedAudio, transcript: str | None) -> ClonedVoice:
    """Measure ``reference`` (and its transcript, if any) and choose matching settings."""
    track = track_pitch(reference.samples, reference.sample_rate)
    warnings = [APPROXIMATE_WARNING]
    f0 = track.median_f0
    variant: str | None = None
    pitch = BASE_PITCH
    if f0 is None:
        warnings.append(NO_PITCH_WARNING)
    else:
        variant = "f3" if f0 >= FEMALE_THRESHOLD_HZ else "m3"
        table = _F0_BY_VARIANT[variant]
        if not table[0] * 0.9 <= f0 <= table[-1] * 1.1:
            warnings.append(OUT_OF_RANGE_WARNING)
        # F0 grows roughly exponentially with the setting: interpolate in log frequency.
        pitch = round(float(np.interp(np.log(f0), np.log(table), _PITCH_SETTINGS)))

    rate = BASE_RATE
    count = letters(transcript or "")
    if count == 0:
        warnings.append(NO_TRANSCRIPT_WARNING)
    elif track.active_seconds >= _MIN_ACTIVE_SECONDS:
        rate = round(float(np.interp(count / track.active_seconds, _LETTERS_PER_SECOND, _RATES)))
    return ClonedVoice(variant, pitch, rate, f0, tuple(warnings))


def letters(text: str) -> float:
    """Spoken length of ``text`` in Latin-letter equivalents.

    Letters and digits count 1; a Han character or Hangul syllable is a whole syllable (3); a
    kana is a mora (2). Spaces and punctuation count 0.
    """
    total = 0.0
    for ch in text:
        if not ch.isalnum():
            continue
        name = unicodedata.name(ch, "")
        if name.startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH", "HANGUL SYLLABLE")):
            total += 3
        elif name.startswith(("HIRAGANA", "KATAKANA")):
            total += 2
        else:
            total += 1
    return total
