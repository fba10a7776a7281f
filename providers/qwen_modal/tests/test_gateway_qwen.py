"""The gateway in front of the real Qwen service (tiny models) on 127.0.0.1, driven by the
official ``openai`` client: design, upload a voice, clone with it (ICL: it has a transcript)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import soundfile as sf
from tts_router_qwen_modal.provider import QwenProvider

from tts_router import Router, Settings
from tts_router.gateway import GatewayConfig, create_app, hash_key
from tts_router.remote import ServiceConfig
from tts_router.serving import serve_in_thread
from tts_router.testing import make_reference_wav

pytestmark = pytest.mark.usefixtures("no_network")
KEY = "sk-qwen-gateway-test"


@pytest.fixture(scope="module")
def gateway_url(served: tuple[Any, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    qwen = QwenProvider(ServiceConfig(clone_url=served[1], design_url=served[1]))
    config = GatewayConfig(keys=(hash_key(KEY),), data_dir=tmp_path_factory.mktemp("gateway-data"))
    app = create_app(config, Router(providers=[qwen], settings=Settings.load({})))
    with serve_in_thread(app) as url:
        yield url


def test_design_then_clone_an_uploaded_voice_through_the_openai_client(gateway_url: str) -> None:
    client = openai.OpenAI(base_url=gateway_url + "/v1", api_key=KEY, max_retries=0)
    designed = client.audio.speech.create(
        model="qwen",
        voice="design",
        instructions="a warm, low female voice",
        input="Hello there.",
        response_format="wav",
        extra_body={"language": "en"},
    )
    assert designed.response.headers["x-tts-mode"] == "design"
    samples, rate = sf.read(io.BytesIO(designed.content))
    assert rate == 24_000 and len(samples) > 0

    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        voice = http.post(
            "/v1/voices",
            files={"file": ("me.wav", make_reference_wav(1.5, sample_rate=24_000), "audio/wav")},
            data={"name": "Me", "transcript": "Hello, this is me.", "language": "en"},
        ).json()
    cloned = client.audio.speech.create(
        model="auto",
        voice=voice["id"],
        input="Hello again.",
        response_format="flac",
        extra_body={"language": "en"},
    )
    assert cloned.response.headers["x-tts-provider"] == "qwen"
    assert cloned.response.headers["x-tts-mode"] == "icl"  # the stored transcript was used
    samples, rate = sf.read(io.BytesIO(cloned.content))
    assert rate == 24_000 and len(samples) > 0


def test_models_lists_qwen_with_its_capabilities(gateway_url: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        models = {m["id"]: m for m in http.get("/v1/models").json()["data"]}
    assert set(models) == {"auto", "qwen"}
    assert "icl" in models["qwen"]["capabilities"]["clone_modes"]
