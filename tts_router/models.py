"""The request and result models: the one vocabulary the router, providers and services speak.

Text, transcripts and audio are excluded from every ``repr`` and pydantic never echoes input in
its errors (``hide_input_in_errors``), so a model can be logged without leaking user content.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from .errors import AudioValidationError, ValidationError
from .formats import MEDIA_TYPES, AudioFormat

__all__ = [
    "CloneMode",
    "CloneRequest",
    "DesignRequest",
    "Operation",
    "QualityTier",
    "SpeechResult",
    "VoiceReference",
]

Operation = Literal["clone", "design"]
# icl: reference audio + its transcript; x_vector: speaker embedding only; audio: the engine
# clones from audio alone by design; approximate: pitch/rate/language matched, not timbre.
CloneMode = Literal["icl", "x_vector", "audio", "approximate", "design"]
QualityTier = Literal["reference", "approximate"]
# An integrated loudness (LUFS) to normalise to: a request's, or the router's default.
Loudness = Annotated[float, Field(ge=-70.0, le=-5.0)]

_PRIVATE = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")
_BASE64_SPACE = re.compile(r"\s+")


class VoiceReference(BaseModel):
    """A reference recording to clone: encoded audio bytes, optionally its transcript."""

    model_config = ConfigDict(**_PRIVATE, ignored_types=(cached_property,))

    audio: bytes = Field(repr=False, description="Encoded audio file (WAV, FLAC, OGG, MP3).")
    transcript: str | None = Field(
        default=None, repr=False, description="What is said in the audio, if known."
    )
    language: str | None = Field(default=None, description="Language spoken in the reference.")

    @field_validator("audio", mode="before")
    @classmethod
    def _refuse_text(cls, value: Any) -> Any:
        # pydantic would encode a str to UTF-8 bytes: base64 (how Utter stores references)
        # would then fail much later as "unreadable audio", far from the mistake.
        if isinstance(value, str):
            raise AudioValidationError(
                "VoiceReference.audio is a str; pass the file's bytes (Path.read_bytes()), "
                "or use VoiceReference.from_base64(...) for base64 text",
                code="reference_is_text",
            )
        return value

    @computed_field(repr=True)  # type: ignore[prop-decorator]
    @cached_property
    def content_id(self) -> str:
        """sha256 of the audio bytes: how services cache an uploaded reference."""
        return hashlib.sha256(self.audio).hexdigest()

    @property
    def has_transcript(self) -> bool:
        """Whether a non-blank transcript was given."""
        return bool(self.transcript and self.transcript.strip())

    @classmethod
    def from_file(
        cls, path: str | Path, *, transcript: str | None = None, language: str | None = None
    ) -> VoiceReference:
        """Read a reference from an audio file on disk."""
        return cls(audio=Path(path).read_bytes(), transcript=transcript, language=language)

    @classmethod
    def from_base64(
        cls, data: str | bytes, *, transcript: str | None = None, language: str | None = None
    ) -> VoiceReference:
        """Decode a base64 reference (standard or URL-safe alphabet, line breaks allowed), or
        a ``data:`` URL as a browser's ``FileReader.readAsDataURL`` makes it.

        Raises :class:`~tts_router.errors.ValidationError` (``invalid_base64``) for anything
        else; the audio itself is checked when it is used, like any reference.
        """
        text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
        if text.startswith("data:"):
            header, comma, text = text.partition(",")
            if not comma or not header.endswith(";base64"):
                raise ValidationError(
                    "the data: URL is not base64 (expected data:<type>;base64,...)",
                    code="invalid_base64",
                )
        compact = _BASE64_SPACE.sub("", text).replace("-", "+").replace("_", "/")
        try:
            audio = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        except ValueError:  # binascii.Error is one
            raise ValidationError(
                "the reference is not valid base64; pass the file's bytes to VoiceReference "
                "instead",
                code="invalid_base64",
            ) from None
        return cls(audio=audio, transcript=transcript, language=language)


class _SpeechRequest(BaseModel):
    model_config = _PRIVATE

    text: str = Field(repr=False, description="What to say. Long text is chunked, never cut.")
    language: str = Field(default="auto", description="Code, name or tag; 'auto' to detect.")
    provider: str | None = Field(default=None, description="Force a provider id.")
    seed: int | None = Field(default=None, description="Sampling seed, where supported.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Provider-specific generation options."
    )
    request_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds each provider tried may take; a provider's own timeout may be lower.",
    )
    sample_rate: int | None = Field(
        default=None,
        ge=8_000,
        le=192_000,
        description="The rate of the result (resampled with soxr); None: the provider's own. "
        "Whichever provider answers, after a fallback too, the result comes at this rate.",
    )
    format: AudioFormat = Field(
        default="wav",
        description="The encoding of the result's audio (and of a stream's chunk data): wav, "
        "flac, mp3, opus (Ogg), aac (ADTS; the formats extra) or pcm (16-bit mono). A stream "
        "cannot be flac.",
    )
    loudness: Loudness | None = Field(
        default=None,
        description="Normalise to this integrated loudness in LUFS (ITU-R BS.1770, the "
        "loudness extra), -16 for speech; None: as the provider made it. Chunks and "
        "fallbacks then do not jump in volume.",
    )


class CloneRequest(_SpeechRequest):
    """Speak ``text`` in the voice of ``reference``."""

    reference: VoiceReference


class DesignRequest(_SpeechRequest):
    """Speak ``text`` in a new voice described by ``instruct``."""

    instruct: str = Field(
        repr=False, description="The voice, in words: 'a warm, low female voice'."
    )


class SpeechResult(BaseModel):
    """Generated speech as a mono audio file (WAV unless the request asked for another
    ``format``), and how it was made."""

    model_config = ConfigDict(frozen=True)

    audio: bytes = Field(repr=False, description="A complete file in `format`.")
    format: AudioFormat = "wav"
    sample_rate: int
    duration: float = Field(description="Seconds of audio.")
    provider: str = Field(description="Id of the provider that made it.")
    model: str = Field(description="The engine or model inside the provider.")
    mode: CloneMode
    quality: QualityTier
    request_id: str
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    warnings: tuple[str, ...] = ()
    fallback_from: tuple[str, ...] = Field(
        default=(), description="Providers that failed before this one answered."
    )
    language: str | None = Field(
        default=None,
        description="The canonical code the provider was asked to speak ('auto': it decided).",
    )
    language_detected: bool = Field(
        default=False,
        description="True when the request said 'auto' and the router detected `language` "
        "from the text.",
    )

    @property
    def media_type(self) -> str:
        """The audio's media type (``audio/wav``, ``audio/mpeg``...)."""
        return MEDIA_TYPES[self.format]

    def save(self, path: str | Path) -> Path:
        """Write the audio file to ``path`` and return it."""
        target = Path(path)
        target.write_bytes(self.audio)
        return target
