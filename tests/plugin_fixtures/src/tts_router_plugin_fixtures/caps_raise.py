"""Provider ``caps-raise``: reading ``capabilities`` raises RuntimeError."""

from __future__ import annotations

from tts_router import Capabilities

from ._stages import StageProvider, registering


class CapsRaise(StageProvider):
    id = "caps-raise"  # type: ignore[assignment]

    @property
    def capabilities(self) -> Capabilities:
        raise RuntimeError("caps-raise fails in capabilities on purpose")


register_providers = registering(CapsRaise)
