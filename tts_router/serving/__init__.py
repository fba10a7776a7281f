"""The engine-agnostic speech service: the protocol of :mod:`tts_router.protocol` over any engine.

A GPU provider (Qwen, Echo, a third party) implements :class:`SpeechEngine`, a few blocking
methods over its model, and gets the whole HTTP service from :func:`create_app`: header and
body limits and read timeouts enforced before parsing, JSON errors with stable codes, a voice
store, idempotent retries, long jobs handed back as results to fetch, admission by the
caller's deadline, cancellation of abandoned work, and one worker thread that owns the model
and interleaves the chunks of every waiting job in fair batches.

One job a module:

- :mod:`.contract`: the engine contract (:class:`SpeechEngine`, optional
  :class:`ChunkingEngine`, :class:`CloneJob`, :class:`DesignJob`, :class:`EngineResult`);
- :mod:`.worker`: the one thread that owns the engine: admission, batching (and batches that
  merge), isolation;
- :mod:`.scheduler`: fair round-robin over jobs' chunks, and call times;
  :mod:`.assemble`: a job's chunks stitched into one answer;
- :mod:`.handlers`: what each route does, free of FastAPI, and the checks made before
  anything is queued;
- :mod:`.jobs`: jobs by id and ``Idempotency-Key``, retention, abandonment, holding a
  request while its job runs;
- :mod:`.feed`: a streamed job's chunks as they are generated; :mod:`.stream`: streamed
  answers (the protocol's frames, imported by :func:`create_app` only);
- :mod:`.voices`: the voice store interface, the memory store and the directory store
  (restarts, several processes, Modal's Volume);
- :mod:`.request_limits`: the outermost ASGI layer (request ids, limits, last-resort 500);
- :mod:`.server`: connection limits and the request-head deadline for uvicorn;
- :mod:`.responses`: WAV, batch, 202 and error responses as plain data;
- :mod:`.errors`: the service's own errors and :func:`status_for_error`;
- :mod:`.lru`: :class:`BoundedLRU`; :mod:`.counters`: :class:`ServingStats`;
- :mod:`.app`: :func:`create_app`; :mod:`.thread_server`: :func:`serve_in_thread`;
  :mod:`.options`: the ``serve`` command-line flags every provider shares;
- :mod:`.inprocess`: :class:`InProcessService`, an app in this process as an httpx
  transport (lifespan run, responses streamed): a provider's local backend.

FastAPI and uvicorn are imported inside the functions that need them (the ``serve`` extra), so
importing this package costs nothing.
"""

from __future__ import annotations

from .app import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_TEXT_CHARS,
    DEFAULT_MERGE_WINDOW_S,
    create_app,
    use_voice_store,
)
from .contract import ChunkingEngine, CloneJob, DesignJob, EngineResult, SpeechEngine
from .counters import ServingStats
from .errors import status_for_error
from .inprocess import IN_PROCESS_URL, InProcessService
from .lru import BoundedLRU
from .server import ServerLimits, uvicorn_options
from .thread_server import serve_in_thread
from .voices import DirectoryVoiceStore, MemoryVoiceStore, VoiceStore

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_MAX_TEXT_CHARS",
    "DEFAULT_MERGE_WINDOW_S",
    "IN_PROCESS_URL",
    "BoundedLRU",
    "ChunkingEngine",
    "CloneJob",
    "DesignJob",
    "DirectoryVoiceStore",
    "EngineResult",
    "InProcessService",
    "MemoryVoiceStore",
    "ServerLimits",
    "ServingStats",
    "SpeechEngine",
    "VoiceStore",
    "create_app",
    "serve_in_thread",
    "status_for_error",
    "use_voice_store",
    "uvicorn_options",
]
