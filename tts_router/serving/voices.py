"""Where a service keeps uploaded references: the store interface and two stores.

A voice is stored by its id (the sha256 of the encoded bytes the client uploaded) and used as
decoded samples. :class:`MemoryVoiceStore` keeps decoded audio in one process, bounded in
entries and bytes (least recently used evicted first): it forgets everything on a restart and
is not shared between processes. :class:`DirectoryVoiceStore` keeps the encoded bytes in a
directory (on Modal: the Volume) with a memory store in front, so voices survive restarts and
are shared between every process that mounts the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..audio import REFERENCE_LIMITS, AudioLimits, DecodedAudio, decode_audio
from ..errors import TTSRouterError
from .lru import BoundedLRU

__all__ = ["DEFAULT_VOICE_BYTES", "DirectoryVoiceStore", "MemoryVoiceStore", "VoiceStore"]

logger = logging.getLogger("tts_router.serving")

# Decoded float32 samples: 256 MiB holds about 70 minutes of 16 kHz references.
DEFAULT_VOICE_BYTES = 256 * 1024 * 1024


@runtime_checkable
class VoiceStore(Protocol):
    """What the service needs from a voice store. Methods are called from the event loop;
    a store doing I/O does it in a thread."""

    async def get(self, voice_id: str) -> DecodedAudio | None:
        """The decoded reference, or None if this store does not hold it."""
        ...

    async def put(self, voice_id: str, data: bytes, audio: DecodedAudio) -> None:
        """Keep a validated upload: its encoded ``data`` and decoded ``audio``."""
        ...

    async def contains(self, voice_id: str) -> bool:
        """Whether :meth:`get` would find it (cheap: HEAD /voices asks this)."""
        ...


class MemoryVoiceStore:
    """Decoded references in this process's memory, bounded; the default store."""

    def __init__(self, max_voices: int = 256, max_bytes: int = DEFAULT_VOICE_BYTES) -> None:
        self.lru: BoundedLRU[str, DecodedAudio] = BoundedLRU(
            max_voices, max_bytes, lambda audio: int(audio.samples.nbytes)
        )

    def __len__(self) -> int:
        return len(self.lru)

    async def get(self, voice_id: str) -> DecodedAudio | None:
        """The decoded reference (marked recently used), or None."""
        return self.lru.get(voice_id)

    async def put(self, voice_id: str, data: bytes, audio: DecodedAudio) -> None:
        """Keep the decoded samples (the encoded bytes are not needed here)."""
        self.lru.put(voice_id, audio)

    async def contains(self, voice_id: str) -> bool:
        """Whether the reference is held."""
        return voice_id in self.lru


class DirectoryVoiceStore:
    """Encoded references in ``root`` (bounded by ``max_bytes`` on disk, oldest used first
    out), decoded ones cached in ``cache``.

    Files are the encoded bytes clients uploaded, named by their sha256 (``ab/abcdef...``):
    content-addressed, so two processes writing the same voice write the same bytes, and each
    write goes to a temporary file renamed into place (readers never see half a file). A read
    checks the hash again and decodes with the service's reference limits.

    On Modal the directory is in the Volume: ``after_write`` commits it (other containers see
    the file) and ``before_miss`` reloads it (this container sees theirs) before a voice is
    declared missing. Both run in a thread, one at a time.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        limits: AudioLimits = REFERENCE_LIMITS,
        cache: MemoryVoiceStore | None = None,
        max_bytes: int | None = None,
        after_write: Callable[[], None] | None = None,
        before_miss: Callable[[], None] | None = None,
    ) -> None:
        self.root = Path(root)  # created by the first upload
        self.limits = limits
        self.cache = cache or MemoryVoiceStore()
        self.max_bytes = max_bytes
        self._after_write = after_write
        self._before_miss = before_miss
        self._hooks = threading.Lock()

    def path(self, voice_id: str) -> Path:
        """Where the voice's bytes live."""
        return self.root / voice_id[:2] / voice_id

    async def get(self, voice_id: str) -> DecodedAudio | None:
        """From the cache, else from the directory (refreshed once if it is not there)."""
        cached = await self.cache.get(voice_id)
        if cached is not None:
            return cached
        audio = await asyncio.to_thread(self._load, voice_id)
        if audio is not None:
            await self.cache.put(voice_id, b"", audio)
        return audio

    async def put(self, voice_id: str, data: bytes, audio: DecodedAudio) -> None:
        """Write the bytes (if not there already), then cache the decoded audio."""
        await asyncio.to_thread(self._write, voice_id, data)
        await self.cache.put(voice_id, data, audio)

    async def contains(self, voice_id: str) -> bool:
        """In the cache or in the directory."""
        return await self.cache.contains(voice_id) or self.path(voice_id).is_file()

    # -- in a thread -------------------------------------------------------------------------

    def _load(self, voice_id: str) -> DecodedAudio | None:
        data = self._read(voice_id)
        if data is None and self._before_miss is not None:
            self._hook(self._before_miss)
            data = self._read(voice_id)
        if data is None:
            return None
        if hashlib.sha256(data).hexdigest() != voice_id:
            logger.warning("voice file %s… is corrupt; removing it", voice_id[:12])
            with contextlib.suppress(OSError):
                self.path(voice_id).unlink()
            return None
        try:
            return decode_audio(data, self.limits)
        except TTSRouterError as exc:  # stored under other limits: upload it again
            logger.warning("voice file %s… is refused now (%s)", voice_id[:12], exc.code)
            return None

    def _read(self, voice_id: str) -> bytes | None:
        path = self.path(voice_id)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return data

    def _write(self, voice_id: str, data: bytes) -> None:
        path = self.path(voice_id)
        if path.is_file() and path.stat().st_size == len(data):
            return  # content-addressed: the same bytes are there already
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f".{voice_id}.{uuid.uuid4().hex}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, path)
        self._prune(keep=path)
        if self._after_write is not None:
            self._hook(self._after_write)

    def _prune(self, keep: Path) -> None:
        if self.max_bytes is None:
            return
        files = [p for p in self.root.glob("??/*") if p.is_file() and not p.name.startswith(".")]
        stats = {p: p.stat() for p in files}
        total = sum(s.st_size for s in stats.values())
        for path in sorted(files, key=lambda p: stats[p].st_mtime):
            if total <= self.max_bytes:
                break
            if path != keep:
                with contextlib.suppress(OSError):
                    path.unlink()
                    total -= stats[path].st_size

    def _hook(self, hook: Callable[[], None]) -> None:
        with self._hooks:
            try:
                hook()
            except Exception as exc:  # a failed commit/reload must not fail the request
                logger.warning("voice store hook failed (%s)", type(exc).__name__)
