"""What the routes do, free of FastAPI so each step reads as plain code.

Every request's input is checked here before any of its work is queued (or batched with
others'): what would otherwise fail inside an engine call, for the whole batch, as a 500.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re

from ..audio import AudioLimits, decode_audio
from ..errors import TTSRouterError, ValidationError
from ..languages import normalize_language
from ..protocol import (
    MAX_SEED,
    CloneBatchBody,
    CloneBatchResult,
    CloneBody,
    DesignBody,
    GenerationOptions,
    HealthInfo,
    VoiceInfo,
    is_voice_id,
)
from ..text import require_speakable
from .contract import CloneJob, DesignJob
from .feed import ChunkFeed
from .responses import Stored, audio_response, batch_item, json_response
from .voices import VoiceStore
from .worker import EngineWorker

__all__ = ["Handlers"]

# How /health names each state of the model load.
_HEALTH_STATUS = {"loading": "loading", "ready": "ok", "failed": "failed"}
# Lone surrogates: JSON may carry them ("\ud800"), but they are not text (UTF-8 cannot encode
# them) and tokenizers fail on them.
_SURROGATE = re.compile("[\ud800-\udfff]")


class Handlers:
    """The protocol's operations over one engine worker and its voice store.

    ``deadline`` (seconds the caller will wait, from ``X-TTS-Deadline``) lets the worker
    refuse at once what it cannot finish in time.
    """

    def __init__(
        self,
        worker: EngineWorker,
        voices: VoiceStore,
        *,
        reference_limits: AudioLimits,
        max_text_chars: int,
    ) -> None:
        self.worker = worker
        self.engine = worker.engine
        self.voices = voices
        self.limits = reference_limits
        self.max_text_chars = max_text_chars

    def health(self) -> HealthInfo:
        """``GET /health``: the engine's own answer, with the status of the load as we saw it.

        A failed load is answered, not raised: a host's ``doctor`` can then tell "failed" from
        "still loading" or "unreachable", while requests still get the typed error.
        """
        info = self.engine.health()
        status = _HEALTH_STATUS[self.worker.load_state]
        return info.model_copy(
            update={
                "status": status,
                "loaded": status == "ok",
                "max_text_chars": self.max_text_chars,
            }
        )

    async def put_voice(self, voice_id: str, data: bytes) -> VoiceInfo:
        """Check the hash, validate the audio, keep it in the store."""
        if not is_voice_id(voice_id):
            raise ValidationError("a voice id is the lowercase hex sha256 of the audio bytes")
        if hashlib.sha256(data).hexdigest() != voice_id:
            raise ValidationError(
                "the body's sha256 does not match the voice id in the URL; hash the exact bytes",
                code="hash_mismatch",
            )
        audio = await asyncio.to_thread(decode_audio, data, self.limits)
        await self.voices.put(voice_id, data, audio)
        return VoiceInfo(voice_id=voice_id, seconds=audio.duration, sample_rate=audio.sample_rate)

    async def has_voice(self, voice_id: str) -> bool:
        """Whether the store holds ``voice_id`` (HEAD /voices)."""
        return is_voice_id(voice_id) and await self.voices.contains(voice_id)

    async def clone_job(self, body: CloneBody) -> CloneJob:
        """Validate one clone request into a job; nothing here touches the model."""
        _check_input(body.seed, text=body.text, transcript=body.transcript, language=body.language)
        text = self._text(body.text)
        language = self._language(body.language)
        if body.voice_id is not None:
            reference = await self.voices.get(body.voice_id)
            if reference is None:
                raise ValidationError(
                    "no reference with this voice_id is stored here; upload it with "
                    "PUT /voices/{sha256} (the service may have restarted or evicted it)",
                    code="voice_not_found",
                )
            reference_id = body.voice_id
        else:
            data = _b64decode(body.audio_base64 or "")
            reference_id = hashlib.sha256(data).hexdigest()
            reference = await asyncio.to_thread(decode_audio, data, self.limits)
        transcript = body.transcript if body.transcript and body.transcript.strip() else None
        return CloneJob(
            text=text,
            language=language,
            reference=reference,
            reference_id=reference_id,
            transcript=transcript,
            seed=body.seed,
            options=_options(body.options),
        )

    async def clone(
        self, body: CloneBody, deadline: float | None = None, feed: ChunkFeed | None = None
    ) -> Stored:
        """``POST /clone``; ``feed`` receives its chunks as they are generated (a stream)."""
        self.worker.require_ready()
        job = await self.clone_job(body)
        return audio_response(await self.worker.run(job, deadline=deadline, feed=feed))

    async def clone_batch(self, body: CloneBatchBody, deadline: float | None = None) -> Stored:
        """``POST /clone-batch``: invalid items fail alone; the valid ones run as one batch."""
        self.worker.require_ready()
        prepared: list[CloneJob | TTSRouterError] = []
        for item in body.items:
            try:
                prepared.append(await self.clone_job(item))
            except TTSRouterError as exc:
                prepared.append(exc)
        results = [batch_item(r) for r in await self.worker.clone(prepared, deadline=deadline)]
        payload = CloneBatchResult(model=self.engine.health().model, results=results)
        return json_response(payload.model_dump_json().encode())

    async def design(
        self, body: DesignBody, deadline: float | None = None, feed: ChunkFeed | None = None
    ) -> Stored:
        """``POST /design``; ``feed`` receives its chunks as they are generated (a stream)."""
        self.worker.require_ready()
        _check_input(body.seed, text=body.text, instruct=body.instruct, language=body.language)
        if "design" not in self.engine.health().operations:
            raise ValidationError(
                "this service has no voice-design model; run it with one or use clone",
                code="unsupported_operation",
            )
        job = DesignJob(
            text=self._text(body.text),
            instruct=require_speakable(body.instruct, field="instruct"),
            language=self._language(body.language),
            seed=body.seed,
            options=_options(body.options),
        )
        return audio_response(await self.worker.run(job, deadline=deadline, feed=feed))

    def _text(self, text: str) -> str:
        require_speakable(text)
        if len(text) > self.max_text_chars:
            raise ValidationError(
                f"the text is {len(text)} characters; at most {self.max_text_chars} per request",
                code="text_too_long",
            )
        return text

    def _language(self, language: str) -> str:
        return normalize_language(language, self.engine.languages())


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "audio_base64 is not valid base64 (standard alphabet, with padding)",
            code="invalid_base64",
        ) from None


def _options(options: GenerationOptions) -> dict[str, float | int]:
    return {k: v for k, v in options.model_dump().items() if v is not None}


def _check_input(seed: int | None, **strings: str | None) -> None:
    """Every given string must be valid Unicode text (no lone surrogates), and the seed one
    every engine accepts: 0 to :data:`~tts_router.protocol.MAX_SEED`."""
    for name, value in strings.items():
        if value is not None and _SURROGATE.search(value):
            raise ValidationError(
                f"the {name} holds lone surrogates, which are not text; send valid UTF-8",
                code="invalid_characters",
            )
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ValidationError(
            f"the seed must be an integer from 0 to {MAX_SEED}", code="invalid_seed"
        )
