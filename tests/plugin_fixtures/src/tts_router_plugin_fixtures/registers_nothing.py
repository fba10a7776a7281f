"""Its ``register_providers`` hook returns without registering a class."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Provider, hookimpl


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    return None
