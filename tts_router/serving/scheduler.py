"""Fair scheduling: every job's chunks wait in their own queue and are taken round-robin.

A long job is many chunk work items; a batch takes one chunk from each waiting job in turn
(then a second from each, ...) until it is full, and the jobs it served move to the back. A
short job that arrives behind a long one is therefore in the very next batch: it waits for
the batch that is running, never for the whole long job. A streamed job's first chunk goes
into a batch without the job's other chunks (other jobs' chunks may join it), so its first
audio does not wait for the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..errors import TTSRouterError
from .contract import CloneJob, DesignJob, EngineResult

if TYPE_CHECKING:
    from .feed import ChunkFeed

__all__ = ["FairQueue", "Item", "Kind", "Unit"]

Kind = Literal["clone", "design"]


@dataclass(eq=False, slots=True)
class Unit:
    """One job's work: its chunks, their results so far, and the future its caller awaits."""

    kind: Kind
    job: CloneJob | DesignJob = field(repr=False)
    chunks: list[str] = field(repr=False)
    future: asyncio.Future[EngineResult | TTSRouterError]
    queued_at: float
    pending: deque[int] = field(default_factory=deque)
    results: dict[int, tuple[EngineResult, int]] = field(default_factory=dict)
    """Chunk index -> (its audio, the engine call that made it)."""
    started_at: float | None = None
    feed: ChunkFeed | None = field(default=None, repr=False)
    """Set for a streamed job: each chunk's audio goes there as soon as it is generated."""

    def __post_init__(self) -> None:
        self.pending.extend(range(len(self.chunks)))

    def chunk_job(self, index: int) -> CloneJob | DesignJob:
        """The job the engine gets for one chunk: the same job with that chunk as its text."""
        return dataclasses.replace(self.job, text=self.chunks[index])

    @property
    def finished(self) -> bool:
        """Whether its caller has its answer (or has gone): nothing more to do for it."""
        return self.future.done()


@dataclass(frozen=True, slots=True)
class Item:
    """One chunk of one unit, taken for an engine call."""

    unit: Unit
    index: int


class FairQueue:
    """Units in rotation; :meth:`take` builds the next engine call from them."""

    def __init__(self) -> None:
        self._order: deque[Unit] = deque()

    def add(self, unit: Unit) -> None:
        """Queue a unit at the back of the rotation."""
        self._order.append(unit)

    def remove(self, unit: Unit) -> int:
        """Drop the unit's chunks that have not started; return how many were dropped."""
        dropped = len(unit.pending)
        unit.pending.clear()
        if unit in self._order:
            self._order.remove(unit)
        return dropped

    @property
    def pending(self) -> int:
        """Chunks waiting, over every unit."""
        return sum(len(unit.pending) for unit in self._order)

    def ahead(self, chunks: int) -> int:
        """Chunks that run before a new unit of ``chunks`` chunks is done (round-robin: each
        waiting unit contributes at most as many chunks as the new one has)."""
        return sum(min(len(unit.pending), chunks) for unit in self._order)

    def take(self, max_batch: int) -> list[Item]:
        """The next engine call: one design chunk alone, or up to ``max_batch`` clone chunks
        taken round-robin over the waiting clone units."""
        while self._order and not self._order[0].pending:
            self._order.popleft()
        if not self._order:
            return []
        head = self._order[0]
        if head.kind == "design":  # engines design one job per call
            item = Item(head, head.pending.popleft())
            self._order.rotate(-1)
            return [item]
        batch: list[Item] = []
        served: list[Unit] = []
        alone: set[Unit] = set()  # streamed units whose first chunk is in this batch
        while len(batch) < max_batch:
            progressed = False
            for unit in self._order:
                if len(batch) >= max_batch:
                    break
                if unit.kind != "clone" or not unit.pending or unit in alone:
                    continue
                index = unit.pending.popleft()
                batch.append(Item(unit, index))
                progressed = True
                if index == 0 and unit.feed is not None:
                    alone.add(unit)
                if unit not in served:  # identity: units compare by identity
                    served.append(unit)
            if not progressed:
                break
        for unit in served:  # served units go to the back, in the order they were served
            self._order.remove(unit)
            if unit.pending:
                self._order.append(unit)
        return batch
