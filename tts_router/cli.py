"""The ``tts-router`` command line.

Every failure prints one line naming the fix: no traceback, no input text, no secret (URLs are
shown with their credentials masked). Provider ids, ``auto`` included, are case-insensitive.

The exit codes are :data:`EXIT_CODES` (``--help`` prints them).

``providers``, ``languages`` and ``explain`` list broken providers (``broken: <reason>``) and
still exit 0: they report, ``doctor`` and ``plugins`` judge.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from .audio import stitch
from .errors import NoProviderError, TTSRouterError, ValidationError
from .extras import missing_modules, require_extra
from .formats import FORMATS, STREAM_FORMATS, encode, encoded_rate, format_for_path
from .models import CloneRequest, DesignRequest, VoiceReference
from .plugins import ALLOW_LIST_VARIABLE, EntryPointInfo, PluginRegistry, get_plugins
from .provider import Health, Provider
from .provider_settings import ProviderSettings
from .router import Router, _reason, probe
from .settings import Settings
from .streaming import AudioChunk
from .urls import mask_url

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = """\
exit codes:
  0    done; doctor and plugins: nothing broken or misconfigured
  1    doctor or plugins found something broken or misconfigured (each is listed with
       its fix), or an operating-system error (the message names the file)
  2    a typed error (bad input or configuration, no provider, the provider failed),
       or a usage error
  130  interrupted
  141  standard output closed early (e.g. `| head`); nothing printed
"""

AUTO = "auto"
# How long doctor waits for one provider's health check.
PROBE_TIMEOUT_S = 30.0
_BAR_WIDTH = 24  # characters in the progress bar
_PLUGIN_BUG_FIX = (
    "a bug in the plugin: update or report it, or leave its entry point out with "
    f"{ALLOW_LIST_VARIABLE}"
)


_T = TypeVar("_T")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (see the module docstring)."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # Later writes (the interpreter's final flush) go nowhere instead of raising again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        try:
            settings = Settings.load()
        except TTSRouterError as exc:
            if args.handler is _doctor:  # doctor reports it as the problem it is
                return _report_problems([_Problem(str(exc), "fix the setting it names")])
            raise
        return int(args.handler(Router(settings=settings), args) or 0)
    except BrokenPipeError:
        raise
    except TTSRouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # one from _file has the whole line as its message
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _os_error(exc: OSError, action: str = "use", path: object = None) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    path = path or exc.filename
    return f"cannot {action} {path}: {reason}" if path else reason


@contextlib.contextmanager
def _file(action: str, path: Path | str) -> Iterator[None]:
    """Turn an OSError on ``path`` into one line naming it: ``cannot read x.wav: ...``."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OSError(_os_error(exc, action, path)) from None


