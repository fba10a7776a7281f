"""A small asyncio TCP proxy that injects network faults between a client and a real service.

Each accepted connection takes the next action from the plan (``pass`` when the plan is empty):

- ``pass``: forward both ways untouched;
- ``reset``: accept, then reset the connection before reading anything (a dropped connection);
- ``reset_mid_response``: forward the request, send the first ``partial_bytes`` of the response,
  then reset (the client sees a truncated response);
- ``slow_first_byte``: hold the response's first byte for ``delay`` seconds;
- ``trickle``: pass the response on ``trickle_bytes`` at a time, ``delay`` seconds apart (no
  single read ever waits long, so only a deadline on the whole job ends it).

It counts connections and the bytes clients sent, so tests can prove what crossed the wire.
It runs in its own thread with its own event loop, like a separate host would.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Literal

from .host_thread import ThreadedHost, reset

Action = Literal["pass", "reset", "reset_mid_response", "slow_first_byte", "trickle"]


@dataclass
class FaultPlan:
    """Knobs for the actions that need them."""

    partial_bytes: int = 64
    delay: float = 1.0
    trickle_bytes: int = 256


class FaultProxy(ThreadedHost):
    """``with FaultProxy(upstream_port) as proxy:`` then point the client at ``proxy.url``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        super().__init__()
        self.upstream = (upstream_host, upstream_port)
        self.plan = FaultPlan()
        self.connections = 0
        self.bytes_from_clients = 0
        self._actions: deque[Action] = deque()

    def then(self, *actions: Action) -> FaultProxy:
        """Queue actions for the next connections, in order."""
        self._actions.extend(actions)
        return self

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        action: Action = self._actions.popleft() if self._actions else "pass"
        if action == "reset":
            reset(client_w)
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            reset(client_w)
            return
        upstream_to_client = (
            self._partial(up_r, client_w)
            if action == "reset_mid_response"
            else self._pipe(
                up_r,
                client_w,
                delay_first=action == "slow_first_byte",
                trickle=action == "trickle",
            )
        )
        tasks = [
            asyncio.ensure_future(self._pipe(client_r, up_w, count=True)),
            asyncio.ensure_future(upstream_to_client),
        ]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for writer in (client_w, up_w):
            writer.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        count: bool = False,
        delay_first: bool = False,
        trickle: bool = False,
    ) -> None:
        while data := await reader.read(65536):
            if count:
                self.bytes_from_clients += len(data)
            if delay_first:
                await asyncio.sleep(self.plan.delay)
                delay_first = False
            if trickle:
                step = self.plan.trickle_bytes
                for start in range(0, len(data), step):
                    writer.write(data[start : start + step])
                    await writer.drain()
                    await asyncio.sleep(self.plan.delay)
                continue
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def _partial(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(self.plan.partial_bytes)
        writer.write(data[: self.plan.partial_bytes])
        await writer.drain()
        reset(writer)
