"""Voice Studio: an Utter-shaped host app built on tts_router's public API only.

Pages: ``/clone`` (upload or record a reference, its transcript, a language), ``/design`` (a
description becomes a voice you can keep) and ``/generate`` (pick a voice, type, listen; the
page says which provider spoke and why). The JSON API under ``/api`` is what the pages call:

==============================================  ===============================================
``GET  /api/providers``                         providers: configured, selected, quality, licence
``GET  /api/languages?operation=clone|design``  ``Router.languages``: the language dropdown
``GET  /api/voices``                            saved voices
``POST /api/clone`` (multipart)                 name, audio (any format the library decodes),
                                                transcript, language -> a voice
``POST /api/design``                            text, instruct, language -> a preview
``POST /api/voices/from-generation``            keep a design preview as a voice
``POST /api/generate``                          voice_id, text, language -> 202 and a job
``GET  /api/jobs/{id}``                         the job's progress, then its generation
``GET  /api/generations[/{id}/audio]``          history, and the WAV files
==============================================  ===============================================

Every library error becomes ``{"error": {"code", "message"}}`` with the HTTP status of the
library's error table (``TTSRouterError.http_status``): a too-short reference is a 400, a file
the library cannot read a 415, a language nobody speaks a 400, no provider at all a 422, a
provider that is down a 503. Generation runs as a background job the page polls; long texts
are spoken in parts (``split_text``) so the job can report progress.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from tts_router import (
    AudioValidationError,
    CloneRequest,
    Decision,
    DesignRequest,
    Router,
    SpeechResult,
    TTSRouterError,
    ValidationError,
    VoiceReference,
    decode_audio,
    encode_wav,
    normalize_language,
    split_text,
    stitch,
)
from tts_router.audio import OUTPUT_LIMITS, REFERENCE_LIMITS, sniff_container

from .store import Generation, Store, Voice

__all__ = ["create_app"]

logger = logging.getLogger("voice_studio")

STATIC = Path(__file__).parent / "static"
PART_CHARS = 600
"""A longer text is spoken in parts of at most this many characters, one progress step each."""
MAX_TEXT_CHARS = 20_000
MAX_PREVIEW_CHARS = 500
_EXTENSIONS = {"wav": "wav", "flac": "flac", "aiff": "aiff", "ogg": "ogg", "webm": "webm",
               "mp4": "m4a", "mp3": "mp3"}  # fmt: skip


@dataclass
class Job:
    """A generation in the background: what the page polls."""

    id: str
    status: Literal["queued", "running", "done", "failed"] = "queued"
    done: int = 0
    total: int = 1
    generation_id: str | None = None
    error: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def as_dict(self, store: Store) -> dict[str, Any]:
        """The job's state, and its generation once done."""
        generation = store.generation(self.generation_id) if self.generation_id else None
        return {
            "id": self.id,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "error": self.error,
            "generation": generation.as_dict() if generation else None,
        }


class DesignBody(BaseModel):
    """``POST /api/design``."""

    text: str = Field(min_length=1, max_length=MAX_PREVIEW_CHARS)
    instruct: str = Field(min_length=1, max_length=500)
    language: str = "auto"


class KeepBody(BaseModel):
    """``POST /api/voices/from-generation``."""

    generation_id: str
    name: str = Field(min_length=1, max_length=100)


class GenerateBody(BaseModel):
    """``POST /api/generate``."""

    voice_id: str
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    language: str = "auto"


@dataclass
class Studio:
    """What the app holds: the router (one for the process), the store, the jobs."""

    router: Router
    store: Store
    jobs: dict[str, Job] = field(default_factory=dict)


def create_app(data_dir: Path, *, router: Router | None = None) -> FastAPI:
    """The app, keeping its database and audio under ``data_dir``; ``router`` defaults to
    ``Router()`` (every installed provider, configured from the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        studio = Studio(router=router or Router(), store=Store(data_dir))
        app.state.studio = studio
        try:
            yield
        finally:
            for job in studio.jobs.values():
                if job.task is not None:
                    job.task.cancel()
            await studio.router.aclose()

    app = FastAPI(title="Voice Studio", lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(TTSRouterError, _library_error)  # type: ignore[arg-type]
    app.include_router(pages)
    app.include_router(api)
    return app


async def _library_error(request: Request, exc: TTSRouterError) -> JSONResponse:
    """Any library error: its code and message, with the error table's HTTP status."""
    return JSONResponse(_error(exc), status_code=exc.http_status)


def _studio(request: Request) -> Studio:
    found: Studio = request.app.state.studio
    return found


StudioDep = Annotated[Studio, Depends(_studio)]
pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api")


# -- pages ---------------------------------------------------------------------------------------


@pages.get("/")
async def home() -> RedirectResponse:
    """The generate page."""
    return RedirectResponse("/generate")


PAGE_TITLES = {"clone": "Clone a voice", "design": "Design a voice", "generate": "Generate speech"}

