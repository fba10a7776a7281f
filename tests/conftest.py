"""Shared fixtures for the core tests."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# `fixture_plugins`: the test plugins of tests/plugin_fixtures, for the tests that ask for them.
from core_support.plugin_fixtures import fixture_plugins, fixture_plugins_distribution  # noqa: F401
from core_support.tone_service import Service, ToneEngine

from tts_router.plugins import reset_plugins
from tts_router.serving import create_app, serve_in_thread

MakeService = Callable[..., Service]


@pytest.fixture(autouse=True)
def _fresh_plugin_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees plugins loaded from scratch, and no routing variables from the shell."""
    for name in ("TTS_PROVIDER", "TTS_ROUTER_CONFIG", "TTS_ROUTER_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture
def make_service() -> Iterator[MakeService]:
    """Start real services (uvicorn on 127.0.0.1) over ToneEngines; all stop after the test.

    ``wrap`` puts ASGI middleware (fault scripts) in front of the real app.
    """
    with contextlib.ExitStack() as stack:

        def make(
            engine: ToneEngine | None = None,
            *,
            wrap: Callable[[Any], Any] | None = None,
            port: int = 0,
            **options: Any,
        ) -> Service:
            engine = engine or ToneEngine()
            app = create_app(engine, **options)
            url = stack.enter_context(serve_in_thread(wrap(app) if wrap else app, port=port))
            service = Service(app, engine, url)
            stack.callback(service.client.close)
            if engine.load_gate is None:
                service.wait_ready()
            return service

        yield make


@pytest.fixture
def service(make_service: MakeService) -> Service:
    """A tone service that can also design, with a 256 KiB body limit."""
    return make_service(ToneEngine(design=True), max_body_bytes=256 * 1024)
