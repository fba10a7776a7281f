"""The ``deploy`` and ``download`` commands every provider's CLI offers, and their output.

:func:`add_modal_arguments` adds the settings flags to a parser and :func:`settings_from_args`
applies them; :func:`deploy_flow` runs ``modal deploy`` and prints the URL, the host app's
settings (:func:`host_settings`, optionally with a new proxy token from
:func:`create_proxy_token`) and what it costs (:func:`cost_note`); :func:`run_function_flow`
runs one function of the app (a download) with ``modal run``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .commands import ModalCommand, deploy_command, find_web_url, modal_run_command, run_modal
from .settings import DEFAULT_GPU, ModalSettings

__all__ = [
    "add_modal_arguments",
    "cost_note",
    "create_proxy_token",
    "deploy_flow",
    "host_settings",
    "run_function_flow",
    "settings_from_args",
]


def create_proxy_token(name: str) -> tuple[str, str]:
    """A new Modal proxy-auth token (``wk-...``, ``ws-...``) for the host app's headers.

    The secret is shown only once, by Modal, at creation: print it to the user, store nowhere.
    """
    import modal

    token = modal.Workspace.from_context().proxy_tokens.create(name=name)
    return token.token_id, token.token_secret


def host_settings(
    url_variable: str, url: str, key: str | None = None, secret: str | None = None
) -> list[str]:
    """The ``.env`` lines a host app needs for a deployed service."""
    return [
        f"{url_variable}={url}",
        f"MODAL_KEY={key or '<wk-... from: modal workspace proxy-tokens create>'}",
        f"MODAL_SECRET={secret or '<ws-... shown once when the token is created>'}",
    ]


def cost_note(settings: ModalSettings) -> str:
    """What the deployment costs: per GPU-hour while a container runs, nothing when idle."""
    price = settings.price_per_hour
    per_hour = f"~${price:.2f} per GPU-hour" if price is not None else "see Modal's pricing"
    if settings.min_containers:
        idle = f"{settings.min_containers} container(s) kept warm: billed around the clock"
    else:
        idle = f"scales to zero {settings.scaledown_window_s} s after the last request"
    return (
        f"{settings.gpu}: {per_hour} per running container (at most "
        f"{settings.max_containers}); {idle}"
    )


# --flag -> (ModalSettings field, type): the deploy options every provider's CLI offers.
_DEPLOY_FLAGS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "--gpu": ("gpu", str, f"Modal GPU type (default {DEFAULT_GPU}; T4, L4, L40S, H100...)"),
    "--volume": ("volume", str, "Modal Volume holding the weights"),
    "--cpu": ("cpu", float, "physical cores reserved per container (default 4)"),
    "--memory": ("memory_mib", int, "MiB of RAM reserved per container (default 16384)"),
    "--max-containers": ("max_containers", int, "most containers at once (default 2)"),
    "--min-containers": ("min_containers", int, "containers kept warm (default 0: scale to 0)"),
    "--scaledown": ("scaledown_window_s", int, "idle seconds before a container stops"),
    "--timeout": ("timeout_s", int, "longest seconds one request may run"),
    "--hf-secret": ("hf_secret", str, "Modal Secret with HF_TOKEN (gated models only)"),
    "--app-name": ("app_name", str, "Modal app name (default from the model variant)"),
}


def add_modal_arguments(parser: Any, *, deploy: bool = True) -> None:
    """Add the Modal settings flags (and ``--env``, ``--dry-run``) to an argparse parser.

    Flags override the ``TTS_ROUTER_*`` variables, which override the provider's defaults.
    """
    for flag, (_, kind, help_text) in _DEPLOY_FLAGS.items():
        if deploy or flag in ("--volume", "--hf-secret", "--app-name", "--gpu"):
            parser.add_argument(flag, type=kind, default=None, help=help_text)
    parser.add_argument("--env", default=None, help="Modal environment (default: the profile's)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the exact command and variables only"
    )
    if deploy:
        parser.add_argument(
            "--create-proxy-token",
            action="store_true",
            help="create a Modal proxy-auth token and print MODAL_KEY/MODAL_SECRET once",
        )


def settings_from_args(settings: ModalSettings, args: Any) -> ModalSettings:
    """``settings`` with the flags given on the command line applied."""
    changes = {
        name: getattr(args, flag[2:].replace("-", "_"))
        for flag, (name, _, _) in _DEPLOY_FLAGS.items()
        if getattr(args, flag[2:].replace("-", "_"), None) is not None
    }
    return replace(settings, **changes) if changes else settings


def deploy_flow(
    module: str,
    settings: ModalSettings,
    args: Any,
    *,
    url_variable: str,
    extra: Sequence[str] = (),
    echo: Callable[[str], None] = print,
    runner: Callable[[ModalCommand], tuple[int, str]] | None = None,
) -> int:
    """``modal deploy`` the app, then print its URL and the settings a host app needs
    (``extra`` lines after them).

    With ``args.create_proxy_token`` a new proxy-auth token is created and printed once.
    """
    command = deploy_command(module, settings, environment=args.env)
    status, output = run_modal(command, dry_run=args.dry_run, echo=echo, runner=runner)
    echo(f"# cost: {cost_note(settings)}")
    if args.dry_run or status:
        if status:
            echo(f"modal deploy failed (exit status {status})")
        return status
    url = find_web_url(output)
    if url is None:
        echo("# no endpoint URL found in the output: see `modal app list` and the dashboard")
        url = "<the web endpoint URL printed above>"
    key = secret = None
    if getattr(args, "create_proxy_token", False):
        key, secret = create_proxy_token(settings.app_name)
    echo(f"# deployed {settings.app_name}; settings for the host app (.env):")
    for line in [*host_settings(url_variable, url, key, secret), *extra]:
        echo(line)
    return 0


def run_function_flow(
    module: str,
    function: str,
    settings: ModalSettings,
    args: Any,
    function_args: Sequence[str] = (),
    *,
    echo: Callable[[str], None] = print,
    runner: Callable[[ModalCommand], tuple[int, str]] | None = None,
) -> int:
    """``modal run`` one function of the app (a download) in ``args.env``, printed first and
    not run with ``args.dry_run``; its exit status."""
    command = modal_run_command(module, function, settings, function_args, environment=args.env)
    return run_modal(command, dry_run=args.dry_run, echo=echo, runner=runner)[0]
