"""The legacy backend against a stand-in of Utter's earlier Modal apps (``seed_app``) serving
the tiny engine on 127.0.0.1: the seeds' URLs, bodies, answers and Modal's 303s."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from core_support.faultproxy import FaultProxy
from qwen_test_support import REF, cli_clone, clone_request, configured
from seed_app import create_seed_app
from tts_router_qwen_modal import legacy
from tts_router_qwen_modal.legacy import (
    LEGACY_NOTICE,
    LegacyEndpoint,
    LegacyQwenProvider,
    is_seed_function_url,
)
from tts_router_qwen_modal.provider import QwenProvider

from tts_router import DesignRequest, NoProviderError, Router, Settings, decode_audio
from tts_router.audio import OUTPUT_LIMITS, encode_wav, validate_output_wav
from tts_router.client_options import RetryOptions
from tts_router.errors import ProviderError, TruncatedOutputError, ValidationError
from tts_router.http import AudioResponse, ServiceClient
from tts_router.serving import serve_in_thread

pytestmark = pytest.mark.usefixtures("no_network")

SEED_CLONE = "https://duncab013--qwen3-tts-voice-clone-06b-qwen3ttsservice-clone.modal.run"
SEED_DESIGN = "https://duncab013--qwen3-tts-voice-design-voicedesignservice-design.modal.run"
ENGLISH = "Good morning! The weather today is bright and mild, and the trains run on time."


class LoopbackModal(httpx.AsyncBaseTransport):
    """Sends every ``*.modal.run`` request to the stand-in on 127.0.0.1, its Host header kept:
    the client uses the seeds' real URLs; only name resolution is replaced."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.hosts: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        if request.method == "POST":
            self.bodies.append(json.loads(await request.aread()))
        target = request.url
        if target.host.endswith(".modal.run"):
            target = target.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        forwarded = httpx.Request(
            request.method, target, headers=request.headers, content=await request.aread()
        )
        return await self._inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(scope="module")
def seed(base_engine: Any, design_engine: Any) -> Iterator[tuple[Any, str]]:
    """The stand-in on a free port: both seed apps, Modal's 303 after 0.05 s."""
    app = create_seed_app(base_engine, design_engine, redirect_after=0.05)
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture
def transport(seed: tuple[Any, str]) -> LoopbackModal:
    return LoopbackModal(int(seed[1].rsplit(":", 1)[1]))


@pytest.fixture
def provider(transport: LoopbackModal) -> LegacyQwenProvider:
    return LegacyQwenProvider(
        clone_url=SEED_CLONE, design_url=SEED_DESIGN, transport=transport, notice=LEGACY_NOTICE
    )


_clone = partial(clone_request, ENGLISH)


