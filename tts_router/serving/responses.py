"""Finished responses: engine audio as WAV with its headers, batch items, typed errors.

They are plain data (:class:`Stored`) rather than framework responses, so the idempotency
cache can keep them and the ASGI guard can send them without FastAPI.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ..audio import encode_wav, validate_output_samples
from ..errors import TTSRouterError
from ..protocol import (
    HEADER_AUDIO_SECONDS,
    HEADER_MODE,
    HEADER_MODEL,
    HEADER_TIMINGS,
    HEADER_WARNINGS,
    BatchItemResult,
    ErrorDetail,
    JobInfo,
    encode_timings,
    job_path,
)
from .contract import EngineResult
from .errors import status_for_error

__all__ = [
    "Stored",
    "accepted_response",
    "audio_response",
    "batch_item",
    "encode_result",
    "error_response",
    "json_response",
]

_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Stored:
    """A whole response as data: status, body, media type and further headers."""

    status: int
    body: bytes
    media_type: str
    headers: Mapping[str, str]


def json_response(body: bytes) -> Stored:
    """200 with a JSON body."""
    return Stored(200, body, _JSON, {})


def error_response(exc: TTSRouterError) -> Stored:
    """The protocol's ``{"error": {"code", "message"}}`` for ``exc``, with ``Retry-After``."""
    body = ErrorDetail(code=exc.code, message=exc.message).model_dump_json()
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # whole seconds, never earlier than the service said
        headers["retry-after"] = str(max(1, math.ceil(retry_after - 1e-6)))
    return Stored(status_for_error(exc), b'{"error":' + body.encode() + b"}", _JSON, headers)


def accepted_response(job_id: str) -> Stored:
    """202: the job runs on; its answer will be at ``Location`` (a GET there waits for it)."""
    body = JobInfo(job_id=job_id).model_dump_json().encode()
    return Stored(202, body, _JSON, {"location": job_path(job_id)})


def audio_response(result: EngineResult) -> Stored:
    """200 ``audio/wav`` with the ``X-TTS-*`` headers that say how it was made."""
    started = time.perf_counter()
    wav = encode_result(result)
    headers = {
        HEADER_MODE: result.mode,
        HEADER_MODEL: result.model,
        HEADER_AUDIO_SECONDS: f"{result.duration:.3f}",
        HEADER_TIMINGS: encode_timings({**result.timings, "encode": time.perf_counter() - started}),
    }
    if result.warnings:
        # Header values must be latin-1; warnings are ours (never input), but be strict.
        headers[HEADER_WARNINGS] = "; ".join(result.warnings).encode("ascii", "replace").decode()
    return Stored(200, wav, "audio/wav", headers)


def batch_item(result: EngineResult | TTSRouterError) -> BatchItemResult:
    """One ``/clone-batch`` item: the audio inline, or the error that item alone met."""
    if isinstance(result, EngineResult):
        try:
            wav = encode_result(result)
        except TTSRouterError as exc:
            result = exc
        else:
            return BatchItemResult(
                ok=True,
                audio_base64=base64.b64encode(wav).decode(),
                mode=result.mode,
                audio_seconds=result.duration,
            )
    return BatchItemResult(ok=False, error=ErrorDetail(code=result.code, message=result.message))


def encode_result(result: EngineResult) -> bytes:
    """Encode an engine's samples as WAV after the same output checks every provider gets."""
    checked = validate_output_samples(result.samples, result.sample_rate)
    return encode_wav(checked.samples, result.sample_rate)