def _provider_arg(value: str) -> str:
    return value.strip().lower()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tts-router",
        description="Text to speech through interchangeable providers.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[Router, argparse.Namespace], int], helptext: str, **kw: Any
    ) -> argparse.ArgumentParser:
        cmd = commands.add_parser(name, help=helptext, **kw)
        cmd.set_defaults(handler=handler)
        return cmd

    command("providers", _providers, "installed providers, what they can do, status")
    command(
        "plugins",
        _plugins,
        "installed plugins (entry points), their providers, and any that failed",
        epilog="exit 1 when a plugin is broken or registered nothing",
    )
    command("languages", _languages, "languages, for one provider or all").add_argument(
        "--provider", type=_provider_arg, help="a provider id (default: the union of all)"
    )
    command(
        "doctor",
        _doctor,
        "configuration (secrets masked), health, and every problem with its fix",
        epilog="exit 1 when something is broken or misconfigured",
    )

    for name, helptext in (
        ("clone", "speak in the voice of a reference recording"),
        ("design", "speak in a voice described in words"),
    ):
        cmd = command(name, _speak, helptext, epilog=_STREAM_HELP)
        _request_flags(cmd, name)
        cmd.add_argument(
            "-o", "--output", type=Path, help="file to write; its suffix picks the format"
        )
        cmd.add_argument("--format", choices=FORMATS, help="output format (default: from -o)")
        cmd.add_argument("--sample-rate", type=int, help="resample the output to this rate")
        cmd.add_argument(
            "--stream",
            action="store_true",
            help="write audio to standard output as it is made (not flac)",
        )

    cmd = command(
        "serve",
        _serve,
        "the OpenAI-compatible speech gateway (extra: gateway)",
        epilog="keys: TTS_ROUTER_GATEWAY_KEYS=KEY1,KEY2 or [gateway] keys (hashes from hash-key)",
    )
    cmd.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    cmd.add_argument("--port", type=int, help="port (default 8080)")
    cmd.add_argument("--data-dir", type=Path, help="voice library directory")
    cmd.add_argument(
        "--no-auth", action="store_true", default=None, help="no API keys (loopback only)"
    )
    command("hash-key", _hash_key, "read an API key on stdin, print the hash [gateway] keys stores")

    cmd = commands.add_parser("explain", help="which provider a request would go to, and why")
    explain = cmd.add_subparsers(required=True, metavar="OPERATION")
    for name in ("clone", "design"):
        sub = explain.add_parser(name)
        _request_flags(sub, name, explain_only=True)
        sub.set_defaults(handler=_explain)
    return parser


def _request_flags(
    cmd: argparse.ArgumentParser, operation: str, explain_only: bool = False
) -> None:
    cmd.set_defaults(operation=operation)
    cmd.add_argument("--text", required=not explain_only, help="text to speak; '-' reads stdin")
    cmd.add_argument("--language", default="auto", help="code or name, e.g. en, de, Japanese")
    cmd.add_argument(
        "--provider", type=_provider_arg, help="force a provider id ('auto': let it choose)"
    )
    if operation == "clone":
        cmd.add_argument(
            "--reference",
            type=Path,
            required=not explain_only,
            help="reference recording (WAV/FLAC/OGG/MP3)",
        )
        cmd.add_argument("--transcript", help="what the reference says; '-' reads stdin")
    else:
        cmd.add_argument(
            "--instruct",
            required=not explain_only,
            help="the voice in words: 'a warm, low female voice'",
        )


# -- choosing a provider ------------------------------------------------------------------------


def _requested(router: Router, args: argparse.Namespace) -> str | None:
    """The explicit choice (``--provider``, else ``TTS_PROVIDER``), checked; None for auto."""
    requested = None if args.provider in (None, "", AUTO) else args.provider
    choice = requested or router.settings.provider
    problem = _unusable(router, choice) if choice != AUTO else None
    if problem:
        source = "--provider" if requested else "TTS_PROVIDER"
        raise NoProviderError(f"{source} names provider {choice!r}, which {problem}")
    return requested


def _unusable(router: Router, provider_id: str) -> str | None:
    """Why ``provider_id`` cannot be used at all (broken, filtered out), or None.

    "Not installed" is left to the router's own message, which lists what is installed.
    """
    if provider_id in router.providers:
        return None
    reason = router.broken.get(provider_id)
    if reason:
        return f"is broken: {reason}; see `tts-router providers`"
    registry = get_plugins()
    if provider_id in registry.filtered:
        return (
            f"is filtered by {ALLOW_LIST_VARIABLE} (={_allow_list_text(registry)}); add "
            f"{provider_id} to it or unset it"
        )
    return None


def _allow_list_text(registry: PluginRegistry) -> str:
    return ",".join(sorted(registry.allowed or ()))


def _allow_list_line(registry: PluginRegistry) -> str:
    filtered = ", ".join(registry.filtered) or "none"
    return f"{ALLOW_LIST_VARIABLE}={_allow_list_text(registry)}; filtered out: {filtered}"


# -- providers, plugins, languages ---------------------------------------------------------------


