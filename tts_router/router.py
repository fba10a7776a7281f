"""Choosing a provider: :func:`select` (pure, explains itself) and :class:`Router` (a Provider).

Rules, in order:

1. An explicit choice wins: the request's ``provider``, else ``TTS_PROVIDER`` unless ``auto``.
   An explicit choice is never replaced by a fallback.
2. Only providers that are configured and support the operation and language qualify; for a
   clone without a transcript, only those that can clone from audio alone.
3. Transcript rule: with a transcript, providers that use it (ICL) come first; without one,
   providers that clone from audio by design come before speaker-embedding (x-vector) modes.
4. Configured ``[[rules]]`` matching the operation and language move their provider to the front.
5. Providers whose circuit is open are skipped. Approximate providers (eSpeak) are chosen only
   when no reference-quality provider qualifies, and are fallbacks only when
   ``allow_approximate_fallback`` is set. The result names the providers it fell back from.

Language ``"auto"`` (the default) is detected first (:mod:`tts_router.detect`, offline): a
confident detection is routed by and passed to the provider as if the caller had named it
(``SpeechResult.language_detected`` says so); otherwise only providers that list ``"auto"``
qualify and decide for themselves. An explicit language always wins.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError as PydanticValidationError

from .detect import Detection, detect_language, detector_loaded
from .errors import (
    NoProviderError,
    PluginError,
    ProvidersFailedError,
    ProviderUnavailableError,
    TTSRouterError,
    UnsupportedLanguageError,
    UnsupportedOperationError,
    ValidationError,
    detached,
)
from .languages import AUTO, LANGUAGES, normalize_language
from .models import CloneMode, CloneRequest, DesignRequest, Operation, QualityTier, SpeechResult
from .provider import Capabilities, Health, Provider
from .settings import Settings
from .streaming import AudioChunk
from .text import require_speakable

__all__ = ["Candidate", "Decision", "LanguageOption", "Router", "probe", "select"]

logger = logging.getLogger("tts_router.router")

# Lower is preferred. Without a transcript, "icl" cannot run at all.
_MODE_RANK_WITH_TRANSCRIPT: dict[CloneMode, int] = {"icl": 0, "audio": 1, "x_vector": 2}
_MODE_RANK_WITHOUT: dict[CloneMode, int] = {"audio": 0, "x_vector": 1}


@dataclass(frozen=True, slots=True)
class Candidate:
    """What :func:`select` knows of one provider: nothing that needs I/O to find out."""

    id: str
    capabilities: Capabilities
    problem: str | None = None  # missing configuration, if any
    healthy: bool = True

    @classmethod
    def of(cls, provider: Provider) -> Candidate:
        """Snapshot a provider's capabilities, configuration and circuit state.

        A provider whose ``available`` raises is skipped as unhealthy, never raised through.
        """
        try:
            healthy = bool(provider.available)
        except Exception as exc:
            logger.warning("provider %s: available raised %s", provider.id, type(exc).__name__)
            healthy = False
        return cls(provider.id, provider.capabilities, provider.missing_configuration(), healthy)


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen provider, the ordered fallbacks, and why."""

    provider: str
    fallbacks: tuple[str, ...]
    reasons: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    """Better-ranked providers passed over because their circuit is open."""
    language: str = AUTO
    """The canonical language routed by: the caller's, the detected one, or ``auto``."""
    detection: Detection | None = None
    """What detection found, when the request said ``auto`` and the text was given."""


@dataclass(frozen=True, slots=True)
class LanguageOption:
    """One language a host can offer (:meth:`Router.languages`), and who speaks it."""

    code: str
    """Canonical code (``"auto"``: detect from the text)."""
    name: str
    """English display name (``"Auto"``, ``"German"``)."""
    providers: tuple[str, ...]
    """Providers that serve it, reference quality before approximate."""
    quality: QualityTier
    """The best quality among them."""


