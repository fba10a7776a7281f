"""A streaming job's chunks as the worker finishes them, for the responses that stream it.

The worker plans the feed (where each chunk stands in the job's text) when it queues the job,
and adds each chunk's audio as soon as its engine call returns, in whatever order the calls
finish. Readers take chunks in order, each from the first: a retry that meets the running job
(same ``Idempotency-Key``) streams it whole. Everything runs on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..streaming import FIRST_CHUNK_CHARS
from ..text import chunk_spans
from .contract import EngineResult

__all__ = ["ChunkFeed", "short_first"]


class ChunkFeed:
    """Chunks by index, their spans once planned, and a future that says "something changed"."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] | None = None
        """``(start, end)`` of each chunk in the job's text; None until the job is queued."""
        self._results: dict[int, EngineResult] = {}
        self._changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def plan(self, text: str, chunks: Sequence[str]) -> None:
        """The job was split into ``chunks`` of ``text``: where each stands in it, in order.

        Chunks are substrings for every splitter of this library; for one that rewrites its
        text, a chunk not found takes its length from where the previous one ended
        (approximate, never out of order)."""
        self.spans = []
        position = 0
        for chunk in chunks:
            start = text.find(chunk, position)
            if start < 0:
                start = position
            position = min(len(text), start + len(chunk))
            self.spans.append((start, position))
        self._notify()

    def add(self, index: int, result: EngineResult) -> None:
        """Chunk ``index`` is generated."""
        self._results[index] = result
        self._notify()

    def get(self, index: int) -> EngineResult | None:
        """Chunk ``index``'s audio, if it is generated."""
        return self._results.get(index)

    def changed(self) -> asyncio.Future[None]:
        """A future resolved at the next change (plan or chunk). Never cancel it: it is shared."""
        return self._changed

    def _notify(self) -> None:
        self._changed.set_result(None)
        self._changed = asyncio.get_running_loop().create_future()


def short_first(chunks: list[str]) -> list[str]:
    """``chunks`` with the first cut to at most ``FIRST_CHUNK_CHARS`` (at a sentence or clause
    where possible), the rest of it kept as the second: a stream's first audio comes early."""
    if not chunks or len(chunks[0]) <= FIRST_CHUNK_CHARS:
        return chunks
    head = chunks[0]
    pieces = [
        head[start:end]
        for start, end in chunk_spans(head, len(head), first_chars=FIRST_CHUNK_CHARS)
    ]
    return [*pieces, *chunks[1:]] if pieces else chunks
