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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from .errors import (
    NoProviderError,
    ProviderError,
    ProviderUnavailableError,
    TTSRouterError,
    UnsupportedLanguageError,
    UnsupportedOperationError,
)
from .languages import normalize_language
from .models import CloneMode, CloneRequest, DesignRequest, Operation, SpeechResult
from .provider import MAX_TEXT_CHARS, Capabilities, Provider
from .settings import Settings

__all__ = ["Candidate", "Decision", "Router", "select"]

AUTO = "auto"

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
        """Snapshot a provider's capabilities, configuration and circuit state."""
        return cls(
            id=provider.id,
            capabilities=provider.capabilities,
            problem=provider.missing_configuration(),
            healthy=provider.available,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen provider, the ordered fallbacks, and why."""

    provider: str
    fallbacks: tuple[str, ...]
    reasons: tuple[str, ...]


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
    reasons.extend(f"{c.id}: skipped, circuit open" for c in eligible if not c.healthy)
    if not healthy:
        raise ProviderUnavailableError(
            "every qualifying provider is unavailable right now: "
            + ", ".join(c.id for c in eligible)
            + "; try again shortly"
        )
    chosen, *rest = healthy
    fallbacks = [
        c.id
        for c in rest
        if c.capabilities.quality == "reference" or settings.allow_approximate_fallback
    ]
    if settings.allow_approximate_fallback:
        fallbacks += [c.id for c in ranked if c not in eligible and c.healthy]
    lead = [f"{chosen.id}: {_why_chosen(chosen, operation, has_transcript, ruled)}"]
    return Decision(chosen.id, tuple(fallbacks), tuple(lead + reasons))


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
    return Decision(provider_id, (), (f"{provider_id}: chosen explicitly ({source})",))


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
    ``providers=`` (instances) and/or ``settings=`` to choose them yourself.
    """

    id = "router"

    def __init__(
        self, providers: Iterable[Provider] | None = None, settings: Settings | None = None
    ) -> None:
        self._settings = settings
        self.build_errors: dict[str, str] = {}
        """Providers whose ``from_settings`` raised, with the error (shown by the CLI)."""
        self._providers: dict[str, Provider] | None = (
            None if providers is None else {p.id: p for p in providers}
        )

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
        """Providers by id; plugin providers are built on first use."""
        if self._providers is None:
            from .plugins import get_plugins

            self._providers = {}
            for pid, cls in get_plugins().providers.items():
                try:
                    self._providers[pid] = cls.from_settings(self.settings)
                except TTSRouterError as exc:  # one misconfigured provider must not stop the rest
                    self.build_errors[pid] = str(exc)
        return self._providers

    @property
    def capabilities(self) -> Capabilities:
        """The union of what the usable providers can do."""
        usable = [p.capabilities for p in self.providers.values() if not p.missing_configuration()]
        return Capabilities(
            operations=frozenset(op for c in usable for op in c.operations),
            languages=tuple(dict.fromkeys(lang for c in usable for lang in c.languages)),
            clone_modes=tuple(dict.fromkeys(m for c in usable for m in c.clone_modes)),
            sample_rate=max((c.sample_rate for c in usable), default=0),
            max_text_chars=MAX_TEXT_CHARS,
            quality="reference" if any(c.quality == "reference" for c in usable) else "approximate",
        )

    def explain(
        self,
        operation: Operation,
        language: str = "auto",
        *,
        has_transcript: bool = False,
        provider: str | None = None,
    ) -> Decision:
        """The decision for such a request, with reasons; performs no I/O."""
        return select(
            operation,
            language,
            has_transcript=has_transcript,
            candidates=[Candidate.of(p) for p in self.providers.values()],
            settings=self.settings,
            requested=provider,
        )

    async def clone(self, request: CloneRequest) -> SpeechResult:
        """Route a clone request; fall back only to providers that can make the same voice."""
        decision = self.explain(
            "clone",
            request.language,
            has_transcript=request.reference.has_transcript,
            provider=request.provider,
        )
        return await self._attempt(decision, lambda p: p.clone(request))

    async def design(self, request: DesignRequest) -> SpeechResult:
        """Route a design request."""
        decision = self.explain("design", request.language, provider=request.provider)
        return await self._attempt(decision, lambda p: p.design(request))

    async def aclose(self) -> None:
        """Close every provider that was built."""
        for provider in (self._providers or {}).values():
            await provider.aclose()

    async def _attempt(
        self, decision: Decision, call: Callable[[Provider], Awaitable[SpeechResult]]
    ) -> SpeechResult:
        failed: list[str] = []
        attempts = (decision.provider, *decision.fallbacks)
        for index, provider_id in enumerate(attempts):
            try:
                result = await call(self.providers[provider_id])
            except ProviderError as exc:
                # Only failures of the service, not of the request, move on to a fallback.
                if not exc.retryable or index == len(attempts) - 1:
                    raise
                failed.append(provider_id)
                continue
            if not failed:
                return result
            note = f"fell back to {provider_id} after {', '.join(failed)} failed"
            return result.model_copy(
                update={"fallback_from": tuple(failed), "warnings": (*result.warnings, note)}
            )
        raise AssertionError("unreachable: the last attempt either returns or raises")
