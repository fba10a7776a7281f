from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tts_router import split_text


def _letters(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_short_text_is_one_chunk() -> None:
    assert split_text("Hello there. How are you?", 100) == ["Hello there. How are you?"]


def test_splits_at_sentence_boundaries() -> None:
    text = "One two three. Four five six! Seven eight nine? Ten."
    assert split_text(text, 20) == ["One two three.", "Four five six!", "Seven eight nine?", "Ten."]


def test_decimal_points_are_not_sentence_ends() -> None:
    assert split_text("It costs 3.50 dollars. Cheap.", 24) == ["It costs 3.50 dollars.", "Cheap."]


def test_cjk_sentences_split_without_spaces() -> None:
    text = "今天天气很好。我们去公园散步吧！你觉得怎么样？"
    assert split_text(text, 10) == ["今天天气很好。", "我们去公园散步吧！", "你觉得怎么样？"]


def test_long_sentence_splits_at_clauses_then_spaces() -> None:
    text = "alpha beta gamma, delta epsilon zeta, eta theta iota kappa lambda"
    chunks = split_text(text, 20)
    assert all(len(c) <= 20 for c in chunks)
    assert chunks[0] == "alpha beta gamma,"


def test_rejects_nonpositive_limit() -> None:
    with pytest.raises(ValueError):
        split_text("x", 0)


@given(st.text(min_size=1, max_size=400), st.integers(min_value=1, max_value=80))
def test_nothing_is_lost_and_every_chunk_fits(text: str, max_chars: int) -> None:
    chunks = split_text(text, max_chars)
    assert _letters("".join(chunks)) == _letters(text)
    assert all(0 < len(c) <= max_chars for c in chunks)


def test_chunk_counts_of_parts_fold_into_one_warning() -> None:
    from tts_router.text import chunked_warning, merge_chunked_warnings

    parts = [
        [chunked_warning(3), "reference was long"],
        ["reference was long"],  # one chunk, no count of its own
        [chunked_warning(2)],
    ]
    assert merge_chunked_warnings(parts) == ["reference was long", chunked_warning(6)]
    assert merge_chunked_warnings([["a"], ["a"]]) == ["a", chunked_warning(2)]
    assert merge_chunked_warnings([["a"]]) == ["a"]
