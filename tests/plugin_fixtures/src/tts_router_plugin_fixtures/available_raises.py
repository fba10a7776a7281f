"""Provider ``available-raises``: valid capabilities (design; en, auto; approximate), but
reading ``available`` raises RuntimeError."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Provider, hookimpl

from ._stages import StageProvider


class AvailableRaises(StageProvider):
    id = "available-raises"  # type: ignore[assignment]

    @property
    def available(self) -> bool:
        raise RuntimeError("available-raises fails in available on purpose")


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    register(AvailableRaises)
