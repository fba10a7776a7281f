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

Streams. ``POST /clone`` or ``POST /design`` (or ``GET`` of its job URL) with
``Accept: application/x-tts-stream`` (:data:`STREAM_MEDIA_TYPE`) is answered, once the job's
first chunk is ready, with ``200`` of that media type (chunked transfer) whose body is a
sequence of frames, each sent as soon as its chunk is generated::

    frame   = prefix header payload
    prefix  = 8 bytes: the header's length, then the payload's, each an unsigned 32-bit
              big-endian integer (header at most 64 KiB)
    header  = a UTF-8 JSON object: StreamChunk ({"type": "chunk", ...}) or StreamError
    payload = a chunk's audio: a complete mono 16-bit WAV (an error frame has none)

- Chunk frames come in order (``sequence`` 0, 1, 2...), each with its ``sample_rate``, the
  ``text_span`` ``[start, end)`` of the request's text it speaks, ``mode``, ``model``,
  ``seconds``, its ``warnings`` and ``timings``; the chunk with ``last: true`` ends the stream.
- A failure after the first chunk is an error frame, ``{"type": "error", "error": {"code",
  "message"}, "delivered": n}`` (a code of the error table; ``n`` chunks were sent), which
  ends the stream. A body that ends before a last chunk or an error frame is a broken stream.
- Nothing is streamed before the first chunk: until then the request is answered as any
  other (an HTTP error with its status, JSON body and ``Retry-After``; a 202 with the job URL
  after the ``Prefer`` wait), so retries, idempotency and deadlines are those of whole
  answers. A retry that meets the running job streams it from its first chunk.
- The service keeps a stream's first chunk short (at most ``FIRST_CHUNK_CHARS``, 100
  characters, cut at a sentence or clause) and generates it in a batch without the job's
  other chunks, so the first audio comes early.
- A service that does not stream answers ``audio/wav``: a client takes it as one last chunk.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

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
    "MAX_STREAM_HEADER_BYTES",
    "MAX_STREAM_PAYLOAD_BYTES",
    "STREAM_MEDIA_TYPE",
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
    "StreamChunk",
    "StreamError",
    "StreamFrameDecoder",
    "StreamFrameError",
    "StreamHeader",
    "VoiceInfo",
    "decode_timings",
    "encode_frame",
    "encode_timings",
    "format_prefer",
    "is_voice_id",
    "job_path",
    "loggable_path",
    "parse_deadline",
    "parse_prefer",
    "wants_stream",
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
# A streamed answer (see the module's docstring): asked for with Accept, answered with it.
STREAM_MEDIA_TYPE = "application/x-tts-stream"
MAX_STREAM_HEADER_BYTES = 64 * 1024
MAX_STREAM_PAYLOAD_BYTES = 1024 * 1024 * 1024  # the output validator's own limit
_FRAME_PREFIX = struct.Struct(">II")

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
        number = _finite(seconds)
        if _STAGE.match(stage) and number is not None and number >= 0:
            timings[stage] = number
    return timings


