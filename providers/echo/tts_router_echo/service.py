"""The Echo-TTS HTTP service: the core protocol app (:func:`tts_router.serving.create_app`)
over an :class:`~tts_router_echo.engine.EchoEngine`.

The same app runs locally (``tts-router-echo serve``) and inside the Modal container.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_router.serving import create_app

from .engine import EchoEngine
from .sampler import SamplerSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_service_app"]


def create_service_app(
    model_dir: str | Path,
    *,
    device: str | None = None,
    sampler: SamplerSettings | None = None,
    engine_options: dict[str, Any] | None = None,
    **app_options: Any,
) -> FastAPI:
    """The protocol app serving Echo-TTS from ``model_dir`` (loaded at startup, never fetched).

    ``engine_options`` go to :class:`EchoEngine` (``max_pass_chars``, ``max_batch_passes``...),
    ``app_options`` to :func:`tts_router.serving.create_app` (limits, batching window...).
    """
    engine = EchoEngine(model_dir, device=device, sampler=sampler, **(engine_options or {}))
    app_options.setdefault("title", "tts-router Echo-TTS service")
    return create_app(engine, **app_options)
