"""Discovery through real entry points: the test distribution tests/plugin_fixtures (one plugin
that works, one that raises on import, one per stage a plugin can fail in), made visible only
to the tests that ask for the ``fixture_plugins`` fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from tts_router import PluginError, Provider, ProviderSettings, Router, Settings, hookimpl
from tts_router.plugins import PluginRegistry, get_plugins, load_plugins
from tts_router.testing import FakeProvider

pytestmark = pytest.mark.usefixtures("fixture_plugins")


def test_real_entry_points_load_and_a_broken_plugin_is_isolated() -> None:
    registry = load_plugins(frozenset({"fixture_good", "fixture_broken"}))
    assert "entry-point-fake" in registry.providers
    assert registry.versions["entry-point-fake"] == "0.0.1"
    assert registry.errors["fixture_broken"] == "ImportError: fixture_broken is broken on purpose"


def test_allow_list_restricts_what_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_ROUTER_PLUGINS", "fixture_good")
    registry = get_plugins()
    assert "entry-point-fake" in registry.providers and registry.errors == {}
    assert get_plugins() is registry  # loaded once


def test_router_builds_plugin_providers_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_ROUTER_PLUGINS", "fixture_good")
    router = Router(settings=Settings.load({}))
    assert router._providers is None  # nothing loaded until used
    assert router.explain("design", "en").provider == "entry-point-fake"


class _Bad:
    """Not a Provider."""


@pytest.mark.parametrize("cls", [_Bad, FakeProvider.__mro__[1]])
def test_register_refuses_what_is_not_a_provider_with_an_id(cls: type) -> None:
    with pytest.raises(PluginError):
        PluginRegistry().register(cls)


def test_duplicate_ids_are_refused() -> None:
    class One(Provider):
        id = "same"

    class Two(Provider):
        id = "same"

    registry = PluginRegistry()
    registry.register(One)
    registry.register(One)  # the same class twice is harmless
    with pytest.raises(PluginError, match="registered twice"):
        registry.register(Two)


def test_a_hook_that_raises_registers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    class Partial(Provider):
        id = "partial"

    module = types.ModuleType("half_plugin")

    @hookimpl
    def register_providers(register: Callable[[type[Provider]], None]) -> None:
        register(Partial)
        raise RuntimeError("plugin bug after its first registration")

    module.register_providers = register_providers  # type: ignore[attr-defined]

    class FakeEntryPoint:
        name = "half"
        dist = None

        def load(self) -> types.ModuleType:
            return module

    monkeypatch.setattr("tts_router.plugins.entry_points", lambda group: [FakeEntryPoint()])
    registry = load_plugins(None)
    assert registry.providers == {}
    assert registry.errors == {"half": "RuntimeError: plugin bug after its first registration"}


def test_a_provider_that_fails_to_build_is_reported_and_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tts_router import ConfigurationError

    class Misconfigured(Provider):
        id = "misconfigured"

        @classmethod
        def from_settings(cls, settings: ProviderSettings) -> Provider:
            raise ConfigurationError("SOME_SETTING must be 1 or 0")

    class Fine(FakeProvider):
        id = "fine"  # type: ignore[assignment]

    registry = PluginRegistry()
    registry.register(Misconfigured)
    registry.register(Fine)
    monkeypatch.setattr("tts_router.plugins.get_plugins", lambda: registry)
    router = Router(settings=Settings.load({}))
    assert list(router.providers) == ["fine"]
    assert router.broken == {"misconfigured": "ConfigurationError: SOME_SETTING must be 1 or 0"}


def test_the_fixture_plugins_are_invisible_to_other_processes() -> None:
    # A fresh interpreter without this test's PYTHONPATH: what a developer's command sees.
    code = (
        "from importlib.metadata import entry_points as e\n"
        "print([p.name for p in e(group='tts_router')])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env
    )
    assert "espeak" in run.stdout and "fixture" not in run.stdout


def test_every_isolation_stage_fixture_is_a_real_entry_point() -> None:
    registry = load_plugins(None)
    assert {"ctor-raises", "caps-raise", "available-raises", "health-raises", "bad-caps"} <= set(
        registry.providers
    )
    assert "fixture_hook_raises" in registry.errors
