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

Settings (:class:`EchoSettings`): each variable above is also a key of ``[providers.echo]``
(``backend``, ``url``, ``modal_app``, ``modal_class``, ``model_dir``, ``device``), with
``modal_key``/``modal_secret``, ``max_request_chars`` and ``timeout``; a named instance
(``type = "echo"``) reads its own keys only.

Echo-TTS weights and everything they generate are CC-BY-NC-SA-4.0 (non-commercial): the
capabilities carry that so a host app can show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from tts_router.errors import ConfigurationError
from tts_router.extras import require_extra
from tts_router.provider import Capabilities, Provider
from tts_router.provider_settings import ProviderSettings, ServiceURL, setting
from tts_router.remote import RemoteProvider, RemoteSettings

__all__ = ["ECHO_CAPABILITIES", "ECHO_LICENSE", "EchoProvider", "EchoSettings"]

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


class EchoSettings(RemoteSettings):
    """``[providers.echo]`` and its variables (see the module)."""

    backend: Literal["remote", "modal-sdk", "local"] = setting("remote", env="ECHO_BACKEND")
    url: ServiceURL | None = setting(env="ECHO_MODAL_URL")
    """Base URL of the Echo service."""
    modal_app: str | None = setting(env="ECHO_MODAL_APP")
    """modal-sdk: the deployed app (default echo-tts)."""
    modal_class: str | None = setting(env="ECHO_MODAL_CLASS")
    """modal-sdk: its class (default EchoTTS)."""
    model_dir: str | None = setting(env="ECHO_MODEL_DIR")
    """local: the model directory (never downloaded)."""
    device: str | None = setting(env="ECHO_DEVICE")
    """local: the torch device; unset: the best one found."""


class EchoProvider(RemoteProvider):
    """Echo-TTS through the protocol service."""

    id: ClassVar[str] = "echo"
    settings_model: ClassVar[type[ProviderSettings]] = EchoSettings
    static_capabilities = ECHO_CAPABILITIES
    configure_hint = (
        "set ECHO_MODAL_URL to the deployed service (tts-router-echo deploy) or to a local one "
        "(tts-router-echo serve --model-dir DIR)"
    )

    @classmethod
    def in_process(cls, model_dir: str | Path, **service_options: Any) -> EchoProvider:
        """Echo in this process: :func:`.service.create_service_app` with ``service_options``
        (``device``, ``sampler``...), under :meth:`RemoteProvider.over_app`, which takes
        ``max_request_chars`` from them (built and loaded on the first request)."""
        return cls.over_app(_service_app, model_dir, **service_options)

    @classmethod
    def from_settings(cls, settings: EchoSettings) -> Provider:
        """``remote`` by default; ``ECHO_BACKEND=modal-sdk`` for an earlier SDK deployment;
        ``ECHO_BACKEND=local`` runs the service in this process."""
        if settings.backend == "modal-sdk":
            require_extra("modal", "tts-router-echo", "modal", what="ECHO_BACKEND=modal-sdk")
            from .sdk import EchoModalSdkProvider

            return EchoModalSdkProvider.from_settings(settings)
        if settings.backend == "local":
            require_extra(
                ("torch", "echo_tts", "fastapi"),
                "tts-router-echo",
                "engine",
                what="ECHO_BACKEND=local",
            )
            if not settings.model_dir:
                raise ConfigurationError(
                    "ECHO_BACKEND=local needs ECHO_MODEL_DIR (a model directory)"
                )
            return cls.in_process(
                settings.model_dir,
                max_request_chars=settings.max_request_chars,
                device=settings.device or None,
            )
        return cls(settings.service_config(settings.url))


def _service_app(*args: Any, **options: Any) -> Any:
    from .service import create_service_app  # the engine extra: imported on first request

    return create_service_app(*args, **options)
