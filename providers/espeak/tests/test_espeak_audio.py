"""Real eSpeak NG output: sample rate, length, languages, pitch control, clone, long text."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from tts_router_espeak._pitch import median_f0
from tts_router_espeak.provider import EspeakProvider

from tts_router.audio import OUTPUT_LIMITS, decode_audio
from tts_router.models import CloneRequest, DesignRequest, SpeechResult, VoiceReference
from tts_router.testing import make_reference_wav

SENTENCE = "The weather is nice today, so we will walk to the river."
# Native text per language, so each voice speaks words it knows.
SAMPLES = {
    "zh": "今天天气很好，我们去河边散步吧。",
    "en": SENTENCE,
    "ja": "きょうは いい てんき です。かわへ さんぽに いきましょう。",
    "ko": "오늘은 날씨가 좋아서 강으로 산책하러 갑니다.",
    "de": "Das Wetter ist heute schön, also gehen wir zum Fluss.",
    "fr": "Il fait beau aujourd'hui, alors nous marchons jusqu'à la rivière.",
    "ru": "Сегодня хорошая погода, поэтому мы пойдём к реке.",
    "pt": "O tempo está bom hoje, então vamos caminhar até o rio.",
    "es": "Hoy hace buen tiempo, así que caminaremos hasta el río.",
    "it": "Oggi il tempo è bello, quindi andiamo a piedi fino al fiume.",
}


def samples_of(result: SpeechResult) -> npt.NDArray[np.float32]:
    return decode_audio(result.audio, OUTPUT_LIMITS).samples


def f0_of(result: SpeechResult) -> float:
    f0 = median_f0(samples_of(result), result.sample_rate)
    assert f0 is not None, "no voiced speech found in the output"
    return f0


async def design(text: str, instruct: str = "a calm voice", language: str = "en") -> SpeechResult:
    return await EspeakProvider().design(
        DesignRequest(text=text, instruct=instruct, language=language)
    )


async def clone(text: str, reference: VoiceReference, language: str = "en") -> SpeechResult:
    return await EspeakProvider().clone(
        CloneRequest(text=text, reference=reference, language=language)
    )


async def test_output_is_22050_hz_non_silent_speech() -> None:
    result = await design(SENTENCE)
    samples = samples_of(result)
    assert result.sample_rate == 22_050
    assert result.model.startswith("espeak-ng 1.52")
    assert result.mode == "design" and result.quality == "approximate"
    assert 1.5 < result.duration < 10
    assert float(np.sqrt(np.mean(samples**2))) > 0.02
    assert 60 < f0_of(result) < 300


async def test_duration_grows_with_text_length() -> None:
    short = await design(SENTENCE)
    long = await design(" ".join([SENTENCE] * 4))
    assert 2.5 < long.duration / short.duration < 6


@pytest.mark.parametrize("language", sorted(SAMPLES))
async def test_every_qwen_language_speaks(language: str) -> None:
    result = await design(SAMPLES[language], language=language)
    assert result.duration > 1.0
    assert float(np.max(np.abs(samples_of(result)))) > 0.1


async def test_languages_sound_different() -> None:
    # The same letters through different language voices give different phonemes.
    text = "Andere Sprachen, andere Laute."
    audio = {lang: samples_of(await design(text, language=lang)) for lang in ("en", "de", "fr")}
    lengths = {lang: len(a) for lang, a in audio.items()}
    assert len(set(lengths.values())) == 3, lengths


async def test_language_aliases_and_auto() -> None:
    assert (await design(SENTENCE, language="en-US")).duration > 1
    assert (await design(SENTENCE, language="auto")).duration > 1  # auto designs in English


async def test_japanese_kanji_are_flagged() -> None:
    result = await design("今日は", language="ja")
    assert any("kana only" in w for w in result.warnings)


async def test_design_pitch_words_move_the_measured_pitch() -> None:
    high = f0_of(await design(SENTENCE, "a high-pitched voice"))
    low = f0_of(await design(SENTENCE, "a deep low voice"))
    print(f"design F0: high-pitched {high:.0f} Hz, deep low {low:.0f} Hz")
    assert high > 1.4 * low


async def test_design_gender_moves_the_measured_pitch() -> None:
    female = f0_of(await design(SENTENCE, "a woman"))
    male = f0_of(await design(SENTENCE, "a man"))
    assert female > 1.5 * male


async def test_design_speed_words_change_the_duration() -> None:
    slow = await design(SENTENCE, "a slow voice")
    fast = await design(SENTENCE, "a fast voice")
    assert slow.duration > 1.5 * fast.duration


async def test_clone_follows_the_reference_pitch() -> None:
    high_ref = VoiceReference(audio=make_reference_wav(f0=220))
    low_ref = VoiceReference(audio=make_reference_wav(f0=100))
    high = await clone(SENTENCE, high_ref)
    low = await clone(SENTENCE, low_ref)
    high_f0, low_f0 = f0_of(high), f0_of(low)
    print(f"clone F0: reference 220 Hz -> {high_f0:.0f} Hz, reference 100 Hz -> {low_f0:.0f} Hz")
    assert high_f0 > 1.5 * low_f0
    assert 220 / 1.3 < high_f0 < 220 * 1.3
    assert 100 / 1.3 < low_f0 < 100 * 1.3
    assert high.mode == "approximate" and high.quality == "approximate"
    assert any("not the voice's timbre" in w for w in high.warnings)
    assert any("speaking rate was not matched" in w for w in high.warnings)


async def test_clone_matches_the_reference_speaking_rate() -> None:
    # References spoken by eSpeak itself at known rates: the clone must speak about as fast.
    provider = EspeakProvider()
    durations = {}
    for instruct in ("a very slow voice", "a fast voice"):
        spoken = await design(SENTENCE, instruct)
        reference = VoiceReference(audio=spoken.audio, transcript=SENTENCE)
        cloned = await provider.clone(
            CloneRequest(text=SENTENCE, reference=reference, language="en")
        )
        durations[instruct] = (spoken.duration, cloned.duration)
        assert cloned.duration == pytest.approx(spoken.duration, rel=0.25)
    assert durations["a very slow voice"][1] > 1.5 * durations["a fast voice"][1]


async def test_clone_auto_language_uses_the_reference_language() -> None:
    text = "Das Wetter ist heute schön."
    german_ref = VoiceReference(audio=make_reference_wav(), language="German")
    auto = await clone(text, german_ref, language="auto")
    german = await clone(text, VoiceReference(audio=make_reference_wav()), language="de")
    english = await clone(text, VoiceReference(audio=make_reference_wav()), language="en")
    # Repeated synthesis differs by a few samples only; another language by far more.
    assert auto.duration == pytest.approx(german.duration, rel=0.01)
    assert auto.duration != pytest.approx(english.duration, rel=0.02)


async def test_clone_auto_with_a_language_espeak_lacks_falls_back_to_english() -> None:
    reference = VoiceReference(audio=make_reference_wav(), language="tlh")
    result = await clone(SENTENCE, reference, language="auto")
    assert any("English was used" in w for w in result.warnings)


def _long_text(chars: int) -> str:
    sentences = [
        "The river runs past the old mill and under the stone bridge.",
        "Children play on the bank while their parents talk about the harvest.",
        "In the evening the lights of the village come on one by one.",
        "A boat drifts slowly downstream, carrying apples to the market.",
        "Nobody remembers who built the mill, but everyone knows its sound.",
    ]
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < chars:
        parts.append(sentences[len(parts) % len(sentences)])
    return " ".join(parts)[:chars].rsplit(" ", 1)[0] + "."


async def test_five_thousand_characters_come_back_complete() -> None:
    short_text, long_text = _long_text(500), _long_text(5000)
    assert len(long_text) > 4900
    short = await design(short_text)
    long = await design(long_text)
    short_rate = short.duration / len(short_text)
    long_rate = long.duration / len(long_text)
    print(
        f"500 chars: {short.duration:.1f} s; 5000 chars: {long.duration:.1f} s "
        f"({long.timings['total']:.2f} s to synthesise)"
    )
    assert 0.8 < long_rate / short_rate < 1.25
    assert any("chunks" in w for w in long.warnings)
    assert not any("chunks" in w for w in short.warnings)
