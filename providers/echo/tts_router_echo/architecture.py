"""Where Echo-TTS weights live on disk, and the architecture description for small models.

Upstream's loaders (``echo_tts.inference.load_*_from_hf``) hard-code the full-size EchoDiT and
S1-DAC shapes, so a model directory with different shapes (the tiny random fixture, a future
distilled model) carries an :data:`ARCHITECTURE_FILE` describing them, and this module builds
the modules from it. Real weights carry no such file and load through upstream's loaders.

Directory layout, shared by real and tiny models (upstream's ``model_path=ROOT`` resolution)::

    ROOT/jordand/echo-tts-base/pytorch_model.safetensors   EchoDiT
    ROOT/jordand/echo-tts-base/pca_state.safetensors       PCA state (components, mean, scale)
    ROOT/jordand/fish-s1-dac-min/pytorch_model.safetensors S1-DAC autoencoder
    ROOT/tts_router_echo_architecture.json                 only for non-standard shapes

torch and echo_tts are imported inside the builders: importing this module is free.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from echo_tts import DAC, EchoDiT

__all__ = [
    "AE_REPO",
    "ARCHITECTURE_FILE",
    "MODEL_REPO",
    "PCA_FILE",
    "WEIGHTS_FILE",
    "Architecture",
    "DacSpec",
    "build_dac",
    "build_echo_dit",
    "weight_paths",
]

MODEL_REPO = "jordand/echo-tts-base"
AE_REPO = "jordand/fish-s1-dac-min"
WEIGHTS_FILE = "pytorch_model.safetensors"
PCA_FILE = "pca_state.safetensors"
ARCHITECTURE_FILE = "tts_router_echo_architecture.json"
ARCHITECTURE_FORMAT = 1


def weight_paths(root: Path) -> dict[str, Path]:
    """The three weight files under ``root``, by role (``model``, ``pca``, ``autoencoder``)."""
    return {
        "model": root / MODEL_REPO / WEIGHTS_FILE,
        "pca": root / MODEL_REPO / PCA_FILE,
        "autoencoder": root / AE_REPO / WEIGHTS_FILE,
    }


@dataclass(frozen=True, slots=True)
class DacSpec:
    """The knobs of upstream's ``build_ae()`` (its values are the defaults where fixed).

    The hop is fixed by the sampler code (2048 samples per latent: ``prod(encoder_rates)`` x
    ``prod(downsample_factor)``), and every transformer needs ``dim >= 64`` because upstream
    derives its head count as ``dim // 64``. ``block_size`` bounds the sequence a transformer
    accepts (its RoPE table and causal mask are persistent buffers of that size): the encoder's
    must cover a 30 s reference chunk (2560 frames), the quantizer's 640 latents.
    """

    encoder_dim: int
    latent_dim: int
    decoder_dim: int
    encoder_rates: tuple[int, ...] = (2, 4, 8, 8)
    decoder_rates: tuple[int, ...] = (8, 8, 4, 2)
    encoder_transformer_layers: tuple[int, ...] = (0, 0, 0, 4)
    decoder_transformer_layers: tuple[int, ...] = (4, 0, 0, 0)
    block_size: int = 16384
    n_codebooks: int = 9
    codebook_size: int = 1024
    codebook_dim: int = 8
    semantic_codebook_size: int = 4096
    downsample_factor: tuple[int, ...] = (2, 2)
    quantizer_dim: int = 1024
    quantizer_layers: int = 8
    quantizer_heads: int = 16
    quantizer_intermediate_size: int = 3072
    quantizer_block_size: int = 4096
    quantizer_window: int = 128


@dataclass(frozen=True, slots=True)
class Architecture:
    """What :data:`ARCHITECTURE_FILE` holds: EchoDiT keyword arguments and a :class:`DacSpec`."""

    echo_dit: dict[str, Any]
    dac: DacSpec
    name: str = "echo-tts-custom"
    notes: dict[str, Any] = field(default_factory=dict)

    def save(self, root: Path) -> Path:
        """Write the description into ``root``; return its path."""
        path = root / ARCHITECTURE_FILE
        payload = {"format": ARCHITECTURE_FORMAT, **asdict(self)}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, root: Path) -> Architecture | None:
        """The description in ``root``, or None for upstream's full-size shapes."""
        path = root / ARCHITECTURE_FILE
        if not path.is_file():
            return None
        payload = json.loads(path.read_text())
        if payload.get("format") != ARCHITECTURE_FORMAT:
            raise ValueError(f"{path} has an unknown format; rebuild it with this version")
        dac: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in payload["dac"].items()
        }
        return cls(
            echo_dit=dict(payload["echo_dit"]),
            dac=DacSpec(**dac),
            name=str(payload.get("name", "echo-tts-custom")),
            notes=dict(payload.get("notes", {})),
        )


def build_echo_dit(kwargs: dict[str, Any]) -> EchoDiT:
    """An EchoDiT with the given shapes, on whatever device is current (``torch.device``)."""
    from echo_tts import EchoDiT

    return EchoDiT(**kwargs)


def build_dac(spec: DacSpec) -> DAC:
    """The S1-DAC autoencoder of ``build_ae()`` with ``spec``'s sizes (same module tree)."""
    from echo_tts.autoencoder import (
        DAC,
        DownsampleResidualVectorQuantize,
        ModelArgs,
        WindowLimitedTransformer,
    )

    # The settings upstream gives every transformer of the autoencoder.
    model_args = partial(
        ModelArgs, norm_eps=1e-5, dropout_rate=0.1, attn_dropout_rate=0.1, channels_first=True
    )
    q_config = model_args(
        block_size=spec.quantizer_block_size,
        n_layer=spec.quantizer_layers,
        n_head=spec.quantizer_heads,
        dim=spec.quantizer_dim,
        intermediate_size=spec.quantizer_intermediate_size,
        head_dim=spec.quantizer_dim // spec.quantizer_heads,
    )

    def quantizer_transformer() -> WindowLimitedTransformer:
        return WindowLimitedTransformer(
            causal=True,
            window_size=spec.quantizer_window,
            input_dim=spec.latent_dim,
            config=q_config,
        )

    quantizer = DownsampleResidualVectorQuantize(
        input_dim=spec.latent_dim,
        n_codebooks=spec.n_codebooks,
        codebook_size=spec.codebook_size,
        codebook_dim=spec.codebook_dim,
        quantizer_dropout=0.5,
        downsample_factor=spec.downsample_factor,
        semantic_codebook_size=spec.semantic_codebook_size,
        pre_module=quantizer_transformer(),
        post_module=quantizer_transformer(),
    )

    def general_config(**kw: Any) -> ModelArgs:
        # Upstream's transformer_general_config with our block size; the blocks pass
        # n_layer, n_head (= dim // 64), dim and intermediate_size.
        return model_args(block_size=spec.block_size, head_dim=64, **kw)

    return DAC(
        encoder_dim=spec.encoder_dim,
        encoder_rates=list(spec.encoder_rates),
        latent_dim=spec.latent_dim,
        decoder_dim=spec.decoder_dim,
        decoder_rates=list(spec.decoder_rates),
        quantizer=quantizer,
        sample_rate=44_100,
        causal=True,
        encoder_transformer_layers=list(spec.encoder_transformer_layers),
        decoder_transformer_layers=list(spec.decoder_transformer_layers),
        transformer_general_config=general_config,
    )
