"""Idempotent retries: one job per ``Idempotency-Key``, its response replayed to retries."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..errors import ValidationError
from .responses import Stored
from .stats import ServingStats

__all__ = ["IdempotencyCache", "fingerprint"]

Produce = Callable[[], Coroutine[Any, Any, Stored]]


def fingerprint(path: str, body: BaseModel) -> str:
    """What a key is bound to: the route and the parsed body (a reused key must match it)."""
    return hashlib.sha256(f"{path}\n{body.model_dump_json()}".encode()).hexdigest()


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    task: asyncio.Task[Stored]
    created: float


class IdempotencyCache:
    """``Idempotency-Key`` -> the (running or finished) response of that job.

    A retry of a job still running waits for the same task instead of generating twice; a
    retry after it finished gets the stored response for ``ttl_s``. Only successes are kept:
    a failed job may be retried for real. The task is shielded from the first client's
    disconnect so the work it paid for is not thrown away.
    """

    def __init__(self, ttl_s: float, max_entries: int, stats: ServingStats) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._stats = stats
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    async def run(self, key: str | None, fingerprint: str, produce: Produce) -> Stored:
        """Produce the response once per key (or every time without a key)."""
        if key is None:
            return await produce()
        self._expire()
        entry = self._entries.get(key)
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise ValidationError(
                    "this Idempotency-Key was already used for a different request; use a new key"
                )
            self._stats.idempotent_replays += 1
            return await asyncio.shield(entry.task)
        task = asyncio.get_running_loop().create_task(produce())
        self._entries[key] = _Entry(fingerprint, task, time.monotonic())
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        task.add_done_callback(lambda t: self._forget_failure(key, t))
        return await asyncio.shield(task)

    def _forget_failure(self, key: str, task: asyncio.Task[Stored]) -> None:
        entry = self._entries.get(key)
        failed = task.cancelled() or task.exception() is not None
        if entry is not None and entry.task is task and (failed or task.result().status >= 300):
            del self._entries[key]

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._ttl
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.created >= cutoff:
                break
            del self._entries[key]
