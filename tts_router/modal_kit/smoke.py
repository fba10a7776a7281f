"""The smoke test of a deployed (or local) service: health, languages, one short clone, timed.

:func:`smoke` runs it with the core's :class:`~tts_router.http.ServiceClient`;
:func:`add_smoke_arguments` and :func:`smoke_flow` are the provider CLIs' ``smoke`` command.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx

__all__ = ["SmokeReport", "add_smoke_arguments", "smoke", "smoke_flow"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SmokeReport:
    """What :func:`smoke` saw."""

    health: dict[str, Any]
    languages: list[str]
    seconds: dict[str, float]
    audio_seconds: float
    model: str
    mode: str

    def lines(self) -> list[str]:
        """A short human report."""
        timing = ", ".join(f"{name} {value:.2f} s" for name, value in self.seconds.items())
        return [
            f"health: {self.health.get('status')} ({self.health.get('model')}, "
            f"{self.health.get('device')}, {self.health.get('dtype')}, "
            f"{self.health.get('attention')})",
            f"languages: {', '.join(self.languages)}",
            f"{self.mode}: {self.audio_seconds:.2f} s of audio from {self.model}",
            f"timings: {timing}",
        ]


def smoke(
    url: str,
    *,
    provider: str,
    text: str = "Hello from the smoke test.",
    language: str = "en",
    transcript: str | None = None,
    instruct: str | None = None,
    auth: httpx.Auth | None = None,
) -> SmokeReport:
    """``GET /health``, ``GET /languages``, then one short clone (or a design when
    ``instruct`` is given) with a generated reference; every step timed.

    Uses the core's :class:`~tts_router.http.ServiceClient` (retries, 303s, typed errors).
    """
    import soundfile

    from ..http import ServiceClient
    from ..protocol import CloneBody, DesignBody
    from ..testing import make_reference_wav

    seconds: dict[str, float] = {}

    async def timed(step: str, call: Awaitable[_T]) -> _T:
        started = time.perf_counter()
        result = await call
        seconds[step] = time.perf_counter() - started
        return result

    async def run() -> SmokeReport:
        async with contextlib.aclosing(ServiceClient(url, provider=provider, auth=auth)) as service:
            health = await timed("health", service.health())
            languages = await timed("languages", service.languages())
            if instruct is not None:
                body = DesignBody(text=text, instruct=instruct, language=language, seed=0)
                response = await timed("design", service.design(body))
            else:
                reference = base64.b64encode(make_reference_wav(seconds=3.0)).decode()
                clone = CloneBody(
                    text=text,
                    language=language,
                    audio_base64=reference,
                    transcript=transcript,
                    seed=0,
                )
                response = await timed("clone", service.clone(clone))
        info = soundfile.info(io.BytesIO(response.wav))
        return SmokeReport(
            health=health.model_dump(),
            languages=list(languages.languages),
            seconds=seconds,
            audio_seconds=info.frames / info.samplerate,
            model=response.model,
            mode=response.mode,
        )

    return asyncio.run(run())


def add_smoke_arguments(parser: Any) -> None:
    """Add the ``smoke`` command's arguments to an argparse parser."""
    parser.add_argument("url", help="base URL of the service (deployed or local)")
    parser.add_argument("--text", default="Hello from the smoke test.")
    parser.add_argument("--language", default="en")
    parser.add_argument("--transcript", default=None, help="reference transcript (ICL clone)")
    parser.add_argument("--design", default=None, metavar="INSTRUCT", help="design, not clone")


def smoke_flow(args: Any, *, provider: str, echo: Callable[[str], None] = print) -> int:
    """Run :func:`smoke` with the CLI's arguments and ``MODAL_KEY``/``MODAL_SECRET``."""
    from ..errors import TTSRouterError
    from ..remote import RemoteSettings

    try:
        report = smoke(
            args.url,
            provider=provider,
            text=args.text,
            language=args.language,
            transcript=args.transcript,
            instruct=args.design,
            auth=RemoteSettings.load({}, os.environ, name=provider).auth,
        )
    except TTSRouterError as exc:
        echo(f"smoke test failed: {exc.code}: {exc}")
        return 1
    for line in report.lines():
        echo(line)
    return 0
