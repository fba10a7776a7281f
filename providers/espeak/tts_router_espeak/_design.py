"""Rule-based voice design: a description in words becomes eSpeak NG settings.

:func:`design_voice` is pure (no engine, no I/O). It reads English words only:

=================  ===========================================  ==============================
kind               words (and forms like "slowly", "deeper")    effect
=================  ===========================================  ==============================
gender             female, woman, lady, girl, she... /          female or male variant
                   male, man, gentleman, boy, he...
age                child, kid / young, teen, girl, boy /        variant, pitch, rate
                   old, elderly, aged, grandfather...
pitch              high, high-pitched, squeaky, shrill... /     pitch +25 / -25 (of 0-99)
                   low, deep, bass, baritone, gravelly...
speed              fast, quick, rapid, brisk... /               rate x1.4 / x0.7 (175 wpm base)
                   slow, leisurely, unhurried, deliberate...
expressiveness     expressive, lively, excited, dramatic... /   pitch range +25 /
                   calm, soothing, gentle, soft... /            range -15 and rate x0.9 /
                   monotone, flat, robotic...                   range at most 10
whisper            whisper, whispering, whispered               the whisper variant
intensity          very, extremely, really... / slightly,       x1.6 / x0.5 on the next word
                   somewhat, a bit, a little...
negation           not, no, never, without                      the next word has no effect
=================  ===========================================  ==============================

The variant comes from gender and age (``f3`` adult woman, ``m3`` adult man, ``grandma`` and
``grandpa`` for old voices, ``f5`` plus a higher pitch for a child; no gender keeps the
language's default voice). The first gender and the first age mentioned win.

Words that describe timbre or emotion ("warm", "raspy", "sad") are understood but eSpeak has no
control for them; they, and words not understood at all, are ignored and counted in a warning.
Warnings never quote the description: it is user content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["BASE_PITCH", "BASE_RANGE", "BASE_RATE", "DesignedVoice", "design_voice"]

BASE_PITCH = 50
BASE_RATE = 175
BASE_RANGE = 50

Gender = Literal["female", "male"]
Age = Literal["child", "young", "adult", "old"]

_PITCH_STEP = 25.0
_FAST = 1.4
_SLOW = 0.7
_STRONG = 1.6
_WEAK = 0.5
_MONOTONE_RANGE = 10


@dataclass(frozen=True, slots=True)
class DesignedVoice:
    """eSpeak settings for a description; ``variant`` None keeps the language's own voice."""

    variant: str | None
    pitch: int
    rate: int
    pitch_range: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Rule:
    gender: Gender | None = None
    age: Age | None = None
    pitch: float = 0.0  # added to the pitch (0-99), scaled by intensity
    speed: float = 1.0  # rate multiplier, raised to the power of the intensity
    range: float = 0.0  # added to the pitch range, scaled by intensity
    monotone: bool = False
    whisper: bool = False
    intensity: float | None = None  # an intensifier: applies to the next word
    negate: bool = False  # a negator: the next word does nothing
    timbre: bool = False  # understood, but eSpeak cannot render it
    filler: bool = False  # carries no voice information ("a", "voice", "speaking")


def _words(rule: _Rule, words: str) -> dict[str, _Rule]:
    return dict.fromkeys(words.split(), rule)


_RULES: dict[str, _Rule] = {
    **_words(
        _Rule(gender="female"),
        "female feminine woman women lady ladies she her mother mom mum aunt sister daughter "
        "queen actress wife",
    ),
    **_words(
        _Rule(gender="male"),
        "male masculine man men guy gentleman gentlemen he his him father dad uncle brother "
        "son king actor husband",
    ),
    **_words(_Rule(gender="female", age="young"), "girl girls"),
    **_words(_Rule(gender="male", age="young"), "boy boys"),
    **_words(_Rule(gender="female", age="old"), "grandmother grandma granny"),
    **_words(_Rule(gender="male", age="old"), "grandfather grandpa"),
    **_words(_Rule(age="child"), "child children kid kids toddler childlike"),
    **_words(_Rule(age="young"), "young younger youthful teen teens teenage teenager adolescent"),
    **_words(_Rule(age="adult"), "adult mature middle-aged grown-up"),
    **_words(_Rule(age="old"), "old older elderly aged senior ancient elder"),
    **_words(
        _Rule(pitch=_PITCH_STEP),
        "high higher highest high-pitched squeaky shrill piping soprano falsetto",
    ),
    **_words(
        _Rule(pitch=-_PITCH_STEP),
        "low lower lowest low-pitched deep deeper deepest bass baritone gravelly gruff booming "
        "rumbling",
    ),
    **_words(
        _Rule(speed=_FAST),
        "fast faster quick quicker quickly rapid rapidly hurried hurriedly brisk briskly speedy "
        "fast-paced",
    ),
    **_words(
        _Rule(speed=_SLOW),
        "slow slower slowly leisurely unhurried measured deliberate deliberately drawling "
        "sluggish slow-paced",
    ),
    **_words(
        _Rule(range=25),
        "expressive animated lively excited excitedly enthusiastic dramatic cheerful energetic "
        "bubbly playful emotional",
    ),
    **_words(
        _Rule(range=-15, speed=0.9),
        "calm calmly soothing relaxed gentle gently soft softly quiet quietly serene peaceful "
        "tranquil soft-spoken",
    ),
    **_words(_Rule(monotone=True), "monotone monotonous flat robotic deadpan emotionless bored"),
    **_words(_Rule(whisper=True), "whisper whispering whispered whispery"),
    **_words(
        _Rule(intensity=_STRONG), "very extremely really super quite highly incredibly so much more"
    ),
    **_words(
        _Rule(intensity=_WEAK), "slightly somewhat bit little mildly fairly rather moderately"
    ),
    **_words(_Rule(negate=True), "not no never without non"),
    **_words(
        _Rule(timbre=True),
        "warm rich smooth raspy hoarse husky nasal clear crisp velvety silky mellow resonant "
        "breathy airy sharp harsh rough sweet thin full strong powerful loud weak friendly "
        "confident authoritative professional serious sad angry happy dark bright light cold "
        "kindly tired sleepy nervous anxious bold",
    ),
    **_words(
        _Rule(filler=True),
        "a an the voice voiced voices speaking speaks speak speaker spoken talking talks talk "
        "tone toned sounding sounds sound like with and or of in at who that which is are has "
        "having pitch pitched pace paced tempo person someone somebody narrator narrating "
        "reads reading for to but type kind sort",
    ),
}

