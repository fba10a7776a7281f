"""The engine worker: one thread owns the model; clone jobs that arrive together are batched.

Batching several texts in one generation is the big speed lever for autoregressive TTS, while
several threads on one model are slower than sequential calls (and unsafe for most engines).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ..errors import TTSRouterError
from .engine import CloneJob, DesignJob, EngineResult, SpeechEngine
from .errors import ServiceError, internal_error
from .stats import ServingStats

__all__ = ["EngineWorker", "LoadState"]

# The name the single-module service logged under; log configurations keep working.
logger = logging.getLogger("tts_router.serving")

T = TypeVar("T")
LoadState = Literal["loading", "ready", "failed"]


@dataclass(slots=True)
class _Pending:
    job: CloneJob
    future: asyncio.Future[EngineResult | TTSRouterError]
    queued_at: float


# Model loaders patch process-wide state while they run (transformers/accelerate build modules
# on the meta device by patching ``nn.Module.register_buffer``), so a second engine loading in
# another thread at the same time can end up with meta tensors. One load at a time, per process.
_LOAD_LOCK = threading.Lock()


def _load_alone(engine: SpeechEngine) -> None:
    with _LOAD_LOCK:
        engine.load()


def _engine_failed(operation: str, exc: Exception) -> TTSRouterError:
    """Log that an engine call raised (its type only: messages may quote input); type it."""
    logger.error("engine %s failed (%s)", operation, type(exc).__name__)
    return exc if isinstance(exc, TTSRouterError) else internal_error(exc)


class EngineWorker:
    """Owns the engine: one thread runs every blocking call; clone jobs are batched.

    Clone jobs wait up to ``batch_window_s`` for company, then run as one ``engine.clone``
    call of at most ``max_batch`` jobs. ``max_queue`` bounds the jobs admitted and not yet
    finished; beyond it a request is refused at once (503 ``overloaded``) instead of queueing
    GPU work nobody may wait for.
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
    ) -> None:
        self.engine = engine
        self._stats = stats
        self._window = batch_window_s
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._retry_after = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-engine")
        self._pending: deque[_Pending] = deque()
        self._admitted = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.load_state: LoadState = "loading"

    def start(self) -> None:
        """Start the batching loop and the model load (call from the running event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._batch_loop())
        asyncio.get_running_loop().create_task(self._load())

    async def stop(self) -> None:
        """Stop batching and release the worker thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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

    @contextlib.contextmanager
    def _admission(self, count: int) -> Iterator[None]:
        """Hold ``count`` places in the queue while the block runs, or refuse at once."""
        if self._admitted + count > self._max_queue:
            raise ServiceError(
                "overloaded", "the service is busy; retry shortly", retry_after=self._retry_after
            )
        self._admitted += count
        try:
            yield
        finally:
            self._admitted -= count

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        """Queue ``jobs`` for the next batch and wait for their results, in order."""
        with self._admission(len(jobs)):
            loop = asyncio.get_running_loop()
            now = time.perf_counter()
            pending = [_Pending(job, loop.create_future(), now) for job in jobs]
            self._pending.extend(pending)
            self._wakeup.set()
            return list(await asyncio.gather(*(p.future for p in pending)))

    async def design(self, job: DesignJob) -> EngineResult:
        """Run one design on the worker thread (serialised with clone batches)."""
        with self._admission(1):
            self._stats.engine_jobs += 1
            self._stats.engine_calls += 1
            try:
                return await self._run(self.engine.design, job)
            except TTSRouterError:
                raise
            except Exception as exc:
                raise _engine_failed("design", exc) from None

    async def _batch_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._window > 0:
                await asyncio.sleep(self._window)  # let requests arriving together join
            while self._pending:
                batch: list[_Pending] = []
                while self._pending and len(batch) < self._max_batch:
                    item = self._pending.popleft()
                    if not item.future.done():  # its client went away: skip the work
                        batch.append(item)
                if batch:
                    await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Pending]) -> None:
        self._stats.engine_jobs += len(batch)
        self._stats.engine_calls += 1
        self._stats.largest_batch = max(self._stats.largest_batch, len(batch))
        started = time.perf_counter()
        results: list[EngineResult | TTSRouterError]
        try:
            results = await self._run(self.engine.clone, [p.job for p in batch])
            if len(results) != len(batch):
                raise RuntimeError("engine returned a wrong number of results")
        except Exception as exc:
            results = [_engine_failed("clone", exc)] * len(batch)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(
                    _with_timings(result, {"queue": started - item.queued_at})
                    if isinstance(result, EngineResult)
                    else result
                )


def _with_timings(result: EngineResult, extra: Mapping[str, float]) -> EngineResult:
    """``result`` with the service's own stage timings before the engine's."""
    return dataclasses.replace(result, timings={**extra, **result.timings})
