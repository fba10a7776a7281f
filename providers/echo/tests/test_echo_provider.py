"""The Echo provider: the contract suite against the real service (tiny model) on 127.0.0.1,
its settings and licence, and the Modal SDK backend (Modal's cloud replaced at its edge)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from echo_support import SERVICE_OPTIONS, configured
from tts_router_echo.provider import ECHO_LICENSE, EchoProvider
from tts_router_echo.sdk import EchoModalSdkProvider
from tts_router_echo.service import create_service_app

from tts_router import (
    CloneRequest,
    ConfigurationError,
    ProviderUnavailableError,
    VoiceReference,
)
from tts_router.audio import encode_wav
from tts_router.remote import ServiceConfig
from tts_router.serving import serve_in_thread
from tts_router.testing import ProviderContract, make_reference_wav


@pytest.fixture(scope="module")
def echo_url(tiny_dir: Path) -> Iterator[str]:
    app = create_service_app(tiny_dir, **SERVICE_OPTIONS)
    with serve_in_thread(app) as url:
        yield url


class TestEchoRemoteContract(ProviderContract):
    @pytest.fixture
    def provider(self, echo_url: str) -> EchoProvider:
        return EchoProvider(ServiceConfig(clone_url=echo_url))


async def test_clone_is_44k_audio_mode_without_transcript(echo_url: str) -> None:
    provider = EchoProvider(ServiceConfig(clone_url=echo_url))
    reference = VoiceReference(audio=make_reference_wav(seconds=1.5, sample_rate=44_100))
    result = await provider.clone(
        CloneRequest(text="Hello there.", reference=reference, language="en-US")
    )
    assert (result.sample_rate, result.mode, result.provider) == (44_100, "audio", "echo")
    await provider.aclose()


def test_settings_and_licence() -> None:
    unconfigured = configured({})
    assert "ECHO_MODAL_URL" in (unconfigured.missing_configuration() or "")
    provider = configured({"ECHO_MODAL_URL": "http://a:1"})
    caps = provider.capabilities
    assert caps.license == ECHO_LICENSE and "non-commercial" in (caps.license or "")
    assert (caps.operations, caps.languages, caps.clone_modes) == ({"clone"}, ("en",), ("audio",))
    with pytest.raises(ConfigurationError, match="ECHO_BACKEND"):
        configured({"ECHO_BACKEND": "ftp"})
    sdk = configured({"ECHO_BACKEND": "modal-sdk", "ECHO_MODAL_APP": "utter-echo"})
    assert isinstance(sdk, EchoModalSdkProvider)
    assert (sdk.app_name, sdk.class_name) == ("utter-echo", "EchoTTS")


class _FakeModalCls:
    """Stands in for Modal's cloud: ``Cls()`` then ``.generate.remote.aio(text, audio)``."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail = fail
        self.generate = self
        self.remote = self

    def __call__(self) -> _FakeModalCls:
        return self

    async def aio(self, text: str, audio: bytes) -> bytes:
        if self.fail:
            raise TimeoutError("modal call timed out")
        self.calls.append((text, len(audio)))
        t = np.arange(int(0.02 * len(text) * 44_100)) / 44_100
        return encode_wav(0.3 * np.sin(2 * np.pi * 180 * t), 44_100)


async def test_modal_sdk_backend_chunks_and_validates_around_the_call() -> None:
    fake = _FakeModalCls()
    looked_up: list[tuple[str, str]] = []

    def lookup(app: str, cls: str) -> Any:
        looked_up.append((app, cls))
        return fake

    provider = EchoModalSdkProvider("utter-echo", "EchoTTS", lookup=lookup)
    reference = VoiceReference(audio=make_reference_wav())
    text = " ".join(f"Sentence {i} is about here and there." for i in range(20))
    result = await provider.clone(CloneRequest(text=text, reference=reference, language="en"))
    assert looked_up == [("utter-echo", "EchoTTS")]
    assert len(fake.calls) > 1 and all(len(t) <= 300 for t, _ in fake.calls)
    assert all(size == len(reference.audio) for _, size in fake.calls)
    assert result.mode == "audio" and result.duration > 0.02 * len(text) * 0.9


async def test_modal_sdk_failure_is_typed_and_retryable() -> None:
    provider = EchoModalSdkProvider("a", "b", lookup=lambda app, cls: _FakeModalCls(fail=True))
    reference = VoiceReference(audio=make_reference_wav())
    with pytest.raises(ProviderUnavailableError) as info:
        await provider.clone(CloneRequest(text="Hello.", reference=reference, language="en"))
    assert info.value.retryable and "TimeoutError" in str(info.value)


def test_unconfigured_capabilities_stay_consistent() -> None:
    caps = configured({}).capabilities
    assert caps.operations == {"clone"} and caps.clone_modes == ("audio",)
