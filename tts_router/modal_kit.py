"""What every provider's Modal app shares, so that each app file stays a thin shell.

A provider's ``modal_app.py`` reads its :class:`ModalSettings` from the environment at deploy
time (:meth:`ModalSettings.from_env`), then builds everything else here:

- :func:`build_image`: Debian slim + Python 3.12, system audio libraries, pinned torch and the
  provider's packages, the settings baked in as environment variables (the container imports
  the app module again and must define the same app), and the core plus the provider added
  as local Python source, so the container runs the code the tests run;
- :func:`model_volume`: the ``modal.Volume`` holding the weights, mounted at
  :attr:`ModalSettings.mount` with ``HF_HOME`` inside it;
- :func:`service_options` / :func:`download_options`: the keyword arguments of ``@app.cls`` and
  ``@app.function`` (GPU, CPU and memory reservations, timeouts, scale-down, memory
  snapshots, ``HF_HUB_OFFLINE=1`` at serve time, the optional Hugging Face token secret);
- :class:`ServiceShell`: the plain base of the service class: the protocol app for the
  ``asgi_app`` endpoint and the bytes-in/bytes-out calls behind the ``@modal.method``\\ s,
  which go through the same app in-process (same validation, same batching);
- :func:`fetch_hf_snapshot`, :func:`tree_size`: downloads into the Volume, with sizes;
- :func:`deploy_command`, :func:`run_streaming`, :func:`find_web_url`,
  :func:`create_proxy_token`, :func:`host_settings`: the ``deploy`` CLI commands;
- :func:`smoke`: health, languages and one short clone against a deployed URL, timed.

``modal`` is imported only inside functions (or for type checking): ``import tts_router``
must never import it, and this module is importable without it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    import modal
    from fastapi import FastAPI

    from .http import ServiceClient

_logger = logging.getLogger("tts_router.modal_kit")

__all__ = [
    "CORE_REQUIREMENTS",
    "DEFAULT_GPU",
    "ENV_PREFIX",
    "GPU_CAPABILITY",
    "GPU_PRICE_PER_HOUR",
    "PYTHON_VERSION",
    "SERVE_ENV",
    "TORCH_INDEX_URL",
    "TORCH_REQUIREMENTS",
    "DownloadReport",
    "ModalCommand",
    "ModalSettings",
    "Registration",
    "ServiceShell",
    "SmokeReport",
    "add_modal_arguments",
    "add_smoke_arguments",
    "app_name_for",
    "build_image",
    "cost_note",
    "create_proxy_token",
    "deploy_command",
    "deploy_flow",
    "download_options",
    "fetch_hf_snapshot",
    "find_web_url",
    "hf_cache_dir",
    "hf_snapshot_dir",
    "host_settings",
    "inspect_registration",
    "local_service",
    "modal_run_command",
    "model_volume",
    "run_modal",
    "run_streaming",
    "service_options",
    "settings_from_args",
    "smoke",
    "smoke_flow",
    "tree_size",
]

ENV_PREFIX = "TTS_ROUTER_"
PYTHON_VERSION = "3.12"
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
# memory-snapshot phase has none) what the engine's dtype policy will choose on it.
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
# PyPI's torch 2.11 wheels are built for CUDA 13 (driver >= 580); the CUDA 12.8 build runs on
# drivers >= 570 and still covers the T4 (sm_75). Override with TTS_ROUTER_MODAL_TORCH_INDEX
# ("" installs PyPI's build).
TORCH_INDEX_URL = "https://download.pytorch.org/whl/cu128"

# Environment of the serving container only: weights come from the Volume, never the Hub.
# qwen-tts calls snapshot_download(local_files_only=HF_HUB_OFFLINE) on every load of a hub id,
# so without this flag each container start would ask the Hub.
SERVE_ENV: dict[str, str] = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# Every setting: (field, environment variable, parser). The variant's variable is the
# provider's own (TTS_ROUTER_QWEN_VARIANT...), the rest are shared by every provider.
_INT_FIELDS = {
    "memory_mib": "MODAL_MEMORY",
    "scaledown_window_s": "MODAL_SCALEDOWN",
    "timeout_s": "MODAL_TIMEOUT",
    "startup_timeout_s": "MODAL_STARTUP_TIMEOUT",
    "max_containers": "MODAL_MAX_CONTAINERS",
    "min_containers": "MODAL_MIN_CONTAINERS",
    "max_batch": "MODAL_MAX_BATCH",
    "concurrent_inputs": "MODAL_CONCURRENT_INPUTS",
}
_STR_FIELDS = {
    "app_name": "MODAL_APP",
    "gpu": "GPU",
    "volume": "MODAL_VOLUME",
    "hf_secret": "MODAL_HF_SECRET",
    "torch_index": "MODAL_TORCH_INDEX",
    "model": "MODAL_MODEL",
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
    concurrent_inputs: int = 32
    """Requests one container accepts at once (``@modal.concurrent``): without it a container
    takes one request at a time and nothing could be batched."""
    model: str = ""
    """Where to load from instead of the variant's default (a directory in the Volume)."""
    hf_secret: str = ""
    """Name of a ``modal.Secret`` with ``HF_TOKEN`` for downloads; empty: none (public)."""
    torch_index: str = TORCH_INDEX_URL

    def __post_init__(self) -> None:
        if not self.app_name:
            object.__setattr__(self, "app_name", app_name_for(self.provider, self.variant))
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", self.app_name):
            raise ConfigurationError(
                f"Modal app name {self.app_name!r} must be lowercase letters, digits and dashes"
            )
        if self.cpu <= 0 or self.memory_mib <= 0:
            raise ConfigurationError("the CPU and memory reservations must be positive")
        if not 2 <= self.scaledown_window_s <= 3600:
            raise ConfigurationError("the scale-down window must be 2 to 3600 seconds (Modal)")
        if self.max_batch < 1 or self.concurrent_inputs < 1:
            raise ConfigurationError("max_batch and concurrent_inputs must be at least 1")
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
    def variant_variable(self) -> str:
        """The provider's own variable naming the variant (``TTS_ROUTER_QWEN_VARIANT``)."""
        return f"{ENV_PREFIX}{self.provider.upper()}_VARIANT"

    @property
    def price_per_hour(self) -> float | None:
        """Dollars per GPU-hour for :attr:`gpu`, where known."""
        return GPU_PRICE_PER_HOUR.get(self.gpu.split(":", 1)[0].upper())

    @property
    def capability(self) -> tuple[int, int] | None:
        """CUDA compute capability of :attr:`gpu`, where known."""
        return GPU_CAPABILITY.get(self.gpu.split(":", 1)[0].upper())

    def env(self) -> dict[str, str]:
        """The variables that reproduce these settings (ordered, strings only)."""
        values: dict[str, str] = {self.variant_variable: self.variant}
        for name, suffix in _STR_FIELDS.items():
            value = str(getattr(self, name))
            if value or _FIELD_DEFAULTS[name]:  # "" matters only where the default is not ""
                values[ENV_PREFIX + suffix] = value
        values[ENV_PREFIX + "MODAL_CPU"] = f"{self.cpu:g}"
        for name, suffix in _INT_FIELDS.items():
            values[ENV_PREFIX + suffix] = str(getattr(self, name))
        return values

    def image_env(self) -> dict[str, str]:
        """What the image sets: the settings (same app in the container) and ``HF_HOME``."""
        return {**self.env(), "HF_HOME": self.hf_home}

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
        **defaults: Any,
    ) -> ModalSettings:
        """Settings from ``TTS_ROUTER_*`` variables over the provider's defaults.

        ``TTS_ROUTER_<PROVIDER>_VARIANT`` picks the model (one of ``variants`` when given);
        ``TTS_ROUTER_GPU`` the GPU; ``TTS_ROUTER_MODAL_*`` the rest (see :meth:`env`).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"provider": provider, "volume": default_volume, **defaults}
        variant = env.get(f"{ENV_PREFIX}{provider.upper()}_VARIANT") or default_variant
        allowed = tuple(variants or ())
        if allowed and variant not in allowed:
            raise ConfigurationError(
                f"{ENV_PREFIX}{provider.upper()}_VARIANT={variant!r} is not one of "
                + ", ".join(allowed)
            )
        values["variant"] = variant
        for name, suffix in _STR_FIELDS.items():
            if (raw := env.get(ENV_PREFIX + suffix)) is not None:
                values[name] = raw.strip()
        if raw := env.get(ENV_PREFIX + "MODAL_CPU"):
            values["cpu"] = _number(raw, ENV_PREFIX + "MODAL_CPU", float)
        for name, suffix in _INT_FIELDS.items():
            if raw := env.get(ENV_PREFIX + suffix):
                values[name] = _number(raw, ENV_PREFIX + suffix, int)
        if not values.get("gpu"):
            values["gpu"] = DEFAULT_GPU
        return cls(**values)


_FIELD_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(ModalSettings) if f.default is not MISSING
}


def _number(raw: str, name: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None


def app_name_for(provider: str, variant: str) -> str:
    """``tts-router-<provider>-<variant slug>``: ``("qwen", "0.6B-Base")`` gives
    ``tts-router-qwen-0-6b-base``; an empty variant gives ``tts-router-<provider>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", variant.lower()).strip("-")
    return "-".join(part for part in ("tts-router", provider, slug) if part)


