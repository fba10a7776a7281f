"""Provider ``available-raises``: valid capabilities (design; en, auto; approximate), but
reading ``available`` raises RuntimeError."""

from __future__ import annotations

from ._stages import StageProvider, registering


class AvailableRaises(StageProvider):
    id = "available-raises"  # type: ignore[assignment]

    @property
    def available(self) -> bool:
        raise RuntimeError("available-raises fails in available on purpose")


register_providers = registering(AvailableRaises)
