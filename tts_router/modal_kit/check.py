"""The providers' ``check`` command: the image's requirement set against the lock, and the app
module imported under the container's Python, all before anything reaches Modal.

:func:`check_flow` (the command; flags from :func:`add_check_arguments`):

1. the provider's generated requirement set (:class:`ImageSpec`) must equal ``uv export`` of
   the lock, exactly pinned (``--write`` regenerates it);
2. a fresh virtual environment on the container's Python (3.12, found or installed by uv:
   :func:`find_python`) gets the requirement set (``--no-deps``: exactly the lock), the core
   and the provider as plain source (as ``add_local_python_source`` adds them), and imports
   the app module with the deployment's variables, as the container does. By default the set
   is the ``modal`` extra's (what importing the app module needs: seconds, megabytes);
   ``--full`` installs the whole image set (torch, the engine: gigabytes, from PyPI or uv's
   cache) and imports the engine too.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ConfigurationError
from .image import PYTHON_VERSION
from .lock import (
    Pin,
    _last_line,
    _run,
    export_requirements,
    find_lock,
    locked_versions,
    parse_pins,
    render_module,
    uv_command,
)
from .settings import ENV_PREFIX, ModalSettings

__all__ = ["ImageSpec", "add_check_arguments", "check_flow", "find_python", "import_check"]


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One provider's image: what it installs and how the container imports it."""

    package: str
    """The distribution whose locked closure the image installs (``tts-router-qwen-modal``)."""
    extras: tuple[str, ...]
    """Its extras in the image (``("engine",)``)."""
    requirements: tuple[str, ...]
    """The generated set (``image_requirements.REQUIREMENTS``)."""
    module_file: Path
    """The generated module (``--write`` rewrites it)."""
    command: str
    """How users regenerate it (``tts-router-qwen check --write``)."""
    app_module: str
    """The Modal app module (``tts_router_qwen_modal.modal_app``)."""
    source_packages: tuple[str, ...]
    """Packages the image adds as local source (``("tts_router", "tts_router_qwen_modal")``)."""
    engine_modules: tuple[str, ...] = ()
    """Imported too with ``--full`` (``("torch", "qwen_tts", ...)``)."""

    @classmethod
    def of(cls, generated: ModuleType, script: str, app_module: str, engine: str) -> ImageSpec:
        """The spec of a provider: its generated module (``image_requirements``), its CLI
        ``script`` (``tts-router-qwen``), its app module, and its engine's module
        (``qwen_tts``), which ``--full`` imports with torch, torchaudio and the provider's
        ``service``; the image adds the core and the provider's package as source."""
        package = app_module.split(".", 1)[0]
        return cls(
            package=generated.PACKAGE,
            extras=tuple(generated.EXTRAS),
            requirements=tuple(generated.REQUIREMENTS),
            module_file=Path(str(generated.__file__)),
            command=f"{script} check --write",
            app_module=app_module,
            source_packages=("tts_router", package),
            engine_modules=("torch", "torchaudio", engine, f"{package}.service"),
        )


def add_check_arguments(parser: Any) -> None:
    """The ``check`` command's flags."""
    parser.add_argument(
        "--write", action="store_true", help="regenerate the image's requirement set from uv.lock"
    )
    parser.add_argument(
        "--python",
        default=PYTHON_VERSION,
        help=f"interpreter for the import check: a version uv finds or installs, or a path "
        f"(default {PYTHON_VERSION}, the container's)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="install the whole image set (torch...: GBs) and import the engine as well",
    )
    parser.add_argument(
        "--offline", action="store_true", help="install from uv's cache only (no network)"
    )


def find_python(request: str) -> str:
    """The interpreter for ``request``: a path as it is, else ``uv python find`` (and, when
    that finds none, ``uv python install``, which needs downloads allowed and reachable).
    A ConfigurationError saying what failed and how to pass one otherwise."""
    if os.sep in request or "/" in request:
        if not Path(request).is_file():
            raise ConfigurationError(f"--python {request}: no such file")
        return request
    uv = uv_command()
    found = _run([*uv, "python", "find", request])
    if found.returncode == 0:
        return found.stdout.strip()
    installed = _run([*uv, "python", "install", request])
    if installed.returncode == 0:
        found = _run([*uv, "python", "find", request])
        if found.returncode == 0:
            return found.stdout.strip()
    raise ConfigurationError(
        f"Python {request} is not available here: `uv python find {request}` found none, and "
        f"`uv python install {request}` failed ({_last_line(installed)}); pass --python "
        "/path/to/python"
    )


def _source_tree(packages: Sequence[str], into: Path) -> Path:
    """A directory holding (links to) ``packages``: what ``add_local_python_source`` puts on
    the container's path, and nothing else."""
    into.mkdir(parents=True, exist_ok=True)
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigurationError(f"package {name} is not importable here")
        (into / name).symlink_to(Path(next(iter(spec.submodule_search_locations))))
    return into


