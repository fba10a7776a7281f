"""The ``tts-router-echo`` command and the entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from core_support.latency_service import free_port
from tts_router_echo.architecture import ARCHITECTURE_FILE
from tts_router_echo.cli import main

from tts_router.plugins import load_plugins

_CLI = [sys.executable, "-m", "tts_router_echo.cli"]


def test_plugin_entry_point_registers_the_echo_provider() -> None:
    from tts_router_echo.provider import EchoProvider

    registry = load_plugins(frozenset({"echo"}))
    assert registry.errors == {}
    assert registry.providers == {"echo": EchoProvider}


def test_tiny_command_writes_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tiny", "--model-dir", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / ARCHITECTURE_FILE).is_file()
    assert capsys.readouterr().out.strip() == str(tmp_path / "m")


def test_serve_requires_a_model_dir() -> None:
    with pytest.raises(SystemExit):
        main(["serve"])


def test_serve_command_answers_on_loopback(tiny_dir: Path) -> None:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    args = ["serve", "--model-dir", str(tiny_dir), "--port", str(port), "--device", "cpu"]
    server = subprocess.Popen(
        [*_CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            while True:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the service did not come up"
                try:
                    if http.get("/health").json()["status"] == "ok":
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            assert http.get("/languages").json() == {"languages": ["en"]}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_download_fetches_only_missing_files_into_the_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """download() is the one network use: stubbed here, it asks for the three files that are
    missing, each into ROOT/<repo_id>/, and nothing that is already there."""
    import huggingface_hub
    from tts_router_echo.architecture import weight_paths
    from tts_router_echo.weights import download, missing_files

    asked: list[tuple[str, str]] = []

    def fake_download(repo_id: str, filename: str, *, local_dir: str, **_: object) -> str:
        asked.append((repo_id, filename))
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)  # as the real one does
        target.write_bytes(b"weights")
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    pca = weight_paths(tmp_path)["pca"]
    pca.parent.mkdir(parents=True)
    pca.write_bytes(b"already here")
    download(tmp_path)
    assert asked == [
        ("jordand/echo-tts-base", "pytorch_model.safetensors"),
        ("jordand/fish-s1-dac-min", "pytorch_model.safetensors"),
    ]
    assert missing_files(tmp_path) == []