# --------------------------------------------------------------------------- Modal objects


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


# --------------------------------------------------------------------------- the service class


class ServiceShell:
    """Plain base class of a provider's ``@app.cls`` service: no Modal decorators here.

    The provider's class decorates a few one-line methods that call these (Modal requires
    the decorated class at module level of the app file). :meth:`open` takes the protocol
    app (built in the snapshot phase); :meth:`start_engine` loads the model (after the
    snapshot, with the GPU attached); the ``@modal.method`` calls go through the same app
    in-process with the core's :class:`~tts_router.http.ServiceClient`, so SDK callers get
    the same validation (bad input is a typed 4xx error before any GPU work, never a crash
    that Modal would retry), the same batching with web requests, and no 150 s web limit.
    """

    web_app: FastAPI | None = None
    provider: str = "service"
    _client: ServiceClient | None = None

    def open(self, app: FastAPI, provider: str) -> None:
        """Keep the app the ``asgi_app`` endpoint serves and the methods call."""
        self.web_app = app
        self.provider = provider
        self._client = None

    def start_engine(self) -> None:
        """Load the engine now (idempotent): the container takes inputs only afterwards, so
        requests wait for the model instead of being answered 503 ``loading``.

        A failure is logged, not raised: a container that crashed at start would be started
        again and again (each time on a billed GPU). The app's own start-up load then fails
        the same way and every request gets a fast typed error naming the cause.
        """
        try:
            self.service_app().state.worker.engine.load()
        except Exception as exc:
            _logger.error(
                "the model failed to load (%s: %s); were the weights downloaded into the "
                "Volume? (`tts-router-<provider> download`)",
                type(exc).__name__,
                exc,
            )

    def service_app(self) -> FastAPI:
        """The protocol app (the one ``@modal.asgi_app`` serves)."""
        if self.web_app is None:
            raise RuntimeError("the service app is not built yet (open() was not called)")
        return self.web_app

    def client(self) -> ServiceClient:
        """The in-process client of the app (created on first use, in the serving loop)."""
        if self._client is None:
            import httpx

            from .http import RetryOptions, ServiceClient, Timeouts

            self._client = ServiceClient(
                "http://in-process",
                provider=self.provider,
                transport=httpx.ASGITransport(app=self.service_app()),
                retry=RetryOptions(max_attempts=3, deadline=3600.0),
                timeouts=Timeouts(read=3600.0),
            )
        return self._client

    async def clone_wav(
        self,
        text: str,
        reference_audio: bytes,
        *,
        language: str = "auto",
        transcript: str | None = None,
        seed: int | None = None,
    ) -> bytes:
        """Clone through the app; the reference is stored once per container by its hash."""
        from .protocol import CloneBody

        voice_id = hashlib.sha256(reference_audio).hexdigest()
        body = CloneBody(
            text=text, language=language, voice_id=voice_id, transcript=transcript, seed=seed
        )
        response = await self.client().clone(body, reference=reference_audio)
        return response.wav

    async def design_wav(
        self, text: str, instruct: str, *, language: str = "auto", seed: int | None = None
    ) -> bytes:
        """Design through the app (a 400 ``unsupported_operation`` where it cannot)."""
        from .protocol import DesignBody

        body = DesignBody(text=text, instruct=instruct, language=language, seed=seed)
        return (await self.client().design(body)).wav

    async def health_info(self) -> dict[str, Any]:
        """``GET /health`` through the app, as a plain dict."""
        return (await self.client().health()).model_dump()


