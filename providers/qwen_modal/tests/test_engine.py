"""QwenEngine on tiny random models through the real qwen-tts code (no network)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from qwen_test_support import TRUNCATING_MAX_NEW_TOKENS, engine_options
from tts_router_qwen_modal.chunking import split_for_generation
from tts_router_qwen_modal.engine import QwenEngine, QwenEngineConfig
from tts_router_qwen_modal.fixtures import (
    EARLY_EOS_FRAMES,
    FRAME_SAMPLES,
    expected_output_samples,
    reference_frames,
)

from tts_router.audio import DecodedAudio, stitch
from tts_router.errors import TruncatedOutputError, UnsupportedOperationError
from tts_router.serving import CloneJob, DesignJob, EngineResult

pytestmark = pytest.mark.usefixtures("no_network")
CHUNK = EARLY_EOS_FRAMES * FRAME_SAMPLES  # every early-EOS chunk
SEAM = 240  # the 10 ms crossfade at 24 kHz


def job(reference: DecodedAudio, text: str = "Hello there.", **kw: Any) -> CloneJob:
    return CloneJob(
        text=text,
        language=kw.pop("language", "en"),
        reference=reference,
        reference_id=kw.pop("reference_id", "a" * 64),
        **kw,
    )


def ok(result: Any) -> EngineResult:
    assert isinstance(result, EngineResult), result
    assert result.sample_rate == 24_000
    assert np.isfinite(result.samples).all()
    return result


def test_health_reports_the_load_choices(base_engine: QwenEngine) -> None:
    info = base_engine.health()
    assert (info.status, info.loaded) == ("ok", True)
    assert (info.device, info.dtype, info.attention) == ("cpu", "float32", "sdpa")
    assert info.operations == ["clone"] and info.variant == "tiny-base"
    assert "qwen-tts 0.1.1" in info.version
    languages = {"auto", "zh", "en", "ja", "ko", "de", "fr", "ru", "pt", "es", "it"}
    assert set(base_engine.languages()) == languages


def test_x_vector_and_icl_clone_exact_lengths(
    base_engine: QwenEngine, reference: DecodedAudio
) -> None:
    calls = base_engine.generate_calls
    xvec, icl = base_engine.clone(
        [job(reference, "Hi."), job(reference, "Hi.", transcript="the reference words")]
    )
    assert ok(xvec).mode == "x_vector" and len(xvec.samples) == CHUNK  # type: ignore[union-attr]
    ref_frames = reference_frames(len(reference.samples))
    assert ok(icl).mode == "icl"
    assert len(icl.samples) == expected_output_samples(EARLY_EOS_FRAMES + 1, ref_frames)  # type: ignore[union-attr]
    assert base_engine.generate_calls == calls + 1  # both modes in one batched call


def test_prompt_cache_hit_skips_prompt_building(
    base_engine: QwenEngine, reference: DecodedAudio
) -> None:
    voice = "c" * 64
    base_engine.clone([job(reference, reference_id=voice, transcript="words")])
    built, hits = base_engine.prompts_built, base_engine.prompt_cache.hits
    (again,) = base_engine.clone(
        [job(reference, "Other text.", reference_id=voice, transcript="words")]
    )
    ok(again)
    assert base_engine.prompts_built == built
    assert base_engine.prompt_cache.hits == hits + 1
    base_engine.clone([job(reference, reference_id=voice, transcript="other words")])
    assert base_engine.prompts_built == built + 1  # a different transcript is another prompt


def test_long_text_chunks_in_one_call_and_stitched(
    base_engine: QwenEngine, reference: DecodedAudio
) -> None:
    text = "First one is here. Second follows. Third ends it."
    calls = base_engine.generate_calls
    first, second = base_engine.clone([job(reference, text), job(reference, "Short.")])
    chunks = 3  # 25 characters per chunk at this cap: one sentence each
    assert len(split_for_generation(text, "en", base_engine.config.max_new_tokens)) == chunks
    assert len(ok(first).samples) == chunks * CHUNK - (chunks - 1) * SEAM
    assert len(ok(second).samples) == CHUNK
    assert base_engine.generate_calls == calls + 1  # all 4 chunks of both jobs together
    assert any("3 chunks" in w for w in first.warnings)  # type: ignore[union-attr]


def test_reference_reaches_qwen_only_as_an_array(
    base_engine: QwenEngine, reference: DecodedAudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = base_engine._model
    seen: list[Any] = []
    original = model.create_voice_clone_prompt

    def spy(**kwargs: Any) -> Any:
        seen.append(kwargs["ref_audio"])
        return original(**kwargs)

    monkeypatch.setattr(model, "create_voice_clone_prompt", spy)
    ok(base_engine.clone([job(reference, reference_id="d" * 64)])[0])
    (audio,) = seen
    assert isinstance(audio, tuple) and isinstance(audio[0], np.ndarray)
    assert audio[0].dtype == np.float32 and audio[1] == 24_000


def test_token_cap_hit_is_a_truncation_error(
    qwen_models: dict[str, Any], reference: DecodedAudio
) -> None:
    engine = QwenEngine(
        QwenEngineConfig(
            model=str(qwen_models["truncating"]),
            **engine_options(max_new_tokens=TRUNCATING_MAX_NEW_TOKENS),
        )
    )
    engine.load()
    (result,) = engine.clone([job(reference, "Hi.")])
    assert isinstance(result, TruncatedOutputError)
    assert result.code == "truncated_output"


def test_design_exact_length_and_wrong_model(
    design_engine: QwenEngine, base_engine: QwenEngine
) -> None:
    result = design_engine.design(DesignJob("Hello there.", "a warm, calm voice", "en"))
    assert ok(result).mode == "design" and len(result.samples) == CHUNK
    with pytest.raises(UnsupportedOperationError):
        base_engine.design(DesignJob("Hello.", "warm", "en"))
    with pytest.raises(UnsupportedOperationError):
        design_engine.clone([job(DecodedAudio(np.ones(24_000, np.float32), 24_000))])


# --------------------------------------------------------------------------- fake model: order


class FakeQwen:
    """A stand-in Qwen3TTSModel whose audio length encodes the text: checks order/grouping."""

    class _Inner:
        tts_model_type = "base"
        tts_model_size = "fake"

    def __init__(self) -> None:
        self.model = self._Inner()
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def get_supported_languages(self) -> list[str]:
        return ["auto", "english"]

    def create_voice_clone_prompt(self, **_: Any) -> list[Any]:
        return [object()]

    def generate_voice_clone(
        self,
        *,
        text: Sequence[str],
        language: Any,
        voice_clone_prompt: Any,
        max_new_tokens: int,
        **options: Any,
    ) -> tuple[list[np.ndarray], int]:
        self.calls.append((list(text), options))
        # (10 + len(text)) frames of a constant equal to the text's length
        wavs = [np.full((10 + len(t)) * FRAME_SAMPLES, len(t) / 100, np.float32) for t in text]
        return wavs, 24_000


def test_chunks_are_grouped_by_options_batched_and_stitched_in_order(
    reference: DecodedAudio,
) -> None:
    fake = FakeQwen()
    engine = QwenEngine(
        QwenEngineConfig(
            model="0.6B-Base",
            device="cpu",
            max_new_tokens=200,
            frames_per_char=4.0,
            max_batch_items=3,
            warmup=False,
        ),
        loader=lambda *_: fake,
    )
    engine.load()
    text = "Aa. Bbbbbbbbbbbbbbbbbbbbbbb. Ccccccccccccccccccc. Ddddd."  # 4 chunks of <= 39 chars
    a, b, c = engine.clone(
        [
            job(reference, text),
            job(reference, "Eeeeeeee.", options={"temperature": 0.5}),
            job(reference, "Ff."),
        ]
    )
    texts = ["Aa. Bbbbbbbbbbbbbbbbbbbbbbb.", "Ccccccccccccccccccc. Ddddd.", "Ff."]
    assert [call[0] for call in fake.calls] == [texts, ["Eeeeeeee."]]
    assert fake.calls[1][1] == {"temperature": 0.5}
    chunks = [np.full((10 + len(t)) * FRAME_SAMPLES, len(t) / 100, np.float32) for t in texts[:2]]
    assert np.array_equal(ok(a).samples, stitch(chunks, 24_000))
    assert len(ok(b).samples) == 19 * FRAME_SAMPLES and len(ok(c).samples) == 13 * FRAME_SAMPLES