# One shell for every page, so the header and navigation are written once; each page's
# static/<name>.html is only its <main>, which app.js fills from the API.
PAGE_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} · Voice Studio</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body data-page="{name}">
<header>
  <h1>Voice Studio</h1>
  <nav>{nav}</nav>
  <span id="providers">…</span>
</header>
{main}<script src="/static/app.js"></script>
</body>
</html>
"""


@pages.get("/{name}")
async def page(name: Literal["clone", "design", "generate"]) -> HTMLResponse:
    """One of the three pages: the shell around static/<name>.html."""
    here: dict[str, str] = {name: ' class="here"'}
    nav = "".join(f'<a href="/{o}"{here.get(o, "")}>{o.title()}</a>' for o in PAGE_TITLES)
    main = (STATIC / f"{name}.html").read_text(encoding="utf-8")
    return HTMLResponse(PAGE_SHELL.format(title=PAGE_TITLES[name], name=name, nav=nav, main=main))


# -- what the library offers ---------------------------------------------------------------------


@api.get("/providers")
async def providers(s: StudioDep) -> list[dict[str, Any]]:
    """Every installed provider: configured, selected by TTS_PROVIDER, quality, licence."""
    chosen = s.router.settings.provider  # TTS_PROVIDER: "auto" or one provider's id
    listed = []
    for pid, provider in s.router.providers.items():
        caps = provider.capabilities
        listed.append(
            {
                "id": pid,
                "configured": provider.missing_configuration() is None,
                "selected": chosen in ("auto", pid),
                "operations": sorted(caps.operations),
                "quality": caps.quality,
                "license": caps.license,
            }
        )
    return listed


@api.get("/languages")
async def languages(
    s: StudioDep, operation: Literal["clone", "design"] | None = None
) -> list[dict[str, Any]]:
    """``Router.languages``: what the language dropdowns offer."""
    return [
        {"code": o.code, "name": o.name, "providers": o.providers, "quality": o.quality}
        for o in s.router.languages(operation)
    ]


# -- voices --------------------------------------------------------------------------------------


@api.get("/voices")
async def voices(s: StudioDep) -> list[dict[str, Any]]:
    """Saved voices, newest first."""
    return [voice.as_dict() for voice in s.store.voices()]


@api.post("/clone", status_code=201)
async def clone(
    s: StudioDep,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    audio: Annotated[UploadFile, File()],
    transcript: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "auto",
) -> dict[str, Any]:
    """Keep an uploaded or recorded reference as a voice, once the library accepts it."""
    code = normalize_language(language)
    data = await audio.read(REFERENCE_LIMITS.max_bytes + 1)
    if len(data) > REFERENCE_LIMITS.max_bytes:
        raise AudioValidationError(
            f"the recording is over {REFERENCE_LIMITS.max_bytes} bytes; trim it",
            code="audio_too_large",
        )
    await asyncio.to_thread(decode_audio, data)  # the library's own validator, up front
    voice_id = _new_id()
    path = s.store.references / f"{voice_id}.{_extension(data)}"
    path.write_bytes(data)
    s.store.add(
        Voice(
            id=voice_id,
            name=name.strip(),
            reference_path=str(path),
            transcript=transcript.strip() or None,
            language=code,
        )
    )
    return _require_voice(s.store, voice_id).as_dict()


@api.get("/voices/{voice_id}/audio")
async def voice_audio(s: StudioDep, voice_id: str) -> FileResponse:
    """A voice's reference recording, as uploaded."""
    return FileResponse(_require_voice(s.store, voice_id).reference_path)


@api.post("/voices/from-generation", status_code=201)
async def keep(s: StudioDep, body: KeepBody) -> dict[str, Any]:
    """Keep a design preview as a voice: its audio is the reference, its text the transcript."""
    generation = s.store.generation(body.generation_id)
    if generation is None:
        raise ValidationError("no such generation", code="invalid_request")
    voice_id = _new_id()
    path = s.store.references / f"{voice_id}.wav"
    path.write_bytes(Path(generation.audio_path).read_bytes())
    s.store.add(
        Voice(
            id=voice_id,
            name=body.name.strip(),
            reference_path=str(path),
            transcript=generation.text,  # what the designed voice says: an exact transcript
            language=generation.language,
        )
    )
    return _require_voice(s.store, voice_id).as_dict()


# -- speech --------------------------------------------------------------------------------------


@api.post("/design")
async def design(s: StudioDep, body: DesignBody) -> dict[str, Any]:
    """A voice from a description: a short preview, kept as a generation."""
    decision = await asyncio.to_thread(s.router.explain, "design", body.language, text=body.text)
    result = await s.router.design(
        DesignRequest(text=body.text, instruct=body.instruct, language=body.language)
    )
    return _record(s.store, result, decision, body.text, instruct=body.instruct).as_dict()


