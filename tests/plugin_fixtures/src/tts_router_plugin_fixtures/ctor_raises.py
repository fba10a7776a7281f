"""Provider ``ctor-raises``: ``from_settings`` raises RuntimeError("boom") (not a typed error)."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Provider, ProviderSettings, hookimpl

from ._stages import StageProvider


class CtorRaises(StageProvider):
    id = "ctor-raises"  # type: ignore[assignment]

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> Provider:
        raise RuntimeError("boom")


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    register(CtorRaises)
