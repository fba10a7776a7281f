"""The one language table: canonical codes, display names and the aliases users type.

Canonical codes are ISO 639-1 primary subtags (``"en"``, ``"zh"``...) plus ``"auto"`` (let the
engine detect). Region and script subtags are accepted and dropped (``"en-US"``, ``"zh-Hans-CN"``,
``"pt_BR"``) because no shipped engine distinguishes them; a provider that does can read the
original tag from the request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import UnsupportedLanguageError

__all__ = ["AUTO", "LANGUAGES", "Language", "language_name", "normalize_language"]

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Language:
    """A language the router knows: canonical ``code``, English ``name``, extra ``aliases``."""

    code: str
    name: str
    aliases: tuple[str, ...] = ()


# Qwen3-TTS's ten first (its API takes the English names), then what eSpeak NG speaks well.
_TABLE: tuple[Language, ...] = (
    Language(AUTO, "Auto", ("automatic", "detect")),
    Language("zh", "Chinese", ("cmn", "zho", "chi", "mandarin", "chinese mandarin")),
    Language("en", "English", ("eng",)),
    Language("ja", "Japanese", ("jpn",)),
    Language("ko", "Korean", ("kor",)),
    Language("de", "German", ("deu", "ger", "deutsch")),
    Language("fr", "French", ("fra", "fre", "francais", "français")),
    Language("ru", "Russian", ("rus",)),
    Language("pt", "Portuguese", ("por", "portugues", "português")),
    Language("es", "Spanish", ("spa", "espanol", "español", "castilian")),
    Language("it", "Italian", ("ita", "italiano")),
    Language("ar", "Arabic", ("ara",)),
    Language("cs", "Czech", ("ces", "cze")),
    Language("da", "Danish", ("dan",)),
    Language("el", "Greek", ("ell", "gre")),
    Language("fi", "Finnish", ("fin",)),
    Language("he", "Hebrew", ("heb", "iw")),
    Language("hi", "Hindi", ("hin",)),
    Language("hu", "Hungarian", ("hun",)),
    Language("id", "Indonesian", ("ind", "in")),
    Language("nl", "Dutch", ("nld", "dut", "flemish")),
    Language("nb", "Norwegian", ("nob", "no", "nor", "norwegian bokmal")),
    Language("pl", "Polish", ("pol",)),
    Language("ro", "Romanian", ("ron", "rum")),
    Language("sv", "Swedish", ("swe",)),
    Language("tr", "Turkish", ("tur",)),
    Language("uk", "Ukrainian", ("ukr",)),
    Language("vi", "Vietnamese", ("vie",)),
)

LANGUAGES: dict[str, Language] = {lang.code: lang for lang in _TABLE}

_ALIASES: dict[str, str] = {}
for _lang in _TABLE:
    for _alias in (_lang.code, _lang.name, *_lang.aliases):
        _ALIASES[_alias.casefold()] = _lang.code

_TAG_SEPARATORS = re.compile(r"[-_]")


def normalize_language(value: str, supported: Iterable[str] | None = None) -> str:
    """Return the canonical code for ``value`` (a code, name, alias or BCP-47 tag).

    With ``supported`` (canonical codes), also check the language is among them. Raises
    :class:`UnsupportedLanguageError` listing what is accepted.
    """
    key = value.strip().casefold()
    code = _ALIASES.get(key) or _ALIASES.get(_TAG_SEPARATORS.split(key, maxsplit=1)[0])
    if code is None:
        # A language value is short configuration, not user content, but bound it anyway so
        # that a misrouted text can never end up whole in an error message.
        shown = value[:20] + ("..." if len(value) > 20 else "")
        raise UnsupportedLanguageError(
            f"unknown language {shown!r}; use a code or name such as "
            + ", ".join(sorted(c for c in LANGUAGES if c != AUTO))
            + " or 'auto'",
            supported=LANGUAGES,
        )
    if supported is not None:
        allowed = tuple(supported)
        if code not in allowed:
            raise UnsupportedLanguageError(
                f"language {code!r} is not supported here; supported: {', '.join(allowed)}",
                supported=allowed,
            )
    return code


def language_name(code: str) -> str:
    """The English display name for a canonical code (``"en"`` -> ``"English"``)."""
    return LANGUAGES[normalize_language(code)].name
