"""A stand-in for Utter's earlier Qwen3-TTS Modal apps (``../shared/seeds``), on the tiny engine.

It answers as the deployed apps do, endpoint for endpoint (the seeds' guides; their source is
public as Pipluppp/utter ``modal_app/qwen3_tts/app_06b.py`` and ``app_voice_design.py``):

- one host per function, as Modal serves ``@modal.fastapi_endpoint`` methods
  (``<ws>--<app>-qwen3ttsservice-clone.modal.run``...), each answering at ``/``; the same
  functions are also served at ``/clone``, ``/health``, ``/languages``, ``/design`` on any
  other host (the paths the seeds' guides list);
- ``POST clone``: ``{"text", "language" (default "Auto"), "ref_audio_url" | "ref_audio_base64",
  "ref_text", "max_new_tokens"}`` -> ``audio/wav`` (PCM_16, ``Content-Disposition:
  attachment; filename=output.wav``); 400 ``{"detail": ...}`` without text, without ref_text,
  for a language outside the ten names and "Auto", or without a reference; 500 ``{"detail":
  "Generation failed: ..."}`` when generation raises;
- ``GET health``: ``{"status": "healthy", "model", "gpu", "attention_implementation",
  "supported_languages"}``; ``GET languages``: ``{"languages": [...], "default": "Auto",
  "note": ...}``;
- ``POST design`` (the VoiceDesign app): ``{"text", "language" (default "English"),
  "instruct"}``, each text at most 500 characters, -> ``audio/wav``; its ``health`` adds
  ``"model_type": "VoiceDesign"``;
- Modal's web-endpoint limit: a request still running after ``redirect_after`` seconds (150 s
  on Modal) is answered ``303`` to a result URL on the same host, which waits again.

``clone-batch`` is not reproduced: the library's legacy backend never calls it. A URL given as
``ref_audio_url`` is refused here (the real app fetches it: an SSRF the library never uses).
Requests are counted per function in ``app.state.calls``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import uuid
from collections import Counter
from typing import Any

import numpy as np
import soundfile as sf
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from tts_router_qwen_modal.engine import QwenEngine

from tts_router.audio import decode_audio
from tts_router.languages import normalize_language
from tts_router.serving import CloneJob, DesignJob

SUPPORTED_LANGUAGES = [
    "Auto",
    "Chinese",
    "English",
    "Japanese",
    "Korean",
    "German",
    "French",
    "Russian",
    "Portuguese",
    "Spanish",
    "Italian",
]
MAX_TEXT_LENGTH = 500
MAX_INSTRUCT_LENGTH = 500
_FUNCTIONS = ("clone", "health", "languages", "design")


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


def _function_of(request: Request) -> tuple[str, str]:
    """(function, app): the host's last label on Modal's per-function hosts, else the path."""
    host = request.headers.get("host", "").split(":")[0]
    label = host.split(".")[0]
    if host.endswith(".modal.run"):
        for function in _FUNCTIONS:
            if label.endswith("-" + function) and request.url.path in ("", "/"):
                return function, "design" if "voicedesignservice" in label else "clone"
        raise _HTTPError(404, "Not Found")
    name = request.url.path.strip("/")
    if name not in _FUNCTIONS:
        raise _HTTPError(404, "Not Found")
    return name, "design" if name == "design" else "clone"


def _wav(samples: np.ndarray, rate: int, filename: str) -> Response:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    data = buffer.getvalue()
    headers = {
        "Content-Disposition": f"attachment; filename={filename}",
        "Content-Length": str(len(data)),
    }
    return Response(content=data, media_type="audio/wav", headers=headers)


def _check_language(language: Any) -> str:
    if language not in SUPPORTED_LANGUAGES:
        raise _HTTPError(
            400, f"Unsupported language: {language}. Supported: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return normalize_language(str(language))


def _check_design(body: dict[str, Any]) -> DesignJob:
    text, instruct = body.get("text", ""), body.get("instruct", "")
    if not text:
        raise _HTTPError(400, "'text' is required")
    if len(text) > MAX_TEXT_LENGTH:
        raise _HTTPError(400, f"'text' exceeds maximum length of {MAX_TEXT_LENGTH} characters")
    if not instruct:
        raise _HTTPError(400, "'instruct' is required (voice description)")
    if len(instruct) > MAX_INSTRUCT_LENGTH:
        raise _HTTPError(
            400, f"'instruct' exceeds maximum length of {MAX_INSTRUCT_LENGTH} characters"
        )
    language = _check_language(body.get("language", "English"))
    return DesignJob(text=text, instruct=instruct, language=language)


class _Seed:
    """The two seed apps' work: clone with the Base engine, design with the VoiceDesign one."""

    def __init__(self, clone_engine: QwenEngine | None, design_engine: QwenEngine | None) -> None:
        self.clone_engine, self.design_engine = clone_engine, design_engine
        self.lock = threading.Lock()  # one generation at a time, as one container's model

    def clone(self, body: dict[str, Any]) -> Response:
        text, ref_text = body.get("text", ""), body.get("ref_text", "")
        if not text:
            raise _HTTPError(400, "'text' is required")
        if not ref_text:
            raise _HTTPError(400, "'ref_text' is required")
        language = _check_language(body.get("language", "Auto"))
        if body.get("ref_audio_url"):
            raise _HTTPError(400, "ref_audio_url is not served by this stand-in")
        if not body.get("ref_audio_base64"):
            raise _HTTPError(400, "Either 'ref_audio_url' or 'ref_audio_base64' is required")
        if self.clone_engine is None:
            raise _HTTPError(404, "Not Found")
        try:
            reference = decode_audio(base64.b64decode(body["ref_audio_base64"]))
            job = CloneJob(
                text=text,
                language=language,
                reference=reference,
                reference_id=uuid.uuid4().hex,
                transcript=ref_text,
            )
            with self.lock:
                result = self.clone_engine.clone([job])[0]
            if isinstance(result, Exception):
                raise result
        except Exception as exc:  # the seed app answers every failure this way
            raise _HTTPError(500, f"Generation failed: {type(exc).__name__}") from None
        return _wav(result.samples, result.sample_rate, "output.wav")

    def design(self, body: dict[str, Any]) -> Response:
        job = _check_design(body)
        if self.design_engine is None:
            raise _HTTPError(404, "Not Found")
        try:
            with self.lock:
                result = self.design_engine.design(job)
        except Exception as exc:
            raise _HTTPError(500, f"Voice design failed: {type(exc).__name__}") from None
        return _wav(result.samples, result.sample_rate, "designed_voice.wav")


