"""Connection-level protection for the uvicorn server that runs the app.

uvicorn reads request headers without a deadline and accepts every connection it can: 800
clients dripping header bytes held 800 descriptors forever, and 1,100 half-sent requests
under a 1024-descriptor limit left ``/health`` unanswered. :func:`uvicorn_options` gives
uvicorn an HTTP protocol (h11) that

- closes a connection whose request head is not complete ``header_timeout_s`` after its
  first byte (or after it connected), whatever trickles in meanwhile;
- keeps at most ``max_connections`` open: beyond, it closes the connection that has waited
  longest without a request being worked on (idle, still sending its head, or still sending
  its body: a slow client), or else the new one, so descriptors never run out and a fresh
  ``/health`` gets through;
- refuses request heads larger than ``max_header_bytes`` while they arrive.

Body limits and the body's read timeout are the app's (:class:`~.request_limits.Guard`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["ServerLimits", "guarded_protocol", "uvicorn_options"]

logger = logging.getLogger("tts_router.serving")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one server process accepts at the connection level."""

    max_connections: int = 512
    """Open connections at most (also kept under half the process's descriptor limit)."""
    header_timeout_s: float = 10.0
    """Seconds a request head may take to arrive."""
    keep_alive_s: float = 5.0
    """Seconds an idle keep-alive connection stays open."""
    max_header_bytes: int = 32 * 1024
    """Size of a request head (request line and headers) at most."""

    def connection_limit(self) -> int:
        """``max_connections``, lowered to half the descriptors this process may open."""
        try:
            import resource
        except ImportError:  # not on Windows
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft // 2))


def uvicorn_options(limits: ServerLimits) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` that apply ``limits``."""
    return {
        "http": guarded_protocol(limits),
        "timeout_keep_alive": limits.keep_alive_s,
        # h11 refuses a head this large while it arrives; a smaller one over the limit reaches
        # the app's Guard, which answers 431 with the protocol's JSON error.
        "h11_max_incomplete_event_size": 2 * limits.max_header_bytes + 16 * 1024,
    }


def guarded_protocol(limits: ServerLimits) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a request-head deadline and a connection limit."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    max_connections = limits.connection_limit()

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _idle_since: float = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._idle_since = time.monotonic()
            self._arm()
            if len(self.connections) > max_connections:
                victim = _slowest(self.connections, self)
                if victim is None:
                    logger.warning("connection limit (%d) reached; refusing", max_connections)
                    self._drop()
                else:
                    victim._drop()

        def data_received(self, data: bytes) -> None:
            if self._idle() and self._head_timer is None:
                self._arm()  # the first byte of a new request head: its deadline starts
            super().data_received(data)
            if not self._idle():
                self._disarm()  # the head is complete: a request is in progress

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._idle_since = time.monotonic()

        def _waiting_on_client(self) -> bool:
            """Idle, or its request's head or body is still arriving."""
            return self._idle() or (bool(self.cycle.more_body) and not self.cycle.response_started)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _idle(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(limits.header_timeout_s, self._head_late)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if self._idle():
                logger.debug("closing a connection: no request head within the timeout")
                self._drop()

        def _drop(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.close()

    def _slowest(connections: Any, new: Any) -> Any:
        """The connection that has waited longest on its client (idle ones first)."""
        ours = [c for c in connections if c is not new and isinstance(c, GuardedH11Protocol)]
        waiting = [c for c in ours if c._waiting_on_client() and not c.transport.is_closing()]
        return min(waiting, key=lambda c: (not c._idle(), c._idle_since), default=None)

    return GuardedH11Protocol