def _providers(router: Router, args: argparse.Namespace) -> int:
    registry = get_plugins()
    for provider in router.providers.values():
        print(f"{provider.id} {registry.versions.get(provider.id) or provider.version}")
        try:
            caps = provider.capabilities
            print(f"  operations: {', '.join(sorted(caps.operations))}")
            print(f"  languages:  {', '.join(caps.languages)}")
            print(f"  quality:    {caps.quality}")
            if caps.clone_modes:
                print(f"  clone:      {', '.join(caps.clone_modes)}")
            if caps.license:
                print(f"  licence:    {caps.license}")
            status = _status(provider)
        except Exception as exc:  # never let one provider stop the listing
            status = f"broken: {_reason(exc)}"
        print(f"  status:     {status}")
    for name, reason in router.broken.items():
        if name in router.providers:
            continue
        info = registry.entry_points.get(name)
        if info is not None and name not in registry.providers:
            print(f"plugin {name} ({_distribution(info)})")
        else:
            print(f"{name} {registry.versions.get(name, '')}".rstrip())
        print(f"  status:     broken: {reason}")
    for info in registry.entry_points.values():
        if info.error is None and not info.provider_ids:
            print(f"plugin {info.name} ({_distribution(info)})")
            print(f"  status:     {info.status}")
    if not router.providers and not router.broken:
        print("no providers installed (install tts-router-espeak for offline speech)")
    if registry.filtered:
        print(
            f"filtered by {ALLOW_LIST_VARIABLE}={_allow_list_text(registry)}: "
            + ", ".join(registry.filtered)
        )
    _print_default_note(router)
    return 0


def _status(provider: Provider) -> str:
    """``ready``, ``not configured: <what to set>``, ``unavailable: ...`` or ``broken: <why>``."""
    try:
        problem = provider.missing_configuration()
        if problem:
            return f"not configured: {problem}"
        available = provider.available
    except Exception as exc:  # a plugin's bug, shown, never raised through
        return f"broken: {_reason(exc)}"
    return "ready" if available else "unavailable: its circuit is open after repeated failures"


def _distribution(info: EntryPointInfo) -> str:
    return f"{info.distribution} {info.version}".strip() or "unknown distribution"


def _print_default_note(router: Router) -> None:
    ready = [p for p in router.providers.values() if _status(p) == "ready"]
    with contextlib.suppress(Exception):
        if ready and all(p.capabilities.quality == "approximate" for p in ready):
            names = ", ".join(p.id for p in ready)
            print(
                f"note: {names} is the default only because no other provider is configured; "
                "its clones are approximate (pitch/rate/language), not the reference's timbre"
            )


def _plugins(router: Router, args: argparse.Namespace) -> int:
    """Each entry point: distribution, provider ids, status. Exit 1 if any is not ok."""
    registry = get_plugins()
    rows = _plugin_rows(router, registry)
    if rows:
        _print_plugin_table(rows)
    else:
        print("no plugins installed (install tts-router-espeak for offline speech)")
    if registry.allowed is not None:
        print(_allow_list_line(registry))
    for name in registry.unknown_allowed:
        print(f"{ALLOW_LIST_VARIABLE} names {name!r}, which is not an installed entry point")
    return 1 if registry.unknown_allowed or any(row[-1] != "ok" for row in rows) else 0


def _plugin_rows(router: Router, registry: PluginRegistry) -> list[tuple[str, str, str, str]]:
    """One row per entry point; an ok one whose providers broke is broken, naming them."""
    statuses = ((pid, _status(provider)) for pid, provider in router.providers.items())
    failing = {pid: s.removeprefix("broken: ") for pid, s in statuses if s.startswith("broken:")}
    reasons = (router.broken, failing)
    rows = []
    for info in registry.entry_points.values():
        bad = [f"{pid}: {why[pid]}" for why in reasons for pid in info.provider_ids if pid in why]
        status = "broken: " + "; ".join(bad) if info.status == "ok" and bad else info.status
        rows.append((info.name, _distribution(info), ", ".join(info.provider_ids) or "-", status))
    return rows


