"""``QWEN_BACKEND=legacy``: the Qwen provider over the earlier, hand-deployed Modal apps.

Utter's first Qwen3-TTS deployment (``../shared/seeds``: ``qwen3-tts-voice-clone[-06b]`` and
``qwen3-tts-voice-design``) serves one web endpoint per function, each on its own host::

    https://<workspace>--<app>-qwen3ttsservice-clone.modal.run       POST JSON -> audio/wav
    https://<workspace>--<app>-qwen3ttsservice-health.modal.run      GET -> {"status": ...}
    https://<workspace>--<app>-qwen3ttsservice-languages.modal.run   GET -> {"languages": [...]}
    https://<workspace>--<app>-voicedesignservice-design.modal.run   POST JSON -> audio/wav

The clone body is ``{"text", "language", "ref_audio_base64", "ref_text", "max_new_tokens"}``
with the language as a name (``"English"``, ``"Auto"``) and the transcript required (the app
answers 400 without one); design's is ``{"text", "language", "instruct"}``, each at most 500
characters. Errors are FastAPI's ``{"detail": "..."}``. This backend speaks exactly that, over
the core's :class:`~tts_router.http.ServiceClient` (retries, the job deadline, Modal's 303s,
the circuit breaker, typed errors, WAV validation), and says what it cannot do:

- no voice store: the reference is sent, base64-encoded, with every request (every chunk of a
  long text); each result warns how many bytes that was;
- no cloning without a transcript (``clone_modes=("icl",)``: the router sends transcript-less
  clones elsewhere), no seed and no generation options;
- at most 500 characters per request (the design app's limit; it also keeps every chunk well
  under the model's 2048-token cap, which the earlier app does not check: a chunk that comes
  back at the cap is a ``truncated_output`` error here, never audio).

Three URL shapes are understood: a per-function Modal host (above; the other functions' hosts
are derived by replacing the function's name), a URL whose last path segment is the function
(``http://host:8000/clone``, siblings ``/health``, ``/languages``), and a base URL
(``http://host:8000``: functions at ``/clone``, ``/design``, ``/health``, ``/languages``).
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import httpx

from tts_router.audio import DecodedAudio
from tts_router.errors import (
    ConfigurationError,
    TruncatedOutputError,
    TTSRouterError,
    ValidationError,
)
from tts_router.http import AudioResponse, ServiceClient
from tts_router.languages import AUTO, LANGUAGES, language_name
from tts_router.models import CloneRequest, DesignRequest, Operation
from tts_router.provider import Capabilities, Health, Provider, Speech
from tts_router.provider_settings import ProviderSettings
from tts_router.remote import ServiceConfig
from tts_router.urls import mask_url, validate_service_url

from .provider import QWEN_CAPABILITIES, QwenSettings

__all__ = [
    "LEGACY_CAPABILITIES",
    "LEGACY_NOTICE",
    "LegacyEndpoint",
    "LegacyQwenProvider",
    "is_seed_function_url",
]

logger = logging.getLogger("tts_router_qwen_modal.legacy")

# Per-function Modal hosts end with the function's name: ...-qwen3ttsservice-clone.modal.run.
_FUNCTIONS = ("clone-batch", "clone", "design", "health", "languages")
_MODAL_FUNCTION_HOST = re.compile(
    r"^(?P<prefix>[^.]+)-(?P<function>" + "|".join(_FUNCTIONS) + r")(?P<suffix>\.modal\.run)$"
)
MAX_CHARS = 500
"""The design app's limit on ``text`` and ``instruct``; clones use it too (see the module)."""
MAX_NEW_TOKENS = 2048
# 2048 codec frames at 12.5 per second: a chunk this long hit the cap and was cut.
_CAP_SECONDS = MAX_NEW_TOKENS / 12.5 - 1.0

LEGACY_CAPABILITIES = QWEN_CAPABILITIES.model_copy(
    update={"clone_modes": ("icl",), "max_text_chars": MAX_CHARS}
)
LEGACY_NOTICE = (
    "the Qwen URL is a per-function endpoint of the earlier Modal app: using the legacy "
    "backend, which sends the reference with every request; deploy this provider's app "
    "(tts-router-qwen deploy) and set QWEN_MODAL_URL to it to upload each voice once"
)
_MODEL = "Qwen3-TTS (earlier Modal app)"
_noticed = False


