"""The Qwen3-TTS provider: configuration and capabilities around the core's RemoteProvider.

Settings (environment variable, else ``[providers.qwen]`` key in the TOML file):

============================  ==================  ==============================================
variable                      TOML key            meaning
============================  ==================  ==============================================
``QWEN_MODAL_URL``            ``url``             base URL of the clone (Base model) service
``QWEN_MODAL_ENDPOINT``       ``endpoint``        legacy name for the above (Utter's ``.env``)
``QWEN_MODAL_DESIGN_URL``     ``design_url``      base URL of the VoiceDesign service
``MODAL_KEY``/``MODAL_SECRET``  ``modal_key``/...  Modal proxy-auth token for both services
``QWEN_BACKEND``              ``backend``         ``remote`` (default), ``legacy`` or ``local``
``QWEN_MODEL_DIR``            ``model_dir``       local backend: Base model directory or hub id
``QWEN_DESIGN_MODEL_DIR``     ``design_model_dir``  local backend: VoiceDesign model, optional
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
from typing import ClassVar

import httpx

from tts_router.errors import ConfigurationError
from tts_router.extras import require_extra
from tts_router.provider import Capabilities, Provider
from tts_router.remote import (
    RemoteProvider,
    ServiceConfig,
    auth_from_settings,
    request_chars_from_settings,
)
from tts_router.settings import Settings
from tts_router.urls import validate_service_url

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
    def from_settings(cls, settings: Settings) -> Provider:
        """Remote by default; ``legacy`` for the earlier per-function Modal apps (chosen by
        itself for such a URL); ``QWEN_BACKEND=local`` runs the engine in this process."""
        backend = str(settings.setting("qwen", "backend", "QWEN_BACKEND") or _backend_for(settings))
        if backend not in BACKENDS:
            raise ConfigurationError("QWEN_BACKEND must be 'remote', 'legacy' or 'local'")
        if backend == "legacy":
            from .legacy import LegacyQwenProvider

            return LegacyQwenProvider.from_settings(settings)
        if backend == "local":
            require_extra(
                ("torch", "qwen_tts"), "tts-router-qwen-modal", "engine", what="QWEN_BACKEND=local"
            )
            from .local import LocalQwenProvider

            return LocalQwenProvider.from_settings(settings)
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
