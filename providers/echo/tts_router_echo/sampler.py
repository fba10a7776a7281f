"""Sampler settings for Echo-TTS's CFG Euler sampler, with upstream's defaults.

The defaults are those of ``echo_tts.EchoTTS.synthesize`` (0.1.4): 40 steps, text CFG 3.0,
speaker CFG 8.0 applied for t in [0.5, 1.0], initial-noise truncation 0.8, no score rescaling,
no speaker-KV scaling, 640 latents (~29.7 s). The bundled presets
(``echo_tts/resources/sampler_presets.json``) store every number as a string, which makes
``synthesize(preset=...)`` fail; :meth:`SamplerSettings.from_preset` parses them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

__all__ = [
    "HOP_SAMPLES",
    "MAX_SEQUENCE_LENGTH",
    "SAMPLE_RATE",
    "SamplerSettings",
    "preset_names",
]

SAMPLE_RATE = 44_100
HOP_SAMPLES = 2048  # audio samples per latent (S1-DAC hop 512 x quantizer downsample 4)
MAX_SEQUENCE_LENGTH = 640  # the longest window Echo was trained on: 640 x 2048 / 44100 = 29.7 s


@dataclass(frozen=True, slots=True)
class SamplerSettings:
    """Arguments of ``sample_euler_cfg_independent_guidances`` plus the default seed."""

    num_steps: int = 40
    cfg_scale_text: float = 3.0
    cfg_scale_speaker: float = 8.0
    cfg_min_t: float = 0.5
    cfg_max_t: float = 1.0
    truncation_factor: float | None = 0.8
    rescale_k: float | None = None
    rescale_sigma: float | None = None
    speaker_kv_scale: float | None = None
    speaker_kv_max_layers: int | None = None
    speaker_kv_min_t: float | None = None
    sequence_length: int = MAX_SEQUENCE_LENGTH
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_steps < 1:
            raise ValueError("num_steps must be at least 1")
        if not 1 <= self.sequence_length <= MAX_SEQUENCE_LENGTH:
            raise ValueError(f"sequence_length must be 1..{MAX_SEQUENCE_LENGTH} latents")
        if not 0.0 <= self.cfg_min_t <= self.cfg_max_t <= 1.0:
            raise ValueError("need 0 <= cfg_min_t <= cfg_max_t <= 1")
        # Upstream compares t against speaker_kv_min_t whenever a scale is set.
        if self.speaker_kv_scale is not None and self.speaker_kv_min_t is None:
            raise ValueError("speaker_kv_scale needs speaker_kv_min_t")

    @property
    def window_seconds(self) -> float:
        """The longest audio one pass can produce."""
        return self.sequence_length * HOP_SAMPLES / SAMPLE_RATE

    def sampler_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``sample_euler_cfg_independent_guidances`` (all but seed)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "seed"}

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SamplerSettings:
        """Upstream's bundled preset ``name`` with its string values parsed, then ``overrides``."""
        presets = _bundled_presets()
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(presets))}")
        types = {f.name: f.type for f in fields(cls)}
        parsed: dict[str, Any] = {}
        for key, raw in presets[name].items():
            if key not in types:
                raise ValueError(f"preset {name!r} has an unknown setting {key!r}")
            parsed[key] = _parse_number(raw, integer="int" in str(types[key]))
        return cls(**{**parsed, **overrides})


def preset_names() -> list[str]:
    """Names of upstream's bundled sampler presets."""
    return sorted(_bundled_presets())


def _bundled_presets() -> dict[str, dict[str, Any]]:
    ref = resources.files("echo_tts").joinpath("resources/sampler_presets.json")
    data: dict[str, dict[str, Any]] = json.loads(ref.read_text())
    return data


def _parse_number(raw: Any, *, integer: bool) -> float | int | None:
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "none", "null"}):
        return None
    value = float(raw)
    return int(value) if integer else value
