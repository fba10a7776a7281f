"""The plugin contract: one hook.

A plugin is a module named by an entry point in the ``tts_router`` group::

    [project.entry-points.tts_router]
    espeak = "tts_router_espeak.plugin"

and that module defines::

    from tts_router import hookimpl

    @hookimpl
    def register_providers(register):
        register(EspeakProvider)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .provider import Provider

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("tts_router")
hookimpl = pluggy.HookimplMarker("tts_router")


@hookspec
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register provider classes by calling ``register(ProviderClass)`` once per class.

    ``ProviderClass`` is a :class:`tts_router.Provider` subclass with a unique ``id``. It is not
    instantiated here: the router builds it later with ``ProviderClass.from_settings(settings)``,
    which must do no I/O. Returns nothing.
    """
