"""Loading a model: the plan as a table ((device, capability, flash installed, asked) ->
dtype, attention), the attention fallbacks, and the snapshot loader on the tiny models (the
weights read into CPU memory before a memory snapshot, moved after the restore), as the
service app injects it."""

from __future__ import annotations

from typing import Any

import pytest
from qwen_test_support import engine_options
from tts_router_qwen_modal.loading import (
    DeviceFacts,
    SnapshotLoader,
    load_model,
    load_pretrained,
    plan_load,
)

from tts_router import modal_kit as kit
from tts_router.errors import ProviderError

A10G = (8, 6)
T4 = (7, 5)
H100 = (9, 0)

TABLE = [
    # device,              cap,   flash, asked dtype,  asked attention,     dtype,      attentions
    ("cuda", A10G, False, None, None, "bfloat16", ("sdpa", "eager")),
    ("cuda", H100, True, None, None, "bfloat16", ("sdpa", "eager")),
    ("cuda", T4, False, None, None, "float32", ("sdpa", "eager")),
    ("cuda", T4, True, None, "flash_attention_2", "float32", ("sdpa", "eager")),
    (
        "cuda",
        A10G,
        True,
        None,
        "flash_attention_2",
        "bfloat16",
        ("flash_attention_2", "sdpa", "eager"),
    ),
    ("cuda", A10G, False, None, "flash_attention_2", "bfloat16", ("sdpa", "eager")),
    ("cuda", A10G, True, "float32", "flash_attention_2", "float32", ("sdpa", "eager")),
    ("cuda", T4, False, "bfloat16", None, "float32", ("sdpa", "eager")),
    ("cuda", T4, False, "float16", None, "float16", ("sdpa", "eager")),
    ("cuda", A10G, False, None, "eager", "bfloat16", ("eager",)),
    ("cpu", None, False, None, None, "float32", ("sdpa", "eager")),
    ("cpu", None, True, "bfloat16", "flash_attention_2", "float32", ("sdpa", "eager")),
    ("mps", None, False, "float16", None, "float32", ("sdpa", "eager")),
]


@pytest.mark.parametrize(
    ("kind", "cap", "flash", "dtype", "attention", "want_dtype", "want"), TABLE
)
def test_load_plan_table(
    kind: str,
    cap: tuple[int, int] | None,
    flash: bool,
    dtype: str | None,
    attention: str | None,
    want_dtype: str,
    want: tuple[str, ...],
) -> None:
    plan = plan_load(
        DeviceFacts(kind, cap, flash),  # type: ignore[arg-type]
        dtype=dtype,  # type: ignore[arg-type]
        attention=attention,  # type: ignore[arg-type]
    )
    assert (plan.dtype, plan.attentions) == (want_dtype, want)
    assert plan.attention == want[0]
    assert plan.reasons  # every choice is explained


def test_t4_reason_names_the_nan_problem() -> None:
    plan = plan_load(DeviceFacts("cuda", T4))
    assert any("NaN" in reason for reason in plan.reasons)


def test_load_model_falls_back_through_the_attention_backends() -> None:
    tried: list[tuple[str, str, str, str]] = []

    def loader(location: str, device: str, dtype: str, attention: str) -> str:
        tried.append((location, device, dtype, attention))
        if attention == "sdpa":
            raise ImportError("no sdpa here")
        return "model"

    model, plan, attention = load_model("m", "cpu", loader=loader)
    assert (model, attention, plan.dtype) == ("model", "eager", "float32")
    assert tried == [("m", "cpu", "float32", "sdpa"), ("m", "cpu", "float32", "eager")]

    def broken(*_: str) -> str:
        raise ValueError("unsupported")

    with pytest.raises(ProviderError) as failed:
        load_model("m", "cpu", loader=broken)
    assert failed.value.code == "load_failed"
    with pytest.raises(FileNotFoundError):  # not an attention problem: no second try
        load_model("m", "cpu", loader=lambda *_: (_ for _ in ()).throw(FileNotFoundError("m")))


# --------------------------------------------------------------------------- on tiny models


def _counting(calls: list[str]) -> Any:
    def load(location: str, device: str, dtype: str, attention: str) -> Any:
        calls.append(device)
        return load_pretrained(location, device, dtype, attention)

    return load


def test_snapshot_loader_moves_the_preloaded_model(qwen_models: dict[str, Any]) -> None:
    from tts_router_qwen_modal.engine import QwenEngine, QwenEngineConfig

    # T4: the plan on the GPU is float32 + sdpa, the same as the CPU plan: a hit.
    files: list[str] = []
    loader = SnapshotLoader(kit.GPU_CAPABILITY["T4"], _counting(files))
    config = QwenEngineConfig(model=str(qwen_models["base"]), **engine_options())
    engine = QwenEngine(config, loader=loader)
    assert loader.preload(engine) and loader.preloaded == (str(qwen_models["base"]),)
    engine.load()
    assert loader.moved == 1 and files == ["cpu"]  # read once, before the "snapshot"
    assert engine.health().dtype == "float32" and loader.preloaded == ()
    # A10G plans bfloat16; the CPU engine loads float32: no match, a plain load instead.
    files.clear()
    other = SnapshotLoader(kit.GPU_CAPABILITY["A10G"], _counting(files))
    engine = QwenEngine(config, loader=other)
    assert other.preload(engine)
    engine.load()
    assert other.moved == 0 and engine.loaded and files == ["cpu", "cpu"]
    # No GPU type known: nothing to predict, nothing preloaded.
    unknown = SnapshotLoader(None)
    assert not unknown.preload(QwenEngine(config, loader=unknown)) and unknown.preloaded == ()


def test_a_failed_preload_leaves_the_load_to_start_up(tmp_path: Any) -> None:
    from tts_router_qwen_modal.engine import QwenEngine, QwenEngineConfig

    loader = SnapshotLoader(kit.GPU_CAPABILITY["T4"])
    engine = QwenEngine(QwenEngineConfig(model=str(tmp_path)), loader=loader)  # no weights
    assert not loader.preload(engine) and loader.preloaded == ()


def test_the_service_app_preloads_every_model_with_an_injected_snapshot_loader(
    qwen_models: dict[str, Any],
) -> None:
    """One app builder (:func:`create_service_app`) for every place: given a snapshot
    loader, both models of a combined deployment are read before the snapshot and moved,
    not read again, when the service loads them."""
    from tts_router_qwen_modal.service import create_service_app

    files: list[str] = []
    loader = SnapshotLoader(kit.GPU_CAPABILITY["T4"], _counting(files))
    app = create_service_app(
        qwen_models["base"], qwen_models["design"], engine_options=engine_options(), loader=loader
    )
    assert app.state.loader is loader and len(loader.preloaded) == 2 and files == ["cpu"] * 2
    engine = app.state.worker.engine
    engine.load()
    assert loader.moved == 2 and files == ["cpu"] * 2
    assert engine.health().operations == ["clone", "design"]
