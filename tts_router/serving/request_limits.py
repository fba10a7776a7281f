"""The outermost ASGI layer: request ids, header and body limits before parsing, the body's
read timeout, a last-resort 500."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING

from ..errors import TTSRouterError
from ..protocol import HEADER_REQUEST_ID, loggable_path
from .errors import ServiceError, body_too_large, internal_error
from .responses import error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ClientGone", "Guard", "TaggedSend", "read_body", "replay"]

# The name the single-module service logged under; log configurations keep working.
logger = logging.getLogger("tts_router.serving")

_RID = HEADER_REQUEST_ID.lower().encode()
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Guard:
    """Outermost ASGI layer: request id, limits before parsing, a last-resort 500, logs.

    Headers larger than ``max_header_bytes`` in all are refused (431). The body is read here
    in full (it is needed whole for JSON anyway) and counted as it streams, so an oversized
    upload is refused after at most ``max_body_bytes`` are read, whatever its Content-Length
    claims; a body that stops arriving for ``body_timeout_s`` is answered 408 and its
    connection closed. Logs carry method, path, status, duration and request id only: never
    bodies, text, transcripts or audio.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_header_bytes: int = 32 * 1024,
        body_timeout_s: float = 30.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        send_with_id = TaggedSend(send, request_id)
        try:
            if _header_bytes(scope) > self.max_header_bytes:
                too_large = ServiceError(
                    "headers_too_large",
                    f"the request's headers are larger than {self.max_header_bytes} bytes in all",
                )
                await _send_error(send_with_id, too_large, True)
                return
            body = await read_body(scope, receive, self.max_body_bytes, self.body_timeout_s)
            if body is None:
                await _send_error(send_with_id, body_too_large(self.max_body_bytes))
            else:
                await self.app(scope, replay(body, receive), send_with_id)
        except ClientGone:
            pass
        except _Stalled:
            stalled = ServiceError(
                "request_timeout",
                f"the request body stopped arriving for {self.body_timeout_s:g} s; send it again",
            )
            await _send_error(send_with_id, stalled, True)
        except Exception as exc:  # a bug: answer 500 without a trace, log the type only
            logger.error("unhandled %s (request %s)", type(exc).__name__, request_id)
            if send_with_id.status == 0:
                await _send_error(send_with_id, internal_error(exc))
        finally:
            logger.debug(
                "%s %s -> %d in %.3fs (request %s)",
                scope.get("method"),
                loggable_path(str(scope.get("path", ""))),
                send_with_id.status,
                time.perf_counter() - started,
                request_id,
            )


async def read_body(
    scope: Scope, receive: Receive, max_bytes: int, timeout_s: float | None
) -> bytes | None:
    """The request's whole body, counted as it streams; None once it is over ``max_bytes``
    (or its Content-Length says it will be), whatever Content-Length claims otherwise.
    Raises :class:`ClientGone` on a disconnect, and ``_Stalled`` when nothing arrives for
    ``timeout_s``."""
    declared = _header(scope, b"content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            async with asyncio.timeout(timeout_s):
                message = await receive()
        except TimeoutError:
            raise _Stalled from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class TaggedSend:
    """``send`` with the request id in the response's head (in place of any the app set),
    keeping the response's status (0 until it starts)."""

    def __init__(self, send: Send, request_id: str) -> None:
        self.status = 0
        self._send = send
        self._request_id = request_id.encode()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _RID]
            message = {**message, "headers": [*headers, (_RID, self._request_id)]}
        await self._send(message)


class ClientGone(Exception):
    """The client disconnected (before its request body arrived, or from a stream)."""


class _Stalled(Exception):
    """The request body stopped arriving."""


def _header_bytes(scope: Scope) -> int:
    """The request line and headers' size, as they came over the wire (about)."""
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return size + sum(len(k) + len(v) + 4 for k, v in scope.get("headers", []))


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app ``body`` (already read) and then the client's next
    message (its disconnect)."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as servers do

    return replayed


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


def _request_id(scope: Scope) -> str:
    # Echo the caller's id only when it is a plain token: it goes into logs and headers.
    given = _header(scope, _RID)
    if given and _REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


async def _send_error(send: Send, exc: TTSRouterError, close: bool = False) -> None:
    # Sent below the framework (it may be the framework that failed), so as raw ASGI messages.
    response = error_response(exc)
    headers = [(b"content-type", response.media_type.encode())]
    headers += [(k.encode(), v.encode()) for k, v in response.headers.items()]
    headers.append((b"content-length", str(len(response.body)).encode()))
    if close:  # the rest of the request will not be read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
