"""``tts-router-qwen``: run the Qwen speech service.

``tts-router-qwen serve --model-dir DIR [--design-model-dir DIR] [--host H] [--port P]`` serves
the protocol under uvicorn, the same app the Modal container runs. More subcommands
(``download``, ``deploy``, ``smoke``) register in :data:`COMMANDS` the same way.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from typing import Any

from .policy import ATTENTIONS, DTYPES

__all__ = ["COMMANDS", "build_parser", "main"]


def _add_serve(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the speech protocol over HTTP with uvicorn")
    serve.add_argument("--model-dir", required=True, help="Base model directory, name or hub id")
    serve.add_argument("--design-model-dir", help="VoiceDesign model directory, name or hub id")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--device", help="cuda, cuda:1, cpu (default: a GPU if present)")
    serve.add_argument("--dtype", choices=DTYPES, help="default: bf16 on Ampere+, else fp32")
    serve.add_argument("--attention", choices=ATTENTIONS, help="default: sdpa")
    serve.add_argument("--max-new-tokens", type=int, default=2048, help="token cap per chunk")
    serve.add_argument("--log-level", default="info")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .service import create_service_app

    logging.basicConfig(level=args.log_level.upper())
    options: dict[str, Any] = {"max_new_tokens": args.max_new_tokens}
    for name in ("device", "dtype", "attention"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    app = create_service_app(args.model_dir, args.design_model_dir, engine_options=options)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


# name -> (adds its arguments, runs it)
COMMANDS: dict[str, tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = {
    "serve": (_add_serve, _serve),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="tts-router-qwen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tts-router-qwen`` script."""
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command][1](args)