def _print_plugin_table(rows: Sequence[tuple[str, ...]], indent: str = "") -> None:
    header = ("ENTRY POINT", "DISTRIBUTION", "PROVIDERS", "STATUS")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print(indent + "  ".join([*cells, row[-1]]).rstrip())


def _languages(router: Router, args: argparse.Namespace) -> int:
    from .languages import LANGUAGES

    requested = args.provider
    if requested not in (None, "", AUTO):
        problem = _unusable(router, requested)
        if problem:
            raise NoProviderError(f"provider {requested!r} {problem}")
        if requested not in router.providers:
            raise ValidationError(
                f"no provider {requested!r}; installed: "
                + (", ".join(sorted(router.providers)) or "none")
                + " (see `tts-router providers`)"
            )
        for code in router.providers[requested].capabilities.languages:
            language = LANGUAGES.get(code)
            print(f"{code}\t{language.name if language else '?'}")
        return 0
    for option in router.languages():  # what a host's dropdown offers, and who speaks it
        print(f"{option.code}\t{option.name}\t{option.quality}\t{', '.join(option.providers)}")
    return 0


# -- doctor ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Problem:
    what: str
    fix: str


def _doctor(router: Router, args: argparse.Namespace) -> int:
    settings = router.settings
    registry = get_plugins()
    print("configuration (secrets masked):")
    print(json.dumps(settings.describe(), indent=2, sort_keys=True))

    every = f"every installed entry point ({ALLOW_LIST_VARIABLE} is not set)"
    print(f"\nplugins: {every if registry.allowed is None else _allow_list_line(registry)}")
    rows = _plugin_rows(router, registry)
    if rows:
        _print_plugin_table(rows, indent="  ")

    problems = _configuration_problems(router, registry)

    print()
    print("providers:")
    statuses = {provider.id: _status(provider) for provider in router.providers.values()}
    configured = [
        p for p in router.providers.values() if not statuses[p.id].startswith(("not ", "broken"))
    ]
    healths = dict(zip((p.id for p in configured), _probe_all(router, configured), strict=True))
    for provider_id in router.providers:
        status, health = statuses[provider_id], healths.get(provider_id)
        if health is not None:
            detail = mask_url(health.detail)
            if health.ok:
                status = f"ok {detail}".rstrip()
            elif detail.startswith("broken:"):  # its health check raised: a bug, not an outage
                status = detail
            else:
                status = f"FAILING {detail}".rstrip()
                problems.append(
                    _Problem(
                        f"{provider_id} is configured but failing: {detail or 'no detail'}",
                        "check that its service is running and reachable at that URL, and the "
                        "credentials (MODAL_KEY/MODAL_SECRET)",
                    )
                )
        print(f"  {provider_id}: {status}")
        if status.startswith("broken:"):
            problems.append(_Problem(f"{provider_id} is {status}", _PLUGIN_BUG_FIX))
    for name, reason in router.broken.items():
        print(f"  {name}: broken: {mask_url(reason)}")
    if not router.providers and not router.broken:
        print("  none installed")
    if not any(health.ok for health in healths.values()):
        problems.append(
            _Problem(
                "no provider is ready to serve requests",
                "configure one of those listed as not configured, or install "
                "tts-router-espeak for offline speech",
            )
        )
    print()
    return _report_problems(problems)


def _report_problems(problems: Sequence[_Problem]) -> int:
    for problem in problems:
        print(f"problem: {mask_url(problem.what)}")
        print(f"    fix: {mask_url(problem.fix)}")
    count = len(problems)
    print(f"{count} problem{'s' if count != 1 else ''} found" if count else "no problems found")
    return 1 if problems else 0


