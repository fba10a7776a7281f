"""Shared fixtures for the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tts_router.plugins import reset_plugins


@pytest.fixture(autouse=True)
def _fresh_plugin_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees plugins loaded from scratch, and no routing variables from the shell."""
    for name in ("TTS_PROVIDER", "TTS_ROUTER_CONFIG", "TTS_ROUTER_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    reset_plugins()
    yield
    reset_plugins()
