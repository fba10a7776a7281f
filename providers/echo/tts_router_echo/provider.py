"""The Echo-TTS provider: English cloning from reference audio alone.

Three backends, chosen by ``ECHO_BACKEND`` (or ``[providers.echo] backend``):

- ``remote`` (default): the protocol service (``tts-router-echo serve`` or the Modal app) at
  ``ECHO_MODAL_URL``, through the core's resilient client, with the same Modal proxy-auth
  settings as Qwen (``MODAL_KEY``/``MODAL_SECRET``).
- ``local``: the same service app in this process (needs the ``engine`` extra), reached
  through the same client (:class:`~tts_router.serving.InProcessService`): the model in
  ``ECHO_MODEL_DIR`` (``model_dir``; never downloaded) loads on the first request, on
  ``ECHO_DEVICE`` (``device``) if set, else the best one found.
- ``modal-sdk``: an earlier deployment called through the Modal SDK, as Utter did:
  ``modal.Cls.from_name(ECHO_MODAL_APP, ECHO_MODAL_CLASS)().generate.remote(text, audio)``.

Echo-TTS weights and everything they generate are CC-BY-NC-SA-4.0 (non-commercial): the
capabilities carry that so a host app can show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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

__all__ = ["ECHO_CAPABILITIES", "ECHO_LICENSE", "EchoProvider"]

# Kept here (not imported from engine.py) so building the provider never imports torch.
ECHO_LICENSE = "CC-BY-NC-SA-4.0 (Echo-TTS weights and all generated audio; non-commercial)"
ECHO_CAPABILITIES = Capabilities(
    operations=frozenset({"clone"}),
    languages=("en",),
    clone_modes=("audio",),
    sample_rate=44_100,
    # The service splits further into ~30 s passes and samples them as one batch.
    max_text_chars=1_500,
    quality="reference",
    license=ECHO_LICENSE,
)
_BACKENDS = ("remote", "modal-sdk", "local")


class EchoProvider(RemoteProvider):
    """Echo-TTS through the protocol service."""

    id: ClassVar[str] = "echo"
    setting_keys: ClassVar[frozenset[str] | None] = frozenset(
        {
            "url",
            "backend",
            "modal_app",
            "modal_class",
            "modal_key",
            "modal_secret",
            "max_request_chars",
            "model_dir",
            "device",
        }
    )
    static_capabilities = ECHO_CAPABILITIES
    configure_hint = (
        "set ECHO_MODAL_URL to the deployed service (tts-router-echo deploy) or to a local one "
        "(tts-router-echo serve --model-dir DIR)"
    )
    service: InProcessService | None = None
    """The in-process service app of a local provider (:meth:`in_process`); None otherwise."""

    @classmethod
    def in_process(
        cls,
        model_dir: str | Path,
        *,
        max_request_chars: int = REQUEST_CHARS,
        **service_options: Any,
    ) -> EchoProvider:
        """Echo in this process: the service app (:func:`.service.create_service_app` with
        ``service_options``: ``device``, ``sampler``...) over an in-process transport. Nothing
        is imported or loaded here: the app is built and the model loads on the first request;
        :meth:`aclose` stops it."""
        from tts_router.serving.inprocess import IN_PROCESS_URL, InProcessService

        # Requests that meet the model still loading are answered 503 + Retry-After and sent
        # again: a second here, not the 5 s a shared service asks of its many clients.
        service_options.setdefault("retry_after_s", 1.0)

        def build() -> Any:
            from .service import create_service_app

            return create_service_app(model_dir, **service_options)

        service = InProcessService(build)
        config = ServiceConfig(clone_url=IN_PROCESS_URL, max_request_chars=max_request_chars)
        provider = cls(config, transport=service)
        provider.service = service
        return provider

    @classmethod
    def from_settings(cls, settings: Settings) -> Provider:
        """``remote`` by default; ``ECHO_BACKEND=modal-sdk`` for an earlier SDK deployment;
        ``ECHO_BACKEND=local`` runs the service in this process."""
        backend = str(settings.setting("echo", "backend", "ECHO_BACKEND") or "remote")
        if backend not in _BACKENDS:
            raise ConfigurationError(f"ECHO_BACKEND must be one of {', '.join(_BACKENDS)}")
        if backend == "modal-sdk":
            require_extra("modal", "tts-router-echo", "modal", what="ECHO_BACKEND=modal-sdk")
            from .sdk import EchoModalSdkProvider

            return EchoModalSdkProvider.from_settings(settings)
        if backend == "local":
            require_extra(
                ("torch", "echo_tts", "fastapi"),
                "tts-router-echo",
                "engine",
                what="ECHO_BACKEND=local",
            )
            model = settings.setting("echo", "model_dir", "ECHO_MODEL_DIR")
            if not model:
                raise ConfigurationError(
                    "ECHO_BACKEND=local needs ECHO_MODEL_DIR (a model directory)"
                )
            device = settings.setting("echo", "device", "ECHO_DEVICE")
            return cls.in_process(
                str(model),
                max_request_chars=request_chars_from_settings(settings, "echo"),
                device=str(device) if device else None,
            )
        url = settings.setting("echo", "url", "ECHO_MODAL_URL")
        if url:  # a plain http(s) base URL, else ConfigurationError naming the setting
            url = validate_service_url(
                str(url), setting=settings.origin("echo", "url", "ECHO_MODAL_URL")
            )
        config = ServiceConfig(
            clone_url=url,
            auth=auth_from_settings(settings, "echo"),
            max_request_chars=request_chars_from_settings(settings, "echo"),
        )
        return cls(config)
