"""The counters a service keeps about the work it does."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServingStats"]


@dataclass(slots=True)
class ServingStats:
    """Counters the app keeps on ``app.state.stats`` (tests and /health readers use them)."""

    engine_jobs: int = 0
    """Distinct jobs handed to the engine (a replayed idempotent request adds nothing)."""
    engine_calls: int = 0
    """Blocking engine calls made (one per clone batch or design chunk)."""
    engine_items: int = 0
    """Chunks handed to the engine (a job split in chunks counts each)."""
    largest_batch: int = 0
    idempotent_replays: int = 0
    isolated_retries: int = 0
    """Batched calls that failed and were retried item by item."""
    deadline_refusals: int = 0
    """Jobs refused at once because the caller's deadline could not be met."""
    cancelled_jobs: int = 0
    """Jobs whose callers went away (or cancelled) before they finished."""
    dropped_items: int = 0
    """Chunks of cancelled jobs that were never generated."""
    async_answers: int = 0
    """202s: jobs that outlived the caller's wait and were handed back as a job URL."""
    merge_waits: int = 0
    """Times the worker waited after a batch for the clients it answered (merge window)."""
    merge_wait_seconds: float = 0.0
    """Seconds spent in those waits, in all."""
    streams: int = 0
    """Streamed answers started (``Accept: application/x-tts-stream``)."""

    @property
    def rows_per_call(self) -> float:
        """Mean chunks per engine call (0 before any call): how full batches are."""
        return self.engine_items / self.engine_calls if self.engine_calls else 0.0