def _configuration_problems(router: Router, registry: PluginRegistry) -> list[_Problem]:
    settings = router.settings
    entry_points = ", ".join(sorted({*registry.entry_points, *registry.filtered})) or "none"
    problems = [
        _Problem(
            f"{ALLOW_LIST_VARIABLE} names {name!r}, which is not an installed entry point",
            f"installed entry points: {entry_points}",
        )
        for name in registry.unknown_allowed
    ]
    if settings.loudness is not None and missing_modules(["pyloudnorm"]):
        problems.append(
            _Problem(
                "TTS_ROUTER_LOUDNESS (loudness) is set, but the loudness extra is not installed",
                "pip install 'tts-router-core[loudness]', or unset it",
            )
        )
    choices = [(settings.provider, "TTS_PROVIDER")] if settings.provider != AUTO else []
    for index, rule in enumerate(settings.rules):
        choices.append((rule.provider, f"[[rules]] #{index + 1} (provider = {rule.provider!r})"))
    problems += filter(None, (_choice_problem(router, registry, *choice) for choice in choices))
    sections = {name: _section_problems(router, registry, name) for name in settings.providers}
    problems.extend(problem for found in sections.values() for problem in found)
    # A section's unknown keys also break its provider: listed once, with their fix.
    problems.extend(_broken_problems(router, registry, {s for s, f in sections.items() if f}))
    return problems


def _section_problems(router: Router, registry: PluginRegistry, section: str) -> list[_Problem]:
    """``[providers.<id>]`` naming no provider, or holding keys its settings model lacks."""
    settings = router.settings
    cls = registry.providers.get(settings.instances().get(section, section))
    if section in registry.filtered:
        return []  # configured but deliberately left out; the plugins line says so
    if cls is None:
        if section in router.providers or section in router.broken:
            return []
        where = f"[providers.{section}]" + (f" in {settings.source}" if settings.source else "")
        guess = difflib.get_close_matches(section, list(router.providers), n=1)
        return [
            _Problem(
                f"{where} configures {section!r}, which is not an installed provider",
                (f"did you mean [providers.{guess[0]}]? " if guess else "")
                + f"installed: {', '.join(sorted(router.providers)) or 'none'}",
            )
        ]
    model = cls.settings_model
    if not (isinstance(model, type) and issubclass(model, ProviderSettings)):
        return []  # a plugin bug, reported as its provider being broken
    keys = dict(settings.providers[section])
    if section in settings.instances():
        keys.pop("type")
    return [
        _Problem(what, fix)
        for what, fix in model.unknown_keys(keys, name=section, source=settings.source)
    ]


def _broken_problems(
    router: Router, registry: PluginRegistry, reported: set[str]
) -> list[_Problem]:
    problems = [
        _Problem(
            f"{name} is broken: {reason}",
            "change the setting the reason names"
            if reason.startswith("ConfigurationError")
            else _PLUGIN_BUG_FIX,
        )
        for name, reason in router.broken.items()
        if name not in reported
    ]
    for info in registry.entry_points.values():
        if info.error is None and not info.provider_ids:
            problems.append(
                _Problem(
                    f"plugin {info.name} ({_distribution(info)}) {info.status}",
                    "its register_providers hook must call register(YourProvider); or leave "
                    f"it out with {ALLOW_LIST_VARIABLE}",
                )
            )
    return problems


def _choice_problem(
    router: Router, registry: PluginRegistry, provider_id: str, where: str
) -> _Problem | None:
    """The problem with a provider named by TTS_PROVIDER or a rule, if any."""
    installed = ", ".join(sorted(router.providers)) or "none"
    if provider_id in router.providers:
        if where != "TTS_PROVIDER":
            return None
        problem = router.providers[provider_id].missing_configuration()
        chosen = f"TTS_PROVIDER chooses {provider_id!r}, which is not configured"
        return _Problem(f"{chosen}; every request would fail", problem) if problem else None
    if provider_id in router.broken:
        return _Problem(
            f"{where} names {provider_id!r}, which is broken: {router.broken[provider_id]}",
            f"fix it, or choose another provider (installed: {installed})",
        )
    if provider_id in registry.filtered:
        return _Problem(
            f"{where} names {provider_id!r}, whose plugin is filtered by "
            f"{ALLOW_LIST_VARIABLE}={_allow_list_text(registry)}",
            f"add {provider_id} to {ALLOW_LIST_VARIABLE}, or unset it",
        )
    guess = difflib.get_close_matches(provider_id, list(router.providers), n=1)
    fix = f"did you mean {guess[0]!r}? " if guess else ""
    fix += f"installed: {installed}; install the plugin that provides it"
    if where == "TTS_PROVIDER":
        fix += ", or set TTS_PROVIDER=auto"
    return _Problem(f"{where} names {provider_id!r}, which is not installed", fix)


