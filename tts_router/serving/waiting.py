"""Holding a request while its job runs, and noticing when its client goes away."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .jobs import Job, JobTable, Leave
from .responses import Stored

if TYPE_CHECKING:
    from starlette.types import Receive

__all__ = ["disconnected", "wait_for"]


async def wait_for(
    table: JobTable, job: Job, receive: Receive, hold: float | None
) -> Stored | None:
    """The job's answer if it is ready within ``hold`` seconds (None: however long it takes)
    while the client stays connected; else None (still running: answer 202, or nobody to
    answer). The request counts as one of the job's waiters meanwhile."""
    table.attach(job)
    watcher = asyncio.ensure_future(disconnected(receive))
    how: Leave = "answered"
    try:
        done, _ = await asyncio.wait(
            {job.task, watcher}, timeout=hold, return_when=asyncio.FIRST_COMPLETED
        )
        if job.done:
            how = "done"
        elif watcher in done:
            how = "gone"
    finally:
        watcher.cancel()
        table.detach(job, how)
    return job.answer() if job.done else None


async def disconnected(receive: Receive) -> None:
    """Return once the client has disconnected (the request body was read already)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        await asyncio.sleep(0.05)  # a stray message (the body again?): never spin