# --------------------------------------------------------------------------- downloads


@dataclass(frozen=True, slots=True)
class DownloadReport:
    """What a download left in the Volume."""

    repo_id: str
    path: str
    files: int
    bytes: int
    seconds: float

    def line(self) -> str:
        """One human line: repo, size, where."""
        return (
            f"{self.repo_id}: {self.files} files, {self.bytes / 1e9:.2f} GB "
            f"in {self.path} ({self.seconds:.0f} s)"
        )


def hf_cache_dir(hf_home: str | Path) -> Path:
    """The hub cache under ``HF_HOME`` (what ``HF_HUB_CACHE`` defaults to)."""
    return Path(hf_home) / "hub"


def hf_snapshot_dir(hf_home: str | Path, repo_id: str, revision: str) -> Path:
    """Where the hub cache keeps ``repo_id`` at commit ``revision``:
    ``HF_HOME/hub/models--ORG--NAME/snapshots/REVISION``."""
    return hf_cache_dir(hf_home) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / revision


def fetch_hf_snapshot(
    repo_id: str,
    *,
    hf_home: str | Path,
    token: str | None = None,
    revision: str | None = None,
    fetch: Callable[..., str] | None = None,
) -> DownloadReport:
    """Download ``repo_id`` into the hub cache under ``hf_home``; report what is there.

    Idempotent and resumable: ``snapshot_download`` keeps complete files and resumes
    partial ones, so running it again after a failure or on a full cache costs one listing.
    ``fetch`` replaces ``snapshot_download`` (tests).
    """
    if fetch is None:
        from huggingface_hub import snapshot_download

        fetch = snapshot_download
    started = time.perf_counter()
    path = fetch(repo_id, cache_dir=str(hf_cache_dir(hf_home)), token=token, revision=revision)
    files, size = tree_size(Path(path))
    return DownloadReport(repo_id, str(path), files, size, time.perf_counter() - started)


