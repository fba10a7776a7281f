"""The Qwen3-TTS checkpoints this provider knows, by short name, and what can be deployed.

:data:`VARIANTS` maps short names to hub ids (:func:`resolve_model` finds a model by name, id
or directory); :data:`DEPLOYABLE` lists what one service deployment can serve: a Base model, the
VoiceDesign model, or a Base model and the VoiceDesign model together in one container
(``0.6B-Base+1.7B-VoiceDesign``), which :func:`resolve_variant` reads from what users type
(``0.6B``, ``design``, ``0.6B+design``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ALIASES",
    "DEPLOYABLE",
    "VARIANTS",
    "ModelSource",
    "hub_ids",
    "nominal_parameters",
    "resolve_model",
    "resolve_variant",
    "variant_parts",
]


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where to load from (a local directory or a hub id) and the variant's short name."""

    location: str
    variant: str
    local: bool


# Short names users type -> Hugging Face hub ids (the weights are Apache-2.0).
VARIANTS: dict[str, str] = {
    "0.6B-Base": "Qwen/Qwen3-TTS-12Hz-0.6B-Base",
    "1.7B-Base": "Qwen/Qwen3-TTS-12Hz-1.7B-Base",
    "1.7B-VoiceDesign": "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign",
    "0.6B-CustomVoice": "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice",
    "1.7B-CustomVoice": "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice",
}
DEPLOYABLE = (
    "0.6B-Base",
    "1.7B-Base",
    "1.7B-VoiceDesign",
    "0.6B-Base+1.7B-VoiceDesign",
    "1.7B-Base+1.7B-VoiceDesign",
)
"""What a service deployment can serve (CustomVoice models have no protocol operation); a
``+`` joins a Base model and the VoiceDesign model loaded in one container: one URL answering
``/clone`` and ``/design``."""
ALIASES = {
    "0.6B": "0.6B-Base",
    "1.7B": "1.7B-Base",
    "VoiceDesign": "1.7B-VoiceDesign",
    "design": "1.7B-VoiceDesign",
}


def resolve_model(model: str | Path) -> ModelSource:
    """A short name, a hub id, or a directory holding ``config.json``.

    An existing directory always wins, so a local copy is never shadowed by a download. Hub
    ids load through ``HF_HOME`` (the Modal Volume in production).
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return ModelSource(str(path), path.name, local=True)
    name = str(model)
    for short, hub_id in VARIANTS.items():
        if name in (short, hub_id):
            return ModelSource(hub_id, short, local=False)
    if name.count("/") == 1 and not name.startswith(("/", ".", "~")):
        return ModelSource(name, name.rsplit("/", 1)[1], local=False)
    raise FileNotFoundError(
        f"no model directory at {name!r}, and it is not a known variant "
        f"({', '.join(VARIANTS)}) or a hub id"
    )


def resolve_variant(name: str) -> str:
    """``0.6B``, ``1.7B``, ``design``, ``0.6B+design`` or a deployable name -> the deployable
    variant (a Base model first when two are joined)."""
    parts = [ALIASES.get(part.strip(), part.strip()) for part in name.split("+")]
    variant = "+".join(sorted(dict.fromkeys(parts), key=lambda part: "VoiceDesign" in part))
    if variant not in DEPLOYABLE:
        raise ValueError(
            f"unknown model {name!r}: use one of {', '.join([*ALIASES, *DEPLOYABLE])} "
            "(0.6B+design: a Base model and the VoiceDesign model in one deployment)"
        )
    return variant


def variant_parts(variant: str) -> tuple[str, ...]:
    """The variants a (possibly combined) variant loads, Base first."""
    return tuple(variant.split("+"))


def hub_ids(names: Iterable[str]) -> list[str]:
    """The hub ids of the deployable variants ``names`` (aliases and combined names too),
    each once, in order."""
    parts = (part for name in names for part in variant_parts(resolve_variant(name)))
    return list(dict.fromkeys(VARIANTS[part] for part in parts))


def nominal_parameters(variant: str) -> int:
    """Parameters as the model names state them (``0.6B`` -> 600 million), summed over a
    combined variant's models. The names round, and count the model, not its speech
    tokenizer (:func:`.memory.parameter_count` counts a downloaded directory exactly)."""
    total = 0
    for part in variant_parts(variant):
        size = re.match(r"(\d+(?:\.\d+)?)B-", part)
        if size is None:
            raise ValueError(f"{part!r} does not state its size")
        total += round(float(size.group(1)) * 1e9)
    return total
