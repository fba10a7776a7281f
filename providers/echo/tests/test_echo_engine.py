"""The engine runs the real echo_tts pipeline on the tiny model: lengths, passes, errors."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from echo_support import (
    CROSSFADE_SAMPLES,
    PASS_SAMPLES,
    TEST_PASS_CHARS,
    TEST_SAMPLER,
    make_engine,
)
from tts_router_echo.architecture import ARCHITECTURE_FILE, MODEL_REPO
from tts_router_echo.engine import EchoEngine
from tts_router_echo.passes import plan_passes, untagged

from tts_router.audio import DecodedAudio, decode_audio, encode_wav, stitch, validate_output_wav
from tts_router.errors import (
    ConfigurationError,
    TTSRouterError,
    UnsupportedLanguageError,
    UnsupportedOperationError,
)
from tts_router.serving import CloneJob, DesignJob, EngineResult, SpeechEngine
from tts_router.testing import make_reference_wav
from tts_router.text import split_text

REF_ID = "0" * 64  # the fixture reference's id: its speaker latents are encoded once per engine
LONG_TEXT = (
    "This is the first sentence. Here comes the second one! "
    "And a third, rather longer sentence follows it. The end."
)


def _job(reference: DecodedAudio, text: str = "Hello there.", **changes: object) -> CloneJob:
    fields: dict[str, object] = {
        "text": text,
        "language": "en",
        "reference": reference,
        "reference_id": REF_ID,
    }
    fields.update(changes)
    return CloneJob(**fields)  # type: ignore[arg-type]


def test_is_a_speech_engine(engine: EchoEngine) -> None:
    assert isinstance(engine, SpeechEngine)
    assert list(engine.languages()) == ["en"]
    health = engine.health()
    assert (health.status, health.loaded, health.operations) == ("ok", True, ["clone"])
    assert (health.device, health.dtype, health.variant) == ("cpu", "float32", "custom")
    assert "echo-tts 0.1.4" in health.version


def test_health_before_load_is_cheap(tiny_dir: Path) -> None:
    fresh = make_engine(tiny_dir)
    health = fresh.health()
    assert (health.status, health.loaded, health.model) == (
        "loading",
        False,
        "echo-tts-tiny-random",
    )


def test_one_pass_is_44k_mono_of_the_window_length(
    engine: EchoEngine, reference: DecodedAudio
) -> None:
    (result,) = engine.clone([_job(reference)])
    assert isinstance(result, EngineResult)
    assert result.sample_rate == 44_100
    assert result.mode == "audio"
    assert result.samples.dtype == np.float32
    assert result.samples.ndim == 1
    # Random weights never produce upstream's end-of-speech padding, so nothing is cropped.
    assert len(result.samples) == PASS_SAMPLES
    assert np.isfinite(result.samples).all()
    decoded = validate_output_wav(encode_wav(result.samples, result.sample_rate))
    assert (decoded.sample_rate, len(decoded.samples)) == (44_100, PASS_SAMPLES)
    assert set(result.timings) >= {"reference", "sample", "decode", "total"}
    # A pass that fills the window may have been rushed: the result says so.
    assert any("whole window" in w for w in result.warnings)


def test_matches_upstream_sample_pipeline(engine: EchoEngine, reference: DecodedAudio) -> None:
    """Batched passes are upstream's pipeline taken apart: one pass is identical to it."""
    import torch
    from echo_tts import sample_euler_cfg_independent_guidances, sample_pipeline

    parts = engine._parts
    assert parts is not None
    sample_fn = partial(sample_euler_cfg_independent_guidances, **TEST_SAMPLER.sampler_kwargs())
    upstream, normalised = sample_pipeline(
        model=parts.model,
        fish_ae=parts.fish_ae,
        pca_state=parts.pca_state,
        sample_fn=sample_fn,
        text_prompt="Hello there, friend.",
        speaker_audio=torch.from_numpy(reference.samples).reshape(1, -1),
        rng_seed=7,
    )
    ours = engine.synthesize("Hello there, friend.", reference, reference_id=REF_ID, seed=7)
    assert ours.texts == (normalised,)
    np.testing.assert_array_equal(ours.samples, upstream.reshape(-1).numpy())


def test_long_text_is_spoken_in_ordered_passes(engine: EchoEngine, reference: DecodedAudio) -> None:
    expected_texts = plan_passes(LONG_TEXT, TEST_PASS_CHARS)
    assert len(expected_texts) >= 3
    result = engine.synthesize(LONG_TEXT, reference, reference_id=REF_ID)
    assert list(result.texts) == expected_texts
    assert [len(p) for p in result.passes] == [PASS_SAMPLES] * len(expected_texts)
    # The passes, joined in order by the core stitcher: only the crossfades overlap.
    np.testing.assert_array_equal(result.samples, stitch(result.passes, 44_100))
    overlaps = (len(result.passes) - 1) * CROSSFADE_SAMPLES
    assert len(result.samples) == sum(len(p) for p in result.passes) - overlaps
    spoken = sum(len(untagged(text)) for text in result.texts)
    assert result.chars_per_second == pytest.approx(spoken / (len(result.samples) / 44_100))

    (cloned,) = engine.clone([_job(reference, LONG_TEXT, reference_id=REF_ID)])
    assert isinstance(cloned, EngineResult)
    np.testing.assert_array_equal(cloned.samples, result.samples)
    assert any(f"{len(expected_texts)} passes" in w for w in cloned.warnings)


