"""The Echo Modal app, checked offline like Qwen's: registration, the image against the lock,
the deploy command and its guards, the snapshot phase, the served app."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from core_support.modal_introspect import (
    inspect_registration,
    load_app_module,
    local_service,
    locked_image_pins,
)

from tts_router.modal_kit.snapshot import file_mappings, mapped_files
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
    (pip,) = [c for c in service.image_commands if "uv pip install" in c]
    assert "echo-tts==0.1.4" in pip and "torch==2.11.0" in pip and "qwen-tts" not in pip
    assert "--no-deps" in pip and "torchcodec==" in pip
    # torchcodec (echo-tts's audio loader) links FFmpeg: the image carries it.
    assert "RUN apt-get install -y libsndfile1 ffmpeg" in service.image_commands
    assert (service.concurrent_inputs, service.target_inputs) == (32, 16)
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
    assert lines[0].startswith("# Modal environment: ")
    assert lines[1].endswith("modal run -m tts_router_echo.modal_app::download_weights")
    assert "TTS_ROUTER_MODAL_MIN_CONTAINERS=0 " in lines[1]  # a download starts no warm GPU
    assert lines[2] == (
        "# would check Volume echo-tts-models for: "
        "echo/jordand/echo-tts-base/pytorch_model.safetensors, "
        "echo/jordand/echo-tts-base/pca_state.safetensors, "
        "echo/jordand/fish-s1-dac-min/pytorch_model.safetensors"
    )
    assert lines[3].endswith("modal deploy -m tts_router_echo.modal_app")
    assert (
        "TTS_ROUTER_GPU=L4 " in lines[3] and "TTS_ROUTER_MODAL_VOLUME=echo-tts-models" in lines[3]
    )
    monkeypatch.setenv("TTS_ROUTER_MODAL_MIN_CONTAINERS", "1")  # left over in the shell
    assert cli.main(["deploy", "--dry-run"]) == 2
    assert "TTS_ROUTER_MODAL_MIN_CONTAINERS" in capsys.readouterr().err


def test_the_class_serves_the_protocol_app(monkeypatch: pytest.MonkeyPatch, tiny_dir: Path) -> None:
    module = load_app(monkeypatch, TTS_ROUTER_MODAL_MODEL=str(tiny_dir))
    service, methods = local_service(module.EchoService)
    methods["prepare"]()
    methods["start"]()
    app = methods["web"]()
    assert app.shell is service and service.web_app.state.worker.engine.loaded
    with serve_in_thread(app) as url:
        health = httpx.get(f"{url}/health").json()
        languages = httpx.get(f"{url}/languages").json()
    assert health["status"] == "ok" and health["operations"] == ["clone"]
    assert languages == {"languages": ["en"]}


def test_the_image_installs_exactly_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    pins = locked_image_pins(load_app(monkeypatch), "tts-router-echo")
    names = {p.name for p in pins}
    assert {"echo-tts", "torch", "torchaudio", "torchcodec", "einops", "safetensors"} <= names
    assert "qwen-tts" not in names


def test_the_snapshot_phase_maps_no_weights_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Echo loads its weights after the restore, onto the GPU: before the snapshot nothing of
    them may be mapped (a CPU preload added later would have to copy them out first)."""
    if file_mappings() is None:
        pytest.skip("no /proc/self/maps on this platform")
    from tts_router_echo.fixtures import build_tiny_echo

    model_dir = build_tiny_echo(tmp_path / "echo")
    module = load_app(monkeypatch, TTS_ROUTER_MODAL_MODEL=str(model_dir))
    service, methods = local_service(module.EchoService)
    methods["prepare"]()
    assert mapped_files(model_dir) == set()
    assert not service.web_app.state.worker.engine.loaded