def _probe_all(router: Router, providers: Sequence[Provider]) -> list[Health]:
    async def one(provider: Provider) -> Health:
        try:
            return await asyncio.wait_for(probe(provider), PROBE_TIMEOUT_S)
        except TimeoutError:
            return Health(
                ok=False, detail=f"no answer to the health check in {PROBE_TIMEOUT_S:g} s"
            )

    async def every() -> list[Health]:
        return await asyncio.gather(*(one(p) for p in providers))

    return asyncio.run(_closing(router, every())) if providers else []


# -- explain, clone, design -----------------------------------------------------------------------


def _explain(router: Router, args: argparse.Namespace) -> int:
    decision = router.explain(
        args.operation,
        args.language,
        has_transcript=args.operation == "clone" and bool(args.transcript),
        provider=_requested(router, args),
        text=_read_text(args.text) if args.text else None,  # "auto": detected from the text
    )
    print(decision.provider)
    for reason in decision.reasons:
        print(f"  {reason}")
    if decision.fallbacks:
        print(f"  fallbacks: {', '.join(decision.fallbacks)}")
    return 0


def _speak(router: Router, args: argparse.Namespace) -> int:
    if args.text == "-" and getattr(args, "transcript", None) == "-":
        raise ValidationError("only one of --text and --transcript can read stdin")
    if not args.stream and args.output is None:
        raise ValidationError("say where the audio goes: -o FILE, or --stream to stdout")
    file_format = args.format or (format_for_path(str(args.output)) if args.output else "wav")
    # Standard output carries --format (default wav) and -o its own suffix's format.
    audio_format = (args.format or "wav") if args.stream else file_format
    fields = {
        "text": _read_text(args.text),
        "language": args.language,
        "provider": _requested(router, args),
        "format": audio_format,
        "sample_rate": args.sample_rate,
    }
    request: CloneRequest | DesignRequest
    if args.operation == "clone":
        with _file("read", args.reference):
            reference = VoiceReference.from_file(
                args.reference,
                transcript=_read_text(args.transcript) if args.transcript else None,
            )
        request = CloneRequest(reference=reference, **fields)
    else:
        request = DesignRequest(instruct=args.instruct, **fields)
    # A stream when asked for, or to show progress on a terminal (the file is the same).
    if args.stream or (sys.stderr.isatty() and audio_format in STREAM_FORMATS):
        return _stream_out(router, request, args, file_format)
    call = router.clone(request) if isinstance(request, CloneRequest) else router.design(request)
    result = asyncio.run(_closing(router, call))
    _write_file(args.output, result.audio)
    made = f"{result.provider}/{result.model}, mode {result.mode}, quality {result.quality}"
    _report(args.output, result.duration, result.sample_rate, audio_format, made, sys.stdout)
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0


_STREAM_HELP = """\
--stream writes audio to standard output as each chunk is ready: a WAV stream by default
(`| aplay` or `| ffplay -nodisp -`), raw 16-bit little-endian mono with --format pcm
(`| aplay -f S16_LE -c 1 -r RATE`; the rate is printed on standard error), or Ogg/Opus, MP3
or AAC. With -o as well, the complete file is written at the end. On a terminal, a progress
bar with the time left goes to standard error for texts of more than one chunk.
"""


