"""Weights that a memory snapshot can hold: copied out of memory-mapped files first.

safetensors loads a CPU tensor as a view of the file, memory-mapped; torch keeps that view
whenever no dtype conversion was needed (the speech tokenizer always, the main weights when
the checkpoint's dtype is the one the GPU will use). A memory snapshot taken then depends on
files on the Volume mount: at best it saves nothing, at worst the snapshot or its restore
fails. :func:`release_mapped_weights` copies every parameter and buffer that lives in a file
mapping into ordinary process memory (tensors that shared storage still share it), so the
files are unmapped once the loader's own references are gone; :func:`mapped_files` reads
``/proc/self/maps`` to show what is still mapped.

torch is imported only inside :func:`release_mapped_weights`.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["file_mappings", "mapped_files", "release_mapped_weights"]

_logger = logging.getLogger("tts_router.modal_kit")
_MAPS = Path("/proc/self/maps")
# Program code and libraries are mapped from files too; weights never live there.
_CODE_SUFFIXES = (".so", ".pyc", ".pyd")


def file_mappings(maps: str | None = None) -> list[tuple[int, int, str]] | None:
    """(start, end, path) of every region mapped from a regular data file in this process,
    shared libraries left out; None where ``/proc/self/maps`` does not exist (not Linux).

    ``maps`` is the text of a maps file (tests); default: this process's.
    """
    if maps is None:
        try:
            maps = _MAPS.read_text()
        except OSError:
            return None
    regions = []
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or parts[4] == "0" or not parts[5].startswith("/"):
            continue  # anonymous memory, [heap], [stack], [vdso]...
        path = parts[5].removesuffix(" (deleted)")
        name = path.rsplit("/", 1)[-1]
        if any(name.endswith(s) or f"{s}." in name for s in _CODE_SUFFIXES):
            continue
        start, end = (int(address, 16) for address in parts[0].split("-"))
        regions.append((start, end, path))
    return regions


def mapped_files(under: Path | str | None = None, maps: str | None = None) -> set[str]:
    """The data files mapped into this process (all of them, or those below ``under``,
    symlinks resolved as the kernel reports them); empty where that cannot be read."""
    regions = file_mappings(maps) or []
    paths = {path for _, _, path in regions}
    if under is None:
        return paths
    root = str(Path(under).resolve())
    return {path for path in paths if path == root or path.startswith(root.rstrip("/") + "/")}


def release_mapped_weights(modules: Iterable[Any]) -> int:
    """Copy the parameters and buffers of ``modules`` (``torch.nn.Module``\\ s; anything else
    is skipped) that live in a file mapping into process memory; the bytes copied.

    Parameters keep their identity (``parameter.data`` is replaced), so tied weights stay
    tied; buffers are replaced in their modules (one copy per buffer, however many modules
    hold it); tensors that shared one storage share the copy. Where the process's mappings
    cannot be read, every CPU tensor is copied (a snapshot must not depend on files).
    Non-CPU tensors are never file-backed and are left alone.
    """
    import torch

    regions = file_mappings()
    copies: dict[int, Any] = {}
    copied = 0

    def in_file(storage: Any) -> bool:
        if regions is None:
            return True
        start = storage.data_ptr()
        return any(low <= start < high for low, high, _ in regions)

    def relocated(tensor: Any) -> Any | None:
        nonlocal copied
        if tensor is None or tensor.device.type != "cpu":
            return None
        storage = tensor.untyped_storage()
        if storage.nbytes() == 0 or not in_file(storage):
            return None
        key = storage.data_ptr()
        if key not in copies:
            copies[key] = storage.clone()
            copied += storage.nbytes()
        fresh = torch.empty(0, dtype=tensor.dtype)
        return fresh.set_(copies[key], tensor.storage_offset(), tensor.size(), tensor.stride())

    buffers: dict[int, Any] = {}  # id(old buffer) -> its copy: a shared buffer stays shared
    for root in modules:
        if not isinstance(root, torch.nn.Module):
            continue
        for module in root.modules():
            for parameter in module._parameters.values():
                moved = relocated(parameter)
                if parameter is not None and moved is not None:
                    parameter.data = moved  # same Parameter object: ties are kept
            for name, buffer in list(module._buffers.items()):
                if id(buffer) not in buffers:
                    buffers[id(buffer)] = relocated(buffer)
                if buffers[id(buffer)] is not None:
                    # Replaced, not `.data =`: a buffer that is a view keeps its base (the
                    # mapped file) alive through `.data` assignment.
                    module._buffers[name] = buffers[id(buffer)]
    copies.clear()
    buffers.clear()
    gc.collect()  # drop the last references to the mapped storages: the files unmap now
    if copied:
        _logger.info("copied %.1f MB of weights out of mapped files", copied / 1e6)
    return copied
