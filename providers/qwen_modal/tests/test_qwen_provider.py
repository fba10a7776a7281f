"""The Qwen provider: settings, routing, the contract suite and the CLI, against the real
service (tiny model) on 127.0.0.1 (the local backend: test_qwen_local.py)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
from core_support.faultproxy import FaultProxy
from qwen_test_support import cli_clone, clone_request, configured
from tts_router_qwen_modal.provider import QwenProvider, QwenSettings

from tts_router import ConfigurationError, DesignRequest, Router, Settings, decode_audio
from tts_router.audio import OUTPUT_LIMITS
from tts_router.provider import X_VECTOR_WARNING, Provider
from tts_router.remote import ModalProxyAuth, ServiceConfig
from tts_router.testing import ProviderContract

pytestmark = pytest.mark.usefixtures("no_network")


def _settings(env: dict[str, str]) -> QwenSettings:
    """What the router hands QwenProvider.from_settings for this environment."""
    return Settings.load(env).provider_settings("qwen", QwenSettings)


@pytest.fixture
def remote(served: tuple[Any, str]) -> QwenProvider:
    return QwenProvider(ServiceConfig(clone_url=served[1], design_url=served[1]))


class TestQwenRemoteContract(ProviderContract):
    @pytest.fixture
    def provider(self, remote: QwenProvider) -> Provider:
        return remote


_request = partial(clone_request, "Hello there, friend.")


async def test_router_clones_icl_with_transcript_and_x_vector_without(
    remote: QwenProvider,
) -> None:
    router = Router(providers=[remote], settings=Settings.load({}))
    icl = await router.clone(_request())
    assert (icl.provider, icl.mode, icl.sample_rate) == ("qwen", "icl", 24_000)
    xvec = await router.clone(_request(None, "German"))
    assert xvec.mode == "x_vector" and X_VECTOR_WARNING in xvec.warnings
    design = await router.design(DesignRequest(text="Hi there.", instruct="a calm voice"))
    assert design.mode == "design" and decode_audio(design.audio, OUTPUT_LIMITS).duration > 0.1


async def test_health_reads_the_service_and_its_languages(remote: QwenProvider) -> None:
    health = await remote.health()
    assert health.ok and "cpu" in health.detail
    assert set(remote.capabilities.languages) <= set(QwenProvider.static_capabilities.languages)
    await remote.aclose()


async def test_one_logical_job_through_a_reset(served: tuple[Any, str]) -> None:
    app, url = served
    before = app.state.stats.engine_jobs
    with FaultProxy(int(url.rsplit(":", 1)[1])) as proxy:
        proxy.then("pass", "reset_mid_response")  # connection 1: upload; 2: the clone, cut
        provider = QwenProvider(ServiceConfig(clone_url=proxy.url))
        result = await provider.clone(_request())
        await provider.aclose()
    assert result.mode == "icl" and app.state.stats.engine_jobs - before == 1


@pytest.mark.parametrize(
    ("env", "url", "problem"),
    [
        ({"QWEN_MODAL_URL": "http://a:1"}, "http://a:1", None),
        (
            {"QWEN_MODAL_ENDPOINT": "https://me--svc.modal.run/clone"},
            "https://me--svc.modal.run/",
            None,
        ),
        (
            {"QWEN_MODAL_ENDPOINT": "https://me--qwen3-tts-qwen3ttsservice-clone.modal.run"},
            None,
            "per-function endpoint",
        ),
        ({}, None, None),
    ],
)
def test_service_url_settings(env: dict[str, str], url: str | None, problem: str | None) -> None:
    found, issue = _settings(env).service_url()
    assert found == url
    assert (problem is None and issue is None) or (problem and issue and problem in issue)


def test_configuration_shows_in_missing_configuration_and_auth() -> None:
    unconfigured = configured({})
    assert "QWEN_MODAL_URL" in (unconfigured.missing_configuration() or "")
    provider = configured({"QWEN_MODAL_URL": "http://a:1", "MODAL_KEY": "k1", "MODAL_SECRET": "s1"})
    assert isinstance(provider, QwenProvider)
    assert provider.config.auth == ModalProxyAuth("k1", "s1") and "s1" not in repr(provider)
    assert provider.capabilities.operations == {"clone"}  # no design URL configured
    with pytest.raises(ConfigurationError, match="QWEN_BACKEND"):
        configured({"QWEN_BACKEND": "gpu"})
    with pytest.raises(ConfigurationError, match="QWEN_MODEL_DIR"):
        configured({"QWEN_BACKEND": "local"})


def test_cli_clone_against_the_local_service(served: tuple[Any, str], tmp_path: Path) -> None:
    env = {"TTS_PROVIDER": "qwen", "QWEN_MODAL_URL": served[1]}
    cli_clone(tmp_path, env, "--text", "Hello there.", "--language", "en")