@dataclass(frozen=True, slots=True)
class LegacyEndpoint:
    """Where one function of a seed app lives: a base URL (its origin) and a path under it."""

    base: str
    path: str = ""

    @property
    def url(self) -> str:
        """The whole URL, for messages (credentials masked)."""
        return mask_url(self.base.rstrip("/") + ("/" + self.path if self.path else "/"))

    @classmethod
    def parse(cls, url: str, *, setting: str, function: str) -> LegacyEndpoint:
        """The endpoint of ``function`` in the app that ``url`` (one of its functions, or its
        base URL) belongs to. Raises :class:`ConfigurationError` naming ``setting``."""
        parsed = httpx.URL(validate_service_url(url, setting=setting))
        match = _MODAL_FUNCTION_HOST.match(parsed.host)
        if match:  # one host per function
            host = f"{match['prefix']}-{function}{match['suffix']}"
            return cls(str(parsed.copy_with(host=host, path="/")).rstrip("/"))
        origin = str(parsed.copy_with(path="/")).rstrip("/")
        segments = [s for s in parsed.path.split("/") if s]
        if segments and segments[-1] in _FUNCTIONS:  # .../clone: siblings beside it
            segments[-1] = function
        else:  # a base URL: every function under it
            segments.append(function)
        return cls(origin, "/".join(segments))


def is_seed_function_url(url: str | None) -> bool:
    """Whether ``url`` is a per-function endpoint of a Modal app (the seeds' shape)."""
    if not url:
        return False
    try:
        host = httpx.URL(str(url).strip()).host
    except (httpx.InvalidURL, ValueError):
        return False
    return bool(_MODAL_FUNCTION_HOST.match(host))


@dataclass(frozen=True, slots=True)
class _App:
    """One seed app: its working function (clone or design) and its probes."""

    operation: Operation
    work: LegacyEndpoint
    health: LegacyEndpoint
    languages: LegacyEndpoint | None  # the design app has no languages endpoint


