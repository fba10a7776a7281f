"""Provider ``health-raises``: a valid design provider whose ``health()`` raises RuntimeError."""

from __future__ import annotations

from tts_router import Health

from ._stages import StageProvider, registering


class HealthRaises(StageProvider):
    id = "health-raises"  # type: ignore[assignment]

    async def health(self) -> Health:
        raise RuntimeError("health-raises fails in health() on purpose")


register_providers = registering(HealthRaises)
