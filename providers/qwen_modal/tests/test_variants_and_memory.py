"""What can be deployed (``--model 0.6B+design``) and the memory it needs: the engine's
estimate (parameters x dtype bytes) checked against a loaded tiny model, the GPU fit, and the
table of docs/modal.md regenerated from it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tts_router_qwen_modal.memory import GpuFit, memory_table, parameter_count, weights_bytes
from tts_router_qwen_modal.variants import (
    hub_ids,
    nominal_parameters,
    resolve_variant,
    variant_parts,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "modal.md"


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("0.6B", "0.6B-Base"),
        ("design", "1.7B-VoiceDesign"),
        ("1.7B-Base", "1.7B-Base"),
        ("0.6B+design", "0.6B-Base+1.7B-VoiceDesign"),
        ("design + 1.7B", "1.7B-Base+1.7B-VoiceDesign"),  # Base first, whatever the order
        ("VoiceDesign+0.6B-Base", "0.6B-Base+1.7B-VoiceDesign"),
    ],
)
def test_what_users_type_names_a_deployable_variant(name: str, variant: str) -> None:
    assert resolve_variant(name) == variant


@pytest.mark.parametrize("name", ["0.6B+1.7B", "0.6B+design+1.7B", "0.6B-CustomVoice", "2B", ""])
def test_what_cannot_be_deployed_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        resolve_variant(name)


def test_parts_hub_ids_and_nominal_parameters() -> None:
    assert variant_parts("0.6B-Base+1.7B-VoiceDesign") == ("0.6B-Base", "1.7B-VoiceDesign")
    assert hub_ids(["0.6B+design", "design"]) == [
        "Qwen/Qwen3-TTS-12Hz-0.6B-Base",
        "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign",
    ]
    assert nominal_parameters("0.6B-Base") == 600_000_000
    assert nominal_parameters("1.7B-Base+1.7B-VoiceDesign") == 3_400_000_000
    with pytest.raises(ValueError, match="size"):
        nominal_parameters("Base")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_estimate_is_what_the_loaded_model_takes(
    qwen_models: dict[str, Any], dtype: str
) -> None:
    """On the tiny model, parameters counted from the files x dtype bytes is the memory the
    loaded model's tensors (its own and its speech tokenizer's, each storage once) take."""
    from tts_router_qwen_modal.loading import load_pretrained

    model_dir = qwen_models["design"]
    model = load_pretrained(str(model_dir), "cpu", dtype, "sdpa")
    storages: dict[int, int] = {}
    stored = 0
    for module in (model.model, model.model.speech_tokenizer.model):
        for tensor in [*module.parameters(), *module.buffers()]:
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        stored += sum(t.numel() for t in {id(t): t for t in module.state_dict().values()}.values())
    count = parameter_count(model_dir)
    assert count == stored  # every stored tensor, read from the headers alone
    assert weights_bytes(count, dtype) == pytest.approx(sum(storages.values()), rel=1e-3)
    assert weights_bytes(count, "float32") == 2 * weights_bytes(count, "bfloat16")


def test_the_gpu_fit_follows_the_plan_on_each_gpu() -> None:
    combined = "0.6B-Base+1.7B-VoiceDesign"
    a10g = GpuFit(combined, "A10G")
    assert (a10g.dtype, a10g.weights) == ("bfloat16", 2 * 2_300_000_000)
    assert a10g.fits and a10g.comfortable and "18% of the A10G's 24 GiB" in a10g.line()
    t4 = GpuFit(combined, "t4:1")  # the T4 has no native bf16: float32, twice the bytes
    assert (t4.gpu, t4.dtype, t4.weights) == ("T4", "float32", 4 * 2_300_000_000)
    assert t4.fits and not t4.comfortable and "over 50%" in t4.line()
    unknown = GpuFit(combined, "B200")
    assert unknown.share is None and unknown.fits and "unknown" in unknown.line()


def test_docs_show_the_table_the_estimate_gives() -> None:
    table = "\n".join(memory_table())
    assert table in DOCS.read_text(), "docs/modal.md: paste memory_table() again"
    rows = {r.split(" | ")[0].strip("| `"): r for r in memory_table()[2:]}
    assert re.search(
        r"\| 4\.3 GiB \| 8\.6 GiB \| 54%, over half \| 18%", rows["0.6B-Base+1.7B-VoiceDesign"]
    )
