"""A remote provider sends a whole text of ordinary length in one request; the service chunks
it and generates the chunks together (its best path). Longer text goes as concurrent parts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qwen_test_support import engine_options
from tts_router_qwen_modal.provider import QwenProvider, QwenSettings
from tts_router_qwen_modal.service import create_service_app

from tts_router import CloneRequest, Settings, VoiceReference
from tts_router.remote import REQUEST_CHARS, ServiceConfig
from tts_router.serving import serve_in_thread
from tts_router.testing import make_reference_wav
from tts_router.text import split_text

pytestmark = pytest.mark.usefixtures("no_network")
LONG = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "texts" / "long.txt"
TEXT = (
    LONG.read_text().strip()
    if LONG.exists()
    else " ".join(f"This is sentence {n} of a long English text." for n in range(60))
)


@pytest.fixture(scope="module")
def served(qwen_models: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    app = create_service_app(qwen_models["base"], engine_options=engine_options())
    with serve_in_thread(app) as url:
        yield app, url


async def _clone(url: str, **config: Any) -> Any:
    provider = QwenProvider(ServiceConfig(clone_url=url, **config))
    reference = VoiceReference(
        audio=make_reference_wav(1.5, sample_rate=24_000), transcript="Hello, this is me."
    )
    result = await provider.clone(CloneRequest(text=TEXT, reference=reference, language="en"))
    await provider.aclose()
    return result


async def test_a_long_text_goes_in_one_request_the_service_batches(
    served: tuple[Any, str],
) -> None:
    app, url = served
    assert 1_000 < len(TEXT) <= REQUEST_CHARS
    jobs = app.state.stats.engine_jobs
    settings = Settings.load({"QWEN_MODAL_URL": url}).provider_settings("qwen", QwenSettings)
    provider = QwenProvider.from_settings(settings)
    assert provider.capabilities.max_text_chars == REQUEST_CHARS
    await provider.aclose()
    result = await _clone(url, max_request_chars=REQUEST_CHARS)
    assert app.state.stats.engine_jobs - jobs == 1  # one request, however many chunks inside
    assert result.duration > 0

    await _clone(url, max_request_chars=600)  # beyond the limit: parts, side by side
    assert app.state.stats.engine_jobs - jobs == 1 + len(split_text(TEXT, 600))
