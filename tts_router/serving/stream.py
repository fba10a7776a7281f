"""Streamed answers: a job's chunks as protocol frames (:mod:`tts_router.protocol`), each sent
as soon as the worker has generated it, in order.

Until the first chunk is ready a streamed request is held like any other: a failure before it
is the usual HTTP error, a job that outlives the caller's ``Prefer`` wait is a 202 with its job
URL (a GET there streams it), so retries, idempotency and deadlines are the same as for whole
answers. After it, a failure is an error frame. The stream counts as one of its job's waiters
from start to end, so a client that goes away mid-stream gets its job's remaining chunks
dropped after the grace, like any abandoned job.

Imported by :func:`~tts_router.serving.create_app` only (it needs starlette, the ``serve``
extra).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import StreamingResponse

from ..audio import validate_output_wav
from ..errors import TTSRouterError
from ..protocol import (
    HEADER_MODE,
    HEADER_MODEL,
    STREAM_MEDIA_TYPE,
    ErrorBody,
    ErrorDetail,
    StreamChunk,
    StreamError,
    encode_frame,
)
from .contract import EngineResult
from .errors import internal_error
from .feed import ChunkFeed
from .jobs import Job, JobTable, until_ready
from .request_limits import ClientGone
from .responses import Stored, accepted_response, encode_result

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

__all__ = ["ClientGone", "FrameStream", "chunk_frames", "stream_job"]


class FrameStream(StreamingResponse):
    """A 200 of frames; it sends what ``frames`` yields and says, on close, whether it sent
    the whole stream (``on_close(True)``) or its client went away (``on_close(False)``)."""

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        on_close: Callable[[bool], None],
        headers: dict[str, str],
    ) -> None:
        super().__init__(frames, media_type=STREAM_MEDIA_TYPE, headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        complete = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for frame in self.body_iterator:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            complete = True
        except (OSError, ClientGone):  # the client went away
            pass
        finally:
            with contextlib.suppress(Exception):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
            self._on_close(complete)


async def stream_job(
    table: JobTable, job: Job, receive: Receive, hold: float | None
) -> Stored | FrameStream:
    """The streamed answer to a request for ``job``: a :class:`FrameStream` once its first
    chunk is ready (or the job is done), else what a whole answer would be (its error, or a
    202 after ``hold`` seconds)."""
    feed = job.feed
    watcher = table.attach(job, receive)
    handed_over = False
    try:
        await until_ready(job, watcher, hold, feed)
        first = feed.get(0) if feed is not None else None
        if watcher.done() or not (job.done or first is not None):
            return accepted_response(job.id)  # still running: its URL (or nobody hears it)
        if feed is not None and first is not None:
            frames = chunk_frames(job, feed, watcher)
            headers = {HEADER_MODE: first.mode, HEADER_MODEL: first.model}
        else:
            stored = job.answer()
            if stored.status >= 300:
                return stored  # it failed before any audio: the usual answer
            frames, headers = _whole(stored, job.text_length), {}
        handed_over = True
        return FrameStream(
            frames,
            lambda complete: table.detach(job, watcher, "done" if complete else "gone"),
            headers,
        )
    finally:
        if not handed_over:
            table.detach(job, watcher)


async def chunk_frames(
    job: Job, feed: ChunkFeed, watcher: asyncio.Future[None]
) -> AsyncIterator[bytes]:
    """The feed's chunks in order as they come; an error frame if the job fails first."""
    spans = feed.spans or []  # planned when the job was queued, before any chunk came
    for index in range(len(spans)):
        while (result := feed.get(index)) is None or watcher.done():
            if watcher.done():
                raise ClientGone
            if job.done:
                yield _error_frame(_failure(job.answer(), index), index)
                return
            waits: set[asyncio.Future[Any]] = {feed.changed(), job.task, watcher}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        try:
            frame = _chunk_frame(index, spans, result)
        except TTSRouterError as exc:
            yield _error_frame(exc, index)
            return
        yield frame


async def _whole(stored: Stored, text_length: int) -> AsyncIterator[bytes]:
    """A finished job that was not streamed (a retry that came after it ended, or a job
    started without a stream): its stored WAV as the one, last chunk."""
    audio = validate_output_wav(stored.body)
    header = StreamChunk(
        sequence=0,
        sample_rate=audio.sample_rate,
        text_span=(0, text_length),
        last=True,
        mode=stored.headers[HEADER_MODE],
        model=stored.headers[HEADER_MODEL],
        seconds=audio.duration,
    )
    yield encode_frame(header, stored.body)


def _chunk_frame(index: int, spans: list[tuple[int, int]], result: EngineResult) -> bytes:
    """Chunk ``index`` of ``spans``' frame, its audio checked and encoded as whole answers'."""
    wav = encode_result(result)
    header = StreamChunk(
        sequence=index,
        sample_rate=result.sample_rate,
        text_span=spans[index],
        last=index == len(spans) - 1,
        total=len(spans),
        mode=result.mode,
        model=result.model,
        seconds=result.duration,
        warnings=list(result.warnings),
        timings=dict(result.timings),
    )
    return encode_frame(header, wav)


def _error_frame(exc: TTSRouterError, delivered: int) -> bytes:
    detail = ErrorDetail(code=exc.code, message=exc.message)
    return encode_frame(StreamError(error=detail, delivered=delivered))


def _failure(stored: Stored, index: int) -> TTSRouterError:
    """The error a finished job answered (its chunk ``index`` never came)."""
    if stored.status >= 300:
        try:
            detail = ErrorBody.model_validate_json(stored.body).error
        except ValueError:
            pass
        else:
            return TTSRouterError(detail.message, code=detail.code)
    return internal_error(RuntimeError(f"the job ended without chunk {index}"))
