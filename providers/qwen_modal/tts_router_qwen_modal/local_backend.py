"""The engine in-process, for the provider's ``backend=local`` (a user's own GPU).

Same engine code as the service, minus HTTP: the provider validates and decodes the request
with the core, then calls these blocking methods (from a thread: ``asyncio.to_thread``). A lock
serialises calls, since several threads on one model are slower than one after another.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from tts_router.audio import DecodedAudio
from tts_router.errors import TTSRouterError
from tts_router.languages import normalize_language
from tts_router.protocol import HealthInfo
from tts_router.serving import CloneJob, DesignJob, EngineResult

from .engine import QwenEngine, QwenEngineConfig
from .service import QwenServiceEngine

__all__ = ["LocalQwenBackend"]


class LocalQwenBackend:
    """Qwen3-TTS running in this process. Models load on first use (or :meth:`load`)."""

    def __init__(
        self,
        model: str | Path,
        *,
        design_model: str | Path | None = None,
        **engine_options: object,
    ) -> None:
        models = [model] if design_model is None else [model, design_model]
        configs = [QwenEngineConfig(model=str(m), **engine_options) for m in models]  # type: ignore[arg-type]
        self.engine = QwenServiceEngine([QwenEngine(c) for c in configs])
        self._lock = threading.Lock()
        self._loaded = False

    def load(self) -> None:
        """Load the models now (otherwise the first call does)."""
        with self._lock:
            self._load()

    def _load(self) -> None:
        if not self._loaded:
            self.engine.load()
            self._loaded = True

    def health(self) -> HealthInfo:
        """Model, device, dtype, attention and whether it is loaded."""
        return self.engine.health()

    def languages(self) -> Sequence[str]:
        """Canonical codes the loaded models speak (loads them)."""
        self.load()
        return self.engine.languages()

    def synthesize_clone(
        self,
        text: str,
        language: str,
        reference: DecodedAudio,
        sha256: str,
        transcript: str | None = None,
        seed: int | None = None,
        options: Mapping[str, float | int] | None = None,
    ) -> EngineResult:
        """Clone one text (any length: it is chunked). ``sha256`` of the reference's encoded
        bytes keys the voice-prompt cache; a transcript selects ICL mode."""
        job = CloneJob(text, language, reference, sha256, transcript, seed, dict(options or {}))
        (result,) = self.synthesize_clone_batch([job])
        if isinstance(result, TTSRouterError):
            raise result
        return result

    def synthesize_clone_batch(
        self, jobs: Sequence[CloneJob]
    ) -> list[EngineResult | TTSRouterError]:
        """Clone several jobs in one batched generation; one result or error each."""
        with self._lock:
            self._load()
            checked = [self._checked(job) for job in jobs]
            return self.engine.clone(checked)

    def synthesize_design(
        self,
        text: str,
        instruct: str,
        language: str,
        seed: int | None = None,
        options: Mapping[str, float | int] | None = None,
    ) -> EngineResult:
        """Speak ``text`` in the voice ``instruct`` describes (needs a VoiceDesign model)."""
        with self._lock:
            self._load()
            language = normalize_language(language, self.engine.languages())
            return self.engine.design(
                DesignJob(text, instruct, language, seed, dict(options or {}))
            )

    def _checked(self, job: CloneJob) -> CloneJob:
        language = normalize_language(job.language, self.engine.languages())
        if language == job.language:
            return job
        return CloneJob(
            job.text,
            language,
            job.reference,
            job.reference_id,
            job.transcript,
            job.seed,
            job.options,
        )
