"""A well-behaved plugin registering one provider through the real entry point."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Capabilities, Provider, hookimpl
from tts_router.testing import FakeProvider, fake_capabilities


class EntryPointFake(FakeProvider):
    """A FakeProvider registered under the id ``entry-point-fake``."""

    id = "entry-point-fake"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__(provider_id="entry-point-fake", caps=fake_capabilities())

    @property
    def capabilities(self) -> Capabilities:
        return self.caps


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    register(EntryPointFake)
