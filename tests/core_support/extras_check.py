"""The extras checks every engine provider runs: the client's import path pulls no engine, and
a command or backend needing a missing extra says which to install."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import pytest

from tts_router import ConfigurationError, Settings
from tts_router.provider import Provider

from .imports import modules_imported_by


def assert_client_imports_none_of(
    provider: type[Provider], env: dict[str, str], heavy: Sequence[str]
) -> None:
    """Importing the plugin and building ``provider`` from ``env`` imports no ``heavy``
    package, in a fresh interpreter."""
    package = provider.__module__.split(".")[0]
    name, settings = provider.__name__, provider.settings_model.__name__
    code = (
        f"import {package}.plugin\n"
        f"from {provider.__module__} import {name}, {settings}\n"
        "from tts_router import Settings\n"
        f"settings = Settings.load({env!r})\n"
        f"{name}.from_settings(settings.provider_settings({provider.id!r}, {settings}))\n"
    )
    imported = modules_imported_by(code)
    assert not sorted(m for m in imported if m.split(".")[0] in heavy)


def assert_missing_extra_named_in_one_line(
    main: Callable[[list[str]], int],
    argv: list[str],
    blocked: str,
    install: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With ``blocked`` not importable, ``main(argv)`` fails with one line that names it and
    ends with ``install``."""
    monkeypatch.setitem(sys.modules, blocked, None)  # as if not installed
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{blocked} not installed" in err
    assert err.rstrip().endswith(install)


def missing_extra_error(
    provider: type[Provider], env: dict[str, str], blocked: str, monkeypatch: pytest.MonkeyPatch
) -> ConfigurationError:
    """The ``missing_extra`` error building ``provider`` from ``env`` raises when ``blocked``
    is not importable."""
    monkeypatch.setitem(sys.modules, blocked, None)
    with pytest.raises(ConfigurationError) as info:
        settings = Settings.load(env)
        provider.from_settings(settings.provider_settings(provider.id, provider.settings_model))
    assert info.value.code == "missing_extra"
    return info.value
