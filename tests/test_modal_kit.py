"""tts_router.modal_kit: settings, commands, downloads, the service shell and smoke, offline.

Modal's cloud is never contacted: commands are built and printed (or run through a fake
runner), the shell's methods go through a real protocol app over a tone engine.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import soundfile
from core_support.modal_introspect import inspect_registration, qwen_like_settings
from core_support.tone_service import ToneEngine

from tts_router import modal_kit as kit
from tts_router.errors import ConfigurationError, TTSRouterError
from tts_router.modal_kit.deploy_flow import cost_note
from tts_router.modal_kit.hub import hf_snapshot_dir
from tts_router.modal_kit.image import (
    SERVE_ENV,
    build_image,
    download_options,
    model_volume,
    service_options,
)
from tts_router.modal_kit.modal_cli import deploy_command, find_web_url, modal_run_command
from tts_router.modal_kit.settings import TORCH_INDEX_URL, app_name_for
from tts_router.modal_kit.shell import ServiceShell
from tts_router.modal_kit.smoke import smoke
from tts_router.serving import create_app, serve_in_thread
from tts_router.testing import make_reference_wav

ROOT = Path(__file__).resolve().parents[1]


def settings(**env: str) -> kit.ModalSettings:
    return qwen_like_settings(env)


def test_importing_the_core_and_the_kit_never_imports_modal() -> None:
    code = "import sys, tts_router, tts_router.modal_kit; print('modal' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_defaults_and_derived_values() -> None:
    s = settings()
    assert (s.variant, s.gpu, s.volume, s.app_name) == (
        "0.6B-Base",
        "A10G",
        "vol",
        "tts-router-qwen-0-6b-base",
    )
    assert s.hf_home == "/models/hf"
    assert s.min_containers == 0  # scale to zero unless asked
    assert s.price_per_hour == pytest.approx(1.10)
    assert s.capability == (8, 6)
    assert app_name_for("echo", "base") == "tts-router-echo-base"


def test_environment_overrides_and_round_trips() -> None:
    s = settings(
        TTS_ROUTER_QWEN_VARIANT="1.7B-Base",
        TTS_ROUTER_GPU="T4",
        TTS_ROUTER_MODAL_CPU="2.5",
        TTS_ROUTER_MODAL_MEMORY="8192",
        TTS_ROUTER_MODAL_SCALEDOWN="60",
        TTS_ROUTER_MODAL_MAX_CONTAINERS="3",
        TTS_ROUTER_MODAL_HF_SECRET="hf",
        TTS_ROUTER_MODAL_TORCH_INDEX="",
    )
    assert (s.app_name, s.gpu, s.cpu, s.memory_mib) == (
        "tts-router-qwen-1-7b-base",
        "T4",
        2.5,
        8192,
    )
    assert (s.scaledown_window_s, s.max_containers, s.hf_secret, s.torch_index) == (60, 3, "hf", "")
    assert s.capability == (7, 5)
    assert settings(**s.env()) == s  # what deploy sets (and the image bakes) reproduces it
    assert s.image_env()["HF_HOME"] == "/models/hf"


@pytest.mark.parametrize(
    "env",
    [
        {"TTS_ROUTER_QWEN_VARIANT": "9B"},
        {"TTS_ROUTER_MODAL_CPU": "lots"},
        {"TTS_ROUTER_MODAL_SCALEDOWN": "1"},
        {"TTS_ROUTER_MODAL_MIN_CONTAINERS": "3"},
        {"TTS_ROUTER_MODAL_APP": "Bad Name"},
        {"TTS_ROUTER_MODAL_VOLUME": " "},  # was a KeyError when its variables were written
    ],
)
def test_bad_settings_are_configuration_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        settings(**env)


def test_an_explicit_app_name_survives_a_variant_change() -> None:
    assert settings().with_changes(variant="1.7B-Base").app_name == "tts-router-qwen-1-7b-base"
    named = settings(TTS_ROUTER_MODAL_APP="my-tts")
    assert named.with_changes(variant="1.7B-Base").app_name == "my-tts"


def test_autoscaling_target_is_one_engine_batch_below_the_burst_cap() -> None:
    s = settings()
    assert (s.concurrent_inputs, s.max_batch, s.autoscale_target) == (32, 16, 16)
    assert settings(TTS_ROUTER_MODAL_MAX_BATCH="8").autoscale_target == 8  # follows the batch
    assert settings(TTS_ROUTER_MODAL_MAX_BATCH="64").autoscale_target == 32  # never above cap
    chosen = settings(TTS_ROUTER_MODAL_TARGET_INPUTS="4")
    assert chosen.autoscale_target == 4 and settings(**chosen.env()) == chosen
    with pytest.raises(ConfigurationError, match="cannot exceed"):
        settings(TTS_ROUTER_MODAL_TARGET_INPUTS="40")


def test_hub_cache_layout_and_download_report(tmp_path: Path) -> None:
    repo = "Org/Model-1"
    snapshot = hf_snapshot_dir(tmp_path, repo, "abc")
    assert snapshot == tmp_path / "hub" / "models--Org--Model-1" / "snapshots" / "abc"
    calls: list[dict[str, Any]] = []

    def fetch(repo_id: str, **kwargs: Any) -> str:
        # Like the real cache: blobs once, snapshot files as symlinks to them.
        calls.append({"repo_id": repo_id, **kwargs})
        blobs = tmp_path / "hub" / "models--Org--Model-1" / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        (blobs / "b1").write_bytes(b"x" * 1000)
        snapshot.mkdir(parents=True, exist_ok=True)
        for name in ("model.safetensors", "alias.safetensors"):
            if not (snapshot / name).exists():
                (snapshot / name).symlink_to(blobs / "b1")
        (snapshot / "config.json").write_text("{}")
        return str(snapshot)

    first = kit.fetch_hf_snapshot(repo, hf_home=tmp_path, token="t", fetch=fetch)
    again = kit.fetch_hf_snapshot(repo, hf_home=tmp_path, fetch=fetch)
    assert (first.files, first.bytes) == (2, 1002)  # one blob counted once, plus config
    assert (again.files, again.bytes) == (2, 1002)
    assert calls[0] == {
        "repo_id": repo,
        "cache_dir": str(tmp_path / "hub"),
        "token": "t",
        "revision": None,
    }
    assert "1 files" not in first.line() and "Org/Model-1" in first.line()


def test_deploy_and_run_commands() -> None:
    s = settings(TTS_ROUTER_GPU="L4")
    deploy = deploy_command("pkg.modal_app", s, environment="prod")
    assert deploy.argv[1:] == ("-m", "modal", "deploy", "-m", "pkg.modal_app", "--env", "prod")
    assert deploy.env["TTS_ROUTER_GPU"] == "L4"
    assert deploy.env["TTS_ROUTER_QWEN_VARIANT"] == "0.6B-Base"
    assert deploy.shell().startswith("TTS_ROUTER_QWEN_VARIANT=0.6B-Base ")
    run = modal_run_command("pkg.modal_app", "download_models", s, ["--models", "a,b"])
    assert run.argv[-4:] == ("-m", "pkg.modal_app::download_models", "--models", "a,b")
    output = "✓ Created web endpoint for S.web => https://ws--tts-router-qwen-s-web.modal.run\n"
    assert find_web_url(output) == "https://ws--tts-router-qwen-s-web.modal.run"
    assert find_web_url("nothing here") is None


def test_cost_note_for_warm_containers() -> None:
    note = cost_note(settings(TTS_ROUTER_MODAL_MIN_CONTAINERS="1", TTS_ROUTER_GPU="T4"))
    assert "$0.59" in note and "around the clock" in note


def test_smoke_against_a_local_service() -> None:
    with serve_in_thread(create_app(ToneEngine())) as url:
        report = smoke(url, provider="tone")
    assert report.health["status"] == "ok"
    assert "en" in report.languages
    assert set(report.seconds) == {"health", "languages", "clone"}
    assert report.audio_seconds > 0 and report.model == "tone-1"
    assert any(line.startswith("timings:") for line in report.lines())


def test_smoke_reports_a_typed_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_in_thread(create_app(ToneEngine())) as url:
        args = types.SimpleNamespace(
            url=url, text="Hi", language="en", transcript=None, design="a calm voice"
        )
        assert kit.smoke_flow(args, provider="tone") == 1  # the tone engine cannot design
    assert "unsupported_operation" in capsys.readouterr().out


class _Shell(ServiceShell):
    pass


def test_service_shell_methods_go_through_the_protocol_app() -> None:
    engine = ToneEngine(design=True)
    shell = _Shell()
    shell.open(create_app(engine), "tone")
    shell.start_engine()
    assert engine.loaded  # loaded before any input, as in @modal.enter(snap=False)
    app = shell.service_app()
    reference = make_reference_wav(seconds=1.0, sample_rate=16_000)

    async def calls() -> tuple[bytes, bytes, dict[str, Any]]:
        # No lifespan from anyone: the methods start the service themselves (an app
        # without the web endpoint would otherwise hang on its first call).
        cloned = await shell.clone_wav("Hello there.", reference, language="en")
        again = await shell.clone_wav("Hello again.", reference, language="en")
        designed = await shell.design_wav("Hello.", "a calm voice")
        health = await shell.health_info()
        with pytest.raises(TTSRouterError) as bad:
            await shell.clone_wav("Hello.", b"not audio", language="en")
        assert bad.value.code.startswith("audio_")  # a 4xx before any engine work
        await shell.stop_service()
        return cloned, again, health | {"designed": designed}

    cloned, again, health = asyncio.run(calls())
    assert soundfile.info(io.BytesIO(cloned)).samplerate == 16_000
    assert len(again) > 44 and len(health["designed"]) > 44
    assert health["model"] == "tone-1"
    assert len(app.state.voices) == 1  # the reference went up once, by its hash


def test_a_failed_load_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(ToneEngine):
        def load(self) -> None:
            raise FileNotFoundError("no weights")

    shell = _Shell()
    shell.open(create_app(Broken()), "tone")
    shell.start_engine()  # a crash here would restart the container again and again
    assert "failed to load" in caplog.text


def test_another_torch_index_replaces_the_whole_torch_family() -> None:
    modal = pytest.importorskip("modal")
    linux = " ; sys_platform == 'linux'"
    pins = ("numpy==2.5.5", "torch==2.11.0", "torchaudio==2.11.0", "triton==3.6.0" + linux,
            "nvidia-cublas==13.1.0.3" + linux, "cuda-bindings==13.5.0")  # fmt: skip
    s = settings(TTS_ROUTER_MODAL_TORCH_INDEX=TORCH_INDEX_URL)
    image = build_image(s, requirements=pins, local_packages=("tts_router",))
    app = modal.App("t")

    @app.function(image=image, serialized=True)
    def f() -> None: ...

    torch_layer, lock_layer = (
        c for c in inspect_registration(f).image_commands if "uv pip install" in c
    )
    assert f"--index-url {TORCH_INDEX_URL}" in torch_layer
    assert "torch==2.11.0" in torch_layer and "torchaudio==2.11.0" in torch_layer
    assert "numpy==2.5.5" in lock_layer and "--no-deps" in lock_layer
    for name in ("torch==", "triton", "nvidia", "cuda-"):
        assert name not in lock_layer, name
    with pytest.raises(ConfigurationError, match="exact pin"):
        build_image(s, requirements=("torch>=2",), local_packages=())


def test_registration_reader_on_a_small_app() -> None:
    modal = pytest.importorskip("modal")
    s = settings(TTS_ROUTER_GPU="T4", TTS_ROUTER_MODAL_HF_SECRET="hf-secret")
    image = build_image(
        s, requirements=("tiny==1.0", "sox==1.5.0 ; python_full_version >= '3.12'"),
        local_packages=("tts_router",),
    )  # fmt: skip
    volume = model_volume(s)
    app = modal.App(s.app_name)

    # serialized=True: Modal refuses classes defined inside a function otherwise (which is
    # why each provider's decorated class lives at module level of its modal_app.py).
    @app.cls(**service_options(s, image, volume), serialized=True)
    @modal.concurrent(max_inputs=s.concurrent_inputs, target_inputs=s.autoscale_target)
    class Service(ServiceShell):
        @modal.enter(snap=True)
        def prepare(self) -> None: ...

        @modal.asgi_app(requires_proxy_auth=True)
        def web(self) -> Any: ...

    @app.function(**download_options(s, image, volume), serialized=True)
    def download() -> None: ...

    service = inspect_registration(Service)
    assert (service.gpu, service.cpu, service.memory) == ("T4", 4.0, 16384)
    assert service.volumes == {"/models": "vol"}
    assert service.env == SERVE_ENV and service.memory_snapshot
    assert service.web_endpoints == {"web": True} and service.enter_snapshot == ("prepare",)
    assert (service.concurrent_inputs, service.target_inputs) == (32, 16)
    assert "ENV HF_HOME=/models/hf" in service.image_commands
    install = [c for c in service.image_commands if "uv pip install" in c]
    assert len(install) == 1 and "--no-deps" in install[0] and "tiny==1.0" in install[0]
    assert "RUN apt-get install -y sox" in service.image_commands  # what the sox pin needs
    assert service.image_commands[0].startswith("FROM python:3.12")
    fetch = inspect_registration(download)
    assert fetch.gpu is None and fetch.secrets == ("hf-secret",) and fetch.env == {}