def tree_size(root: Path) -> tuple[int, int]:
    """Files under ``root`` and their bytes, following the cache's symlinks to blobs once."""
    seen: set[Path] = set()
    files = size = 0
    for path in sorted(root.rglob("*")):
        target = path.resolve()
        if not target.is_file() or target in seen:
            continue
        seen.add(target)
        files += 1
        size += target.stat().st_size
    return files, size


# --------------------------------------------------------------------------- deploy tooling


@dataclass(frozen=True, slots=True)
class ModalCommand:
    """A ``modal`` CLI invocation and the variables it runs with (on top of os.environ)."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        """The command as one copy-pasteable shell line, variables first."""
        assignments = [f"{name}={shlex.quote(value)}" for name, value in self.env.items()]
        return " ".join([*assignments, *(shlex.quote(arg) for arg in self.argv)])


def _modal_cli() -> tuple[str, ...]:
    # The modal of this interpreter's environment, whatever is first on PATH.
    return (sys.executable, "-m", "modal")


def deploy_command(
    module: str, settings: ModalSettings, *, environment: str | None = None
) -> ModalCommand:
    """``modal deploy -m MODULE`` with the settings' variables (the app reads them)."""
    argv = [*_modal_cli(), "deploy", "-m", module]
    if environment:
        argv += ["--env", environment]
    return ModalCommand(tuple(argv), settings.env())


