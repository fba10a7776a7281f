"""The tiny Qwen3-TTS fixture loads and runs every generation path offline.

These tests run the real ``qwen_tts`` code (loading, prompt building, batching, codec) on
random weights, so they catch API drift in qwen-tts without downloading a checkpoint.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tts_router_qwen_modal.fixtures import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    build_tiny_model,
    expected_output_samples,
    reference_frames,
)

MAX_NEW_TOKENS = 6
REF_SECONDS = 1.3  # not a whole number of frames: ceil() matters
REF_TEXT = "This is the reference transcript."


class NetworkUsed(AssertionError):
    """Raised by the socket guard: nothing here may touch the network."""


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise NetworkUsed("network access attempted")


@pytest.fixture(scope="module", autouse=True)
def offline() -> Iterator[None]:
    """Hub offline flags on, and any socket connection or DNS lookup fails the test."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _refuse)
        mp.setattr(socket.socket, "connect_ex", _refuse)
        mp.setattr(socket, "create_connection", _refuse)
        mp.setattr(socket, "getaddrinfo", _refuse)
        yield


def _load(path: Path) -> Any:
    import torch
    from qwen_tts import Qwen3TTSModel

    return Qwen3TTSModel.from_pretrained(str(path), device_map="cpu", dtype=torch.float32)


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _load(build_tiny_model(tmp_path_factory.mktemp("base"), eos_disabled=True))


@pytest.fixture(scope="module")
def design_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("design")
    return _load(build_tiny_model(path, variant="voice_design", eos_disabled=True))


@pytest.fixture(scope="module")
def ref_audio() -> tuple[np.ndarray, int]:
    """A 24 kHz clip: another rate would pull in librosa.resample (seconds on first call)."""
    noise = np.random.default_rng(0).standard_normal(int(REF_SECONDS * SAMPLE_RATE))
    return (0.1 * noise).astype(np.float32), SAMPLE_RATE


def _assert_audio(result: tuple[list[np.ndarray], int], count: int, samples: int) -> None:
    wavs, sample_rate = result
    assert sample_rate == SAMPLE_RATE
    assert isinstance(wavs, list) and len(wavs) == count
    for wav in wavs:
        assert isinstance(wav, np.ndarray)
        assert wav.dtype == np.float32 and wav.ndim == 1
        assert wav.shape[0] == samples
        assert np.isfinite(wav).all() and np.abs(wav).max() <= 1.0


def _icl_samples(ref: tuple[np.ndarray, int]) -> int:
    return expected_output_samples(MAX_NEW_TOKENS, reference_frames(len(ref[0]), ref[1]))


@pytest.mark.parametrize("x_vector", [False, True], ids=["icl", "x_vector"])
def test_clone(base_model: Any, ref_audio: tuple[np.ndarray, int], x_vector: bool) -> None:
    result = base_model.generate_voice_clone(
        text="Hello there, world.",
        language="English",
        ref_audio=ref_audio,
        ref_text=None if x_vector else REF_TEXT,
        x_vector_only_mode=x_vector,
        max_new_tokens=MAX_NEW_TOKENS,
    )
    samples = (MAX_NEW_TOKENS - 1) * FRAME_SAMPLES if x_vector else _icl_samples(ref_audio)
    _assert_audio(result, 1, samples)


def test_clone_from_cached_prompt(base_model: Any, ref_audio: tuple[np.ndarray, int]) -> None:
    prompt = base_model.create_voice_clone_prompt(ref_audio=ref_audio, ref_text=REF_TEXT)
    assert len(prompt) == 1
    assert tuple(prompt[0].ref_code.shape) == (reference_frames(len(ref_audio[0])), 16)
    assert prompt[0].ref_code.unique().numel() > 1  # random codebooks, not all code 0
    result = base_model.generate_voice_clone(
        text="Reusing a cached prompt.",
        language="English",
        voice_clone_prompt=prompt,
        max_new_tokens=MAX_NEW_TOKENS,
    )
    _assert_audio(result, 1, _icl_samples(ref_audio))


def test_batched_clone_of_three_texts(base_model: Any, ref_audio: tuple[np.ndarray, int]) -> None:
    prompt = base_model.create_voice_clone_prompt(ref_audio=ref_audio, ref_text=REF_TEXT)
    result = base_model.generate_voice_clone(
        text=["One.", "A second, longer sentence to pad the batch.", "Three"],
        language="English",
        voice_clone_prompt=prompt,
        max_new_tokens=MAX_NEW_TOKENS,
    )
    _assert_audio(result, 3, _icl_samples(ref_audio))


def test_voice_design(design_model: Any) -> None:
    result = design_model.generate_voice_design(
        text="Hello there, world.",
        instruct="A warm, calm female voice.",
        language="English",
        max_new_tokens=MAX_NEW_TOKENS,
    )
    _assert_audio(result, 1, (MAX_NEW_TOKENS - 1) * FRAME_SAMPLES)


def test_variants_expose_only_their_api(
    base_model: Any,
    design_model: Any,
    ref_audio: tuple[np.ndarray, int],
) -> None:
    with pytest.raises(ValueError, match="does not support generate_voice_design"):
        base_model.generate_voice_design(text="x", instruct="y", language="English")
    with pytest.raises(ValueError, match="does not support generate_voice_clone"):
        design_model.generate_voice_clone(text="x", language="English", ref_audio=ref_audio)
    assert "english" in base_model.get_supported_languages()


@pytest.mark.parametrize(("ref_frames", "frames", "extra"), [(0, 5, 0), (4, 5, 0), (15, 7, 1)])
def test_expected_samples_reproduces_upstream_rounding(
    ref_frames: int,
    frames: int,
    extra: int,
) -> None:
    """ICL output is cut by a float ratio; some (ref, total) pairs keep one extra sample."""
    assert expected_output_samples(frames + 1, ref_frames) == frames * FRAME_SAMPLES + extra


def test_build_is_deterministic_and_lays_out_the_checkpoint(tmp_path: Path) -> None:
    first = build_tiny_model(tmp_path / "a", seed=3)
    second = build_tiny_model(tmp_path / "b", seed=3)
    for name in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "speech_tokenizer/config.json",
        "speech_tokenizer/model.safetensors",
        "speech_tokenizer/preprocessor_config.json",
    ):
        assert (first / name).is_file(), name
    for name in ("model.safetensors", "speech_tokenizer/model.safetensors"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_unknown_variant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="variant"):
        build_tiny_model(tmp_path, variant="custom_voice")  # type: ignore[arg-type]


def test_importing_fixtures_stays_light() -> None:
    code = (
        "import sys, tts_router_qwen_modal.fixtures\n"
        "heavy = {'torch', 'transformers', 'qwen_tts'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
