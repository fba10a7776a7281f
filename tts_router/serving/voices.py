"""Where a service keeps uploaded references: the store interface and the in-memory store.

A voice is stored by its id (the sha256 of the encoded bytes the client uploaded) and used as
decoded samples. :class:`MemoryVoiceStore` keeps decoded audio in one process, bounded in
entries and bytes (least recently used evicted first): it forgets everything on a restart and
is not shared between processes. :class:`~.voice_dir.DirectoryVoiceStore` keeps the encoded
bytes in a directory (on Modal: the Volume) with a memory store in front, so voices survive
restarts and are shared between every process that mounts the directory.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..audio import DecodedAudio
from .lru import BoundedLRU

__all__ = ["DEFAULT_VOICE_BYTES", "MemoryVoiceStore", "VoiceStore"]

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

    @property
    def size(self) -> int:
        """Bytes of decoded samples held."""
        return self.lru.size

    async def get(self, voice_id: str) -> DecodedAudio | None:
        """The decoded reference (marked recently used), or None."""
        return self.lru.get(voice_id)

    async def put(self, voice_id: str, data: bytes, audio: DecodedAudio) -> None:
        """Keep the decoded samples (the encoded bytes are not needed here)."""
        self.lru.put(voice_id, audio)

    async def contains(self, voice_id: str) -> bool:
        """Whether the reference is held."""
        return voice_id in self.lru