def modal_run_command(
    module: str,
    function: str,
    settings: ModalSettings,
    args: Sequence[str] = (),
    *,
    environment: str | None = None,
) -> ModalCommand:
    """``modal run -m MODULE::FUNCTION ARGS`` with the settings' variables."""
    argv = [*_modal_cli(), "run"]
    if environment:
        argv += ["--env", environment]
    argv += ["-m", f"{module}::{function}", *args]
    return ModalCommand(tuple(argv), settings.env())


def run_streaming(command: ModalCommand, *, echo: Callable[[str], None] = print) -> tuple[int, str]:
    """Run ``command``, echoing its output as it comes; return its status and output."""
    lines: list[str] = []
    with subprocess.Popen(
        command.argv,
        env={**os.environ, **command.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line.rstrip("\n"))
            lines.append(line)
        status = process.wait()
    return status, "".join(lines)


_URL = re.compile(r"https://[A-Za-z0-9.-]+\.modal\.run\b")


def find_web_url(output: str) -> str | None:
    """The first ``https://...modal.run`` URL in ``modal deploy`` output, if any."""
    match = _URL.search(output)
    return match.group(0) if match else None


def create_proxy_token(name: str) -> tuple[str, str]:
    """A new Modal proxy-auth token (``wk-...``, ``ws-...``) for the host app's headers.

    The secret is shown only once, by Modal, at creation: print it to the user, store nowhere.
    """
    import modal

    token = modal.Workspace.from_context().proxy_tokens.create(name=name)
    return token.token_id, token.token_secret


def host_settings(
    url_variable: str, url: str, key: str | None = None, secret: str | None = None
) -> list[str]:
    """The ``.env`` lines a host app needs for a deployed service."""
    return [
        f"{url_variable}={url}",
        f"MODAL_KEY={key or '<wk-... from: modal workspace proxy-tokens create>'}",
        f"MODAL_SECRET={secret or '<ws-... shown once when the token is created>'}",
    ]


def cost_note(settings: ModalSettings) -> str:
    """What the deployment costs: per GPU-hour while a container runs, nothing when idle."""
    price = settings.price_per_hour
    per_hour = f"~${price:.2f} per GPU-hour" if price is not None else "see Modal's pricing"
    if settings.min_containers:
        idle = f"{settings.min_containers} container(s) kept warm: billed around the clock"
    else:
        idle = f"scales to zero {settings.scaledown_window_s} s after the last request"
    return (
        f"{settings.gpu}: {per_hour} per running container (at most "
        f"{settings.max_containers}); {idle}"
    )


# --------------------------------------------------------------------------- smoke test


@dataclass(frozen=True, slots=True)
class SmokeReport:
    """What :func:`smoke` saw."""

    health: dict[str, Any]
    languages: list[str]
    seconds: dict[str, float]
    audio_seconds: float
    model: str
    mode: str

    def lines(self) -> list[str]:
        """A short human report."""
        timing = ", ".join(f"{name} {value:.2f} s" for name, value in self.seconds.items())
        return [
            f"health: {self.health.get('status')} ({self.health.get('model')}, "
            f"{self.health.get('device')}, {self.health.get('dtype')}, "
            f"{self.health.get('attention')})",
            f"languages: {', '.join(self.languages)}",
            f"{self.mode}: {self.audio_seconds:.2f} s of audio from {self.model}",
            f"timings: {timing}",
        ]


def smoke(
    url: str,
    *,
    provider: str,
    text: str = "Hello from the smoke test.",
    language: str = "en",
    transcript: str | None = None,
    instruct: str | None = None,
    key: str | None = None,
    secret: str | None = None,
    client: ServiceClient | None = None,
) -> SmokeReport:
    """``GET /health``, ``GET /languages``, then one short clone (or a design when
    ``instruct`` is given) with a generated reference; every step timed.

    Uses the core's :class:`~tts_router.http.ServiceClient` (retries, 303s, typed errors).
    """
    return asyncio.run(
        _smoke(url, provider, text, language, transcript, instruct, key, secret, client)
    )


async def _smoke(
    url: str,
    provider: str,
    text: str,
    language: str,
    transcript: str | None,
    instruct: str | None,
    key: str | None,
    secret: str | None,
    client: ServiceClient | None,
) -> SmokeReport:
    import soundfile

    from .http import ServiceAuth, ServiceClient
    from .protocol import CloneBody, DesignBody
    from .testing import make_reference_wav

    auth = ServiceAuth(key, secret) if key and secret else None
    service = client or ServiceClient(url, provider=provider, auth=auth)
    seconds: dict[str, float] = {}
    try:
        started = time.perf_counter()
        health = await service.health()
        seconds["health"] = time.perf_counter() - started
        started = time.perf_counter()
        languages = await service.languages()
        seconds["languages"] = time.perf_counter() - started
        started = time.perf_counter()
        if instruct is not None:
            response = await service.design(
                DesignBody(text=text, instruct=instruct, language=language, seed=0)
            )
            seconds["design"] = time.perf_counter() - started
        else:
            reference = make_reference_wav(seconds=3.0)
            body = CloneBody(
                text=text,
                language=language,
                audio_base64=base64.b64encode(reference).decode(),
                transcript=transcript,
                seed=0,
            )
            response = await service.clone(body)
            seconds["clone"] = time.perf_counter() - started
    finally:
        if client is None:
            await service.aclose()
    info = soundfile.info(io.BytesIO(response.wav))
    return SmokeReport(
        health=health.model_dump(),
        languages=list(languages.languages),
        seconds=seconds,
        audio_seconds=info.frames / info.samplerate,
        model=response.model,
        mode=response.mode,
    )


# --------------------------------------------------------------------------- CLI pieces

# --flag -> (ModalSettings field, type): the deploy options every provider's CLI offers.
_DEPLOY_FLAGS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "--gpu": ("gpu", str, f"Modal GPU type (default {DEFAULT_GPU}; T4, L4, L40S, H100...)"),
    "--volume": ("volume", str, "Modal Volume holding the weights"),
    "--cpu": ("cpu", float, "physical cores reserved per container (default 4)"),
    "--memory": ("memory_mib", int, "MiB of RAM reserved per container (default 16384)"),
    "--max-containers": ("max_containers", int, "most containers at once (default 2)"),
    "--min-containers": ("min_containers", int, "containers kept warm (default 0: scale to 0)"),
    "--scaledown": ("scaledown_window_s", int, "idle seconds before a container stops"),
    "--timeout": ("timeout_s", int, "longest seconds one request may run"),
    "--hf-secret": ("hf_secret", str, "Modal Secret with HF_TOKEN (gated models only)"),
    "--app-name": ("app_name", str, "Modal app name (default from the model variant)"),
}


