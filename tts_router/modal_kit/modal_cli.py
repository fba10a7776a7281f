"""``modal`` CLI invocations: built with the settings' variables, printed, run, read back.

:func:`deploy_command` and :func:`modal_run_command` build a :class:`ModalCommand` (argv plus
the variables the app reads at import); :func:`run_modal` prints it and runs it unless it is a
dry run, echoing the output as it comes (the environment is :func:`command_env`);
:func:`find_web_url` reads the endpoint URL back from ``modal deploy``'s output.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .settings import ENV_PREFIX, ModalSettings

__all__ = [
    "ModalCommand",
    "command_env",
    "deploy_command",
    "find_web_url",
    "modal_run_command",
    "run_modal",
]


@dataclass(frozen=True, slots=True)
class ModalCommand:
    """A ``modal`` CLI invocation and the variables it runs with (on top of os.environ)."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        """The command as one copy-pasteable shell line, variables first."""
        assignments = [f"{name}={shlex.quote(value)}" for name, value in self.env.items()]
        return " ".join([*assignments, *(shlex.quote(arg) for arg in self.argv)])


# The modal of this interpreter's environment, whatever is first on PATH.
_MODAL_CLI = (sys.executable, "-m", "modal")


def deploy_command(
    module: str, settings: ModalSettings, *, environment: str | None = None
) -> ModalCommand:
    """``modal deploy -m MODULE`` with the settings' variables (the app reads them)."""
    argv = [*_MODAL_CLI, "deploy", "-m", module]
    if environment:
        argv += ["--env", environment]
    return ModalCommand(tuple(argv), settings.env())


def modal_run_command(
    module: str,
    function: str,
    settings: ModalSettings,
    args: Sequence[str] = (),
    *,
    environment: str | None = None,
) -> ModalCommand:
    """``modal run -m MODULE::FUNCTION ARGS`` with the settings' variables."""
    argv = [*_MODAL_CLI, "run"]
    if environment:
        argv += ["--env", environment]
    argv += ["-m", f"{module}::{function}", *args]
    return ModalCommand(tuple(argv), settings.env())


def command_env(command: ModalCommand, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``command`` runs with: ``environ`` (default ``os.environ``) without
    its ``TTS_ROUTER_*`` variables, then the command's variables. The app module reads its
    settings from the environment at import, so only what the command chose reaches the
    deployment."""
    base = os.environ if environ is None else environ
    kept = {name: value for name, value in base.items() if not name.startswith(ENV_PREFIX)}
    return {**kept, **command.env}


_URL = re.compile(r"https://[A-Za-z0-9.-]+\.modal\.run\b")


def find_web_url(output: str) -> str | None:
    """The first ``https://...modal.run`` URL in ``modal deploy`` output, if any."""
    match = _URL.search(output)
    return match.group(0) if match else None


def run_modal(
    command: ModalCommand,
    *,
    dry_run: bool,
    echo: Callable[[str], None] = print,
    runner: Callable[[ModalCommand], tuple[int, str]] | None = None,
) -> tuple[int, str]:
    """Print ``command`` and, unless ``dry_run``, run it: with ``runner`` when given, else as a
    process in :func:`command_env` whose output is echoed as it comes; its status and output."""
    echo(f"$ {command.shell()}")
    if dry_run:
        return 0, ""
    if runner is not None:
        return runner(command)
    lines: list[str] = []
    with subprocess.Popen(
        command.argv,
        env=command_env(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line.rstrip("\n"))
            lines.append(line)
        status = process.wait()
    return status, "".join(lines)