_TOKEN = re.compile(r"\w+(?:[-']\w+)*")

# (gender, age) -> eSpeak variant; the "child" entries also raise the pitch (see _AGE_EFFECT).
_VARIANTS: dict[tuple[Gender | None, Age], str | None] = {
    ("female", "child"): "f5",
    ("female", "young"): "f2",
    ("female", "adult"): "f3",
    ("female", "old"): "grandma",
    ("male", "child"): "f5",  # eSpeak has no child voice; a boy's register is close to f5's
    ("male", "young"): "m6",
    ("male", "adult"): "m3",
    ("male", "old"): "grandpa",
    (None, "child"): "f5",
    (None, "young"): None,
    (None, "adult"): None,
    (None, "old"): "grandpa",
}
# age -> (pitch added, rate multiplier)
_AGE_EFFECT: dict[Age, tuple[float, float]] = {
    "child": (20.0, 1.05),
    "young": (5.0, 1.0),
    "adult": (0.0, 1.0),
    "old": (-5.0, 0.85),
}


def design_voice(description: str) -> DesignedVoice:
    """Map a voice description in English words to eSpeak variant, pitch, rate and range.

    Total over its input: any string gives settings inside eSpeak's ranges (pitch 0-99, rate
    80-450 wpm, range 0-100), with warnings counting what was ignored.
    """
    gender: Gender | None = None
    age: Age | None = None
    pitch = float(BASE_PITCH)
    rate = float(BASE_RATE)
    pitch_range = float(BASE_RANGE)
    monotone = whisper = False
    unknown = timbre = effective = 0
    intensity = 1.0
    negated = False

    for rule in _rules(description):
        if rule is None:
            unknown += 1
            continue
        if rule.filler:
            continue
        if rule.intensity is not None:
            intensity *= rule.intensity
            continue
        if rule.negate:
            negated = True
            continue
        if rule.timbre:
            timbre += 1
        elif not negated:
            effective += 1
            gender = gender or rule.gender
            age = age or rule.age
            pitch += rule.pitch * intensity
            rate *= rule.speed**intensity
            pitch_range += rule.range * intensity
            monotone = monotone or rule.monotone
            whisper = whisper or rule.whisper
        # An intensifier or negator binds to the next meaningful word only.
        intensity, negated = 1.0, False

    age_pitch, age_speed = _AGE_EFFECT[age or "adult"]
    variant = _VARIANTS[(gender, age or "adult")]
    if whisper:
        variant = "whisperf" if gender == "female" else "whisper"
    if monotone:
        pitch_range = min(pitch_range, _MONOTONE_RANGE)
    return DesignedVoice(
        variant=variant,
        pitch=_clamp(pitch + age_pitch, 0, 99),
        rate=_clamp(rate * age_speed, 80, 450),
        pitch_range=_clamp(pitch_range, 0, 100),
        warnings=_warnings(unknown, timbre, effective),
    )


def _rules(description: str) -> list[_Rule | None]:
    """One rule per word (None where not understood); unknown hyphenated words are split."""
    rules: list[_Rule | None] = []
    for token in _TOKEN.findall(description.casefold()):
        word = token.removesuffix("'s")
        if word in _RULES:
            rules.append(_RULES[word])
        elif "-" in word:
            rules.extend(_RULES.get(part) for part in word.split("-") if part)
        else:
            rules.append(None)
    return rules


def _warnings(unknown: int, timbre: int, effective: int) -> tuple[str, ...]:
    warnings: list[str] = []
    if unknown:
        warnings.append(
            f"voice description: {_plural(unknown, 'word')} not understood and ignored "
            "(eSpeak voice design reads English words for gender, age, pitch, speed and "
            "expressiveness)"
        )
    if timbre:
        warnings.append(
            f"voice description: {_plural(timbre, 'timbre or emotion word')} ignored "
            "(eSpeak cannot render timbre or emotion)"
        )
    if not effective:
        warnings.append("voice description: nothing eSpeak can change; its default voice was used")
    return tuple(warnings)


def _plural(n: int, noun: str) -> str:
    return f"1 {noun}" if n == 1 else f"{n} {noun}s"


def _clamp(value: float, low: int, high: int) -> int:
    return min(max(round(value), low), high)
