"""The Qwen3-TTS provider: configuration and capabilities around the core's RemoteProvider.

Every backend speaks the service protocol through the core's client: ``remote`` to a deployed
service, ``local`` to the same service app running in this process
(:class:`~tts_router.serving.InProcessService`, models loaded on first use), ``legacy`` to
the earlier per-function Modal apps.

Settings (environment variable, else ``[providers.qwen]`` key in the TOML file):

============================  ==================  ==============================================
variable                      TOML key            meaning
============================  ==================  ==============================================
``QWEN_MODAL_URL``            ``url``             base URL of the clone (Base model) service
``QWEN_MODAL_ENDPOINT``       ``endpoint``        legacy name for the above (Utter's ``.env``)
``QWEN_MODAL_DESIGN_URL``     ``design_url``      base URL of the VoiceDesign service
``MODAL_KEY``/``MODAL_SECRET``  ``modal_key``/...  Modal proxy-auth token for both services
``QWEN_BACKEND``              ``backend``         ``remote`` (default), ``legacy`` or ``local``
``QWEN_MODEL_DIR``            ``model_dir``       local: Base model directory or hub id
``QWEN_DESIGN_MODEL_DIR``     ``design_model_dir``  local: VoiceDesign model, optional
============================  ==================  ==============================================

A URL must be a plain ``http(s)`` base URL: one with credentials, a query string or a fragment
is refused (``ConfigurationError`` naming the setting; the token goes in ``MODAL_KEY``/
``MODAL_SECRET``), so the provider shows as broken with that reason.

``legacy`` speaks the earlier, hand-deployed Modal apps of Utter's seeds (one endpoint per
function, base64 references; see :mod:`.legacy`). When ``QWEN_BACKEND`` is not set and the
clone URL (or, without one, the design URL) is such a per-function endpoint
(``...-qwen3ttsservice-clone.modal.run``), it is chosen automatically, with a one-line notice
recommending this provider's own app.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from tts_router.errors import ConfigurationError
from tts_router.extras import require_extra
from tts_router.provider import Capabilities, Provider
from tts_router.remote import (
    REQUEST_CHARS,
    RemoteProvider,
    ServiceConfig,
    auth_from_settings,
    request_chars_from_settings,
)
from tts_router.settings import Settings
from tts_router.urls import validate_service_url

if TYPE_CHECKING:
    from tts_router.serving import InProcessService

__all__ = [
    "QWEN_CAPABILITIES",
    "QWEN_SETTING_KEYS",
    "QwenProvider",
    "service_url_from_settings",
]

QWEN_LANGUAGES = ("auto", "zh", "en", "ja", "ko", "de", "fr", "ru", "pt", "es", "it")
QWEN_CAPABILITIES = Capabilities(
    operations=frozenset({"clone", "design"}),
    languages=QWEN_LANGUAGES,
    clone_modes=("icl", "x_vector"),
    sample_rate=24_000,
    # The service splits further and generates the pieces as one batch; this bounds how much
    # one HTTP request (and one GPU job) carries.
    max_text_chars=2_000,
    quality="reference",
    license="Qwen3-TTS weights are Apache-2.0",
)
_LEGACY_FUNCTION_HOST = re.compile(r"-clone\.modal\.run$")
BACKENDS = ("remote", "legacy", "local")
QWEN_SETTING_KEYS = frozenset(
    {
        "url",
        "endpoint",
        "design_url",
        "backend",
        "max_request_chars",
        "model_dir",
        "design_model_dir",
        "modal_key",
        "modal_secret",
    }
)


def service_url_from_settings(settings: Settings) -> tuple[str | None, str | None]:
    """The clone service's base URL, and a problem to report if the setting is unusable.

    ``QWEN_MODAL_ENDPOINT`` from the earlier Utter deployment is accepted when it names one of
    our services (a trailing ``/clone`` is dropped). A per-function URL of the earlier Modal app
    (``...-clone.modal.run``) speaks a different protocol, so it is refused with the fix. A URL
    that is not a plain http(s) base URL raises :class:`ConfigurationError`.
    """
    url = settings.setting("qwen", "url", "QWEN_MODAL_URL")
    if url:
        return _service_url(settings, "url", "QWEN_MODAL_URL"), None
    legacy = settings.setting("qwen", "endpoint", "QWEN_MODAL_ENDPOINT")
    if not legacy:
        return None, None
    parsed = httpx.URL(_service_url(settings, "endpoint", "QWEN_MODAL_ENDPOINT"))
    if _LEGACY_FUNCTION_HOST.search(parsed.host):
        return None, (
            "QWEN_MODAL_ENDPOINT names a per-function endpoint of the earlier Modal app, which "
            "QWEN_BACKEND=remote cannot speak; unset QWEN_BACKEND (or set it to legacy), or "
            "deploy this provider's app (tts-router-qwen deploy) and set QWEN_MODAL_URL to it"
        )
    path = parsed.path.removesuffix("/").removesuffix("/clone")
    return str(parsed.copy_with(path=path or "/")), None


def _service_url(settings: Settings, key: str, variable: str) -> str:
    value = settings.setting("qwen", key, variable)
    return validate_service_url(str(value), setting=settings.origin("qwen", key, variable))


class QwenProvider(RemoteProvider):
    """Qwen3-TTS through the protocol service (on Modal, or ``tts-router-qwen serve``)."""

    id: ClassVar[str] = "qwen"
    setting_keys: ClassVar[frozenset[str] | None] = QWEN_SETTING_KEYS
    static_capabilities = QWEN_CAPABILITIES
    configure_hint = (
        "set QWEN_MODAL_URL to the deployed service (tts-router-qwen deploy) or to a local "
        "one (tts-router-qwen serve --model-dir DIR)"
    )

    service: InProcessService | None = None
    """The in-process service app of a local provider (:meth:`in_process`); None otherwise."""

    def __init__(
        self,
        config: ServiceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(config, transport=transport)
        self._problem = problem

    @classmethod
    def in_process(
        cls,
        model_dir: str | Path,
        design_model_dir: str | Path | None = None,
        *,
        max_request_chars: int = REQUEST_CHARS,
        **service_options: Any,
    ) -> QwenProvider:
        """Qwen in this process: the service app (:func:`.service.create_service_app` with
        ``service_options``) over an in-process transport. Nothing is imported or loaded here:
        the app is built and its models load on the first request; :meth:`aclose` stops it."""
        from tts_router.serving.inprocess import IN_PROCESS_URL, InProcessService

        # Requests that meet the model still loading are answered 503 + Retry-After and sent
        # again: a second here, not the 5 s a shared service asks of its many clients.
        service_options.setdefault("retry_after_s", 1.0)

        def build() -> Any:
            from .service import create_service_app

            return create_service_app(model_dir, design_model_dir, **service_options)

        service = InProcessService(build)
        design_url = IN_PROCESS_URL if design_model_dir else None
        config = ServiceConfig(
            clone_url=IN_PROCESS_URL, design_url=design_url, max_request_chars=max_request_chars
        )
        provider = cls(config, transport=service)
        provider.service = service
        return provider

    @classmethod
    def from_settings(cls, settings: Settings) -> Provider:
        """Remote by default; ``legacy`` for the earlier per-function Modal apps (chosen by
        itself for such a URL); ``QWEN_BACKEND=local`` runs the service in this process."""
        backend = str(settings.setting("qwen", "backend", "QWEN_BACKEND") or _backend_for(settings))
        if backend not in BACKENDS:
            raise ConfigurationError("QWEN_BACKEND must be 'remote', 'legacy' or 'local'")
        if backend == "legacy":
            from .legacy import LegacyQwenProvider

            return LegacyQwenProvider.from_settings(settings)
        if backend == "local":
            return cls._local(settings)
        url, problem = service_url_from_settings(settings)
        design_url = None
        if settings.setting("qwen", "design_url", "QWEN_MODAL_DESIGN_URL"):
            design_url = _service_url(settings, "design_url", "QWEN_MODAL_DESIGN_URL")
        config = ServiceConfig(
            clone_url=url,
            design_url=design_url,
            auth=auth_from_settings(settings, "qwen"),
            max_request_chars=request_chars_from_settings(settings, "qwen"),
        )
        return cls(config, problem=problem)

    @classmethod
    def _local(cls, settings: Settings) -> QwenProvider:
        what = "QWEN_BACKEND=local"
        require_extra(
            ("torch", "qwen_tts", "fastapi"), "tts-router-qwen-modal", "engine", what=what
        )
        model = settings.setting("qwen", "model_dir", "QWEN_MODEL_DIR")
        if not model:
            raise ConfigurationError(f"{what} needs QWEN_MODEL_DIR (a model directory or hub id)")
        design = settings.setting("qwen", "design_model_dir", "QWEN_DESIGN_MODEL_DIR")
        chars = request_chars_from_settings(settings, "qwen")
        return cls.in_process(str(model), str(design) if design else None, max_request_chars=chars)

    def missing_configuration(self) -> str | None:
        """A refused legacy URL, or no URL at all."""
        return self._problem or super().missing_configuration()


def _backend_for(settings: Settings) -> str:
    """``legacy`` when the clone URL (else the design URL) is a per-function seed endpoint."""
    from .legacy import is_seed_function_url

    url = settings.setting("qwen", "url", "QWEN_MODAL_URL") or settings.setting(
        "qwen", "endpoint", "QWEN_MODAL_ENDPOINT"
    )
    url = url or settings.setting("qwen", "design_url", "QWEN_MODAL_DESIGN_URL")
    return "legacy" if is_seed_function_url(str(url) if url else None) else "remote"