def import_check(
    spec: ImageSpec,
    settings: ModalSettings,
    pins: Sequence[Pin],
    *,
    python: str,
    full: bool,
    offline: bool = False,
    extra_requirements: Sequence[str] = (),
) -> dict[str, Any]:
    """Install ``pins`` (``--no-deps``) and ``extra_requirements`` (resolved) into a fresh
    environment on ``python``, then import the app module (and with ``full`` the engine
    modules) there under the deployment's variables; what that interpreter reported."""
    uv = uv_command()
    offline_flag = ["--offline"] if offline else []
    with tempfile.TemporaryDirectory(prefix="tts-router-check-") as tmp:
        root = Path(tmp)
        made = _run([*uv, "venv", "--quiet", "--python", python, str(root / "venv")])
        if made.returncode:
            raise ConfigurationError(f"uv venv failed: {_last_line(made)}")
        interpreter = str(root / "venv" / "bin" / "python")
        requirements = root / "requirements.txt"
        requirements.write_text("".join(pin.line() + "\n" for pin in pins))
        installs = [["--no-deps", "-r", str(requirements)]]
        if extra_requirements:
            installs.append(list(extra_requirements))
        for install in installs:
            done = _run(
                [*uv, "pip", "install", "--quiet", *offline_flag, "--python", interpreter, *install]
            )
            if done.returncode:
                raise ConfigurationError(
                    f"installing the requirement set failed: {_last_line(done)}"
                )
        source = _source_tree(spec.source_packages, root / "src")
        modules = [spec.app_module, *(spec.engine_modules if full else ())]
        code = (
            "import importlib, json, sys\n"
            f"modules = {modules!r}\n"
            "app = importlib.import_module(modules[0]).app\n"
            "for name in modules[1:]:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps({'python': sys.version.split()[0], 'app': app.name,"
            " 'modules': modules}))\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith((ENV_PREFIX, "PYTHON"))}
        env |= settings.image_env() | {"PYTHONPATH": str(source), "PYTHONNOUSERSITE": "1"}
        done = _run([interpreter, "-c", code], env=env, cwd=tmp, timeout=900)
        if done.returncode:
            raise ConfigurationError(
                f"importing {spec.app_module} under {python} failed: {_last_line(done)}"
            )
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return report


def check_flow(
    args: Any,
    spec: ImageSpec,
    settings: ModalSettings,
    *,
    echo: Callable[[str], None] = print,
    cwd: Path | None = None,
) -> int:
    """The ``check`` command (see the module doc); 0 when everything holds, 1 otherwise."""
    pins = parse_pins(spec.requirements)
    lock = find_lock(cwd or Path.cwd()) or find_lock(spec.module_file.parent)
    if lock is None:
        echo("# no uv.lock here or above the package: the packaged set is checked as it is")
    else:
        fresh = export_requirements(spec.package, spec.extras, lock)
        if fresh != pins:
            if not args.write:
                old, new = {p.line() for p in pins}, {p.line() for p in fresh}
                for line in sorted(old - new):
                    echo(f"- {line}")
                for line in sorted(new - old):
                    echo(f"+ {line}")
                echo(f"the image's requirement set is stale against {lock}: run `{spec.command}`")
                return 1
            spec.module_file.write_text(
                render_module(spec.package, spec.extras, fresh, spec.command)
            )
            echo(f"wrote {spec.module_file} ({len(fresh)} pins)")
            pins = fresh
        versions = locked_versions(lock)
        unlocked = [pin.line() for pin in pins if pin.version not in versions.get(pin.name, ())]
        if unlocked:
            echo("not in the lock: " + ", ".join(unlocked))
            return 1
        echo(f"image requirements: {len(pins)} exact pins, as {lock.name} resolves them")
    if not args.full and lock is None:
        echo("# the import check needs uv.lock (a repository checkout) or --full")
        return 0
    python = find_python(args.python)
    install: list[Pin] = list(pins) if args.full else []
    extra: list[str] = []
    if lock is not None:
        modal_set = export_requirements(spec.package, ("modal",), lock)
        install += [pin for pin in modal_set if pin not in install]
    else:  # --full without a lock: modal itself, resolved
        extra.append(f"modal=={importlib.metadata.version('modal')}")
    report = import_check(
        spec,
        settings,
        install,
        python=python,
        full=args.full,
        offline=args.offline,
        extra_requirements=extra,
    )
    modules = ", ".join(report["modules"])
    echo(f"imported {modules} under Python {report['python']}: app {report['app']}")
    if not str(report["python"]).startswith(PYTHON_VERSION + "."):
        echo(f"# note: the container runs Python {PYTHON_VERSION}; this was {report['python']}")
    return 0