def add_modal_arguments(parser: Any, *, deploy: bool = True) -> None:
    """Add the Modal settings flags (and ``--env``, ``--dry-run``) to an argparse parser.

    Flags override the ``TTS_ROUTER_*`` variables, which override the provider's defaults.
    """
    for flag, (_, kind, help_text) in _DEPLOY_FLAGS.items():
        if deploy or flag in ("--volume", "--hf-secret", "--app-name", "--gpu"):
            parser.add_argument(flag, type=kind, default=None, help=help_text)
    parser.add_argument("--env", default=None, help="Modal environment (default: the profile's)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the exact command and variables only"
    )
    if deploy:
        parser.add_argument(
            "--create-proxy-token",
            action="store_true",
            help="create a Modal proxy-auth token and print MODAL_KEY/MODAL_SECRET once",
        )


def settings_from_args(settings: ModalSettings, args: Any) -> ModalSettings:
    """``settings`` with the flags given on the command line applied."""
    changes = {
        name: getattr(args, flag[2:].replace("-", "_"))
        for flag, (name, _, _) in _DEPLOY_FLAGS.items()
        if getattr(args, flag[2:].replace("-", "_"), None) is not None
    }
    return replace(settings, **changes) if changes else settings


def run_modal(
    command: ModalCommand,
    *,
    dry_run: bool,
    echo: Callable[[str], None] = print,
    runner: Callable[[ModalCommand], tuple[int, str]] | None = None,
) -> tuple[int, str]:
    """Print ``command`` and, unless ``dry_run``, run it (streaming its output)."""
    echo(f"$ {command.shell()}")
    if dry_run:
        return 0, ""
    if runner is None:
        return run_streaming(command, echo=echo)
    return runner(command)


