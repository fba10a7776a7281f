"""The engine-agnostic speech service: the protocol of :mod:`tts_router.protocol` over any engine.

A GPU provider (Qwen, Echo, a third party) implements :class:`SpeechEngine`, a few blocking
methods over its model, and gets the whole HTTP service from :func:`create_app`: request-size
limits enforced before parsing, JSON errors with stable codes, a voice store, idempotent
retries, and one worker thread that owns the model. Concurrent ``/clone`` requests that arrive
together are gathered into one batched engine call.

One job a module:

- :mod:`.engine`: the engine contract (:class:`SpeechEngine`, :class:`CloneJob`,
  :class:`DesignJob`, :class:`EngineResult`);
- :mod:`.worker`: the one thread that owns the engine: batching, admission, the model load;
- :mod:`.handlers`: what each route does, free of FastAPI;
- :mod:`.idempotency`: ``Idempotency-Key`` replays;
- :mod:`.guard`: the outermost ASGI layer (request ids, body limit, last-resort 500);
- :mod:`.responses`: WAV, batch and error responses as plain data;
- :mod:`.errors`: the service's own errors and :func:`status_for_error`;
- :mod:`.lru`: :class:`BoundedLRU`; :mod:`.stats`: :class:`ServingStats`;
- :mod:`.app`: :func:`create_app`; :mod:`.run`: :func:`serve_in_thread`.

FastAPI and uvicorn are imported inside the functions that need them (the ``serve`` extra), so
importing this package costs nothing.
"""

from __future__ import annotations

from .app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TEXT_CHARS, create_app
from .engine import CloneJob, DesignJob, EngineResult, SpeechEngine
from .errors import status_for_error
from .lru import BoundedLRU
from .run import serve_in_thread
from .stats import ServingStats

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_TEXT_CHARS",
    "BoundedLRU",
    "CloneJob",
    "DesignJob",
    "EngineResult",
    "ServingStats",
    "SpeechEngine",
    "create_app",
    "serve_in_thread",
    "status_for_error",
]
