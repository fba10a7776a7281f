"""``tts-router-qwen``: run the Qwen speech service.

``tts-router-qwen serve --model-dir DIR [--design-model-dir DIR] [--host H] [--port P]`` serves
the protocol under uvicorn, the same app the Modal container runs. The Modal commands::

    tts-router-qwen download --model 0.6B [--model 1.7B] [--dry-run]   # weights -> Volume
    tts-router-qwen deploy --model 0.6B --gpu A10G [--download] [--dry-run]  # modal deploy
    tts-router-qwen deploy --model 0.6B+design     # Base and VoiceDesign: one container, one URL
    tts-router-qwen smoke URL [--design INSTRUCT]                       # health, languages, clone
    tts-router-qwen check [--write] [--python 3.12] [--full]            # the image, offline

``deploy`` and ``download`` use only the settings given as flags or ``--set NAME=VALUE``
(``TTS_ROUTER_*`` variables of the shell are refused unless ``--inherit-env``); ``deploy``
refuses to run while the Volume lacks the model's weights (``--download`` fetches them first)
or while the GPU cannot hold them (:class:`.memory.GpuFit`, printed with the cost).

Each subcommand registers in :data:`COMMANDS`. ``serve`` needs the ``engine`` extra,
``download``, ``deploy`` and ``check`` the ``modal`` extra; without it they print the
``pip install`` that adds it, in one line, and exit 2. ``smoke`` needs only the client.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tts_router import modal_kit
from tts_router.errors import ConfigurationError
from tts_router.extras import require_extra

from .loading import ATTENTIONS, DTYPES
from .variants import resolve_variant

__all__ = ["COMMANDS", "DISTRIBUTION", "ENGINE_MODULES", "MODAL_MODULES", "build_parser", "main"]

DISTRIBUTION = "tts-router-qwen-modal"
# What each extra brings that the commands import (checked before they run).
ENGINE_MODULES = ("torch", "qwen_tts", "fastapi", "uvicorn")
MODAL_MODULES = ("modal",)


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
    from tts_router.serving.options import add_serve_arguments

    add_serve_arguments(serve)


def _serve(args: argparse.Namespace) -> int:
    require_extra(ENGINE_MODULES, DISTRIBUTION, "engine", what="tts-router-qwen serve")
    import uvicorn

    from tts_router.serving.options import app_options, apply_threads, server_options

    from .service import create_service_app

    logging.basicConfig(level=args.log_level.upper())
    apply_threads(args)
    options: dict[str, Any] = {"max_new_tokens": args.max_new_tokens}
    for name in ("device", "dtype", "attention"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    app = create_service_app(
        args.model_dir, args.design_model_dir, engine_options=options, **app_options(args)
    )
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, **server_options(args)
    )
    return 0


def _add_download(sub: Any) -> None:
    download = sub.add_parser("download", help="fetch models into the Modal Volume, once")
    download.add_argument(
        "--model",
        action="append",
        required=True,
        help="0.6B, 1.7B, design (1.7B-VoiceDesign) or a full variant name; repeatable",
    )
    modal_kit.add_modal_arguments(download, deploy=False)


def _download(args: argparse.Namespace) -> int:
    require_extra(MODAL_MODULES, DISTRIBUTION, "modal", what="tts-router-qwen download")
    from . import modal_app

    variants = [resolve_variant(name) for name in args.model]
    settings = modal_kit.command_settings(
        args, "qwen", modal_app.qwen_settings, variant=variants[0]
    )
    return modal_kit.run_function_flow(
        modal_app.MODULE, "download_models", settings, args, ["--models", ",".join(variants)]
    )


def _add_deploy(sub: Any) -> None:
    deploy = sub.add_parser("deploy", help="deploy one model variant as a Modal app")
    deploy.add_argument("--model", default="0.6B", help="0.6B (default), 1.7B, design, 0.6B+design")
    deploy.add_argument(
        "--download",
        action="store_true",
        help="first fetch the model into the Modal Volume (skips files already there)",
    )
    modal_kit.add_modal_arguments(deploy)


def _deploy(args: argparse.Namespace) -> int:
    require_extra(MODAL_MODULES, DISTRIBUTION, "modal", what="tts-router-qwen deploy")
    from . import modal_app
    from .memory import GpuFit

    variant = resolve_variant(args.model)
    settings = modal_kit.command_settings(args, "qwen", modal_app.qwen_settings, variant=variant)
    fit = GpuFit(variant, settings.gpu)
    if not fit.fits:
        raise ConfigurationError(f"{fit.line()}: choose a larger --gpu (docs/modal.md)")
    kinds = {"Base": "QWEN_MODAL_URL", "VoiceDesign": "QWEN_MODAL_DESIGN_URL"}
    return modal_kit.deploy_flow(
        modal_app.MODULE,
        settings,
        args,
        url_variable=[name for kind, name in kinds.items() if kind in variant],
        notes=[f"memory: {fit.line()}"],
        weights=modal_app.volume_weights(settings),
        download=("download_models", ["--models", variant]),
    )


def _add_check(sub: Any) -> None:
    check = sub.add_parser(
        "check", help="the image's packages against uv.lock; the app imported under Python 3.12"
    )
    check.add_argument("--model", default="0.6B", help="the variant whose app is imported")
    modal_kit.add_check_arguments(check)


def _check(args: argparse.Namespace) -> int:
    require_extra(MODAL_MODULES, DISTRIBUTION, "modal", what="tts-router-qwen check")
    from . import modal_app

    settings = modal_app.qwen_settings({}, variant=resolve_variant(args.model))
    return modal_kit.check_flow(args, modal_app.IMAGE, settings)


def _add_smoke(sub: Any) -> None:
    smoke = sub.add_parser(
        "smoke", help="health, languages and one short clone (or design) against a URL"
    )
    modal_kit.add_smoke_arguments(smoke)


def _smoke(args: argparse.Namespace) -> int:
    return modal_kit.smoke_flow(args, provider="qwen")


# name -> (adds its arguments, runs it)
COMMANDS: dict[str, tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = {
    "serve": (_add_serve, _serve),
    "download": (_add_download, _download),
    "deploy": (_add_deploy, _deploy),
    "smoke": (_add_smoke, _smoke),
    "check": (_add_check, _check),
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
    try:
        return COMMANDS[args.command][1](args)
    except ConfigurationError as exc:  # a missing extra or setting: one line, the fix in it
        print(f"error: {exc}", file=sys.stderr)
        return 2
