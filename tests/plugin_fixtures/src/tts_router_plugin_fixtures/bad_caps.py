"""Provider ``bad-caps``: declares languages ``("en", "xx", "english")``, two of them not
canonical codes. Built with ``model_construct`` so no validator stops the declaration itself:
the router must notice."""

from __future__ import annotations

from tts_router import Capabilities

from ._stages import DESIGN_CAPABILITIES, StageProvider, registering

BAD_CAPABILITIES = Capabilities.model_construct(
    **{**dict(DESIGN_CAPABILITIES), "languages": ("en", "xx", "english")}
)


class BadCaps(StageProvider):
    id = "bad-caps"  # type: ignore[assignment]

    @property
    def capabilities(self) -> Capabilities:
        return BAD_CAPABILITIES


register_providers = registering(BadCaps)
