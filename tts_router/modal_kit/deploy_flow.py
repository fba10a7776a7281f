"""The ``deploy`` and ``download`` commands every provider's CLI offers, and their output.

:func:`add_modal_arguments` adds the settings flags to a parser; :func:`command_settings`
builds a command's settings from those flags and ``--set NAME=VALUE`` only, refusing
``TTS_ROUTER_*`` values inherited from the shell unless ``--inherit-env`` says to use them
(:func:`command_environment`): whatever a deploy uses is baked into the image, so a stray
local value (a model path that exists only here, warm containers) must not slip in.
:func:`deploy_flow` downloads first with ``--download``, checks that the Volume holds the
weights (:mod:`.volume`), runs ``modal deploy`` and prints the Modal environment, the URL, the
host app's settings (:func:`host_settings`, optionally with a new proxy token from
:func:`create_proxy_token`) and what it costs (:func:`cost_note`); :func:`run_function_flow`
runs one function of the app (a download) with ``modal run``, never with warm containers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import ConfigurationError
from .modal_cli import ModalCommand, deploy_command, find_web_url, modal_run_command, run_modal
from .settings import DEFAULT_GPU, ModalSettings, setting_variables, variable_for
from .volume import VolumeLister, VolumeWeights, list_volume, listing_prefixes, missing_weights

__all__ = [
    "add_modal_arguments",
    "command_environment",
    "command_settings",
    "cost_note",
    "create_proxy_token",
    "deploy_flow",
    "host_settings",
    "modal_environment",
    "run_function_flow",
]


def create_proxy_token(name: str) -> tuple[str, str]:
    """A new Modal proxy-auth token (``wk-...``, ``ws-...``) for the host app's headers.

    The secret is shown only once, by Modal, at creation: print it to the user, store nowhere.
    """
    import modal

    token = modal.Workspace.from_context().proxy_tokens.create(name=name)
    return token.token_id, token.token_secret


def host_settings(
    url_variable: str | Sequence[str], url: str, key: str | None = None, secret: str | None = None
) -> list[str]:
    """The ``.env`` lines a host app needs for a deployed service (the URL under each of
    ``url_variable``: one deployment may serve what two settings name)."""
    names = [url_variable] if isinstance(url_variable, str) else list(url_variable)
    return [
        *(f"{name}={url}" for name in names),
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
    "--concurrent-inputs": (
        "concurrent_inputs",
        int,
        "most requests one container takes at once (default 32: the burst cap)",
    ),
    "--target-inputs": (
        "target_inputs",
        int,
        "requests per container before Modal starts another (default: the batch size)",
    ),
    "--hf-secret": ("hf_secret", str, "Modal Secret with HF_TOKEN (gated models only)"),
    "--app-name": ("app_name", str, "Modal app name (default from the model variant)"),
}


def add_modal_arguments(parser: Any, *, deploy: bool = True) -> None:
    """Add the Modal settings flags (and ``--set``, ``--inherit-env``, ``--env``,
    ``--dry-run``) to an argparse parser.

    Flags and ``--set`` override the provider's defaults; ``TTS_ROUTER_*`` variables of the
    shell are used only with ``--inherit-env`` (see :func:`command_environment`).
    """
    for flag, (_, kind, help_text) in _DEPLOY_FLAGS.items():
        if deploy or flag in ("--volume", "--hf-secret", "--app-name", "--gpu"):
            parser.add_argument(flag, type=kind, default=None, help=help_text)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a TTS_ROUTER_* setting for this deployment (repeatable; e.g. "
        "TTS_ROUTER_MODAL_MODEL=/models/my-model)",
    )
    parser.add_argument(
        "--inherit-env",
        action="store_true",
        help="use the TTS_ROUTER_* settings of this shell (refused by default: they would be "
        "baked into the image)",
    )
    parser.add_argument(
        "--env",
        default=None,
        help="Modal environment (default: MODAL_ENVIRONMENT or the profile's)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the exact command and variables only"
    )
    if deploy:
        parser.add_argument(
            "--create-proxy-token",
            action="store_true",
            help="create a Modal proxy-auth token and print MODAL_KEY/MODAL_SECRET once",
        )


def _flag_changes(args: Any) -> dict[str, Any]:
    return {
        name: getattr(args, flag[2:].replace("-", "_"))
        for flag, (name, _, _) in _DEPLOY_FLAGS.items()
        if getattr(args, flag[2:].replace("-", "_"), None) is not None
    }


def command_environment(
    args: Any,
    provider: str,
    *,
    overridden: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The ``TTS_ROUTER_*`` settings a deploy or download of ``provider`` runs with.

    ``--set NAME=VALUE`` values always (NAME must be one of the provider's settings);
    inherited ones (in ``environ``, default ``os.environ``) only with ``args.inherit_env``.
    Without it, an inherited setting that no flag, ``--set`` or ``overridden`` field (the
    provider CLI's own choices, e.g. ``variant``) replaces is refused with a
    ConfigurationError naming it: it would otherwise be baked into the image silently.
    """
    env = os.environ if environ is None else environ
    known = setting_variables(provider)
    explicit: dict[str, str] = {}
    for item in getattr(args, "set", None) or ():
        name, sep, value = str(item).partition("=")
        if not sep or name.strip() not in known:
            raise ConfigurationError(
                f"--set {name.strip() or item!r}: expected NAME=VALUE with NAME one of "
                + ", ".join(known)
            )
        explicit[name.strip()] = value.strip()
    inherited = {name: env[name] for name in known if name in env}
    if getattr(args, "inherit_env", False):
        return {**inherited, **explicit}
    replaced = {variable_for(provider, field) for field in [*_flag_changes(args), *overridden]}
    leaking = [name for name in inherited if name not in replaced and name not in explicit]
    if leaking:
        raise ConfigurationError(
            "this shell sets " + ", ".join(leaking) + ", which would be baked into the "
            "deployment; pass what you mean explicitly (a flag, or --set NAME=VALUE), "
            "use them with --inherit-env, or unset them"
        )
    return explicit


