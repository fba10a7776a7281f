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
    GET  /jobs/{id}            -> the job's answer once it is done, else 202 JobInfo again
    DELETE /jobs/{id}          -> 204; the job's work that has not started is dropped

Audio responses carry the ``X-TTS-*`` headers below. Errors are JSON ``{"error": {"code",
"message"}}``: 4xx for the caller's mistakes, 5xx/503 (with ``Retry-After``) for the service's.

Long jobs and deadlines. A client sends ``X-TTS-Deadline`` (seconds it will still wait for
this job): the service refuses at once, with 503 ``deadline_unmeetable`` and an honest
``Retry-After``, work its queue cannot finish in time. With ``Prefer: respond-async, wait=N``
(RFC 7240) the service holds a ``POST`` for up to ``N`` seconds; a job still running then is
answered ``202 Accepted`` with ``Location: /jobs/{id}`` and a :class:`JobInfo`, and keeps
running; ``GET`` on that URL waits the same way and answers the job's own response once done
(repeatable while the result is kept). A job started with an ``Idempotency-Key`` is shown
only to requests carrying the same key. Without ``respond-async`` a request is held until
done.
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
    "HEADER_DEADLINE",
    "HEADER_IDEMPOTENCY_KEY",
    "HEADER_MODE",
    "HEADER_MODEL",
    "HEADER_PREFER",
    "HEADER_REQUEST_ID",
    "HEADER_TIMINGS",
    "HEADER_WARNINGS",
    "JOBS_PATH",
    "MAX_SEED",
    "BatchItemResult",
    "CloneBatchBody",
    "CloneBatchResult",
    "CloneBody",
    "DesignBody",
    "ErrorBody",
    "ErrorDetail",
    "GenerationOptions",
    "HealthInfo",
    "JobInfo",
    "LanguagesInfo",
    "VoiceInfo",
    "decode_timings",
    "encode_timings",
    "format_prefer",
    "is_voice_id",
    "job_path",
    "loggable_path",
    "parse_deadline",
    "parse_prefer",
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
# Seconds the caller will still wait for this job (a plain decimal; relative, so no clock
# needs to agree). Sent by the client on every attempt with what is left of its deadline.
HEADER_DEADLINE = "X-TTS-Deadline"
# RFC 7240: "respond-async, wait=N" asks for 202 + a job URL when the job outlives N seconds.
HEADER_PREFER = "Prefer"
JOBS_PATH = "jobs"
# Seeds every engine accepts (numpy's legacy generator takes at most 32 bits).
MAX_SEED = 2**32 - 1

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


def parse_deadline(value: str | None) -> float | None:
    """The seconds an ``X-TTS-Deadline`` value grants (0 when already past); None if absent
    or malformed (a malformed value is ignored, not trusted)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def format_prefer(wait: float) -> str:
    """The ``Prefer`` value asking for a 202 after ``wait`` seconds (RFC 7240 says whole
    seconds; this protocol's services also read decimals, and others ignore the header)."""
    seconds = f"{max(wait, 0.0):.3f}".rstrip("0").rstrip(".")
    return f"respond-async, wait={seconds}"


def parse_prefer(value: str | None) -> tuple[bool, float | None]:
    """(``respond-async`` asked, ``wait`` seconds or None) from a ``Prefer`` header."""
    respond_async, wait = False, None
    for token in (value or "").split(","):
        name, _, argument = token.strip().partition("=")
        name = name.strip().lower()
        if name == "respond-async":
            respond_async = True
        elif name == "wait":
            try:
                number = float(argument.strip().strip('"'))
            except ValueError:
                continue
            if math.isfinite(number) and number >= 0:
                wait = number
    return respond_async, wait


def job_path(job_id: str) -> str:
    """The path of a job's result: ``/jobs/{id}``."""
    return f"/{JOBS_PATH}/{job_id}"


def loggable_path(path: str) -> str:
    """``path`` as logs may show it: a job id is the key to its result (the caller's audio),
    so only its first characters are kept."""
    prefix = f"/{JOBS_PATH}/"
    if path.startswith(prefix) and len(path) > len(prefix) + 8:
        return path[: len(prefix) + 8] + "…"
    return path


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


class JobInfo(BaseModel):
    """``202 Accepted``: the job runs on; fetch its answer at ``Location`` (``/jobs/{id}``)."""

    job_id: str
    status: Literal["running"] = "running"
    estimated_seconds: float | None = None
    """The service's estimate of the time left, when it has measured enough to say."""


class VoiceInfo(BaseModel):
    """``PUT /voices/{sha256}`` response."""

    voice_id: str
    seconds: float
    sample_rate: int
