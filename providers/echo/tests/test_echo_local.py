"""``ECHO_BACKEND=local``: EchoProvider over the Echo service app in this process
(:class:`~tts_router.serving.InProcessService`), on the tiny model: the contract, settings,
lazy start, the voice store, batching, streams and shutdown, through the same client as remote.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from core_support.in_process import check_in_process
from echo_support import SERVICE_OPTIONS, configured
from tts_router_echo.provider import ECHO_LICENSE, EchoProvider

from tts_router import CloneRequest, ConfigurationError, Router, Settings, VoiceReference
from tts_router.provider import Provider
from tts_router.testing import ProviderContract, make_reference_wav

REF = make_reference_wav(seconds=1.5, sample_rate=44_100)
LONG_TEXT = (
    "The first sentence opens the text. A second one follows it closely, and a third "
    "sentence comes after it. The fourth one ends the text."
)


def _local(model_dir: Path, **options: Any) -> EchoProvider:
    """The tiny model in-process, with the test sampler (small and fast)."""
    return EchoProvider.in_process(model_dir, **SERVICE_OPTIONS, **options)


def _clone(text: str) -> CloneRequest:
    return CloneRequest(text=text, reference=VoiceReference(audio=REF), language="en")


class TestEchoLocalContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, tiny_dir: Path) -> Iterator[Provider]:
        # One service for the class: the contract's sync calls each run in a new event loop.
        local = _local(tiny_dir)
        yield local
        asyncio.run(local.aclose())


def test_local_backend_from_settings_is_built_without_loading_anything(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "tts_router_echo.service.create_service_app", lambda *a, **kw: built.append(kw)
    )
    env = {"ECHO_BACKEND": "local", "ECHO_MODEL_DIR": str(tiny_dir), "ECHO_DEVICE": "cpu"}
    provider = configured(env)
    assert isinstance(provider, EchoProvider) and provider.service is not None
    assert not provider.service.started and not built  # nothing built, nothing loaded
    assert provider.missing_configuration() is None
    caps = provider.capabilities
    assert (caps.operations, caps.license) == ({"clone"}, ECHO_LICENSE)
    assert provider.client("clone").base_url == httpx.URL("http://in-process/")
    with pytest.raises(ConfigurationError, match="ECHO_MODEL_DIR"):
        configured({"ECHO_BACKEND": "local"})


async def test_the_device_setting_reaches_the_service_app(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[dict[str, Any]] = []

    def fake_app(model_dir: str, **options: Any) -> Any:
        built.append({"model_dir": model_dir, **options})
        raise RuntimeError("stop here")  # the start fails: a connection error, retried

    monkeypatch.setattr("tts_router_echo.service.create_service_app", fake_app)
    env = {"ECHO_BACKEND": "local", "ECHO_MODEL_DIR": str(tiny_dir), "ECHO_DEVICE": "cpu"}
    provider = configured(env)
    assert provider.service is not None
    with pytest.raises(httpx.ConnectError):
        await provider.service.handle_async_request(httpx.Request("GET", "http://in-process/"))
    assert built == [{"model_dir": str(tiny_dir), "device": "cpu", "retry_after_s": 1.0}]
    await provider.aclose()


def test_the_local_backend_without_the_engine_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "echo_tts", None)
    with pytest.raises(ConfigurationError) as info:
        configured({"ECHO_BACKEND": "local"})
    assert info.value.code == "missing_extra" and "tts-router-echo[engine]" in str(info.value)


async def test_the_router_clones_in_process(tiny_dir: Path) -> None:
    local = _local(tiny_dir)
    router = Router(providers=[local], settings=Settings.load({}))
    assert local.service is not None and local.service.app is None  # loads on first use
    result = await router.clone(_clone("Hello there."))
    assert (result.provider, result.mode, result.sample_rate) == ("echo", "audio", 44_100)
    health = await local.health()
    assert health.ok and "cpu" in health.detail
    await router.aclose()
    assert not local.service.started


async def test_one_upload_per_voice_batched_clones_a_stream_and_a_clean_shutdown(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wide batching window: concurrent requests in one process arrive within it.
    provider = _local(tiny_dir, batch_window_s=0.3)
    await check_in_process(provider, _clone, LONG_TEXT, ("echo", "audio", 44_100), monkeypatch)
