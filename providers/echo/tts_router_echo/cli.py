"""``tts-router-echo``: run the Echo-TTS service, or fetch the weights once.

tts-router-echo serve --model-dir DIR [--host 127.0.0.1] [--port 8000] [--device cuda]
tts-router-echo download --model-dir DIR     # the only command that uses the network
tts-router-echo tiny --model-dir DIR         # a tiny random model, for trying it offline
tts-router-echo deploy --gpu A10G [--download] [--dry-run] # the Modal app
tts-router-echo smoke URL                    # health, languages, one short clone, timed
tts-router-echo check [--write] [--full]     # the image's packages vs uv.lock, Python 3.12

``deploy`` uses only the settings given as flags or ``--set NAME=VALUE`` (``TTS_ROUTER_*``
variables of the shell are refused unless ``--inherit-env``) and refuses to run while the
Volume lacks the weights (``--download`` fetches them first).

``serve``, ``download`` and ``tiny`` need the ``engine`` extra, ``deploy`` and ``check`` the
``modal`` extra; without it they print the ``pip install`` that adds it, in one line, and exit
2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tts_router import modal_kit
from tts_router.errors import ConfigurationError
from tts_router.extras import require_extra

__all__ = ["DISTRIBUTION", "EXTRA_MODULES", "main"]

DISTRIBUTION = "tts-router-echo"
# command -> (extra, what it brings that the command imports): checked before it runs.
EXTRA_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "serve": ("engine", ("torch", "echo_tts", "fastapi", "uvicorn")),
    "download": ("engine", ("huggingface_hub",)),
    "tiny": ("engine", ("torch", "echo_tts")),
    "deploy": ("modal", ("modal",)),
    "check": ("modal", ("modal",)),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tts-router-echo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service over local weights")
    serve.add_argument("--model-dir", required=True, type=Path, help="weights root (see README)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", default=8000, type=int, help="port (default 8000)")
    serve.add_argument("--device", default=None, help="cuda, cpu... (default: cuda if present)")
    from tts_router.serving.options import add_serve_arguments

    add_serve_arguments(serve)
    download = commands.add_parser("download", help="fetch the real weights from the hub")
    download.add_argument("--model-dir", required=True, type=Path)
    tiny = commands.add_parser("tiny", help="write a tiny random-weight model (noise, offline)")
    tiny.add_argument("--model-dir", required=True, type=Path)
    tiny.add_argument("--seed", default=0, type=int)
    deploy = commands.add_parser("deploy", help="deploy the Modal app (GPU service)")
    deploy.add_argument(
        "--download",
        action="store_true",
        help="first fetch the weights into the Modal Volume (once; later runs skip them)",
    )
    modal_kit.add_modal_arguments(deploy)
    smoke = commands.add_parser("smoke", help="health, languages and one clone against a URL")
    modal_kit.add_smoke_arguments(smoke)
    check = commands.add_parser(
        "check", help="the image's packages against uv.lock; the app imported under Python 3.12"
    )
    modal_kit.add_check_arguments(check)
    return parser


def _deploy(args: argparse.Namespace) -> int:
    from . import modal_app

    settings = modal_kit.command_settings(args, "echo", modal_app.echo_settings)
    return modal_kit.deploy_flow(
        modal_app.MODULE,
        settings,
        args,
        url_variable="ECHO_MODAL_URL",
        extra=[f"# SDK callers: ECHO_MODAL_APP={settings.app_name} ECHO_MODAL_CLASS=EchoService"],
        weights=modal_app.volume_weights(settings),
        download=("download_weights", []),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tts-router-echo`` script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except ConfigurationError as exc:  # a missing extra or setting: one line, the fix in it
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command in EXTRA_MODULES:
        extra, modules = EXTRA_MODULES[args.command]
        require_extra(modules, DISTRIBUTION, extra, what=f"tts-router-echo {args.command}")
    if args.command == "deploy":
        return _deploy(args)
    if args.command == "check":
        from . import modal_app

        return modal_kit.check_flow(args, modal_app.IMAGE, modal_app.echo_settings({}))
    if args.command == "smoke":
        return modal_kit.smoke_flow(args, provider="echo")
    if args.command == "serve":
        import uvicorn

        from tts_router.serving.options import app_options, apply_threads, server_options

        from .service import create_service_app

        apply_threads(args)
        app = create_service_app(args.model_dir, device=args.device, **app_options(args))
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="info",
            access_log=False,
            **server_options(args),
        )
    elif args.command == "download":
        import os

        from .weights import download

        # The token comes from the environment only, never from the command line (ps, history).
        download(args.model_dir, token=os.environ.get("HF_TOKEN"))
        print(f"weights are in {args.model_dir} (CC-BY-NC-SA-4.0: non-commercial use only)")
    else:
        from .fixtures import build_tiny_echo

        print(build_tiny_echo(args.model_dir, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
