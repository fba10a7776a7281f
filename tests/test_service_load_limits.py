"""Server-side limits through real sockets: request heads and bodies have deadlines, open
connections are bounded (the slowest client gives way), and /health keeps answering."""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
from core_support.latency_service import spawn
from core_support.tone_service import ToneEngine

from tts_router.serving import ServerLimits, create_app, serve_in_thread
from tts_router.serving.options import add_serve_arguments, app_options, server_options


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _open(url: str, count: int, first: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(_address(url), timeout=10)
        sock.sendall(first)
        sockets.append(sock)
    return sockets


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closes ``sock`` before ``deadline`` (monotonic)."""
    sock.settimeout(max(deadline - time.monotonic(), 0.01))
    try:
        while sock.recv(4096):
            pass  # an answer before the close is fine; the close is what counts
    except TimeoutError:
        return False
    except OSError:
        return True  # reset
    return True


@contextlib.contextmanager
def dripping(sockets: list[socket.socket], every: float = 0.2) -> Iterator[None]:
    """Send one header byte to every socket every ``every`` seconds (a slowloris)."""
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(every):
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"x")

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def test_slow_request_heads_are_closed_and_health_still_answers() -> None:
    app = create_app(ToneEngine())
    limits = ServerLimits(max_connections=20, header_timeout_s=1.0)
    with serve_in_thread(app, limits=limits) as url:
        sockets = _open(url, 60, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        try:
            with dripping(sockets):
                started = time.monotonic()
                health = httpx.get(f"{url}/health", timeout=5)  # the oldest dripper gives way
                answered = time.monotonic() - started
                deadline = started + limits.header_timeout_s + 3
                closed = [_closed_by_server(sock, deadline) for sock in sockets]
                closed_after = time.monotonic() - started
        finally:
            for sock in sockets:
                sock.close()
    assert health.status_code == 200 and answered < limits.header_timeout_s
    assert all(closed)  # every dripper, however steadily it dripped
    assert closed_after < limits.header_timeout_s + 3


def test_an_idle_connection_after_a_request_gets_a_fresh_head_deadline() -> None:
    app = create_app(ToneEngine())
    limits = ServerLimits(header_timeout_s=0.5, keep_alive_s=30)
    with serve_in_thread(app, limits=limits) as url:
        sock = socket.create_connection(_address(url), timeout=10)
        with sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # the next head never completes
            started = time.monotonic()
            assert _closed_by_server(sock, started + 5)
            assert time.monotonic() - started < 3


def test_a_stalled_upload_is_answered_408_and_closed() -> None:
    app = create_app(ToneEngine(), body_timeout_s=0.5)
    with serve_in_thread(app) as url, socket.create_connection(_address(url), timeout=10) as sock:
        sock.sendall(
            f"PUT /voices/{'0' * 64} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n".encode()
            + b"x" * 100
        )
        started = time.monotonic()
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(4096):
                answer += chunk
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in answer
    assert b"connection: close" in answer.lower()
    assert 0.4 < elapsed < 3


def test_half_sent_requests_cannot_exhaust_descriptors() -> None:
    # The service process may open 128 descriptors; 150 clients hold half-sent requests
    # (75 heads, 75 bodies) with no timeout near: the slowest give way, /health answers.
    flags = ("--nofile", "128", "--max-connections", "48", "--header-timeout", "60")
    with spawn(None, *flags, "--body-timeout", "60") as (url, process):
        heads = _open(url, 75, b"GET /health HTTP/1.1\r\nHost: x\r\n")
        bodies = _open(
            url,
            75,
            b"PUT /voices/" + b"0" * 64 + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 9999\r\n\r\nab",
        )
        try:
            started = time.monotonic()
            health = httpx.get(f"{url}/health", timeout=10)
            answered = time.monotonic() - started
            deadline = time.monotonic() + 5
            closed = sum(_closed_by_server(sock, deadline) for sock in heads + bodies)
        finally:
            for sock in heads + bodies:
                sock.close()
        assert process.poll() is None  # still serving
    assert health.status_code == 200 and answered < 5
    assert closed >= 150 - 48  # what the limit could not hold was closed at once


def test_serve_flags_reach_the_app_and_the_server() -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    flags = {
        "--max-connections": "10",
        "--header-timeout": "2",
        "--body-timeout": "3",
        "--max-body-mb": "1",
        "--voices-dir": "/tmp/voices",
        "--voices-memory-mb": "8",
        "--voices-dir-max-mb": "100",
        "--max-queue": "5",
    }
    args = parser.parse_args([word for flag in flags.items() for word in flag])
    options = app_options(args)
    assert options == {
        "max_body_bytes": 1024 * 1024,
        "max_header_bytes": 32 * 1024,
        "body_timeout_s": 3.0,
        "max_queue": 5,
        "max_voice_bytes": 8 * 1024 * 1024,
        "voices_dir": "/tmp/voices",
        "voices_dir_max_bytes": 100 * 1024 * 1024,
        "max_batch": 16,  # the batching flags' defaults (tests/test_serving_merge.py sets them)
        "batch_window_s": 0.01,
        "merge_window_s": 0.05,
    }
    server = server_options(args)
    assert server["timeout_keep_alive"] == 5.0 and server["h11_max_incomplete_event_size"] > 32768
    # Every provider's serve command has the flags.
    from tts_router_qwen_modal.cli import build_parser

    qwen = build_parser().parse_args(["serve", "--model-dir", "m", "--voices-dir", "v"])
    assert app_options(qwen)["voices_dir"] == "v" and qwen.max_connections == 512