def select(
    operation: Operation,
    language: str,
    *,
    has_transcript: bool,
    candidates: Sequence[Candidate],
    settings: Settings,
    requested: str | None = None,
) -> Decision:
    """Pick a provider for a request. Pure: same inputs, same decision, no I/O.

    Raises :class:`NoProviderError` (or an unsupported-language/operation error for an
    explicit choice) naming what is missing.
    """
    language = normalize_language(language)
    requested = requested.strip().lower() if requested else None
    explicit = requested or (settings.provider if settings.provider != AUTO else None)
    if explicit:
        return _explicit(explicit, operation, language, has_transcript, candidates, requested)

    reasons: list[str] = []
    qualifying = []
    for candidate in candidates:
        why_not = _disqualified(candidate, operation, language, has_transcript)
        if why_not:
            reasons.append(f"{candidate.id}: {why_not}")
        else:
            qualifying.append(candidate)
    if not qualifying:
        raise NoProviderError(
            f"no installed provider can {operation} in {language!r}"
            + (" without a transcript" if operation == "clone" and not has_transcript else "")
            + ("; " + "; ".join(reasons) if reasons else "; no provider is installed"),
            reasons=reasons,
        )

    ruled = {r.provider for r in settings.rules if r.matches(operation, language)}
    ranked = sorted(
        qualifying,
        key=lambda c: (
            c.id not in ruled,
            c.capabilities.quality != "reference",
            _mode_rank(c.capabilities, operation, has_transcript),
        ),
    )
    has_reference_tier = any(c.capabilities.quality == "reference" for c in ranked)
    eligible = [
        c
        for c in ranked
        if c.capabilities.quality == "reference" or not has_reference_tier or c.id in ruled
    ]
    reasons.extend(
        f"{c.id}: approximate quality, not used while a reference-quality provider qualifies"
        for c in ranked
        if c not in eligible
    )
    healthy = [c for c in eligible if c.healthy]
    skipped = tuple(c.id for c in eligible if not c.healthy)
    reasons.extend(f"{pid}: skipped, circuit open" for pid in skipped)
    approximate = [c for c in ranked if c not in eligible and c.healthy]
    if not healthy and settings.allow_approximate_fallback and approximate:
        healthy, approximate = approximate, []
        reasons.append("every reference-quality provider is unavailable: approximate fallback")
    if not healthy:
        raise ProviderUnavailableError(
            "every qualifying provider is unavailable right now (circuit open): "
            + ", ".join(skipped)
            + "; try again shortly",
            code="circuit_open",
        )
    chosen, *rest = healthy
    fallbacks = [
        c.id
        for c in rest
        if c.capabilities.quality == "reference" or settings.allow_approximate_fallback
    ]
    if settings.allow_approximate_fallback:
        fallbacks += [c.id for c in approximate]
    lead = [f"{chosen.id}: {_why_chosen(chosen, operation, has_transcript, ruled)}"]
    return Decision(chosen.id, tuple(fallbacks), tuple(lead + reasons), skipped, language)


def _explicit(
    provider_id: str,
    operation: Operation,
    language: str,
    has_transcript: bool,
    candidates: Sequence[Candidate],
    requested: str | None,
) -> Decision:
    source = "requested" if requested else "TTS_PROVIDER"
    by_id = {c.id: c for c in candidates}
    candidate = by_id.get(provider_id)
    if candidate is None:
        raise NoProviderError(
            f"{source} names provider {provider_id!r}, which is not installed; installed: "
            + (", ".join(sorted(by_id)) or "none")
            + " (install its plugin or set TTS_PROVIDER=auto)"
        )
    caps = candidate.capabilities
    if operation not in caps.operations:
        raise UnsupportedOperationError(
            f"provider {provider_id!r} ({source}) cannot {operation}", provider=provider_id
        )
    if language not in caps.languages:
        raise UnsupportedLanguageError(
            f"provider {provider_id!r} ({source}) does not speak {language!r}; it speaks "
            + ", ".join(caps.languages),
            supported=caps.languages,
            provider=provider_id,
        )
    why_not = _disqualified(candidate, operation, language, has_transcript)
    if why_not:
        raise NoProviderError(f"provider {provider_id!r} ({source}) cannot be used: {why_not}")
    if not candidate.healthy:
        raise ProviderUnavailableError(
            f"provider {provider_id!r} ({source}) is unavailable (circuit open); try again "
            "shortly or choose another provider",
            provider=provider_id,
        )
    reasons = (f"{provider_id}: chosen explicitly ({source})",)
    return Decision(provider_id, (), reasons, language=language)


