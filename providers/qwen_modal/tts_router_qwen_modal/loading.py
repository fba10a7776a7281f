"""How a Qwen3-TTS model gets loaded: the plan, the loader, and the snapshot preload.

- :func:`plan_load`: device, dtype and attention order for a device, a pure function over
  :class:`DeviceFacts` (tested as a table without a GPU);
- :func:`load_model`: the plan applied, trying the attention backends in order with a
  :data:`Loader` (default :func:`load_pretrained`, ``Qwen3TTSModel.from_pretrained``);
- :class:`SnapshotLoader`: a loader that reads the weights into CPU memory before a memory
  snapshot (:meth:`SnapshotLoader.preload`) and moves them to the GPU after the restore.

torch and qwen_tts are imported inside the functions that load, never on import.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tts_router.errors import ProviderError

if TYPE_CHECKING:
    from .engine import QwenEngine

__all__ = [
    "ATTENTIONS",
    "DTYPES",
    "Attention",
    "DType",
    "DeviceFacts",
    "LoadPlan",
    "Loader",
    "SnapshotLoader",
    "device_facts",
    "load_model",
    "load_pretrained",
    "plan_load",
]

logger = logging.getLogger("tts_router_qwen_modal.loading")

Attention = Literal["sdpa", "flash_attention_2", "eager"]
DType = Literal["bfloat16", "float16", "float32"]
ATTENTIONS: tuple[Attention, ...] = ("sdpa", "flash_attention_2", "eager")
DTYPES: tuple[DType, ...] = ("bfloat16", "float16", "float32")
# (location, device, dtype, attention) -> a loaded Qwen3TTSModel (or a stand-in in tests).
Loader = Callable[[str, str, str, str], Any]

# Ampere (8.0: A100, A10G 8.6, L4 8.9...) is the first generation with native bf16 and the
# first that flash-attention 2 supports.
_NATIVE_BF16 = (8, 0)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the plan needs to know about the device."""

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
    chosen_dtype, dtype_reason = _dtype(device, dtype)
    attentions, attention_reason = _attentions(device, chosen_dtype, attention)
    return LoadPlan(chosen_dtype, attentions, (dtype_reason, attention_reason))


def _bf16_native(device: DeviceFacts) -> bool:
    return device.kind == "cuda" and (device.capability or (0, 0)) >= _NATIVE_BF16


def _dtype(device: DeviceFacts, asked: DType | None) -> tuple[DType, str]:
    """The dtype to load in, and why."""
    if device.kind != "cuda":
        if asked not in (None, "float32"):
            return "float32", f"{asked} asked, but {device.kind} runs float32"
        return "float32", f"{device.kind}: float32"
    if asked == "bfloat16" and not _bf16_native(device):
        return "float32", "bfloat16 asked, but this GPU has no native bf16: float32"
    if asked == "float16":
        return "float16", "float16 as asked (known to produce NaN in sampling; prefer float32)"
    if asked is not None:
        return asked, f"{asked} as asked"
    if _bf16_native(device):
        return "bfloat16", "GPU with native bf16: bfloat16"
    return "float32", "GPU without native bf16 (fp16 NaNs in sampling): float32"


def _attentions(
    device: DeviceFacts, dtype: DType, asked: Attention | None
) -> tuple[tuple[Attention, ...], str]:
    """The attention backends to try in order, and why."""
    if asked == "eager":
        return ("eager",), "eager attention as asked"
    if asked != "flash_attention_2":
        return ("sdpa", "eager"), "sdpa attention (eager as fallback)"
    why_not = _flash_unusable(device, dtype)
    if why_not is None:
        return (
            ("flash_attention_2", "sdpa", "eager"),
            "flash_attention_2 as asked, sdpa then eager as fallbacks",
        )
    return ("sdpa", "eager"), f"flash_attention_2 asked, but {why_not}: sdpa"


def _flash_unusable(device: DeviceFacts, dtype: DType) -> str | None:
    if not device.flash_attn_installed:
        return "flash-attn is not installed"
    if not _bf16_native(device):
        return "it needs an Ampere or newer GPU"
    if dtype == "float32":
        return "it needs a half dtype"
    return None


# --------------------------------------------------------------------------- loading


def load_pretrained(location: str, device: str, dtype: str, attention: str) -> Any:
    """The plain :data:`Loader`: ``Qwen3TTSModel.from_pretrained`` (the speech tokenizer is
    loaded in the same dtype and on the same device)."""
    import torch
    from qwen_tts import Qwen3TTSModel

    return Qwen3TTSModel.from_pretrained(
        location, device_map=device, dtype=getattr(torch, dtype), attn_implementation=attention
    )


