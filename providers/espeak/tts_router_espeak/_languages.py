"""Which eSpeak NG voice speaks each of our canonical languages.

Keys are canonical codes from :data:`tts_router.languages.LANGUAGES`; values are voice file
names in the shipped espeak-ng-data (``lang/<family>/<name>``), which is what
``espeak_SetVoiceByName`` matches. Language tags such as ``zh`` are not voice names: Chinese is
``cmn`` (Mandarin). A test checks that every value names a voice file that exists.
"""

from __future__ import annotations

from tts_router.errors import UnsupportedLanguageError
from tts_router.languages import AUTO, normalize_language

__all__ = ["DEFAULT_LANGUAGE", "SUPPORTED_LANGUAGES", "VOICE_BY_LANGUAGE", "resolve_language"]

DEFAULT_LANGUAGE = "en"

# Codes whose eSpeak voice has the same name. "ja" reads kana only (kanji come out as English
# words); "fr", "pt" and "es" are the European voices ("pt-br" exists too).
_SAME_NAME = "ja ko de fr ru pt es it ar cs da el fi he hi hu id nl nb pl ro sv tr uk vi"

VOICE_BY_LANGUAGE: dict[str, str] = {
    # Qwen3-TTS's ten first, so the embedded default covers every language the GPU providers
    # speak; then the rest of our language table: eSpeak NG has a voice for each.
    "zh": "cmn",
    "en": "en-us",  # American English; "en" is the British voice
    **{code: code for code in _SAME_NAME.split()},
}

# What the provider declares: "auto" (see resolve_language) plus every mapped language.
SUPPORTED_LANGUAGES: tuple[str, ...] = (AUTO, *VOICE_BY_LANGUAGE)


def resolve_language(
    language: str, reference_language: str | None = None
) -> tuple[str, str | None]:
    """Turn a canonical code (possibly ``"auto"``) into a spoken language, and maybe a warning.

    ``"auto"`` means the reference's language when the request is a clone whose reference says
    which language it is in and eSpeak speaks it, else English. eSpeak does not detect languages.
    """
    if language != AUTO:
        return language, None
    try:  # no reference language (None or blank) reads as "auto"
        code = normalize_language((reference_language or "").strip() or AUTO)
    except UnsupportedLanguageError:
        code = None
    if code == AUTO:
        return DEFAULT_LANGUAGE, None
    if code is None or code not in VOICE_BY_LANGUAGE:
        return DEFAULT_LANGUAGE, (
            "the reference's language is not one eSpeak speaks here; English was used "
            "(pass language= to choose)"
        )
    return code, None
