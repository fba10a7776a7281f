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
    """Blocking engine calls made (one per clone batch or design)."""
    largest_batch: int = 0
    idempotent_replays: int = 0
