"""The image's Python packages, exactly as ``uv.lock`` resolves them.

A provider keeps its image's requirement set in a generated module (``image_requirements.py``:
:data:`REQUIREMENTS`-style pins with environment markers, made by :func:`render_module` from
``uv export``), so a deployment installs what the tests ran, whether it is deployed from this
repository or from an installed wheel (which has no lock). The provider's ``check`` command
regenerates it (:func:`export_requirements`) and says when it is stale.

- :class:`Pin`, :func:`parse_pins`: ``name==version ; marker`` lines, refusing anything else;
- :func:`find_lock`, :func:`locked_versions`: the lock and the versions it holds per package;
- :func:`export_requirements`: ``uv export --frozen`` for one package and its extras (offline);
- :func:`render_module`: the generated module's source;
- :func:`system_packages`: the Debian packages a requirement set needs (FFmpeg for torchcodec,
  sox for the sox wrapper).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

__all__ = [
    "SYSTEM_PACKAGES",
    "Pin",
    "export_requirements",
    "find_lock",
    "locked_versions",
    "normalize_name",
    "parse_pins",
    "render_module",
    "system_packages",
    "uv_command",
]

# Python package -> the Debian packages it needs at run time (the wheels do not carry them).
SYSTEM_PACKAGES: dict[str, tuple[str, ...]] = {
    "soundfile": ("libsndfile1",),
    # The `sox` wrapper (qwen-tts imports it) runs the sox program and warns at import without it.
    "sox": ("sox",),
    # torchcodec (torchaudio's loader, echo-tts) links FFmpeg's shared libraries (4 to 8).
    "torchcodec": ("ffmpeg",),
}

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)\s*(?:;\s*(?P<marker>.+))?$"
)


def normalize_name(name: str) -> str:
    """A distribution name as the lock spells it (PEP 503: lower case, runs of ``-_.`` -> ``-``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, slots=True)
class Pin:
    """One exact requirement: ``name==version``, installed where ``marker`` holds."""

    name: str
    version: str
    marker: str = ""

    def line(self) -> str:
        """The requirement as ``uv pip install`` takes it."""
        return f"{self.name}=={self.version}" + (f" ; {self.marker}" if self.marker else "")


def parse_pins(lines: Iterable[str]) -> list[Pin]:
    """Every requirement line as a :class:`Pin`; comments and blank lines are skipped.

    Anything but an exact pin (a range, a URL, an option such as ``-e``) is a
    :class:`~tts_router.errors.ConfigurationError`: the image must install exactly the lock.
    """
    pins = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match is None:
            raise ConfigurationError(f"not an exact pin (name==version): {line!r}")
        pins.append(
            Pin(normalize_name(match["name"]), match["version"], (match["marker"] or "").strip())
        )
    return pins


def find_lock(start: Path) -> Path | None:
    """The ``uv.lock`` in ``start`` or the nearest directory above it, if any."""
    for directory in (start, *start.parents):
        if (directory / "uv.lock").is_file():
            return directory / "uv.lock"
    return None


def locked_versions(lock: Path) -> dict[str, set[str]]:
    """Package name -> every version the lock holds (several where markers fork it)."""
    versions: dict[str, set[str]] = {}
    for package in tomllib.loads(lock.read_text()).get("package", []):
        versions.setdefault(normalize_name(package["name"]), set()).add(str(package["version"]))
    return versions


def _run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    return ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]


def uv_command() -> tuple[str, ...]:
    """How to run uv here: ``$UV`` (set by ``uv run``), ``uv`` on PATH, this interpreter's
    ``uv`` package, else the ``python3`` on PATH with ``-m uv``; a ConfigurationError naming
    the install when none works."""
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return (candidate,)
    if importlib.util.find_spec("uv") is not None:
        return (sys.executable, "-m", "uv")
    python3 = shutil.which("python3")
    if python3 is not None and _run([python3, "-m", "uv", "--version"]).returncode == 0:
        return (python3, "-m", "uv")
    raise ConfigurationError(
        "this command needs uv (pip install uv): it reads the requirement set from uv.lock"
    )


def export_requirements(package: str, extras: Sequence[str], lock: Path) -> list[Pin]:
    """``uv export --frozen`` of ``package`` with ``extras`` from ``lock``: every locked
    dependency (workspace members left out: the image adds them as local source), exact
    versions, markers kept (they select the container's Python and platform). Offline."""
    argv = [*uv_command(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-header"]
    argv += ["--no-annotate", "--no-emit-workspace", "--format", "requirements-txt"]
    argv += ["--package", package]
    for extra in extras:
        argv += ["--extra", extra]
    done = _run(argv, cwd=lock.parent, env={**os.environ, "UV_OFFLINE": "1"})
    if done.returncode:
        raise ConfigurationError(f"uv export failed for {package}: {_last_line(done)}")
    return parse_pins(done.stdout.splitlines())


def render_module(package: str, extras: Sequence[str], pins: Sequence[Pin], command: str) -> str:
    """The source of a provider's generated ``image_requirements.py``."""
    spec = f"{package}[{','.join(extras)}]" if extras else package
    # As ruff formats a short tuple of strings: ("a",) or ("a", "b") or ().
    quoted = [json.dumps(extra) for extra in extras]
    extras_source = f"({quoted[0]},)" if len(quoted) == 1 else f"({', '.join(quoted)})"
    lines = [
        f'"""The Modal image\'s Python packages: {spec} exactly as uv.lock resolves them.',
        "",
        "Generated from the lock; do not edit. Regenerate (and check) with::",
        "",
        f"    {command}",
        "",
        "Markers select what the container's Python 3.12 on Linux installs.",
        '"""',
        "",
        "# ruff: noqa: E501",
        "",
        f"PACKAGE = {json.dumps(package)}",
        f"EXTRAS: tuple[str, ...] = {extras_source}",
        "REQUIREMENTS: tuple[str, ...] = (",
        *(f"    {json.dumps(pin.line())}," for pin in pins),
        ")",
        "",
    ]
    return "\n".join(lines)


def system_packages(pins: Iterable[Pin], base: Sequence[str] = ()) -> tuple[str, ...]:
    """``base`` plus the Debian packages the pinned Python packages need, in a stable order."""
    needed = dict.fromkeys(base)
    for pin in pins:
        needed.update(dict.fromkeys(SYSTEM_PACKAGES.get(pin.name, ())))
    return tuple(needed)
