from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tts_router import LANGUAGES, UnsupportedLanguageError, normalize_language
from tts_router.languages import language_name

QWEN_TEN = {"zh", "en", "ja", "ko", "de", "fr", "ru", "pt", "es", "it"}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("english", "en"),
        ("English", "en"),
        ("  ENGLISH ", "en"),
        ("zh-CN", "zh"),
        ("zh-Hans-CN", "zh"),
        ("Chinese", "zh"),
        ("cmn", "zh"),
        ("pt-BR", "pt"),
        ("Portuguese", "pt"),
        ("ja", "ja"),
        ("auto", "auto"),
        ("Auto", "auto"),
        ("deu", "de"),
        ("Español", "es"),
    ],
)
def test_aliases_normalise(value: str, code: str) -> None:
    assert normalize_language(value) == code


def test_qwen_languages_and_auto_are_in_the_table() -> None:
    assert QWEN_TEN | {"auto"} <= set(LANGUAGES)
    assert language_name("zh-CN") == "Chinese"


def test_unknown_language_lists_what_is_supported() -> None:
    with pytest.raises(UnsupportedLanguageError) as info:
        normalize_language("klingon")
    assert info.value.code == "unsupported_language"
    assert "en" in info.value.message and "auto" in info.value.message
    assert not info.value.retryable


def test_supported_subset_is_enforced() -> None:
    assert normalize_language("English", ["en", "de"]) == "en"
    with pytest.raises(UnsupportedLanguageError) as info:
        normalize_language("ja", ["en", "de"])
    assert info.value.supported == ("en", "de")


def test_long_values_are_not_echoed_whole() -> None:
    secret = "please read this private sentence aloud " * 3
    with pytest.raises(UnsupportedLanguageError) as info:
        normalize_language(secret)
    assert secret not in str(info.value)


@given(st.sampled_from(sorted(LANGUAGES)), st.sampled_from(["", "-US", "_419", "-Latn-RS"]))
def test_every_code_with_any_region_normalises_to_itself(code: str, region: str) -> None:
    assert normalize_language(code + region) == code
    assert normalize_language(LANGUAGES[code].name.upper()) == code


@given(st.text(max_size=40))
def test_normalisation_is_total(value: str) -> None:
    try:
        code = normalize_language(value)
    except UnsupportedLanguageError:
        return
    assert code in LANGUAGES
    assert normalize_language(code) == code  # idempotent
