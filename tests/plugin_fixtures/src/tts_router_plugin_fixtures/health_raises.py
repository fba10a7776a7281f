"""Provider ``health-raises``: a valid design provider whose ``health()`` raises RuntimeError."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Health, Provider, hookimpl

from ._stages import StageProvider


class HealthRaises(StageProvider):
    id = "health-raises"  # type: ignore[assignment]

    async def health(self) -> Health:
        raise RuntimeError("health-raises fails in health() on purpose")


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    register(HealthRaises)