class LegacyQwenProvider(Provider):
    """Qwen3-TTS through the earlier per-function Modal apps (see the module)."""

    id: ClassVar[str] = "qwen"
    settings_model: ClassVar[type[ProviderSettings]] = QwenSettings

    def __init__(
        self,
        *,
        clone_url: str | None = None,
        design_url: str | None = None,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        notice: str | None = None,
    ) -> None:
        self._apps: dict[Operation, _App] = {}
        configured: tuple[tuple[Operation, str | None, str], ...] = (
            ("clone", clone_url, "QWEN_MODAL_URL"),
            ("design", design_url, "QWEN_MODAL_DESIGN_URL"),
        )
        for operation, url, setting in configured:
            if url:
                endpoint = partial(LegacyEndpoint.parse, url, setting=setting)
                self._apps[operation] = _App(
                    operation,
                    endpoint(function=operation),
                    endpoint(function="health"),
                    endpoint(function="languages") if operation == "clone" else None,
                )
        self._config, self._transport = ServiceConfig(auth=auth), transport
        self._by_base: dict[str, ServiceClient] = {}
        self._languages: tuple[str, ...] | None = None
        self._model: dict[Operation, str] = {}
        self.notice = notice
        """The one-line recommendation shown when the backend was chosen from a URL's shape."""

    def __repr__(self) -> str:
        return f"LegacyQwenProvider(operations={sorted(self._apps)})"

    @classmethod
    def from_settings(cls, settings: QwenSettings) -> Provider:
        """The URLs of ``QWEN_MODAL_URL`` (or ``QWEN_MODAL_ENDPOINT``) and
        ``QWEN_MODAL_DESIGN_URL``, each any of the three shapes; no I/O."""
        clone, design = settings.url or settings.endpoint, settings.design_url
        if not clone and not design:
            raise ConfigurationError(
                "QWEN_BACKEND=legacy needs QWEN_MODAL_URL (the earlier app's clone endpoint) "
                "and/or QWEN_MODAL_DESIGN_URL (its design endpoint)"
            )
        notice = None if settings.backend else LEGACY_NOTICE
        global _noticed
        if notice and not _noticed:  # once per process, however many routers are built
            _noticed = True
            logger.warning("%s", notice)
        return cls(clone_url=clone, design_url=design, auth=settings.auth, notice=notice)

    @property
    def capabilities(self) -> Capabilities:
        """Qwen's languages (as the app reports them, once asked), ICL clones only, 500
        characters a request; operations are the configured apps'."""
        operations = frozenset(self._apps) or LEGACY_CAPABILITIES.operations
        return LEGACY_CAPABILITIES.model_copy(
            update={
                "operations": operations,
                "languages": self._languages or LEGACY_CAPABILITIES.languages,
                "clone_modes": ("icl",) if "clone" in operations else (),
            }
        )

    def missing_configuration(self) -> str | None:
        """None once an app's URL is set."""
        return None if self._apps else "set QWEN_MODAL_URL to the earlier app's clone endpoint"

    @property
    def available(self) -> bool:
        """False while the circuit of a configured app's main endpoint is open."""
        return all(self._client(app.work).available for app in self._apps.values())

    async def health(self) -> Health:
        """Each app's health endpoint, and the clone app's languages (remembered)."""
        details, ok = [], True
        for operation, app in self._apps.items():
            try:
                info = await self._client(app.health).get_json(app.health.path)
                names = (
                    await self._client(app.languages).get_json(app.languages.path)
                    if app.languages
                    else None
                )
            except TTSRouterError as exc:
                ok = False
                details.append(f"{operation}: {exc.code}: {exc.message}")
                continue
            info = info if isinstance(info, dict) else {}
            status, model = info.get("status"), info.get("model")
            if isinstance(model, str) and model.replace("-", "").replace(".", "").isalnum():
                self._model[operation] = model[:64]
            if names is not None:
                self._languages = _codes(names) or self._languages
            ok = ok and status == "healthy"
            attention = info.get("attention_implementation")
            details.append(
                f"{operation}: {self._model.get(operation, _MODEL)} at {app.work.url} "
                f"(earlier Modal app, {status or 'no status'}, attention {attention or '?'})"
            )
        if self.notice:
            details.append(self.notice)
        return Health(ok=ok and bool(self._apps), detail="; ".join(details))

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._by_base.values():
            await client.aclose()

    def _client(self, endpoint: LegacyEndpoint) -> ServiceClient:
        """One ServiceClient per origin (a per-function app has one origin per function)."""
        if endpoint.base not in self._by_base:
            client = self._config.client(endpoint.base, self.id, self._transport)
            self._by_base[endpoint.base] = client
        return self._by_base[endpoint.base]

    # -- one chunk ---------------------------------------------------------------------------

    async def _clone(
        self, text: str, language: str, request: CloneRequest, reference: DecodedAudio
    ) -> Speech:
        app = self._app("clone", request.options)
        encoded = base64.b64encode(request.reference.audio).decode("ascii")
        body = {
            "text": text,
            "language": _name(language),
            "ref_audio_base64": encoded,
            "ref_text": request.reference.transcript or "",
            "max_new_tokens": MAX_NEW_TOKENS,
        }
        client = self._client(app.work)
        response = await client.post_audio(app.work.path, body, request_id=request.request_id)
        warnings = [
            f"the earlier Qwen app keeps no voices: the reference was sent again with this "
            f"request ({len(encoded) / 1e6:.2f} MB as base64); deploy this provider's app "
            "(tts-router-qwen deploy) to upload each voice once"
        ]
        return self._speech(response, "clone", request.seed, warnings)

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        app = self._app("design", request.options)
        if len(request.instruct) > MAX_CHARS:
            raise ValidationError(
                f"the voice description is {len(request.instruct)} characters; the earlier "
                f"design app takes at most {MAX_CHARS}",
                code="invalid_request",
                provider=self.id,
            )
        body = {"text": text, "language": _name(language), "instruct": request.instruct}
        client = self._client(app.work)
        response = await client.post_audio(app.work.path, body, request_id=request.request_id)
        return self._speech(response, "design", request.seed, [])

    def _app(self, operation: Operation, options: dict[str, Any]) -> _App:
        """The app of ``operation``, for a request with generation ``options`` (it takes none)."""
        app = self._apps.get(operation)
        if app is None:
            raise ValidationError(
                f"no earlier {operation} app is configured for 'qwen' "
                f"(set {'QWEN_MODAL_URL' if operation == 'clone' else 'QWEN_MODAL_DESIGN_URL'})",
                code="unsupported_operation",
                provider=self.id,
            )
        if options:
            raise ValidationError(
                "the earlier Qwen app takes no generation options; drop options= or deploy "
                "this provider's app (tts-router-qwen deploy)",
                code="invalid_options",
                provider=self.id,
            )
        return app

    def _speech(
        self, response: AudioResponse, operation: Operation, seed: int | None, warnings: list[str]
    ) -> Speech:
        decoded = response.audio
        if decoded.duration >= _CAP_SECONDS:
            raise TruncatedOutputError(
                f"the earlier app's audio is {decoded.duration:.0f} s, at its "
                f"{MAX_NEW_TOKENS}-token cap: the text was cut; send shorter text",
                provider=self.id,
            )
        if seed is not None:
            warnings.append("the earlier Qwen app takes no seed: it was ignored")
        return Speech(
            model=self._model.get(operation, _MODEL),
            mode="icl" if operation == "clone" else "design",
            wav=response.wav,
            checked=decoded,
            warnings=warnings,
            timings=response.timings,
        )


def _name(code: str) -> str:
    """The seed app's language names: ``"English"``, ``"Auto"``."""
    return "Auto" if code == AUTO else language_name(code)


def _codes(payload: Any) -> tuple[str, ...]:
    """Canonical codes from the app's ``{"languages": ["Auto", "Chinese", ...]}``."""
    names = payload.get("languages") if isinstance(payload, dict) else None
    if not isinstance(names, list):
        return ()
    by_name = {lang.name.casefold(): code for code, lang in LANGUAGES.items()}
    known = set(LEGACY_CAPABILITIES.languages)
    found = (by_name.get(str(n).casefold()) for n in names if isinstance(n, str))
    return tuple(dict.fromkeys(code for code in found if code in known))
