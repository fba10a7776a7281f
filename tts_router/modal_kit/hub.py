"""Downloads into the Volume's Hugging Face cache, and what they left there.

:func:`fetch_hf_snapshot` downloads a hub repository into the cache under ``HF_HOME`` (inside
the Volume) and reports it (:class:`DownloadReport`); :func:`tree_size` counts files and bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DownloadReport", "fetch_hf_snapshot", "hf_cache_dir", "hf_snapshot_dir", "tree_size"]


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
