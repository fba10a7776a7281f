"""Light by default: the client imports no engine, and a command needing a missing extra says
which to install, in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from core_support.imports import modules_imported_by
from tts_router_echo.cli import main
from tts_router_echo.provider import EchoProvider, EchoSettings

from tts_router import ConfigurationError, Settings

HEAVY = ("torch", "torchaudio", "echo_tts", "qwen_tts", "modal", "fastapi", "huggingface_hub")


def test_the_client_import_path_pulls_no_engine_and_no_service() -> None:
    code = (
        "import tts_router_echo.plugin\n"
        "from tts_router_echo.provider import EchoProvider, EchoSettings\n"
        "from tts_router import Settings\n"
        "settings = Settings.load({'ECHO_MODAL_URL': 'http://127.0.0.1:9'})\n"
        "EchoProvider.from_settings(settings.provider_settings('echo', EchoSettings))\n"
    )
    imported = modules_imported_by(code)
    assert not sorted(m for m in imported if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    ("argv", "blocked", "extra"),
    [
        (["serve", "--model-dir", "x"], "echo_tts", "engine"),
        (["tiny", "--model-dir", "x"], "torch", "engine"),
        (["download", "--model-dir", "x"], "huggingface_hub", "engine"),
        (["deploy", "--dry-run"], "modal", "modal"),
    ],
)
def test_a_command_needing_a_missing_extra_names_it_in_one_line(
    argv: list[str],
    blocked: str,
    extra: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, blocked, None)  # as if not installed
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{blocked} not installed" in err
    assert err.rstrip().endswith(f"pip install 'tts-router-echo[{extra}]'")
    assert not (tmp_path / "x").exists()


def test_the_modal_sdk_backend_without_the_modal_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "modal", None)
    with pytest.raises(ConfigurationError) as info:
        settings = Settings.load({"ECHO_BACKEND": "modal-sdk"})
        EchoProvider.from_settings(settings.provider_settings("echo", EchoSettings))
    assert info.value.code == "missing_extra" and "tts-router-echo[modal]" in str(info.value)
