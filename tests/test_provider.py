"""The Provider base class and the Router, exercised with FakeProvider."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tts_router import (
    AudioValidationError,
    AuthenticationError,
    CloneRequest,
    DesignRequest,
    OutputValidationError,
    ProviderError,
    ProviderUnavailableError,
    Router,
    Settings,
    Speech,
    ValidationError,
    VoiceReference,
    decode_audio,
)
from tts_router.audio import OUTPUT_LIMITS
from tts_router.provider import MAX_TEXT_CHARS
from tts_router.testing import (
    FAKE_SECONDS_PER_CHAR,
    FakeProvider,
    ProviderContract,
    fake_capabilities,
    make_reference_wav,
)


class TestFakeProviderContract(ProviderContract):
    @pytest.fixture
    def provider(self) -> FakeProvider:
        return FakeProvider()


class TestDesignOnlyFakeContract(ProviderContract):
    @pytest.fixture
    def provider(self) -> FakeProvider:
        return FakeProvider(caps=fake_capabilities(operations=("design",), clone_modes=()))


def _clone(text: str = "Hello world.", transcript: str | None = "hi", **kw: object) -> CloneRequest:
    ref = VoiceReference(audio=make_reference_wav(), transcript=transcript)
    return CloneRequest(text=text, reference=ref, **kw)  # type: ignore[arg-type]


async def test_long_text_is_chunked_in_order_and_nothing_is_lost() -> None:
    provider = FakeProvider(caps=fake_capabilities(max_text_chars=60))
    sentences = [f"Sentence number {i} is here." for i in range(12)]
    result = await provider.clone(_clone(" ".join(sentences)))
    assert [c.text for c in provider.calls] == [
        f"{a} {b}" for a, b in zip(sentences[::2], sentences[1::2], strict=True)
    ]
    expected = sum(len(c.text) for c in provider.calls) * FAKE_SECONDS_PER_CHAR
    assert result.duration == pytest.approx(expected, abs=0.1)
    assert any("6 chunks" in w for w in result.warnings)


async def test_language_is_normalised_and_checked() -> None:
    provider = FakeProvider()
    await provider.clone(_clone(language="English"))
    assert provider.calls[0].language == "en"
    with pytest.raises(ValidationError):
        await provider.clone(_clone(language="ja"))


async def test_bad_reference_never_reaches_the_engine() -> None:
    provider = FakeProvider()
    bad = VoiceReference(audio=b"\x00" * 100)
    with pytest.raises(AudioValidationError):
        await provider.clone(CloneRequest(text="hi", reference=bad))
    assert provider.calls == []


async def test_transcript_required_when_only_icl() -> None:
    provider = FakeProvider(caps=fake_capabilities(clone_modes=("icl",)))
    with pytest.raises(ValidationError) as info:
        await provider.clone(_clone(transcript="  "))
    assert info.value.code == "transcript_required"


async def test_empty_instruct_and_oversize_text_are_rejected() -> None:
    provider = FakeProvider()
    with pytest.raises(ValidationError, match="description is empty"):
        await provider.design(DesignRequest(text="hi", instruct=" "))
    with pytest.raises(ValidationError) as info:
        await provider.design(DesignRequest(text="a" * (MAX_TEXT_CHARS + 1), instruct="calm"))
    assert info.value.code == "text_too_long"


async def test_unexpected_exceptions_are_wrapped_without_their_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = FakeProvider(failures=[RuntimeError("secret input text leaked")])
    with (
        caplog.at_level("ERROR", logger="tts_router.provider"),
        pytest.raises(ProviderError) as info,
    ):
        await provider.clone(_clone())
    assert info.value.code == "internal_error" and info.value.fallback
    assert "secret" not in str(info.value) and "RuntimeError" in str(info.value)
    # Nothing chained: the original's frames hold the user's text (Sentry captures locals).
    assert info.value.__cause__ is None and info.value.__context__ is None
    # The host's logs get the type and where it happened, never the message.
    assert "RuntimeError" in caplog.text and "_speak" in caplog.text
    assert "secret" not in caplog.text


async def test_result_is_a_real_wav_and_hides_audio_in_repr() -> None:
    result = await FakeProvider().design(DesignRequest(text="Hello there", instruct="calm"))
    decoded = decode_audio(result.audio, OUTPUT_LIMITS)
    assert decoded.sample_rate == result.sample_rate == 16_000
    assert "audio=" not in repr(result) and result.mode == "design"


def test_sync_facade_and_its_misuse_inside_a_loop() -> None:
    provider = FakeProvider()
    assert provider.sync.clone(_clone()).provider == "fake"
    assert provider.sync.health().ok

    async def inside() -> None:
        provider.sync.clone(_clone())

    with pytest.raises(RuntimeError, match="await"):
        asyncio.run(inside())


def _router(*providers: FakeProvider, **settings: object) -> Router:
    return Router(providers=providers, settings=Settings.model_validate(settings))


def _pair(failure: Exception) -> tuple[FakeProvider, FakeProvider]:
    """A primary that fails with ``failure``, and a backup that can clone too."""
    primary = FakeProvider(
        provider_id="primary", failures=[failure], caps=fake_capabilities(clone_modes=("icl",))
    )
    return primary, FakeProvider(
        provider_id="backup", caps=fake_capabilities(clone_modes=("audio",))
    )


async def test_router_falls_back_only_on_retryable_failure_and_says_so() -> None:
    result = await _router(*_pair(ProviderUnavailableError("down"))).clone(_clone())
    assert result.provider == "backup" and result.fallback_from == ("primary",)
    assert any("fell back to backup" in w for w in result.warnings)


async def test_router_falls_back_on_auth_errors_but_never_on_bad_input() -> None:
    # Refused credentials are this provider's problem, not the request's: another may succeed.
    primary, backup = _pair(AuthenticationError("the service refused the credentials"))
    result = await _router(primary, backup).clone(_clone())
    assert result.provider == "backup" and result.fallback_from == ("primary",)
    assert any("authentication_failed" in w for w in result.warnings)

    primary, backup = _pair(ValidationError("bad option", code="invalid_options"))
    with pytest.raises(ValidationError) as info:
        await _router(primary, backup).clone(_clone())
    assert info.value.code == "invalid_options" and backup.calls == []


async def test_router_never_falls_back_to_approximate_unless_allowed() -> None:
    def providers() -> tuple[FakeProvider, FakeProvider]:
        return (
            FakeProvider(provider_id="real", failures=[ProviderUnavailableError("down")]),
            FakeProvider(
                provider_id="approx",
                caps=fake_capabilities(clone_modes=("approximate",), quality="approximate"),
            ),
        )

    with pytest.raises(ProviderUnavailableError):
        await _router(*providers()).clone(_clone())
    result = await _router(*providers(), allow_approximate_fallback=True).clone(_clone())
    assert (result.provider, result.quality, result.fallback_from) == (
        "approx",
        "approximate",
        ("real",),
    )


async def test_router_capabilities_are_the_union() -> None:
    router = _router(
        FakeProvider(provider_id="a", caps=fake_capabilities(languages=("en",))),
        FakeProvider(
            provider_id="b",
            caps=fake_capabilities(operations=("design",), languages=("ja",), clone_modes=()),
        ),
        FakeProvider(
            provider_id="c", problem="unconfigured", caps=fake_capabilities(languages=("ko",))
        ),
    )
    caps = router.capabilities
    assert caps.operations == {"clone", "design"} and set(caps.languages) == {"en", "ja"}


async def test_explicit_request_provider_is_used() -> None:
    a, b = FakeProvider(provider_id="a"), FakeProvider(provider_id="b")
    result = await _router(a, b).design(DesignRequest(text="hi", instruct="calm", provider="b"))
    assert result.provider == "b" and a.calls == []


def test_pytest_plugin_fixtures_are_available(
    fake_router: Router, tts_reference_wav: bytes
) -> None:
    ref = VoiceReference(audio=tts_reference_wav)
    assert fake_router.sync.clone(CloneRequest(text="hi", reference=ref)).provider == "fake"


async def test_clone_without_transcript_says_it_used_x_vector_mode() -> None:
    from tts_router.provider import X_VECTOR_WARNING

    result = await FakeProvider().clone(_clone(transcript=None))
    assert result.mode == "x_vector" and X_VECTOR_WARNING in result.warnings
    with_transcript = await FakeProvider().clone(_clone(transcript="hello"))
    assert with_transcript.mode == "icl" and X_VECTOR_WARNING not in with_transcript.warnings


async def test_nan_samples_are_caught_before_encoding_hides_them() -> None:
    # PCM encoding turns NaN into plausible numbers, so samples are checked as an array.
    class NanProvider(FakeProvider):
        async def _speak(self, *args: object, **kwargs: object) -> Speech:
            speech = await super()._speak(*args, **kwargs)  # type: ignore[arg-type]
            speech.samples = np.full(16_000, np.nan, dtype=np.float32)
            return speech

    with pytest.raises(OutputValidationError) as info:
        await NanProvider().design(DesignRequest(text="hi", instruct="calm"))
    assert info.value.code == "output_not_finite" and info.value.provider == "fake"
