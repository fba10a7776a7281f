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
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Action = Literal["pass", "reset", "reset_mid_response", "slow_first_byte", "trickle"]


@dataclass
class FaultPlan:
    """Knobs for the actions that need them."""

    partial_bytes: int = 64
    delay: float = 1.0
    trickle_bytes: int = 256


class FaultProxy:
    """``with FaultProxy(upstream_port) as proxy:`` then point the client at ``proxy.url``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.plan = FaultPlan()
        self.connections = 0
        self.bytes_from_clients = 0
        self._actions: deque[Action] = deque()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL clients should use."""
        return f"http://127.0.0.1:{self.port}"

    def then(self, *actions: Action) -> FaultProxy:
        """Queue actions for the next connections, in order."""
        self._actions.extend(actions)
        return self

    def queue(self, actions: Iterable[Action]) -> None:
        """Replace the queued actions."""
        self._actions = deque(actions)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        action: Action = self._actions.popleft() if self._actions else "pass"
        if action == "reset":
            _reset(client_w)
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(client_w)
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
        _reset(writer)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0) rather than FIN, as a crashed peer or middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
