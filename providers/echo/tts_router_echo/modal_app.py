"""Echo-TTS on Modal: the same shape as the Qwen app, from :mod:`tts_router.modal_kit`.

``tts-router-echo deploy --gpu A10G`` runs ``modal deploy -m tts_router_echo.modal_app`` with
the variables below; by hand it is ``TTS_ROUTER_GPU=A10G modal deploy -m
tts_router_echo.modal_app``. The variables are the shared ones of :mod:`tts_router.modal_kit`
(``TTS_ROUTER_GPU``, ``TTS_ROUTER_MODAL_*``; docs/modal.md lists them); the Volume defaults
to ``echo-tts-models``, the app name to ``tts-router-echo-base``.

Weights live in the Volume in the layout :mod:`.weights` reads (``/models/echo/<repo>/<file>``)
and are fetched once by ``download_weights`` (``tts-router-echo deploy --download``; a deploy
refuses to run while they are missing). The image installs
:data:`.image_requirements.REQUIREMENTS`, the ``engine`` extra exactly as ``uv.lock`` pins it,
and FFmpeg for torchcodec. Echo-TTS weights and everything generated with them are
CC-BY-NC-SA-4.0 (non-commercial).

The service class is :class:`tts_router.modal_kit.gpu_service.GpuService` with the app built by
:func:`.service.create_service_app`: the snapshot phase imports torch and echo_tts and builds
the app; the weights load after the restore, straight onto the GPU, so the memory snapshot
holds no file mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import modal  # this module IS the Modal app; nothing else in the package imports it

from tts_router import modal_kit as kit
from tts_router.modal_kit.gpu_service import GpuService

from . import image_requirements
from .architecture import weight_paths

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "IMAGE",
    "MODULE",
    "EchoService",
    "app",
    "download_weights",
    "echo_settings",
    "model_root",
    "volume_weights",
]

MODULE = "tts_router_echo.modal_app"
VARIANT = "base"
DEFAULT_VOLUME = "echo-tts-models"
IMAGE = kit.ImageSpec.of(image_requirements, "tts-router-echo", MODULE, engine="echo_tts")
"""The image: the ``engine`` extra's locked closure (FFmpeg follows from torchcodec)."""


def echo_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> kit.ModalSettings:
    """This provider's deployment settings from the environment."""
    return kit.ModalSettings.from_env(
        "echo",
        default_variant=VARIANT,
        default_volume=DEFAULT_VOLUME,
        variants=(VARIANT,),
        environ=environ,
        overrides=overrides,
    )


def model_root(settings: kit.ModalSettings) -> Path:
    """The weights root in the Volume (or ``settings.model`` when set)."""
    return Path(settings.model or f"{settings.mount}/echo")


def volume_weights(settings: kit.ModalSettings) -> kit.VolumeWeights:
    """The three weight files in the Volume (below :func:`model_root`, which must be inside
    the Volume)."""
    root = kit.volume_path(settings, str(model_root(settings)))
    return kit.VolumeWeights(
        "the Echo-TTS weights",
        tuple(str(path) for path in weight_paths(Path(root)).values()),
        "tts-router-echo deploy --download",
    )


# --------------------------------------------------------------------------- the Modal app

SETTINGS = echo_settings()
app, image, volume = kit.app_resources(SETTINGS, IMAGE)


@kit.download_function(app, SETTINGS, image, volume)
def download_weights() -> str:
    """Fetch the weights into the Volume once (files already there are kept)."""
    from .weights import download

    root = model_root(SETTINGS)
    download(root, token=os.environ.get("HF_TOKEN") or None)
    volume.commit()  # visible to containers that start from now on
    files, size = kit.tree_size(root)
    line = f"Echo-TTS weights: {files} files, {size / 1e9:.2f} GB in {root} (CC-BY-NC-SA-4.0)"
    print(line)
    return line


@kit.service_class(app, SETTINGS, image, volume)
class EchoService(GpuService):
    """The GPU service: the protocol over HTTP (``web``) and over the Modal SDK (methods)."""

    default_language = "en"

    def build_app(self, device: str | None, serving_options: dict[str, Any]) -> FastAPI:
        """The service over the weights in the Volume; torch and echo_tts imported now, so
        that the snapshot holds them."""
        import echo_tts  # noqa: F401  (the heavy import, done before the snapshot)
        import torch  # noqa: F401

        from .service import create_service_app

        return create_service_app(model_root(SETTINGS), device=device, **serving_options)

    @modal.method()
    async def generate(self, text: str, reference_audio_bytes: bytes) -> bytes:
        """The earlier deployment's call (Utter's ``ECHO_BACKEND=modal-sdk``): WAV bytes."""
        return await self.clone_wav(text, reference_audio_bytes, language="en")
