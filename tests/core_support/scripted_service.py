"""A real tone service with a fault script (:class:`~core_support.scripted.Script`) in front."""

from __future__ import annotations

from typing import Any

from core_support.scripted import Script
from core_support.tone_service import Service


def scripted_service(
    make_service: Any, engine: Any = None, **options: Any
) -> tuple[Service, Script]:
    """``make_service(engine, **options)`` behind a new script; the service and its script."""
    scripts: list[Script] = []

    def wrap(app: Any) -> Script:
        scripts.append(Script(app))
        return scripts[0]

    return make_service(engine, wrap=wrap, **options), scripts[0]