def test_each_pass_is_its_own_text_in_order(tiny_dir: Path, reference: DecodedAudio) -> None:
    """Sampled one at a time, pass i is exactly what pass i's text alone produces."""
    sequential = make_engine(tiny_dir, max_batch_passes=1)
    sequential.load()
    result = sequential.synthesize(LONG_TEXT, reference, reference_id=REF_ID)
    chunks = split_text(LONG_TEXT, TEST_PASS_CHARS)
    for chunk, audio in zip(chunks, result.passes, strict=True):
        alone = sequential.synthesize(chunk, reference, reference_id=REF_ID)
        np.testing.assert_array_equal(alone.samples, audio)
    assert not np.array_equal(result.passes[0], result.passes[1])


def test_seed_makes_output_repeatable(engine: EchoEngine, reference: DecodedAudio) -> None:
    first = engine.synthesize("Same words.", reference, reference_id=REF_ID, seed=3)
    again = engine.synthesize("Same words.", reference, reference_id=REF_ID, seed=3)
    other = engine.synthesize("Same words.", reference, reference_id=REF_ID, seed=4)
    np.testing.assert_array_equal(first.samples, again.samples)
    assert not np.array_equal(first.samples, other.samples)


def test_reference_at_another_rate_is_resampled(engine: EchoEngine) -> None:
    at_24k = decode_audio(make_reference_wav(seconds=1.5, sample_rate=24_000, seed=2))
    result = engine.synthesize("Resampled.", at_24k)
    assert len(result.samples) == PASS_SAMPLES


def test_speaker_latents_are_cached_by_reference(
    engine: EchoEngine, reference: DecodedAudio
) -> None:
    fresh = engine.synthesize("Cold.", reference, reference_id="3" * 64)
    cached = engine.synthesize("Warm.", reference, reference_id="3" * 64)
    assert fresh.timings["reference"] > 10 * cached.timings["reference"]
    assert cached.timings["reference"] < 0.01


def test_transcript_and_options_are_ignored_with_warnings(
    engine: EchoEngine, reference: DecodedAudio
) -> None:
    job = _job(reference, transcript="what the reference says", options={"temperature": 0.7})
    (result,) = engine.clone([job])
    assert isinstance(result, EngineResult)
    assert any("transcript was ignored" in w for w in result.warnings)
    assert any("temperature" in w for w in result.warnings)
    assert all("what the reference says" not in w for w in result.warnings)


def test_a_bad_job_fails_alone(engine: EchoEngine, reference: DecodedAudio) -> None:
    results = engine.clone(
        [_job(reference), _job(reference, language="de"), _job(reference, text="   ")]
    )
    assert isinstance(results[0], EngineResult)
    assert isinstance(results[1], UnsupportedLanguageError)
    assert isinstance(results[2], TTSRouterError)
    assert results[2].code == "empty_text"


def test_design_is_unsupported(engine: EchoEngine) -> None:
    with pytest.raises(UnsupportedOperationError) as caught:
        engine.design(DesignJob(text="Hi.", instruct="a warm voice", language="en"))
    assert caught.value.code == "unsupported_operation"


def test_missing_weights_never_download(tmp_path: Path) -> None:
    empty = make_engine(tmp_path)
    with pytest.raises(ConfigurationError, match="download"):
        empty.load()
    assert not empty.loaded


def test_real_layout_loads_through_upstream_loaders(
    tiny_dir: Path, tmp_path: Path, reference: DecodedAudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an architecture file the engine calls upstream's loaders with model_path=ROOT;
    upstream's full-size constructors are swapped for the tiny ones to run that path here."""
    from echo_tts import inference
    from tts_router_echo.architecture import Architecture, build_dac, build_echo_dit

    arch = Architecture.load(tiny_dir)
    assert arch is not None
    monkeypatch.setattr(inference, "EchoDiT", lambda **_: build_echo_dit(arch.echo_dit))
    monkeypatch.setattr(inference, "build_ae", lambda: build_dac(arch.dac))
    root = tmp_path / "volume"
    shutil.copytree(tiny_dir, root)
    (root / ARCHITECTURE_FILE).unlink()

    real = make_engine(root)
    assert real.health().model == MODEL_REPO
    real.load()
    assert real.health().variant == "base"
    result = real.synthesize("Through upstream.", reference)
    assert len(result.samples) == PASS_SAMPLES


def test_bfloat16_autoencoder_option(tiny_dir: Path, reference: DecodedAudio) -> None:
    low_vram = make_engine(tiny_dir, ae_dtype="bfloat16", model_dtype="bfloat16")
    low_vram.load()
    assert low_vram.health().dtype == "bfloat16"
    result = low_vram.synthesize("Half precision.", reference)
    assert len(result.samples) == PASS_SAMPLES
    assert np.isfinite(result.samples).all()
