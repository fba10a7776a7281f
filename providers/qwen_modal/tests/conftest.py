"""Shared fixtures for the Qwen provider tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from qwen_test_support import engine_options

# --------------------------------------------------------------------------- shared tiny models
# Built once per test session (~0.1 s each after the first), loaded once per session. Tests that
# need qwen-tts request these fixtures; importing qwen_tts (~20 s) happens once, here.


@pytest.fixture(scope="session")
def qwen_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Model directories: early-EOS base and design (exact lengths), EOS-disabled base."""
    from tts_router_qwen_modal.fixtures import build_tiny_model

    root = tmp_path_factory.mktemp("qwen-models")
    return {
        "base": build_tiny_model(root / "base", early_eos=True),
        "design": build_tiny_model(root / "design", variant="voice_design", early_eos=True),
        "truncating": build_tiny_model(root / "truncating", eos_disabled=True),
    }


def _loaded_engine(model_dir: Any) -> Any:
    from tts_router_qwen_modal.engine import QwenEngine, QwenEngineConfig

    engine = QwenEngine(QwenEngineConfig(model=str(model_dir), **engine_options()))
    engine.load()
    return engine


@pytest.fixture(scope="session")
def base_engine(qwen_models: dict[str, Any]) -> Any:
    """A loaded early-EOS Base engine shared by the engine tests."""
    return _loaded_engine(qwen_models["base"])


@pytest.fixture(scope="session")
def design_engine(qwen_models: dict[str, Any]) -> Any:
    """A loaded early-EOS VoiceDesign engine."""
    return _loaded_engine(qwen_models["design"])


@pytest.fixture(scope="module")
def served(qwen_models: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    """The real Qwen service (Base + VoiceDesign tiny models) on a free local port, one per
    test module: (its app, its URL)."""
    from tts_router_qwen_modal.service import create_service_app

    from tts_router.serving import serve_in_thread

    app = create_service_app(
        qwen_models["base"], qwen_models["design"], engine_options=engine_options()
    )
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture(scope="session")
def reference() -> Any:
    """A 1.3 s noise clip at 24 kHz (another rate would pull in librosa.resample: seconds)."""
    from tts_router.audio import DecodedAudio

    noise = np.random.default_rng(0).standard_normal(int(1.3 * 24_000))
    return DecodedAudio((0.1 * noise).astype(np.float32), 24_000)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hub offline flags on for tests that load models."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    yield
