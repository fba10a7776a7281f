"""A tiny random-weight Echo-TTS model directory, built offline, for tests.

:func:`build_tiny_echo` writes the same layout as the real weights (see
:mod:`tts_router_echo.architecture`) plus the architecture file our loader needs, so the real
``echo_tts`` code (text encoder, speaker encoder, CFG Euler sampler, S1-DAC encode/decode, PCA
projection, flattening-point crop) runs end to end on CPU in about a second per call. The audio
is noise; every code path is real. The same ``seed`` gives byte-identical files, and the
caller's global torch RNG is left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .architecture import (
    AE_REPO,
    MODEL_REPO,
    PCA_FILE,
    WEIGHTS_FILE,
    Architecture,
    DacSpec,
    build_dac,
    build_echo_dit,
)

__all__ = ["TINY_ARCHITECTURE", "TINY_LATENT_DIM", "build_tiny_echo"]

TINY_LATENT_DIM = 128

# EchoDiT: 64 wide, 2 layers, 2 heads everywhere (head counts must be even: the joint attention
# rotates half of the heads). latent_size 80, speaker_patch_size 4 and text_vocab_size 256 are
# fixed by the sampler code (80-dim latents, byte tokens, 4-latent speaker patches).
_ECHO_DIT: dict[str, Any] = {
    "latent_size": 80,
    "model_size": 64,
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_size": 128,
    "norm_eps": 1e-5,
    "text_vocab_size": 256,
    "text_model_size": 64,
    "text_num_layers": 2,
    "text_num_heads": 2,
    "text_intermediate_size": 128,
    "speaker_patch_size": 4,
    "speaker_model_size": 64,
    "speaker_num_layers": 2,
    "speaker_num_heads": 2,
    "speaker_intermediate_size": 128,
    "timestep_embed_size": 64,
    "adaln_rank": 16,
}

# S1-DAC: encoder 4 -> 64 channels (its transformer needs dim >= 64), decoder 64 -> 4; the
# rates keep upstream's hop (512 x 2 x 2 = 2048 samples per latent, fixed by the sampler).
_DAC = DacSpec(
    encoder_dim=4,
    latent_dim=TINY_LATENT_DIM,
    decoder_dim=64,
    encoder_transformer_layers=(0, 0, 0, 1),
    decoder_transformer_layers=(1, 0, 0, 0),
    block_size=2560,  # one 30 s reference chunk at the encoder's 86 Hz; also 640 latents x 4
    n_codebooks=2,
    codebook_size=16,
    codebook_dim=8,
    semantic_codebook_size=16,
    quantizer_dim=64,
    quantizer_layers=1,
    quantizer_heads=1,
    quantizer_intermediate_size=128,
    quantizer_block_size=640,  # one 30 s chunk of latents
    quantizer_window=128,
)

TINY_ARCHITECTURE = Architecture(
    echo_dit=_ECHO_DIT,
    dac=_DAC,
    name="echo-tts-tiny-random",
    notes={"purpose": "tests only: random weights, the audio is noise"},
)


def build_tiny_echo(target_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random Echo-TTS model directory into ``target_dir``; return it.

    Offline and deterministic in ``seed``. Load it with
    ``EchoEngine(target_dir)`` (see :mod:`tts_router_echo.engine`).
    """
    import safetensors.torch as st
    import torch

    root = Path(target_dir)
    (root / MODEL_REPO).mkdir(parents=True, exist_ok=True)
    (root / AE_REPO).mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_echo_dit(TINY_ARCHITECTURE.echo_dit)
        fish_ae = build_dac(TINY_ARCHITECTURE.dac)
        pca = _random_pca(torch.Generator().manual_seed(seed + 1))
    # state_dict() includes persistent buffers (the DAC transformers' RoPE tables and causal
    # masks): the loader builds modules on the meta device, so anything left out of the file
    # would stay meta and fail at the first forward pass.
    st.save_file(_contiguous(model.state_dict()), str(root / MODEL_REPO / WEIGHTS_FILE))
    st.save_file(_contiguous(fish_ae.state_dict()), str(root / AE_REPO / WEIGHTS_FILE))
    st.save_file(pca, str(root / MODEL_REPO / PCA_FILE))
    TINY_ARCHITECTURE.save(root)
    return root


def _random_pca(generator: Any) -> dict[str, Any]:
    """A PCA state like upstream's: 80 orthonormal components over the DAC latent, a mean, a
    scale (stored as a 0-d tensor, read with ``.item()``)."""
    import torch

    gaussian = torch.randn(TINY_LATENT_DIM, 80, generator=generator)
    components = torch.linalg.qr(gaussian).Q.T.contiguous()  # (80, latent_dim), orthonormal rows
    mean = 0.01 * torch.randn(TINY_LATENT_DIM, generator=generator)
    return {
        "pca_components": components,
        "pca_mean": mean,
        "latent_scale": torch.tensor(1.0),
    }


def _contiguous(state: dict[str, Any]) -> dict[str, Any]:
    # safetensors refuses non-contiguous or storage-sharing tensors; clone() gives each its own.
    return {name: tensor.detach().clone().contiguous() for name, tensor in state.items()}