def deploy_flow(
    module: str,
    settings: ModalSettings,
    args: Any,
    *,
    url_variable: str,
    extra: Sequence[str] = (),
    echo: Callable[[str], None] = print,
    runner: Callable[[ModalCommand], tuple[int, str]] | None = None,
) -> int:
    """``modal deploy`` the app, then print its URL and the settings a host app needs
    (``extra`` lines after them).

    With ``args.create_proxy_token`` a new proxy-auth token is created and printed once.
    """
    command = deploy_command(module, settings, environment=args.env)
    status, output = run_modal(command, dry_run=args.dry_run, echo=echo, runner=runner)
    echo(f"# cost: {cost_note(settings)}")
    if args.dry_run or status:
        if status:
            echo(f"modal deploy failed (exit status {status})")
        return status
    url = find_web_url(output)
    if url is None:
        echo("# no endpoint URL found in the output: see `modal app list` and the dashboard")
        url = "<the web endpoint URL printed above>"
    key = secret = None
    if getattr(args, "create_proxy_token", False):
        key, secret = create_proxy_token(settings.app_name)
    echo(f"# deployed {settings.app_name}; settings for the host app (.env):")
    for line in [*host_settings(url_variable, url, key, secret), *extra]:
        echo(line)
    return 0


def add_smoke_arguments(parser: Any) -> None:
    """Add the ``smoke`` command's arguments to an argparse parser."""
    parser.add_argument("url", help="base URL of the service (deployed or local)")
    parser.add_argument("--text", default="Hello from the smoke test.")
    parser.add_argument("--language", default="en")
    parser.add_argument("--transcript", default=None, help="reference transcript (ICL clone)")
    parser.add_argument("--design", default=None, metavar="INSTRUCT", help="design, not clone")


def smoke_flow(args: Any, *, provider: str, echo: Callable[[str], None] = print) -> int:
    """Run :func:`smoke` with the CLI's arguments and ``MODAL_KEY``/``MODAL_SECRET``."""
    from .errors import TTSRouterError

    try:
        report = smoke(
            args.url,
            provider=provider,
            text=args.text,
            language=args.language,
            transcript=args.transcript,
            instruct=args.design,
            key=os.environ.get("MODAL_KEY"),
            secret=os.environ.get("MODAL_SECRET"),
        )
    except TTSRouterError as exc:
        echo(f"smoke test failed: {exc.code}: {exc}")
        return 1
    for line in report.lines():
        echo(line)
    return 0


# --------------------------------------------------------------------------- read-back


@dataclass(frozen=True, slots=True)
class Registration:
    """What Modal recorded for one ``@app.cls`` or ``@app.function``, read back offline.

    For tests and reviews: the decorators' arguments end up in modal's private state (the
    function spec, the loader's closure, the image layers); :func:`inspect_registration` is
    the one place that knows where, so a change in modal breaks one function, not the tests.
    """

    gpu: Any
    cpu: Any
    memory: Any
    volumes: dict[str, str]
    """Mount path -> Volume name."""
    secrets: tuple[str, ...]
    """Named secrets (``Secret.from_name``)."""
    env: dict[str, str]
    """Variables set on the function itself (``env=``, i.e. ``Secret.from_dict``)."""
    timeout: int
    startup_timeout: int | None
    scaledown_window: int | None
    min_containers: int | None
    max_containers: int | None
    memory_snapshot: bool
    concurrent_inputs: int | None
    image_commands: tuple[str, ...]
    """Dockerfile commands of every image layer, base first."""
    local_sources: frozenset[str]
    """Packages added with ``add_local_python_source``."""
    web_endpoints: dict[str, bool]
    """Web endpoint method -> whether it requires proxy auth."""
    methods: tuple[str, ...]
    enter_snapshot: tuple[str, ...]
    enter_restore: tuple[str, ...]