def _disqualified(
    candidate: Candidate, operation: Operation, language: str, has_transcript: bool
) -> str | None:
    caps = candidate.capabilities
    if candidate.problem:
        return f"not configured ({candidate.problem})"
    if operation not in caps.operations:
        return f"does not support {operation}"
    if language not in caps.languages:
        return f"does not speak {language!r}"
    if operation == "clone" and not has_transcript and not caps.clones_without_transcript:
        return "needs a transcript to clone"
    return None


def _mode_rank(caps: Capabilities, operation: Operation, has_transcript: bool) -> int:
    if operation != "clone":
        return 0
    table = _MODE_RANK_WITH_TRANSCRIPT if has_transcript else _MODE_RANK_WITHOUT
    return min((table.get(mode, len(table)) for mode in caps.clone_modes), default=len(table))


def _why_chosen(
    chosen: Candidate, operation: Operation, has_transcript: bool, ruled: set[str]
) -> str:
    if chosen.id in ruled:
        return "chosen by a configured rule"
    caps = chosen.capabilities
    parts = [f"supports {operation}"]
    if operation == "clone":
        if has_transcript and caps.uses_transcript:
            parts.append("uses the transcript (ICL)")
        elif not has_transcript:
            modes = "/".join(m for m in caps.clone_modes if m != "icl")
            parts.append(f"clones without a transcript ({modes})")
    if caps.quality == "approximate":
        parts.append("approximate quality: the only kind that qualifies")
    return ", ".join(parts)


