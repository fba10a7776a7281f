"""The HTTP protocol every GPU speech service speaks (Qwen, Echo, third parties).

Defined once here so that one client (:mod:`tts_router.http`) serves every such provider and
every service validates requests with the same models::

    GET  /health               -> HealthInfo
    GET  /languages            -> LanguagesInfo
    HEAD /voices/{sha256}      -> 200 if the service holds that reference, else 404
    PUT  /voices/{sha256}      <- raw audio bytes; the hash is checked -> VoiceInfo
    POST /clone                <- CloneBody   -> audio/wav
    POST /clone-batch          <- CloneBatchBody -> CloneBatchResult (ordered, per-item errors)
    POST /design               <- DesignBody  -> audio/wav

Audio responses carry the ``X-TTS-*`` headers below. Errors are JSON ``{"error": {"code",
"message"}}``: 4xx for the caller's mistakes, 5xx/503 (with ``Retry-After``) for the service's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .models import CloneMode

__all__ = [
    "HEADER_AUDIO_SECONDS",
    "HEADER_IDEMPOTENCY_KEY",
    "HEADER_MODE",
    "HEADER_MODEL",
    "HEADER_REQUEST_ID",
    "HEADER_TIMINGS",
    "HEADER_WARNINGS",
    "BatchItemResult",
    "CloneBatchBody",
    "CloneBatchResult",
    "CloneBody",
    "DesignBody",
    "ErrorBody",
    "ErrorDetail",
    "GenerationOptions",
    "HealthInfo",
    "LanguagesInfo",
    "VoiceInfo",
    "decode_timings",
    "encode_timings",
    "is_voice_id",
]

HEADER_REQUEST_ID = "X-Request-Id"
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_MODE = "X-TTS-Mode"
HEADER_MODEL = "X-TTS-Model"
HEADER_AUDIO_SECONDS = "X-TTS-Audio-Seconds"
HEADER_WARNINGS = "X-TTS-Warnings"
# Seconds per stage of the service's work: "queue=0.0012,prompt=0.31,generate=2.5"; see
# encode_timings/decode_timings, the one codec both sides use.
HEADER_TIMINGS = "X-TTS-Timings"

_VOICE_ID = re.compile(r"^[0-9a-f]{64}$")

_STAGE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def encode_timings(timings: Mapping[str, float]) -> str:
    """The ``X-TTS-Timings`` value for ``timings`` (stage names: lowercase identifiers).

    Lossless: ``repr`` of a float reads back as the same float.
    """
    for stage in timings:
        if not _STAGE.match(stage):
            raise ValueError(f"timing stage {stage!r} is not a lowercase identifier")
    return ",".join(f"{stage}={float(seconds)!r}" for stage, seconds in timings.items())


def decode_timings(value: str) -> dict[str, float]:
    """The stages of an ``X-TTS-Timings`` value; malformed entries are skipped, not trusted."""
    timings: dict[str, float] = {}
    for entry in value.split(","):
        stage, _, seconds = entry.strip().partition("=")
        if not _STAGE.match(stage):
            continue
        try:
            number = float(seconds)
        except ValueError:
            continue
        if math.isfinite(number) and number >= 0:
            timings[stage] = number
    return timings


def is_voice_id(value: str) -> bool:
    """Whether ``value`` is a lowercase hex sha256, the only form a voice id takes."""
    return bool(_VOICE_ID.match(value))


class _Body(BaseModel):
    # Never echo request content in validation errors: it is user text and audio.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)


class GenerationOptions(_Body):
    """Sampling options passed to the engine; None means the engine's default."""

    temperature: float | None = Field(default=None, gt=0, le=2)
    top_k: int | None = Field(default=None, ge=1, le=10_000)
    top_p: float | None = Field(default=None, gt=0, le=1)
    repetition_penalty: float | None = Field(default=None, gt=0, le=5)


class CloneBody(_Body):
    """``POST /clone``: exactly one of ``voice_id`` (uploaded before) or ``audio_base64``."""

    text: str = Field(repr=False, min_length=1)
    language: str = "auto"
    voice_id: str | None = None
    audio_base64: str | None = Field(default=None, repr=False)
    transcript: str | None = Field(default=None, repr=False)
    seed: int | None = None
    options: GenerationOptions = GenerationOptions()

    @field_validator("voice_id")
    @classmethod
    def _voice_id_is_a_hash(cls, value: str | None) -> str | None:
        if value is not None and not is_voice_id(value):
            raise ValueError("voice_id must be a lowercase hex sha256")
        return value

    @model_validator(mode="after")
    def _one_reference(self) -> CloneBody:
        if (self.voice_id is None) == (self.audio_base64 is None):
            raise ValueError("give exactly one of voice_id and audio_base64")
        return self


class CloneBatchBody(_Body):
    """``POST /clone-batch``: several clones generated together (ordered results)."""

    items: list[CloneBody] = Field(min_length=1, max_length=64)


class DesignBody(_Body):
    """``POST /design``: speak ``text`` in a voice described by ``instruct``."""

    text: str = Field(repr=False, min_length=1)
    instruct: str = Field(repr=False, min_length=1)
    language: str = "auto"
    seed: int | None = None
    options: GenerationOptions = GenerationOptions()


class ErrorDetail(BaseModel):
    """A stable ``code`` and a message naming the fix, never echoing input."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response's JSON body."""

    error: ErrorDetail


class BatchItemResult(BaseModel):
    """One clone of a batch: audio (base64 WAV) and metadata, or its own error."""

    ok: bool
    audio_base64: str | None = Field(default=None, repr=False)
    mode: CloneMode | None = None
    audio_seconds: float | None = None
    error: ErrorDetail | None = None


class CloneBatchResult(BaseModel):
    """``POST /clone-batch`` response: one result per item, in order."""

    model: str
    results: list[BatchItemResult]


class HealthInfo(BaseModel):
    """``GET /health``."""

    status: Literal["ok", "loading", "failed"]
    """``failed``: the model did not load; the service answers requests with 500 until restarted."""
    model: str
    variant: str
    device: str
    dtype: str
    attention: str
    loaded: bool
    version: str
    operations: list[Literal["clone", "design"]] = []


class LanguagesInfo(BaseModel):
    """``GET /languages``: canonical codes (see :mod:`tts_router.languages`)."""

    languages: list[str]


class VoiceInfo(BaseModel):
    """``PUT /voices/{sha256}`` response."""

    voice_id: str
    seconds: float
    sample_rate: int
