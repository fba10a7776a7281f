"""The Modal objects every provider's app is built from: image, Volume, decorator options.

- :func:`build_image`: Debian slim + Python 3.12, the Debian packages the requirement set needs
  (:func:`.lock.system_packages`: FFmpeg for torchcodec, sox, libsndfile), the provider's
  requirement set installed exactly as ``uv.lock`` pins it (``uv pip install --no-deps``: no
  package resolves afresh at build time), the settings baked in as environment variables (the
  container imports the app module again and must define the same app), and the core plus the
  provider added as local Python source, so the container runs the code the tests run;
- :func:`model_volume`: the ``modal.Volume`` holding the weights, mounted at
  :attr:`ModalSettings.mount` with ``HF_HOME`` inside it;
- :func:`service_options` / :func:`download_options`: the keyword arguments of ``@app.cls`` and
  ``@app.function`` (GPU, CPU and memory reservations, timeouts, scale-down, memory
  snapshots, ``HF_HUB_OFFLINE=1`` at serve time, the optional Hugging Face token secret);
- :func:`app_resources`, :func:`service_class`, :func:`download_function`: the app, image and
  Volume together, and the two decorators with those options applied (the service class
  with ``@modal.concurrent(max_inputs=..., target_inputs=...)``).

``modal`` is imported inside the functions only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .lock import parse_pins, system_packages
from .settings import ModalSettings

if TYPE_CHECKING:
    import modal

    from .check import ImageSpec

__all__ = [
    "PYTHON_VERSION",
    "SERVE_ENV",
    "app_resources",
    "build_image",
    "download_function",
    "download_options",
    "model_volume",
    "service_class",
    "service_options",
]

PYTHON_VERSION = "3.12"

# Environment of the serving container only: weights come from the Volume, never the Hub.
# qwen-tts calls snapshot_download(local_files_only=HF_HUB_OFFLINE) on every load of a hub id,
# so without this flag each container start would ask the Hub.
SERVE_ENV: dict[str, str] = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

_C = TypeVar("_C", bound=type[Any])
_TORCH_FAMILY = re.compile(r"^(torch|torchaudio|triton|nvidia-.+|cuda-.+)$")


def build_image(
    settings: ModalSettings,
    *,
    requirements: Sequence[str],
    local_packages: Sequence[str],
) -> modal.Image:
    """The container image: slim Debian, the locked packages, settings, then the local source.

    ``requirements`` is the provider's whole requirement set as exact pins (its generated
    ``image_requirements.REQUIREMENTS``); anything else is refused. They are installed with
    ``--no-deps``: the set is the lock's complete closure, so nothing is resolved at build
    time. With :attr:`ModalSettings.torch_index` set, torch and torchaudio (same versions)
    come from that index first, with their own CUDA wheels, and the lock's torch family is
    left out of the second layer.

    Layers run from the least to the most often changed, so a code change re-uploads only
    the local source and a settings change adds only an environment layer. The local
    packages come last because Modal mounts them at container start (no rebuild per edit).
    """
    import modal

    pins = parse_pins(requirements)
    image = modal.Image.debian_slim(python_version=PYTHON_VERSION)
    system = system_packages(pins)
    if system:
        image = image.apt_install(*system)
    if settings.torch_index:
        top = [pin.line() for pin in pins if pin.name in ("torch", "torchaudio")]
        image = image.uv_pip_install(*top, index_url=settings.torch_index)
        # The whole family (torch, torchaudio, triton, the CUDA wheels) comes from that index:
        # its CUDA libraries differ per build.
        pins = [pin for pin in pins if not _TORCH_FAMILY.match(pin.name)]
    image = image.uv_pip_install(*(pin.line() for pin in pins), extra_options="--no-deps")
    return image.env(settings.image_env()).add_local_python_source(*local_packages)


def model_volume(settings: ModalSettings) -> modal.Volume:
    """The Volume with the weights (created on first use; lazy: no network here)."""
    import modal

    return modal.Volume.from_name(settings.volume, create_if_missing=True)


def service_options(
    settings: ModalSettings, image: modal.Image, volume: modal.Volume
) -> dict[str, Any]:
    """Keyword arguments of ``@app.cls`` for the GPU service class."""
    return {
        "image": image,
        "gpu": settings.gpu,
        "volumes": {settings.mount: volume},
        "env": dict(SERVE_ENV),
        "cpu": settings.cpu,
        "memory": settings.memory_mib,
        "timeout": settings.timeout_s,
        "startup_timeout": settings.startup_timeout_s,
        "scaledown_window": settings.scaledown_window_s,
        "max_containers": settings.max_containers,
        "min_containers": settings.min_containers,
        # CPU memory snapshot: imports and CPU-side loading happen once, in the snapshot
        # phase (@modal.enter(snap=True)); later containers restore it instead.
        "enable_memory_snapshot": True,
    }


def download_options(
    settings: ModalSettings, image: modal.Image, volume: modal.Volume
) -> dict[str, Any]:
    """Keyword arguments of ``@app.function`` for the download function (no GPU, network on).

    ``HF_TOKEN`` comes from the ``modal.Secret`` named by :attr:`ModalSettings.hf_secret`
    when one is configured; the public checkpoints need none.
    """
    import modal

    secrets = []
    if settings.hf_secret:
        secrets.append(modal.Secret.from_name(settings.hf_secret, required_keys=["HF_TOKEN"]))
    return {
        "image": image,
        "volumes": {settings.mount: volume},
        "secrets": secrets,
        "cpu": 2.0,
        "memory": 4096,
        "timeout": 3600,
    }


def app_resources(
    settings: ModalSettings, spec: ImageSpec
) -> tuple[modal.App, modal.Image, modal.Volume]:
    """The app named by ``settings``, the image of ``spec`` (:func:`build_image` of its
    requirement set and source packages) and the Volume (:func:`model_volume`): what every
    provider's app file starts from. Lazy: no network."""
    import modal

    image = build_image(
        settings, requirements=spec.requirements, local_packages=spec.source_packages
    )
    return modal.App(settings.app_name), image, model_volume(settings)


