"""Its ``register_providers`` hook raises RuntimeError."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Provider, hookimpl


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    raise RuntimeError("fixture_hook_raises fails in its hook on purpose")