def _stream_out(
    router: Router,
    request: CloneRequest | DesignRequest,
    args: argparse.Namespace,
    file_format: str,
) -> int:
    stream = (
        router.stream_clone(request)
        if isinstance(request, CloneRequest)
        else router.stream_design(request)
    )
    chunks = asyncio.run(_closing(router, _write_stream(stream, args.stream)))
    if args.output is not None and chunks:
        rate = chunks[0].sample_rate
        whole = encode(stitch([c.samples for c in chunks], rate), rate, file_format)
        _write_file(args.output, whole.data)
        seconds = sum(c.duration for c in chunks)
        report = sys.stderr if args.stream else sys.stdout  # stdout may be the audio
        first = chunks[0]
        made = f"{first.provider}/{first.model}, mode {first.mode}"
        if first.provider in router.providers:
            made += f", quality {router.providers[first.provider].capabilities.quality}"
        _report(args.output, seconds, whole.sample_rate, file_format, made, report)
    for warning in dict.fromkeys(w for c in chunks for w in c.warnings):  # each once
        print(f"warning: {warning}", file=sys.stderr)
    return 0


async def _write_stream(stream: AsyncIterator[AudioChunk], to_stdout: bool) -> list[AudioChunk]:
    out = sys.stdout.buffer
    started = time.monotonic()
    progress = sys.stderr.isatty()
    chunks: list[AudioChunk] = []
    async for chunk in stream:
        if to_stdout:
            if not chunks:
                print(
                    f"streaming {chunk.format} at "
                    f"{encoded_rate(chunk.format, chunk.sample_rate)} Hz, mono, "
                    f"from {chunk.provider}",
                    file=sys.stderr,
                )
            out.write(chunk.data)
            out.flush()
        chunks.append(chunk)
        if progress:
            _show_progress(chunk, time.monotonic() - started)
    return chunks


def _write_file(path: Path, data: bytes) -> None:
    with _file("write", path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _report(
    path: Path, seconds: float, rate: int, audio_format: str, made: str, out: TextIO
) -> None:
    print(f"wrote {path} ({seconds:.2f} s, {rate} Hz, {audio_format}) with {made}", file=out)


def _show_progress(chunk: AudioChunk, elapsed: float) -> None:
    """A bar on standard error for a stream of more than one chunk: chunks done of all, and
    the time left at the pace so far."""
    total = chunk.total or 0
    if total < 2:
        return
    done = chunk.sequence + 1
    left = elapsed / done * (total - done)
    filled = round(_BAR_WIDTH * done / total)
    bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
    print(
        f"\r[{bar}] {done}/{total} chunks, {elapsed:.0f} s, about {left:.0f} s left ",
        end="\n" if chunk.last else "",
        file=sys.stderr,
        flush=True,
    )


async def _closing(router: Router, call: Awaitable[_T]) -> _T:
    try:
        return await call
    finally:
        await router.aclose()


def _read_text(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def _serve(router: Router, args: argparse.Namespace) -> int:
    require_extra(("fastapi", "uvicorn", "multipart"), "tts-router-core", "gateway", what="serve")
    import uvicorn

    from .gateway import GatewayConfig, create_app

    config = GatewayConfig.load(
        router.settings,
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        no_auth=args.no_auth,
    )
    auth = "no API keys (loopback)" if not config.keys else f"{len(config.keys)} API key(s)"
    print(
        f"serving on http://{config.host}:{config.port}/v1 with {auth}; "
        f"voices in {config.data_dir}",
        file=sys.stderr,
    )
    uvicorn.run(create_app(config, router), host=config.host, port=config.port, log_level="warning")
    return 0


def _hash_key(router: Router, args: argparse.Namespace) -> int:
    from .gateway.config import hash_key

    key = sys.stdin.readline().strip()
    if not key:
        raise ValidationError("no key on standard input", code="invalid_request")
    print(hash_key(key))
    return 0
