"""Echo-TTS provider for tts_router: English voice cloning from reference audio alone.

Modules: :mod:`.engine` (the engine over ``echo_tts``), :mod:`.service` (the HTTP service),
:mod:`.fixtures` (a tiny random model for tests), :mod:`.cli` (``tts-router-echo``). Importing
this package imports neither torch nor echo_tts. Echo-TTS weights and every output are
CC-BY-NC-SA-4.0 (non-commercial).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
