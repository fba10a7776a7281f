"""The entry point ``tts_router: qwen``: registers the Qwen3-TTS provider.

Importing this module is cheap: the provider class imports no torch or qwen_tts; the local
backend (``QWEN_BACKEND=local``) imports them on its first request, in the service's thread.
"""

from __future__ import annotations

from collections.abc import Callable

from tts_router.hookspecs import hookimpl
from tts_router.provider import Provider

from .provider import QwenProvider

__all__ = ["register_providers"]


@hookimpl
def register_providers(register: Callable[[type[Provider]], None]) -> None:
    """Register :class:`QwenProvider`."""
    register(QwenProvider)
