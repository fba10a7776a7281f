"""The engine worker: one thread owns the model; chunks of waiting jobs are batched fairly.

Batching several texts in one generation is the big speed lever for autoregressive TTS, while
several threads on one model are slower than sequential calls (and unsafe for most engines).

What it guarantees:

- **Fair**: a job is split into chunks (when the engine says how, :class:`.ChunkingEngine`)
  and the chunks of all waiting jobs are taken round-robin (:mod:`.scheduler`), so a short job
  behind a long one waits for one batch, not for the long job.
- **Admission by deadline**: a job whose caller cannot wait for the queue is refused at once
  (503 ``deadline_unmeetable`` with the honest ``Retry-After``), from engine call times
  measured as it runs (:class:`~.scheduler.CallTimes`).
- **Cancellation**: when the coroutine awaiting a job is cancelled (its callers went away),
  the job's chunks that have not started are dropped.
- **Poison isolation**: a batched call that fails is retried item by item, so only the
  request that broke it fails.
- **Batches that merge**: after a batch, the worker waits a short, adaptive window for the
  clients it just answered to come back before it starts the next batch, so steady load from
  ``max_batch`` clients settles into full batches instead of two alternating halves (what ran
  at once was whatever queued during the last batch). The wait ends as soon as that many jobs
  arrived or a batch is full; it lasts at most ``merge_window_s`` and half the last batch's
  time, and follows how long answered clients took to come back (see :class:`MergeWindow`).
  It is skipped where full batches do not pay: once a (nearly) full batch has been measured
  to cost at least :data:`MERGE_PAYS` of two half batches (a CPU, where rows cost the same or
  more each in a bigger batch), the alternating halves are the faster schedule.
- **Streams**: a job with a :class:`~.feed.ChunkFeed` has its first chunk cut short and
  generated apart from its other chunks, and each chunk's audio goes to the feed as soon as
  its engine call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Literal, TypeVar

from ..errors import TTSRouterError, ValidationError
from .assemble import assemble
from .contract import ChunkingEngine, CloneJob, DesignJob, EngineResult, SpeechEngine
from .counters import ServingStats
from .errors import ServiceError, internal_error
from .feed import ChunkFeed, short_first
from .scheduler import CallTimes, FairQueue, Item, Kind, Unit

__all__ = ["MERGE_PAYS", "EngineWorker", "LoadState", "MergeWindow"]

# The name the single-module service logged under; log configurations keep working.
logger = logging.getLogger("tts_router.serving")

T = TypeVar("T")
LoadState = Literal["loading", "ready", "failed"]
Outcome = EngineResult | TTSRouterError

# Merging pays while a full batch costs less than this share of two half batches (a GPU: about
# half; a CPU: about all of it, or more).
MERGE_PAYS = 0.8

# Model loaders patch process-wide state while they run (transformers/accelerate build modules
# on the meta device by patching ``nn.Module.register_buffer``), so a second engine loading in
# another thread at the same time can end up with meta tensors. One load at a time, per process.
_LOAD_LOCK = threading.Lock()


def _load_alone(engine: SpeechEngine) -> None:
    with _LOAD_LOCK:
        engine.load()


def _engine_failed(operation: str, exc: Exception) -> TTSRouterError:
    """Log that an engine call raised (its type only: messages may quote input); type it."""
    if isinstance(exc, TTSRouterError):
        logger.debug("engine %s refused (%s)", operation, exc.code)
        return exc
    logger.error("engine %s failed (%s)", operation, type(exc).__name__)
    return internal_error(exc)


class MergeWindow:
    """How long to wait, after a batch, for the clients it answered to send their next job.

    At most ``limit`` seconds and half the last batch's time (the wait never costs more than
    half a batch); within that, four times the recent return time of answered clients (an
    exponentially weighted mean, starting at ``limit / 4``), so a loop of clients on the same
    host waits milliseconds and one across the internet waits its round trip.
    """

    def __init__(self, limit: float, weight: float = 0.3) -> None:
        self.limit = limit
        self._weight = weight
        self.return_time = limit / 4
        """Seconds answered clients recently took to come back (a weighted mean)."""

    def seconds(self, batch_seconds: float) -> float:
        """The wait after a batch that took ``batch_seconds``."""
        return max(0.0, min(self.limit, 0.5 * batch_seconds, 4 * self.return_time))

    def returned(self, seconds: float) -> None:
        """A job arrived ``seconds`` after a batch answered its clients."""
        self.return_time += self._weight * (seconds - self.return_time)


class EngineWorker:
    """Owns the engine: one thread runs every blocking call; chunks are batched fairly.

    Work waits up to ``batch_window_s`` for company, then runs as engine calls of at most
    ``max_batch`` clone chunks (a design chunk runs alone); after each batch the worker waits
    up to ``merge_window_s`` (adaptive, see :class:`MergeWindow`; 0: never) for the clients
    it answered. ``max_queue`` bounds the jobs admitted and not yet finished; beyond it a
    request is refused at once (503 ``overloaded``) instead of queueing GPU work nobody may
    wait for.
    """

    def __init__(
        self,
        engine: SpeechEngine,
        stats: ServingStats,
        *,
        batch_window_s: float,
        max_batch: int,
        max_queue: int,
        retry_after_s: float,
        merge_window_s: float = 0.0,
    ) -> None:
        self.engine = engine
        self._stats = stats
        self._window = batch_window_s
        self.merge = MergeWindow(merge_window_s)
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._retry_after = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-engine")
        self._queue = FairQueue()
        self._times: dict[Kind, CallTimes] = {"clone": CallTimes(), "design": CallTimes()}
        self._running: tuple[Kind, int, float] | None = None  # kind, size, started
        self._calls = itertools.count(1)
        self._admitted = 0
        self._arrived = asyncio.Event()
        self._arrivals = 0  # jobs queued so far (the merge window counts those coming back)
        self._tasks: tuple[asyncio.Task[None], ...] = ()
        self.load_state: LoadState = "loading"

    def start(self) -> None:
        """Start the batching loop and the model load (call from the running event loop)."""
        loop = asyncio.get_running_loop()
        # Both kept: the event loop holds tasks only weakly, and stop() ends both.
        self._tasks = (loop.create_task(self._batch_loop()), loop.create_task(self._load()))

    async def stop(self) -> None:
        """Stop batching (and a model load still under way) and release the worker thread."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _load(self) -> None:
        try:
            await self._run(_load_alone, self.engine)
        except Exception as exc:
            logger.error("engine load failed (%s)", type(exc).__name__)
            self.load_state = "failed"
        else:
            self.load_state = "ready"

    def require_ready(self) -> None:
        """Raise the 503/500 error that says why no work can start now."""
        if self.load_state == "loading":
            raise ServiceError(
                "loading",
                "the model is still loading; retry shortly",
                retry_after=self._retry_after,
            )
        if self.load_state == "failed":
            raise ServiceError("load_failed", "the model failed to load; see the service logs")

    # -- submitting work ----------------------------------------------------------------------

    async def clone(
        self, jobs: Sequence[CloneJob | TTSRouterError], *, deadline: float | None = None
    ) -> list[Outcome]:
        """Queue ``jobs`` as one batch and wait for their results, in order; an error among
        ``jobs`` (an item refused already) stays in its place, and a job whose text the engine
        refuses to split gets its own error."""
        prepared: list[Unit | TTSRouterError] = []
        for job in jobs:
            try:
                prepared.append(job if isinstance(job, TTSRouterError) else self._unit(job))
            except TTSRouterError as exc:
                prepared.append(exc)
        units = [p for p in prepared if isinstance(p, Unit)]
        done = iter(await self._submit(units, deadline) if units else [])
        return [p if isinstance(p, TTSRouterError) else next(done) for p in prepared]

    async def run(
        self,
        job: CloneJob | DesignJob,
        *,
        deadline: float | None = None,
        feed: ChunkFeed | None = None,
    ) -> EngineResult:
        """Queue one job (its chunks interleave with other work) and wait for it; ``feed``
        streams its chunks."""
        (result,) = await self._submit([self._unit(job, feed)], deadline)
        if isinstance(result, TTSRouterError):
            raise result
        return result

    def _unit(self, job: CloneJob | DesignJob, feed: ChunkFeed | None = None) -> Unit:
        kind: Kind = "design" if isinstance(job, DesignJob) else "clone"
        chunks = self._split(job)
        if feed is not None:
            chunks = short_first(chunks)
            feed.plan(job.text, chunks)
        future = asyncio.get_running_loop().create_future()
        return Unit(kind, job, chunks, future, time.perf_counter(), feed=feed)

    def _split(self, job: CloneJob | DesignJob) -> list[str]:
        if not isinstance(self.engine, ChunkingEngine):
            return [job.text]
        try:
            chunks = [chunk for chunk in self.engine.split(job) if chunk.strip()]
        except Exception as exc:
            raise _engine_failed("split", exc) from None
        if not chunks:
            raise ValidationError("the text has nothing to speak", code="empty_text")
        return chunks

    async def _submit(self, units: list[Unit], deadline: float | None) -> list[Outcome]:
        """Queue ``units`` (they hold places in the queue until answered) and wait for them,
        or refuse them at once."""
        if self._admitted + len(units) > self._max_queue:
            raise ServiceError(
                "overloaded", "the service is busy; retry shortly", retry_after=self._retry_after
            )
        self._admit_by_deadline(units, deadline)
        self._admitted += len(units)
        for unit in units:
            self._queue.add(unit)
        self._arrivals += len(units)
        self._arrived.set()
        try:
            return list(await asyncio.gather(*(unit.future for unit in units)))
        except asyncio.CancelledError:
            for unit in units:
                self._cancel(unit)
            raise
        finally:
            self._admitted -= len(units)

    def _admit_by_deadline(self, units: list[Unit], deadline: float | None) -> None:
        """Refuse at once what cannot be done within ``deadline`` seconds (when measurable)."""
        if deadline is None:
            return
        kind = units[0].kind
        own = sum(len(unit.chunks) for unit in units)
        batch = self._max_batch if kind == "clone" else 1
        alone = self._times[kind].finish_in(own, batch)
        if alone is None:
            return  # nothing measured yet: no honest estimate to refuse on
        if alone > deadline:
            refusal = ServiceError(
                "deadline_too_short",
                f"this job alone needs about {alone:.1f} s of generation and the caller "
                f"allows {deadline:.1f} s; allow more time or send shorter text",
            )
        else:
            ahead = self._queue.ahead(max(len(unit.chunks) for unit in units))
            estimate = self._times[kind].finish_in(ahead + own, batch, self._running_left())
            if estimate is None or estimate <= deadline:
                return
            refusal = ServiceError(
                "deadline_unmeetable",
                f"the queue needs about {estimate:.1f} s to finish this job and the caller "
                f"allows {deadline:.1f} s; retry after Retry-After or use another provider",
                retry_after=estimate - deadline,
            )
        self._stats.deadline_refusals += 1
        raise refusal

    def _running_left(self) -> float:
        if self._running is None:
            return 0.0
        kind, size, started = self._running
        predicted = self._times[kind].predict(size) or 0.0
        return max(predicted - (time.monotonic() - started), 0.0)

    def _cancel(self, unit: Unit) -> None:
        """Drop what has not started of a unit whose caller went away."""
        if unit.future.done() and not unit.future.cancelled():
            return  # it had its answer already
        unit.future.cancel()
        dropped = self._queue.remove(unit)
        self._stats.dropped_items += dropped
        if dropped:
            logger.info("dropped %d chunk(s) of an abandoned job", dropped)

    # -- running it ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _batch_loop(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            if self._window > 0:
                await asyncio.sleep(self._window)  # let requests arriving together join
            while batch := self._queue.take(self._max_batch):
                call = next(self._calls)
                now = time.perf_counter()
                for item in batch:
                    if item.unit.started_at is None:
                        item.unit.started_at = now
                        self._stats.engine_jobs += 1
                answered = 0  # jobs whose answer this batch completed
                started = time.monotonic()
                try:
                    outcomes = await self._call(batch[0].unit.kind, batch)
                    for item, outcome in zip(batch, outcomes, strict=True):
                        answered += self._deliver(item, outcome, call)
                except Exception as exc:  # a bug here must not stop the loop for everyone
                    failed = _engine_failed("batch", exc)
                    for item in batch:
                        answered += self._deliver(item, failed, call)
                await self._merge(answered, time.monotonic() - started)

    async def _merge(self, answered: int, batch_seconds: float) -> None:
        """Wait for the ``answered`` clients to come back, while no batch is full (see
        :class:`MergeWindow`)."""
        full = self._queue.pending >= self._max_batch
        if answered == 0 or self.merge.limit <= 0 or full or not self.merging_pays():
            return
        wait = self.merge.seconds(batch_seconds)
        began = time.monotonic()
        arrivals = self._arrivals
        self._stats.merge_waits += 1
        while self._arrivals - arrivals < answered and self._queue.pending < self._max_batch:
            left = wait - (time.monotonic() - began)
            if left <= 0:
                break
            self._arrived.clear()
            try:
                async with asyncio.timeout(left):
                    await self._arrived.wait()
            except TimeoutError:
                break
            self.merge.returned(time.monotonic() - began)
        self._stats.merge_wait_seconds += time.monotonic() - began

    def merging_pays(self) -> bool:
        """Whether the largest batch measured (at least 3/4 of ``max_batch``) was cheaper
        than two halves; before one ran, yes: waiting is how one gets measured."""
        times = self._times["clone"]
        big = times.largest()
        if big is None or big < max(2, self._max_batch * 3 // 4):
            return True
        full, half = times.measured(big), times.predict(big // 2)
        return full is None or half is None or full < MERGE_PAYS * 2 * half

    async def _call(self, kind: Kind, batch: list[Item]) -> list[Outcome]:
        """One engine call for ``batch``; a failed batch of several is retried item by item."""
        # A chunk goes to the engine as its job with that chunk as the text.
        jobs = [replace(item.unit.job, text=item.unit.chunks[item.index]) for item in batch]
        self._stats.engine_calls += 1
        self._stats.engine_items += len(jobs)
        self._stats.largest_batch = max(self._stats.largest_batch, len(jobs))
        self._running = (kind, len(jobs), time.monotonic())
        started = time.perf_counter()
        outcomes: list[Outcome]
        try:
            if kind == "design":
                outcomes = [await self._run(self.engine.design, jobs[0])]
            else:
                outcomes = list(await self._run(self.engine.clone, jobs))
                if len(outcomes) != len(jobs):
                    raise RuntimeError("engine returned a wrong number of results")
        except Exception as exc:
            if len(batch) == 1:
                return [_engine_failed(kind, exc)]
            logger.warning(
                "a batch of %d failed (%s); retrying its items one by one",
                len(batch),
                type(exc).__name__,
            )
            self._stats.isolated_retries += 1
            return [await self._alone(kind, item) for item in batch]
        else:
            self._times[kind].record(len(jobs), time.perf_counter() - started)
        finally:
            self._running = None
        if len(batch) > 1:  # an unexpected error inside a batch may be another item's fault
            for index, outcome in enumerate(outcomes):
                if isinstance(outcome, TTSRouterError) and outcome.code == "internal_error":
                    outcomes[index] = await self._alone(kind, batch[index])
        return outcomes

    async def _alone(self, kind: Kind, item: Item) -> Outcome:
        if item.unit.finished:  # its caller went away meanwhile: skip the work
            return ServiceError("job_cancelled", "the job was cancelled")
        (outcome,) = await self._call(kind, [item])
        return outcome

    def _deliver(self, item: Item, outcome: Outcome, call: int) -> bool:
        """Hand a chunk's outcome to its job; whether that completed the job's answer."""
        unit = item.unit
        if unit.finished:
            return False
        if isinstance(outcome, TTSRouterError):
            self._queue.remove(unit)  # one chunk failed: the rest cannot make a whole answer
            unit.future.set_result(outcome)
            return True
        unit.results[item.index] = (outcome, call)
        if unit.feed is not None:
            unit.feed.add(item.index, outcome)
        if len(unit.results) < len(unit.chunks):
            return False
        queued = (unit.started_at or unit.queued_at) - unit.queued_at
        ordered = [unit.results[index] for index in range(len(unit.chunks))]
        unit.future.set_result(assemble(ordered, queued))
        return True
