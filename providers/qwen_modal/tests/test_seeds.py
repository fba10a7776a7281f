"""Per-row seeds and options inside one batched generate call; warm-up at load; memory
handed back after large calls. On tiny random models through the real qwen-tts code."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import tts_router_qwen_modal.engine as engine_module
from qwen_test_support import engine_options
from tts_router_qwen_modal.engine import QwenEngine, QwenEngineConfig, release_memory
from tts_router_qwen_modal.fixtures import build_tiny_model
from tts_router_qwen_modal.loading import load_pretrained
from tts_router_qwen_modal.sampling import RowSampler, RowSampling, row_seed

from tts_router.audio import DecodedAudio
from tts_router.errors import TTSRouterError
from tts_router.serving import CloneJob, DesignJob, EngineResult

pytestmark = pytest.mark.usefixtures("no_network")

SAMPLING_CAP = 48
"""Token cap of the sampling engine: some rows end on EOS before it, others reach it."""


@pytest.fixture(scope="module")
def sampling_engine(tmp_path_factory: pytest.TempPathFactory) -> QwenEngine:
    """A Base engine on a tiny model that samples (EOS random): the audio follows the seed."""
    path = build_tiny_model(tmp_path_factory.mktemp("qwen-sampling") / "base")
    options = engine_options(
        max_new_tokens=SAMPLING_CAP, min_seconds_per_char=0.0, frames_per_char=1.0
    )  # a budget of 48 characters: each test text is one chunk
    engine = QwenEngine(QwenEngineConfig(model=str(path), **options))
    engine.load()
    return engine


def job(reference: DecodedAudio, text: str, **kw: Any) -> CloneJob:
    return CloneJob(text=text, language="en", reference=reference, reference_id="a" * 64, **kw)


@contextmanager
def talker_codes(engine: QwenEngine) -> Iterator[list[list[torch.Tensor]]]:
    """The codec tokens each generate call sampled, per row (what the seed decides)."""
    inner = engine._model.model
    original = inner.generate
    calls: list[list[torch.Tensor]] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        codes, hidden = original(*args, **kwargs)
        calls.append([c.clone() for c in codes])
        return codes, hidden

    inner.generate = spy
    try:
        yield calls
    finally:
        del inner.generate


def assert_same_outcome(alone: Any, batched: Any) -> None:
    """The same audio, or the same error. The sampled tokens are compared exactly elsewhere;
    the codec decoder's float32 output differs below 1e-6 between batch shapes (BLAS
    blocking), under a 16-bit sample's step of 3e-5."""
    if isinstance(alone, TTSRouterError):
        assert isinstance(batched, TTSRouterError) and batched.code == alone.code
        return
    assert isinstance(alone, EngineResult) and isinstance(batched, EngineResult)
    assert alone.samples.shape == batched.samples.shape
    np.testing.assert_allclose(alone.samples, batched.samples, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- reproducibility


def test_a_seeded_request_sounds_the_same_alone_and_in_a_mixed_batch(
    sampling_engine: QwenEngine, reference: DecodedAudio
) -> None:
    options = {"temperature": 0.7, "top_k": 20, "top_p": 0.9, "repetition_penalty": 1.2}
    # Seeds under which these rows end on EOS before the cap (the model is fixed): audio.
    seeded = {
        1: job(reference, "Good morning to you.", seed=9),
        3: job(reference, "Another seeded one.", seed=10, transcript="the words"),
        4: job(reference, "Options of its own.", seed=4, options=options),
        5: job(reference, "The largest seed.", seed=2**64 - 1),
    }
    batch = [
        job(reference, "An unseeded row."),
        seeded[1],
        job(reference, "Unseeded and warmer.", options={"temperature": 1.3}),
        seeded[3],
        seeded[4],
        seeded[5],
    ]
    calls = sampling_engine.generate_calls
    with talker_codes(sampling_engine) as codes:
        together = sampling_engine.clone(batch)
    # Six rows, four seeds, three sets of options: one call.
    assert sampling_engine.generate_calls == calls + 1 and len(codes) == 1
    in_batch = codes[0]
    assert len(in_batch) == len(batch)  # one chunk per job: row i is job i
    for index, request in seeded.items():
        with talker_codes(sampling_engine) as alone_codes:
            (alone,) = sampling_engine.clone([request])
        assert torch.equal(alone_codes[0][0], in_batch[index])
        assert_same_outcome(alone, together[index])
    # Elsewhere in another batch (other neighbours, another position): the same again.
    with talker_codes(sampling_engine) as pair_codes:
        options_row, first = sampling_engine.clone([seeded[4], seeded[1]])
    assert torch.equal(pair_codes[0][0], in_batch[4])
    assert torch.equal(pair_codes[0][1], in_batch[1])
    assert_same_outcome(first, together[1])
    assert_same_outcome(options_row, together[4])
    # Not vacuous: the seeded rows spoke (none ran into the token cap)...
    assert all(isinstance(together[i], EngineResult) for i in (1, 3, 4))
    # ...and the seed decides the tokens.
    with talker_codes(sampling_engine) as other:
        sampling_engine.clone([dataclasses.replace(seeded[1], seed=12)])
    assert not torch.equal(other[0][0], in_batch[1])


def test_unseeded_rows_draw_fresh_streams(
    sampling_engine: QwenEngine, reference: DecodedAudio
) -> None:
    with talker_codes(sampling_engine) as codes:
        sampling_engine.clone([job(reference, "Say it twice.")] * 2)
    first, second = codes[0]
    assert not torch.equal(first, second)


def test_row_seeds_follow_the_seed_and_the_chunk_text() -> None:
    assert row_seed(5, "one chunk") == row_seed(5, "one chunk")
    assert row_seed(5, "one chunk") != row_seed(5, "another chunk")
    assert row_seed(5, "one chunk") != row_seed(6, "one chunk")
    assert 0 <= row_seed(2**64 - 1, "x") < 2**64
    assert row_seed(None, "x") != row_seed(None, "x")


# --------------------------------------------------------------------------- one call


def test_four_distinct_seeds_run_as_one_generate_call(
    base_engine: QwenEngine, reference: DecodedAudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = base_engine._model
    original = model.generate_voice_clone
    rows: list[int] = []

    def spy(**kwargs: Any) -> Any:
        rows.append(len(kwargs["text"]))
        return original(**kwargs)

    monkeypatch.setattr(model, "generate_voice_clone", spy)
    results = base_engine.clone([job(reference, f"Row {i}.", seed=i) for i in range(4)])
    assert all(isinstance(r, EngineResult) for r in results)
    assert rows == [4]
    # The sampling hooks live only for the call: the model's classes answer again after it.
    talker = model.model.talker
    assert "generate" not in vars(talker) and "generate" not in vars(talker.code_predictor)


def test_sixteen_seeded_rows_one_call_instead_of_sixteen(
    base_engine: QwenEngine, reference: DecodedAudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [job(reference, f"Row {i}.", seed=1000 + i) for i in range(16)]
    calls = base_engine.generate_calls
    base_engine.clone(jobs)
    assert base_engine.generate_calls == calls + 1
    # Without per-row sampling (a model the engine cannot hook), one call per seed: as before.
    monkeypatch.setattr(base_engine, "_per_row", False)
    calls = base_engine.generate_calls
    base_engine.clone(jobs)
    assert base_engine.generate_calls == calls + 16


# --------------------------------------------------------------------------- the sampler


def _expected(scores: torch.Tensor, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """transformers' own warpers, in its order, then softmax: the distribution to match."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    ids = torch.zeros((1, 0), dtype=torch.long)
    out = TemperatureLogitsWarper(temperature)(ids, scores[None].clone())
    if top_k:
        out = TopKLogitsWarper(top_k)(ids, out)
    if top_p < 1.0:
        out = TopPLogitsWarper(top_p)(ids, out)
    return out.softmax(-1)[0].numpy()


def test_row_sampler_draws_from_each_rows_own_distribution() -> None:
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    settings = [
        {"temperature": 1.0, "top_k": 0, "top_p": 1.0},
        {"temperature": 1.0, "top_k": 2, "top_p": 1.0},
        {"temperature": 0.5, "top_k": 0, "top_p": 0.7},
        {"temperature": 1.6, "top_k": 4, "top_p": 0.95},
    ]
    rows = [RowSampling(seed=100 + i, options=s) for i, s in enumerate(settings)]
    rows.append(RowSampling(seed=200, options={"do_sample": False}))
    defaults = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    sampler = RowSampler(rows, defaults, stream=0, clock=_clock())
    draws = 4000
    counts = np.zeros((len(rows), logits.numel()))
    scores = logits.expand(len(rows), -1).contiguous()
    for frame in range(draws):  # the talker's frame is the length of input_ids
        out = sampler(torch.zeros((len(rows), frame), dtype=torch.long), scores.clone())
        assert torch.isfinite(out).sum(dim=1).eq(1).all()  # one token left per row
        counts[np.arange(len(rows)), out.argmax(dim=1).numpy()] += 1
    for i, s in enumerate(settings):
        expected = _expected(logits, s["temperature"], s["top_k"], s["top_p"])
        observed = counts[i] / draws
        sigma = np.sqrt(expected * (1 - expected) / draws) + 1e-9
        assert np.all(np.abs(observed - expected) <= 4 * sigma + 1e-3), (i, observed, expected)
    assert counts[-1, 0] == draws  # greedy: the argmax every time


def test_row_sampler_repetition_penalty_is_per_row() -> None:
    scores = torch.tensor([[1.0, 0.95, -2.0, -2.0]] * 2)
    rows = [
        RowSampling(seed=1, options={"do_sample": False, "repetition_penalty": 1.2}),
        RowSampling(seed=2, options={"do_sample": False}),
    ]
    defaults = {"do_sample": True, "repetition_penalty": 1.0}
    sampler = RowSampler(rows, defaults, stream=0, clock=_clock())
    out = sampler(torch.zeros((2, 3), dtype=torch.long), scores.clone())  # token 0 was said
    # 1.0 / 1.2 < 0.95: the penalised row moves on; the other repeats token 0.
    assert out.argmax(dim=1).tolist() == [1, 0]


def _clock() -> Any:
    from tts_router_qwen_modal.sampling import _Clock

    return _Clock()


# --------------------------------------------------------------------------- warm-up


def _counting_loader(counts: Counter[str], *, fail: bool = False, on_call: Any = None) -> Any:
    """The real loader, with the model's public methods counted (and failing if asked)."""

    def load(location: str, device: str, dtype: str, attention: str) -> Any:
        model = load_pretrained(location, device, dtype, attention)
        for name in ("create_voice_clone_prompt", "generate_voice_clone", "generate_voice_design"):
            original = getattr(model, name)

            def counted(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
                counts[_name] += 1
                if on_call is not None:
                    on_call()
                if fail and _name.startswith("generate"):
                    raise RuntimeError("boom")
                return _original(*args, **kw)

            setattr(model, name, counted)
        return model

    return load


def test_warm_up_builds_one_prompt_and_generates_once_at_load(
    qwen_models: dict[str, Path], reference: DecodedAudio
) -> None:
    counts: Counter[str] = Counter()
    loaded_during: list[bool] = []
    config = QwenEngineConfig(model=str(qwen_models["base"]), **engine_options())
    engine = QwenEngine(
        config, loader=_counting_loader(counts, on_call=lambda: loaded_during.append(engine.loaded))
    )
    engine.load()
    assert counts == {"create_voice_clone_prompt": 1, "generate_voice_clone": 1}
    assert engine.warmups == 1
    assert loaded_during == [False, False]  # health says "loading" until warm
    # Not a request: nothing counted or cached as one.
    assert (engine.generate_calls, engine.prompts_built, len(engine.prompt_cache)) == (0, 0, 0)
    engine.load()  # loaded already: no second warm-up
    assert engine.warmups == 1 and counts["generate_voice_clone"] == 1
    (result,) = engine.clone([job(reference, "Hello.")])
    assert isinstance(result, EngineResult)

    counts.clear()
    cold = QwenEngine(dataclasses.replace(config, warmup=False), loader=_counting_loader(counts))
    cold.load()
    assert not counts and cold.warmups == 0


def test_warm_up_of_a_design_model(qwen_models: dict[str, Path]) -> None:
    counts: Counter[str] = Counter()
    config = QwenEngineConfig(model=str(qwen_models["design"]), **engine_options())
    engine = QwenEngine(config, loader=_counting_loader(counts))
    engine.load()
    assert counts == {"generate_voice_design": 1} and engine.warmups == 1
    assert engine.design(DesignJob("Hi there.", "a warm voice", "en")).mode == "design"


def test_a_failed_warm_up_is_logged_not_raised(
    qwen_models: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    counts: Counter[str] = Counter()
    config = QwenEngineConfig(model=str(qwen_models["base"]), **engine_options())
    engine = QwenEngine(config, loader=_counting_loader(counts, fail=True))
    with caplog.at_level(logging.WARNING, logger="tts_router_qwen_modal.engine"):
        engine.load()
    assert engine.loaded and engine.warmups == 0
    assert "warm-up failed (RuntimeError)" in caplog.text


# --------------------------------------------------------------------------- memory


def test_memory_is_released_after_large_calls_only(
    base_engine: QwenEngine, reference: DecodedAudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    released: list[str] = []
    monkeypatch.setattr(engine_module, "release_memory", lambda _t, device: released.append(device))
    monkeypatch.setattr(
        base_engine, "config", dataclasses.replace(base_engine.config, release_memory_rows=4)
    )
    before = base_engine.memory_releases
    base_engine.clone([job(reference, f"Row {i}.") for i in range(3)])
    assert released == []
    base_engine.clone([job(reference, f"Row {i}.") for i in range(4)])
    assert released == ["cpu"] and base_engine.memory_releases == before + 1
    monkeypatch.setattr(
        base_engine, "config", dataclasses.replace(base_engine.config, release_memory_rows=0)
    )
    base_engine.clone([job(reference, f"Row {i}.") for i in range(8)])
    assert released == ["cpu"]  # 0: never


def test_release_memory_empties_the_cuda_cache_only_on_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: Counter[str] = Counter()

    class FakeCuda:
        @staticmethod
        def empty_cache() -> None:
            calls["empty_cache"] += 1

    class FakeTorch:
        cuda = FakeCuda

    monkeypatch.setattr(engine_module.gc, "collect", lambda generation=2: calls.update(["gc"]))
    monkeypatch.setattr(engine_module, "_malloc_trim", lambda: lambda pad: calls.update(["trim"]))
    release_memory(FakeTorch, "cpu")
    assert calls == {"gc": 1, "trim": 1}
    release_memory(FakeTorch, "cuda:0")
    assert calls == {"gc": 2, "trim": 2, "empty_cache": 1}
