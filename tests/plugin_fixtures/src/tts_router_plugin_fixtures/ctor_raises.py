"""Provider ``ctor-raises``: ``from_settings`` raises RuntimeError("boom") (not a typed error)."""

from __future__ import annotations

from tts_router import Provider, ProviderSettings

from ._stages import StageProvider, registering


class CtorRaises(StageProvider):
    id = "ctor-raises"  # type: ignore[assignment]

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> Provider:
        raise RuntimeError("boom")


register_providers = registering(CtorRaises)