def _health(kind: str, model_name: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "status": "healthy",
        "model": model_name if kind == "clone" else "Qwen3-TTS-12Hz-1.7B-VoiceDesign",
        "gpu": "none",
        "attention_implementation": "sdpa",
        "supported_languages": SUPPORTED_LANGUAGES,
    }
    if kind == "design":
        info["model_type"] = "VoiceDesign"
    return info


def create_seed_app(
    clone_engine: QwenEngine | None,
    design_engine: QwenEngine | None = None,
    *,
    redirect_after: float = 150.0,
    model_name: str = "Qwen3-TTS-12Hz-0.6B-Base",
) -> FastAPI:
    """The stand-in (both seed apps on one server: the host or path picks the function)."""
    app = FastAPI(title="seed Qwen3-TTS apps (stand-in)")
    app.state.calls = Counter()
    seed = _Seed(clone_engine, design_engine)
    results: dict[str, asyncio.Task[Response]] = {}

    async def answer_within_limit(request: Request, job_id: str) -> Response:
        """Modal's web endpoints: wait up to the limit, then 303 to a result URL."""
        task = results[job_id]
        done, _ = await asyncio.wait({task}, timeout=redirect_after)
        if not done:
            host = request.headers.get("host", "")
            scheme = "https" if host.endswith(".modal.run") else request.url.scheme
            location = f"{scheme}://{host}/__result/{job_id}"
            return Response(status_code=303, headers={"Location": location})
        results.pop(job_id, None)
        return task.result()

    @app.api_route("/__result/{job_id}", methods=["GET"])
    async def result(request: Request, job_id: str) -> Response:
        app.state.calls["result"] += 1
        if job_id not in results:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return await answer_within_limit(request, job_id)

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def dispatch(request: Request, path: str) -> Response:
        try:
            function, kind = _function_of(request)
            app.state.calls[function] += 1
            expected = "GET" if function in ("health", "languages") else "POST"
            if request.method != expected:
                raise _HTTPError(405, "Method Not Allowed")
            if function == "health":
                return JSONResponse(_health(kind, model_name))
            if function == "languages":
                return JSONResponse(
                    {
                        "languages": SUPPORTED_LANGUAGES,
                        "default": "Auto",
                        "note": "Use 'Auto' for automatic language detection",
                    }
                )
            body = await request.json()
            if not isinstance(body, dict):
                raise _HTTPError(422, "request body must be a JSON object")
            work = seed.clone if function == "clone" else seed.design

            async def run() -> Response:
                try:
                    return await asyncio.to_thread(work, body)
                except _HTTPError as exc:
                    return JSONResponse({"detail": exc.detail}, status_code=exc.status)

            job_id = uuid.uuid4().hex
            results[job_id] = asyncio.ensure_future(run())
            return await answer_within_limit(request, job_id)
        except _HTTPError as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    return app
