"""Text for Echo-TTS: WhisperD-style normalisation and the split into ~30 s passes.

Echo fits whatever text it is given into its window (640 latents, ~29.7 s): too much text
comes out sped up, and its tokenizer silently drops bytes past 768. So long text is split with
the core splitter (:func:`tts_router.text.split_text`, sentence boundaries first) into passes
sized by a characters-per-second budget, and each pass is normalised on its own.
"""

from __future__ import annotations

import re

from tts_router.text import split_text

__all__ = [
    "CHARS_PER_SECOND",
    "MAX_TEXT_BYTES",
    "PASS_FILL",
    "max_pass_chars",
    "plan_passes",
    "untagged",
    "whisperd",
]

# A deliberately slow English speaking rate (conversational English is ~14-16 characters per
# second, spaces and punctuation included; audiobooks ~13). Sizing passes for a slow speaker
# keeps a slow reference voice from running out of window. Not yet measured on real weights.
CHARS_PER_SECOND = 13.0
# Fill at most this share of the window: headroom for pauses and slower voices.
PASS_FILL = 0.8
# Upstream's text window: 768 byte tokens including the BOS byte; more is dropped silently.
MAX_TEXT_BYTES = 767

_SPEAKER_TAG = re.compile(r"^\[S\d+\]")
_WHITESPACE = re.compile(r"\s+")
# WhisperD transcripts use straight quotes, "..." and commas for pauses. Upstream maps
# colons, semicolons and em dashes to commas; it misses the opening curly quotes and en dash.
_REPLACEMENTS = (
    ("\u2026", "..."),  # ellipsis
    ("\u2018", "'"),  # left single quote
    ("\u2019", "'"),  # right single quote
    ("\u201c", '"'),  # left double quote
    ("\u201d", '"'),  # right double quote
    (":", ","),
    (";", ","),
    ("\u2014", ", "),  # em dash
    ("\u2013", ", "),  # en dash
)


def whisperd(text: str) -> str:
    """Normalise ``text`` to the WhisperD transcript style with a leading ``"[S1] "``.

    Unlike upstream's normaliser this adds the speaker tag whenever the text does not start
    with one (upstream skips it if ``S1`` appears anywhere, or the text starts with a bracket).
    """
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    text = _WHITESPACE.sub(" ", text).strip()
    text = re.sub(r" ,", ",", text)
    if not _SPEAKER_TAG.match(text):
        text = f"[S1] {text}"
    return text


def untagged(text: str) -> str:
    """``text`` without its leading speaker tag (what is actually spoken)."""
    return _SPEAKER_TAG.sub("", text, count=1).strip()


def max_pass_chars(window_seconds: float, chars_per_second: float = CHARS_PER_SECOND) -> int:
    """Characters one pass may hold so that it fits ``window_seconds`` at a slow pace."""
    return max(1, int(chars_per_second * window_seconds * PASS_FILL))


def plan_passes(text: str, max_chars: int) -> list[str]:
    """Split ``text`` into normalised passes of at most ``max_chars`` characters (before
    normalisation) and at most :data:`MAX_TEXT_BYTES` UTF-8 bytes (after), in order."""
    return [part for chunk in split_text(text, max_chars) for part in _fit_bytes(chunk)]


def _fit_bytes(chunk: str) -> list[str]:
    normalised = whisperd(chunk)
    if len(normalised.encode()) <= MAX_TEXT_BYTES or len(chunk) < 2:
        return [normalised]
    # Multi-byte scripts (emoji, CJK) can pass the character budget and still overflow the
    # byte window: halve until every pass fits, so nothing is dropped.
    return [p for part in split_text(chunk, len(chunk) // 2) for p in _fit_bytes(part)]
