"""Light by default: the client imports no engine, and a command needing a missing extra says
which to install, in one line."""

from __future__ import annotations

import pytest
from core_support.extras_check import (
    assert_client_imports_none_of,
    assert_missing_extra_named_in_one_line,
    missing_extra_error,
)
from tts_router_qwen_modal import cli
from tts_router_qwen_modal.provider import QwenProvider

HEAVY = ("torch", "torchaudio", "qwen_tts", "transformers", "echo_tts", "modal", "fastapi")


def test_the_client_import_path_pulls_no_engine_and_no_service() -> None:
    assert_client_imports_none_of(QwenProvider, {"QWEN_MODAL_URL": "http://127.0.0.1:9"}, HEAVY)


@pytest.mark.parametrize(
    ("argv", "blocked", "extra"),
    [
        (["serve", "--model-dir", "x"], "torch", "engine"),
        (["serve", "--model-dir", "x"], "qwen_tts", "engine"),
        (["deploy", "--dry-run"], "modal", "modal"),
        (["download", "--model", "0.6B", "--dry-run"], "modal", "modal"),
    ],
)
def test_a_command_needing_a_missing_extra_names_it_in_one_line(
    argv: list[str],
    blocked: str,
    extra: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install = f"pip install 'tts-router-qwen-modal[{extra}]'"
    assert_missing_extra_named_in_one_line(cli.main, argv, blocked, install, monkeypatch, capsys)


def test_the_local_backend_without_the_engine_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = missing_extra_error(QwenProvider, {"QWEN_BACKEND": "local"}, "qwen_tts", monkeypatch)
    assert "[engine]" in str(error)
