"""ASGI middleware that scripts HTTP-level faults in front of a real service.

The network faults live in :mod:`faultproxy`; these are the answers a misbehaving service or
Modal's web layer gives: canned statuses (503 with Retry-After, 500 bursts, 401...), a 200 that
is not audio, 429 above an in-flight limit, and Modal's 303-to-result-URL dance.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """A canned response."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class _Captured:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


class Script:
    """Wraps an ASGI app. Queue replies with :meth:`then`; everything else reaches the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str, str | None]] = []  # method, path, idempotency key
        self.max_in_flight: int | None = None
        self.redirect_hops = 0  # >0: POSTs answer 303 to a result URL, GETs 303 (hops-1) more
        self.in_flight = 0
        self.peak_in_flight = 0
        self._replies: deque[tuple[str, str, Reply]] = deque()
        self._results: dict[str, tuple[_Captured, int]] = {}
        self._ids = itertools.count()

    def then(self, method: str, path: str, *replies: Reply) -> Script:
        """Answer the next requests to ``method path`` with ``replies``, in order."""
        self._replies.extend((method, path, reply) for reply in replies)
        return self

    def count(self, method: str, path: str) -> int:
        """How many requests to ``method path`` arrived."""
        return sum(1 for m, p, _ in self.seen if (m, p) == (method, path))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = dict(scope["headers"])
        self.seen.append((method, path, _text(headers.get(b"idempotency-key"))))
        reply = self._take(method, path)
        if reply is not None:
            await _send(send, reply.status, reply.headers, reply.body)
            return
        if path.startswith("/__results/"):
            await self._result(path, send)
            return
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            await _send(send, 429, {"retry-after": "0.05"}, b'{"error":{"code":"overloaded"}}')
            return
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.redirect_hops and method == "POST":
                captured = await _capture(self.app, scope, receive)
                result_id = str(next(self._ids))
                self._results[result_id] = (captured, self.redirect_hops - 1)
                await _send(send, 303, {"location": f"/__results/{result_id}"}, b"")
            else:
                await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _take(self, method: str, path: str) -> Reply | None:
        for index, (m, p, reply) in enumerate(self._replies):
            if (m, p) == (method, path):
                del self._replies[index]
                return reply
        return None

    async def _result(self, path: str, send: Any) -> None:
        result_id = path.rsplit("/", 1)[1]
        captured, hops_left = self._results[result_id]
        if hops_left > 0:  # Modal: still running, wait again at the same URL
            self._results[result_id] = (captured, hops_left - 1)
            await _send(send, 303, {"location": path}, b"")
            return
        await send(
            {"type": "http.response.start", "status": captured.status, "headers": captured.headers}
        )
        await send({"type": "http.response.body", "body": bytes(captured.body)})


async def _capture(app: Any, scope: Scope, receive: Any) -> _Captured:
    captured = _Captured()

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured.status = message["status"]
            captured.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            captured.body.extend(message.get("body", b""))

    await app(scope, receive, collect)
    return captured


async def _send(send: Any, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
    await asyncio.sleep(0)


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


def scripted_service(make_service: Any, engine: Any = None, **options: Any) -> tuple[Any, Script]:
    """``make_service(engine, **options)`` (a real tone service) behind a new script: the
    service and its script."""
    scripts: list[Script] = []

    def wrap(app: Any) -> Script:
        scripts.append(Script(app))
        return scripts[0]

    return make_service(engine, wrap=wrap, **options), scripts[0]
