"""Checks every request passes before any of its work is queued (or batched with others'):
what would otherwise fail inside an engine call, for the whole batch, as a 500."""

from __future__ import annotations

import re

from ..errors import ValidationError
from ..protocol import MAX_SEED

__all__ = ["check_seed", "check_strings"]

# Lone surrogates: JSON may carry them ("\ud800"), but they are not text (UTF-8 cannot encode
# them) and tokenizers fail on them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_strings(**fields: str | None) -> None:
    """Every given field must be valid Unicode text (no lone surrogates)."""
    for name, value in fields.items():
        if value is not None and _SURROGATE.search(value):
            raise ValidationError(
                f"the {name} holds lone surrogates, which are not text; send valid UTF-8",
                code="invalid_characters",
            )


def check_seed(seed: int | None) -> None:
    """A seed every engine accepts: 0 to :data:`~tts_router.protocol.MAX_SEED`."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ValidationError(
            f"the seed must be an integer from 0 to {MAX_SEED}", code="invalid_seed"
        )
