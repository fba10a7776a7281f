"""A latency-engine service in its own process, as ``serve`` runs one (limits included).

    python -m core_support.latency_service --port 8123 [--voices-dir DIR] [--per-item 0.05]

``GET /__engine`` (test only) answers the engine's call log and the service's counters.
:func:`spawn` starts one from a test or a benchmark and waits until it is ready.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

TESTS = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_app(args: argparse.Namespace) -> Any:
    from fastapi.responses import JSONResponse

    from core_support.latency_engine import LatencyEngine
    from tts_router.serving import create_app

    engine = LatencyEngine(
        per_call=args.per_call,
        per_item=args.per_item,
        per_char=args.per_char,
        chunk_chars=args.chunk_chars,
    )
    app = create_app(
        engine,
        voices_dir=args.voices_dir,
        max_batch=args.max_batch,
        batch_window_s=args.batch_window,
        max_queue=args.max_queue,
        abandon_grace_s=args.grace,
        body_timeout_s=args.body_timeout,
    )

    @app.get("/__engine")
    async def engine_log() -> JSONResponse:
        stats = dataclasses.asdict(app.state.stats)
        pending, running = app.state.worker._queue.pending, app.state.jobs.running
        return JSONResponse(
            {"calls": engine.calls, "stats": stats, "pending": pending, "running": running}
        )

    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--voices-dir")
    parser.add_argument("--per-call", type=float, default=0.0)
    parser.add_argument("--per-item", type=float, default=0.0)
    parser.add_argument("--per-char", type=float, default=0.0)
    parser.add_argument("--chunk-chars", type=int, default=40)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--batch-window", type=float, default=0.01)
    parser.add_argument("--max-queue", type=int, default=256)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--body-timeout", type=float, default=30.0)
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--nofile", type=int, help="lower the descriptor limit to this first")
    args = parser.parse_args(argv)
    if args.nofile:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))

    import uvicorn

    from tts_router.serving import ServerLimits, uvicorn_options

    limits = ServerLimits(
        max_connections=args.max_connections, header_timeout_s=args.header_timeout
    )
    uvicorn.run(
        build_app(args),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        **uvicorn_options(limits),
    )


@contextlib.contextmanager
def spawn(port: int | None = None, *flags: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a service process (``flags`` as on the command line); yield its URL and process;
    stop it on exit."""
    port = port or free_port()
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    command = [sys.executable, "-m", "core_support.latency_service", "--port", str(port), *flags]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process
    finally:
        stop(process)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited ({process.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).json()["status"] == "ok":
                return
        time.sleep(0.05)
    raise RuntimeError("the service did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def engine_log(url: str) -> dict[str, Any]:
    """The service's engine calls and counters (``GET /__engine``)."""
    return dict(httpx.get(f"{url}/__engine", timeout=10).json())


if __name__ == "__main__":
    main()