def inspect_registration(obj: Any, *, builder_version: str = "2025.06") -> Registration:
    """Read back what Modal registered for a ``modal.Cls`` or ``modal.Function`` (offline)."""
    from modal._partial_function import _PartialFunctionFlags
    from modal._utils.async_utils import synchronizer

    translate: Any = synchronizer._translate_in  # untyped: the public wrapper -> the object
    raw = translate(obj)
    partials: dict[str, Any] = dict(getattr(raw, "_method_partials", None) or {})
    function = getattr(raw, "_class_service_function", None) or raw
    if hasattr(raw, "_get_partial_functions"):
        partials = dict(raw._get_partial_functions())
    spec = function._spec
    options = _closure(function._load)
    env: dict[str, str] = {}
    secrets: list[str] = []
    for secret in spec.secrets:
        inline = getattr(secret, "_load_env_dict", None)  # from_dict: resolved locally
        if inline is not None and getattr(secret, "_name", None) is None:
            env.update(inline())
        else:
            secrets.append(str(secret._name))
    autoscaler = options.get("autoscaler_settings")
    web = {
        name: bool(p.params.webhook_config.requires_proxy_auth)
        for name, p in partials.items()
        if p.params.webhook_config is not None and p.params.webhook_config.type
    }
    flags = _PartialFunctionFlags
    return Registration(
        gpu=spec.gpus,
        cpu=spec.cpu,
        memory=spec.memory,
        volumes={str(path): str(vol._name) for path, vol in spec.volumes.items()},
        secrets=tuple(secrets),
        env=env,
        timeout=int(options["timeout"]),
        startup_timeout=options.get("startup_timeout"),
        scaledown_window=getattr(autoscaler, "scaledown_window", None),
        min_containers=getattr(autoscaler, "min_containers", None),
        max_containers=getattr(autoscaler, "max_containers", None),
        memory_snapshot=bool(options.get("enable_memory_snapshot")),
        concurrent_inputs=options.get("max_concurrent_inputs"),
        image_commands=_image_commands(spec.image, builder_version),
        local_sources=frozenset(getattr(spec.image, "_added_python_source_set", ())),
        web_endpoints=web,
        methods=tuple(name for name, p in partials.items() if p.flags & flags.CALLABLE_INTERFACE),
        enter_snapshot=tuple(
            name for name, p in partials.items() if p.flags & flags.ENTER_PRE_SNAPSHOT
        ),
        enter_restore=tuple(
            name for name, p in partials.items() if p.flags & flags.ENTER_POST_SNAPSHOT
        ),
    )


def _closure(function: Any) -> dict[str, Any]:
    cells = function.__closure__ or ()
    return {
        name: cell.cell_contents
        for name, cell in zip(function.__code__.co_freevars, cells, strict=True)
    }


def _image_commands(image: Any, builder_version: str) -> tuple[str, ...]:
    layers: list[tuple[str, ...]] = []
    while image is not None:
        closure = _closure(image._load)
        dockerfile = closure.get("dockerfile_function")
        if dockerfile is not None:
            layers.append(tuple(dockerfile(builder_version).commands))
        bases = closure.get("base_images") or {}
        image = closure.get("base_image") or next(iter(bases.values()), None)
    return tuple(command for layer in reversed(layers) for command in layer)


def local_service(modal_cls: Any) -> tuple[Any, dict[str, Callable[..., Any]]]:
    """An instance of the class behind a ``modal.Cls`` and its decorated methods as plain
    bound functions: the container's code path (enter, snapshot enter, web, methods), run
    locally. For tests; like :func:`inspect_registration` it reads modal's private state."""
    from modal._utils.async_utils import synchronizer

    translate: Any = synchronizer._translate_in
    raw = translate(modal_cls)
    instance = raw._user_cls()
    methods = {
        name: partial.raw_f.__get__(instance)
        for name, partial in raw._get_partial_functions().items()
    }
    return instance, methods
