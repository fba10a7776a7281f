"""The pytest plugin (entry point ``pytest11: tts_router``): fixtures for host apps' tests.

Installing ``tts-router-core`` gives every pytest run ``tts_reference_wav``, ``fake_provider``
and ``fake_router``: the whole API, offline and instant. Only pytest imports this module.
"""

from __future__ import annotations

import pytest

from .router import Router
from .settings import Settings
from .testing import FakeProvider, make_reference_wav

__all__ = ["fake_provider", "fake_router", "tts_reference_wav"]


@pytest.fixture
def tts_reference_wav() -> bytes:
    """Three seconds of a synthetic voice-like WAV, for clone requests."""
    return make_reference_wav()


@pytest.fixture
def fake_provider() -> FakeProvider:
    """A FakeProvider with default capabilities (clone + design, en/de/fr)."""
    return FakeProvider()


@pytest.fixture
def fake_router(fake_provider: FakeProvider) -> Router:
    """A Router over only ``fake_provider``, ignoring installed plugins and the environment."""
    return Router(providers=[fake_provider], settings=Settings.load({}))
