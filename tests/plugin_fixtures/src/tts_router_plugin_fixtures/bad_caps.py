"""Provider ``bad-caps``: declares languages ``("en", "xx", "english")``, two of them not
canonical codes. Built with ``model_construct`` so no validator stops the declaration itself:
the router must notice."""

from __future__ import annotations

from collections.abc import Callable

from tts_router import Capabilities, Provider, hookimpl

from ._stages import DESIGN_CAPABILITIES, StageProvider

BAD_CAPABILITIES = Capabilities.model_construct(
    **{**dict(DESIGN_CAPABILITIES), "languages": ("en", "xx", "english")}
)


class BadCaps(StageProvider):
    id = "bad-caps"  # type: ignore[assignment]

    @property
    def capabilities(self) -> Capabilities:
        return BAD_CAPABILITIES


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    register(BadCaps)
