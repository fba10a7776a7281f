"""The entry point ``tts_router: echo``: registers the Echo-TTS provider.

Importing this module is cheap: the provider speaks HTTP (or the Modal SDK, imported on first
use); torch and echo_tts are only imported by the engine, which runs in the service.
"""

from __future__ import annotations

from collections.abc import Callable

from tts_router.hookspecs import hookimpl
from tts_router.provider import Provider

from .provider import EchoProvider

__all__ = ["register_providers"]


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register :class:`EchoProvider`."""
    register(EchoProvider)
