"""Chunk budget and output checks: pure functions, no model."""

from __future__ import annotations

import numpy as np
import pytest
from tts_router_qwen_modal.checks import check_chunk
from tts_router_qwen_modal.chunking import chars_per_chunk, split_for_generation
from tts_router_qwen_modal.variants import VARIANTS, resolve_model

from tts_router.errors import OutputValidationError, TruncatedOutputError

RATE = 24_000
FRAME = 1_920


def test_chunk_budget_is_conservative_and_capped() -> None:
    # 2047 usable frames * 0.8 head-room / 2 frames per char = 818, capped at 400.
    assert chars_per_chunk(2048) == 400
    assert chars_per_chunk(2048, ceiling=10_000) == 818
    assert chars_per_chunk(2048, language="zh", ceiling=10_000) == 327
    assert chars_per_chunk(2048, text="你好世界", ceiling=10_000) == 327  # auto, CJK seen
    assert chars_per_chunk(64) == 25
    assert chars_per_chunk(2) == 1  # never zero
    # Budgeted speech always fits the cap: chars * frames/char < max_new_tokens - 1.
    for cap in (16, 64, 512, 2048):
        assert chars_per_chunk(cap, ceiling=10**6) * 2.0 < cap - 1


def test_split_for_generation_keeps_every_character_in_order() -> None:
    text = "First sentence here. Second one follows! 第三句。第四句？ Last."
    chunks = split_for_generation(text, "auto", 64)
    assert len(chunks) > 1 and all(len(c) <= chars_per_chunk(64, text=text) for c in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")


def _noise(frames: int, extra: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(1).standard_normal(frames * FRAME + extra)).astype(
        np.float32
    )


def check(wav: np.ndarray, cap: int = 10, chars: int = 5) -> np.ndarray:
    return check_chunk(wav, RATE, max_new_tokens=cap, text_chars=chars, min_seconds_per_char=0.01)


def test_check_accepts_good_audio_and_the_icl_extra_sample() -> None:
    assert len(check(_noise(3))) == 3 * FRAME
    assert len(check(_noise(8, extra=1))) == 8 * FRAME + 1  # ICL rounding, cap 10: 8 < 9


@pytest.mark.parametrize(
    ("wav", "error", "words"),
    [
        (_noise(9), TruncatedOutputError, "cap"),  # cap 10 -> 9 frames: reached the cap
        (_noise(9, extra=1), TruncatedOutputError, "cap"),
        (np.zeros(3 * FRAME, np.float32), OutputValidationError, "silence"),
        (np.full(3 * FRAME, np.nan, np.float32), OutputValidationError, "NaN"),
        (np.zeros(0, np.float32), OutputValidationError, "no audio"),
    ],
)
def test_check_rejects(wav: np.ndarray, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        check(wav)


def test_check_rejects_absurdly_short_audio() -> None:
    with pytest.raises(OutputValidationError, match="too short") as info:
        check(_noise(1), chars=200)  # 0.08 s for 200 characters
    assert not isinstance(info.value, TruncatedOutputError)


def test_resolve_model(tmp_path: object) -> None:
    assert resolve_model("0.6B-Base").location == VARIANTS["0.6B-Base"]
    assert resolve_model("Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign").variant == "1.7B-VoiceDesign"
    local = resolve_model(str(tmp_path))
    assert local.local and local.location == str(tmp_path)
    with pytest.raises(FileNotFoundError):
        resolve_model("/no/such/dir")
