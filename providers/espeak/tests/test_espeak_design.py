"""The design rules, table-driven: description -> variant, pitch, rate, range, warnings."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tts_router_espeak._design import (
    BASE_PITCH,
    BASE_RANGE,
    BASE_RATE,
    DesignedVoice,
    design_voice,
)

# description, variant, pitch, rate, range, number of warnings
RULES: list[tuple[str, str | None, int, int, int, int]] = [
    # gender and age pick the variant
    ("a woman", "f3", 50, 175, 50, 0),
    ("a man", "m3", 50, 175, 50, 0),
    ("a voice", None, 50, 175, 50, 1),  # nothing to change: default voice, one warning
    ("an old man", "grandpa", 45, 149, 50, 0),
    ("an elderly woman", "grandma", 45, 149, 50, 0),
    ("a young man", "m6", 55, 175, 50, 0),
    ("a girl", "f2", 55, 175, 50, 0),
    ("a middle-aged woman", "f3", 50, 175, 50, 0),
    ("a child", "f5", 70, 184, 50, 0),
    ("a fast, high-pitched child", "f5", 95, 257, 50, 0),
    ("a woman, not a man", "f3", 50, 175, 50, 0),  # the first gender wins, negated or not
    # pitch words
    ("a high voice", None, 75, 175, 50, 0),
    ("a deep low voice", None, 0, 175, 50, 0),
    ("a very deep voice", None, 10, 175, 50, 0),
    ("a slightly higher voice", None, 62, 175, 50, 0),
    ("a warm, low female voice, speaking slowly", "f3", 25, 122, 50, 1),  # "warm" is timbre
    # speed words
    ("speaking quickly", None, 50, 245, 50, 0),
    ("very slow", None, 50, 99, 50, 0),
    ("not fast", None, 50, 175, 50, 1),  # negated: no effect
    # expressiveness
    ("a calm voice", None, 50, 158, 35, 0),
    ("a lively, expressive narrator", None, 50, 175, 100, 0),
    ("a monotone robotic voice", None, 50, 175, 10, 0),
    ("a whispering woman", "whisperf", 50, 175, 50, 0),
    ("a whisper", "whisper", 50, 175, 50, 0),
    # limits hold whatever is stacked
    ("very very very high high high squeaky shrill child", "f5", 99, 184, 50, 0),
    ("extremely slow slow slow slow old", "grandpa", 45, 80, 50, 0),
]


@pytest.mark.parametrize(("description", "variant", "pitch", "rate", "range_", "n"), RULES)
def test_design_rules(
    description: str, variant: str | None, pitch: int, rate: int, range_: int, n: int
) -> None:
    voice = design_voice(description)
    expected = (variant, pitch, rate, range_)
    assert (voice.variant, voice.pitch, voice.rate, voice.pitch_range) == expected
    assert len(voice.warnings) == n, voice.warnings


def test_unknown_words_are_counted_not_quoted() -> None:
    voice = design_voice("a zorblaxian, flimflam woman with a quux")
    assert voice.variant == "f3"
    assert len(voice.warnings) == 1
    warning = voice.warnings[0]
    assert "3 words" in warning
    for word in ("zorblaxian", "flimflam", "quux"):
        assert word not in warning.casefold()


def test_timbre_words_are_counted_not_quoted() -> None:
    voice = design_voice("a raspy, warm man")
    assert voice.variant == "m3"
    assert voice.warnings == (
        "voice description: 2 timbre or emotion words ignored "
        "(eSpeak cannot render timbre or emotion)",
    )


def test_non_english_description_is_reported() -> None:
    voice = design_voice("温暖的女声")
    assert voice == DesignedVoice(None, BASE_PITCH, BASE_RATE, BASE_RANGE, voice.warnings)
    assert any("not understood" in w for w in voice.warnings)
    assert all("温暖" not in w for w in voice.warnings)


def test_case_and_punctuation_do_not_matter() -> None:
    assert design_voice("A DEEP, Slow MAN!") == design_voice("a deep slow man")


def _template(warning: str) -> str:
    return re.sub(r"\d+", "N", warning)


# Every warning design_voice can give, with counts replaced by N.
TEMPLATES = {
    _template(w)
    for probe in ("zz", "zz qq", "warm", "warm rich")
    for w in design_voice(probe).warnings
}


@given(st.text(max_size=300))
def test_any_description_gives_settings_in_range_and_fixed_warnings(description: str) -> None:
    voice = design_voice(description)
    assert 0 <= voice.pitch <= 99
    assert 80 <= voice.rate <= 450
    assert 0 <= voice.pitch_range <= 100
    # Warnings are fixed sentences with counts: nothing from the description gets into them.
    assert {_template(w) for w in voice.warnings} <= TEMPLATES
