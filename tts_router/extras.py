"""Optional extras: say, in one line, which one to install when a command needs it.

The provider distributions install their client only; the engine and its service come with
the ``engine`` extra, Modal deployment with ``modal``. A command or backend that needs an
extra calls :func:`require_extra` first, so a missing package is a
:class:`~tts_router.errors.ConfigurationError` (code ``missing_extra``) naming the exact
``pip install``, never an ``ImportError`` halfway through::

    require_extra(("torch", "qwen_tts"), "tts-router-qwen-modal", "engine",
                  what="tts-router-qwen serve")
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from .errors import ConfigurationError

__all__ = ["MISSING_EXTRA", "missing_modules", "require_extra"]

MISSING_EXTRA = "missing_extra"
"""The ``code`` of the error :func:`require_extra` raises."""


def missing_modules(modules: Iterable[str]) -> list[str]:
    """The top-level modules in ``modules`` that cannot be imported here (none imported)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken parent package, or no spec
            found = False
        if not found:
            missing.append(name)
    return missing


def require_extra(
    modules: str | Iterable[str], distribution: str, extra: str, *, what: str = "this"
) -> None:
    """Raise a ``missing_extra`` ConfigurationError unless every one of ``modules`` is
    importable; its message is one line ending in ``pip install 'DISTRIBUTION[EXTRA]'``."""
    missing = missing_modules([modules] if isinstance(modules, str) else modules)
    if missing:
        raise ConfigurationError(
            f"{what} needs the {extra} extra ({', '.join(missing)} not installed): "
            f"pip install '{distribution}[{extra}]'",
            code=MISSING_EXTRA,
        )
