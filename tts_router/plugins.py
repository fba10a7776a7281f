"""Finding provider plugins: entry-point group ``tts_router``, loaded lazily, failures isolated.

Nothing here runs at import. :func:`get_plugins` loads entry points on first call (respecting
the ``TTS_ROUTER_PLUGINS`` allow-list of entry point names, which ignores case) and remembers
what it found: per entry point, its distribution and the provider ids it registered, every
plugin that failed to import or to register, and the entry points the allow-list filtered out,
so ``tts-router plugins`` and ``tts-router doctor`` can report them while the rest work.

Provider ids are case-insensitive everywhere (settings, rules, requests), so a plugin must
register a lowercase id; ``auto`` is reserved for "let the router choose".
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from . import hookspecs
from .errors import PluginError
from .provider import Provider

__all__ = [
    "ALLOW_LIST_VARIABLE",
    "ENTRY_POINT_GROUP",
    "EntryPointInfo",
    "PluginRegistry",
    "get_plugins",
    "load_plugins",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "tts_router"
ALLOW_LIST_VARIABLE = "TTS_ROUTER_PLUGINS"


@dataclass(frozen=True, slots=True)
class EntryPointInfo:
    """One installed entry point of the group, and what loading it gave."""

    name: str
    value: str = ""
    """What it points at (``package.module``)."""
    distribution: str = ""
    version: str = ""
    provider_ids: tuple[str, ...] = ()
    error: str | None = None
    """``"ImportError: ..."`` when importing it or calling its hook failed."""
    has_hook: bool = True
    """Whether the module implements ``register_providers`` (False: a misspelt hook?)."""

    @property
    def status(self) -> str:
        """``ok``, ``broken: <reason>`` or ``registered nothing: <why>``."""
        if self.error is not None:
            return f"broken: {self.error}"
        if self.provider_ids:
            return "ok"
        if self.has_hook:
            return "registered nothing: its register_providers hook registered no provider"
        return "registered nothing: it has no @hookimpl register_providers"


@dataclass
class PluginRegistry:
    """What plugin loading found: provider classes by id, entry points, and what failed."""

    providers: dict[str, type[Provider]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """Entry point name -> why it failed to import or register (``"ImportError: ..."``)."""
    entry_points: dict[str, EntryPointInfo] = field(default_factory=dict)
    """Every entry point loaded (allowed), by name, in discovery order."""
    filtered: tuple[str, ...] = ()
    """Installed entry points that ``TTS_ROUTER_PLUGINS`` left out, by name."""
    allowed: frozenset[str] | None = None
    """The allow-list in force, lowercase (None: every installed entry point)."""

    def register(self, provider_cls: type[Provider], version: str = "") -> None:
        """Add a provider class; a second class with the same id is refused."""
        provider_id = _checked_id(provider_cls)
        if self.providers.get(provider_id, provider_cls) is not provider_cls:
            raise PluginError(f"provider id {provider_id!r} is registered twice")
        self.providers[provider_id] = provider_cls
        self.versions[provider_id] = version

    @property
    def unknown_allowed(self) -> tuple[str, ...]:
        """Names in the allow-list that match no installed entry point (typos)."""
        if self.allowed is None:
            return ()
        installed = {info.name.lower() for info in self.entry_points.values()}
        return tuple(sorted(self.allowed - installed))

    def entry_point_of(self, provider_id: str) -> EntryPointInfo | None:
        """The entry point that registered ``provider_id``, if any."""
        found = (info for info in self.entry_points.values() if provider_id in info.provider_ids)
        return next(found, None)


def _checked_id(provider_cls: object) -> str:
    if not (isinstance(provider_cls, type) and issubclass(provider_cls, Provider)):
        raise PluginError(f"register() takes a Provider subclass, got {provider_cls!r}")
    provider_id = getattr(provider_cls, "id", None)
    if not isinstance(provider_id, str) or not provider_id:
        raise PluginError(f"{provider_cls.__name__} has no provider id")
    if provider_id != provider_id.strip().lower() or "," in provider_id:
        raise PluginError(
            f"{provider_cls.__name__}.id {provider_id!r} must be lowercase, without spaces or "
            "commas (provider ids are case-insensitive)"
        )
    if provider_id == "auto":
        raise PluginError(f"{provider_cls.__name__}.id 'auto' is reserved (TTS_PROVIDER=auto)")
    return provider_id


_lock = threading.Lock()
_registry: PluginRegistry | None = None


def get_plugins() -> PluginRegistry:
    """Load plugins once (thread-safe) and return the registry."""
    global _registry
    with _lock:
        if _registry is None:
            value = os.environ.get(ALLOW_LIST_VARIABLE, "")
            names = (name.strip() for name in value.split(",") if name.strip())
            _registry = load_plugins(frozenset(names) if value.strip() else None)
        return _registry


def reset_plugins() -> None:
    """Forget loaded plugins so the next :func:`get_plugins` loads again (tests, reloads)."""
    global _registry
    with _lock:
        _registry = None


def load_plugins(allowed: frozenset[str] | None) -> PluginRegistry:
    """Load the entry points named in ``allowed`` (all when None; names ignore case) into a new
    registry."""
    if allowed is not None:
        allowed = frozenset(name.lower() for name in allowed)
    registry = PluginRegistry(allowed=allowed)
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        name = entry_point.name
        if allowed is not None and name.lower() not in allowed:
            registry.filtered += (name,)
            continue
        dist = getattr(entry_point, "dist", None)
        info = EntryPointInfo(
            name=name,
            value=str(getattr(entry_point, "value", "") or ""),
            distribution=str(getattr(dist, "name", "") or ""),
            version=str(getattr(dist, "version", "") or ""),
        )
        key = name if name not in registry.entry_points else f"{name} ({info.distribution})"
        try:
            module = entry_point.load()
            info = replace(info, has_hook=callable(getattr(module, "register_providers", None)))
            ids = _register_one(manager, registry, name, module, info.version)
            info = replace(info, provider_ids=ids)
        except Exception as exc:  # isolate: one broken plugin must not take the others down
            error = registry.errors[key] = f"{type(exc).__name__}: {exc}"
            info = replace(info, error=error)
        registry.entry_points[key] = info
    return registry


def _register_one(
    manager: pluggy.PluginManager,
    registry: PluginRegistry,
    name: str,
    module: ModuleType,
    version: str,
) -> tuple[str, ...]:
    manager.register(module, name=name)
    found: list[type[Provider]] = []
    # Call this plugin's hook alone, so a failure is attributed to it and to no other plugin,
    # and register what it offered in a copy first, kept only once the hook has returned and
    # every class passed the checks, so a failure adds nothing.
    others = [plugin for other, plugin in manager.list_name_plugin() if other != name]
    only_this = manager.subset_hook_caller("register_providers", remove_plugins=others)
    only_this(register=found.append)
    staged = PluginRegistry(providers=dict(registry.providers), versions=dict(registry.versions))
    for provider_cls in found:
        staged.register(provider_cls, version)
    registry.providers, registry.versions = staged.providers, staged.versions
    return tuple(dict.fromkeys(map(_checked_id, found)))
