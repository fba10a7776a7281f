"""The ``serve`` flags every provider's CLI shares: limits, batching, the voice store, threads.

A provider's ``serve`` command calls :func:`add_serve_arguments` on its parser, then passes
:func:`app_options` to :func:`~tts_router.serving.create_app` (through its own
``create_service_app``) and :func:`server_options` to ``uvicorn.run``.
"""

from __future__ import annotations

import argparse
from typing import Any

from .app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MERGE_WINDOW_S
from .server import ServerLimits, uvicorn_options
from .voices import DEFAULT_VOICE_BYTES

__all__ = [
    "add_serve_arguments",
    "app_options",
    "apply_threads",
    "server_options",
    "set_torch_threads",
]

_MIB = 1024 * 1024
_DEFAULTS = ServerLimits()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the limit, voice-store and thread flags to a ``serve`` parser."""
    group = parser.add_argument_group("limits")
    group.add_argument(
        "--max-connections",
        type=int,
        default=_DEFAULTS.max_connections,
        help="open connections at most; the slowest client is dropped beyond (default "
        f"{_DEFAULTS.max_connections}, and at most half the descriptor limit)",
    )
    _flag(group, "--header-timeout", _DEFAULTS.header_timeout_s, "seconds a request head may take")
    _flag(group, "--body-timeout", 30.0, "seconds a request body may stall between bytes")
    _flag(group, "--keep-alive", _DEFAULTS.keep_alive_s, "seconds an idle connection stays open")
    _flag(group, "--max-header-bytes", DEFAULT_MAX_HEADER_BYTES, "request head size", int)
    _flag(group, "--max-body-mb", DEFAULT_MAX_BODY_BYTES / _MIB, "request body size in MiB")
    _flag(group, "--max-queue", 64, "jobs admitted at once; beyond: 503", int)
    batching = parser.add_argument_group("batching")
    _flag(batching, "--max-batch", 16, "chunks generated together in one engine call", int)
    _flag(
        batching,
        "--batch-window-ms",
        10.0,
        "how long work arriving at an idle service waits for company",
    )
    batching.add_argument(
        "--merge-window-ms",
        type=float,
        default=DEFAULT_MERGE_WINDOW_S * 1000,
        help="after a batch, wait at most this long for the clients it answered, so steady "
        "load merges into full batches (adaptive, at most half a batch; 0: never; default "
        f"{DEFAULT_MERGE_WINDOW_S * 1000:g})",
    )
    voices = parser.add_argument_group("voices")
    voices.add_argument(
        "--voices-dir",
        help="keep uploaded voices in this directory: they survive restarts and are shared "
        "by every process that mounts it (default: memory only)",
    )
    voices.add_argument(
        "--voices-memory-mb",
        type=float,
        default=DEFAULT_VOICE_BYTES / _MIB,
        help="decoded voices kept in memory, MiB (default "
        f"{DEFAULT_VOICE_BYTES / _MIB:g}; least recently used out first)",
    )
    voices.add_argument(
        "--voices-dir-max-mb", type=float, help="size of --voices-dir at most (default: no bound)"
    )
    parser.add_argument(
        "--threads",
        "--torch-threads",
        dest="threads",
        type=int,
        help="torch CPU threads (1 keeps a shared CPU steady; default: torch's)",
    )


def _flag(
    group: argparse._ActionsContainer, flag: str, default: float, what: str, kind: type = float
) -> None:
    group.add_argument(flag, type=kind, default=default, help=f"{what} (default {default:g})")


def app_options(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`~tts_router.serving.create_app` keyword arguments from the parsed flags."""
    options: dict[str, Any] = {
        "max_body_bytes": int(args.max_body_mb * _MIB),
        "max_header_bytes": args.max_header_bytes,
        "body_timeout_s": args.body_timeout,
        "max_queue": args.max_queue,
        "max_voice_bytes": int(args.voices_memory_mb * _MIB),
        "max_batch": args.max_batch,
        "batch_window_s": args.batch_window_ms / 1000,
        "merge_window_s": args.merge_window_ms / 1000,
    }
    if args.voices_dir:
        options["voices_dir"] = args.voices_dir
        if args.voices_dir_max_mb is not None:
            options["voices_dir_max_bytes"] = int(args.voices_dir_max_mb * _MIB)
    return options


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """``uvicorn.run`` keyword arguments (connection limits) from the parsed flags."""
    return uvicorn_options(
        ServerLimits(
            max_connections=args.max_connections,
            header_timeout_s=args.header_timeout,
            keep_alive_s=args.keep_alive,
            max_header_bytes=args.max_header_bytes,
        )
    )


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU threads if ``--threads`` was given (torch imported only then)."""
    set_torch_threads(args.threads)


def set_torch_threads(count: int | None) -> None:
    """torch's CPU threads, when ``count`` is given and positive (torch imported only then);
    the Modal apps pass their ``torch_threads`` setting."""
    if count:
        import torch

        torch.set_num_threads(count)
