"""How to load a model on a given machine: device, dtype and attention backend.

Pure functions over a description of the device, so the policy is tested as a table without a
GPU. The engine asks torch for the facts, calls :func:`plan_load`, and tries the attention
backends in the order given, reporting the one that loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ATTENTIONS", "DTYPES", "Attention", "DType", "DeviceFacts", "LoadPlan", "plan_load"]

Attention = Literal["sdpa", "flash_attention_2", "eager"]
DType = Literal["bfloat16", "float16", "float32"]
ATTENTIONS: tuple[Attention, ...] = ("sdpa", "flash_attention_2", "eager")
DTYPES: tuple[DType, ...] = ("bfloat16", "float16", "float32")

# Ampere (8.0: A100, A10G 8.6, L4 8.9...) is the first generation with native bf16 and the
# first that flash-attention 2 supports.
_NATIVE_BF16 = (8, 0)


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the policy needs to know about the device."""

    kind: Literal["cuda", "cpu", "mps"]
    capability: tuple[int, int] | None = None
    """CUDA compute capability (T4: (7, 5), A10G: (8, 6)); None off CUDA."""
    flash_attn_installed: bool = False


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """The dtype to load in, the attention backends to try in order, and why."""

    dtype: DType
    attentions: tuple[Attention, ...]
    reasons: tuple[str, ...]

    @property
    def attention(self) -> Attention:
        """The preferred backend (the engine reports the one that actually loaded)."""
        return self.attentions[0]


def plan_load(
    device: DeviceFacts, *, dtype: DType | None = None, attention: Attention | None = None
) -> LoadPlan:
    """Decide dtype and attention order for ``device``; explicit choices are honoured if safe.

    dtype: bf16 on GPUs with native bf16 (compute capability >= 8.0); fp32 on older GPUs such
    as the T4, because it has no native bf16 and fp16 overflows to NaN in Qwen3-TTS sampling
    (upstream issue #43, "fp32 works"); fp32 on CPU and MPS, where bf16 is slow or partial.
    Asking for fp16 is allowed on CUDA (it is the user's call) but noted; asking for a
    half dtype off CUDA falls back to fp32.

    attention: ``sdpa`` by default (measured equal to FA2 for this launch-bound model);
    ``flash_attention_2`` only when asked AND installed AND on an Ampere+ GPU in a half
    dtype; ``eager`` always last, as the fallback that loads everywhere.
    """
    reasons: list[str] = []
    chosen_dtype = _dtype(device, dtype, reasons)
    attentions = _attentions(device, chosen_dtype, attention, reasons)
    return LoadPlan(chosen_dtype, attentions, tuple(reasons))


def _bf16_native(device: DeviceFacts) -> bool:
    return device.kind == "cuda" and (device.capability or (0, 0)) >= _NATIVE_BF16


def _dtype(device: DeviceFacts, asked: DType | None, reasons: list[str]) -> DType:
    if device.kind != "cuda":
        if asked not in (None, "float32"):
            reasons.append(f"{asked} asked, but {device.kind} runs float32")
        else:
            reasons.append(f"{device.kind}: float32")
        return "float32"
    if asked == "bfloat16" and not _bf16_native(device):
        reasons.append("bfloat16 asked, but this GPU has no native bf16: float32")
        return "float32"
    if asked is not None:
        if asked == "float16":
            reasons.append("float16 as asked (known to produce NaN in sampling; prefer float32)")
        else:
            reasons.append(f"{asked} as asked")
        return asked
    if _bf16_native(device):
        reasons.append("GPU with native bf16: bfloat16")
        return "bfloat16"
    reasons.append("GPU without native bf16 (fp16 NaNs in sampling): float32")
    return "float32"


def _attentions(
    device: DeviceFacts, dtype: DType, asked: Attention | None, reasons: list[str]
) -> tuple[Attention, ...]:
    if asked == "eager":
        reasons.append("eager attention as asked")
        return ("eager",)
    if asked == "flash_attention_2":
        why_not = _flash_unusable(device, dtype)
        if why_not is None:
            reasons.append("flash_attention_2 as asked, sdpa then eager as fallbacks")
            return ("flash_attention_2", "sdpa", "eager")
        reasons.append(f"flash_attention_2 asked, but {why_not}: sdpa")
    else:
        reasons.append("sdpa attention (eager as fallback)")
    return ("sdpa", "eager")


def _flash_unusable(device: DeviceFacts, dtype: DType) -> str | None:
    if not device.flash_attn_installed:
        return "flash-attn is not installed"
    if not _bf16_native(device):
        return "it needs an Ampere or newer GPU"
    if dtype == "float32":
        return "it needs a half dtype"
    return None
