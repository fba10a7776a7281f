"""WhisperD normalisation, the split into passes, and the sampler settings."""

from __future__ import annotations

import inspect
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tts_router_echo.passes import (
    MAX_TEXT_BYTES,
    max_pass_chars,
    plan_passes,
    whisperd,
)
from tts_router_echo.sampler import SamplerSettings, preset_names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello world.", "[S1] Hello world."),
        ("[S1] Already tagged.", "[S1] Already tagged."),
        ("[S2] Second speaker.", "[S2] Second speaker."),
        ("Note: one; two — three", "[S1] Note, one, two, three"),
        ("“Quoted” and ‘single’…", "[S1] \"Quoted\" and 'single'..."),
        ("  many\n\nlines\there  ", "[S1] many lines here"),
        # Upstream would skip the tag here (it looks for "S1" anywhere, or a leading bracket).
        ("The S1 engine.", "[S1] The S1 engine."),
        ("[laughs] Right.", "[S1] [laughs] Right."),
    ],
)
def test_whisperd(raw: str, expected: str) -> None:
    assert whisperd(raw) == expected


def _letters(text: str) -> str:
    return re.sub(r"[\s,:;—–]|\[S1\]", "", text)


@given(st.text(min_size=1, max_size=600), st.integers(min_value=5, max_value=120))
def test_passes_keep_every_letter_in_order(text: str, max_chars: int) -> None:
    passes = plan_passes(text, max_chars)
    expected = _letters(whisperd(text).removeprefix("[S1] ")) if text.strip() else ""
    assert _letters("".join(p.removeprefix("[S1] ") for p in passes)) == expected
    for item in passes:
        assert item.startswith("[S")
        assert len(item.encode()) <= MAX_TEXT_BYTES


def test_passes_end_at_sentences() -> None:
    text = "One short sentence. Another short one. A third!"
    assert plan_passes(text, 40) == [
        "[S1] One short sentence. Another short one.",
        "[S1] A third!",
    ]


def test_multibyte_text_is_split_to_fit_the_byte_window() -> None:
    text = "🙂" * 300  # 300 characters, 1200 bytes: within a character budget, not the window
    passes = plan_passes(text, 400)
    assert len(passes) > 1
    assert "".join(p.removeprefix("[S1] ") for p in passes) == text


def test_default_pass_budget_fits_the_window() -> None:
    window = SamplerSettings().window_seconds
    assert window == pytest.approx(29.72, abs=0.01)
    chars = max_pass_chars(window)
    assert 250 <= chars <= 420  # ~24 s at 13 characters per second
    assert max_pass_chars(window, chars_per_second=10.0) < chars


def test_defaults_are_upstreams() -> None:
    from echo_tts import EchoTTS

    upstream = inspect.signature(EchoTTS.synthesize).parameters
    ours = SamplerSettings()
    for name in (
        "num_steps",
        "cfg_scale_text",
        "cfg_scale_speaker",
        "cfg_min_t",
        "cfg_max_t",
        "truncation_factor",
        "sequence_length",
    ):
        assert getattr(ours, name) == upstream[name].default, name
    assert ours.seed == upstream["seed"].default


def test_presets_are_parsed_from_strings() -> None:
    names = preset_names()
    assert "Independent-High-Speaker-CFG-Flat" in names
    flat = SamplerSettings.from_preset("Independent-High-Speaker-CFG-Flat", sequence_length=320)
    assert flat.num_steps == 40
    assert isinstance(flat.num_steps, int)
    assert flat.truncation_factor == pytest.approx(0.8)
    assert flat.rescale_k == pytest.approx(1.2)
    assert flat.sequence_length == 320
    with pytest.raises(ValueError, match="unknown preset"):
        SamplerSettings.from_preset("nope")


@pytest.mark.parametrize(
    "bad",
    [
        {"num_steps": 0},
        {"sequence_length": 641},
        {"cfg_min_t": 0.9, "cfg_max_t": 0.5},
        {"speaker_kv_scale": 1.5},
    ],
)
def test_invalid_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SamplerSettings(**bad)  # type: ignore[arg-type]
