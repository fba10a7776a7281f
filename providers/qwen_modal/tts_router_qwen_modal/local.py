"""``QWEN_BACKEND=local``: the Qwen provider running the engine in this process.

For users with their own GPU (or tests on the tiny model): the same engine code the service
runs, called from a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from tts_router.audio import DecodedAudio
from tts_router.errors import ConfigurationError
from tts_router.models import CloneRequest, DesignRequest
from tts_router.provider import Capabilities, Provider, Speech
from tts_router.serving import EngineResult
from tts_router.settings import Settings

from .local_backend import LocalQwenBackend
from .provider import QWEN_CAPABILITIES

__all__ = ["LocalQwenProvider"]


class LocalQwenProvider(Provider):
    """Qwen3-TTS in-process. Models load on the first request, not at construction."""

    id: ClassVar[str] = "qwen"

    def __init__(self, backend: LocalQwenBackend, *, can_design: bool) -> None:
        self.backend = backend
        operations = {"clone", "design"} if can_design else {"clone"}
        self._capabilities = QWEN_CAPABILITIES.model_copy(
            update={"operations": frozenset(operations)}
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Provider:
        """Needs ``QWEN_MODEL_DIR`` (a directory or hub id); ``QWEN_DESIGN_MODEL_DIR`` optional."""
        model = settings.setting("qwen", "model_dir", "QWEN_MODEL_DIR")
        if not model:
            raise ConfigurationError(
                "QWEN_BACKEND=local needs QWEN_MODEL_DIR (a model directory or hub id)"
            )
        design = settings.setting("qwen", "design_model_dir", "QWEN_DESIGN_MODEL_DIR")
        backend = LocalQwenBackend(str(model), design_model=str(design) if design else None)
        return cls(backend, can_design=bool(design))

    @property
    def capabilities(self) -> Capabilities:
        """Qwen's ten languages; design only with a VoiceDesign model."""
        return self._capabilities

    async def _clone(
        self, text: str, language: str, request: CloneRequest, reference: DecodedAudio
    ) -> Speech:
        ref = request.reference
        result = await asyncio.to_thread(
            self.backend.synthesize_clone,
            text,
            language,
            reference,
            ref.content_id,
            ref.transcript if ref.has_transcript else None,
            request.seed,
            request.options,
        )
        return _speech(result)

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        result = await asyncio.to_thread(
            self.backend.synthesize_design,
            text,
            request.instruct,
            language,
            request.seed,
            request.options,
        )
        return _speech(result)


def _speech(result: EngineResult) -> Speech:
    return Speech(
        model=result.model,
        mode=result.mode,
        samples=result.samples,
        sample_rate=result.sample_rate,
        warnings=list(result.warnings),
    )
