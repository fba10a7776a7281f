"""A small HTTP-aware load balancer that injects faults, in front of several real services.

Each client connection carries one request (the balancer rewrites it to ``Connection: close``),
sent to the next upstream in turn (``round_robin``) or to the upstream its ``Idempotency-Key``
hashes to (``by_key``: the stickiness a real balancer gives a multi-instance service so that a
retry meets the instance that ran the job). Faults, from a queued plan first, else at random
with probability ``fault_rate`` (seeded):

- ``reset``: reset the client before anything reaches an upstream;
- ``reset_mid_response``: forward, pass the first ``partial_bytes`` of the answer, then reset;
- ``stall``: forward, then hold the answer for ``stall_s`` and reset (the client's read
  timeout fires first);
- ``bad_gateway``: forward and let the upstream do the work, but answer 502 instead.

It runs in its own thread and event loop, like a separate host.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import zlib
from collections import Counter, deque
from collections.abc import Sequence
from typing import Literal

from .host_thread import ThreadedHost, reset

Fault = Literal["pass", "reset", "reset_mid_response", "stall", "bad_gateway"]
FAULTS: tuple[Fault, ...] = ("reset", "reset_mid_response", "stall", "bad_gateway")
_BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n"
    b"connection: close\r\n\r\nbad gateway"
)


class Balancer(ThreadedHost):
    """``with Balancer([port_a, port_b]) as lb:`` then point clients at ``lb.url``."""

    def __init__(
        self,
        upstream_ports: Sequence[int],
        *,
        mode: Literal["round_robin", "by_key"] = "round_robin",
        fault_rate: float = 0.0,
        seed: int = 0,
        stall_s: float = 5.0,
        partial_bytes: int = 64,
    ) -> None:
        super().__init__()
        self.upstreams = list(upstream_ports)
        self.mode = mode
        self.fault_rate = fault_rate
        self.stall_s = stall_s
        self.partial_bytes = partial_bytes
        self.faults: Counter[str] = Counter()
        self.requests_to: Counter[int] = Counter()
        self.seen: list[tuple[str, str, int]] = []  # method, path, upstream port
        self._random = random.Random(seed)
        self._plan: deque[Fault] = deque()
        self._next = 0

    def count(self, method: str, path_prefix: str = "/") -> int:
        """Requests forwarded with this method to paths starting with ``path_prefix``."""
        return sum(1 for m, p, _ in self.seen if m == method and p.startswith(path_prefix))

    def then(self, *faults: Fault) -> Balancer:
        """Use these faults for the next connections, in order."""
        self._plan.extend(faults)
        return self

    def _fault(self) -> Fault:
        if self._plan:
            return self._plan.popleft()
        if self.fault_rate and self._random.random() < self.fault_rate:
            return self._random.choice(FAULTS)
        return "pass"

    def _upstream(self, key: str | None) -> int:
        if self.mode == "by_key" and key:
            return self.upstreams[zlib.crc32(key.encode()) % len(self.upstreams)]
        port = self.upstreams[self._next % len(self.upstreams)]
        self._next += 1
        return port

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # cancelled only when shutting down
            await self._serve(client_r, client_w)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            head = await client_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            client_w.close()
            return
        fault = self._fault()
        self.faults[fault] += 1
        if fault == "reset":
            reset(client_w)
            return
        head, key = _rewrite(head)
        port = self._upstream(key)
        self.requests_to[port] += 1
        method, path, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        self.seen.append((method, path, port))
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            reset(client_w)
            return
        up_w.write(head)
        to_upstream = asyncio.ensure_future(_pipe(client_r, up_w))
        try:
            if fault == "pass":
                await _pipe(up_r, client_w)
            elif fault == "reset_mid_response":
                data = await up_r.read(self.partial_bytes)
                client_w.write(data)
                await client_w.drain()
                reset(client_w)
            elif fault == "stall":
                await asyncio.sleep(self.stall_s)
                reset(client_w)
            else:  # bad_gateway: the upstream does the work; the client hears 502
                while await up_r.read(65536):
                    pass
                client_w.write(_BAD_GATEWAY)
                await client_w.drain()
        except ConnectionError:
            pass
        finally:
            to_upstream.cancel()
            for writer in (client_w, up_w):
                writer.close()


def _rewrite(head: bytes) -> tuple[bytes, str | None]:
    """The request head with ``Connection: close``, and its Idempotency-Key."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    key = None
    kept = [lines[0]]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"connection":
            continue
        if name.strip().lower() == b"idempotency-key":
            key = value.strip().decode("latin-1")
        kept.append(line)
    kept.append(b"Connection: close")
    return b"\r\n".join(kept) + b"\r\n\r\n", key


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        return
