"""Jobs: each protocol request's work as a task with an id, an owner key and waiters.

- **One job per ``Idempotency-Key``.** A retry of a running job waits for the same task; a
  retry after it finished gets the stored response. A job that is running is never evicted
  or expired; finished jobs are kept for ``ttl_s`` after they finish, within ``max_entries``
  and ``max_bytes`` of stored bodies (oldest finished first). A failed job releases its key,
  so the caller may retry for real.
- **Results to fetch.** A job outliving its request is reachable at ``/jobs/{id}`` (an
  unguessable id) while it runs and while its result is kept.
- **Abandoned work is cancelled.** Waiters (requests held by :func:`wait_for`) attach and
  detach. When the last one disconnects, the job has ``grace_s`` for a waiter to come back (a
  retry after a broken connection); a job handed back as a 202 has ``lease_s`` for its caller
  to poll. Past that with nobody waiting, its task is cancelled and the worker drops its
  chunks not yet started.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from ..errors import TTSRouterError, ValidationError
from .counters import ServingStats
from .errors import ServiceError, internal_error
from .feed import ChunkFeed
from .responses import Stored, error_response

if TYPE_CHECKING:
    from starlette.types import Receive

__all__ = ["Job", "JobTable", "Produce", "fingerprint", "until_ready", "wait_for"]

logger = logging.getLogger("tts_router.serving")

Produce = Callable[[], Coroutine[Any, Any, Stored]]
Leave = Literal["done", "gone", "answered"]


def fingerprint(path: str, body: BaseModel) -> str:
    """What a key is bound to: the route and the parsed body (a reused key must match it).

    Total over any parsed body: ``json.dumps`` escapes lone surrogates, which pydantic's own
    serialiser refuses (the request is then refused with its own code, not a 500).
    """
    dumped = json.dumps(body.model_dump(), sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(f"{path}\n{dumped}".encode()).hexdigest()


@dataclass(eq=False, slots=True)
class Job:
    """One request's work, whoever waits for it."""

    id: str
    fingerprint: str = field(repr=False)
    key: str | None = field(repr=False)
    task: asyncio.Task[Stored] = field(repr=False)
    finished_at: float | None = None
    size: int = 0
    waiters: int = 0
    lease_until: float = 0.0
    cancelled_by_caller: bool = False
    feed: ChunkFeed | None = field(default=None, repr=False)
    """A streamed job's chunks while it runs (streams that hold it read on after it ends)."""
    text_length: int = 0
    """Characters of the request's text (a stream of a finished job says it spoke them all)."""

    @property
    def done(self) -> bool:
        """Whether its answer is ready (or it was cancelled)."""
        return self.task.done()

    def answer(self) -> Stored:
        """The job's response; call only once :attr:`done`."""
        if self.task.cancelled():
            how = "by its caller" if self.cancelled_by_caller else "after its callers went away"
            return error_response(ServiceError("job_cancelled", f"the job was cancelled {how}"))
        return self.task.result()