def _finite(text: str) -> float | None:
    """``text`` as a finite number; None when it is not one."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_deadline(value: str | None) -> float | None:
    """The seconds an ``X-TTS-Deadline`` value grants (0 when already past); None if absent
    or malformed (a malformed value is ignored, not trusted)."""
    seconds = _finite(value) if value else None
    return None if seconds is None else max(seconds, 0.0)


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
            number = _finite(argument.strip().strip('"'))
            if number is not None and number >= 0:
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


class _SpeechBody(_Body):
    text: str = Field(repr=False, min_length=1)
    language: str = "auto"
    seed: int | None = None
    options: GenerationOptions = GenerationOptions()


class CloneBody(_SpeechBody):
    """``POST /clone``: exactly one of ``voice_id`` (uploaded before) or ``audio_base64``."""

    voice_id: str | None = None
    audio_base64: str | None = Field(default=None, repr=False)
    transcript: str | None = Field(default=None, repr=False)

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


class DesignBody(_SpeechBody):
    """``POST /design``: speak ``text`` in a voice described by ``instruct``."""

    instruct: str = Field(repr=False, min_length=1)


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
    max_text_chars: int | None = None
    """The most characters one request may carry (longer is ``text_too_long``); the service
    chunks and batches what it gets. Filled in by the service app, not the engine."""


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


# -- streams ----------------------------------------------------------------------------------


class StreamChunk(BaseModel):
    """A chunk frame's header; its payload is the chunk's audio as a mono 16-bit WAV."""

    type: Literal["chunk"] = "chunk"
    sequence: int = Field(ge=0)
    sample_rate: int = Field(gt=0)
    text_span: tuple[int, int]
    """``(start, end)``: the characters of the request's text this chunk speaks."""
    last: bool
    total: int | None = Field(default=None, ge=1)
    """How many chunks the stream has in all (the service's plan), for progress."""
    mode: CloneMode
    model: str
    seconds: float = Field(ge=0)
    warnings: list[str] = []
    timings: dict[str, float] = {}


class StreamError(BaseModel):
    """An error frame's header: the stream broke after ``delivered`` chunks (no payload)."""

    type: Literal["error"] = "error"
    error: ErrorDetail
    delivered: int = Field(ge=0)


StreamHeader = Annotated[StreamChunk | StreamError, Field(discriminator="type")]
_HEADER: TypeAdapter[StreamChunk | StreamError] = TypeAdapter(StreamHeader)


class StreamFrameError(ValueError):
    """The bytes are not frames of this protocol (the message never quotes them)."""


def wants_stream(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for :data:`STREAM_MEDIA_TYPE`."""
    return any(
        part.split(";")[0].strip().lower() == STREAM_MEDIA_TYPE
        for part in (accept or "").split(",")
    )


def encode_frame(header: StreamChunk | StreamError, payload: bytes = b"") -> bytes:
    """One frame: the 8-byte prefix, the header's JSON, the payload."""
    encoded = header.model_dump_json().encode()
    if len(encoded) > MAX_STREAM_HEADER_BYTES or len(payload) > MAX_STREAM_PAYLOAD_BYTES:
        raise ValueError("a stream frame is over the protocol's limits")
    return _FRAME_PREFIX.pack(len(encoded), len(payload)) + encoded + payload


class StreamFrameDecoder:
    """Frames out of a byte stream read in pieces of any size: :meth:`feed` returns the
    frames completed so far, each ``(header, payload)``."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held of a frame not yet complete (0 between frames)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[StreamChunk | StreamError, bytes]]:
        """Add ``data``; return the frames it completes. Raises :class:`StreamFrameError`."""
        self._buffer += data
        frames: list[tuple[StreamChunk | StreamError, bytes]] = []
        while len(self._buffer) >= _FRAME_PREFIX.size:
            header_bytes, payload_bytes = _FRAME_PREFIX.unpack_from(self._buffer)
            if not 0 < header_bytes <= MAX_STREAM_HEADER_BYTES:
                raise StreamFrameError("a stream frame's header length is out of range")
            if payload_bytes > MAX_STREAM_PAYLOAD_BYTES:
                raise StreamFrameError("a stream frame's payload is over the limit")
            end = _FRAME_PREFIX.size + header_bytes + payload_bytes
            if len(self._buffer) < end:
                break
            frame = bytes(self._buffer[_FRAME_PREFIX.size : end])
            del self._buffer[:end]
            try:
                header = _HEADER.validate_python(json.loads(frame[:header_bytes]))
            except ValueError:  # bad UTF-8 or JSON, or pydantic's ValidationError (a ValueError)
                raise StreamFrameError(
                    "a stream frame's header is not a chunk or an error"
                ) from None
            frames.append((header, frame[header_bytes:]))
        return frames
