"""Split long text into chunks an engine can speak in one call, without losing a character.

Chunks end at sentence boundaries where possible (Latin and CJK punctuation), then at clause
boundaries, then at spaces, and only as a last resort inside a word. Every non-space character
of the input appears in exactly one chunk, in order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from .errors import ValidationError

__all__ = [
    "chunk_spans",
    "chunked_warning",
    "is_speakable",
    "merge_chunked_warnings",
    "require_speakable",
    "split_text",
]

# A sentence ends after terminal punctuation (and any closing quotes/brackets). Latin
# punctuation needs following whitespace ("3.5" is not a boundary); CJK full-width punctuation
# does not, because CJK text has no spaces between sentences.
_SENTENCE_END = re.compile(r"(?:[.!?…]+[\"'”’)\]]*\s+|[。！？；]+[」』”’）]*\s*|\n\s*\n)")
_CLAUSE_END = re.compile(r"(?:[,;:—–]\s+|[，、；：]\s*)")
_SPACE = re.compile(r"\s+")
_CHUNKED = re.compile(r"^text was spoken in (\d+) chunks joined with crossfades$")


def chunked_warning(chunks: int) -> str:
    """The one warning a result carries when its text was spoken in ``chunks`` > 1 pieces."""
    return f"text was spoken in {chunks} chunks joined with crossfades"


def merge_chunked_warnings(warnings: Sequence[Sequence[str]]) -> list[str]:
    """Each part's warnings, in order and without repeats, with their chunk counts (a part
    with none was one chunk) folded into one :func:`chunked_warning` for the whole text."""
    merged: dict[str, None] = {}
    chunks = 0
    for part in warnings:
        counts = [int(m.group(1)) for w in part if (m := _CHUNKED.match(w))]
        chunks += sum(counts) or 1
        merged.update(dict.fromkeys(w for w in part if not _CHUNKED.match(w)))
    return [*merged, chunked_warning(chunks)] if chunks > 1 else list(merged)


def is_speakable(text: str) -> bool:
    """Whether ``text`` has anything to say: a letter, digit or symbol.

    Whitespace, punctuation, zero-width and control characters alone are nothing to speak (and
    must not be billed as GPU work).
    """
    return any(unicodedata.category(char)[0] in "LNS" for char in text)


def require_speakable(text: str, *, field: str = "text", provider: str | None = None) -> str:
    """``text`` if :func:`is_speakable`, else ``empty_text`` (``empty_instruct`` for the
    voice description): the one check every layer makes, so every layer gives one code."""
    if is_speakable(text):
        return text
    if field == "instruct":
        raise ValidationError(
            "the voice description is empty; describe the voice in instruct=...",
            code="empty_instruct",
            provider=provider,
        )
    raise ValidationError(
        f"the {field} has nothing to speak (only spaces, punctuation or invisible characters)",
        code="empty_text",
        provider=provider,
    )


def split_text(text: str, max_chars: int) -> list[str]:
    """Split ``text`` into stripped chunks of at most ``max_chars`` characters each."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    chunks: list[str] = []
    current = ""
    for sentence in _pieces(text, _SENTENCE_END):
        for part in _fit(sentence, max_chars):
            if current and len(current) + len(part) > max_chars:
                chunks.append(current)
                current = ""
            current += part
    chunks.append(current)
    return [c.strip() for c in chunks if c.strip()]


def chunk_spans(
    text: str, max_chars: int, *, first_chars: int | None = None
) -> list[tuple[int, int]]:
    """Where :func:`split_text`'s chunks stand in ``text``: ``(start, end)`` offsets, in order.

    With ``first_chars``, the first chunk is cut shorter (at most that long, at a sentence or
    clause where possible) so a stream's first audio comes early; the rest follow at
    ``max_chars``.
    """
    chunks: list[str] = []
    if first_chars is not None and first_chars < max_chars:
        first_sentence = next((p for p in _pieces(text, _SENTENCE_END) if p.strip()), "")
        chunks = split_text(first_sentence, first_chars)[:1]
    rest = text.index(chunks[0]) + len(chunks[0]) if chunks else 0
    chunks += split_text(text[rest:], max_chars)
    spans = [(0, 0)]  # where the search for the first chunk starts (dropped below)
    for chunk in chunks:
        start = text.index(chunk, spans[-1][1])
        spans.append((start, start + len(chunk)))
    return spans[1:]


def _pieces(text: str, boundary: re.Pattern[str]) -> list[str]:
    """Cut ``text`` after each ``boundary`` match; the pieces concatenate back to ``text``."""
    ends = [match.end() for match in boundary.finditer(text)]
    pieces = (text[start:end] for start, end in zip([0, *ends], [*ends, len(text)], strict=True))
    return [piece for piece in pieces if piece]


def _fit(piece: str, max_chars: int) -> list[str]:
    """Break one over-long piece at clauses, then spaces, then anywhere."""
    if len(piece) <= max_chars:
        return [piece]
    for boundary in (_CLAUSE_END, _SPACE):
        parts = _pieces(piece, boundary)
        if len(parts) > 1:
            return [small for part in parts for small in _fit(part, max_chars)]
    return [piece[i : i + max_chars] for i in range(0, len(piece), max_chars)]