def command_settings(
    args: Any,
    provider: str,
    build: Callable[..., ModalSettings],
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ModalSettings:
    """A command's settings: ``build(environment, **overrides)`` (the provider's
    ``qwen_settings``/``echo_settings``) over :func:`command_environment`, then the flags."""
    environment = command_environment(args, provider, overridden=list(overrides), environ=environ)
    return replace(build(environment, **overrides), **_flag_changes(args))


def modal_environment(explicit: str | None) -> str | None:
    """The Modal environment a command runs in: ``--env``, else ``MODAL_ENVIRONMENT`` or the
    profile's (Modal's own configuration); None: the workspace's default."""
    if explicit:
        return explicit
    try:
        from modal.config import config
    except ImportError:
        return os.environ.get("MODAL_ENVIRONMENT") or None
    return str(config.get("environment") or "") or None


def deploy_flow(
    module: str,
    settings: ModalSettings,
    args: Any,
    *,
    url_variable: str | Sequence[str],
    extra: Sequence[str] = (),
    notes: Sequence[str] = (),
    weights: VolumeWeights | None = None,
    download: tuple[str, Sequence[str]] | None = None,
    echo: Callable[[str], None] = print,
    runner: Callable[[ModalCommand], tuple[int, str]] | None = None,
    lister: VolumeLister = list_volume,
) -> int:
    """``modal deploy`` the app, then print its URL and the settings a host app needs
    (``extra`` lines after them; ``notes``, e.g. the memory estimate, as comments with the
    cost).

    First, with ``args.download``, the ``download`` function (name, arguments) runs
    (:func:`run_function_flow`); then the Volume must hold ``weights`` (listed with
    ``lister``; a ConfigurationError naming the missing files and the download command
    otherwise; a dry run prints what it would check). With ``args.create_proxy_token`` a new
    proxy-auth token is created and printed once.
    """
    environment = modal_environment(args.env)
    echo(f"# Modal environment: {environment or '(the workspace default)'}")
    if download is not None and getattr(args, "download", False):
        function, function_args = download
        status = run_function_flow(
            module, function, settings, args, function_args, echo=echo, runner=runner
        )
        if status:
            return status
    if weights is not None and weights.patterns:
        patterns = weights.patterns
        if args.dry_run:
            echo(f"# would check Volume {settings.volume} for: {', '.join(patterns)}")
        elif missing := missing_weights(
            lister(settings.volume, listing_prefixes(patterns), environment), patterns
        ):
            raise ConfigurationError(
                f"the Volume {settings.volume!r} does not hold {weights.label} "
                f"(missing: {', '.join(missing)}); run `{weights.fetch}` first"
                + (", or deploy with --download" if download is not None else "")
                + ": a deploy without weights bakes a snapshot without the model"
            )
        else:
            echo(f"# Volume {settings.volume} holds {weights.label}")
    command = deploy_command(module, settings, environment=args.env)
    status, output = run_modal(command, dry_run=args.dry_run, echo=echo, runner=runner)
    for note in (f"cost: {cost_note(settings)}", *notes):
        echo(f"# {note}")
    if args.dry_run or status:
        if status:
            echo(f"modal deploy failed (exit status {status})")
        return status
    url = find_web_url(output)
    if url is None:
        echo("# no endpoint URL found in the output: see `modal app list` and the dashboard")
        url = "<the web endpoint URL printed above>"
    create = getattr(args, "create_proxy_token", False)
    key, secret = create_proxy_token(settings.app_name) if create else (None, None)
    echo(f"# deployed {settings.app_name}; settings for the host app (.env):")
    for line in [*host_settings(url_variable, url, key, secret), *extra]:
        echo(line)
    if environment:
        echo(f"# SDK callers (modal.Cls.from_name) reach it with MODAL_ENVIRONMENT={environment}")
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
    not run with ``args.dry_run``; its exit status.

    The run's ephemeral app holds the service class too: it runs with ``min_containers=0``,
    so warm-container settings never start a billed GPU for a download.
    """
    settings = settings.with_changes(min_containers=0)
    command = modal_run_command(module, function, settings, function_args, environment=args.env)
    return run_modal(command, dry_run=args.dry_run, echo=echo, runner=runner)[0]
