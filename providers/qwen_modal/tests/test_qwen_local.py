"""``QWEN_BACKEND=local``: QwenProvider over the Qwen service app in this process
(:class:`~tts_router.serving.InProcessService`), on the tiny models: the contract, settings,
lazy start, the voice store, batching, streams and shutdown, through the same client as remote.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from core_support.in_process import check_in_process
from qwen_test_support import clone_request, configured, engine_options
from tts_router_qwen_modal.provider import QwenProvider

from tts_router import ConfigurationError, DesignRequest, Router, Settings, decode_audio
from tts_router.audio import OUTPUT_LIMITS
from tts_router.provider import Provider
from tts_router.serving import IN_PROCESS_URL
from tts_router.testing import ProviderContract

pytestmark = pytest.mark.usefixtures("no_network")
LONG_TEXT = (
    "The first sentence opens the text. A second one follows it closely, and a third, "
    "slightly longer sentence comes along after it. Four is short. Fifth: numbers like 42 "
    "and 1984 appear here. The sixth sentence talks about the weather and the sea."
)


def _local(models: dict[str, Any], **options: Any) -> QwenProvider:
    """Base + VoiceDesign in-process, with the test engines' options."""
    return QwenProvider.in_process(
        models["base"], models["design"], engine_options=engine_options(), **options
    )


class TestQwenLocalContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def provider(cls, qwen_models: dict[str, Any]) -> Iterator[Provider]:
        # One service for the class: the contract's sync calls each run in a new event loop.
        local = _local(qwen_models)
        yield local
        asyncio.run(local.aclose())


def test_local_backend_from_settings_is_built_without_loading_anything(
    qwen_models: dict[str, Any],
) -> None:
    env = {"QWEN_BACKEND": "local", "QWEN_MODEL_DIR": str(qwen_models["base"])}
    provider = configured(env)
    assert isinstance(provider, QwenProvider) and provider.service is not None
    assert not provider.service.started and provider.service.app is None  # nothing built
    assert provider.capabilities.operations == {"clone"}  # no VoiceDesign model given
    assert provider.missing_configuration() is None
    env["QWEN_DESIGN_MODEL_DIR"] = str(qwen_models["design"])
    both = configured(env)
    assert both.capabilities.operations == {"clone", "design"}
    assert both.client("design").base_url == httpx.URL(IN_PROCESS_URL + "/")
    with pytest.raises(ConfigurationError, match="QWEN_MODEL_DIR"):
        configured({"QWEN_BACKEND": "local"})


async def test_the_router_clones_through_the_local_backend_from_settings(
    qwen_models: dict[str, Any],
) -> None:
    """Configured only by settings (default engine options: a short text passes the
    too-short check of the tiny model's 0.16 s chunks)."""
    env = {
        "TTS_ROUTER_PLUGINS": "qwen",
        "QWEN_BACKEND": "local",
        "QWEN_MODEL_DIR": str(qwen_models["base"]),
    }
    router = Router(settings=Settings.load(env))
    result = await router.clone(clone_request("Hi there.", language="English"))  # an alias
    assert (result.provider, result.mode, result.sample_rate) == ("qwen", "icl", 24_000)
    await router.aclose()
    assert not router.providers["qwen"].service.started  # type: ignore[attr-defined]


async def test_clone_design_and_health_in_process(qwen_models: dict[str, Any]) -> None:
    provider = _local(qwen_models)
    assert provider.service is not None and provider.service.app is None  # loads on first use
    icl = await provider.clone(clone_request("Hi there.", language="English"))
    assert (icl.mode, icl.sample_rate) == ("icl", 24_000)
    xvec = await provider.clone(clone_request("Guten Tag.", transcript=None, language="de"))
    assert xvec.mode == "x_vector"
    design = await provider.design(DesignRequest(text="Hi.", instruct="a deep voice"))
    assert design.mode == "design" and decode_audio(design.audio, OUTPUT_LIMITS).duration > 0.1
    health = await provider.health()
    assert health.ok and "cpu" in health.detail
    info = await provider.client("clone").health()
    assert info.loaded and {"clone", "design"} <= set(info.operations)
    await provider.aclose()


async def test_one_upload_per_voice_batched_clones_a_stream_and_a_clean_shutdown(
    qwen_models: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wide batching window: concurrent requests in one process arrive within it.
    provider = _local(qwen_models, batch_window_s=0.3)
    await check_in_process(provider, clone_request, LONG_TEXT, ("qwen", "icl", 24_000), monkeypatch)
