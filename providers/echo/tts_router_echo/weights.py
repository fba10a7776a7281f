"""Load Echo-TTS (EchoDiT, S1-DAC, PCA state) from a local directory; download on request only.

Real weights load through upstream's loaders with ``model_path=ROOT`` (they resolve
``ROOT/<repo_id>/<file>`` and raise if it is missing: no silent download). A directory with an
architecture file (:mod:`tts_router_echo.architecture`) is built from that description and
loaded the same way upstream loads: modules on the meta device, weights assigned, the
blockwise-generation modules left out (they are unused by the sampler).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_router.errors import ConfigurationError

from .architecture import AE_REPO, MODEL_REPO, WEIGHTS_FILE, Architecture, weight_paths

if TYPE_CHECKING:
    import torch
    from echo_tts import DAC, EchoDiT, PCAState

__all__ = ["Components", "download", "load_components", "missing_files"]

# Upstream drops these from the state when delete_blockwise_modules=True (continuation only).
_BLOCKWISE_PREFIXES = ("latent_encoder.", "latent_norm")
_BLOCKWISE_PARTS = (".wk_latent", ".wv_latent")


@dataclass(slots=True)
class Components:
    """The loaded model parts and what they are."""

    model: EchoDiT
    fish_ae: DAC
    pca_state: PCAState
    name: str
    variant: str


def missing_files(root: Path) -> list[Path]:
    """The weight files ``root`` lacks (empty when it is complete)."""
    return [path for path in weight_paths(root).values() if not path.is_file()]


def load_components(
    root: Path, *, device: str, model_dtype: torch.dtype, ae_dtype: torch.dtype
) -> Components:
    """Load the three parts from ``root`` onto ``device``; never touches the network."""
    from echo_tts import load_fish_ae_from_hf, load_model_from_hf, load_pca_state_from_hf

    missing = missing_files(root)
    if missing:
        raise ConfigurationError(
            f"Echo-TTS weights are missing under {root}: "
            + ", ".join(str(p.relative_to(root)) for p in missing)
            + "; run `tts-router-echo download --model-dir DIR` where the hub is reachable"
        )
    pca = load_pca_state_from_hf(repo_id=MODEL_REPO, device=device, model_path=str(root))
    architecture = Architecture.load(root)
    if architecture is None:
        model = load_model_from_hf(
            repo_id=MODEL_REPO,
            device=device,
            dtype=model_dtype,
            delete_blockwise_modules=True,
            model_path=str(root),
        )
        fish_ae = load_fish_ae_from_hf(
            repo_id=AE_REPO, device=device, dtype=ae_dtype, model_path=str(root)
        )
        return Components(model, fish_ae, pca, name=MODEL_REPO, variant="base")
    return Components(
        _load_custom_model(root, architecture, device, model_dtype),
        _load_custom_ae(root, architecture, device, ae_dtype),
        pca,
        name=architecture.name,
        variant="custom",
    )


def _load_custom_model(
    root: Path, architecture: Architecture, device: str, dtype: torch.dtype
) -> EchoDiT:
    import safetensors.torch as st
    import torch

    from .architecture import build_echo_dit

    with torch.device("meta"):
        model = build_echo_dit(architecture.echo_dit)
    state = st.load_file(str(root / MODEL_REPO / WEIGHTS_FILE), device="cpu")
    state = {
        name: tensor.to(device=device, dtype=dtype)
        for name, tensor in state.items()
        if not _is_blockwise(name)
    }
    result = model.load_state_dict(state, strict=False, assign=True)
    _check_keys(result, allowed_missing=_is_blockwise, what="EchoDiT")
    return model.eval()


def _load_custom_ae(root: Path, architecture: Architecture, device: str, dtype: torch.dtype) -> DAC:
    import safetensors.torch as st
    import torch

    from .architecture import build_dac

    with torch.device("meta"):
        fish_ae = build_dac(architecture.dac)
    state = st.load_file(str(root / AE_REPO / WEIGHTS_FILE), device="cpu")
    # As upstream: float32 keeps the file's dtypes (the RoPE tables are stored in bf16);
    # another dtype converts every tensor. Every key must be there: one left out would stay
    # on the meta device.
    if dtype != torch.float32:
        state = {name: tensor.to(dtype=dtype) for name, tensor in state.items()}
    state = {name: tensor.to(device=device) for name, tensor in state.items()}
    result = fish_ae.load_state_dict(state, strict=False, assign=True)
    _check_keys(result, allowed_missing=lambda _: False, what="S1-DAC")
    return fish_ae.eval()


def _is_blockwise(name: str) -> bool:
    return name.startswith(_BLOCKWISE_PREFIXES) or any(part in name for part in _BLOCKWISE_PARTS)


def _check_keys(result: Any, *, allowed_missing: Any, what: str) -> None:
    missing = [k for k in result.missing_keys if not allowed_missing(k)]
    if missing or result.unexpected_keys:
        raise ConfigurationError(
            f"the {what} weights do not match the architecture file "
            f"({len(missing)} missing, {len(result.unexpected_keys)} unexpected tensors); "
            "rebuild the model directory"
        )


def download(root: Path, *, token: str | None = None, revision: str | None = None) -> Path:
    """Fetch the real weights from the Hugging Face Hub into ``root`` (the only network use).

    Files land at ``ROOT/<repo_id>/<file>``, the layout :func:`load_components` reads; files
    already there are kept. Weights and outputs are CC-BY-NC-SA-4.0 (non-commercial).
    """
    from huggingface_hub import hf_hub_download

    for path in missing_files(root):  # each at ROOT/<repo_id>/<file>
        repo = path.parent.relative_to(root).as_posix()
        hf_hub_download(repo, path.name, local_dir=str(path.parent), token=token, revision=revision)
    return root
