"""How much GPU memory a Qwen3-TTS deployment needs: the engine's estimate of its weights.

qwen-tts loads a model and its speech tokenizer in the one dtype the load plan picks
(:func:`.loading.plan_load`: bfloat16 on Ampere and newer GPUs, float32 on the T4), so the
weights take ``parameters x bytes per element`` (:func:`weights_bytes`). The parameters are
counted exactly in a model directory (:func:`parameter_count`, from the safetensors headers,
no weight read), or taken from the variant's name (:func:`.variants.nominal_parameters`) before
anything is downloaded. :class:`GpuFit` puts a deployment's weights against a GPU's memory;
:func:`memory_table` is the table of ``docs/modal.md``.

What comes on top of the weights (the CUDA context, activations, the KV cache of a batch of up
to ``max_batch_items`` chunks of up to ``max_new_tokens`` frames) is not estimated here: a
deployment is called comfortable when its weights take at most :data:`WEIGHTS_SHARE` of the
GPU, leaving the rest for that (a rule of thumb, not a measurement).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from tts_router.modal_kit.settings import GPU_CAPABILITY, GPU_MEMORY_GIB, gpu_type

from .loading import DeviceFacts, DType, plan_load
from .variants import DEPLOYABLE, nominal_parameters

__all__ = [
    "DTYPE_BYTES",
    "WEIGHTS_SHARE",
    "GpuFit",
    "memory_table",
    "parameter_count",
    "weights_bytes",
]

DTYPE_BYTES: dict[str, int] = {"bfloat16": 2, "float16": 2, "float32": 4}
WEIGHTS_SHARE = 0.5
"""The most of a GPU's memory the weights should take; the rest is for generation."""
_GIB = 2**30


def weights_bytes(parameters: int, dtype: str) -> int:
    """Bytes the weights take loaded in ``dtype``: parameters x bytes per element."""
    return parameters * DTYPE_BYTES[dtype]


def parameter_count(model_dir: str | Path) -> int:
    """Elements stored in a model directory's safetensors files (the model's and the speech
    tokenizer's), read from the files' headers: what loading puts in memory."""
    total = 0
    for path in sorted(Path(model_dir).rglob("*.safetensors")):
        with path.open("rb") as file:
            (size,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(size))
        for name, entry in header.items():
            if name != "__metadata__":
                total += math.prod(int(dimension) for dimension in entry["shape"])
    return total


class GpuFit:
    """A deployment's weights on one GPU type (a Modal GPU name), in the dtype the load plan
    picks there."""

    def __init__(self, variant: str, gpu: str) -> None:
        self.variant = variant
        self.gpu = gpu_type(gpu)
        self.dtype: DType = plan_load(DeviceFacts("cuda", GPU_CAPABILITY.get(self.gpu))).dtype
        self.weights = weights_bytes(nominal_parameters(variant), self.dtype)
        """Bytes (:func:`weights_bytes` of the variant's nominal parameters)."""
        memory = GPU_MEMORY_GIB.get(self.gpu)
        self.gpu_bytes = None if memory is None else memory * _GIB
        """The GPU's memory (nominal); None: unknown GPU type."""

    @property
    def share(self) -> float | None:
        """The part of the GPU's memory the weights take."""
        return None if self.gpu_bytes is None else self.weights / self.gpu_bytes

    @property
    def fits(self) -> bool:
        """Whether the weights fit at all (True when the GPU's memory is unknown)."""
        return self.share is None or self.share <= 1

    @property
    def comfortable(self) -> bool:
        """Whether the weights leave generation its part (:data:`WEIGHTS_SHARE`)."""
        return self.share is None or self.share <= WEIGHTS_SHARE

    def line(self) -> str:
        """One human line: the estimate and its share of the GPU."""
        text = f"{self.variant} weights ~{self.weights / _GIB:.1f} GiB in {self.dtype}"
        if self.share is None or self.gpu_bytes is None:
            return f"{text} (memory of {self.gpu} unknown)"
        text += f": {self.share:.0%} of the {self.gpu}'s {self.gpu_bytes // _GIB} GiB"
        if not self.fits:
            return f"{text}: it does not fit"
        if not self.comfortable:
            return f"{text}: over {WEIGHTS_SHARE:.0%}, little left for batches"
        return text


def memory_table() -> list[str]:
    """The Markdown table of ``docs/modal.md``: each deployable variant's weights in bf16 and
    fp32, and their share of each GPU in the dtype planned there (``over half``: not
    comfortable)."""
    gpus = ("T4", "L4", "A10G", "L40S")
    fits = {gpu: [GpuFit(variant, gpu) for variant in DEPLOYABLE] for gpu in gpus}
    short = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
    header = ["variant", "parameters (from the name)", "weights, bf16", "weights, fp32"]
    header += [f"{gpu}: {GPU_MEMORY_GIB[gpu]} GiB, {short[fits[gpu][0].dtype]}" for gpu in gpus]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, variant in enumerate(DEPLOYABLE):
        parameters = nominal_parameters(variant)
        row = [f"`{variant}`", f"{parameters / 1e9:g} B"]
        row += [f"{weights_bytes(parameters, d) / _GIB:.1f} GiB" for d in ("bfloat16", "float32")]
        for gpu in gpus:
            fit = fits[gpu][i]
            row.append(f"{fit.share:.0%}" + ("" if fit.comfortable else ", over half"))
        lines.append("| " + " | ".join(row) + " |")
    return lines