class JobTable:
    """Running and recently finished jobs, by id and by idempotency key."""

    def __init__(
        self,
        stats: ServingStats,
        *,
        ttl_s: float,
        max_entries: int,
        max_bytes: int,
        grace_s: float,
        lease_s: float,
    ) -> None:
        self.stats = stats
        self._ttl = ttl_s
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._grace = grace_s
        self._lease = lease_s
        self._jobs: dict[str, Job] = {}
        self._keys: dict[str, Job] = {}
        self._finished: OrderedDict[str, Job] = OrderedDict()
        self._finished_bytes = 0

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def running(self) -> int:
        """Jobs not finished yet."""
        return len(self._jobs) - len(self._finished)

    def start(
        self,
        key: str | None,
        fingerprint: str,
        produce: Produce,
        *,
        feed: ChunkFeed | None = None,
        text_length: int = 0,
    ) -> Job:
        """The job for ``key`` if one is known (a retry), else a new job running ``produce``
        (whose chunks go to ``feed``, for a stream; ``text_length``: its text's)."""
        self._prune()
        if key is not None and (known := self._keys.get(key)) is not None:
            if known.fingerprint != fingerprint:
                raise ValidationError(
                    "this Idempotency-Key was already used for a different request; use a new key"
                )
            self.stats.idempotent_replays += 1
            return known
        task = asyncio.get_running_loop().create_task(_settle(produce))
        job = Job(
            secrets.token_urlsafe(18), fingerprint, key, task, feed=feed, text_length=text_length
        )
        self._jobs[job.id] = job
        if key is not None:
            self._keys[key] = job
        task.add_done_callback(lambda _: self._finish(job))
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, running or kept."""
        self._prune()
        return self._jobs.get(job_id)

    def cancel(self, job: Job) -> None:
        """Cancel a job at its caller's request (its waiters get ``job_cancelled``)."""
        if not job.done:
            job.cancelled_by_caller = True
            job.task.cancel()
            self.stats.cancelled_jobs += 1

    def attach(self, job: Job, receive: Receive) -> asyncio.Future[None]:
        """A request waits for the job; the future returned resolves if its client leaves."""
        job.waiters += 1
        return asyncio.ensure_future(disconnected(receive))

    def detach(self, job: Job, watcher: asyncio.Future[None], how: Leave | None = None) -> None:
        """A request stopped waiting: its whole answer was sent (``done``), its client went
        away (``gone``), or it was answered 202 (``answered``: the caller will poll). By
        default ``gone`` if ``watcher`` (from :meth:`attach`) saw the client leave, else
        ``answered``."""
        how = how or ("gone" if watcher.done() else "answered")
        watcher.cancel()
        job.waiters -= 1
        if job.done or job.waiters > 0 or how == "done":
            return
        lease = self._grace if how == "gone" else self._lease
        job.lease_until = max(job.lease_until, time.monotonic() + lease)
        asyncio.get_running_loop().call_later(lease, self._check_abandoned, job)

    def _check_abandoned(self, job: Job) -> None:
        if job.done or job.waiters > 0 or time.monotonic() < job.lease_until:
            return
        logger.info("cancelling job %s: nobody waits for it", job.id[:8])
        job.task.cancel()
        self.stats.cancelled_jobs += 1

    def _finish(self, job: Job) -> None:
        job.finished_at = time.monotonic()
        job.feed = None  # the stored answer is kept; its chunks only by streams still reading
        answer = job.answer()
        if answer.status >= 300 and job.key is not None and self._keys.get(job.key) is job:
            del self._keys[job.key]  # a failure is not replayed: a retry runs for real
        job.size = len(answer.body)
        self._finished[job.id] = job
        self._finished_bytes += job.size
        self._prune()

    def _prune(self) -> None:
        """Forget finished jobs past their age or over the bounds, oldest first."""
        cutoff = time.monotonic() - self._ttl
        while self._finished:
            oldest = next(iter(self._finished.values()))
            over = len(self._finished) > self._max_entries or self._finished_bytes > self._max_bytes
            if not over and (oldest.finished_at or 0.0) >= cutoff:
                break
            self._finished.popitem(last=False)
            self._finished_bytes -= oldest.size
            del self._jobs[oldest.id]
            if oldest.key is not None and self._keys.get(oldest.key) is oldest:
                del self._keys[oldest.key]


async def _settle(produce: Produce) -> Stored:
    """Run ``produce``; a typed error becomes its error response, a bug a 500."""
    try:
        return await produce()
    except TTSRouterError as exc:
        return error_response(exc)
    except Exception as exc:
        logger.error("unhandled %s while producing a response", type(exc).__name__)
        return error_response(internal_error(exc))


async def wait_for(
    table: JobTable, job: Job, receive: Receive, hold: float | None
) -> Stored | None:
    """The job's answer if it is ready within ``hold`` seconds (None: however long it takes)
    while the client stays connected; else None (still running: answer 202, or nobody to
    answer). The request counts as one of the job's waiters meanwhile."""
    watcher = table.attach(job, receive)
    try:
        await until_ready(job, watcher, hold)
    finally:
        table.detach(job, watcher)
    return job.answer() if job.done else None


async def until_ready(
    job: Job, watcher: asyncio.Future[None], hold: float | None, feed: ChunkFeed | None = None
) -> None:
    """Return once ``job`` is done (with ``feed``: or has its first chunk there), its client
    has left (``watcher`` is done) or ``hold`` seconds have passed (None: no limit)."""
    loop = asyncio.get_running_loop()
    until = None if hold is None else loop.time() + hold
    while not (job.done or (feed is not None and feed.get(0) is not None)):
        left = None if until is None else until - loop.time()
        if (left is not None and left <= 0) or watcher.done():
            return
        waits: set[asyncio.Future[Any]] = {job.task, watcher}
        if feed is not None:
            waits.add(feed.changed())
        await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)


async def disconnected(receive: Receive) -> None:
    """Return once the client has disconnected (the request body was read already)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        await asyncio.sleep(0.05)  # a stray message (the body again?): never spin