def service_class(
    app: modal.App, settings: ModalSettings, image: modal.Image, volume: modal.Volume
) -> Callable[[_C], _C]:
    """``@app.cls(**service_options(...))`` over ``@modal.concurrent(max_inputs=...,
    target_inputs=...)``: the decorator of a provider's service class (which must itself be
    defined at module level of the app file); the class gets ``settings`` as an attribute
    (what :class:`.gpu_service.GpuService` builds its app from).

    ``target_inputs`` (:attr:`ModalSettings.autoscale_target`, one engine batch) is what the
    autoscaler aims for per container before it starts another; ``max_inputs``
    (:attr:`ModalSettings.concurrent_inputs`) is the burst a container takes when no further
    container may start.
    """
    import modal

    def decorate(cls: _C) -> _C:
        cls.settings = settings
        concurrent: Any = modal.concurrent(
            max_inputs=settings.concurrent_inputs, target_inputs=settings.autoscale_target
        )
        register: Any = app.cls(**service_options(settings, image, volume))
        decorated: _C = register(concurrent(cls))
        return decorated

    return decorate


def download_function(
    app: modal.App, settings: ModalSettings, image: modal.Image, volume: modal.Volume
) -> Callable[[Callable[..., Any]], modal.Function[..., Any, Any]]:
    """``@app.function(**download_options(...))``: the decorator of a provider's download
    function (no GPU, network on, the Volume mounted)."""

    def decorate(function: Callable[..., Any]) -> modal.Function[..., Any, Any]:
        register: Any = app.function(**download_options(settings, image, volume))
        decorated: modal.Function[..., Any, Any] = register(function)
        return decorated

    return decorate
