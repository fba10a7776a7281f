"""The Qwen3-TTS provider: configuration and capabilities around the core's RemoteProvider.

Every backend speaks the service protocol through the core's client: ``remote`` to a deployed
service, ``local`` to the same service app running in this process
(:class:`~tts_router.serving.InProcessService`, models loaded on first use), ``legacy`` to
the earlier per-function Modal apps.

Settings are :class:`QwenSettings`: each field a key of ``[providers.qwen]`` in the TOML file
and, for the default instance, an environment variable that wins over it (``QWEN_MODAL_URL``,
``QWEN_MODAL_DESIGN_URL``, ``QWEN_BACKEND``, ``MODAL_KEY``...). A URL must be a plain
``http(s)`` base URL: one with credentials, a query string or a fragment is refused
(``ConfigurationError`` naming the setting; the token goes in ``MODAL_KEY``/``MODAL_SECRET``),
so the provider shows as broken with that reason.

``legacy`` speaks the earlier, hand-deployed Modal apps of Utter's seeds (one endpoint per
function, base64 references; see :mod:`.legacy`). When ``QWEN_BACKEND`` is not set and the
clone URL (or, without one, the design URL) is such a per-function endpoint
(``...-qwen3ttsservice-clone.modal.run``), it is chosen automatically, with a one-line notice
recommending this provider's own app.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx

from tts_router.errors import ConfigurationError
from tts_router.extras import require_extra
from tts_router.provider import Capabilities, Provider
from tts_router.provider_settings import ProviderSettings, ServiceURL, setting
from tts_router.remote import RemoteProvider, RemoteSettings, ServiceConfig

__all__ = ["QWEN_CAPABILITIES", "QwenProvider", "QwenSettings"]

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


class QwenSettings(RemoteSettings):
    """``[providers.qwen]`` and its variables."""

    backend: Literal["remote", "legacy", "local"] | None = setting(env="QWEN_BACKEND")
    """Unset: legacy for a per-function URL of the earlier Modal app, else remote."""
    url: ServiceURL | None = setting(env="QWEN_MODAL_URL")
    """Base URL of the clone (Base model) service."""
    endpoint: ServiceURL | None = setting(env="QWEN_MODAL_ENDPOINT")
    """Utter's earlier name for ``url``."""
    design_url: ServiceURL | None = setting(env="QWEN_MODAL_DESIGN_URL")
    """Base URL of the VoiceDesign service."""
    model_dir: str | None = setting(env="QWEN_MODEL_DIR")
    """local: the Base model's directory or hub id."""
    design_model_dir: str | None = setting(env="QWEN_DESIGN_MODEL_DIR")
    """local: the VoiceDesign model, optional."""

    def service_url(self) -> tuple[str | None, str | None]:
        """The clone service's base URL, and a problem to report if the setting is unusable.

        ``QWEN_MODAL_ENDPOINT`` from the earlier Utter deployment is accepted when it names
        one of our services (a trailing ``/clone`` is dropped). A per-function URL of the
        earlier Modal app (``...-clone.modal.run``) speaks a different protocol, so it is
        refused with the fix.
        """
        if self.url or not self.endpoint:
            return self.url, None
        parsed = httpx.URL(self.endpoint)
        if _LEGACY_FUNCTION_HOST.search(parsed.host):
            return None, (
                "QWEN_MODAL_ENDPOINT names a per-function endpoint of the earlier Modal app, "
                "which QWEN_BACKEND=remote cannot speak; unset QWEN_BACKEND (or set it to "
                "legacy), or deploy this provider's app (tts-router-qwen deploy) and set "
                "QWEN_MODAL_URL to it"
            )
        path = parsed.path.removesuffix("/").removesuffix("/clone")
        return str(parsed.copy_with(path=path or "/")), None

    def chosen_backend(self) -> str:
        """``backend``; unset: ``legacy`` when the clone URL (else the design URL) is a
        per-function seed endpoint, else ``remote``."""
        if self.backend:
            return self.backend
        from .legacy import is_seed_function_url

        url = self.url or self.endpoint or self.design_url
        return "legacy" if is_seed_function_url(url) else "remote"


class QwenProvider(RemoteProvider):
    """Qwen3-TTS through the protocol service (on Modal, or ``tts-router-qwen serve``)."""

    id: ClassVar[str] = "qwen"
    settings_model: ClassVar[type[ProviderSettings]] = QwenSettings
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
    def in_process(
        cls,
        model_dir: str | Path,
        design_model_dir: str | Path | None = None,
        **service_options: Any,
    ) -> QwenProvider:
        """Qwen in this process: :func:`.service.create_service_app` with ``service_options``,
        under :meth:`RemoteProvider.over_app`, which takes ``max_request_chars`` from them
        (built and loaded on the first request)."""
        design = design_model_dir is not None
        return cls.over_app(
            _service_app, model_dir, design_model_dir, design=design, **service_options
        )

    @classmethod
    def from_settings(cls, settings: QwenSettings) -> Provider:
        """Remote by default; ``legacy`` for the earlier per-function Modal apps (chosen by
        itself for such a URL); ``QWEN_BACKEND=local`` runs the service in this process."""
        backend = settings.chosen_backend()
        if backend == "legacy":
            from .legacy import LegacyQwenProvider

            return LegacyQwenProvider.from_settings(settings)
        if backend == "local":
            what = "QWEN_BACKEND=local"
            require_extra(
                ("torch", "qwen_tts", "fastapi"), "tts-router-qwen-modal", "engine", what=what
            )
            if not settings.model_dir:
                raise ConfigurationError(
                    f"{what} needs QWEN_MODEL_DIR (a model directory or hub id)"
                )
            return cls.in_process(
                settings.model_dir,
                settings.design_model_dir,
                max_request_chars=settings.max_request_chars,
            )
        url, problem = settings.service_url()
        return cls(settings.service_config(url, settings.design_url), problem=problem)

    def missing_configuration(self) -> str | None:
        """A refused legacy URL, or no URL at all."""
        return self._problem or super().missing_configuration()


def _service_app(*args: Any, **options: Any) -> Any:
    from .service import create_service_app  # the engine extra: imported on first request

    return create_service_app(*args, **options)
