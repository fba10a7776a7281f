"""Finding provider plugins: entry-point group ``tts_router``, loaded lazily, failures isolated.

Nothing here runs at import. :func:`get_plugins` loads entry points on first call (respecting
the ``TTS_ROUTER_PLUGINS`` allow-list) and remembers what it found, including every plugin that
failed to import or to register, so ``tts-router plugins`` can report it while the rest work.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from . import hookspecs
from .errors import PluginError
from .provider import Provider

__all__ = ["ENTRY_POINT_GROUP", "PluginRegistry", "get_plugins", "reset_plugins"]

ENTRY_POINT_GROUP = "tts_router"
ALLOW_LIST_VARIABLE = "TTS_ROUTER_PLUGINS"


@dataclass
class PluginRegistry:
    """What plugin loading found: provider classes by id, and the plugins that failed."""

    providers: dict[str, type[Provider]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def register(self, provider_cls: type[Provider], version: str = "") -> None:
        """Add a provider class; a second class with the same id is refused."""
        if not (isinstance(provider_cls, type) and issubclass(provider_cls, Provider)):
            raise PluginError(f"register() takes a Provider subclass, got {provider_cls!r}")
        provider_id = getattr(provider_cls, "id", None)
        if not isinstance(provider_id, str) or not provider_id:
            raise PluginError(f"{provider_cls.__name__} has no provider id")
        existing = self.providers.get(provider_id)
        if existing is not None and existing is not provider_cls:
            raise PluginError(f"provider id {provider_id!r} is registered twice")
        self.providers[provider_id] = provider_cls
        self.versions[provider_id] = version


_lock = threading.Lock()
_registry: PluginRegistry | None = None


def get_plugins() -> PluginRegistry:
    """Load plugins once (thread-safe) and return the registry."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = load_plugins(_allow_list(os.environ.get(ALLOW_LIST_VARIABLE)))
        return _registry


def reset_plugins() -> None:
    """Forget loaded plugins so the next :func:`get_plugins` loads again (tests, reloads)."""
    global _registry
    with _lock:
        _registry = None


def load_plugins(allowed: frozenset[str] | None) -> PluginRegistry:
    """Load the entry points named in ``allowed`` (all when None) into a new registry."""
    registry = PluginRegistry()
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and entry_point.name not in allowed:
            continue
        version = entry_point.dist.version if entry_point.dist else ""
        try:
            module = entry_point.load()
            _register_one(manager, registry, entry_point.name, module, version)
        except Exception as exc:  # isolate: one broken plugin must not take the others down
            registry.errors[entry_point.name] = f"{type(exc).__name__}: {exc}"
    return registry


def _register_one(
    manager: pluggy.PluginManager,
    registry: PluginRegistry,
    name: str,
    module: ModuleType,
    version: str,
) -> None:
    manager.register(module, name=name)
    found: list[type[Provider]] = []
    # Call this plugin's hook alone, so a failure is attributed to it and to no other plugin,
    # and register what it offered only once the hook has returned, so a failure adds nothing.
    for impl in manager.hook.register_providers.get_hookimpls():
        if impl.plugin_name == name:
            impl.function(register=found.append)
    for provider_cls in found:
        registry.register(provider_cls, version)


def _allow_list(value: str | None) -> frozenset[str] | None:
    if value is None or not value.strip():
        return None
    return frozenset(name.strip() for name in value.split(",") if name.strip())
