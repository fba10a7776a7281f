"""How much text one generation can speak, and the split of longer text.

Qwen3-TTS makes 12.5 codec frames per second of audio and stops at ``max_new_tokens``
frames; whatever text is left is silently dropped. So each chunk must be short enough that even
slow speech fits, with head-room. The figures are deliberately conservative: typical speech is
about 1 frame per character in Latin scripts (12-15 characters a second) and about 2.5 frames
per character in Chinese/Japanese/Korean (4-6 characters a second); we budget twice that, and
keep 20 % of the cap in reserve. A chunk that still hits the cap is caught afterwards as a
truncation error (:mod:`.checks`), never returned.
"""

from __future__ import annotations

import re

from tts_router.text import split_text

__all__ = [
    "CJK_FRAMES_PER_CHAR",
    "FRAMES_PER_CHAR",
    "HEADROOM",
    "chars_per_chunk",
    "split_for_generation",
]

FRAMES_PER_CHAR = 2.0
CJK_FRAMES_PER_CHAR = 5.0
HEADROOM = 0.8
_CJK_LANGUAGES = frozenset({"zh", "ja", "ko"})
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def chars_per_chunk(
    max_new_tokens: int,
    *,
    text: str = "",
    language: str = "auto",
    frames_per_char: float | None = None,
    ceiling: int = 400,
) -> int:
    """Longest chunk (characters) that fits ``max_new_tokens`` with the budget above.

    ``ceiling`` caps it further: a batch runs as long as its longest member, so shorter
    chunks batch better, and sampling drift grows with length.
    """
    usable_frames = max(max_new_tokens - 1, 1) * HEADROOM  # the last sampled token has no frame
    if not frames_per_char:
        # "auto" text may be CJK: one CJK character is enough to budget for the slower script.
        cjk = language in _CJK_LANGUAGES or _CJK.search(text)
        frames_per_char = CJK_FRAMES_PER_CHAR if cjk else FRAMES_PER_CHAR
    return max(1, min(ceiling, int(usable_frames / frames_per_char)))


def split_for_generation(
    text: str,
    language: str,
    max_new_tokens: int,
    *,
    frames_per_char: float | None = None,
    ceiling: int = 400,
) -> list[str]:
    """Split ``text`` at sentence boundaries (CJK-aware) into chunks that fit one generation."""
    limit = chars_per_chunk(
        max_new_tokens,
        text=text,
        language=language,
        frames_per_char=frames_per_char,
        ceiling=ceiling,
    )
    return split_text(text, limit)
