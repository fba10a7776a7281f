"""Constants and helpers the Qwen tests share (a uniquely named module: importing
``conftest`` by name would clash with the core tests' conftest in one pytest session)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tts_router import CloneRequest, VoiceReference, decode_audio
from tts_router.audio import OUTPUT_LIMITS
from tts_router.testing import make_reference_wav

REF = make_reference_wav(seconds=1.5, sample_rate=24_000)
"""The reference recording the provider tests clone (1.5 s at 24 kHz)."""

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


def clone_request(
    text: str, transcript: str | None = "Hello, this is me.", language: str = "en", **extra: Any
) -> CloneRequest:
    """A clone of :data:`REF`: ICL with ``transcript``, x-vector with None."""
    reference = VoiceReference(audio=REF, transcript=transcript)
    return CloneRequest(text=text, reference=reference, language=language, **extra)


def cli_clone(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    """Run ``tts-router clone`` of :data:`REF` (with its transcript) plus ``args`` in a
    subprocess, the environment's TTS_ and QWEN_ variables replaced by ``env``; check that it
    cloned in ICL mode with qwen into a 24 kHz WAV, and return its stdout."""
    reference, target = tmp_path / "ref.wav", tmp_path / "out.wav"
    reference.write_bytes(REF)
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "QWEN_"))}
    exe = Path(sys.executable).parent / "tts-router"
    out = subprocess.run(
        [
            str(exe),
            "clone",
            "--reference",
            str(reference),
            "--transcript",
            "Hello, this is me.",
            "-o",
            str(target),
            *args,
        ],
        capture_output=True,
        text=True,
        env={**kept, **env},
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "with qwen/" in out.stdout and "mode icl" in out.stdout
    assert decode_audio(target.read_bytes(), OUTPUT_LIMITS).sample_rate == 24_000
    return out.stdout
