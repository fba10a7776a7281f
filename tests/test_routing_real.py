"""The router with the real Qwen and Echo services (tiny random models) and eSpeak installed:
English without a transcript goes to Echo, with one to Qwen (ICL), German to Qwen regardless."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tts_router_echo.fixtures import build_tiny_echo
from tts_router_echo.provider import EchoProvider
from tts_router_echo.sampler import SamplerSettings
from tts_router_echo.service import create_service_app as echo_app
from tts_router_espeak.provider import EspeakProvider
from tts_router_qwen_modal.fixtures import build_tiny_model
from tts_router_qwen_modal.provider import QwenProvider
from tts_router_qwen_modal.service import create_service_app as qwen_app

from tts_router import CloneRequest, Router, Settings, UnsupportedLanguageError, VoiceReference
from tts_router.remote import ServiceConfig
from tts_router.serving import serve_in_thread
from tts_router.testing import make_reference_wav


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Both services, built and started once for the module."""
    root = tmp_path_factory.mktemp("models")
    qwen = qwen_app(
        build_tiny_model(root / "qwen", early_eos=True),
        engine_options={"device": "cpu", "max_new_tokens": 64, "min_seconds_per_char": 0.005},
    )
    echo = echo_app(
        build_tiny_echo(root / "echo"),
        device="cpu",
        sampler=SamplerSettings(num_steps=2, sequence_length=8),
        engine_options={"max_pass_chars": 40},
    )
    with serve_in_thread(qwen) as qwen_url, serve_in_thread(echo) as echo_url:
        yield qwen_url, echo_url


@pytest.fixture
def router(services: tuple[str, str]) -> Router:
    """A router per test: its HTTP clients belong to that test's event loop."""
    qwen_url, echo_url = services
    return Router(
        providers=[
            QwenProvider(ServiceConfig(clone_url=qwen_url)),
            EchoProvider(ServiceConfig(clone_url=echo_url)),
            EspeakProvider(),
        ],
        settings=Settings.load({}),
    )


@pytest.mark.parametrize(
    ("language", "transcript", "provider", "mode", "why"),
    [
        ("en", None, "echo", "audio", "clones without a transcript (audio)"),
        ("en", "Hello, this is me.", "qwen", "icl", "uses the transcript (ICL)"),
        ("de", None, "qwen", "x_vector", "clones without a transcript (x_vector)"),
        ("de", "Hallo, das bin ich.", "qwen", "icl", "uses the transcript (ICL)"),
    ],
)
async def test_routes_by_language_and_transcript(
    router: Router, language: str, transcript: str | None, provider: str, mode: str, why: str
) -> None:
    decision = router.explain("clone", language, has_transcript=transcript is not None)
    assert decision.provider == provider and why in decision.reasons[0]
    assert "espeak" not in decision.fallbacks  # approximate: never a silent stand-in
    reference = VoiceReference(audio=make_reference_wav(seconds=1.5), transcript=transcript)
    result = await router.clone(
        CloneRequest(text="Hello there.", reference=reference, language=language)
    )
    assert (result.provider, result.mode, result.quality) == (provider, mode, "reference")


def test_explain_lists_every_provider(router: Router) -> None:
    reasons = router.explain("clone", "en", has_transcript=False).reasons
    assert any(r.startswith("espeak: approximate quality") for r in reasons)
    assert router.explain("clone", "en", has_transcript=False).fallbacks == ("qwen",)


# -- "Auto": the text's language decides (the real services) -------------------------------------

ENGLISH = "Good morning! The weather today is bright and mild, and the trains run on time."
GERMAN = "Der Zug nach Hamburg fährt heute mit zehn Minuten Verspätung ab."


@pytest.mark.parametrize(
    ("text", "provider", "mode", "language"),
    [(ENGLISH, "echo", "audio", "en"), (GERMAN, "qwen", "x_vector", "de")],
)
async def test_auto_routes_by_the_detected_language(
    router: Router, text: str, provider: str, mode: str, language: str
) -> None:
    reference = VoiceReference(audio=make_reference_wav(seconds=1.5))
    result = await router.clone(CloneRequest(text=text, reference=reference, language="Auto"))
    assert (result.provider, result.mode) == (provider, mode)
    assert (result.language, result.language_detected) == (language, True)


async def test_echo_chosen_with_auto_speaks_english_and_names_the_language_it_refuses(
    services: tuple[str, str],
) -> None:
    _, echo_url = services
    router = Router(
        providers=[EchoProvider(ServiceConfig(clone_url=echo_url))],
        settings=Settings.load({"TTS_PROVIDER": "echo"}),
    )
    reference = VoiceReference(audio=make_reference_wav(seconds=1.5))
    english = await router.clone(CloneRequest(text=ENGLISH, reference=reference, language="Auto"))
    assert (english.provider, english.language, english.language_detected) == ("echo", "en", True)
    with pytest.raises(UnsupportedLanguageError) as info:
        await router.clone(CloneRequest(text=GERMAN, reference=reference, language="Auto"))
    assert "'de' (German)" in str(info.value) and "Hamburg" not in str(info.value)
    await router.aclose()
