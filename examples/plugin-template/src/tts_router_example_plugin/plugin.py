"""The entry point ``tts_router: sine``: the one hook, registering the provider class.

Keep this module cheap to import (no model, no network): the router imports every plugin's
entry point to list what is installed.
"""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Provider, hookimpl

from .provider import SineProvider

__all__ = ["register_providers"]


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register :class:`SineProvider` (a class: the router builds it with ``from_settings``)."""
    register(SineProvider)
