"""The entry point ``tts_router: espeak``: registers :class:`EspeakProvider`.

Importing this module loads no C library; eSpeak NG is opened by the first synthesis.
"""

from __future__ import annotations

from collections.abc import Callable

from tts_router.hookspecs import hookimpl
from tts_router.provider import Provider

from .provider import EspeakProvider

__all__ = ["register_providers"]


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register the eSpeak NG provider."""
    register(EspeakProvider)
