"""Light by default: the client imports no engine, and a command needing a missing extra says
which to install, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_support.extras_check import (
    assert_client_imports_none_of,
    assert_missing_extra_named_in_one_line,
    missing_extra_error,
)
from tts_router_echo.cli import main
from tts_router_echo.provider import EchoProvider

HEAVY = ("torch", "torchaudio", "echo_tts", "qwen_tts", "modal", "fastapi", "huggingface_hub")


def test_the_client_import_path_pulls_no_engine_and_no_service() -> None:
    assert_client_imports_none_of(EchoProvider, {"ECHO_MODAL_URL": "http://127.0.0.1:9"}, HEAVY)


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
    monkeypatch.chdir(tmp_path)
    install = f"pip install 'tts-router-echo[{extra}]'"
    assert_missing_extra_named_in_one_line(main, argv, blocked, install, monkeypatch, capsys)
    assert not (tmp_path / "x").exists()


def test_the_modal_sdk_backend_without_the_modal_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = missing_extra_error(EchoProvider, {"ECHO_BACKEND": "modal-sdk"}, "modal", monkeypatch)
    assert "tts-router-echo[modal]" in str(error)
