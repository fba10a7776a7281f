"""``tts-router serve``: an OpenAI-compatible speech gateway over the Router (extra ``gateway``).

- ``POST /v1/audio/speech``: OpenAI's request shape; a library voice clones, ``instructions``
  design (see :mod:`.speech`); every response format of :mod:`tts_router.formats`.
- ``POST /v1/voices`` (multipart upload), ``POST /v1/voices/design``, ``GET /v1/voices``,
  ``GET``/``DELETE /v1/voices/{id}``: the voice library (SQLite and files under ``data_dir``).
- ``GET /v1/models``: the providers and their capabilities; ``GET /healthz``.
- Bearer API keys, stored as hashes; a per-key limit on requests in flight (429 + Retry-After);
  errors in OpenAI's shape with the library's codes and statuses.

Modules: :mod:`.app` (the FastAPI app and its key, limit and access-log layers),
:mod:`.config` (``GatewayConfig``, hashed keys), :mod:`.library` (the voice library),
:mod:`.speech` (OpenAI's request mapped onto the Router).

Importing this package needs FastAPI: ``pip install 'tts-router-core[gateway]'``.
"""

from __future__ import annotations

from .app import create_app
from .config import KEYS_VARIABLE, GatewayConfig, hash_key
from .library import Voice, VoiceLibrary
from .speech import SpeechBody

__all__ = [
    "KEYS_VARIABLE",
    "GatewayConfig",
    "SpeechBody",
    "Voice",
    "VoiceLibrary",
    "create_app",
    "hash_key",
]
