"""``POST /v1/audio/speech`` in OpenAI's request shape, mapped onto the Router.

- ``voice`` names a voice of the library (``"voice_<hex>"`` or ``{"id": "voice_<hex>"}``): the
  request clones it. ``voice`` omitted, empty or ``"design"`` with ``instructions``: the request
  designs a voice from the description.
- ``model`` is a provider id, or ``auto`` (OpenAI's own model names mean ``auto`` too).
- Extra fields: ``language`` (default ``auto``), ``transcript`` (overrides the stored one),
  ``sample_rate`` (resample the output).
- ``stream_format: "audio"`` with ``response_format`` ``pcm`` or ``wav`` streams: the router's
  chunks are sent as they are generated (a WAV stream header first, sizes unknown), see
  :func:`stream_speech`. Other formats are whole files either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ValidationError
from ..formats import FORMATS, STREAM_FORMATS, AudioFormat
from ..models import CloneRequest, DesignRequest, SpeechResult, VoiceReference
from ..router import Router
from ..streaming import AudioChunk
from .library import VoiceLibrary

__all__ = ["OPENAI_MODEL_NAMES", "SpeechBody", "stream_speech", "synthesise"]

# OpenAI's model names: clients send one; here they all mean "let the router choose".
OPENAI_MODEL_NAMES = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts"})


class SpeechBody(BaseModel):
    """The request body; text, instructions and transcript never appear in reprs or errors."""

    # Unknown fields are ignored, as OpenAI's API does, so newer clients keep working.
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, frozen=True)

    model: str = "auto"
    input: str = Field(repr=False, min_length=1, max_length=1_000_000)
    voice: str | dict[str, str] | None = None
    instructions: str | None = Field(default=None, repr=False)
    response_format: str = "mp3"
    speed: float | None = Field(default=None, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] | None = None
    language: str = "auto"
    transcript: str | None = Field(default=None, repr=False)
    sample_rate: int | None = Field(default=None, ge=8_000, le=192_000)

    @property
    def voice_id(self) -> str | None:
        """The library voice named, or None for voice design."""
        voice = self.voice.get("id") if isinstance(self.voice, dict) else self.voice
        voice = (voice or "").strip()
        return None if voice in ("", "design") else voice

    @property
    def provider(self) -> str | None:
        """The provider id to force, or None for the router's choice."""
        model = self.model.strip().lower()
        return None if model in ("", "auto") or model in OPENAI_MODEL_NAMES else model

    @property
    def streams(self) -> bool:
        """Whether the answer streams chunk by chunk (``stream_format`` ``audio``, any format
        but flac: see :data:`~tts_router.formats.STREAM_FORMATS`)."""
        return self.stream_format == "audio" and self.audio_format in STREAM_FORMATS

    @property
    def audio_format(self) -> AudioFormat:
        """``response_format`` as one of the library's formats (``unsupported_format`` if not)."""
        fmt = self.response_format.strip().lower()
        if fmt not in FORMATS:
            raise ValidationError(
                f"unknown response_format {self.response_format!r}; use one of "
                + ", ".join(FORMATS),
                code="unsupported_format",
            )
        return fmt


async def synthesise(
    body: SpeechBody, router: Router, library: VoiceLibrary, request_id: str
) -> SpeechResult:
    """Route the request; the result comes in the format and at the rate asked."""
    request = _request(body, library, request_id)
    if isinstance(request, DesignRequest):
        return await router.design(request)
    return await router.clone(request)


def stream_speech(
    body: SpeechBody, router: Router, library: VoiceLibrary, request_id: str
) -> AsyncIterator[AudioChunk]:
    """Route the request and stream it (``router.stream_clone``/``stream_design``): a failure
    before the first chunk is the router's error (after its fallbacks), after it a
    ``StreamInterruptedError``. Refusals of the request itself are raised here, at once."""
    request = _request(body, library, request_id)
    if isinstance(request, DesignRequest):
        return router.stream_design(request)
    return router.stream_clone(request)


def _request(
    body: SpeechBody, library: VoiceLibrary, request_id: str
) -> CloneRequest | DesignRequest:
    """The library request ``body`` asks for: a design, or a clone of a library voice."""
    if body.speed not in (None, 1.0):
        raise ValidationError(
            "speed is not offered by any provider here; omit it or send 1.0",
            code="unsupported_option",
        )
    if body.stream_format == "sse":
        raise ValidationError(
            "stream_format='sse' is not offered; use 'audio' (chunked bytes)",
            code="unsupported_option",
        )
    common: dict[str, Any] = {
        "text": body.input,
        "language": body.language,
        "provider": body.provider,
        "request_id": request_id,
        "format": body.audio_format,
        "sample_rate": body.sample_rate,
    }
    voice_id = body.voice_id
    if voice_id is None:
        if not body.instructions or not body.instructions.strip():
            raise ValidationError(
                "voice design needs instructions (the voice in words); or name a voice of "
                "the library in voice",
                code="empty_instruct",
            )
        return DesignRequest(instruct=body.instructions, **common)
    if body.instructions:
        raise ValidationError(
            "instructions describe a designed voice; omit them when cloning a library voice",
            code="unsupported_option",
        )
    voice = library.get(voice_id)
    transcript = body.transcript if body.transcript is not None else voice.transcript
    reference = VoiceReference(
        audio=library.audio(voice), transcript=transcript, language=voice.language
    )
    return CloneRequest(reference=reference, **common)