@api.post("/generate", status_code=202)
async def generate(s: StudioDep, body: GenerateBody) -> dict[str, Any]:
    """Start speaking ``text`` in a voice; the page polls the job."""
    voice = _require_voice(s.store, body.voice_id)
    # Decided up front: a request nobody can serve is answered now, with its status.
    decision = await asyncio.to_thread(
        s.router.explain,
        "clone",
        body.language,
        has_transcript=bool(voice.transcript),
        text=body.text,
    )
    job = Job(id=_new_id(), total=len(split_text(body.text, PART_CHARS)))
    s.jobs[job.id] = job
    job.task = asyncio.create_task(_run(s, job, voice, body.text, decision))
    _forget_old_jobs(s)
    return {"job_id": job.id, "provider": decision.provider, "reasons": decision.reasons}


@api.get("/jobs/{job_id}")
async def job_state(s: StudioDep, job_id: str) -> JSONResponse:
    """A job's progress; its generation once done, its error (code, status) if it failed."""
    job = s.jobs.get(job_id)
    if job is None:
        return _not_found("no such job (finished long ago, or the app restarted)")
    return JSONResponse(job.as_dict(s.store))


@api.get("/generations")
async def history(s: StudioDep) -> list[dict[str, Any]]:
    """The latest generations."""
    return [g.as_dict() for g in s.store.history()]


@api.get("/generations/{generation_id}/audio")
async def generation_audio(s: StudioDep, generation_id: str) -> Response:
    """A generation's WAV."""
    generation = s.store.generation(generation_id)
    if generation is None:
        return _not_found("no such generation")
    return FileResponse(generation.audio_path, media_type="audio/wav")


async def _run(s: Studio, job: Job, voice: Voice, text: str, decision: Decision) -> None:
    """Speak ``text`` in ``voice``, part by part, into one generation."""
    job.status = "running"
    try:
        reference = VoiceReference(
            audio=Path(voice.reference_path).read_bytes(),
            transcript=voice.transcript,
            language=None if voice.language == "auto" else voice.language,
        )
        # Every part in the language decided for the whole text: one voice, one accent.
        results: list[SpeechResult] = []
        pieces: list[np.ndarray[Any, Any]] = []
        for part in split_text(text, PART_CHARS):
            request = CloneRequest(text=part, reference=reference, language=decision.language)
            result = await s.router.clone(request)
            decoded = await asyncio.to_thread(decode_audio, result.audio, OUTPUT_LIMITS)
            if results and decoded.sample_rate != results[0].sample_rate:
                raise ValidationError(
                    "the provider changed part-way through the text (a fallback); try again",
                    code="invalid_request",
                )
            results.append(result)
            pieces.append(decoded.samples)
            job.done += 1
        rate = results[0].sample_rate
        combined = results[0]
        if len(results) > 1:
            samples = stitch(pieces, rate)
            combined = results[0].model_copy(
                update={
                    "audio": encode_wav(samples, rate),
                    "duration": len(samples) / rate,
                    "warnings": tuple(dict.fromkeys(w for r in results for w in r.warnings)),
                }
            )
        generation = _record(s.store, combined, decision, text, voice_id=voice.id)
        job.generation_id = generation.id
        job.status = "done"
    except TTSRouterError as exc:
        job.status, job.error = "failed", _error(exc)["error"] | {"status": exc.http_status}
    except Exception as exc:  # a bug here: say so without the details of the user's content
        logger.exception("generation job failed")
        job.status = "failed"
        job.error = {"code": "internal_error", "message": type(exc).__name__, "status": 500}


def _record(
    store: Store,
    result: SpeechResult,
    decision: Decision,
    text: str,
    *,
    voice_id: str | None = None,
    instruct: str | None = None,
) -> Generation:
    detected = decision.detection is not None and decision.detection.confident
    generation = Generation(
        id=_new_id(),
        voice_id=voice_id,
        text=text,
        instruct=instruct,
        language=result.language or decision.language,
        language_detected=detected or result.language_detected,
        provider=result.provider,
        model=result.model,
        mode=result.mode,
        quality=result.quality,
        duration=result.duration,
        warnings=json.dumps(list(result.warnings)),
        reasons=json.dumps(list(decision.reasons)),
        audio_path="",
    )
    path = store.generations / f"{generation.id}.wav"
    path.write_bytes(result.audio)
    generation.audio_path = str(path)
    store.add(generation)
    return generation


def _require_voice(store: Store, voice_id: str) -> Voice:
    voice = store.voice(voice_id)
    if voice is None:
        raise ValidationError("no such voice; pick one from the list", code="invalid_request")
    return voice


def _extension(data: bytes) -> str:
    return _EXTENSIONS.get(sniff_container(data) or "", "bin")


def _error(exc: TTSRouterError) -> dict[str, Any]:
    # The library's messages never contain the user's text, audio or secrets: safe to show.
    return {"error": {"code": exc.code, "message": exc.message}}


def _not_found(message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": "not_found", "message": message}}, status_code=404)


def _new_id() -> str:
    return uuid.uuid4().hex


def _forget_old_jobs(s: Studio, keep: int = 200) -> None:
    finished = [j for j in s.jobs.values() if j.status in ("done", "failed")]
    for job in finished[: max(len(finished) - keep, 0)]:
        s.jobs.pop(job.id, None)
