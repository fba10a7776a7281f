"""The Qwen speech service: :func:`tts_router.serving.create_app` over Qwen engines.

The same app runs under ``tts-router-qwen serve`` on a user's GPU box and inside the Modal
container. A service holds one or two models: clone requests go to the Base model, design
requests to the VoiceDesign model; an operation with no model for it is a 400
``unsupported_operation`` before any work.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_router.errors import TTSRouterError, UnsupportedOperationError
from tts_router.protocol import HealthInfo
from tts_router.serving import CloneJob, DesignJob, EngineResult, create_app

from .engine import QwenEngine, QwenEngineConfig
from .loading import Loader, SnapshotLoader

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["QwenServiceEngine", "create_service_app"]


class QwenServiceEngine:
    """A SpeechEngine over one or more loaded Qwen engines, routed by model kind; a
    :class:`~tts_router.serving.ChunkingEngine` too (see :meth:`split`)."""

    def __init__(self, engines: Sequence[QwenEngine]) -> None:
        if not engines:
            raise ValueError("at least one engine is needed")
        self.engines = tuple(engines)

    def load(self) -> None:
        """Load every model (in the service's one worker thread)."""
        for engine in self.engines:
            engine.load()

    def _kind(self, kind: str) -> QwenEngine | None:
        return next((e for e in self.engines if e.loaded and e.kind == kind), None)

    def health(self) -> HealthInfo:
        """The first model's details; variants and operations of all of them."""
        infos = [engine.health() for engine in self.engines]
        operations = [op for info in infos for op in info.operations]
        return infos[0].model_copy(
            update={
                "variant": "+".join(info.variant for info in infos),
                "loaded": all(info.loaded for info in infos),
                "status": "ok" if all(info.loaded for info in infos) else "loading",
                "operations": list(dict.fromkeys(operations)),
            }
        )

    def languages(self) -> Sequence[str]:
        """Languages any loaded model speaks (each model checks its own again)."""
        return tuple(dict.fromkeys(code for e in self.engines for code in e.languages()))

    def split(self, job: CloneJob | DesignJob) -> Sequence[str]:
        """The chunks the model that will speak ``job`` generates it in (the service queues
        each as its own work item, so long texts interleave fairly with short ones)."""
        engine = self._kind("voice_design" if isinstance(job, DesignJob) else "base")
        if engine is None:  # the call itself will say that this operation is missing
            return [job.text]
        return engine.split(job.text, job.language)

    def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        """Clone with the Base model."""
        engine = self._kind("base")
        if engine is None:
            error = UnsupportedOperationError("this service has no Base model to clone with")
            return [error] * len(jobs)
        return engine.clone(jobs)

    def design(self, job: DesignJob) -> EngineResult:
        """Design with the VoiceDesign model."""
        engine = self._kind("voice_design")
        if engine is None:
            raise UnsupportedOperationError("this service has no VoiceDesign model")
        return engine.design(job)


def create_service_app(
    model_dir: str | Path,
    design_model_dir: str | Path | None = None,
    *,
    engine_options: dict[str, Any] | None = None,
    loader: Loader | None = None,
    **app_options: Any,
) -> FastAPI:
    """The service app for a Base model (and optionally a VoiceDesign model): the one place
    where it is built, for ``tts-router-qwen serve``, the in-process backend and the Modal
    container alike.

    ``engine_options`` are :class:`QwenEngineConfig` fields applied to every model (device,
    dtype, attention, max_new_tokens...); ``loader`` loads every model (default: from its
    files; a :class:`~.loading.SnapshotLoader` has each read into CPU memory here, before a
    memory snapshot); ``app_options`` go to :func:`tts_router.serving.create_app` (body and
    queue limits, batching window...). Models load in the background at startup; requests
    get 503 ``loading`` meanwhile.
    """
    options = engine_options or {}
    models = [model_dir] if design_model_dir is None else [model_dir, design_model_dir]
    engines = [QwenEngine(QwenEngineConfig(model=str(m), **options), loader=loader) for m in models]
    if isinstance(loader, SnapshotLoader):
        for engine in engines:
            loader.preload(engine)
    app = create_app(
        QwenServiceEngine(engines), title="tts-router Qwen3-TTS service", **app_options
    )
    app.state.engines = engines
    app.state.loader = loader
    return app
