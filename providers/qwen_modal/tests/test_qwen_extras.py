"""Light by default: the client imports no engine, and a command needing a missing extra says
which to install, in one line."""

from __future__ import annotations

import sys

import pytest
from core_support.imports import modules_imported_by
from tts_router_qwen_modal import cli
from tts_router_qwen_modal.provider import QwenProvider, QwenSettings

from tts_router import ConfigurationError, Settings

HEAVY = ("torch", "torchaudio", "qwen_tts", "transformers", "echo_tts", "modal", "fastapi")


def test_the_client_import_path_pulls_no_engine_and_no_service() -> None:
    code = (
        "import tts_router_qwen_modal.plugin\n"
        "from tts_router_qwen_modal.provider import QwenProvider, QwenSettings\n"
        "from tts_router import Settings\n"
        "settings = Settings.load({'QWEN_MODAL_URL': 'http://127.0.0.1:9'})\n"
        "QwenProvider.from_settings(settings.provider_settings('qwen', QwenSettings))\n"
    )
    imported = modules_imported_by(code)
    assert not sorted(m for m in imported if m.split(".")[0] in HEAVY)


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
    monkeypatch.setitem(sys.modules, blocked, None)  # as if not installed
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{blocked} not installed" in err
    assert err.rstrip().endswith(f"pip install 'tts-router-qwen-modal[{extra}]'")


def test_the_local_backend_without_the_engine_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "qwen_tts", None)
    with pytest.raises(ConfigurationError) as info:
        settings = Settings.load({"QWEN_BACKEND": "local"})
        QwenProvider.from_settings(settings.provider_settings("qwen", QwenSettings))
    assert info.value.code == "missing_extra" and "[engine]" in str(info.value)
