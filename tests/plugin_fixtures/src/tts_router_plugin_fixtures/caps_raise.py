"""Provider ``caps-raise``: reading ``capabilities`` raises RuntimeError."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Capabilities, Provider, hookimpl

from ._stages import StageProvider


class CapsRaise(StageProvider):
    id = "caps-raise"  # type: ignore[assignment]

    @property
    def capabilities(self) -> Capabilities:
        raise RuntimeError("caps-raise fails in capabilities on purpose")


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    register(CapsRaise)
