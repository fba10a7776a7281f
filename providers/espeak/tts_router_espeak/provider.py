"""The eSpeak NG provider: offline CPU speech, rule-based design, approximate cloning.

The base class does validation, chunking (at most ``max_text_chars`` per engine call), stitching
and error typing; this class only turns one chunk plus a voice into eSpeak settings and runs the
engine in a worker thread so the event loop stays free (the engine lock keeps calls serial).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from typing import ClassVar

import numpy as np

from tts_router.audio import OUTPUT_LIMITS, DecodedAudio
from tts_router.errors import ValidationError
from tts_router.models import CloneMode, CloneRequest, DesignRequest
from tts_router.provider import Capabilities, Provider, Speech

from . import __version__, _engine
from ._clone import ClonedVoice, approximate_voice
from ._design import DesignedVoice, design_voice
from ._languages import SUPPORTED_LANGUAGES, VOICE_BY_LANGUAGE, resolve_language

__all__ = ["LICENSE_NOTE", "EspeakProvider"]

LICENSE_NOTE = (
    "eSpeak NG (libespeak-ng, shipped by espeakng-loader) is GPL-3.0-or-later; the generated "
    "audio is not restricted"
)
_KANJI_WARNING = "eSpeak reads Japanese kana only; kanji are not read as Japanese"
_CAPABILITIES = Capabilities(
    operations=frozenset({"clone", "design"}),
    languages=SUPPORTED_LANGUAGES,
    clone_modes=("approximate",),
    sample_rate=_engine.SAMPLE_RATE,
    # ~10 s of speech per call keeps each locked engine call short (tens of ms), so concurrent
    # requests interleave chunk by chunk instead of waiting for a whole chapter.
    max_text_chars=1000,
    quality="approximate",
    license=LICENSE_NOTE,
)


class EspeakProvider(Provider):
    """eSpeak NG in-process: every language in our table, no network, no GPU."""

    id: ClassVar[str] = "espeak"

    def __init__(self) -> None:
        # Reference analyses by content, so a long text's chunks measure the reference once.
        self._analyses: OrderedDict[tuple[str, str], ClonedVoice] = OrderedDict()
        self._analyses_lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        """Static: two operations, ``auto`` plus 27 languages, approximate quality."""
        return _CAPABILITIES

    @property
    def version(self) -> str:
        """This plugin's version."""
        return __version__

    def missing_configuration(self) -> str | None:
        """Only an unusable espeak-ng-data path can stop this provider."""
        return _engine.data_path_problem()

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        voice = design_voice(request.instruct)
        spoken = resolve_language(language)
        return await self._speak(text, spoken, voice, "design")

    async def _clone(
        self, text: str, language: str, request: CloneRequest, reference: DecodedAudio
    ) -> Speech:
        ref = request.reference
        spoken = resolve_language(language, ref.language)
        voice = await asyncio.to_thread(self._analyse, ref.content_id, ref.transcript, reference)
        return await self._speak(text, spoken, voice, "approximate")

    def _analyse(
        self, content_id: str, transcript: str | None, reference: DecodedAudio
    ) -> ClonedVoice:
        # Key on hashes only: the cache never holds a transcript's text.
        key = (content_id, hashlib.sha256((transcript or "").encode()).hexdigest())
        with self._analyses_lock:
            if key in self._analyses:
                self._analyses.move_to_end(key)
                return self._analyses[key]
        voice = approximate_voice(reference, transcript)
        with self._analyses_lock:
            self._analyses[key] = voice
            while len(self._analyses) > 16:
                self._analyses.popitem(last=False)
        return voice

    async def _speak(
        self,
        text: str,
        language: tuple[str, str | None],
        voice: DesignedVoice | ClonedVoice,
        mode: CloneMode,
    ) -> Speech:
        """Speak ``text`` in ``voice``; ``language`` is :func:`resolve_language`'s answer."""
        spoken, language_warning = language
        base = VOICE_BY_LANGUAGE[spoken]
        # Always "<language voice>+<variant>": a bare variant name makes the next synthesis crash.
        name = f"{base}+{voice.variant}" if voice.variant else base
        params = _engine.VoiceParams(name, voice.rate, voice.pitch, voice.pitch_range)
        warnings = [*voice.warnings]
        if spoken == "ja" and any("\u4e00" <= ch <= "\u9fff" for ch in text):
            warnings.append(_KANJI_WARNING)
        if language_warning:
            warnings.append(language_warning)
        samples = await asyncio.to_thread(_engine.synthesize, text, params)
        if samples.size == 0 or np.max(np.abs(samples)) < OUTPUT_LIMITS.silence_peak:
            raise ValidationError(
                "eSpeak produced no sound for this text; it may hold only symbols or punctuation",
                code="unpronounceable_text",
                provider=self.id,
            )
        return Speech(
            model=f"espeak-ng {await asyncio.to_thread(_engine.engine_version)}",
            mode=mode,
            samples=samples,
            sample_rate=_engine.SAMPLE_RATE,
            warnings=warnings,
        )
