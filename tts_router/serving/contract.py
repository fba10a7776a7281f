"""The engine contract: the jobs a :class:`SpeechEngine` is given and the results it returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..audio import DecodedAudio
from ..errors import TTSRouterError
from ..models import CloneMode
from ..protocol import HealthInfo

__all__ = [
    "ChunkingEngine",
    "CloneJob",
    "DesignJob",
    "EngineResult",
    "FloatArray",
    "SpeechEngine",
]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class CloneJob:
    """One clone for the engine: validated text, canonical language, decoded reference.

    ``reference_id`` is the sha256 of the encoded reference bytes, so engines can cache per
    reference (voice prompts, speaker embeddings) without hashing samples again.
    """

    text: str = field(repr=False)
    language: str
    reference: DecodedAudio = field(repr=False)
    reference_id: str
    transcript: str | None = field(default=None, repr=False)
    seed: int | None = None
    options: Mapping[str, float | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DesignJob:
    """One voice design for the engine: text, the voice described in words, canonical language."""

    text: str = field(repr=False)
    instruct: str = field(repr=False)
    language: str
    seed: int | None = None
    options: Mapping[str, float | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EngineResult:
    """Audio an engine made for one job: mono float32 samples and how they were made."""

    samples: FloatArray = field(repr=False)
    sample_rate: int
    mode: CloneMode
    model: str
    timings: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.samples) / self.sample_rate


@runtime_checkable
class SpeechEngine(Protocol):
    """What :func:`~tts_router.serving.create_app` needs from a model. Every method blocks; the
    app calls them from ONE worker thread, never concurrently, except :meth:`health` and
    :meth:`languages`, which must be cheap and safe to call from any thread (they read
    attributes only).
    """

    def load(self) -> None:
        """Load the model (idempotent). The app runs it at startup and answers 503 meanwhile."""
        ...

    def health(self) -> HealthInfo:
        """What runs here: model, variant, device, dtype, attention, loaded, version."""
        ...

    def languages(self) -> Sequence[str]:
        """Canonical language codes (see :mod:`tts_router.languages`), ``"auto"`` included."""
        ...

    def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        """Generate all ``jobs`` together; one result or typed error per job, in order."""
        ...

    def design(self, job: DesignJob) -> EngineResult:
        """Generate one voice design; raise UnsupportedOperationError if the engine cannot."""
        ...


@runtime_checkable
class ChunkingEngine(Protocol):
    """An engine that says how it splits a job's text (optional, next to :class:`SpeechEngine`).

    The service then queues each chunk as its own work item, interleaves the chunks of long
    jobs with short jobs (a short request waits for at most one batch), drops the chunks of an
    abandoned job that have not started, and stitches the chunks' audio. Each chunk reaches
    :meth:`SpeechEngine.clone` / :meth:`SpeechEngine.design` as a job whose ``text`` is that
    chunk, so the engine must not split it again. An engine without this method gets whole
    jobs, as before.
    """

    def split(self, job: CloneJob | DesignJob) -> Sequence[str]:
        """The chunks of ``job.text``, in order. Pure and cheap: it runs on the event loop,
        from any thread, while the engine generates; raise typed errors for bad input."""
        ...