class Router(Provider):
    """A provider that routes each request to the best provider it holds.

    ``Router()`` builds every plugin-registered provider from :meth:`Settings.load`; pass
    ``providers=`` (instances) and/or ``settings=`` to choose them yourself. A provider that
    fails to build, or whose capabilities raise or are invalid, is left out and listed in
    :attr:`broken`; it never affects another provider.
    """

    id = "router"
    _names_its_errors = False  # an error says which provider failed, not that a router did

    def __init__(
        self, providers: Iterable[Provider] | None = None, settings: Settings | None = None
    ) -> None:
        self._settings = settings
        self._broken: dict[str, str] = {}
        self._given = None if providers is None else list(providers)
        self._providers: dict[str, Provider] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        """A router over every registered provider, configured by ``settings``."""
        return cls(settings=settings)

    @property
    def settings(self) -> Settings:
        """The configuration in use (loaded from the environment on first use)."""
        if self._settings is None:
            self._settings = Settings.load()
        return self._settings

    @property
    def providers(self) -> dict[str, Provider]:
        """Working providers by id; plugin providers are built on first use."""
        if self._providers is None:
            self._providers = {}
            built: list[Provider | None]
            if self._given is None:
                from .plugins import get_plugins

                registry = get_plugins()
                self._broken.update(registry.errors)
                built = [self._build(pid, cls) for pid, cls in registry.providers.items()]
                built += self._build_instances(registry.providers)
            else:
                built = list(self._given)
            for provider in built:
                if provider is not None and self._usable(provider):
                    self._providers[provider.id] = provider
        return self._providers

    @property
    def broken(self) -> dict[str, str]:
        """Providers (by id) and plugins (by entry-point name) that failed, with why."""
        _ = self.providers
        return dict(self._broken)

    def _build_instances(self, classes: dict[str, type[Provider]]) -> list[Provider | None]:
        """``[providers.<name>] type = "<id>"``: another instance of a provider type, routed
        to under its own name (a fast 0.6B and a quality 1.7B Qwen side by side)."""
        built: list[Provider | None] = []
        for name, type_id in self.settings.instances().items():
            if name in classes:
                self._broken[name] = f"ConfigurationError: [providers.{name}] type: {name!r} is "
                self._broken[name] += "already a provider id; name the instance differently"
                continue
            cls = classes.get(type_id)
            if cls is None:
                self._broken[name] = (
                    f"ConfigurationError: [providers.{name}] type = {type_id!r} names no "
                    f"installed provider; installed: {', '.join(sorted(classes)) or 'none'}"
                )
                continue
            provider = self._build(name, _named(cls, name))
            if provider is not None and provider.id != name:  # from_settings chose a backend
                provider.__class__ = _named(type(provider), name)
            built.append(provider)
        return built

    def _build(self, provider_id: str, cls: type[Provider]) -> Provider | None:
        """``cls`` built from ``[providers.<provider_id>]`` (and, for a default instance, its
        variables), validated against its settings model."""
        try:
            settings = self.settings.provider_settings(provider_id, cls.settings_model)
            provider = cls.from_settings(settings)
        except Exception as exc:  # one broken provider must not stop the rest
            self._broken[provider_id] = _reason(exc)
            return None
        if settings.timeout is not None:
            provider.timeout = settings.timeout
        return provider

    def _usable(self, provider: Provider) -> bool:
        """Check what the router reads of a provider without I/O, once, at build time."""
        try:
            caps = provider.capabilities
            if not isinstance(caps, Capabilities):
                raise PluginError(f"capabilities is a {type(caps).__name__}, not Capabilities")
            # Validated again: model_construct() and model_copy(update=...) skip validation.
            Capabilities.model_validate(caps.model_dump())
            provider.missing_configuration()
        except PydanticValidationError as exc:
            self._broken[provider.id] = "invalid capabilities: " + "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'capabilities'}: {err['msg']}"
                for err in exc.errors()
            )
            return False
        except Exception as exc:
            self._broken[provider.id] = _reason(exc)
            return False
        return True

    @property
    def capabilities(self) -> Capabilities:
        """The union of what the usable providers can do."""
        usable = [p.capabilities for p in self.providers.values() if not p.missing_configuration()]
        return Capabilities(
            operations=frozenset(op for c in usable for op in c.operations),
            languages=tuple(dict.fromkeys(lang for c in usable for lang in c.languages)),
            clone_modes=tuple(dict.fromkeys(m for c in usable for m in c.clone_modes)),
            sample_rate=max((c.sample_rate for c in usable), default=1),
            max_text_chars=self.settings.max_text_chars,
            quality="reference" if any(c.quality == "reference" for c in usable) else "approximate",
        )

    def explain(
        self,
        operation: Operation,
        language: str = "auto",
        *,
        has_transcript: bool = False,
        provider: str | None = None,
        text: str | None = None,
    ) -> Decision:
        """The decision for such a request, with reasons; performs no I/O.

        With ``language="auto"`` and ``text``, the text's language is detected first, as
        :meth:`clone` and :meth:`design` do: the first reason then says what was detected
        (the first detection in a process loads the detector's model, about a second).
        """
        code = normalize_language(language)
        detection = detect_language(text) if code == AUTO and text is not None else None
        return self._decide(
            operation, code, detection, has_transcript=has_transcript, provider=provider
        )

    def languages(self, operation: Operation | None = None) -> list[LanguageOption]:
        """Every language a request can name, with the providers and quality that serve it:
        what a host's language dropdown offers.

        Only configured providers count, and only those that offer ``operation`` when it is
        given; with ``TTS_PROVIDER`` naming one provider, only that one. ``auto`` comes first
        (any of them may serve it: the router detects the text's language and routes by it),
        then the languages in the table's order (Qwen3-TTS's ten first). No I/O.
        """
        explicit = self.settings.provider if self.settings.provider != AUTO else None
        serving = [
            (pid, p.capabilities)
            for pid, p in self.providers.items()
            if not p.missing_configuration()
            and (explicit is None or pid == explicit)
            and (operation is None or operation in p.capabilities.operations)
        ]
        serving.sort(key=lambda item: item[1].quality != "reference")  # stable: keeps order
        options = [_option(AUTO, serving)] if serving else []
        for code in LANGUAGES:
            speakers = [(pid, caps) for pid, caps in serving if code in caps.languages]
            if code != AUTO and speakers:
                options.append(_option(code, speakers))
        return options

    def _decide(
        self,
        operation: Operation,
        code: str,
        detection: Detection | None,
        *,
        has_transcript: bool,
        provider: str | None,
    ) -> Decision:
        routed = detection.language if detection and detection.language else code
        try:
            decision = select(
                operation,
                routed,
                has_transcript=has_transcript,
                candidates=[Candidate.of(p) for p in self.providers.values()],
                settings=self.settings,
                requested=provider,
            )
        except (NoProviderError, UnsupportedLanguageError) as exc:
            if detection is not None:  # say why the language is what it is, and the way out
                exc.message += f" ({detection.describe()}; pass language=... to choose one)"
            raise
        if detection is None:
            return decision
        note = f"language: {detection.describe()}"
        if not detection.confident:
            note += "; routed as 'auto' (providers that list it decide)"
        return dataclasses.replace(decision, detection=detection, reasons=(note, *decision.reasons))

    async def _detect(self, language: str, text: str) -> tuple[str, Detection | None]:
        code = normalize_language(language)
        if code != AUTO:
            return code, None
        if detector_loaded():
            return code, detect_language(text)
        return code, await asyncio.to_thread(detect_language, text)  # loads the model (~1 s)

    async def clone(self, request: CloneRequest) -> SpeechResult:
        """Route a clone request; fall back only to providers that can make the same voice."""
        return await self._public(self._attempt("clone", request, lambda p, r: p.clone(r)), None)

    async def design(self, request: DesignRequest) -> SpeechResult:
        """Route a design request."""
        return await self._public(self._attempt("design", request, lambda p, r: p.design(r)), None)

    async def stream_clone(self, request: CloneRequest) -> AsyncIterator[AudioChunk]:
        """Route a clone and stream it; a fallback happens only before the first chunk (a
        voice never changes mid-stream)."""
        decision, routed = await self._public(self._route("clone", request), None)
        async for chunk in self._stream_attempt(decision, lambda p: p.stream_clone(routed)):
            yield chunk

    async def stream_design(self, request: DesignRequest) -> AsyncIterator[AudioChunk]:
        """Route a design request and stream it (fallback only before the first chunk)."""
        decision, routed = await self._public(self._route("design", request), None)
        async for chunk in self._stream_attempt(decision, lambda p: p.stream_design(routed)):
            yield chunk

    async def _route(self, operation: Operation, request: _Request) -> tuple[Decision, _Request]:
        """The decision for ``request``, and the request as the providers receive it: in the
        detected language (a confident detection) and at the router's loudness if it sets none."""
        self._check_text(request.text)
        code, detection = await self._detect(request.language, request.text)
        has_transcript = isinstance(request, CloneRequest) and request.reference.has_transcript
        decision = self._decide(
            operation, code, detection, has_transcript=has_transcript, provider=request.provider
        )
        if decision.detection is not None and decision.detection.confident:
            request = request.model_copy(update={"language": decision.language})
        if request.loudness is None and self.settings.loudness is not None:
            request = request.model_copy(update={"loudness": self.settings.loudness})
        return decision, request

    async def aclose(self) -> None:
        """Close every provider that was built."""
        for provider in (self._providers or {}).values():
            await provider.aclose()

    def _check_text(self, text: str) -> None:
        require_speakable(text)
        limit = self.settings.max_text_chars
        if len(text) > limit:
            raise ValidationError(
                f"the text is {len(text)} characters, over the router's limit of {limit}; "
                "split it, or raise TTS_ROUTER_MAX_TEXT_CHARS (max_text_chars)",
                code="text_too_long",
            )

    async def _attempt(
        self,
        operation: Operation,
        request: _Request,
        call: Callable[[Provider, _Request], Awaitable[SpeechResult]],
    ) -> SpeechResult:
        """Route ``request`` and try the chosen provider, then each fallback in turn."""
        decision: Decision  # declared: mypy cannot infer it under the constrained _Request
        decision, routed = await self._route(operation, request)
        _, result, failures = await self._first_success(decision, lambda p: call(p, routed))
        return _noted(result, decision, failures)

    async def _stream_attempt(
        self, decision: Decision, call: Callable[[Provider], AsyncIterator[AudioChunk]]
    ) -> AsyncIterator[AudioChunk]:
        async def opened(provider: Provider) -> tuple[AsyncIterator[AudioChunk], AudioChunk]:
            stream = call(provider)
            return stream, await anext(aiter(stream))

        provider_id, (stream, first), failures = await self._first_success(decision, opened)
        note = _fallback_note(provider_id, decision.skipped, failures)
        yield dataclasses.replace(first, warnings=(*first.warnings, note)) if note else first
        async for chunk in stream:  # from here on, a failure is the stream's own
            yield chunk

    async def _first_success(
        self, decision: Decision, call: Callable[[Provider], Awaitable[_T]]
    ) -> tuple[str, _T, list[tuple[str, TTSRouterError]]]:
        """``call`` on the chosen provider, then on each fallback until one succeeds: which
        one, its answer, and the failures before it. Bad input is never tried elsewhere:
        every provider would refuse it too."""
        failures: list[tuple[str, TTSRouterError]] = []
        for provider_id in (decision.provider, *decision.fallbacks):
            try:
                return provider_id, await call(self.providers[provider_id]), failures
            except TTSRouterError as exc:
                failures.append((provider_id, exc))
                if not exc.fallback:
                    break
                logger.info("provider %s failed (%s); falling back", provider_id, exc.code)
        raise detached(failures[0][1] if len(failures) == 1 else ProvidersFailedError(failures))