def load_model(
    location: str,
    device: str,
    *,
    dtype: DType | None = None,
    attention: Attention | None = None,
    loader: Loader | None = None,
) -> tuple[Any, LoadPlan, str]:
    """Load ``location`` on ``device`` with the plan's dtype and the first attention backend
    that loads: (the model, the plan, that backend).

    Errors other than 'unsupported backend' (missing files, a bad config) are not retried with
    another backend.
    """
    import torch

    plan = plan_load(device_facts(torch, device), dtype=dtype, attention=attention)
    load = loader or load_pretrained
    last: Exception | None = None
    for backend in plan.attentions:
        try:
            return load(location, device, plan.dtype, backend), plan, backend
        except (ImportError, ValueError) as exc:
            logger.warning(
                "attention %s unavailable (%s); trying the next", backend, type(exc).__name__
            )
            last = exc
    raise ProviderError("no attention backend could load the model", code="load_failed") from last


def device_facts(torch: Any, device: str) -> DeviceFacts:
    """What :func:`plan_load` needs to know about ``device``, asked of torch."""
    kind = device.split(":", 1)[0]
    if kind == "cuda":
        capability = tuple(torch.cuda.get_device_capability(device))
        flash = importlib.util.find_spec("flash_attn") is not None
        return DeviceFacts("cuda", (int(capability[0]), int(capability[1])), flash)
    return DeviceFacts("mps" if kind == "mps" else "cpu")


# --------------------------------------------------------------------------- memory snapshots


class SnapshotLoader:
    """A :data:`Loader` that does the CPU work before a memory snapshot.

    :meth:`preload` (in Modal's ``@modal.enter(snap=True)``, no GPU attached) reads an
    engine's weights into CPU memory in the dtype the plan will pick on a GPU of compute
    capability ``capability``, and copies every tensor still memory-mapped from a weights file
    into process memory (:func:`tts_router.modal_kit.release_mapped_weights`): the snapshot
    then holds them and depends on no file of the Volume. When the engine loads after the
    restore, this loader moves that model to the device instead of reading the files again.
    Anything that does not match (another dtype or attention backend, a failed move) loads
    from the files as usual: the preload can only save time, never change what is served.
    """

    def __init__(self, capability: tuple[int, int] | None, loader: Loader | None = None) -> None:
        self.capability = capability
        self.loader = loader or load_pretrained
        self._cpu: dict[str, tuple[str, str, Any]] = {}
        self.moved = 0

    def preload(self, engine: QwenEngine) -> bool:
        """Load ``engine``'s model on the CPU as it will run on the GPU; False if skipped."""
        from tts_router.modal_kit.snapshot import release_mapped_weights

        if self.capability is None:
            return False  # unknown GPU: the plan's choice cannot be predicted
        plan = plan_load(
            DeviceFacts("cuda", self.capability),
            dtype=engine.config.dtype,
            attention=engine.config.attention,
        )
        location = engine.source.location
        try:
            model = self.loader(location, "cpu", plan.dtype, plan.attention)
        except Exception as exc:  # e.g. weights not downloaded: the start-up load reports it
            logger.warning("preloading %s failed (%s)", location, type(exc).__name__)
            return False
        tokenizer = getattr(model.model, "speech_tokenizer", None)
        release_mapped_weights([model.model, getattr(tokenizer, "model", None)])
        self._cpu[location] = (plan.dtype, plan.attention, model)
        return True

    @property
    def preloaded(self) -> tuple[str, ...]:
        """Locations whose model waits in CPU memory."""
        return tuple(self._cpu)

    def __call__(self, location: str, device: str, dtype: str, attention: str) -> Any:
        """The engine's loader: the preloaded model moved to ``device``, else a fresh load."""
        preloaded = self._cpu.pop(location, None)
        if preloaded is not None and preloaded[:2] == (dtype, attention):
            try:
                model = _move(preloaded[2], device)
            except Exception as exc:
                logger.warning("moving the preloaded model failed (%s)", type(exc).__name__)
            else:
                self.moved += 1
                return model
        return self.loader(location, device, dtype, attention)


def _move(model: Any, device: str) -> Any:
    """Move a ``Qwen3TTSModel`` and its speech tokenizer to ``device``.

    Both wrappers cache their device in ``.device`` at construction (inputs are sent there);
    the speech tokenizer is a plain attribute of the model, not a submodule, so
    ``model.model.to`` does not move it.
    """
    import torch

    target = torch.device(device)
    model.model.to(target)
    model.device = target
    tokenizer = getattr(model.model, "speech_tokenizer", None)
    if tokenizer is not None:
        tokenizer.model.to(target)
        tokenizer.device = target
    return model
