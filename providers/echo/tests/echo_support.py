"""Constants and helpers shared by the Echo-TTS tests (a unique name: pytest puts this folder
on sys.path, and every test folder has its own conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tts_router_echo.engine import EchoEngine
from tts_router_echo.sampler import SamplerSettings

# Small on purpose: the test machine has 2 shared cores. 8 latents = 16384 samples = 0.37 s.
TEST_SAMPLER = SamplerSettings(num_steps=2, sequence_length=8)
PASS_SAMPLES = TEST_SAMPLER.sequence_length * 2048
TEST_PASS_CHARS = 40
CROSSFADE_SAMPLES = 441  # the core stitcher's default 10 ms at 44.1 kHz
SERVICE_OPTIONS: dict[str, Any] = {
    "device": "cpu",
    "sampler": TEST_SAMPLER,
    "engine_options": {"max_pass_chars": TEST_PASS_CHARS},
}
"""``create_service_app`` options that give the tiny model the small test settings."""


class NetworkUsed(AssertionError):
    """Raised by the socket guard: these tests may only talk to 127.0.0.1."""


def make_engine(model_dir: Path, **options: Any) -> EchoEngine:
    """An engine over ``model_dir`` with the small test settings (``options`` override)."""
    options.setdefault("sampler", TEST_SAMPLER)
    options.setdefault("max_pass_chars", TEST_PASS_CHARS)
    return EchoEngine(model_dir, device="cpu", **options)


def configured(env: dict[str, str]) -> Any:
    """``EchoProvider`` built from ``env`` as the router builds it: ``[providers.echo]`` and
    the variables validated into ``EchoSettings``, then ``from_settings``."""
    from tts_router_echo.provider import EchoProvider, EchoSettings

    from tts_router import Settings

    return EchoProvider.from_settings(Settings.load(env).provider_settings("echo", EchoSettings))
