"""The ``tts-router`` command line.

Every failure prints one line naming the fix and exits non-zero (2 for a typed error, 1 for
a bug); no traceback, no input text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path

from .errors import TTSRouterError, ValidationError
from .models import CloneRequest, DesignRequest, SpeechResult, VoiceReference
from .plugins import get_plugins
from .provider import Provider
from .router import Router
from .settings import Settings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        router = Router(settings=Settings.load())
        return int(args.handler(router, args) or 0)
    except TTSRouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, KeyboardInterrupt) as exc:
        print(
            f"error: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr
        )
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tts-router", description="Text to speech through interchangeable providers."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    cmd = commands.add_parser("providers", help="installed providers and what they can do")
    cmd.set_defaults(handler=_providers)
    cmd = commands.add_parser("plugins", help="installed plugins, including ones that failed")
    cmd.set_defaults(handler=_plugins)
    cmd = commands.add_parser("languages", help="languages, for one provider or all")
    cmd.add_argument("--provider", help="a provider id (default: the union of all)")
    cmd.set_defaults(handler=_languages)
    cmd = commands.add_parser("doctor", help="configuration (secrets masked) and health")
    cmd.set_defaults(handler=_doctor)

    for name, helptext in (
        ("clone", "speak in the voice of a reference recording"),
        ("design", "speak in a voice described in words"),
    ):
        cmd = commands.add_parser(name, help=helptext)
        _request_flags(cmd, name)
        cmd.add_argument("-o", "--output", required=True, type=Path, help="WAV file to write")
        cmd.set_defaults(handler=_speak, operation=name)

    cmd = commands.add_parser("explain", help="which provider a request would go to, and why")
    explain = cmd.add_subparsers(required=True, metavar="OPERATION")
    for name in ("clone", "design"):
        sub = explain.add_parser(name)
        _request_flags(sub, name, explain_only=True)
        sub.set_defaults(handler=_explain, operation=name)
    return parser


def _request_flags(
    cmd: argparse.ArgumentParser, operation: str, explain_only: bool = False
) -> None:
    cmd.add_argument("--text", required=not explain_only, help="text to speak; '-' reads stdin")
    cmd.add_argument("--language", default="auto", help="code or name, e.g. en, de, Japanese")
    cmd.add_argument("--provider", help="force a provider id")
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


def _providers(router: Router, args: argparse.Namespace) -> int:
    registry = get_plugins()
    for provider in router.providers.values():
        caps = provider.capabilities
        version = registry.versions.get(provider.id) or provider.version
        problem = provider.missing_configuration()
        print(f"{provider.id} {version}")
        print(f"  operations: {', '.join(sorted(caps.operations))}")
        print(f"  languages:  {', '.join(caps.languages)}")
        print(f"  quality:    {caps.quality}")
        if caps.clone_modes:
            print(f"  clone:      {', '.join(caps.clone_modes)}")
        if caps.license:
            print(f"  licence:    {caps.license}")
        print(f"  status:     {'not configured: ' + problem if problem else 'ready'}")
    if not router.providers:
        print("no providers installed (install tts-router-espeak for offline speech)")
    _print_default_note(router)
    _print_plugin_errors(router)
    return 0


def _print_default_note(router: Router) -> None:
    ready = [p for p in router.providers.values() if not p.missing_configuration()]
    if ready and all(p.capabilities.quality == "approximate" for p in ready):
        names = ", ".join(p.id for p in ready)
        print(
            f"note: {names} is the default only because no other provider is configured; "
            "its clones are approximate (pitch/rate/language), not the reference's timbre"
        )


def _plugins(router: Router, args: argparse.Namespace) -> int:
    registry = get_plugins()
    for provider_id, version in registry.versions.items():
        print(f"{provider_id} {version} ok")
    _ = router.providers  # building them reports misconfigured ones too
    _print_plugin_errors(router)
    return 1 if registry.errors or router.build_errors else 0


def _print_plugin_errors(router: Router) -> None:
    for name, error in get_plugins().errors.items():
        print(f"plugin {name!r} failed to load: {error}", file=sys.stderr)
    for provider_id, error in router.build_errors.items():
        print(f"provider {provider_id!r} is misconfigured: {error}", file=sys.stderr)


def _languages(router: Router, args: argparse.Namespace) -> int:
    provider: Provider = router
    if args.provider:
        if args.provider not in router.providers:
            raise ValidationError(f"no provider {args.provider!r}; see `tts-router providers`")
        provider = router.providers[args.provider]
    from .languages import LANGUAGES

    for code in provider.capabilities.languages:
        print(f"{code}\t{LANGUAGES[code].name}")
    return 0


def _doctor(router: Router, args: argparse.Namespace) -> int:
    print(json.dumps(router.settings.describe(), indent=2, sort_keys=True))
    failing = 0
    for provider in router.providers.values():
        problem = provider.missing_configuration()
        if problem:
            print(f"{provider.id}: not configured ({problem})")
            continue
        health = asyncio.run(provider.health())
        failing += not health.ok
        print(f"{provider.id}: {'ok' if health.ok else 'FAILING'} {health.detail}".rstrip())
    _print_plugin_errors(router)
    return 1 if failing else 0


def _explain(router: Router, args: argparse.Namespace) -> int:
    has_transcript = args.operation == "clone" and bool(args.transcript)
    decision = router.explain(
        args.operation, args.language, has_transcript=has_transcript, provider=args.provider
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
    text = _read_text(args.text)
    result: SpeechResult
    if args.operation == "clone":
        reference = VoiceReference.from_file(
            args.reference, transcript=_read_text(args.transcript) if args.transcript else None
        )
        request = CloneRequest(
            text=text, reference=reference, language=args.language, provider=args.provider
        )
        result = asyncio.run(_closing(router, router.clone(request)))
    else:
        design = DesignRequest(
            text=text, instruct=args.instruct, language=args.language, provider=args.provider
        )
        result = asyncio.run(_closing(router, router.design(design)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result.save(args.output)
    print(
        f"wrote {args.output} ({result.duration:.2f} s, {result.sample_rate} Hz) "
        f"with {result.provider}/{result.model}, mode {result.mode}, quality {result.quality}"
    )
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0


async def _closing(router: Router, call: Awaitable[SpeechResult]) -> SpeechResult:
    try:
        return await call
    finally:
        await router.aclose()


def _read_text(value: str) -> str:
    return sys.stdin.read() if value == "-" else value
