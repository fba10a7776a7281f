"""Qwen3-TTS on Modal: one app definition for every model variant and GPU.

``tts-router-qwen deploy --model 0.6B --gpu A10G`` runs ``modal deploy -m
tts_router_qwen_modal.modal_app`` with ``TTS_ROUTER_QWEN_VARIANT`` (one of
:data:`.variants.DEPLOYABLE`: ``0.6B-Base`` by default, ``1.7B-Base``, ``1.7B-VoiceDesign``,
or a Base model and the VoiceDesign model in one container, ``0.6B-Base+1.7B-VoiceDesign``),
``TTS_ROUTER_GPU`` and the shared ``TTS_ROUTER_MODAL_*`` variables (docs/modal.md lists them),
read when the module is imported at deploy time and baked into the image: the container
imports this module again and defines the same app.

The module is the thin Modal shell: the service app is :func:`.service.create_service_app`
over the deployment's models with a :class:`.loading.SnapshotLoader` (weights read into CPU
memory before the memory snapshot); what both GPU providers' apps share, the service class's
lifecycle and methods included, lives in :mod:`tts_router.modal_kit`. The image installs
:data:`.image_requirements.REQUIREMENTS`, the ``engine`` extra exactly as ``uv.lock`` pins it
(``tts-router-qwen check`` compares them).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import modal  # this module IS the Modal app; nothing else in the package imports it

from tts_router import modal_kit as kit
from tts_router.errors import ConfigurationError
from tts_router.modal_kit.gpu_service import GpuService

from . import image_requirements
from .variants import DEPLOYABLE, VARIANTS, hub_ids, variant_parts

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "IMAGE",
    "MODULE",
    "QwenService",
    "app",
    "deployed_models",
    "download_models",
    "fetch_models",
    "qwen_settings",
    "volume_weights",
]

MODULE = "tts_router_qwen_modal.modal_app"
DEFAULT_VOLUME = "qwen3-tts-models"
WEIGHT_FILES = ("config.json", "*.safetensors", "speech_tokenizer/*.safetensors")
IMAGE = kit.ImageSpec.of(image_requirements, "tts-router-qwen", MODULE, engine="qwen_tts")
"""The image: the ``engine`` extra's locked closure (the Debian packages follow from it: sox
for qwen-tts's ``sox`` wrapper, libsndfile for soundfile)."""


def qwen_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> kit.ModalSettings:
    """This provider's deployment settings from the environment (see the module doc)."""
    return kit.ModalSettings.from_env(
        "qwen",
        default_variant=DEPLOYABLE[0],
        default_volume=DEFAULT_VOLUME,
        variants=DEPLOYABLE,
        environ=environ,
        overrides=overrides,
    )


def deployed_models(settings: kit.ModalSettings) -> list[str]:
    """The models the deployment loads, Base first: the variant's hub ids, found in the
    Volume's hub cache (``HF_HOME``), or what ``settings.model`` names instead (``A+B`` for a
    combined variant)."""
    parts = variant_parts(settings.variant)
    if not settings.model:
        return [VARIANTS[part] for part in parts]
    models = settings.model.split("+")
    if len(models) != len(parts):
        raise ConfigurationError(
            f"TTS_ROUTER_MODAL_MODEL names {len(models)} model(s) for the {len(parts)} of "
            f"{settings.variant} (join two with '+', Base first)"
        )
    return models


def volume_weights(settings: kit.ModalSettings) -> kit.VolumeWeights:
    """The files the deployment loads from its Volume: each model's snapshot in the hub cache
    (``HF_HOME`` in the Volume), or the directory ``settings.model`` names (which must be inside
    the Volume: a path on the deploying machine does not exist in the container)."""
    models = deployed_models(settings)
    patterns: list[str] = []
    fetches: list[str] = []
    for model, part in zip(models, variant_parts(settings.variant), strict=True):
        if model.startswith("/"):
            root = kit.volume_path(settings, model)
            fetches.append(f"modal volume put {settings.volume} <model directory> {root}")
        elif re.fullmatch(r"\w[\w.-]*/\w[\w.-]*", model):
            root = f"hf/hub/models--{model.replace('/', '--')}"
            patterns.append(f"{root}/refs/main")
            root += "/snapshots/*"
            fetches.append(f"tts-router-qwen download --model {part}")
        else:
            raise ConfigurationError(
                f"TTS_ROUTER_MODAL_MODEL={model!r} is neither a hub id (Org/Name) nor a directory "
                f"inside the Volume (below {settings.mount})"
            )
        patterns += [f"{root}/{name}" for name in WEIGHT_FILES]
    return kit.VolumeWeights(" and ".join(models), tuple(patterns), " && ".join(fetches))


def fetch_models(
    models: str,
    settings: kit.ModalSettings,
    *,
    token: str | None = None,
    fetch: Callable[..., str] | None = None,
) -> list[kit.DownloadReport]:
    """Download the models named (comma-separated, aliases too; default: the deployment's)
    into the hub cache under ``settings.hf_home``."""
    names = [name for name in models.split(",") if name.strip()] or [settings.variant]
    return [
        kit.fetch_hf_snapshot(repo_id, hf_home=settings.hf_home, token=token, fetch=fetch)
        for repo_id in hub_ids(names)
    ]


# --------------------------------------------------------------------------- the Modal app

SETTINGS = qwen_settings()
app, image, volume = kit.app_resources(SETTINGS, IMAGE)


@kit.download_function(app, SETTINGS, image, volume)
def download_models(models: str = "") -> list[str]:
    """Fetch models into the Volume once (comma-separated; default: this app's variant).

    Run by ``tts-router-qwen download --model 0.6B``; safe to run again (resumes, skips
    complete files). Prints and returns one line per model with its size.
    """
    reports = fetch_models(models, SETTINGS, token=os.environ.get("HF_TOKEN") or None)
    volume.commit()  # make the files visible to containers that start from now on
    lines = [report.line() for report in reports]
    for line in lines:
        print(line)
    return lines


@kit.service_class(app, SETTINGS, image, volume)
class QwenService(GpuService):
    """The GPU service: the protocol over HTTP (``web``) and over the Modal SDK (methods)."""

    def build_app(self, device: str | None, serving_options: dict[str, Any]) -> FastAPI:
        """The deployment's models (SDPA attention, the dtype the plan picks on the GPU),
        read into CPU memory now, before the snapshot."""
        from .loading import SnapshotLoader
        from .service import create_service_app

        return create_service_app(
            *deployed_models(SETTINGS),
            engine_options={"device": device, "attention": "sdpa"},
            loader=SnapshotLoader(SETTINGS.capability),
            **serving_options,
        )

    @modal.method()
    async def design(
        self, text: str, instruct: str, language: str = "auto", seed: int | None = None
    ) -> bytes:
        """Speak in a voice described in words (VoiceDesign deployments); WAV bytes back."""
        return await self.design_wav(text, instruct, language=language, seed=seed)
