"""Qwen3-TTS on Modal: one app definition for every model variant and GPU.

``tts-router-qwen deploy --model 0.6B --gpu A10G`` runs ``modal deploy -m
tts_router_qwen_modal.modal_app`` with the variables below; by hand it is::

    TTS_ROUTER_QWEN_VARIANT=1.7B-VoiceDesign TTS_ROUTER_GPU=A10G \\
        modal deploy -m tts_router_qwen_modal.modal_app

Variables, read when the module is imported at deploy time and baked into the image (the
container imports this module again and must define the same app):

=================================  ===================================================
``TTS_ROUTER_QWEN_VARIANT``        ``0.6B-Base`` (default), ``1.7B-Base``, ``1.7B-VoiceDesign``
``TTS_ROUTER_GPU``                 ``A10G`` (default), ``T4``, ``L4``, ``L40S``, ``H100``...
``TTS_ROUTER_MODAL_APP``           app name (default ``tts-router-qwen-<variant>``)
``TTS_ROUTER_MODAL_VOLUME``        Volume with the weights (default ``qwen3-tts-models``)
``TTS_ROUTER_MODAL_CPU``           cores reserved (default 4)
``TTS_ROUTER_MODAL_MEMORY``        MiB reserved (default 16384)
``TTS_ROUTER_MODAL_SCALEDOWN``     idle seconds before a container stops (default 300)
``TTS_ROUTER_MODAL_TIMEOUT``       seconds one input may run (default 900)
``TTS_ROUTER_MODAL_MAX_CONTAINERS``  most containers at once (default 2)
``TTS_ROUTER_MODAL_MIN_CONTAINERS``  warm containers (default 0: scale to zero)
``TTS_ROUTER_MODAL_HF_SECRET``     Secret with ``HF_TOKEN`` for downloads (default none)
``TTS_ROUTER_MODAL_MODEL``         load this directory in the Volume (below ``/models``)
                                   instead of the variant's hub id
``TTS_ROUTER_MODAL_CONCURRENT_INPUTS``  requests one container takes at once (default 32)
``TTS_ROUTER_MODAL_TARGET_INPUTS``  requests per container before scaling out (default: batch)
=================================  ===================================================

The image installs :data:`.image_requirements.REQUIREMENTS`, this distribution's ``engine``
extra exactly as ``uv.lock`` pins it (``tts-router-qwen check`` compares them). The module is
the thin Modal shell over :mod:`.engine` and :mod:`.service`; what both GPU providers' apps
share lives in :mod:`tts_router.modal_kit`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import modal  # this module IS the Modal app; nothing else in the package imports it

from tts_router import modal_kit as kit
from tts_router.errors import ConfigurationError

from . import image_requirements
from .variants import VARIANTS

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .engine import QwenEngine

__all__ = [
    "ALIASES",
    "DEPLOYABLE",
    "IMAGE",
    "MODULE",
    "QwenService",
    "SnapshotLoader",
    "app",
    "build_service_app",
    "download_models",
    "download_targets",
    "qwen_settings",
    "resolve_variant",
    "volume_weights",
]

logger = logging.getLogger("tts_router_qwen_modal.modal_app")

MODULE = "tts_router_qwen_modal.modal_app"
DEPLOYABLE = ("0.6B-Base", "1.7B-Base", "1.7B-VoiceDesign")
"""Variants the service can serve (CustomVoice models have no protocol operation)."""
ALIASES = {
    "0.6B": "0.6B-Base",
    "1.7B": "1.7B-Base",
    "VoiceDesign": "1.7B-VoiceDesign",
    "design": "1.7B-VoiceDesign",
}
DEFAULT_VOLUME = "qwen3-tts-models"
LOCAL_PACKAGES = ("tts_router", "tts_router_qwen_modal")
IMAGE = kit.ImageSpec(
    package=image_requirements.PACKAGE,
    extras=image_requirements.EXTRAS,
    requirements=image_requirements.REQUIREMENTS,
    module_file=Path(image_requirements.__file__),
    command="tts-router-qwen check --write",
    app_module=MODULE,
    source_packages=LOCAL_PACKAGES,
    engine_modules=("torch", "torchaudio", "qwen_tts", "tts_router_qwen_modal.service"),
)
"""The image: the ``engine`` extra's locked closure (the Debian packages follow from it: sox
for qwen-tts's ``sox`` wrapper, libsndfile for soundfile)."""


def resolve_variant(name: str) -> str:
    """``0.6B``/``1.7B``/``design`` or a full deployable variant name -> the variant name."""
    variant = ALIASES.get(name, name)
    if variant not in DEPLOYABLE:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join([*ALIASES, *DEPLOYABLE])}")
    return variant


