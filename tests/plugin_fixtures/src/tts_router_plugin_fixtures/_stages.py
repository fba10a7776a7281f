"""A valid design provider that the isolation-stage fixtures each break in one place, and the
hook that registers a fixture's provider."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Capabilities, Provider, hookimpl
from tts_router.testing import FakeProvider, fake_capabilities

__all__ = ["DESIGN_CAPABILITIES", "StageProvider", "registering"]

DESIGN_CAPABILITIES = fake_capabilities(
    operations=("design",), languages=("en", "auto"), clone_modes=(), quality="approximate"
)


class StageProvider(FakeProvider):
    """A FakeProvider (design only; ``en`` and ``auto``; approximate) built with no arguments,
    as the router builds providers. Subclasses set ``id`` and break one thing."""

    id = "stage"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__(provider_id=type(self).id, caps=DESIGN_CAPABILITIES)

    @property
    def capabilities(self) -> Capabilities:
        return self.caps


def registering(provider: type[Provider]) -> Callable[[Callable[[type[Provider]], None]], None]:
    """A module's ``register_providers`` hook, registering ``provider``."""

    @hookimpl
    def register_providers(register: Callable[[type[Provider]], None]) -> None:
        register(provider)

    return register_providers
