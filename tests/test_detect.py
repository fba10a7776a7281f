"""Language detection for language="auto": accuracy on the shared texts, confidence rules,
and what the router does with a detection (FakeProviders: no I/O)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tts_router import (
    CloneRequest,
    DesignRequest,
    NoProviderError,
    Router,
    Settings,
    UnsupportedLanguageError,
    ValidationError,
    VoiceReference,
)
from tts_router.detect import CONFIDENCE, detect_language
from tts_router.errors import AudioValidationError
from tts_router.testing import FakeProvider, fake_capabilities, make_reference_wav

TEXTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "texts"
# The sample texts: one or two sentences in each of Qwen3-TTS's ten languages, three English.
EXPECTED = {"short": "en", "medium": "en", "long": "en"}


def _shared_texts() -> dict[str, tuple[str, str]]:
    if not TEXTS.is_dir():
        pytest.skip(f"the shared sample texts are not at {TEXTS}")
    return {
        path.stem: (EXPECTED.get(path.stem, path.stem), path.read_text(encoding="utf-8").strip())
        for path in sorted(TEXTS.glob("*.txt"))
    }


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?。！？])\s*", text) if s.strip()]


def test_every_shared_text_is_detected_confidently() -> None:
    texts = _shared_texts()
    assert len(texts) == 12
    found = {name: detect_language(text) for name, (_, text) in texts.items()}
    wrong = {name: d.describe() for name, d in found.items() if d.language != texts[name][0]}
    assert not wrong


def test_sentences_of_the_shared_texts_are_never_misrouted() -> None:
    # A sentence may be too short to be sure of; a confident detection is never wrong.
    per_language: dict[str, list[bool]] = {}
    for expected, text in _shared_texts().values():
        for sentence in _sentences(text):
            detection = detect_language(sentence)
            assert detection.language in (None, expected), (expected, detection)
            per_language.setdefault(expected, []).append(detection.language == expected)
    confident = sum(sum(hits) for hits in per_language.values())
    total = sum(len(hits) for hits in per_language.values())
    assert total == 49 and confident >= 47, per_language


@pytest.mark.parametrize("text", ["", "Hi.", "OK", "12345 678", "!!!", "Привет"])
def test_short_or_ambiguous_text_is_not_a_confident_detection(text: str) -> None:
    detection = detect_language(text)
    assert detection.language is None and not detection.confident
    assert text[:3] not in detection.describe() or not text  # never quotes the text


def test_detection_reports_its_confidence() -> None:
    detection = detect_language("Der Zug nach Hamburg fährt heute mit Verspätung ab.")
    assert detection.language == "de" and detection.confidence >= CONFIDENCE
    assert "German" in detection.describe() and "Hamburg" not in detection.describe()


# -- the router with a detection -----------------------------------------------------------------

GERMAN = "Der Zug nach Hamburg fährt heute mit zehn Minuten Verspätung ab."
ENGLISH = "Good morning! The weather today is bright and mild, and the trains run on time."


def _router(*providers: FakeProvider, env: dict[str, str] | None = None) -> Router:
    return Router(providers=list(providers), settings=Settings.load(env or {}))


def _english_only() -> FakeProvider:
    caps = fake_capabilities(operations=("clone",), languages=("en",), clone_modes=("audio",))
    return FakeProvider(provider_id="echo", caps=caps)


def _qwen_like() -> FakeProvider:
    caps = fake_capabilities(languages=("auto", "en", "de", "zh"))
    return FakeProvider(provider_id="qwen", caps=caps)


def _clone(text: str, language: str = "auto") -> CloneRequest:
    reference = VoiceReference(audio=make_reference_wav(seconds=1.5))
    return CloneRequest(text=text, reference=reference, language=language)


async def test_auto_with_english_text_reaches_an_english_only_provider() -> None:
    echo = _english_only()
    router = _router(echo, env={"TTS_PROVIDER": "echo"})
    result = await router.clone(_clone(ENGLISH, "Auto"))
    assert (result.provider, result.language, result.language_detected) == ("echo", "en", True)
    assert echo.calls[0].language == "en"  # the provider is told the detected language


async def test_auto_with_german_text_is_refused_naming_the_detected_language() -> None:
    router = _router(_english_only(), env={"TTS_PROVIDER": "echo"})
    with pytest.raises(UnsupportedLanguageError) as info:
        await router.clone(_clone(GERMAN, "Auto"))
    message = str(info.value)
    assert "'de'" in message and "German" in message and "language=" in message
    assert "Hamburg" not in message


async def test_under_auto_german_text_goes_to_the_provider_that_speaks_it() -> None:
    echo, qwen = _english_only(), _qwen_like()
    router = _router(echo, qwen)
    result = await router.clone(_clone(GERMAN))
    assert (result.provider, result.language, result.language_detected) == ("qwen", "de", True)
    assert qwen.calls[0].language == "de" and not echo.calls
    decision = router.explain("clone", "auto", text=GERMAN)
    assert decision.provider == "qwen" and decision.language == "de"
    assert decision.reasons[0].startswith("language: detected 'de' (German)")


async def test_an_explicit_language_always_wins() -> None:
    qwen = _qwen_like()
    result = await _router(qwen).design(DesignRequest(text=GERMAN, instruct="calm", language="en"))
    assert (result.language, result.language_detected) == ("en", False)
    assert qwen.calls[0].language == "en"


async def test_an_unconfident_detection_routes_as_auto() -> None:
    echo, qwen = _english_only(), _qwen_like()
    router = _router(echo, qwen)
    result = await router.design(DesignRequest(text="Hi.", instruct="calm"))
    assert (result.provider, result.language, result.language_detected) == ("qwen", "auto", False)
    decision = router.explain("design", text="Hi.")
    assert "routed as 'auto'" in decision.reasons[0] and decision.language == "auto"


def test_a_detected_language_nobody_speaks_is_a_typed_error_before_any_work() -> None:
    router = _router(_english_only(), _qwen_like())
    swedish = "Tåget till Göteborg avgår i dag tio minuter försenat från perrong fyra."
    detection = detect_language(swedish)
    if detection.language is None:  # the model's call; the rule still holds for any confident
        pytest.skip("not a confident detection on this model version")
    with pytest.raises(NoProviderError) as info:
        router.explain("clone", "auto", text=swedish, has_transcript=True)
    assert f"{detection.language!r}" in str(info.value)


def test_explain_without_text_keeps_the_old_behaviour() -> None:
    decision = _router(_english_only(), _qwen_like()).explain("clone", "auto")
    assert decision.provider == "qwen" and decision.detection is None


# -- Router.languages: a host's dropdown ---------------------------------------------------------


def test_languages_lists_who_speaks_what_best_quality_first() -> None:
    caps = fake_capabilities(
        languages=("auto", "en", "de", "sv"), quality="approximate", clone_modes=("approximate",)
    )
    approx = FakeProvider(provider_id="espeak", caps=caps)
    router = _router(approx, _english_only(), _qwen_like())
    options = {o.code: o for o in router.languages()}
    assert next(iter(options)) == "auto"
    assert options["en"].providers == ("echo", "qwen", "espeak")
    assert options["en"].quality == "reference" and options["en"].name == "English"
    assert options["sv"].providers == ("espeak",) and options["sv"].quality == "approximate"
    assert options["auto"].providers == ("echo", "qwen", "espeak")
    design = {o.code: o for o in router.languages("design")}
    assert design["en"].providers == ("qwen", "espeak")  # echo cannot design
    unconfigured = FakeProvider(provider_id="down", problem="set URL")
    assert all("down" not in o.providers for o in _router(unconfigured, _qwen_like()).languages())


def test_languages_follow_an_explicit_tts_provider() -> None:
    router = _router(_english_only(), _qwen_like(), env={"TTS_PROVIDER": "echo"})
    assert [o.code for o in router.languages()] == ["auto", "en"]


# -- VoiceReference: bytes, never a str ----------------------------------------------------------


def test_a_base64_string_is_refused_and_from_base64_accepts_it() -> None:
    wav = make_reference_wav(seconds=1.2)
    encoded = base64.b64encode(wav).decode()
    with pytest.raises(AudioValidationError) as info:
        VoiceReference(audio=encoded)  # type: ignore[arg-type]
    assert info.value.code == "reference_is_text" and "from_base64" in str(info.value)
    assert encoded[:20] not in str(info.value)
    assert VoiceReference.from_base64(encoded).audio == wav
    assert VoiceReference.from_base64("data:audio/wav;base64," + encoded).audio == wav
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert VoiceReference.from_base64(wrapped, transcript="t").audio == wav
    urlsafe = base64.urlsafe_b64encode(wav).decode().rstrip("=")
    assert VoiceReference.from_base64(urlsafe.encode()).audio == wav
    for bad in ("not base64 at all!", "data:audio/wav,UklGRg=="):
        with pytest.raises(ValidationError) as refused:
            VoiceReference.from_base64(bad)
        assert refused.value.code == "invalid_base64"
