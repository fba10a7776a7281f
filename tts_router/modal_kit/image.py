"""The Modal objects every provider's app is built from: image, Volume, decorator options.

- :func:`build_image`: Debian slim + Python 3.12, system audio libraries, pinned torch and the
  provider's packages, the settings baked in as environment variables (the container imports
  the app module again and must define the same app), and the core plus the provider added
  as local Python source, so the container runs the code the tests run;
- :func:`model_volume`: the ``modal.Volume`` holding the weights, mounted at
  :attr:`ModalSettings.mount` with ``HF_HOME`` inside it;
- :func:`service_options` / :func:`download_options`: the keyword arguments of ``@app.cls`` and
  ``@app.function`` (GPU, CPU and memory reservations, timeouts, scale-down, memory
  snapshots, ``HF_HUB_OFFLINE=1`` at serve time, the optional Hugging Face token secret);
- :func:`app_resources`, :func:`service_class`, :func:`download_function`: the app, image and
  Volume together, and the two decorators with those options applied.

``modal`` is imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .settings import ModalSettings

if TYPE_CHECKING:
    import modal

__all__ = [
    "CORE_REQUIREMENTS",
    "PYTHON_VERSION",
    "SERVE_ENV",
    "TORCH_REQUIREMENTS",
    "app_resources",
    "build_image",
    "download_function",
    "download_options",
    "model_volume",
    "service_class",
    "service_options",
]

PYTHON_VERSION = "3.12"

# The versions uv.lock resolves for Python 3.12 (a test checks they still agree with the lock).
TORCH_REQUIREMENTS: tuple[str, ...] = ("torch==2.11.0", "torchaudio==2.11.0")
CORE_REQUIREMENTS: tuple[str, ...] = (
    "pydantic==2.14.3",
    "pluggy==1.7.0",
    "numpy==2.5.5",
    "soundfile==0.14.0",
    "httpx==0.28.1",
    "tenacity==9.2.1",
    "fastapi==0.165.0",
    "uvicorn==0.54.0",
    "huggingface-hub==0.36.2",
)

# Environment of the serving container only: weights come from the Volume, never the Hub.
# qwen-tts calls snapshot_download(local_files_only=HF_HUB_OFFLINE) on every load of a hub id,
# so without this flag each container start would ask the Hub.
SERVE_ENV: dict[str, str] = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

_C = TypeVar("_C", bound=type[Any])


def build_image(
    settings: ModalSettings,
    *,
    requirements: Sequence[str],
    local_packages: Sequence[str],
    apt_packages: Sequence[str] = ("libsndfile1",),
) -> modal.Image:
    """The container image: slim Debian, pinned packages, settings, then the local source.

    Layers run from the least to the most often changed, so a code change re-uploads only
    the local source and a settings change adds only an environment layer. The local
    packages come last because Modal mounts them at container start (no rebuild per edit).
    """
    import modal

    image = modal.Image.debian_slim(python_version=PYTHON_VERSION).apt_install(*apt_packages)
    if settings.torch_index:
        image = image.pip_install(*TORCH_REQUIREMENTS, index_url=settings.torch_index)
    else:
        image = image.pip_install(*TORCH_REQUIREMENTS)
    # torch again: already satisfied, it pins the resolver so no package swaps the build.
    image = image.pip_install(*TORCH_REQUIREMENTS, *CORE_REQUIREMENTS, *requirements)
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
    settings: ModalSettings,
    *,
    requirements: Sequence[str],
    local_packages: Sequence[str],
    apt_packages: Sequence[str] = ("libsndfile1",),
) -> tuple[modal.App, modal.Image, modal.Volume]:
    """The app named by ``settings``, its image (:func:`build_image`) and its Volume
    (:func:`model_volume`): what every provider's app file starts from. Lazy: no network."""
    import modal

    image = build_image(
        settings,
        requirements=requirements,
        local_packages=local_packages,
        apt_packages=apt_packages,
    )
    return modal.App(settings.app_name), image, model_volume(settings)


def service_class(
    app: modal.App, settings: ModalSettings, image: modal.Image, volume: modal.Volume
) -> Callable[[_C], _C]:
    """``@app.cls(**service_options(...))`` over ``@modal.concurrent(max_inputs=...)``: the
    decorator of a provider's service class (which must itself be defined at module level of
    the app file)."""
    import modal

    def decorate(cls: _C) -> _C:
        concurrent: Any = modal.concurrent(max_inputs=settings.concurrent_inputs)
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