def test_a_seed_url_selects_the_legacy_backend_with_one_notice(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(legacy, "_noticed", False)
    with caplog.at_level(logging.WARNING, logger="tts_router_qwen_modal.legacy"):
        for env in ({"QWEN_MODAL_ENDPOINT": SEED_CLONE}, {"QWEN_MODAL_URL": SEED_CLONE}):
            provider = configured(env)
            assert isinstance(provider, LegacyQwenProvider)
            assert provider.missing_configuration() is None and provider.notice == LEGACY_NOTICE
            caps = provider.capabilities
            assert caps.operations == {"clone"} and caps.clone_modes == ("icl",)
    notices = [r for r in caplog.records if "tts-router-qwen deploy" in r.getMessage()]
    assert len(notices) == 1  # once per process
    explicit = configured({"QWEN_BACKEND": "legacy", "QWEN_MODAL_URL": "http://127.0.0.1:9/clone"})
    assert isinstance(explicit, LegacyQwenProvider) and explicit.notice is None
    remote = configured({"QWEN_BACKEND": "remote", "QWEN_MODAL_ENDPOINT": SEED_CLONE})
    assert "QWEN_BACKEND=remote cannot speak" in (remote.missing_configuration() or "")


@pytest.mark.parametrize(
    ("url", "function", "base", "path"),
    [
        (SEED_CLONE, "health", SEED_CLONE.replace("-clone.", "-health."), ""),
        (SEED_DESIGN, "design", SEED_DESIGN, ""),
        ("http://127.0.0.1:8000/clone", "languages", "http://127.0.0.1:8000", "languages"),
        ("http://127.0.0.1:8000/api/clone/", "health", "http://127.0.0.1:8000", "api/health"),
        ("http://127.0.0.1:8000", "clone", "http://127.0.0.1:8000", "clone"),
    ],
)
def test_endpoints_of_the_three_url_shapes(url: str, function: str, base: str, path: str) -> None:
    endpoint = LegacyEndpoint.parse(url, setting="QWEN_MODAL_URL", function=function)
    assert (endpoint.base, endpoint.path) == (base, path)
    assert is_seed_function_url(url) == url.startswith("https://")


async def test_clone_speaks_the_seed_format_on_the_seed_hosts(
    provider: LegacyQwenProvider, transport: LoopbackModal, seed: tuple[Any, str]
) -> None:
    app, _ = seed
    before = app.state.calls["clone"]
    router = Router(providers=[provider], settings=Settings.load({"TTS_PROVIDER": "qwen"}))
    result = await router.clone(_clone(language="Auto"))
    assert (result.provider, result.mode, result.sample_rate) == ("qwen", "icl", 24_000)
    assert (result.language, result.language_detected) == ("en", True)
    assert decode_audio(result.audio, OUTPUT_LIMITS).duration > 0.05
    body = transport.bodies[-1]
    assert set(body) == {"text", "language", "ref_audio_base64", "ref_text", "max_new_tokens"}
    assert body["language"] == "English" and base64.b64decode(body["ref_audio_base64"]) == REF
    assert body["ref_text"] == "Hello, this is me." and body["max_new_tokens"] == 2048
    assert transport.hosts[0] == httpx.URL(SEED_CLONE).host
    assert app.state.calls["clone"] - before == 1
    sent = [w for w in result.warnings if "reference was sent again" in w]
    assert sent and f"{len(base64.b64encode(REF)) / 1e6:.2f} MB" in sent[0]
    await provider.aclose()


async def test_modal_303_while_generating_is_followed_to_the_result(
    provider: LegacyQwenProvider, transport: LoopbackModal, seed: tuple[Any, str]
) -> None:
    # The stand-in answers 303 after 0.05 s; the tiny model takes longer than that.
    app, _ = seed
    before = app.state.calls["result"]
    result = await provider.clone(_clone(language="en"))
    assert result.mode == "icl" and app.state.calls["result"] > before
    assert transport.hosts[-1].endswith("-clone.modal.run")  # the result URL: same host
    await provider.aclose()


async def test_design_and_health_use_their_own_hosts(
    provider: LegacyQwenProvider, transport: LoopbackModal
) -> None:
    result = await provider.design(
        DesignRequest(text="Hello there.", instruct="a calm, low voice", language="auto")
    )
    assert (result.mode, result.language) == ("design", "auto")
    assert transport.bodies[-1] == {
        "text": "Hello there.",
        "language": "Auto",
        "instruct": "a calm, low voice",
    }
    health = await provider.health()
    assert health.ok and "earlier Modal app" in health.detail and "tts-router-qwen" in health.detail
    assert "Qwen3-TTS-12Hz-0.6B-Base" in health.detail
    assert set(provider.capabilities.languages) == set(QwenProvider.static_capabilities.languages)
    probed = {h.split("--")[1].split(".")[0].rsplit("-", 1)[1] for h in transport.hosts}
    assert probed == {"design", "health", "languages"}
    await provider.aclose()


async def test_what_the_seed_app_cannot_do_is_said_before_any_request(
    provider: LegacyQwenProvider, transport: LoopbackModal
) -> None:
    router = Router(providers=[provider], settings=Settings.load({}))
    with pytest.raises(NoProviderError, match="needs a transcript"):
        await router.clone(_clone(transcript=None, language="en"))
    with pytest.raises(ValidationError) as info:
        await provider.clone(_clone(language="en", options={"temperature": 0.5}))
    assert info.value.code == "invalid_options"
    with pytest.raises(ValidationError, match="at most 500"):
        await provider.design(DesignRequest(text="Hi there.", instruct="x" * 501, language="en"))
    assert transport.bodies == []
    seeded = await provider.clone(_clone(language="en", seed=7))
    assert any("takes no seed" in w for w in seeded.warnings)
    await provider.aclose()


async def test_the_seed_apps_refusals_are_typed_and_leak_nothing(seed: tuple[Any, str]) -> None:
    client = ServiceClient(seed[1], provider="qwen", retry=RetryOptions(max_attempts=1))
    secret_text = "my very private words"
    with pytest.raises(ProviderError) as info:
        await client.post_audio("clone", {"text": secret_text, "language": "Klingon"})
    assert (info.value.code, info.value.status, info.value.retryable) == (
        "request_rejected",
        400,
        False,
    )
    assert secret_text not in str(info.value) and "Klingon" not in str(info.value)
    await client.aclose()


async def test_one_clone_through_a_reset_on_the_path_shaped_url(seed: tuple[Any, str]) -> None:
    _, url = seed
    with FaultProxy(int(url.rsplit(":", 1)[1])) as proxy:
        proxy.then("reset_mid_response")
        provider = configured({"QWEN_BACKEND": "legacy", "QWEN_MODAL_URL": proxy.url + "/clone"})
        assert isinstance(provider, LegacyQwenProvider)
        result = await provider.clone(_clone(language="de"))
        await provider.aclose()
    assert result.mode == "icl" and proxy.connections >= 2


def test_a_chunk_at_the_token_cap_is_a_truncation_not_audio(
    provider: LegacyQwenProvider,
) -> None:
    capped = encode_wav(0.1 * make_reference_wav_samples(164.0), 24_000)
    audio = validate_output_wav(capped, provider="qwen")
    response = AudioResponse(
        wav=capped, audio=audio, model="m", mode="icl", timings={}, warnings=()
    )
    with pytest.raises(TruncatedOutputError):
        provider._speech(response, "clone", None, [])


def make_reference_wav_samples(seconds: float) -> Any:
    import numpy as np

    return np.sin(2 * np.pi * 150 * np.arange(int(seconds * 24_000)) / 24_000)


def test_the_cli_clones_through_the_seed_app(seed: tuple[Any, str], tmp_path: Path) -> None:
    env = {"TTS_PROVIDER": "qwen", "QWEN_BACKEND": "legacy", "QWEN_MODAL_URL": seed[1]}
    text = "Bonjour à tous, le marché ouvre tous les samedis matin sur la place."
    assert "reference was sent again" in cli_clone(tmp_path, env, "--text", text)