def volume_weights(settings: kit.ModalSettings) -> kit.VolumeWeights:
    """The files this deployment loads from its Volume: the variant's snapshot in the hub
    cache (``HF_HOME`` in the Volume), or the directory ``settings.model`` names (which must
    be inside the Volume: a path on the deploying machine does not exist in the container)."""
    fetch = f"tts-router-qwen download --model {settings.variant}"
    if settings.model.startswith("/"):
        root = kit.volume_path(settings, settings.model)
        return kit.VolumeWeights(
            settings.model,
            (f"{root}/config.json", f"{root}/*.safetensors", f"{root}/speech_tokenizer/*"),
            f"modal volume put {settings.volume} <model directory> {root}",
        )
    repo = settings.model or VARIANTS[settings.variant]
    if not re.fullmatch(r"\w[\w.-]*/\w[\w.-]*", repo):
        raise ConfigurationError(
            f"TTS_ROUTER_MODAL_MODEL={repo!r} is neither a hub id (Org/Name) nor a directory "
            f"inside the Volume (below {settings.mount})"
        )
    cache = f"hf/hub/models--{repo.replace('/', '--')}"
    return kit.VolumeWeights(
        repo,
        (
            f"{cache}/refs/main",
            f"{cache}/snapshots/*/config.json",
            f"{cache}/snapshots/*/*.safetensors",
            f"{cache}/snapshots/*/speech_tokenizer/*.safetensors",
        ),
        fetch,
    )


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


# --------------------------------------------------------------------------- loading


class SnapshotLoader:
    """A :class:`~.engine.QwenEngine` loader that does the CPU work before the snapshot.

    :meth:`preload` (in ``@modal.enter(snap=True)``, no GPU attached) reads the weights from
    the Volume into CPU memory in the dtype the engine's policy will pick on the deployment's
    GPU, and copies every tensor still memory-mapped from a weights file into process memory
    (:func:`tts_router.modal_kit.release_mapped_weights`): the memory snapshot then holds
    them, and depends on no file of the Volume. When the engine loads after the restore, the
    loader moves that model to the GPU instead of reading the files again. Anything that does
    not match (another dtype or attention backend, a failed move) loads from the Volume as
    usual: the preload can only save time, never change what is served.
    """

    def __init__(self, capability: tuple[int, int] | None) -> None:
        self.capability = capability
        self._cpu: dict[str, tuple[str, str, Any]] = {}
        self.moved = 0

    def preload(self, engine: QwenEngine) -> bool:
        """Load ``engine``'s model on the CPU as it will run on the GPU; False if skipped."""
        from .engine import _qwen_loader
        from .policy import DeviceFacts, plan_load

        if self.capability is None:
            return False  # unknown GPU: the policy's choice cannot be predicted
        plan = plan_load(
            DeviceFacts("cuda", self.capability),
            dtype=engine.config.dtype,
            attention=engine.config.attention,
        )
        location = engine.source.location
        try:
            model = _qwen_loader(location, "cpu", plan.dtype, plan.attention)
        except Exception as exc:  # e.g. weights not downloaded: the start-up load reports it
            logger.warning("preloading %s failed (%s)", location, type(exc).__name__)
            return False
        tokenizer = getattr(model.model, "speech_tokenizer", None)
        kit.release_mapped_weights([model.model, getattr(tokenizer, "model", None)])
        self._cpu[location] = (plan.dtype, plan.attention, model)
        return True

    def __call__(self, location: str, device: str, dtype: str, attention: str) -> Any:
        """The engine's loader: the preloaded model moved to ``device``, else a fresh load."""
        from .engine import _qwen_loader

        preloaded = self._cpu.pop(location, None)
        if preloaded is not None and preloaded[:2] == (dtype, attention):
            try:
                model = _move(preloaded[2], device)
            except Exception as exc:
                logger.warning("moving the preloaded model failed (%s)", type(exc).__name__)
            else:
                self.moved += 1
                return model
        return _qwen_loader(location, device, dtype, attention)


def _move(model: Any, device: str) -> Any:
    """Move a ``Qwen3TTSModel`` and its speech tokenizer to ``device``.

    Both wrappers cache their device in ``.device`` at construction (inputs are sent there);
    the speech tokenizer is a plain attribute of the model, not a submodule, so
    ``model.model.to`` does not move it.
    """
    import torch

    target = torch.device(device)
    model.model.to(target)
    model.device = target
    tokenizer = getattr(model.model, "speech_tokenizer", None)
    if tokenizer is not None:
        tokenizer.model.to(target)
        tokenizer.device = target
    return model


