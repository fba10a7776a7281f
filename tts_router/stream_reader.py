"""Reading a service's streamed answer (the protocol's framed body, see :mod:`tts_router.protocol`).

:class:`StreamReader` takes the frames out of a response body as it arrives and turns each into
a :class:`StreamedChunk`, its audio checked by the one output validator; an error frame, a
frame out of order, bytes that are not frames or a body that ends early raise typed errors.
Retries, deadlines and the circuit breaker are the client's (:mod:`tts_router.http`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from .audio import DecodedAudio, validate_output_wav
from .errors import (
    ERRORS,
    ProviderError,
    ProviderUnavailableError,
    TTSRouterError,
    error_for_code,
)
from .protocol import StreamChunk, StreamError, StreamFrameDecoder, StreamFrameError

__all__ = ["StreamReader", "StreamedChunk", "table_error"]


@dataclass(frozen=True, slots=True)
class StreamedChunk:
    """One chunk of a streamed answer, its audio checked by the one output validator.

    ``text_span``: ``(start, end)`` of the request's text it speaks; ``last``: the stream's
    final chunk; ``timings``: the service's stages for this chunk.
    """

    sequence: int
    audio: DecodedAudio = field(repr=False)
    text_span: tuple[int, int]
    last: bool
    model: str
    mode: str
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    total: int | None = None  # chunks in the whole stream, when the service says


class StreamReader:
    """The chunks of one streamed answer, read from its response as they come.

    ``where``, ``provider`` and ``request_id`` are what its errors name.
    """

    def __init__(
        self, response: httpx.Response, *, where: str, provider: str, request_id: str | None
    ) -> None:
        self._response = response
        self._body = response.aiter_bytes()
        self._decoder = StreamFrameDecoder()
        self._frames: deque[tuple[StreamChunk | StreamError, bytes]] = deque()
        self._where = where
        self._provider = provider
        self._details: dict[str, Any] = {"provider": provider, "request_id": request_id}

    async def aclose(self) -> None:
        """Close the response (the service sees its client go, and drops the job's rest)."""
        await self._body.aclose()  # type: ignore[attr-defined]  # aiter_bytes: an async generator
        await self._response.aclose()

    async def next_chunk(self, sequence: int) -> StreamedChunk:
        """The chunk ``sequence``, validated; an error frame as its typed error. Transport
        errors are raised as httpx's."""
        while not self._frames:
            data = await anext(self._body, None)
            if data is None:
                raise ProviderUnavailableError(
                    f"{self._where} closed the stream before its "
                    f"{'first' if sequence == 0 else 'last'} chunk",
                    **self._details,
                )
            try:
                frames = self._decoder.feed(data)
            except StreamFrameError:
                frames = None
            if frames is None:  # raised here: nothing chained
                raise ProviderError(
                    f"{self._where} sent a stream that breaks the protocol",
                    code="invalid_response",
                    provider=self._provider,
                )
            self._frames.extend(frames)
        header, payload = self._frames.popleft()
        if isinstance(header, StreamError):
            raise table_error(header.error.code, self._where, **self._details) or ProviderError(
                f"{self._where} failed mid-stream", code="service_error", **self._details
            )
        if header.sequence != sequence:
            raise ProviderError(
                f"{self._where} sent chunk {header.sequence} where {sequence} was due",
                code="invalid_response",
                **self._details,
            )
        return StreamedChunk(
            sequence=sequence,
            audio=validate_output_wav(payload, provider=self._provider),
            text_span=header.text_span,
            last=header.last,
            model=header.model,
            mode=header.mode,
            warnings=tuple(header.warnings),
            timings=dict(header.timings),
            total=header.total,
        )


def table_error(code: str | None, where: str, **details: Any) -> TTSRouterError | None:
    """The error table's class for a code a service sent, so the caller meets the same error
    as in-process; None for a code the table does not know (only the table's own codes and
    meanings reach the message, never the service's words)."""
    if code is None or code not in ERRORS:
        return None
    return error_for_code(code, f"{where} {code}: {ERRORS[code].meaning}", **details)
