"""Light by default, for every engine provider: its client imports no engine, and a command or
backend needing a missing extra says which to install, in one line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from core_support.imports import modules_imported_by
from tts_router_echo import cli as echo_cli
from tts_router_echo.provider import EchoProvider
from tts_router_qwen_modal import cli as qwen_cli
from tts_router_qwen_modal.provider import QwenProvider

from tts_router import ConfigurationError, Settings
from tts_router.provider import Provider


@dataclass(frozen=True)
class Package:
    """An engine provider's distribution, as its extras tests see it."""

    distribution: str
    provider: type[Provider]
    main: Callable[[list[str]], int]
    client_env: dict[str, str]  # builds the remote client
    heavy: tuple[str, ...]  # what the client must never import
    backend_env: dict[str, str]  # a backend that needs an extra...
    backend_needs: str  # ...this module of it
    backend_hint: str  # what its error names


ECHO = Package(
    "tts-router-echo",
    EchoProvider,
    echo_cli.main,
    {"ECHO_MODAL_URL": "http://127.0.0.1:9"},
    ("torch", "torchaudio", "echo_tts", "qwen_tts", "modal", "fastapi", "huggingface_hub"),
    {"ECHO_BACKEND": "modal-sdk"},
    "modal",
    "tts-router-echo[modal]",
)
QWEN = Package(
    "tts-router-qwen-modal",
    QwenProvider,
    qwen_cli.main,
    {"QWEN_MODAL_URL": "http://127.0.0.1:9"},
    ("torch", "torchaudio", "qwen_tts", "transformers", "echo_tts", "modal", "fastapi"),
    {"QWEN_BACKEND": "local"},
    "qwen_tts",
    "[engine]",
)


@pytest.mark.parametrize("package", [ECHO, QWEN], ids=["echo", "qwen"])
def test_the_client_import_path_pulls_no_engine_and_no_service(package: Package) -> None:
    provider = package.provider
    name, settings = provider.__name__, provider.settings_model.__name__
    code = (
        f"import {provider.__module__.split('.')[0]}.plugin\n"
        f"from {provider.__module__} import {name}, {settings}\n"
        "from tts_router import Settings\n"
        f"settings = Settings.load({package.client_env!r})\n"
        f"{name}.from_settings(settings.provider_settings({provider.id!r}, {settings}))\n"
    )
    imported = modules_imported_by(code)
    assert not sorted(m for m in imported if m.split(".")[0] in package.heavy)


@pytest.mark.parametrize(
    ("package", "argv", "blocked", "extra"),
    [
        (ECHO, ["serve", "--model-dir", "x"], "echo_tts", "engine"),
        (ECHO, ["tiny", "--model-dir", "x"], "torch", "engine"),
        (ECHO, ["download", "--model-dir", "x"], "huggingface_hub", "engine"),
        (ECHO, ["deploy", "--dry-run"], "modal", "modal"),
        (QWEN, ["serve", "--model-dir", "x"], "torch", "engine"),
        (QWEN, ["serve", "--model-dir", "x"], "qwen_tts", "engine"),
        (QWEN, ["deploy", "--dry-run"], "modal", "modal"),
        (QWEN, ["download", "--model", "0.6B", "--dry-run"], "modal", "modal"),
    ],
)
def test_a_command_needing_a_missing_extra_names_it_in_one_line(
    package: Package,
    argv: list[str],
    blocked: str,
    extra: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, blocked, None)  # as if not installed
    assert package.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{blocked} not installed" in err
    assert err.rstrip().endswith(f"pip install '{package.distribution}[{extra}]'")
    assert not (tmp_path / "x").exists()  # refused before any work


@pytest.mark.parametrize("package", [ECHO, QWEN], ids=["echo", "qwen"])
def test_a_backend_without_its_extra_is_a_configuration_error(
    package: Package, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = package.provider
    monkeypatch.setitem(sys.modules, package.backend_needs, None)
    with pytest.raises(ConfigurationError) as info:
        settings = Settings.load(package.backend_env)
        provider.from_settings(settings.provider_settings(provider.id, provider.settings_model))
    assert info.value.code == "missing_extra"
    assert package.backend_hint in str(info.value)