def _named(cls: type[Provider], name: str) -> type[Provider]:
    """``cls`` under another provider id: one named instance of a provider type."""
    return type(f"{cls.__name__}[{name}]", (cls,), {"id": name, "__module__": cls.__module__})


def _option(code: str, speakers: Sequence[tuple[str, Capabilities]]) -> LanguageOption:
    best: QualityTier = (
        "reference" if any(c.quality == "reference" for _, c in speakers) else "approximate"
    )
    return LanguageOption(
        code=code,
        name=LANGUAGES[code].name,
        providers=tuple(pid for pid, _ in speakers),
        quality=best,
    )


_Request = TypeVar("_Request", CloneRequest, DesignRequest)
_T = TypeVar("_T")


async def probe(provider: Provider) -> Health:
    """``provider.health()`` that never raises: a broken provider is ``ok=False``, with why."""
    try:
        return await provider.health()
    except TTSRouterError as exc:
        return Health(ok=False, detail=str(exc))
    except Exception as exc:
        return Health(ok=False, detail=f"broken: {_reason(exc)}")


def _noted(
    result: SpeechResult, decision: Decision, failures: list[tuple[str, TTSRouterError]]
) -> SpeechResult:
    """The result with the providers it fell back from and the language it was routed by."""
    update: dict[str, object] = {}
    note = _fallback_note(result.provider, decision.skipped, failures)
    if note is not None:
        update["fallback_from"] = (*decision.skipped, *(pid for pid, _ in failures))
        update["warnings"] = (*result.warnings, note)
    detected = decision.detection is not None and decision.detection.confident
    if detected or result.language is None:
        update["language"] = result.language or decision.language
        update["language_detected"] = detected
    return result.model_copy(update=update) if update else result


def _fallback_note(
    result_provider: str, skipped: tuple[str, ...], failures: list[tuple[str, TTSRouterError]]
) -> str | None:
    if not skipped and not failures:
        return None
    notes = [f"skipped {pid}: its circuit is open after repeated failures" for pid in skipped]
    notes += [f"{pid} failed ({exc.code}: {exc.message})" for pid, exc in failures]
    return f"fell back to {result_provider}: " + "; ".join(notes)


def _reason(exc: BaseException) -> str:
    # A plugin's own exception text is not user input (nothing was requested yet): show it.
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
