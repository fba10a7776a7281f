"""Routing as a table over operation, language, transcript, TTS_PROVIDER, rules and health."""

from __future__ import annotations

from typing import Any

import pytest

from tts_router import (
    Candidate,
    Decision,
    NoProviderError,
    ProviderUnavailableError,
    Settings,
    UnsupportedLanguageError,
    UnsupportedOperationError,
    select,
)
from tts_router.testing import fake_capabilities

QWEN_LANGS = ("auto", "zh", "en", "ja", "ko", "de", "fr", "ru", "pt", "es", "it")


def _candidates(
    unhealthy: frozenset[str] = frozenset(), unconfigured: frozenset[str] = frozenset()
) -> list[Candidate]:
    caps = {
        "qwen": fake_capabilities(languages=QWEN_LANGS, clone_modes=("icl", "x_vector")),
        "echo": fake_capabilities(operations=("clone",), languages=("en",), clone_modes=("audio",)),
        "espeak": fake_capabilities(
            languages=(*QWEN_LANGS, "nl"), clone_modes=("approximate",), quality="approximate"
        ),
    }
    return [
        Candidate(
            pid,
            c,
            problem="set URL" if pid in unconfigured else None,
            healthy=pid not in unhealthy,
        )
        for pid, c in caps.items()
    ]


def _settings(**data: Any) -> Settings:
    return Settings.model_validate(data)


def _select(
    operation: Any = "clone",
    language: str = "en",
    *,
    transcript: bool = True,
    candidates: list[Candidate] | None = None,
    requested: str | None = None,
    **settings: Any,
) -> Decision:
    """:func:`select` over ``candidates`` (default :func:`_candidates`), configured by
    ``settings``."""
    return select(
        operation,
        language,
        has_transcript=transcript,
        candidates=_candidates() if candidates is None else candidates,
        settings=_settings(**settings),
        requested=requested,
    )


ROUTES = [
    # (operation, language, transcript, TTS_PROVIDER, rules, unhealthy, chosen, fallbacks)
    ("clone", "en", True, "auto", [], set(), "qwen", ("echo",)),
    ("clone", "en", False, "auto", [], set(), "echo", ("qwen",)),
    ("clone", "de", False, "auto", [], set(), "qwen", ()),
    ("clone", "de", True, "auto", [], set(), "qwen", ()),
    ("clone", "en-US", True, "auto", [], {"qwen"}, "echo", ()),
    ("clone", "en", False, "auto", [], {"echo"}, "qwen", ()),
    ("clone", "nl", True, "auto", [], set(), "espeak", ()),
    ("design", "en", False, "auto", [], set(), "qwen", ()),
    ("design", "nl", False, "auto", [], set(), "espeak", ()),
    ("clone", "en", True, "echo", [], set(), "echo", ()),
    ("clone", "en", False, "qwen", [], set(), "qwen", ()),
    ("clone", "en", True, "espeak", [], set(), "espeak", ()),
    (
        "clone",
        "en",
        True,
        "auto",
        [{"provider": "echo", "language": "en"}],
        set(),
        "echo",
        ("qwen",),
    ),
    ("clone", "de", True, "auto", [{"provider": "echo"}], set(), "qwen", ()),  # rule can't apply
    (
        "design",
        "en",
        False,
        "auto",
        [{"provider": "espeak", "operation": "design"}],
        set(),
        "espeak",
        ("qwen",),
    ),
    (
        "clone",
        "en",
        True,
        "auto",
        [{"provider": "qwen", "operation": "design"}],
        set(),
        "qwen",
        ("echo",),
    ),
]


@pytest.mark.parametrize(
    ("operation", "language", "transcript", "env", "rules", "unhealthy", "chosen", "fallbacks"),
    ROUTES,
)
def test_routing_table(
    operation: Any,
    language: str,
    transcript: bool,
    env: str,
    rules: list[dict[str, str]],
    unhealthy: set[str],
    chosen: str,
    fallbacks: tuple[str, ...],
) -> None:
    candidates = _candidates(frozenset(unhealthy))
    decision = _select(
        operation, language, transcript=transcript, candidates=candidates, provider=env, rules=rules
    )
    assert (decision.provider, decision.fallbacks) == (chosen, fallbacks)
    assert decision.reasons[0].startswith(chosen)


def test_request_argument_beats_tts_provider() -> None:
    decision = _select(provider="echo", requested="qwen")
    assert decision.provider == "qwen" and "requested" in decision.reasons[0]


def test_unconfigured_provider_does_not_qualify() -> None:
    decision = _select(candidates=_candidates(unconfigured=frozenset({"qwen"})))
    assert decision.provider == "echo"
    assert any("qwen: not configured (set URL)" in r for r in decision.reasons)


def test_approximate_never_stands_in_for_unhealthy_reference_providers() -> None:
    with pytest.raises(ProviderUnavailableError):
        _select(candidates=_candidates(frozenset({"qwen", "echo"})))


def test_approximate_fallback_only_when_configured() -> None:
    decision = _select("clone", "de", allow_approximate_fallback=True)
    assert decision == decision.__class__("qwen", ("espeak",), decision.reasons, language="de")


def test_only_espeak_installed_makes_it_the_default() -> None:
    only = [c for c in _candidates() if c.id == "espeak"]
    decision = _select(transcript=False, candidates=only)
    assert decision.provider == "espeak"
    assert "approximate quality" in decision.reasons[0]


@pytest.mark.parametrize(
    ("env", "operation", "language", "error"),
    [
        ("nope", "clone", "en", NoProviderError),
        ("echo", "design", "en", UnsupportedOperationError),
        ("echo", "clone", "de", UnsupportedLanguageError),
    ],
)
def test_explicit_choice_that_cannot_serve_is_a_typed_error(
    env: str, operation: Any, language: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        _select(operation, language, transcript=False, provider=env)
    assert env in str(info.value)


def test_explicit_unhealthy_provider_fails_fast() -> None:
    with pytest.raises(ProviderUnavailableError):
        _select(candidates=_candidates(frozenset({"echo"})), provider="echo")


def test_explicit_provider_needing_a_transcript() -> None:
    icl_only = [Candidate("icl", fake_capabilities(clone_modes=("icl",)))]
    with pytest.raises(NoProviderError, match="needs a transcript"):
        _select(transcript=False, candidates=icl_only, provider="icl")


def test_no_qualifying_provider_names_what_is_missing() -> None:
    only_echo = [c for c in _candidates() if c.id == "echo"]
    with pytest.raises(NoProviderError) as info:
        _select("clone", "ja", transcript=False, candidates=only_echo)
    assert "echo: does not speak 'ja'" in str(info.value)
    assert info.value.reasons == ("echo: does not speak 'ja'",)


def test_no_providers_at_all() -> None:
    with pytest.raises(NoProviderError, match="no provider is installed"):
        _select("design", transcript=False, candidates=[])


def test_select_is_pure() -> None:
    args = {"has_transcript": True, "candidates": _candidates(), "settings": _settings()}
    assert select("clone", "en", **args) == select("clone", "en", **args)  # type: ignore[arg-type]
