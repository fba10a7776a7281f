"""Whether a deployment's Volume holds its weights, checked before ``modal deploy``.

A deploy made before the download bakes a memory snapshot without the model: every cold start
then reloads from the Volume until the next deploy, and a container without weights answers
every request with ``load_failed``. ``deploy`` therefore lists the Volume first and refuses,
naming the download command, when files are missing.

- :class:`VolumeWeights`: the files one deployment needs, as glob patterns relative to the
  Volume's root (each provider's app says which: ``volume_weights(settings)``);
- :func:`listing_prefixes`: the directories to list for those patterns;
- :func:`missing_weights`: the patterns no listed file matches (pure);
- :func:`list_volume`: the listing, from Modal (the one call to Modal's cloud here);
- :func:`volume_path`: a path in the container as a path in the Volume.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import ConfigurationError
from .settings import ModalSettings

__all__ = [
    "VolumeLister",
    "VolumeWeights",
    "list_volume",
    "listing_prefixes",
    "missing_weights",
    "volume_path",
]

# (volume name, path prefixes, Modal environment or None) -> every file path under them.
VolumeLister = Callable[[str, Sequence[str], "str | None"], list[str]]


@dataclass(frozen=True, slots=True)
class VolumeWeights:
    """The files one deployment needs in its Volume, and the command that fetches them."""

    label: str
    """What they are, for messages (``Qwen/Qwen3-TTS-12Hz-0.6B-Base``)."""
    patterns: tuple[str, ...]
    """Glob patterns relative to the Volume's root; each must match at least one file."""
    fetch: str
    """The command that downloads them (``tts-router-qwen download --model 0.6B-Base``)."""


def volume_path(settings: ModalSettings, path: str) -> str:
    """``path`` (absolute, in the container) relative to the Volume's root; a
    ConfigurationError when it is not inside the Volume (a local path would break the
    container: it does not exist there)."""
    mount = settings.mount.rstrip("/")
    if not path.startswith(mount + "/"):
        raise ConfigurationError(
            f"{path!r} is not inside the Volume (mounted at {mount} in the container); the "
            f"model directory must be a path below {mount}, e.g. {mount}/my-model"
        )
    return path[len(mount) + 1 :].strip("/")


def listing_prefixes(patterns: Iterable[str]) -> list[str]:
    """The directories to list: the deepest directory above every pattern's first wildcard
    when they share one (one listing), else each pattern's own, without duplicates."""
    prefixes: set[str] = set()
    for pattern in patterns:
        static = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        prefixes.add(static.rsplit("/", 1)[0] if "/" in static else "")
    if len(prefixes) <= 1:
        return sorted(prefixes)
    if common := posixpath.commonpath(sorted(prefixes)):
        return [common]
    kept: list[str] = []
    for prefix in sorted(prefixes, key=lambda p: (len(p), p)):
        if not any(prefix == k or prefix.startswith(k + "/") or not k for k in kept):
            kept.append(prefix)
    return kept


def missing_weights(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The patterns that no path matches (paths relative to the Volume's root)."""
    present = [path.strip("/") for path in paths]
    return [p for p in patterns if not any(fnmatch.fnmatchcase(path, p) for path in present)]


def list_volume(volume: str, prefixes: Sequence[str], environment: str | None) -> list[str]:
    """Every file and link under ``prefixes`` in the Volume (empty when the Volume or a
    prefix does not exist yet). Talks to Modal: needs its credentials."""
    import modal
    from modal.exception import NotFoundError

    handle = modal.Volume.from_name(volume, environment_name=environment)
    paths: list[str] = []
    for prefix in prefixes:
        try:
            entries = handle.listdir(prefix or "/", recursive=True)
        except (NotFoundError, FileNotFoundError):
            continue
        paths += [entry.path for entry in entries]
    return paths