def build_service_app(
    settings: kit.ModalSettings,
    *,
    device: str | None = None,
    preload: bool = True,
    **engine_options: Any,
) -> FastAPI:
    """The protocol app this deployment serves: :func:`tts_router.serving.create_app` over a
    :class:`~.service.QwenServiceEngine`, as :func:`.service.create_service_app` builds it,
    plus the snapshot loader (which that function has no parameter for).

    The model is the variant's hub id, found in the Volume's hub cache (``HF_HOME``) with
    ``HF_HUB_OFFLINE=1``, or ``settings.model`` when set. SDPA attention; the dtype from the
    engine's policy on the device it lands on.
    """
    from tts_router.serving import create_app
    from tts_router.serving.options import set_torch_threads

    from .engine import QwenEngine, QwenEngineConfig
    from .service import QwenServiceEngine

    engine_options.setdefault("attention", "sdpa")
    config = QwenEngineConfig(
        model=settings.model or VARIANTS[settings.variant], device=device, **engine_options
    )
    loader = SnapshotLoader(settings.capability) if preload else None
    engine = QwenEngine(config, loader=loader)
    if loader is not None:
        loader.preload(engine)
    set_torch_threads(settings.torch_threads)
    app = create_app(
        QwenServiceEngine([engine]),
        title="tts-router Qwen3-TTS service",
        **settings.serving_options(),
    )
    app.state.engines = [engine]
    app.state.snapshot_loader = loader
    return app


# --------------------------------------------------------------------------- downloads


def download_targets(
    models: str | Iterable[str], settings: kit.ModalSettings
) -> list[tuple[str, str]]:
    """(hub id, hub cache directory it lands in) for each model; default: the app's variant.

    ``models`` is a comma-separated string (the ``modal run`` argument) or names; aliases
    (``0.6B``) are accepted.
    """
    names = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    variants = [resolve_variant(name) for name in names if name] or [settings.variant]
    cache = kit.hf_cache_dir(settings.hf_home)
    return [
        (VARIANTS[v], str(cache / f"models--{VARIANTS[v].replace('/', '--')}"))
        for v in dict.fromkeys(variants)
    ]


def fetch_models(
    models: str | Iterable[str],
    settings: kit.ModalSettings,
    *,
    token: str | None = None,
    fetch: Callable[..., str] | None = None,
) -> list[kit.DownloadReport]:
    """Download every target into the hub cache under ``settings.hf_home``."""
    return [
        kit.fetch_hf_snapshot(repo_id, hf_home=settings.hf_home, token=token, fetch=fetch)
        for repo_id, _ in download_targets(models, settings)
    ]


# --------------------------------------------------------------------------- the Modal app

SETTINGS = qwen_settings()
app, image, volume = kit.app_resources(
    SETTINGS, requirements=IMAGE.requirements, local_packages=LOCAL_PACKAGES
)


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


# Modal finds decorated classes only at module level and the decorators import modal, so each
# app declares its thin class here; every method is a one-line call into kit.ServiceShell.
@kit.service_class(app, SETTINGS, image, volume)
class QwenService(kit.ServiceShell):
    """The GPU service: the protocol over HTTP (``web``) and over the Modal SDK (methods)."""

    @modal.enter(snap=True)
    def prepare(self) -> None:
        """Before the snapshot (no GPU): imports, the weights into CPU memory, the app."""
        app = build_service_app(SETTINGS, device=kit.container_device(SETTINGS.gpu))
        self.open(app, "qwen", ready_timeout_s=SETTINGS.startup_timeout_s)

    @modal.enter(snap=False)
    def start(self) -> None:
        """After the restore: the model onto the GPU before any request is taken."""
        self.start_engine()

    @modal.exit()
    async def stop(self) -> None:
        """The service's worker stopped (if the web endpoint's lifespan did not already)."""
        await self.stop_service()

    @modal.asgi_app(requires_proxy_auth=True)
    def web(self) -> kit.ShellApp:
        """The protocol app, started by the shell before the first request (see
        :class:`tts_router.modal_kit.ShellApp`); Modal answers 401 without
        ``Modal-Key``/``Modal-Secret``."""
        return self.asgi()

    @modal.method()
    async def clone(
        self,
        text: str,
        reference_audio: bytes,
        language: str = "auto",
        transcript: str | None = None,
        seed: int | None = None,
    ) -> bytes:
        """Clone from reference audio bytes; WAV bytes back (SDK callers: no 150 s limit)."""
        return await self.clone_wav(
            text, reference_audio, language=language, transcript=transcript, seed=seed
        )

    @modal.method()
    async def design(
        self, text: str, instruct: str, language: str = "auto", seed: int | None = None
    ) -> bytes:
        """Speak in a voice described in words (VoiceDesign deployments); WAV bytes back."""
        return await self.design_wav(text, instruct, language=language, seed=seed)

    @modal.method()
    async def health(self) -> dict[str, Any]:
        """What is loaded where (the ``/health`` body)."""
        return await self.health_info()
