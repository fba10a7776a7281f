"""One deployment's settings: which model, on what GPU, how it scales, and what that costs.

:class:`ModalSettings` is read from the ``TTS_ROUTER_*`` variables at deploy time
(:meth:`ModalSettings.from_env`) and turned back into them (:meth:`ModalSettings.env`), so the
container, which imports the app module again, defines the very same app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any

from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_GPU",
    "ENV_PREFIX",
    "GPU_CAPABILITY",
    "GPU_MEMORY_GIB",
    "GPU_PRICE_PER_HOUR",
    "TORCH_INDEX_URL",
    "VOICES_DIR_VARIABLE",
    "ModalSettings",
    "app_name_for",
    "gpu_type",
    "setting_variables",
    "variable_for",
]

ENV_PREFIX = "TTS_ROUTER_"
VOICES_DIR_VARIABLE = ENV_PREFIX + "VOICES_DIR"
DEFAULT_GPU = "A10G"

# Dollars per GPU-hour on Modal (../shared/FACTS.md). A scaled-to-zero app costs nothing idle;
# each container bills from start until `scaledown_window` seconds after its last request.
GPU_PRICE_PER_HOUR: dict[str, float] = {
    "T4": 0.59,
    "L4": 0.80,
    "A10G": 1.10,
    "L40S": 1.95,
    "H100": 3.95,
}

# CUDA compute capability per Modal GPU type: lets code decide before a GPU is attached (the
# memory-snapshot phase has none) what the engine's load plan will choose on it.
GPU_CAPABILITY: dict[str, tuple[int, int]] = {
    "T4": (7, 5),
    "L4": (8, 9),
    "A10G": (8, 6),
    "L40S": (8, 9),
    "A100": (8, 0),
    "A100-40GB": (8, 0),
    "A100-80GB": (8, 0),
    "H100": (9, 0),
    "H200": (9, 0),
    "B200": (10, 0),
}

# GPU memory per Modal GPU type, nominal GiB (Modal's GPU docs: T4 16, L4 24, A10G 24, A100
# 40 or 80; the vendors' specifications for the others): what a deployment's weights are
# checked against before it is deployed.
GPU_MEMORY_GIB: dict[str, int] = {
    "T4": 16,
    "L4": 24,
    "A10G": 24,
    "L40S": 48,
    "A100": 40,
    "A100-40GB": 40,
    "A100-80GB": 80,
    "H100": 80,
    "H200": 141,
}

# The image installs torch from uv.lock: PyPI's torch 2.11 wheels, built for CUDA 13 (driver
# >= 580, Turing/T4 and newer). For hosts with an older driver, TTS_ROUTER_MODAL_TORCH_INDEX set
# to this index installs the CUDA 12.8 build of the same version instead (driver >= 570); the
# torch family then comes from that index, everything else still from the lock.
TORCH_INDEX_URL = "https://download.pytorch.org/whl/cu128"

# Every setting but the variant: field -> (its variable's suffix, type). The variant's variable
# is the provider's own (TTS_ROUTER_QWEN_VARIANT...), these are shared by every provider.
_VARIABLES: dict[str, tuple[str, type[Any]]] = {
    "app_name": ("MODAL_APP", str),
    "gpu": ("GPU", str),
    "volume": ("MODAL_VOLUME", str),
    "hf_secret": ("MODAL_HF_SECRET", str),
    "torch_index": ("MODAL_TORCH_INDEX", str),
    "model": ("MODAL_MODEL", str),
    "cpu": ("MODAL_CPU", float),
    "memory_mib": ("MODAL_MEMORY", int),
    "scaledown_window_s": ("MODAL_SCALEDOWN", int),
    "timeout_s": ("MODAL_TIMEOUT", int),
    "startup_timeout_s": ("MODAL_STARTUP_TIMEOUT", int),
    "max_containers": ("MODAL_MAX_CONTAINERS", int),
    "min_containers": ("MODAL_MIN_CONTAINERS", int),
    "max_batch": ("MODAL_MAX_BATCH", int),
    "merge_window_ms": ("MODAL_MERGE_WINDOW_MS", int),
    "torch_threads": ("MODAL_TORCH_THREADS", int),
    "concurrent_inputs": ("MODAL_CONCURRENT_INPUTS", int),
    "target_inputs": ("MODAL_TARGET_INPUTS", int),
}


@dataclass(frozen=True, slots=True)
class ModalSettings:
    """One deployment of one provider: which model, on what, and how it scales.

    Build it with :meth:`from_env` (the deploy-time environment) and turn it back into
    environment variables with :meth:`env` (what ``deploy`` sets, and what the image bakes in
    so the container defines the very same app).
    """

    provider: str
    """The provider id (``qwen``, ``echo``): names the variables and the app."""
    variant: str
    """The provider's model choice (``0.6B-Base``...); part of the app name."""
    volume: str
    """Name of the ``modal.Volume`` holding the weights (created on first deploy)."""
    app_name: str = ""
    """Empty: derived from provider and variant (:func:`app_name_for`)."""
    gpu: str = DEFAULT_GPU
    mount: str = "/models"
    cpu: float = 4.0
    """Physical cores reserved: generation is CPU-launch-bound, Modal's default is 0.125."""
    memory_mib: int = 16384
    """RAM reserved: the model is loaded into CPU memory before the snapshot."""
    scaledown_window_s: int = 300
    """Idle seconds before a container stops (billing stops with it)."""
    timeout_s: int = 900
    """Longest a single input may run (web requests still answer 303 after 150 s)."""
    startup_timeout_s: int = 1200
    """Longest a container may take to start (the first start builds the snapshot)."""
    max_containers: int = 2
    """Upper bound on concurrent GPUs: the bill's upper bound too."""
    min_containers: int = 0
    """0 scales to zero when idle; 1 keeps one warm GPU billed around the clock."""
    max_batch: int = 16
    """Clone jobs generated together in one engine call."""
    merge_window_ms: int = 50
    """After a batch, the longest wait (adaptive) for the clients it answered, so steady load
    merges into full batches; 0: never (see ``tts_router.serving.worker.MergeWindow``)."""
    torch_threads: int = 0
    """torch's CPU threads in the container; 0: torch's default."""
    concurrent_inputs: int = 32
    """The most requests one container accepts at once (``@modal.concurrent(max_inputs=)``):
    the burst cap, reached only when no further container can start (``max_containers``).
    Without it a container takes one request at a time and nothing could be batched."""
    target_inputs: int = 0
    """Requests per container Modal's autoscaler aims for (``target_inputs``) before it starts
    another container; 0: :attr:`max_batch` (one engine batch per container, see
    :attr:`autoscale_target`)."""
    model: str = ""
    """Where to load from instead of the variant's default (a directory in the Volume)."""
    hf_secret: str = ""
    """Name of a ``modal.Secret`` with ``HF_TOKEN`` for downloads; empty: none (public)."""
    torch_index: str = ""
    """A wheel index for the torch family (e.g. :data:`TORCH_INDEX_URL`); empty: the lock's."""

    def __post_init__(self) -> None:
        if not self.app_name:
            object.__setattr__(self, "app_name", app_name_for(self.provider, self.variant))
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", self.app_name):
            raise ConfigurationError(
                f"Modal app name {self.app_name!r} must be lowercase letters, digits and dashes"
            )
        if not self.volume:
            raise ConfigurationError(
                f"{ENV_PREFIX}MODAL_VOLUME is empty: name the Modal Volume for the weights, "
                "or unset it for the provider's default"
            )
        if self.cpu <= 0 or self.memory_mib <= 0:
            raise ConfigurationError("the CPU and memory reservations must be positive")
        if not 2 <= self.scaledown_window_s <= 3600:
            raise ConfigurationError("the scale-down window must be 2 to 3600 seconds (Modal)")
        if self.max_batch < 1 or self.concurrent_inputs < 1 or self.target_inputs < 0:
            raise ConfigurationError(
                "max_batch and concurrent_inputs must be at least 1, target_inputs at least 0"
            )
        if self.merge_window_ms < 0 or self.torch_threads < 0:
            raise ConfigurationError("merge_window_ms and torch_threads must be at least 0")
        if self.target_inputs > self.concurrent_inputs:
            raise ConfigurationError(
                f"target_inputs ({self.target_inputs}) cannot exceed concurrent_inputs "
                f"({self.concurrent_inputs}): the target is what a container holds before "
                "Modal scales out, the concurrency its burst cap"
            )
        if self.min_containers > self.max_containers or self.max_containers < 1:
            raise ConfigurationError("need 1 <= max_containers and min <= max containers")
        if not self.mount.startswith("/") or self.mount == "/":
            raise ConfigurationError("the Volume mount must be an absolute path below /")

    # -- derived values --------------------------------------------------------------------

    @property
    def hf_home(self) -> str:
        """``HF_HOME`` in the container: inside the Volume, so downloads persist."""
        return f"{self.mount}/hf"

    @property
    def autoscale_target(self) -> int:
        """The ``target_inputs`` Modal gets: :attr:`target_inputs`, or :attr:`max_batch` when
        0, never above :attr:`concurrent_inputs`.

        The engine generates at most ``max_batch`` clone jobs per call on one worker thread;
        a container holding more makes the rest wait a whole batch, and that wait counts
        toward Modal's 150 s web limit and :attr:`timeout_s`. Aiming at one batch per
        container makes Modal start another container (up to :attr:`max_containers`) before
        requests queue inside one.
        """
        return min(self.target_inputs or self.max_batch, self.concurrent_inputs)

    def serving_options(self) -> dict[str, Any]:
        """The :func:`tts_router.serving.create_app` keyword arguments these settings choose
        (batching); ``torch_threads`` is the app module's to apply, where torch is imported."""
        return {"max_batch": self.max_batch, "merge_window_s": self.merge_window_ms / 1000}

    @property
    def price_per_hour(self) -> float | None:
        """Dollars per GPU-hour for :attr:`gpu`, where known."""
        return GPU_PRICE_PER_HOUR.get(gpu_type(self.gpu))

    @property
    def capability(self) -> tuple[int, int] | None:
        """CUDA compute capability of :attr:`gpu`, where known."""
        return GPU_CAPABILITY.get(gpu_type(self.gpu))

    def env(self) -> dict[str, str]:
        """The variables that reproduce these settings (ordered, strings only)."""
        values: dict[str, str] = {variable_for(self.provider, "variant"): self.variant}
        for name, (suffix, kind) in _VARIABLES.items():
            value = getattr(self, name)
            # An empty string matters only where the default is not empty.
            if kind is not str or value or _FIELD_DEFAULTS[name]:
                values[ENV_PREFIX + suffix] = f"{value:g}" if kind is float else str(value)
        return values

    @property
    def voices_dir(self) -> str:
        """Where the service keeps uploaded voices: in the Volume, so they survive a scale to
        zero and every container shares them."""
        return f"{self.mount}/voices"

    def image_env(self) -> dict[str, str]:
        """What the image sets: the settings (same app in the container), ``HF_HOME`` and
        the voice directory (see :mod:`.voices`)."""
        return {**self.env(), "HF_HOME": self.hf_home, VOICES_DIR_VARIABLE: self.voices_dir}

    def with_changes(self, **changes: Any) -> ModalSettings:
        """A copy with fields changed; a derived app name follows a new variant, a name
        chosen explicitly stays."""
        derived = self.app_name == app_name_for(self.provider, self.variant)
        if "app_name" not in changes and derived:
            changes["app_name"] = ""
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls,
        provider: str,
        *,
        default_variant: str,
        default_volume: str,
        variants: Iterable[str] | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> ModalSettings:
        """Settings from ``TTS_ROUTER_*`` variables over the provider's defaults.

        ``TTS_ROUTER_<PROVIDER>_VARIANT`` picks the model (one of ``variants`` when given);
        ``TTS_ROUTER_GPU`` the GPU; ``TTS_ROUTER_MODAL_*`` the rest (see :meth:`env`).
        ``overrides`` (a CLI's choice of variant...) are applied last, with :meth:`with_changes`.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"provider": provider, "volume": default_volume}
        variant_variable = variable_for(provider, "variant")
        variant = env.get(variant_variable) or default_variant
        allowed = tuple(variants or ())
        if allowed and variant not in allowed:
            raise ConfigurationError(
                f"{variant_variable}={variant!r} is not one of " + ", ".join(allowed)
            )
        values["variant"] = variant
        for name, (suffix, kind) in _VARIABLES.items():
            raw = env.get(ENV_PREFIX + suffix)
            if kind is str and raw is not None:
                values[name] = raw.strip()
            elif kind is not str and raw:  # an empty number is unset
                try:
                    values[name] = kind(raw.strip())
                except ValueError:
                    message = f"{ENV_PREFIX}{suffix} must be a number, not {raw!r}"
                    raise ConfigurationError(message) from None
        if not values.get("gpu"):
            values["gpu"] = DEFAULT_GPU
        settings = cls(**values)
        return settings.with_changes(**overrides) if overrides else settings


_FIELD_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(ModalSettings) if f.default is not MISSING
}


def variable_for(provider: str, field: str) -> str:
    """The variable that sets ``field`` of ``provider``'s settings (``"gpu"`` ->
    ``TTS_ROUTER_GPU``, ``"variant"`` -> ``TTS_ROUTER_QWEN_VARIANT``)."""
    if field == "variant":
        return f"{ENV_PREFIX}{provider.upper()}_VARIANT"
    return ENV_PREFIX + _VARIABLES[field][0]


def setting_variables(provider: str) -> tuple[str, ...]:
    """Every variable :meth:`ModalSettings.from_env` reads for ``provider``: the ones that
    change a deployment (``TTS_ROUTER_QWEN_VARIANT``, ``TTS_ROUTER_GPU``, ...)."""
    return (variable_for(provider, "variant"), *(ENV_PREFIX + s for s, _ in _VARIABLES.values()))


def gpu_type(gpu: str) -> str:
    """The type of a Modal GPU request, as the tables here name it: ``a10g:2`` -> ``A10G``."""
    return gpu.split(":", 1)[0].upper()


def app_name_for(provider: str, variant: str) -> str:
    """``tts-router-<provider>-<variant slug>``: ``("qwen", "0.6B-Base")`` gives
    ``tts-router-qwen-0-6b-base``; an empty variant gives ``tts-router-<provider>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", variant.lower()).strip("-")
    return "-".join(part for part in ("tts-router", provider, slug) if part)
