"""The Echo Modal app, checked offline like Qwen's: registration, deploy command, served app."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from core_support.modal_introspect import inspect_registration, load_app_module, local_service

from tts_router.serving import serve_in_thread

pytest.importorskip("modal")

MODULE = "tts_router_echo.modal_app"


def load_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """Import the app module afresh under ``env`` (as `modal deploy` and the container do)."""
    return load_app_module(monkeypatch, MODULE, **env)


@pytest.mark.parametrize("gpu", ["A10G", "T4"])
def test_registered_service(monkeypatch: pytest.MonkeyPatch, gpu: str) -> None:
    env = {} if gpu == "A10G" else {"TTS_ROUTER_GPU": gpu}  # A10G is the default
    module = load_app(monkeypatch, **env)
    assert module.app.name == "tts-router-echo-base"
    service = inspect_registration(module.EchoService)
    assert service.gpu == gpu and service.volumes == {"/models": "echo-tts-models"}
    assert service.env["HF_HUB_OFFLINE"] == "1" and service.memory_snapshot
    assert service.web_endpoints == {"web": True}
    assert set(service.methods) == {"clone", "generate", "health"}  # generate: Utter's SDK call
    assert service.enter_snapshot == ("prepare",) and service.enter_restore == ("start",)
    pip = " ".join(c for c in service.image_commands if "pip install" in c)
    assert "echo-tts==0.1.4" in pip and "torch==2.11.0" in pip and "qwen-tts" not in pip
    assert "ENV HF_HOME=/models/hf" in service.image_commands
    assert service.local_sources == {"tts_router", "tts_router_echo"}
    fetch = inspect_registration(module.download_weights)
    assert fetch.gpu is None and "HF_HUB_OFFLINE" not in fetch.env
    assert str(module.model_root(module.SETTINGS)) == "/models/echo"


def test_deploy_dry_run_with_download(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tts_router_echo import cli

    load_app(monkeypatch)

    def no_subprocess(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a dry run must not run anything")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    assert cli.main(["deploy", "--download", "--gpu", "L4", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("modal run -m tts_router_echo.modal_app::download_weights")
    assert lines[1].endswith("modal deploy -m tts_router_echo.modal_app")
    assert (
        "TTS_ROUTER_GPU=L4 " in lines[1] and "TTS_ROUTER_MODAL_VOLUME=echo-tts-models" in lines[1]
    )


def test_the_class_serves_the_protocol_app(monkeypatch: pytest.MonkeyPatch, tiny_dir: Path) -> None:
    module = load_app(monkeypatch, TTS_ROUTER_MODAL_MODEL=str(tiny_dir))
    service, methods = local_service(module.EchoService)
    methods["prepare"]()
    methods["start"]()
    app = methods["web"]()
    assert app is service.web_app and app.state.worker.engine.loaded
    with serve_in_thread(app) as url:
        health = httpx.get(f"{url}/health").json()
        languages = httpx.get(f"{url}/languages").json()
    assert health["status"] == "ok" and health["operations"] == ["clone"]
    assert languages == {"languages": ["en"]}
