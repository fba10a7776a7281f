"""The entry point ``tts_router: echo``.

The provider class (remote HTTP backend over the core ServiceClient, the legacy Modal SDK
backend, and ``backend=local`` over :class:`tts_router_echo.engine.EchoEngine`) is written by
the provider issue and registered here; until then this plugin loads cleanly and registers
nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from tts_router.hookspecs import hookimpl
from tts_router.provider import Provider

__all__ = ["register_providers"]


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the Echo provider (nothing yet: see the module docstring)."""
