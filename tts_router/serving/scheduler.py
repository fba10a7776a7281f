"""Fair scheduling: every job's chunks wait in their own queue and are taken round-robin.

A long job is many chunk work items; a batch takes one chunk from each waiting job in turn
(then a second from each, ...) until it is full, and the jobs it served move to the back. A
short job that arrives behind a long one is therefore in the very next batch: it waits for
the batch that is running, never for the whole long job. A streamed job's first chunk goes
into a batch without the job's other chunks (other jobs' chunks may join it), so its first
audio does not wait for the rest.

How long the queue will take comes from engine call times measured as the service runs
(:class:`CallTimes`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..errors import TTSRouterError
from .contract import CloneJob, DesignJob, EngineResult

if TYPE_CHECKING:
    from .feed import ChunkFeed

__all__ = ["CallTimes", "FairQueue", "Item", "Kind", "Unit"]

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
        served: dict[Unit, None] = {}  # in the order first served; units hash by identity
        alone: set[Unit] = set()  # streamed units whose first chunk is in this batch
        while len(batch) < max_batch:
            ready = [u for u in self._order if u.kind == "clone" and u.pending and u not in alone]
            if not ready:
                break
            for unit in ready[: max_batch - len(batch)]:  # one round: a chunk from each
                index = unit.pending.popleft()
                batch.append(Item(unit, index))
                served[unit] = None
                if index == 0 and unit.feed is not None:
                    alone.add(unit)
        for unit in served:  # served units go to the back, in the order they were served
            self._order.remove(unit)
            if unit.pending:
                self._order.append(unit)
        return batch


class CallTimes:
    """Seconds per engine call, by batch size (an exponentially weighted mean per size).

    A size never measured is predicted from the nearest measured size above it (a batch is
    never faster than a larger one), else scaled linearly from the largest below (pessimistic:
    batching is sublinear). Before any measurement there is no prediction: the service admits
    what it cannot yet judge.
    """

    def __init__(self, weight: float = 0.3) -> None:
        self._weight = weight
        self._by_size: dict[int, float] = {}

    def record(self, size: int, seconds: float) -> None:
        """One engine call of ``size`` items took ``seconds``."""
        old = self._by_size.get(size)
        self._by_size[size] = seconds if old is None else old + self._weight * (seconds - old)

    def largest(self) -> int | None:
        """The largest call size measured, or None before any."""
        return max(self._by_size, default=None)

    def measured(self, size: int) -> float | None:
        """Seconds a call of exactly ``size`` items took (weighted), or None if none ran."""
        return self._by_size.get(size)

    def predict(self, size: int) -> float | None:
        """Seconds a call of ``size`` items should take, or None before any measurement."""
        if size <= 0:
            return 0.0
        if not self._by_size:
            return None
        if size in self._by_size:
            return self._by_size[size]
        above = [measured for measured in self._by_size if measured > size]
        if above:
            return self._by_size[min(above)]
        largest = max(self._by_size)
        return self._by_size[largest] * size / largest

    def finish_in(self, items: int, max_batch: int, running_left: float = 0.0) -> float | None:
        """Seconds until ``items`` more items are done, ``max_batch`` per call, after the call
        now running (``running_left`` seconds more); None before any measurement."""
        full, rest = divmod(items, max(max_batch, 1))
        per_full = self.predict(max_batch) if full else 0.0
        per_rest = self.predict(rest)
        if per_full is None or per_rest is None:
            return None
        return running_left + full * per_full + per_rest
