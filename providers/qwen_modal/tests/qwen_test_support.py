"""Constants and helpers the Qwen tests share (a uniquely named module: importing
``conftest`` by name would clash with the core tests' conftest in one pytest session)."""

from __future__ import annotations

from typing import Any

MAX_NEW_TOKENS = 64
"""Cap for early-EOS engines: every chunk stops on EOS after 2 frames, far below it."""
TRUNCATING_MAX_NEW_TOKENS = 6
"""Cap for EOS-disabled engines: every chunk runs into it (5 frames): a truncation."""
# Early-EOS chunks are 0.16 s whatever their text; with 25-character chunks (the budget at
# this cap) the production floor of 0.01 s per character would call them "too short".
TEST_MIN_SECONDS_PER_CHAR = 0.005


def engine_options(**extra: Any) -> dict[str, Any]:
    """QwenEngineConfig fields every test engine uses."""
    return {
        "device": "cpu",
        "max_new_tokens": MAX_NEW_TOKENS,
        "min_seconds_per_char": TEST_MIN_SECONDS_PER_CHAR,
        **extra,
    }


def configured(env: dict[str, str]) -> Any:
    """``QwenProvider`` built from ``env`` as the router builds it: ``[providers.qwen]`` and
    the variables validated into ``QwenSettings``, then ``from_settings``."""
    from tts_router_qwen_modal.provider import QwenProvider, QwenSettings

    from tts_router import Settings

    return QwenProvider.from_settings(Settings.load(env).provider_settings("qwen", QwenSettings))
