"""tts-router-espeak: the eSpeak NG provider plugin for tts_router.

Importing this package is cheap: the C library is loaded by the first synthesis. The provider
class is :class:`tts_router_espeak.provider.EspeakProvider`; the plugin module registered under
the ``tts_router`` entry-point group is :mod:`tts_router_espeak.plugin`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
