"""The language map: every declared language has a voice file in the shipped data."""

from __future__ import annotations

from pathlib import Path

import pytest
from tts_router_espeak import _engine
from tts_router_espeak._design import _VARIANTS
from tts_router_espeak._languages import (
    SUPPORTED_LANGUAGES,
    VOICE_BY_LANGUAGE,
    resolve_language,
)

from tts_router.languages import LANGUAGES


def _voice_files() -> set[str]:
    lang_dir = Path(_engine.data_path()) / "lang"
    return {p.name.casefold() for p in lang_dir.rglob("*") if p.is_file()}


def test_every_mapped_voice_exists_in_the_shipped_data() -> None:
    files = _voice_files()
    missing = {code: v for code, v in VOICE_BY_LANGUAGE.items() if v.casefold() not in files}
    assert not missing


def test_declared_languages_are_canonical_and_cover_the_table() -> None:
    assert SUPPORTED_LANGUAGES[0] == "auto"
    assert set(SUPPORTED_LANGUAGES) <= set(LANGUAGES)
    # eSpeak NG speaks every language in the core's table.
    assert set(SUPPORTED_LANGUAGES) == set(LANGUAGES)


def test_chinese_maps_to_mandarin() -> None:
    assert VOICE_BY_LANGUAGE["zh"] == "cmn"


@pytest.mark.parametrize(
    ("language", "reference", "expected", "warns"),
    [
        ("de", None, "de", False),
        ("de", "French", "de", False),  # an explicit language wins over the reference's
        ("auto", None, "en", False),
        ("auto", "", "en", False),
        ("auto", "auto", "en", False),
        ("auto", "fr-CA", "fr", False),
        ("auto", "Mandarin", "zh", False),
        ("auto", "tlh", "en", True),
    ],
)
def test_resolve_language(language: str, reference: str | None, expected: str, warns: bool) -> None:
    code, warning = resolve_language(language, reference)
    assert code == expected
    assert (warning is not None) == warns
    if warning and reference:
        assert reference not in warning


@pytest.mark.parametrize("code", sorted(VOICE_BY_LANGUAGE))
def test_every_voice_synthesises(code: str) -> None:
    voice = VOICE_BY_LANGUAGE[code]
    samples = _engine.synthesize("1 2 3", _engine.VoiceParams(voice))
    assert samples.size > _engine.SAMPLE_RATE // 4


DESIGN_VARIANTS = sorted({v for v in _VARIANTS.values() if v} | {"whisper", "whisperf", "m3", "f3"})


@pytest.mark.parametrize("variant", DESIGN_VARIANTS)
def test_every_design_variant_synthesises(variant: str) -> None:
    samples = _engine.synthesize("Hello.", _engine.VoiceParams(f"en-us+{variant}"))
    assert samples.size > 0
