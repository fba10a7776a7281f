"""The Qwen3-TTS checkpoints this provider knows, by short name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["VARIANTS", "ModelSource", "resolve_model"]


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


def resolve_model(model: str | Path) -> ModelSource:
    """A short name, a hub id, or a directory holding ``config.json``.

    An existing directory always wins, so a local copy is never shadowed by a download. Hub
    ids load through ``HF_HOME`` (the Modal Volume in production).
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return ModelSource(str(path), path.name, local=True)
    name = str(model)
    if name in VARIANTS:
        return ModelSource(VARIANTS[name], name, local=False)
    for short, hub_id in VARIANTS.items():
        if name == hub_id:
            return ModelSource(hub_id, short, local=False)
    if name.count("/") == 1 and not name.startswith(("/", ".", "~")):
        return ModelSource(name, name.rsplit("/", 1)[1], local=False)
    raise FileNotFoundError(
        f"no model directory at {name!r}, and it is not a known variant "
        f"({', '.join(VARIANTS)}) or a hub id"
    )
